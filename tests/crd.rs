//! The generated CRD: drift against `deploy/crd.yaml`, size, names and versions, printer
//! columns, every docs/compatibility.md A2/A4 field with its default and validation, structural-schema
//! rules a real API server enforces, and the CEL rules (compiled, costed, evaluated).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeSet;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use locust_operator::crd::{locust_test_crd, locust_test_crd_yaml};
use serde_json::{Value, json};

mod support;
use support::{node, schema};

fn crd() -> CustomResourceDefinition {
    locust_test_crd().expect("CRD generates")
}

fn is_required(schema: &Value, path: &str) -> bool {
    let (parent, field) = match path.rsplit_once('.') {
        Some((parent, field)) => (node(schema, parent), field),
        None => (schema, path),
    };
    let parent = if parent.get("items").is_some() && parent.get("properties").is_none() {
        &parent["items"]
    } else {
        parent
    };
    parent["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|f| f == field))
}

#[test]
fn committed_crd_equals_generated() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/crd.yaml"))
            .expect("deploy/crd.yaml exists");
    let generated = locust_test_crd_yaml().expect("CRD renders");
    assert!(
        committed == generated,
        "deploy/crd.yaml is stale: regenerate it with `cargo run -- crd > deploy/crd.yaml`"
    );
}

#[test]
fn committed_crd_parses_back_into_the_same_object() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/crd.yaml")).unwrap();
    let parsed: CustomResourceDefinition =
        serde_saphyr::from_str(&committed).expect("valid CRD YAML");
    assert_eq!(parsed, crd());
}

#[test]
fn crd_fits_client_side_apply_with_room_to_grow() {
    let yaml = locust_test_crd_yaml().unwrap();
    assert!(
        yaml.len() <= 128 * 1024,
        "CRD YAML is {} bytes, limit 128 KiB",
        yaml.len()
    );
    // `kubectl apply` stores the object as compact JSON in an annotation limited to 256 KiB.
    let json = serde_json::to_string(&crd()).unwrap();
    assert!(json.len() <= 128 * 1024, "CRD JSON is {} bytes", json.len());
}

#[test]
fn names_versions_and_conversion_are_compatible() {
    let crd = crd();
    assert_eq!(crd.metadata.name.as_deref(), Some("locusttests.locust.io"));
    let spec = &crd.spec;
    assert_eq!(spec.group, "locust.io");
    assert_eq!(spec.scope, "Namespaced");
    assert_eq!(spec.names.kind, "LocustTest");
    assert_eq!(spec.names.plural, "locusttests");
    assert_eq!(spec.names.singular.as_deref(), Some("locusttest"));
    assert_eq!(spec.names.short_names, Some(vec!["lotest".to_owned()]));
    assert_eq!(spec.names.categories, Some(vec!["locust".to_owned()]));

    let names: Vec<_> = spec.versions.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["v2", "v1"]);
    let (v2, v1) = (&spec.versions[0], &spec.versions[1]);
    assert!(v2.served && v2.storage);
    assert!(v1.served && !v1.storage);
    assert_eq!(v2.deprecated, None);
    assert_eq!(v1.deprecated, Some(true));
    assert_eq!(
        v1.deprecation_warning.as_deref(),
        Some("locust.io/v1 LocustTest is deprecated, migrate to locust.io/v2")
    );
    for version in [v2, v1] {
        let status = version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref());
        assert!(status.is_some(), "{}: status subresource", version.name);
        assert!(version.subresources.as_ref().unwrap().scale.is_none());
    }

    let conversion = spec.conversion.as_ref().expect("conversion block");
    assert_eq!(conversion.strategy, "Webhook");
    let webhook = conversion.webhook.as_ref().expect("webhook conversion");
    assert_eq!(webhook.conversion_review_versions, ["v1"]);
    let service = webhook
        .client_config
        .as_ref()
        .and_then(|c| c.service.as_ref())
        .expect("service");
    assert_eq!(service.path.as_deref(), Some("/convert"));
    assert_eq!(service.port, Some(443));
}

