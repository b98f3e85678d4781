//! The `locust-operator` binary, run as a user would: `crd`, `check`, `render`, and start-up
//! configuration errors of `run`. Golden files under `tests/golden/` hold what `render`
//! prints for each example (regenerate with `UPDATE_GOLDEN=1 .ci/test --test cli`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary with a clean environment (only what `env` adds), optionally feeding stdin.
fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_locust-operator"));
    command
        .args(args)
        .current_dir(root())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn crd_prints_the_committed_crd() {
    let output = run(&["crd"], &[], None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        std::fs::read_to_string(root().join("deploy/crd.yaml")).unwrap()
    );
}

#[test]
fn check_accepts_the_examples() {
    let output = run(
        &[
            "check",
            "examples/minimal-v2.yaml",
            "examples/complete-v2.yaml",
            "examples/v1.yaml",
        ],
        &[],
        None,
    );
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    // The only finding: v1 is deprecated.
    assert_eq!(
        stdout(&output),
        "examples/v1.yaml: document 1 (LocustTest/legacy): warning: apiVersion: locust.io/v1 LocustTest is deprecated, migrate to locust.io/v2\n"
    );
    assert!(
        stderr(&output).contains("checked 3 LocustTest(s) in 3 file(s): 0 error(s), 1 warning(s)")
    );
}

#[test]
fn check_reports_every_violation_of_a_broken_test_at_once() {
    let output = run(&["check", "examples/invalid/broken-v2.yaml"], &[], None);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let prefix = "examples/invalid/broken-v2.yaml: document 1 (LocustTest/this-load-test-name-is-much-too-long-for-the-operator-xyz): ";
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_prefix(prefix).unwrap_or(l))
        .collect();
    let expected_starts = [
        "error: spec.imagePullPolicy: unsupported value \"Sometimes\"",
        "error: spec.volumeMounts[0].target: unsupported value \"everywhere\"",
        "error: spec.worker.replicas: should be less than or equal to 500, found 600",
        "error: metadata.name: must be no more than 56 characters",
        "error: spec.observability.openTelemetry.endpoint: endpoint is required when OpenTelemetry is enabled",
        "error: spec.master.resources.requests.memory: 2Gi is more than the limit 1Gi",
        "error: spec.volumes[0].name: \"secret-data\" uses the prefix \"secret-\"",
        "error: spec.volumeMounts[0].name: \"results\" is not defined in spec.volumes",
        "error: spec.env.secretMounts[0].mountPath: \"/lotest/src/creds\" conflicts with \"/lotest/src\"",
        "warning: spec.master.extraArgs[0]: \"--expect-workers=3\" overrides --expect-workers",
    ];
    assert_eq!(lines.len(), expected_starts.len(), "{text}");
    for (line, start) in lines.iter().zip(expected_starts) {
        assert!(
            line.starts_with(start),
            "{line:?} should start with {start:?}"
        );
    }
    assert!(
        stderr(&output).contains("9 error(s), 1 warning(s)"),
        "{}",
        stderr(&output)
    );
}

