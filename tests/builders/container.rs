//! The locust container: image, pull policy, command, ports, and the master's and workers'
//! arguments (autostart/autoquit, extra args, whitespace splitting).

use locust_operator::builders::args::{self};
use locust_operator::names::{self, Role};
use serde_json::{Value, json};

use crate::{build_default, jobs, json_of, locust, read, strings, test_with};

#[test]
fn locust_container_image_pull_policy_command_and_ports() {
    for (policy, expected) in [
        (Value::Null, "IfNotPresent"),
        (json!("IfNotPresent"), "IfNotPresent"),
        (json!("Always"), "Always"),
        (json!("Never"), "Never"),
    ] {
        let test =
            test_with(json!({"imagePullPolicy": policy, "image": "registry.example.com/locust:1"}));
        let built = build_default(&test);
        for (role, job) in jobs(&built) {
            let c = locust(job);
            assert_eq!(c.name, names::node_name("my-test", role));
            assert_eq!(c.image.as_deref(), Some("registry.example.com/locust:1"));
            assert_eq!(c.image_pull_policy.as_deref(), Some(expected), "{policy}");
            assert!(c.command.is_none(), "the image's entrypoint runs");
            assert!(c.restart_policy.is_none());
            let ports: Vec<Value> = c.ports.iter().flatten().map(json_of).collect();
            let expected_ports = match role {
                Role::Master => vec![
                    json!({"containerPort": 5557}),
                    json!({"containerPort": 5558}),
                    json!({"containerPort": 8089}),
                ],
                Role::Worker => vec![json!({"containerPort": 8080})],
            };
            assert_eq!(ports, expected_ports, "{role:?}");
        }
    }
}

#[test]
fn master_args_autostart_autoquit_variants() {
    let head = [
        "--locustfile",
        "/lotest/src/test.py",
        "--host",
        "http://app:8080",
        "--users",
        "10",
        "--master",
        "--master-port=5557",
        "--expect-workers=3",
    ];
    let tail = ["--enable-rebalancing", "--only-summary"];
    let cases: [(&str, Value, &[&str]); 9] = [
        ("defaults", json!({}), &["--autostart", "--autoquit", "60"]),
        (
            "autoquit disabled",
            json!({"autoquit": {"enabled": false}}),
            &["--autostart"],
        ),
        (
            "autoquit disabled with timeout",
            json!({"autoquit": {"enabled": false, "timeout": 30}}),
            &["--autostart"],
        ),
        (
            "custom timeout",
            json!({"autoquit": {"enabled": true, "timeout": 5}}),
            &["--autostart", "--autoquit", "5"],
        ),
        (
            "timeout zero",
            json!({"autoquit": {"enabled": true, "timeout": 0}}),
            &["--autostart", "--autoquit", "0"],
        ),
        (
            "autoquit without enabled",
            json!({"autoquit": {"timeout": 90}}),
            &["--autostart", "--autoquit", "90"],
        ),
        (
            "empty autoquit",
            json!({"autoquit": {}}),
            &["--autostart", "--autoquit", "60"],
        ),
        (
            "autostart false",
            json!({"autostart": false}),
            &["--autoquit", "60"],
        ),
        (
            "autostart false, autoquit disabled",
            json!({"autostart": false, "autoquit": {"enabled": false}}),
            &[],
        ),
    ];
    for (case, master, middle) in cases {
        let test = test_with(json!({ "master": master }));
        let built = build_default(&test);
        let expected: Vec<String> = head
            .iter()
            .chain(middle)
            .chain(&tail)
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(
            locust(&built.master_job).args.as_ref().unwrap(),
            &expected,
            "{case}"
        );
        assert_eq!(
            locust(&built.master_job).args.as_ref().unwrap(),
            &args::master_args(&read(&test)),
            "{case}"
        );
    }
}

#[test]
fn extra_args_are_appended_last_and_otel_adds_flag() {
    let test = test_with(json!({
        "master": {"extraArgs": ["--csv=/data/run", "--loglevel", "DEBUG"]},
        "worker": {"extraArgs": ["--loglevel=INFO"]},
        "observability": {"openTelemetry": {"enabled": true, "endpoint": "collector:4317"}},
    }));
    let built = build_default(&test);
    let master = locust(&built.master_job).args.clone().unwrap();
    assert_eq!(
        master,
        strings(&[
            "--locustfile",
            "/lotest/src/test.py",
            "--host",
            "http://app:8080",
            "--users",
            "10",
            "--otel",
            "--master",
            "--master-port=5557",
            "--expect-workers=3",
            "--autostart",
            "--autoquit",
            "60",
            "--enable-rebalancing",
            "--only-summary",
            "--csv=/data/run",
            "--loglevel",
            "DEBUG",
        ])
    );
    let worker = locust(&built.worker_job).args.clone().unwrap();
    assert_eq!(
        worker,
        strings(&[
            "--locustfile",
            "/lotest/src/test.py",
            "--otel",
            "--worker",
            "--master-port=5557",
            "--master-host=my-test-master",
            "--loglevel=INFO",
        ])
    );
    assert_eq!(worker, args::worker_args(&read(&test)));
}

#[test]
fn commands_are_split_on_whitespace_without_a_shell() {
    let test = test_with(json!({
        "master": {"command": "  -f  /lotest/src/a.py\t--tags 'a b'\n"},
        "worker": {"command": "-f /lotest/src/a.py"},
    }));
    let built = build_default(&test);
    let args = locust(&built.master_job).args.clone().unwrap();
    assert_eq!(
        &args[..5],
        &strings(&["-f", "/lotest/src/a.py", "--tags", "'a", "b'"])[..]
    );
    assert!(locust(&built.master_job).command.is_none());
}
