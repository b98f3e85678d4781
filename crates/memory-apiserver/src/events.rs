//! Events: one storage served in two versions, as the API server does it.
//!
//! kube-apiserver keeps core `v1` Events and `events.k8s.io/v1` Events in the same storage (the
//! core `events` resource, encoded as core `v1`): an Event written through either API is read,
//! listed and watched through both, converted field by field
//! (`k8s.io/kubernetes/pkg/apis/events/v1` `Convert_v1_Event_To_core_Event` and back).
//! Field selectors are evaluated on the stored (core) Event
//! (`pkg/registry/core/event/strategy.go` `ToSelectableFields`); each version accepts its own
//! labels and maps them to those (`pkg/apis/core/v1` and `pkg/apis/events/v1`
//! `AddFieldLabelConversionsForEvent`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// `apiVersion` of core Events (the storage version of both).
pub const CORE: &str = "v1";
/// `apiVersion` of `events.k8s.io` Events.
pub const EVENTS_V1: &str = "events.k8s.io/v1";

/// How Go encodes a field's zero value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Zero {
    /// `omitempty` on a string, number or pointer: the key is left out.
    Omit,
    /// A `metav1.Time` / `MicroTime` (a struct: `omitempty` does not apply): `null`.
    Null,
    /// A struct (`ObjectReference`, `EventSource`): `{}`.
    Object,
    /// A string without `omitempty`: `""`.
    Empty,
}

/// One field of the internal Event: `(core name, core zero, events.k8s.io name, its zero)`,
/// in the internal type's order.
#[rustfmt::skip]
const FIELDS: &[(&str, Zero, &str, Zero)] = &[
    ("involvedObject", Zero::Object, "regarding", Zero::Object),
    ("reason", Zero::Omit, "reason", Zero::Omit),
    ("message", Zero::Omit, "note", Zero::Omit),
    ("source", Zero::Object, "deprecatedSource", Zero::Object),
    ("firstTimestamp", Zero::Null, "deprecatedFirstTimestamp", Zero::Null),
    ("lastTimestamp", Zero::Null, "deprecatedLastTimestamp", Zero::Null),
    ("count", Zero::Omit, "deprecatedCount", Zero::Omit),
    ("type", Zero::Omit, "type", Zero::Omit),
    ("eventTime", Zero::Null, "eventTime", Zero::Null),
    ("series", Zero::Omit, "series", Zero::Omit),
    ("action", Zero::Omit, "action", Zero::Omit),
    ("related", Zero::Omit, "related", Zero::Omit),
    ("reportingComponent", Zero::Empty, "reportingController", Zero::Omit),
    ("reportingInstance", Zero::Empty, "reportingInstance", Zero::Omit),
];

/// Whether `object` is an Event of either version.
pub fn is_event(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Event")
        && matches!(
            object.get("apiVersion").and_then(Value::as_str),
            Some(CORE | EVENTS_V1)
        )
}

/// Whether a value is its type's zero value (absent, `null`, `""`, `0`, `{}`, or an object
/// whose fields are all zero).
fn is_zero(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::Bool(b)) => !b,
        Some(Value::Object(map)) => map.values().all(|v| is_zero(Some(v))),
        Some(Value::Array(items)) => items.is_empty(),
    }
}

/// A struct whose fields are all `omitempty` (`ObjectReference`, `EventSource`): its non-zero
/// fields.
fn omit_empty_fields(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !is_zero(Some(v)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => json!({}),
    }
}

/// An `EventSeries` as the target version encodes it: core `v1` has `omitempty` on `count` (a
/// zero `lastObservedTime` is still `null`), `events.k8s.io/v1` always writes both.
fn series(value: &Value, core: bool) -> Value {
    let count = value
        .get("count")
        .filter(|c| !c.is_null())
        .cloned()
        .unwrap_or(json!(0));
    let last = value
        .get("lastObservedTime")
        .filter(|t| !is_zero(Some(t)))
        .cloned()
        .unwrap_or(Value::Null);
    let mut out = Map::new();
    if !core || !is_zero(Some(&count)) {
        out.insert("count".into(), count);
    }
    out.insert("lastObservedTime".into(), last);
    Value::Object(out)
}

