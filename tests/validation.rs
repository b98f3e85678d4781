//! The shared validation function (`locust_operator::validation::validate`): every docs/compatibility.md
//! A6 rule and Part C validation scenario, the extra rules that protect the generated objects,
//! warnings, and that all violations are reported at once with field paths.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use locust_operator::api::LocustTest;
use locust_operator::defaulting::Defaulted;
use locust_operator::validation::Report;

/// Validates `test` as every caller does: once it is read, and so defaulted.
fn validate(test: &LocustTest) -> Report {
    locust_operator::validation::validate(&Defaulted::new(test.clone()))
}
use serde_json::{Value, json};

/// A valid minimal test named `name`, with `patch` merged into its spec (JSON merge patch).
fn test(name: &str, patch: Value) -> LocustTest {
    let mut object = json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": name, "namespace": "load"},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "master": {"command": "--locustfile /lotest/src/t.py"},
            "worker": {"command": "--locustfile /lotest/src/t.py", "replicas": 2}
        }
    });
    json_patch::merge(&mut object["spec"], &patch);
    serde_json::from_value(object).unwrap()
}

fn fields(list: &[locust_operator::field::FieldError]) -> Vec<&str> {
    list.iter().map(|e| e.field.as_str()).collect()
}

/// `(case, name, spec patch, expected error fields, expected warning fields)`.
type Case = (
    &'static str,
    &'static str,
    Value,
    &'static [&'static str],
    &'static [&'static str],
);

