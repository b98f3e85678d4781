//! Label selectors (equality and set-based) and the field selectors clients use.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::resources::ResourceType;

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector; matches everything when empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

/// Splits on commas that are not inside parentheses.
fn split_top(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0usize, 0usize, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn values(list: &str) -> Result<Vec<String>, String> {
    let inner = list
        .trim()
        .strip_prefix('(')
        .and_then(|l| l.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesized list, got {list:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_top(text) {
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::DoesNotExist(key.trim().to_owned())
            } else if let Some((key, rest)) = part.split_once(" notin ") {
                Requirement::NotIn(key.trim().to_owned(), values(rest)?)
            } else if let Some((key, rest)) = part.split_once(" in ") {
                Requirement::In(key.trim().to_owned(), values(rest)?)
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) = part.split_once("==") {
                Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) = part.split_once('=') {
                Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if part.contains(' ') || part.contains('(') {
                return Err(format!("unable to parse requirement: {part:?}"));
            } else {
                Requirement::Exists(part.to_owned())
            };
            requirements.push(requirement);
        }
        Ok(Self(requirements))
    }

    /// A structured `metav1.LabelSelector` (`matchLabels`, `matchExpressions`), as webhook
    /// configurations carry it; `null` or `{}` matches everything.
    pub fn from_json(selector: &Value) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for (key, value) in selector
            .get("matchLabels")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let value = value
                .as_str()
                .ok_or_else(|| format!("matchLabels.{key}: not a string"))?;
            requirements.push(Requirement::Equals(key.clone(), value.to_owned()));
        }
        for expression in selector
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = expression
                .get("key")
                .and_then(Value::as_str)
                .ok_or("matchExpressions: a key is required")?
                .to_owned();
            let values: Vec<String> = expression
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            let requirement = match expression.get("operator").and_then(Value::as_str) {
                Some("In") => Requirement::In(key, values),
                Some("NotIn") => Requirement::NotIn(key, values),
                Some("Exists") => Requirement::Exists(key),
                Some("DoesNotExist") => Requirement::DoesNotExist(key),
                other => return Err(format!("matchExpressions: unknown operator {other:?}")),
            };
            requirements.push(requirement);
        }
        Ok(Self(requirements))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

/// One term of a field selector: the (converted) field label, `=`/`==` or `!=`, the value.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    field: String,
    equal: bool,
    value: String,
}

/// A parsed field selector (`metadata.name=x,metadata.namespace!=y`, ...) for one resource
/// type, with its labels converted as the API server converts them; matches everything when
/// empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<Term>,
    resource: ResourceType,
}

/// Splits on commas that are not escaped with a backslash (apimachinery `splitTerms`).
fn split_terms(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let (mut terms, mut start, mut escaped) = (Vec::new(), 0, false);
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&text[start..i]);
            start = i + 1;
        }
    }
    terms.push(&text[start..]);
    terms
}

/// Splits a term at its first operator (`!=`, `==`, `=`): `(field, equal, value)`.
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (operator, equal) in [("!=", false), ("==", true), ("=", true)] {
            if let Some(value) = rest.strip_prefix(operator) {
                return Some((&term[..i], equal, value));
            }
        }
    }
    None
}

/// Unescapes a value (`\\`, `\,`, `\=`); unescaped `,` and `=` are refused.
fn unescape(value: &str) -> Result<String, String> {
    let (mut out, mut escaped) = (String::new(), false);
    for c in value.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                ));
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {c}"
                ));
            }
            _ => out.push(c),
        }
    }
    if escaped {
        return Err("invalid field selector: invalid escape sequence: \\".to_owned());
    }
    Ok(out)
}