/// A manifest without `metadata`: what the API server says (`metadata.name: Required
/// value`), never a CEL evaluation error about a missing key.
#[test]
fn check_of_a_manifest_without_metadata_says_what_the_api_server_says() {
    let manifest = "apiVersion: locust.io/v2\nkind: LocustTest\nspec:\n  image: locustio/locust:2.43.3\n  master:\n    command: --locustfile /lotest/src/t.py --host https://example.com --run-time 1m\n  worker:\n    command: --locustfile /lotest/src/t.py\n    replicas: 2\n";
    let output = run(&["check", "-"], &[], Some(manifest));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "-: document 1 (LocustTest/<no name>): error: metadata.name: Required value: name or generateName is required\n"
    );
    assert!(
        !stderr(&output).contains("rule evaluation"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_reads_multiple_documents_and_stdin() {
    let input = format!(
        "{}\n---\n{}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\n---\n{}",
        std::fs::read_to_string(root().join("examples/minimal-v2.yaml")).unwrap(),
        std::fs::read_to_string(root().join("examples/v1.yaml")).unwrap(),
        "apiVersion: locust.io/v2\nkind: LocustTest\nmetadata: {name: third}\nspec:\n  image: i\n  master: {command: x}\n  worker: {command: y, replicas: 0}\n",
    );
    let output = run(&["check", "-"], &[], Some(&input));
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("-: document 2 (LocustTest/legacy): warning: apiVersion"),
        "{text}"
    );
    assert!(
        text.contains("-: document 4 (LocustTest/third): error: spec.worker.replicas: should be greater than or equal to 1, found 0"),
        "{text}"
    );
    assert!(
        stderr(&output).contains("checked 3 LocustTest(s) in 1 file(s)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_fails_clearly_on_unreadable_input() {
    let dir = tempdir();
    let not_yaml = dir.join("bad.yaml");
    std::fs::write(&not_yaml, "spec: [unclosed\n").unwrap();
    let missing = dir.join("missing.yaml");
    let output = run(
        &[
            "check",
            not_yaml.to_str().unwrap(),
            missing.to_str().unwrap(),
        ],
        &[],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("bad.yaml: error: not valid YAML"), "{text}");
    assert!(text.contains("missing.yaml: error: reading"), "{text}");

    let unknown_field = dir.join("typo.yaml");
    std::fs::write(
        &unknown_field,
        "apiVersion: locust.io/v2\nkind: LocustTest\nmetadata: {name: t}\nspec:\n  image: i\n  master: {command: x, autostrat: false}\n  worker: {command: y, replicas: 1}\n",
    )
    .unwrap();
    let output = run(&["check", unknown_field.to_str().unwrap()], &[], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("error: spec.master.autostrat: unknown field"),
        "{}",
        stdout(&output)
    );
}

/// Splits multi-document YAML output into JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(yaml).unwrap()
}

#[test]
fn render_prints_a_service_and_two_jobs_that_parse_as_kubernetes_types() {
    let output = run(&["render", "examples/complete-v2.yaml"], &[], None);
    assert!(output.status.success(), "{}", stderr(&output));
    let docs = documents(&stdout(&output));
    assert_eq!(docs.len(), 3);
    let service: Service = serde_json::from_value(docs[0].clone()).unwrap();
    let master: Job = serde_json::from_value(docs[1].clone()).unwrap();
    let worker: Job = serde_json::from_value(docs[2].clone()).unwrap();
    assert_eq!(
        service.metadata.name.as_deref(),
        Some("perf-checkout-master")
    );
    assert_eq!(
        master.metadata.name.as_deref(),
        Some("perf-checkout-master")
    );
    assert_eq!(
        worker.metadata.name.as_deref(),
        Some("perf-checkout-worker")
    );
    assert_eq!(worker.spec.unwrap().parallelism, Some(10));
}

#[test]
fn render_takes_the_operator_configuration_from_the_environment() {
    let output = run(
        &["render", "examples/minimal-v2.yaml"],
        &[
            ("POD_CPU_LIMIT", ""),
            ("WORKER_POD_MEM_REQUEST", "256Mi"),
            ("JOB_TTL_SECONDS_AFTER_FINISHED", "0"),
        ],
        None,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let docs = documents(&stdout(&output));
    let worker: Job = serde_json::from_value(docs[2].clone()).unwrap();
    let spec = worker.spec.unwrap();
    assert_eq!(spec.ttl_seconds_after_finished, Some(0));
    let resources = spec.template.spec.unwrap().containers[0]
        .resources
        .clone()
        .unwrap();
    assert_eq!(resources.requests.unwrap()["memory"].0, "256Mi");
    assert!(
        !resources.limits.unwrap().contains_key("cpu"),
        "an empty POD_CPU_LIMIT removes the limit"
    );
}

#[test]
fn invalid_operator_configuration_stops_start_up_naming_the_variable() {
    for command in [&["render", "examples/minimal-v2.yaml"][..], &["run"][..]] {
        let output = run(
            command,
            &[
                ("POD_MEM_LIMIT", "lots"),
                ("DEFAULT_RUNTIME_CLASS_NAME", "Not_Valid"),
                ("HOME", "/nonexistent"),
            ],
            None,
        );
        assert_eq!(output.status.code(), Some(1), "{command:?}");
        let text = stderr(&output);
        assert!(
            text.contains("POD_MEM_LIMIT=\"lots\""),
            "{command:?}: {text}"
        );
        assert!(
            text.contains("DEFAULT_RUNTIME_CLASS_NAME=\"Not_Valid\""),
            "{command:?}: {text}"
        );
    }
}

#[test]
fn render_refuses_an_invalid_test_with_every_violation() {
    let output = run(&["render", "examples/invalid/broken-v2.yaml"], &[], None);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("spec.volumes[0].name"), "{text}");
    assert!(
        text.contains("spec.env.secretMounts[0].mountPath"),
        "{text}"
    );
    assert!(stdout(&output).is_empty());
}

#[test]
fn render_output_of_each_example_matches_its_golden_file() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for example in ["minimal-v2", "complete-v2", "v1"] {
        let output = run(&["render", &format!("examples/{example}.yaml")], &[], None);
        assert!(output.status.success(), "{example}: {}", stderr(&output));
        let golden = root().join(format!("tests/golden/{example}.rendered.yaml"));
        let rendered = stdout(&output);
        if update {
            std::fs::write(&golden, &rendered).unwrap();
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
            panic!("{}: {e} (create it with UPDATE_GOLDEN=1)", golden.display())
        });
        assert!(
            rendered == expected,
            "{example}: render output differs from {}; review and regenerate with UPDATE_GOLDEN=1 .ci/test --test cli",
            golden.display()
        );
    }
}

/// A fresh temporary directory under the target directory.
fn tempdir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
