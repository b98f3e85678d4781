//! `values.yaml` and `values.schema.json`: the values satisfy the schema, every object level is
//! closed, both have the same keys, bad values are rejected and good ones (and the Go chart's)
//! accepted, and the quantity and duration patterns accept only what the operator parses.

use std::sync::OnceLock;

use locust_operator::quantity;
use serde_json::{Value, json};

use crate::values::{bad_values, good_values};
use crate::{both_charts_keys, coalesce, go_chart_defaults, go_chart_file, schema, values_yaml};

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema = schema();
        assert_eq!(
            schema["$schema"], "http://json-schema.org/draft-07/schema#",
            "values.schema.json must declare draft-07, which every Helm 3 and 4 reads"
        );
        jsonschema::draft7::new(&schema).expect("values.schema.json is a valid draft-07 schema")
    })
}

/// Schema violations of `overrides` coalesced over `values.yaml`, as `pointer: message`.
fn schema_errors(overrides: &Value) -> Vec<(String, String)> {
    let values = coalesce(&values_yaml(), overrides);
    validator()
        .iter_errors(&values)
        .map(|e| (e.instance_path().to_string(), e.to_string()))
        .collect()
}

#[test]
fn values_yaml_satisfies_the_schema() {
    let errors: Vec<_> = validator()
        .iter_errors(&values_yaml())
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "values.yaml: {errors:#?}");
}

#[test]
fn schema_rejects_bad_values() {
    for (what, overrides, pointer) in bad_values() {
        let errors = schema_errors(&overrides);
        assert!(
            errors.iter().any(|(at, _)| at == pointer),
            "{what}: {overrides} should be rejected at {pointer:?}; errors: {errors:#?}"
        );
    }
}

#[test]
fn schema_accepts_good_values() {
    for (what, overrides) in good_values() {
        let errors = schema_errors(&overrides);
        assert!(errors.is_empty(), "{what}: {overrides}: {errors:#?}");
    }
}

/// The Go operator's chart's whole `values.yaml`, and a file of its keys setting everything this
/// chart translates, satisfy the schema: Helm validates before the templates run, so a schema
/// error ("additional properties not allowed") would hide the templates' messages. Every
/// property of the Go chart's own schema is one here, at the same path (or a key of a map whose
/// values the schema checks, like `resources.limits`).
#[test]
fn schema_accepts_the_go_charts_values() {
    for (what, values) in [
        ("the Go chart's values.yaml", go_chart_defaults()),
        (
            "non-default-values.yaml",
            go_chart_file("non-default-values.yaml"),
        ),
    ] {
        let errors = schema_errors(&values);
        assert!(errors.is_empty(), "{what}: {errors:#?}");
    }
    fn properties(schema: &Value, path: &[String], out: &mut Vec<Vec<String>>) {
        let children = schema.get("properties").and_then(Value::as_object);
        for (key, child) in children.into_iter().flatten() {
            let mut at = path.to_vec();
            at.push(key.clone());
            out.push(at.clone());
            properties(child, &at, out);
        }
    }
    fn covered(schema: &Value, path: &[String]) -> bool {
        match path.split_first() {
            None => true,
            Some((key, rest)) => match schema.get("properties").and_then(|p| p.get(key)) {
                Some(child) => covered(child, rest),
                None => schema
                    .get("additionalProperties")
                    .is_some_and(Value::is_object),
            },
        }
    }
    let mut theirs = Vec::new();
    properties(&go_chart_file("values.schema.json"), &[], &mut theirs);
    let ours = schema();
    let missing: Vec<_> = theirs.iter().filter(|p| !covered(&ours, p)).collect();
    assert!(theirs.len() > 50, "only {} Go properties", theirs.len());
    assert!(
        missing.is_empty(),
        "Go chart properties not in the schema: {missing:#?}"
    );
}

/// Object levels of the schema that are maps by nature (keys are data, not settings), or
/// Kubernetes types the API server validates, or values of the Go operator's chart that the
/// templates check themselves (accepted only where they change nothing, else rejected naming
/// the key).
const OPEN_OBJECTS: [&str; 16] = [
    "/properties/global",
    "/properties/podAnnotations",
    "/properties/nodeSelector",
    "/properties/resources/properties/requests",
    "/properties/resources/properties/limits",
    "/properties/affinity/properties/nodeAffinity",
    "/properties/affinity/properties/podAffinity",
    "/properties/affinity/properties/podAntiAffinity",
    "/properties/extraEnv/items",
    "/properties/otelCollector/properties/resources",
    "/properties/otelCollector/properties/podSecurityContext",
    "/properties/otelCollector/properties/containerSecurityContext",
    "/properties/serviceAccount/properties/annotations",
    "/properties/podSecurityContext",
    "/properties/containerSecurityContext",
    "/properties/config",
];