#[test]
fn printer_columns_match_kubectl_get_output() {
    let crd = crd();
    let columns = |version: usize| {
        crd.spec.versions[version]
            .additional_printer_columns
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.name, c.type_, c.json_path, c.priority.unwrap_or(0)))
            .collect::<Vec<_>>()
    };
    let owned = |rows: &[(&str, &str, &str, i32)]| {
        rows.iter()
            .map(|(n, t, p, prio)| (n.to_string(), t.to_string(), p.to_string(), *prio))
            .collect::<Vec<_>>()
    };
    // kubectl upper-cases names: NAME PHASE WORKERS CONNECTED AGE (Image and the live numbers
    // USERS RPS FAILURES only with -o wide).
    assert_eq!(
        columns(0),
        owned(&[
            ("Phase", "string", ".status.phase", 0),
            ("Workers", "integer", ".spec.worker.replicas", 0),
            ("Connected", "integer", ".status.connectedWorkers", 0),
            ("Image", "string", ".spec.image", 1),
            ("Users", "integer", ".status.stats.users", 1),
            ("RPS", "number", ".status.stats.requestsPerSecond", 1),
            ("Failures", "integer", ".status.stats.failures", 1),
            ("Age", "date", ".metadata.creationTimestamp", 0),
        ])
    );
    assert_eq!(
        columns(1),
        owned(&[
            ("master_cmd", "string", ".spec.masterCommandSeed", 0),
            ("worker_replica_count", "integer", ".spec.workerReplicas", 0),
            ("Image", "string", ".spec.image", 0),
            ("Age", "date", ".metadata.creationTimestamp", 0),
        ])
    );
}

/// Expected shape of one field: JSON type (`int-or-string` for quantities), required,
/// schema default, enum values.
struct Field {
    path: &'static str,
    ty: &'static str,
    required: bool,
    default: Option<Value>,
    enumeration: &'static [&'static str],
}

const fn field(path: &'static str, ty: &'static str) -> Field {
    Field {
        path,
        ty,
        required: false,
        default: None,
        enumeration: &[],
    }
}

impl Field {
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn default(mut self, value: Value) -> Self {
        self.default = Some(value);
        self
    }
    fn one_of(mut self, values: &'static [&'static str]) -> Self {
        self.enumeration = values;
        self
    }
}