/// Converts an Event of either version to `api_version` (`v1` or `events.k8s.io/v1`), encoded
/// as the API server encodes it: the target's field names, Go's zero values (`null`
/// timestamps, `{}` references, core `reportingComponent: ""`), unknown fields dropped.
/// `None` when `object` is no Event or `api_version` is neither version.
pub fn convert(object: &Value, api_version: &str) -> Option<Value> {
    if !is_event(object) || !matches!(api_version, CORE | EVENTS_V1) {
        return None;
    }
    let from_core = object.get("apiVersion").and_then(Value::as_str) == Some(CORE);
    let to_core = api_version == CORE;
    let mut out = Map::new();
    out.insert("kind".into(), json!("Event"));
    out.insert("apiVersion".into(), json!(api_version));
    out.insert(
        "metadata".into(),
        object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    );
    for (core_name, core_zero, events_name, events_zero) in FIELDS {
        let source = if from_core { core_name } else { events_name };
        let (target, zero) = if to_core {
            (core_name, core_zero)
        } else {
            (events_name, events_zero)
        };
        let value = object.get(*source).filter(|v| !v.is_null());
        let value = match (*target, value) {
            (_, None) => None,
            ("series", Some(v)) => Some(series(v, to_core)),
            (
                "involvedObject" | "regarding" | "related" | "source" | "deprecatedSource",
                Some(v),
            ) => Some(omit_empty_fields(v)),
            (_, Some(v)) => Some(v.clone()),
        };
        let value = match value {
            Some(v) if !is_zero(Some(&v)) => v,
            // A pointer (`related`, `series`) that was set stays, even when empty.
            Some(v) if matches!(*target, "related" | "series") => v,
            _ => match zero {
                Zero::Omit => continue,
                Zero::Null => Value::Null,
                Zero::Object => json!({}),
                Zero::Empty => json!(""),
            },
        };
        out.insert((*target).to_owned(), value);
    }
    Some(Value::Object(out))
}

/// The field selector labels core `v1` Events accept (each maps to itself).
const CORE_LABELS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];

/// The field selector labels `events.k8s.io/v1` Events accept, and the core label each maps to.
#[rustfmt::skip]
const EVENTS_V1_LABELS: &[(&str, &str)] = &[
    ("reason", "reason"),
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    ("regarding.resourceVersion", "involvedObject.resourceVersion"),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
    ("source", "source"),
    ("type", "type"),
    ("metadata.namespace", "metadata.namespace"),
    ("metadata.name", "metadata.name"),
];

/// The label a field selector term on Events of `api_version` is evaluated as, or the API
/// server's error (`field label not supported: <label>`).
pub fn field_label(api_version: &str, label: &str) -> Result<String, String> {
    let mapped = if api_version == EVENTS_V1 {
        EVENTS_V1_LABELS
            .iter()
            .find(|(from, _)| *from == label)
            .map(|(_, to)| *to)
    } else {
        CORE_LABELS.iter().copied().find(|l| *l == label)
    };
    mapped
        .map(str::to_owned)
        .ok_or_else(|| format!("field label not supported: {label}"))
}