fn closed_objects(node: &Value, pointer: &str, open: &mut Vec<String>) {
    let Some(map) = node.as_object() else { return };
    let is_object = map.contains_key("properties")
        || match map.get("type") {
            Some(Value::String(t)) => t == "object",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
            _ => false,
        };
    let in_combinator = ["/if", "/then", "/else", "/allOf"]
        .iter()
        .any(|c| pointer.contains(c));
    if is_object && !in_combinator && map.get("additionalProperties") != Some(&json!(false)) {
        open.push(pointer.to_owned());
    }
    for (key, child) in map {
        match key.as_str() {
            "properties" => {
                for (name, property) in child.as_object().into_iter().flatten() {
                    closed_objects(property, &format!("{pointer}/properties/{name}"), open);
                }
            }
            "items" | "if" | "then" | "else" | "additionalProperties" => {
                closed_objects(child, &format!("{pointer}/{key}"), open)
            }
            "allOf" | "anyOf" | "oneOf" => {
                for (i, item) in child.as_array().into_iter().flatten().enumerate() {
                    closed_objects(item, &format!("{pointer}/{key}/{i}"), open);
                }
            }
            _ => {}
        }
    }
}

#[test]
fn every_object_level_of_the_schema_is_closed() {
    let mut open = Vec::new();
    closed_objects(&schema(), "", &mut open);
    let unexpected: Vec<_> = open
        .iter()
        .filter(|p| !OPEN_OBJECTS.contains(&p.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "objects without additionalProperties: false (a misspelled key would pass): {unexpected:#?}"
    );
}

/// Walks the values and the schema together: same keys at every closed level (an empty map in
/// the values, like `affinity: {}`, is an optional object whose keys are documented by the
/// schema alone).
fn same_keys(values: &Value, schema: &Value, path: &str, problems: &mut Vec<String>) {
    let (Some(values), Some(properties)) = (
        values.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) else {
        return;
    };
    if values.is_empty() {
        return;
    }
    for key in values.keys() {
        if !properties.contains_key(key) {
            problems.push(format!("values.yaml {path}.{key} is not in the schema"));
        }
    }
    for (key, property) in properties {
        match values.get(key) {
            None if key != "global" => {
                problems.push(format!("schema {path}.{key} is not in values.yaml"))
            }
            None => {}
            Some(value) => same_keys(value, property, &format!("{path}.{key}"), problems),
        }
    }
}

/// The schema has the keys of `values.yaml` and those of the Go operator's chart, no others.
#[test]
fn schema_and_values_yaml_have_the_same_keys() {
    let mut problems = Vec::new();
    same_keys(&both_charts_keys(), &schema(), "", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    // Not vacuous: a key of either chart only is among those compared.
    let schema = schema();
    for key in ["replicas", "replicaCount", "otelCollector", "config"] {
        assert!(schema["properties"].get(key).is_some(), "{key}");
    }
}

fn schema_node<'a>(schema: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(schema, |node, key| &node["properties"][key])
}

fn matches(sub_schema: &Value, value: &str) -> bool {
    let mut sub = sub_schema.clone();
    sub.as_object_mut()
        .expect("an object")
        .remove("description");
    sub["type"] = json!("string");
    jsonschema::draft7::is_valid(&sub, &json!(value))
}

#[test]
fn quantity_pattern_accepts_only_what_the_operator_parses() {
    let schema = schema();
    let samples = [
        "0", "1", "250m", "1000m", "1.5", ".5", "5.", "+2", "128Mi", "1Gi", "30M", "1k", "100n",
        "3u", "1e3", "1E-3", "2e+2", "1Ei", "", "lots", "1 Gi", "1.2.3", "1x", "Mi", "1MiB", "-2",
        "1e", "m", ".", "1KI", " 1",
    ];
    let fields: [&[&str]; 4] = [
        &["locustPods", "resources", "cpuLimit"],
        &["locustPods", "resources", "master", "memRequest"],
        &["locustPods", "resources", "worker", "ephemeralLimit"],
        &["locustPods", "metricsExporter", "resources", "cpuRequest"],
    ];
    for field in fields {
        let node = schema_node(&schema, field);
        for sample in samples {
            let accepted = matches(node, sample);
            // "" is the chart's "remove it"; the operator reads it as such, not as a quantity.
            let operator = sample.is_empty()
                || (!sample.starts_with('-') && quantity::quantity(sample).is_ok());
            assert_eq!(
                accepted, operator,
                "{field:?} {sample:?}: schema accepts: {accepted}, operator parses: {operator}"
            );
        }
    }
}

#[test]
fn grace_period_pattern_accepts_only_durations_the_operator_parses() {
    let schema = schema();
    let node = schema_node(&schema, &["podHealthGracePeriod"]);
    for sample in ["2m", "90s", "1h30m", "500ms", "1d", "2m30s", "0s"] {
        assert!(matches(node, sample), "{sample:?} should be accepted");
        assert!(humantime::parse_duration(sample).is_ok(), "{sample:?}");
    }
    for sample in ["", "2", "2 minutes", "m", "-1s", "1.5h"] {
        assert!(!matches(node, sample), "{sample:?} should be rejected");
    }
}