fn check_fields(version: &str, fields: Vec<Field>) {
    let schema = schema(version);
    let mut problems = Vec::new();
    for f in fields {
        let n = node(&schema, f.path);
        let ty = if n["x-kubernetes-int-or-string"] == json!(true) {
            "int-or-string"
        } else {
            n["type"].as_str().unwrap_or("<none>")
        };
        if ty != f.ty {
            problems.push(format!("{}: type {ty}, want {}", f.path, f.ty));
        }
        if is_required(&schema, f.path) != f.required {
            problems.push(format!("{}: required should be {}", f.path, f.required));
        }
        if n.get("default") != f.default.as_ref() {
            problems.push(format!(
                "{}: default {:?}, want {:?}",
                f.path,
                n.get("default"),
                f.default
            ));
        }
        let enumeration: Vec<&str> = n["enum"]
            .as_array()
            .map(|e| e.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if enumeration != f.enumeration {
            problems.push(format!(
                "{}: enum {enumeration:?}, want {:?}",
                f.path, f.enumeration
            ));
        }
        if n.get("description")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            problems.push(format!(
                "{}: no description (kubectl explain prints it)",
                f.path
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{version} schema:\n{}",
        problems.join("\n")
    );
}

#[test]
fn v2_schema_has_every_field_with_its_default_and_rule() {
    check_fields(
        "v2",
        vec![
            field("spec", "object").required(),
            field("status", "object"),
            field("spec.image", "string").required(),
            field("spec.imagePullPolicy", "string")
                .default(json!("IfNotPresent"))
                .one_of(&["Always", "IfNotPresent", "Never"]),
            field("spec.imagePullSecrets", "array"),
            field("spec.master", "object").required(),
            field("spec.master.command", "string").required(),
            field("spec.master.resources", "object"),
            field("spec.master.labels", "object"),
            field("spec.master.annotations", "object"),
            field("spec.master.autostart", "boolean").default(json!(true)),
            field("spec.master.autoquit", "object"),
            field("spec.master.autoquit.enabled", "boolean")
                .required()
                .default(json!(true)),
            field("spec.master.autoquit.timeout", "integer").default(json!(60)),
            field("spec.master.extraArgs", "array"),
            field("spec.worker", "object").required(),
            field("spec.worker.command", "string").required(),
            field("spec.worker.replicas", "integer").required(),
            field("spec.worker.resources", "object"),
            field("spec.worker.labels", "object"),
            field("spec.worker.annotations", "object"),
            field("spec.worker.extraArgs", "array"),
            field("spec.testFiles", "object"),
            field("spec.testFiles.configMapRef", "string"),
            field("spec.testFiles.libConfigMapRef", "string"),
            field("spec.testFiles.srcMountPath", "string").default(json!("/lotest/src")),
            field("spec.testFiles.libMountPath", "string").default(json!("/opt/locust/lib")),
            field("spec.scheduling", "object"),
            field("spec.scheduling.affinity", "object"),
            field("spec.scheduling.tolerations", "array"),
            field("spec.scheduling.nodeSelector", "object"),
            field("spec.scheduling.runtimeClassName", "string"),
            field("spec.env", "object"),
            field("spec.env.configMapRefs", "array"),
            field("spec.env.configMapRefs[].name", "string").required(),
            field("spec.env.configMapRefs[].prefix", "string"),
            field("spec.env.secretRefs", "array"),
            field("spec.env.secretRefs[].name", "string").required(),
            field("spec.env.secretRefs[].prefix", "string"),
            field("spec.env.variables", "array"),
            field("spec.env.secretMounts", "array"),
            field("spec.env.secretMounts[].name", "string").required(),
            field("spec.env.secretMounts[].mountPath", "string").required(),
            field("spec.env.secretMounts[].readOnly", "boolean").default(json!(true)),
            field("spec.volumes", "array"),
            field("spec.volumeMounts", "array"),
            field("spec.volumeMounts[].target", "string")
                .default(json!("both"))
                .one_of(&["master", "worker", "both"]),
            field("spec.security", "object"),
            field("spec.security.podSecurityContext", "object"),
            field("spec.security.containerSecurityContext", "object"),
            field("spec.observability", "object"),
            field("spec.observability.openTelemetry", "object"),
            field("spec.observability.openTelemetry.enabled", "boolean")
                .required()
                .default(json!(false)),
            field("spec.observability.openTelemetry.endpoint", "string"),
            field("spec.observability.openTelemetry.protocol", "string")
                .default(json!("grpc"))
                .one_of(&["grpc", "http/protobuf"]),
            field("spec.observability.openTelemetry.insecure", "boolean").default(json!(false)),
            field("spec.observability.openTelemetry.extraEnvVars", "object"),
            field("status.phase", "string").one_of(&["Pending", "Running", "Succeeded", "Failed"]),
            field("status.observedGeneration", "integer"),
            field("status.expectedWorkers", "integer"),
            field("status.connectedWorkers", "integer"),
            field("status.startTime", "string"),
            field("status.completionTime", "string"),
            field("status.conditions", "array"),
        ],
    );

    let schema = schema("v2");
    // Ranges and patterns.
    let replicas = node(&schema, "spec.worker.replicas");
    assert_eq!(
        (replicas["minimum"].as_f64(), replicas["maximum"].as_f64()),
        (Some(1.0), Some(500.0))
    );
    assert_eq!(
        node(&schema, "spec.master.autoquit.timeout")["minimum"].as_f64(),
        Some(0.0)
    );
    let runtime_class = node(&schema, "spec.scheduling.runtimeClassName");
    assert_eq!(runtime_class["maxLength"], json!(253));
    let pattern = regex::Regex::new(runtime_class["pattern"].as_str().unwrap()).unwrap();
    for ok in ["", "gvisor", "kata-qemu", "a.b-c.d1", "0"] {
        assert!(pattern.is_match(ok), "{ok:?} should match");
    }
    for bad in ["Gvisor", "-a", "a-", "a..b", "a_b", " ", "a.", ".a"] {
        assert!(!pattern.is_match(bad), "{bad:?} should not match");
    }
    // Quantities are int-or-string, as Kubernetes expects.
    let limits = node(&schema, "spec.master.resources.limits");
    assert_eq!(
        limits["additionalProperties"]["x-kubernetes-int-or-string"],
        json!(true)
    );
    // Embedded core types keep their schemas (here: a toleration's fields) without upstream prose.
    let toleration = &node(&schema, "spec.scheduling.tolerations")["items"];
    for f in ["key", "operator", "value", "effect", "tolerationSeconds"] {
        assert!(toleration["properties"].get(f).is_some(), "toleration.{f}");
    }
    assert!(toleration.get("description").is_none());
    // VolumeMount fields are inlined next to `target`.
    let mount = node(&schema, "spec.volumeMounts[]");
    for f in [
        "name",
        "mountPath",
        "readOnly",
        "subPath",
        "subPathExpr",
        "mountPropagation",
        "target",
    ] {
        assert!(mount["properties"].get(f).is_some(), "volumeMounts[].{f}");
    }
    assert_eq!(mount["required"], json!(["mountPath", "name"]));
    // Conditions merge by type.
    let conditions = node(&schema, "status.conditions");
    assert_eq!(conditions["x-kubernetes-list-type"], json!("map"));
    assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
    for f in [
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    ] {
        assert!(
            conditions["items"]["properties"].get(f).is_some(),
            "condition.{f}"
        );
    }
    assert_eq!(
        node(&schema, "status.startTime")["format"],
        json!("date-time")
    );
}

#[test]
fn v1_schema_has_every_field_with_its_default_and_rule() {
    check_fields(
        "v1",
        vec![
            field("spec", "object").required(),
            field("status", "object"),
            field("spec.masterCommandSeed", "string").required(),
            field("spec.workerCommandSeed", "string").required(),
            field("spec.workerReplicas", "integer")
                .required()
                .default(json!(1)),
            field("spec.image", "string").required(),
            field("spec.imagePullPolicy", "string").one_of(&["Always", "IfNotPresent", "Never"]),
            field("spec.imagePullSecrets", "array"),
            field("spec.configMap", "string"),
            field("spec.libConfigMap", "string"),
            field("spec.labels", "object"),
            field("spec.labels.master", "object"),
            field("spec.labels.worker", "object"),
            field("spec.annotations", "object"),
            field("spec.annotations.master", "object"),
            field("spec.annotations.worker", "object"),
            field("spec.affinity", "object"),
            field("spec.affinity.nodeAffinity", "object"),
            field(
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
                "object",
            ),
            field("spec.tolerations", "array"),
            field("spec.tolerations[].key", "string").required(),
            field("spec.tolerations[].operator", "string")
                .required()
                .one_of(&["Exists", "Equal"]),
            field("spec.tolerations[].value", "string"),
            field("spec.tolerations[].effect", "string")
                .required()
                .one_of(&["NoSchedule", "PreferNoSchedule", "NoExecute"]),
        ],
    );
    let schema = schema("v1");
    let replicas = node(&schema, "spec.workerReplicas");
    assert_eq!(
        (replicas["minimum"].as_f64(), replicas["maximum"].as_f64()),
        (Some(1.0), Some(500.0))
    );
    assert_eq!(
        node(&schema, "spec.imagePullSecrets")["items"]["type"],
        json!("string")
    );
    assert_eq!(
        node(
            &schema,
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        )["additionalProperties"],
        json!({"type": "string"})
    );
    // v1 status is an empty object.
    assert_eq!(node(&schema, "status").get("properties"), None);
}

// ---------------------------------------------------------------------------------------------
// Structural schema rules (k8s.io/apiextensions-apiserver pkg/apis/apiextensions/validation and
// pkg/apiserver/schema): what a real API server rejects when the CRD is applied.
// ---------------------------------------------------------------------------------------------

const TYPES: [&str; 6] = ["object", "array", "string", "integer", "number", "boolean"];
const FORMATS: [&str; 28] = [
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "date-time",
    "int32",
    "int64",
    "float",
];
/// Keywords a v1 CRD schema may use at all.
const KNOWN: [&str; 33] = [
    "type",
    "format",
    "description",
    "default",
    "enum",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
    "maxProperties",
    "minProperties",
    "required",
    "items",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
    "properties",
    "additionalProperties",
    "nullable",
    "example",
    "externalDocs",
    "title",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-validations",
];
const KNOWN_X: [&str; 5] = [
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
];
/// What may not appear inside allOf/anyOf/oneOf/not.
const FORBIDDEN_IN_JUNCTORS: [&str; 11] = [
    "type",
    "default",
    "description",
    "additionalProperties",
    "nullable",
    "title",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
];

/// Every reason a real API server would refuse this schema, with the JSON path of the node.
fn structural_violations(root: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if root["type"] != json!("object") {
        out.push(". : the root must be type object".to_owned());
    }
    walk(root, ".", false, &mut out);
    if let Some(metadata) = root.get("properties").and_then(|p| p.get("metadata")) {
        let allowed: BTreeSet<&str> = ["name", "generateName"].into();
        let props = metadata["properties"]
            .as_object()
            .map(|p| p.keys().map(String::as_str).collect::<BTreeSet<_>>());
        if props.is_some_and(|p| !p.is_subset(&allowed)) || metadata.get("default").is_some() {
            out.push(".metadata: only name and generateName may be restricted".to_owned());
        }
    }
    out
}

fn walk(node: &Value, path: &str, in_junctor: bool, out: &mut Vec<String>) {
    let Some(map) = node.as_object() else {
        out.push(format!("{path}: a schema must be an object, found {node}"));
        return;
    };
    for key in map.keys() {
        if !KNOWN.contains(&key.as_str()) && !KNOWN_X.contains(&key.as_str()) {
            out.push(format!("{path}: unsupported keyword {key:?}"));
        }
    }
    let int_or_string = map.get("x-kubernetes-int-or-string") == Some(&json!(true));
    let preserve = map.get("x-kubernetes-preserve-unknown-fields");
    if preserve.is_some_and(|v| v != &json!(true)) {
        out.push(format!(
            "{path}: x-kubernetes-preserve-unknown-fields must be true"
        ));
    }
    if map.get("uniqueItems") == Some(&json!(true)) {
        out.push(format!("{path}: uniqueItems cannot be true"));
    }
    if in_junctor {
        for key in FORBIDDEN_IN_JUNCTORS {
            if map.contains_key(key) {
                out.push(format!(
                    "{path}: {key} is not allowed inside allOf/anyOf/oneOf/not"
                ));
            }
        }
    } else {
        let ty = map.get("type").and_then(Value::as_str);
        match ty {
            None if int_or_string || preserve.is_some() => {}
            None => out.push(format!("{path}: type must not be empty")),
            Some(t) if !TYPES.contains(&t) => out.push(format!("{path}: unknown type {t:?}")),
            Some(_) if int_or_string => out.push(format!(
                "{path}: x-kubernetes-int-or-string must not have a type"
            )),
            Some("array") if !map.get("items").is_some_and(Value::is_object) => {
                out.push(format!("{path}: an array needs a single items schema"))
            }
            Some(_) => {}
        }
        if let Some(format) = map.get("format").and_then(Value::as_str)
            && !FORMATS.contains(&format)
            && format != "double"
        {
            out.push(format!("{path}: unknown format {format:?}"));
        }
        check_value_keywords(map, ty, path, out);
        if let Some(default) = map.get("default") {
            for problem in locust_operator::schema_check::check_value(node, default, "") {
                out.push(format!(
                    "{path}: default {default} does not validate: {problem}"
                ));
            }
        }
        check_list_markers(map, path, out);
        if let Some(rules) = map.get("x-kubernetes-validations") {
            for rule in rules.as_array().into_iter().flatten() {
                if rule["rule"].as_str().is_none_or(str::is_empty) {
                    out.push(format!(
                        "{path}: x-kubernetes-validations rule must not be empty"
                    ));
                }
            }
        }
    }
    if map.contains_key("properties") && map.contains_key("additionalProperties") {
        out.push(format!(
            "{path}: properties and additionalProperties are mutually exclusive"
        ));
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(false)) => out.push(format!(
            "{path}: additionalProperties: false is not allowed"
        )),
        Some(Value::Bool(true)) => {}
        Some(schema) => walk(schema, &format!("{path}{{*}}"), in_junctor, out),
        None => {}
    }
    if let Some(props) = map.get("properties") {
        for (name, child) in props.as_object().into_iter().flatten() {
            let child_path = if path == "." {
                format!(".{name}")
            } else {
                format!("{path}.{name}")
            };
            walk(child, &child_path, in_junctor, out);
        }
    }
    match map.get("items") {
        Some(Value::Array(_)) => out.push(format!("{path}: items must be a single schema")),
        Some(items) => walk(items, &format!("{path}[*]"), in_junctor, out),
        None => {}
    }
    for junctor in ["allOf", "anyOf", "oneOf"] {
        for (i, sub) in map
            .get(junctor)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            walk(sub, &format!("{path}/{junctor}[{i}]"), true, out);
        }
    }
    if let Some(not) = map.get("not") {
        walk(not, &format!("{path}/not"), true, out);
    }
}

fn check_value_keywords(
    map: &serde_json::Map<String, Value>,
    ty: Option<&str>,
    path: &str,
    out: &mut Vec<String>,
) {
    let numeric = matches!(ty, Some("integer" | "number"));
    for (key, allowed) in [
        ("minimum", numeric),
        ("maximum", numeric),
        ("minLength", ty == Some("string")),
        ("maxLength", ty == Some("string")),
        ("pattern", ty == Some("string")),
        ("minItems", ty == Some("array")),
        ("maxItems", ty == Some("array")),
    ] {
        if map.contains_key(key) && !allowed {
            out.push(format!("{path}: {key} does not apply to type {ty:?}"));
        }
    }
    if let Some(pattern) = map.get("pattern").and_then(Value::as_str)
        && regex::Regex::new(pattern).is_err()
    {
        out.push(format!("{path}: pattern {pattern:?} does not compile"));
    }
    for value in map
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !type_matches(ty, value) {
            out.push(format!("{path}: enum value {value} is not of type {ty:?}"));
        }
    }
}