/// The label `label` of a field selector on `resource` is evaluated as, or the API server's
/// error for it: each kind accepts its own labels (the scheme's field label conversion
/// functions), kinds without one only `metadata.name` and `metadata.namespace`.
fn convert_label(resource: &ResourceType, label: &str) -> Result<String, String> {
    let meta = |namespaced: bool| {
        label == "metadata.name" || (namespaced && label == "metadata.namespace")
    };
    let not_supported = || format!("field label not supported: {label}");
    let accepted = |extra: &[&str], namespaced: bool| {
        if meta(namespaced) || extra.contains(&label) {
            Ok(label.to_owned())
        } else {
            Err(not_supported())
        }
    };
    if resource.custom {
        return accepted(&[], resource.namespaced);
    }
    match (resource.group, resource.kind) {
        ("", "Event") => crate::events::field_label(crate::events::CORE, label),
        ("events.k8s.io", "Event") => crate::events::field_label(crate::events::EVENTS_V1, label),
        ("", "Pod") if label == "spec.host" => Ok("spec.nodeName".to_owned()),
        ("", "Pod") => accepted(
            &[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",
                "status.nominatedNodeName",
            ],
            true,
        ),
        ("", "Namespace") => accepted(&["status.phase"], false),
        ("", "Secret") => accepted(&["type"], true),
        ("", "Service") => accepted(&["spec.clusterIP", "spec.type"], true),
        ("batch", "Job") if meta(true) || label == "status.successful" => Ok(label.to_owned()),
        ("batch", "Job") => Err(format!("field label {label:?} not supported for Job")),
        _ if meta(true) => Ok(label.to_owned()),
        _ => Err(format!(
            "{label:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        )),
    }
}

/// The selectable fields of a stored object of `resource` (absent fields select as `""`).
fn selectable_fields(resource: &ResourceType, object: &Value) -> BTreeMap<String, String> {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let storage_kind = (resource.storage_group(), resource.kind);
    if storage_kind == ("", "Event") {
        return crate::events::selectable_fields(object);
    }
    let mut fields = BTreeMap::new();
    fields.insert("metadata.name".to_owned(), text("/metadata/name"));
    if resource.namespaced {
        fields.insert("metadata.namespace".to_owned(), text("/metadata/namespace"));
    }
    if resource.custom {
        return fields;
    }
    let mut add = |field: &str, value: String| {
        fields.insert(field.to_owned(), value);
    };
    match storage_kind {
        ("", "Pod") => {
            for field in [
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "status.phase",
                "status.nominatedNodeName",
            ] {
                add(field, text(&format!("/{}", field.replace('.', "/"))));
            }
            let host_network = object
                .pointer("/spec/hostNetwork")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            add("spec.hostNetwork", host_network.to_string());
            let pod_ip = object
                .pointer("/status/podIPs/0/ip")
                .and_then(Value::as_str)
                .map_or_else(|| text("/status/podIP"), str::to_owned);
            add("status.podIP", pod_ip);
        }
        ("", "Namespace") => add("status.phase", text("/status/phase")),
        ("", "Secret") => {
            let kind = text("/type");
            add(
                "type",
                if kind.is_empty() {
                    "Opaque".to_owned()
                } else {
                    kind
                },
            );
        }
        ("", "Service") => {
            add("spec.clusterIP", text("/spec/clusterIP"));
            add("spec.type", text("/spec/type"));
        }
        ("batch", "Job") => {
            let succeeded = object
                .pointer("/status/succeeded")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            add("status.successful", succeeded.to_string());
        }
        _ => {}
    }
    fields
}

impl FieldSelector {
    /// Parses a field selector on `resource` the way the API server does: terms split on
    /// unescaped commas and sorted, each `field=value`, `field==value` or `field!=value` with
    /// `\\`, `\,` and `\=` escapes in the value; then every label is converted for the
    /// resource's kind (an unsupported label is an error naming it).
    pub fn parse(resource: &ResourceType, text: &str) -> Result<Self, String> {
        let mut parts = split_terms(text);
        parts.sort_unstable();
        let mut parsed = Vec::new();
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let (field, equal, value) = split_term(part)
                .ok_or_else(|| format!("invalid selector: '{text}'; can't understand '{part}'"))?;
            parsed.push((field, equal, unescape(value)?));
        }
        let mut terms = Vec::new();
        for (field, equal, value) in parsed {
            terms.push(Term {
                field: convert_label(resource, field)?,
                equal,
                value,
            });
        }
        Ok(Self {
            terms,
            resource: resource.clone(),
        })
    }

    /// Whether `object` (as stored) satisfies every term.
    pub fn matches(&self, object: &Value) -> bool {
        if self.terms.is_empty() {
            return true;
        }
        let fields = selectable_fields(&self.resource, object);
        self.terms.iter().all(|term| {
            let actual = fields
                .get(&term.field)
                .map(String::as_str)
                .unwrap_or_default();
            (actual == term.value) == term.equal
        })
    }
}

/// The labels of an object.
pub fn labels(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn resource(group: &str, plural: &str) -> ResourceType {
        crate::resources::all()
            .into_iter()
            .find(|r| r.group == group && r.plural == plural)
            .unwrap_or_else(|| panic!("{group}/{plural} is served"))
    }

    fn error(group: &str, plural: &str, text: &str) -> String {
        FieldSelector::parse(&resource(group, plural), text)
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn each_kind_accepts_its_own_labels_with_the_api_servers_messages() {
        assert_eq!(
            error("", "pods", "spec.image=x"),
            "field label not supported: spec.image"
        );
        assert_eq!(
            error("", "namespaces", "metadata.namespace=x"),
            "field label not supported: metadata.namespace"
        );
        assert_eq!(
            error("batch", "jobs", "status.active=1"),
            "field label \"status.active\" not supported for Job"
        );
        assert_eq!(
            error("coordination.k8s.io", "leases", "spec.holderIdentity=x"),
            "\"spec.holderIdentity\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        assert_eq!(
            error("locust.io", "locusttests", "spec.image=x"),
            "field label not supported: spec.image"
        );
        assert_eq!(
            error("", "events", "reason"),
            "invalid selector: 'reason'; can't understand 'reason'"
        );
        assert_eq!(
            error("", "events", "reason=a=b"),
            "invalid field selector: unescaped character in value: ="
        );
    }

    #[test]
    fn values_unescape_and_pods_select_on_their_fields() {
        let pods = resource("", "pods");
        let pod = json!({
            "metadata": {"name": "p,1", "namespace": "n"},
            "spec": {"nodeName": "node-1"},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}]}
        });
        let selects = |text: &str| {
            FieldSelector::parse(&pods, text)
                .map(|s| s.matches(&pod))
                .unwrap_or_else(|e| panic!("{text}: {e}"))
        };
        assert!(selects(r"metadata.name=p\,1"));
        assert!(selects("spec.host=node-1,status.phase!=Pending"));
        assert!(selects("status.podIP=10.0.0.1,spec.hostNetwork=false"));
        assert!(!selects("status.phase==Pending"));
        assert!(selects("status.nominatedNodeName="));
    }
}