/// The selectable fields of a stored (core `v1`) Event.
pub fn selectable_fields(event: &Value) -> BTreeMap<String, String> {
    let text = |pointer: &str| {
        event
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut fields = BTreeMap::new();
    for field in [
        "kind",
        "namespace",
        "name",
        "uid",
        "apiVersion",
        "resourceVersion",
        "fieldPath",
    ] {
        fields.insert(
            format!("involvedObject.{field}"),
            text(&format!("/involvedObject/{field}")),
        );
    }
    let reporting = text("/reportingComponent");
    let mut source = text("/source/component");
    if source.is_empty() {
        source = reporting.clone();
    }
    fields.insert("reason".into(), text("/reason"));
    fields.insert("reportingComponent".into(), reporting);
    fields.insert("source".into(), source);
    fields.insert("type".into(), text("/type"));
    fields.insert("metadata.name".into(), text("/metadata/name"));
    fields.insert("metadata.namespace".into(), text("/metadata/namespace"));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_v1_and_core_convert_both_ways() {
        let recorded = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "t.1", "namespace": "ns"},
            "eventTime": "2026-01-01T00:00:00.000001Z",
            "reportingController": "ctl", "reportingInstance": "ctl-1",
            "action": "Run", "reason": "Started", "type": "Normal", "note": "n",
            "regarding": {"kind": "LocustTest", "name": "t", "namespace": "ns", "uid": "u", "apiVersion": "locust.io/v2"},
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"},
            "unknown": 1
        });
        let core = convert(&recorded, CORE).unwrap_or_default();
        assert_eq!(
            core,
            json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "t.1", "namespace": "ns"},
                "involvedObject": {"kind": "LocustTest", "name": "t", "namespace": "ns", "uid": "u", "apiVersion": "locust.io/v2"},
                "reason": "Started", "message": "n", "source": {},
                "firstTimestamp": null, "lastTimestamp": null, "type": "Normal",
                "eventTime": "2026-01-01T00:00:00.000001Z",
                "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"},
                "action": "Run", "reportingComponent": "ctl", "reportingInstance": "ctl-1"
            })
        );
        let back = convert(&core, EVENTS_V1).unwrap_or_default();
        let mut expected = recorded.clone();
        if let Value::Object(map) = &mut expected {
            map.remove("unknown");
            map.insert("deprecatedSource".into(), json!({}));
            map.insert("deprecatedFirstTimestamp".into(), Value::Null);
            map.insert("deprecatedLastTimestamp".into(), Value::Null);
        }
        assert_eq!(back, expected);
    }

    #[test]
    fn legacy_core_events_fill_the_deprecated_fields() {
        let core = json!({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Failed",
            "message": "m", "source": {"component": "kubelet", "host": "n1"},
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:05Z",
            "count": 3, "type": "Warning"
        });
        let events = convert(&core, EVENTS_V1).unwrap_or_default();
        assert_eq!(events["regarding"]["name"], "p");
        assert_eq!(events["note"], "m");
        assert_eq!(events["deprecatedSource"]["component"], "kubelet");
        assert_eq!(events["deprecatedFirstTimestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(events["deprecatedLastTimestamp"], "2026-01-01T00:00:05Z");
        assert_eq!(events["deprecatedCount"], 3);
        assert_eq!(events["eventTime"], Value::Null);
        assert!(events.get("reportingController").is_none());
        let stored = convert(&core, CORE).unwrap_or_default();
        assert_eq!(stored["reportingComponent"], "");
        assert_eq!(convert(&events, CORE), Some(stored.clone()));
        let fields = selectable_fields(&stored);
        assert_eq!(fields["source"], "kubelet");
        assert_eq!(fields["involvedObject.kind"], "Pod");
    }

    #[test]
    fn the_zero_event_is_encoded_with_gos_zero_values() {
        let zero = |api_version: &str| {
            let object = json!({"kind": "Event", "apiVersion": api_version, "metadata": {}});
            convert(&object, api_version).unwrap_or_default()
        };
        assert_eq!(
            zero(CORE),
            json!({
                "kind": "Event", "apiVersion": "v1", "metadata": {},
                "involvedObject": {}, "source": {}, "firstTimestamp": null,
                "lastTimestamp": null, "eventTime": null,
                "reportingComponent": "", "reportingInstance": ""
            })
        );
        assert_eq!(
            zero(EVENTS_V1),
            json!({
                "kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": {},
                "eventTime": null, "regarding": {}, "deprecatedSource": {},
                "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null
            })
        );
    }

    #[test]
    fn each_version_accepts_its_own_field_labels() {
        assert_eq!(
            field_label(CORE, "involvedObject.name").as_deref(),
            Ok("involvedObject.name")
        );
        assert_eq!(
            field_label(EVENTS_V1, "regarding.name").as_deref(),
            Ok("involvedObject.name")
        );
        assert_eq!(
            field_label(EVENTS_V1, "reportingController").as_deref(),
            Ok("reportingComponent")
        );
        assert_eq!(
            field_label(EVENTS_V1, "involvedObject.name"),
            Err("field label not supported: involvedObject.name".to_owned())
        );
        assert_eq!(
            field_label(CORE, "regarding.name"),
            Err("field label not supported: regarding.name".to_owned())
        );
    }
}