fn check_list_markers(map: &serde_json::Map<String, Value>, path: &str, out: &mut Vec<String>) {
    let list_type = map.get("x-kubernetes-list-type").and_then(Value::as_str);
    let keys = map
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array);
    match (list_type, keys) {
        (Some("map"), Some(keys)) if !keys.is_empty() => {
            let items = &map["items"];
            if items["type"] != json!("object") {
                out.push(format!("{path}: a list-map needs object items"));
            }
            for key in keys.iter().filter_map(Value::as_str) {
                let property = &items["properties"][key];
                let scalar = matches!(
                    property["type"].as_str(),
                    Some("string" | "integer" | "number" | "boolean")
                );
                let required = items["required"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|k| k == key));
                if !scalar || !(required || property.get("default").is_some()) {
                    out.push(format!(
                        "{path}: list-map key {key:?} must be a required (or defaulted) scalar"
                    ));
                }
            }
        }
        (Some("map"), _) => out.push(format!(
            "{path}: x-kubernetes-list-type map needs x-kubernetes-list-map-keys"
        )),
        (Some("atomic" | "set"), None) | (None, None) => {}
        (Some(other), None) => {
            out.push(format!("{path}: unknown x-kubernetes-list-type {other:?}"))
        }
        (_, Some(_)) => out.push(format!(
            "{path}: x-kubernetes-list-map-keys needs x-kubernetes-list-type map"
        )),
    }
    if list_type.is_some() && map.get("type") != Some(&json!("array")) {
        out.push(format!("{path}: x-kubernetes-list-type on a non-array"));
    }
}