fn check(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for (case, name, patch, errors, warnings) in cases {
        let report: Report = validate(&test(name, patch));
        if fields(&report.errors) != errors || fields(&report.warnings) != warnings {
            failures.push(format!(
                "{case}:\n  errors   {:?} (want {errors:?})\n  warnings {:?} (want {warnings:?})\n  {}",
                fields(&report.errors),
                fields(&report.warnings),
                report.error_message()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_valid_minimal_and_complete_test_pass() {
    check(vec![("minimal", "my-test", json!({}), &[], &[])]);
    let complete: LocustTest = serde_saphyr::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/complete-v2.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    let report = validate(&complete);
    assert!(report.is_valid(), "{}", report.error_message());
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[test]
fn name_length_and_shape() {
    let n = |len: usize| -> &'static str { Box::leak("a".repeat(len).into_boxed_str()) };
    check(vec![
        ("56 characters", n(56), json!({}), &[], &[]),
        ("57 characters", n(57), json!({}), &["metadata.name"], &[]),
        (
            "dotted name of 56",
            Box::leak(format!("{}.b", n(54)).into_boxed_str()),
            json!({}),
            &[],
            &[],
        ),
        ("dotted name", "perf.checkout", json!({}), &[], &[]),
        (
            "starts with a digit",
            "1st-run",
            json!({}),
            &["metadata.name"],
            &[],
        ),
    ]);
    let mut generated = test("x", json!({}));
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("a".repeat(51));
    assert!(validate(&generated).is_valid());
    generated.metadata.generate_name = Some("a".repeat(52));
    assert_eq!(
        fields(&validate(&generated).errors),
        ["metadata.generateName"]
    );
    generated.metadata.generate_name = None;
    assert_eq!(fields(&validate(&generated).errors), ["metadata.name"]);
    let message = validate(&test(n(57), json!({}))).error_message();
    assert!(
        message.contains("no more than 56 characters (it has 57)"),
        "{message}"
    );
}

#[test]
fn secret_mounts_must_not_touch_reserved_paths() {
    let secret =
        |path: &str| json!({"env": {"secretMounts": [{"name": "creds", "mountPath": path}]}});
    let with_files = |path: &str| {
        let mut p = secret(path);
        json_patch::merge(
            &mut p,
            &json!({"testFiles": {"configMapRef": "scripts", "libConfigMapRef": "lib"}}),
        );
        p
    };
    const FIELD: &str = "spec.env.secretMounts[0].mountPath";
    check(vec![
        (
            "equal to src",
            "t",
            with_files("/lotest/src"),
            &[FIELD],
            &[],
        ),
        (
            "equal to src with trailing /",
            "t",
            with_files("/lotest/src/"),
            &[FIELD],
            &[],
        ),
        (
            "nested in src",
            "t",
            with_files("/lotest/src/creds"),
            &[FIELD],
            &[],
        ),
        ("over src", "t", with_files("/lotest"), &[FIELD], &[]),
        (
            "equal to lib",
            "t",
            with_files("/opt/locust/lib"),
            &[FIELD],
            &[],
        ),
        (
            "nested in lib",
            "t",
            with_files("/opt/locust/lib/x/"),
            &[FIELD],
            &[],
        ),
        (
            "root over everything",
            "t",
            with_files("/"),
            &[FIELD, FIELD],
            &[],
        ),
        (
            "sibling with common prefix",
            "t",
            with_files("/lotest/srcs"),
            &[],
            &[],
        ),
        ("elsewhere", "t", with_files("/etc/creds"), &[], &[]),
        // Neither ConfigMap set: both default paths stay reserved.
        (
            "no test files: src reserved",
            "t",
            secret("/lotest/src"),
            &[FIELD],
            &[],
        ),
        (
            "no test files: lib reserved",
            "t",
            secret("/opt/locust/lib/a"),
            &[FIELD],
            &[],
        ),
    ]);
}

#[test]
fn custom_mount_paths_free_the_defaults() {
    let patch = |mount: &str| {
        json!({
            "testFiles": {"configMapRef": "scripts", "srcMountPath": "/tests", "libMountPath": "/libs"},
            "env": {"secretMounts": [{"name": "creds", "mountPath": mount}]}
        })
    };
    const FIELD: &str = "spec.env.secretMounts[0].mountPath";
    check(vec![
        (
            "default src path is free",
            "t",
            patch("/lotest/src"),
            &[],
            &[],
        ),
        (
            "custom src path is reserved",
            "t",
            patch("/tests/x"),
            &[FIELD],
            &[],
        ),
        // Only configMapRef is set: the lib path is not reserved.
        (
            "lib path free without lib ConfigMap",
            "t",
            patch("/libs"),
            &[],
            &[],
        ),
        (
            "default lib path free too",
            "t",
            patch("/opt/locust/lib"),
            &[],
            &[],
        ),
    ]);
}

#[test]
fn user_volumes_and_mounts() {
    let volumes = |names: &[&str]| {
        json!(
            names
                .iter()
                .map(|n| json!({"name": n, "emptyDir": {}}))
                .collect::<Vec<_>>()
        )
    };
    check(vec![
        (
            "volume mount in src",
            "t",
            json!({"testFiles": {"configMapRef": "s"}, "volumes": volumes(&["data"]),
                   "volumeMounts": [{"name": "data", "mountPath": "/lotest/src/data"}]}),
            &["spec.volumeMounts[0].mountPath"],
            &[],
        ),
        (
            "secret- prefix",
            "t",
            json!({"volumes": volumes(&["secret-x"])}),
            &["spec.volumes[0].name"],
            &[],
        ),
        (
            "locust-lib",
            "t",
            json!({"volumes": volumes(&["locust-lib"])}),
            &["spec.volumes[0].name"],
            &[],
        ),
        (
            "master node name",
            "my.test",
            json!({"volumes": volumes(&["my-test-master"])}),
            &["spec.volumes[0].name"],
            &[],
        ),
        (
            "worker node name",
            "my-test",
            json!({"volumes": volumes(&["my-test-worker"])}),
            &["spec.volumes[0].name"],
            &[],
        ),
        (
            "duplicate volume",
            "t",
            json!({"volumes": volumes(&["a", "a"])}),
            &["spec.volumes[1].name"],
            &[],
        ),
        (
            "mount of an undefined volume",
            "t",
            json!({"volumes": volumes(&["a"]), "volumeMounts": [{"name": "a", "mountPath": "/a"}, {"name": "b", "mountPath": "/b"}]}),
            &["spec.volumeMounts[1].name"],
            &[],
        ),
        (
            "mount without any volumes",
            "t",
            json!({"volumeMounts": [{"name": "b", "mountPath": "/b"}]}),
            &["spec.volumeMounts[0].name"],
            &[],
        ),
        (
            "two mounts on one path in one role",
            "t",
            json!({"volumes": volumes(&["a", "b"]), "volumeMounts": [
                {"name": "a", "mountPath": "/data", "target": "master"},
                {"name": "b", "mountPath": "/data/", "target": "both"}]}),
            &["spec.volumeMounts[1].mountPath"],
            &[],
        ),
        (
            "same path in different roles is fine",
            "t",
            json!({"volumes": volumes(&["a", "b"]), "volumeMounts": [
                {"name": "a", "mountPath": "/data", "target": "master"},
                {"name": "b", "mountPath": "/data", "target": "worker"}]}),
            &[],
            &[],
        ),
        (
            "a user mount on a secret mount's path",
            "t",
            json!({"volumes": volumes(&["a"]), "volumeMounts": [{"name": "a", "mountPath": "/etc/creds"}],
                   "env": {"secretMounts": [{"name": "creds", "mountPath": "/etc/creds"}]}}),
            &["spec.volumeMounts[0].mountPath"],
            &[],
        ),
        (
            "the same Secret mounted twice",
            "t",
            json!({"env": {"secretMounts": [{"name": "c", "mountPath": "/a"}, {"name": "c", "mountPath": "/b"}]}}),
            &["spec.env.secretMounts[1].name"],
            &[],
        ),
        (
            "a Secret whose volume name would be invalid",
            "t",
            json!({"env": {"secretMounts": [{"name": "tls.client", "mountPath": "/a"}]}}),
            &["spec.env.secretMounts[0].name"],
            &[],
        ),
        (
            "an invalid volume name",
            "t",
            json!({"volumes": volumes(&["Data"])}),
            &["spec.volumes[0].name"],
            &[],
        ),
    ]);
}

#[test]
fn opentelemetry_endpoint() {
    let otel = |v: Value| json!({"observability": {"openTelemetry": v}});
    const FIELD: &str = "spec.observability.openTelemetry.endpoint";
    check(vec![
        (
            "off without endpoint",
            "t",
            otel(json!({"enabled": false})),
            &[],
            &[],
        ),
        (
            "on with endpoint",
            "t",
            otel(json!({"enabled": true, "endpoint": "c:4317"})),
            &[],
            &[],
        ),
        (
            "on without endpoint",
            "t",
            otel(json!({"enabled": true})),
            &[FIELD],
            &[],
        ),
        (
            "on with empty endpoint",
            "t",
            otel(json!({"enabled": true, "endpoint": ""})),
            &[FIELD],
            &[],
        ),
        (
            "absent enabled means off",
            "t",
            otel(json!({"endpoint": "c:4317"})),
            &[],
            &[],
        ),
        (
            "bad extra variable name",
            "t",
            otel(json!({"enabled": true, "endpoint": "c:4317", "extraEnvVars": {"A=B": "x"}})),
            &["spec.observability.openTelemetry.extraEnvVars.A=B"],
            &[],
        ),
    ]);
}

#[test]
fn labels_annotations_resources_and_names() {
    check(vec![
        (
            "bad label value",
            "t",
            json!({"master": {"labels": {"team": "a b"}}}),
            &["spec.master.labels.team"],
            &[],
        ),
        (
            "too long label value",
            "t",
            json!({"worker": {"labels": {"k": "v".repeat(64)}}}),
            &["spec.worker.labels.k"],
            &[],
        ),
        (
            "bad label key",
            "t",
            json!({"master": {"labels": {"-x": "1"}}}),
            &["spec.master.labels.-x"],
            &[],
        ),
        (
            "prefixed label key",
            "t",
            json!({"master": {"labels": {"example.com/team": "a"}}}),
            &[],
            &[],
        ),
        (
            "protected label",
            "t",
            json!({"worker": {"labels": {"managed-by": "me"}}}),
            &[],
            &["spec.worker.labels.managed-by"],
        ),
        (
            "bad annotation key",
            "t",
            json!({"master": {"annotations": {"a b": "x"}}}),
            &["spec.master.annotations.a b"],
            &[],
        ),
        (
            "bad quantity",
            "t",
            json!({"master": {"resources": {"requests": {"cpu": "lots"}}}}),
            &["spec.master.resources.requests.cpu"],
            &[],
        ),
        (
            "request over limit",
            "t",
            json!({"worker": {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1024Mi"}}}}),
            &["spec.worker.resources.requests.memory"],
            &[],
        ),
        (
            "equal request and limit in other units",
            "t",
            json!({"worker": {"resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1000m"}}}}),
            &[],
            &[],
        ),
        (
            "bad pull secret",
            "t",
            json!({"imagePullSecrets": [{"name": "Reg_Cred"}]}),
            &["spec.imagePullSecrets[0].name"],
            &[],
        ),
        (
            "bad ConfigMap name",
            "t",
            json!({"testFiles": {"configMapRef": "My Scripts"}}),
            &["spec.testFiles.configMapRef"],
            &[],
        ),
        (
            "bad env ConfigMap name",
            "t",
            json!({"env": {"configMapRefs": [{"name": "A"}]}}),
            &["spec.env.configMapRefs[0].name"],
            &[],
        ),
        (
            "bad env variable name",
            "t",
            json!({"env": {"variables": [{"name": ""}]}}),
            &["spec.env.variables[0].name"],
            &[],
        ),
        (
            "runtime class",
            "t",
            json!({"scheduling": {"runtimeClassName": "gVisor"}}),
            &["spec.scheduling.runtimeClassName"],
            &[],
        ),
        (
            "runtime class opt-out",
            "t",
            json!({"scheduling": {"runtimeClassName": ""}}),
            &[],
            &[],
        ),
        (
            "replicas 0",
            "t",
            json!({"worker": {"replicas": 0}}),
            &["spec.worker.replicas"],
            &[],
        ),
        (
            "replicas 501",
            "t",
            json!({"worker": {"replicas": 501}}),
            &["spec.worker.replicas"],
            &[],
        ),
        (
            "negative autoquit",
            "t",
            json!({"master": {"autoquit": {"enabled": true, "timeout": -1}}}),
            &["spec.master.autoquit.timeout"],
            &[],
        ),
    ]);
}

#[test]
fn extra_args_that_override_managed_flags_are_warnings() {
    check(vec![
        (
            "master overrides",
            "t",
            json!({"master": {"extraArgs": ["--csv=/data/x", "--expect-workers=3", "--autoquit", "5", "--master-port=6000"]}}),
            &[],
            &[
                "spec.master.extraArgs[1]",
                "spec.master.extraArgs[2]",
                "spec.master.extraArgs[4]",
            ],
        ),
        (
            "worker overrides",
            "t",
            json!({"worker": {"extraArgs": ["--master-host=elsewhere", "--processes=4", "--expect-workers=2"]}}),
            &[],
            // --expect-workers is a master flag: on a worker it is not operator-managed.
            &["spec.worker.extraArgs[0]"],
        ),
        (
            "lookalike flags",
            "t",
            json!({"master": {"extraArgs": ["--masterful", "--autostarted"]}}),
            &[],
            &[],
        ),
    ]);
}

#[test]
fn all_violations_are_reported_at_once() {
    let report = validate(&test(
        &"x".repeat(60),
        json!({
            "testFiles": {"configMapRef": "s"},
            "volumes": [{"name": "secret-a", "emptyDir": {}}],
            "volumeMounts": [{"name": "missing", "mountPath": "/lotest/src"}],
            "env": {"secretMounts": [{"name": "c", "mountPath": "/lotest/src/c"}]},
            "observability": {"openTelemetry": {"enabled": true}},
            "master": {"extraArgs": ["--only-summary"]}
        }),
    ));
    assert_eq!(
        fields(&report.errors),
        [
            "metadata.name",
            "spec.volumes[0].name",
            "spec.volumeMounts[0].name",
            "spec.env.secretMounts[0].mountPath",
            "spec.volumeMounts[0].mountPath",
            "spec.observability.openTelemetry.endpoint",
        ]
    );
    assert_eq!(fields(&report.warnings), ["spec.master.extraArgs[0]"]);
    let message = report.error_message();
    for part in [
        "metadata.name: must be no more than 56 characters",
        "spec.volumes[0].name: \"secret-a\" uses the prefix \"secret-\"",
        "spec.volumeMounts[0].name: \"missing\" is not defined in spec.volumes",
        "spec.env.secretMounts[0].mountPath: \"/lotest/src/c\" conflicts with \"/lotest/src\"",
        "spec.observability.openTelemetry.endpoint: Required value",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
}

#[test]
fn defaults_do_not_change_the_verdict() {
    let spec = json!({
        "testFiles": {"configMapRef": "s"},
        "volumes": [{"name": "a", "emptyDir": {}}],
        "volumeMounts": [{"name": "a", "mountPath": "/lotest/src/a"}],
        "env": {"secretMounts": [{"name": "c", "mountPath": "/etc/c"}]}
    });
    let raw = test("t", spec);
    let defaulted = Defaulted::new(raw.clone()).into_test();
    assert_eq!(validate(&raw), validate(&defaulted));
    assert!(!validate(&raw).is_valid());
}

#[test]
fn thresholds_must_be_limits_a_run_can_meet() {
    check(vec![
        (
            "every threshold",
            "t",
            json!({"thresholds": {"maxFailRatio": 0.01, "maxP95Ms": 500, "maxP99Ms": 1000, "minRps": 10}}),
            &[],
            &[],
        ),
        (
            "ratio 0",
            "t",
            json!({"thresholds": {"maxFailRatio": 0}}),
            &[],
            &[],
        ),
        (
            "ratio 1",
            "t",
            json!({"thresholds": {"maxFailRatio": 1}}),
            &[],
            &[],
        ),
        (
            "p99 equal to p95",
            "t",
            json!({"thresholds": {"maxP95Ms": 500, "maxP99Ms": 500}}),
            &[],
            &[],
        ),
        (
            "only minRps 0",
            "t",
            json!({"thresholds": {"minRps": 0}}),
            &[],
            &[],
        ),
        (
            "ratio above 1",
            "t",
            json!({"thresholds": {"maxFailRatio": 1.5}}),
            &["spec.thresholds.maxFailRatio"],
            &[],
        ),
        (
            "ratio as a percentage",
            "t",
            json!({"thresholds": {"maxFailRatio": 5}}),
            &["spec.thresholds.maxFailRatio"],
            &[],
        ),
        (
            "negative ratio",
            "t",
            json!({"thresholds": {"maxFailRatio": -0.1}}),
            &["spec.thresholds.maxFailRatio"],
            &[],
        ),
        (
            "negative limits",
            "t",
            json!({"thresholds": {"maxP95Ms": -1, "maxP99Ms": -1, "minRps": -1}}),
            &[
                "spec.thresholds.maxP95Ms",
                "spec.thresholds.maxP99Ms",
                "spec.thresholds.minRps",
            ],
            &[],
        ),
        (
            "p99 below p95",
            "t",
            json!({"thresholds": {"maxP95Ms": 500, "maxP99Ms": 400}}),
            &["spec.thresholds.maxP99Ms"],
            &[],
        ),
        (
            "empty thresholds: a warning",
            "t",
            json!({"thresholds": {}}),
            &[],
            &["spec.thresholds"],
        ),
    ]);

    let report = validate(&test(
        "t",
        json!({"thresholds": {"maxFailRatio": 1.5, "maxP95Ms": 500, "maxP99Ms": 400, "minRps": -2}}),
    ));
    let message = report.error_message();
    for part in [
        "spec.thresholds.maxFailRatio: is a share of requests, from 0 to 1, found 1.5",
        "spec.thresholds.maxP99Ms: 400 is below maxP95Ms 500: the 99th percentile is never below the 95th",
        "spec.thresholds.minRps: must be a number of 0 or more, found -2",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
    let report = validate(&test("t", json!({"thresholds": {"maxFailRatio": -0.1}})));
    assert_eq!(
        report.error_message(),
        "spec.thresholds.maxFailRatio: must be a number of 0 or more, found -0.1"
    );
    let report = validate(&test("t", json!({"thresholds": {}})));
    assert_eq!(
        report.warnings[0].message,
        "sets no threshold: the master's exit code decides the verdict"
    );
}

#[test]
fn the_schema_bounds_thresholds_and_the_worker_connect_timeout() {
    let checker = locust_operator::schema_check::SchemaChecker::new().unwrap();
    let problems = |patch: Value| -> Vec<String> {
        let object = serde_json::to_value(test("t", patch)).unwrap();
        checker
            .check(&object)
            .iter()
            .map(|e| e.field.clone())
            .collect()
    };
    // (case, spec patch, fields the API server rejects)
    let cases: Vec<(&str, Value, &[&str])> = vec![
        ("no timeout", json!({}), &[]),
        (
            "1 second",
            json!({"worker": {"connectTimeoutSeconds": 1}}),
            &[],
        ),
        (
            "a day",
            json!({"worker": {"connectTimeoutSeconds": 86400}}),
            &[],
        ),
        (
            "0 seconds",
            json!({"worker": {"connectTimeoutSeconds": 0}}),
            &["spec.worker.connectTimeoutSeconds"],
        ),
        (
            "negative",
            json!({"worker": {"connectTimeoutSeconds": -5}}),
            &["spec.worker.connectTimeoutSeconds"],
        ),
        (
            "more than a day",
            json!({"worker": {"connectTimeoutSeconds": 86401}}),
            &["spec.worker.connectTimeoutSeconds"],
        ),
        (
            "thresholds within range",
            json!({"thresholds": {"maxFailRatio": 0.01, "maxP95Ms": 500, "maxP99Ms": 900, "minRps": 1}}),
            &[],
        ),
        (
            "ratio above 1",
            json!({"thresholds": {"maxFailRatio": 1.5}}),
            &["spec.thresholds.maxFailRatio"],
        ),
        (
            "negative percentile",
            json!({"thresholds": {"maxP95Ms": -1}}),
            &["spec.thresholds.maxP95Ms"],
        ),
    ];
    let mut failures = Vec::new();
    for (case, patch, want) in cases {
        let got = problems(patch);
        if got != want {
            failures.push(format!("{case}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn thresholds_need_a_master_that_stays_for_the_final_numbers() {
    check(vec![
        (
            "the default autoquit (60 s)",
            "t",
            json!({"thresholds": {"maxFailRatio": 0.01}}),
            &[],
            &[],
        ),
        (
            "autoquit off: never checked",
            "t",
            json!({"thresholds": {"maxFailRatio": 0.01}, "master": {"autoquit": {"enabled": false}}}),
            &[],
            &["spec.master.autoquit.enabled"],
        ),
        (
            "autoquit 5 s: the numbers may not be read",
            "t",
            json!({"thresholds": {"maxFailRatio": 0.01}, "master": {"autoquit": {"enabled": true, "timeout": 5}}}),
            &[],
            &["spec.master.autoquit.timeout"],
        ),
        (
            "autoquit 15 s",
            "t",
            json!({"thresholds": {"maxFailRatio": 0.01}, "master": {"autoquit": {"enabled": true, "timeout": 15}}}),
            &[],
            &[],
        ),
        (
            "a short autoquit without thresholds is fine",
            "t",
            json!({"master": {"autoquit": {"enabled": true, "timeout": 2}}}),
            &[],
            &[],
        ),
    ]);
}