#[test]
fn schemas_are_structural() {
    for version in ["v2", "v1"] {
        let violations = structural_violations(&schema(version));
        assert!(
            violations.is_empty(),
            "{version}:\n{}",
            violations.join("\n")
        );
    }
}

#[test]
fn the_structural_check_rejects_what_an_api_server_rejects() {
    let cases = [
        (
            json!({"type": "object", "properties": {"a": {}}}),
            "type must not be empty",
        ),
        (
            json!({"type": "object", "properties": {"a": {"$ref": "#/x", "type": "string"}}}),
            "unsupported keyword \"$ref\"",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "array"}}}),
            "single items schema",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}}),
            "items must be a single schema",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "null"}}}),
            "unknown type",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "object", "additionalProperties": false}}}),
            "additionalProperties: false",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}}}),
            "mutually exclusive",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "anyOf": [{"type": "string"}]}}}),
            "not allowed inside",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "oneOf": [{"description": "x"}]}}}),
            "not allowed inside",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "default": 3}}}),
            "does not validate",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "enum": ["x"], "default": "y"}}}),
            "does not validate",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "integer", "minimum": 1, "default": 0}}}),
            "does not validate",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}, "default": {"c": 1}}}}),
            "unknown field",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-int-or-string": true}}}),
            "must not have a type",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}}}),
            "uniqueItems",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}, "x-kubernetes-list-type": "map"}}}),
            "needs x-kubernetes-list-map-keys",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"]}}}),
            "required (or defaulted) scalar",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "format": "int-or-string"}}}),
            "unknown format",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}),
            "does not compile",
        ),
        (
            json!({"type": "object", "properties": {"a": {"type": "object", "x-kubernetes-preserve-unknown-fields": false}}}),
            "must be true",
        ),
        (
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}),
            "only name and generateName",
        ),
        (json!({"properties": {}}), "root must be type object"),
    ];
    for (schema, expected) in cases {
        let violations = structural_violations(&schema);
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "{schema}: expected a violation containing {expected:?}, got {violations:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// CEL rules.
// ---------------------------------------------------------------------------------------------

fn minimal_v2(name: &str) -> Value {
    json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "master": {"command": "--locustfile /lotest/src/t.py"},
            "worker": {"command": "--locustfile /lotest/src/t.py", "replicas": 2}
        }
    })
}

fn cel_errors(object: &Value) -> Vec<String> {
    match kube::core::cel::Validator::new().validate(&schema("v2"), object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn cel_rules_compile_and_fit_the_cost_budget() {
    for version in ["v2", "v1"] {
        let schema = schema(version);
        let compiled = kube::core::cel::compile_schema(&schema);
        assert!(
            !compiled.has_errors(),
            "{version}: {:?}",
            compiled.compilation_errors()
        );
    }
    let schema = schema("v2");
    let rules = [
        (schema.clone(), schema["x-kubernetes-validations"].clone()),
        (
            node(&schema, "spec.observability.openTelemetry").clone(),
            node(&schema, "spec.observability.openTelemetry")["x-kubernetes-validations"].clone(),
        ),
    ];
    for (scope, list) in rules {
        let compiled = kube::core::cel::compile_schema(&scope);
        for rule in list.as_array().expect("rules present") {
            let rule = rule["rule"].as_str().unwrap();
            let warnings = kube::core::cel::estimate_rule_cost(rule, &compiled);
            assert!(warnings.is_empty(), "{rule}: {warnings:?}");
        }
    }
}

#[test]
fn name_length_rule_allows_56_and_rejects_57_characters() {
    let name = |n: usize| "a".repeat(n);
    assert_eq!(cel_errors(&minimal_v2(&name(56))), Vec::<String>::new());
    let errors = cel_errors(&minimal_v2(&name(57)));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("56 characters"), "{errors:?}");
    // Dots are counted like any character (they become dashes in generated names).
    assert!(cel_errors(&minimal_v2(&format!("{}.x", name(54)))).is_empty());

    // The deprecated version enforces the same limit (objects are validated in the version
    // they are sent in).
    let v1 = |n: usize| {
        let object = json!({
            "apiVersion": "locust.io/v1", "kind": "LocustTest",
            "metadata": {"name": name(n)},
            "spec": {"image": "i", "masterCommandSeed": "m", "workerCommandSeed": "w", "workerReplicas": 1}
        });
        kube::core::cel::Validator::new()
            .validate(&schema("v1"), &object, None)
            .map_err(|e| e.to_string())
    };
    assert_eq!(v1(56), Ok(()));
    assert!(v1(57).is_err_and(|e| e.contains("56 characters")));
}

#[test]
fn opentelemetry_endpoint_is_required_only_when_enabled() {
    let with_otel = |otel: Value| {
        let mut object = minimal_v2("otel");
        object["spec"]["observability"] = json!({"openTelemetry": otel});
        cel_errors(&object)
    };
    assert!(with_otel(json!({"enabled": false})).is_empty());
    assert!(with_otel(json!({"enabled": true, "endpoint": "otel-collector:4317"})).is_empty());
    // `enabled` omitted defaults to false.
    assert!(with_otel(json!({"endpoint": "x:4317"})).is_empty());
    for broken in [
        json!({"enabled": true}),
        json!({"enabled": true, "endpoint": ""}),
    ] {
        let errors = with_otel(broken.clone());
        assert_eq!(errors.len(), 1, "{broken}: {errors:?}");
        assert!(
            errors[0].contains("endpoint is required when OpenTelemetry is enabled"),
            "{errors:?}"
        );
        assert!(
            errors[0].contains("openTelemetry"),
            "error names the field: {errors:?}"
        );
    }
}

fn type_matches(ty: Option<&str>, value: &Value) -> bool {
    match ty {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        _ => true,
    }
}
