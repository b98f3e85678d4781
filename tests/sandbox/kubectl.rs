//! The real `kubectl` against a sandbox, with the kubeconfig it writes (HTTPS, bearer token):
//! what the README shows a user typing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::{LOCUSTFILE_CONFIGMAP, Lab, phase, processes, quick_test};

/// `kubectl` on `PATH`, or `None` (the test is skipped, saying so) unless `KUBECTL_REQUIRED=1`.
fn kubectl_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("kubectl"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("KUBECTL_REQUIRED").as_deref() != Ok("1"),
            "KUBECTL_REQUIRED=1 but no kubectl was found on PATH"
        );
        eprintln!("note: no kubectl on PATH; skipping the real-kubectl test");
    }
    found
}

/// Runs `kubectl args...` against the sandbox (in a blocking thread: some commands wait).
async fn kubectl(binary: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(binary);
    command
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", kubeconfig.parent().unwrap());
    let shown = args.join(" ");
    tokio::task::spawn_blocking(move || {
        command
            .output()
            .unwrap_or_else(|e| panic!("kubectl {shown}: {e}"))
    })
    .await
    .unwrap()
}

fn ok(output: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "kubectl {what}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_apply_get_wait_logs_and_delete() {
    let Some(binary) = kubectl_binary() else {
        return;
    };
    let lab = Lab::start().await;
    let kubeconfig = lab.sandbox().kubeconfig.clone();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&kubeconfig).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "only its user reads the kubeconfig");
    let files = lab.dir.join("manifests");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("locustfile.yaml"), LOCUSTFILE_CONFIGMAP).unwrap();
    std::fs::write(
        files.join("kq.yaml"),
        quick_test("kq", "my-test-locustfile", 6),
    )
    .unwrap();
    std::fs::write(
        files.join("long.yaml"),
        quick_test("long", "my-test-locustfile", 300),
    )
    .unwrap();
    let file = |name: &str| files.join(name).to_string_lossy().into_owned();

    let applied = ok(
        &kubectl(
            &binary,
            &kubeconfig,
            &[
                "apply",
                "-f",
                &file("locustfile.yaml"),
                "-f",
                &file("kq.yaml"),
            ],
        )
        .await,
        "apply",
    );
    assert!(
        applied.contains("locusttest.locust.io/kq created"),
        "{applied}"
    );

    let listed = ok(
        &kubectl(&binary, &kubeconfig, &["get", "locusttest"]).await,
        "get",
    );
    let header: Vec<&str> = listed.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "WORKERS", "CONNECTED", "AGE"],
        "{listed}"
    );
    assert!(listed.lines().any(|l| l.starts_with("kq ")), "{listed}");

    ok(
        &kubectl(
            &binary,
            &kubeconfig,
            &[
                "wait",
                "locusttest/kq",
                "--for=jsonpath={.status.phase}=Succeeded",
                "--timeout=120s",
            ],
        )
        .await,
        "wait",
    );
    ok(
        &kubectl(
            &binary,
            &kubeconfig,
            &[
                "wait",
                "locusttest/kq",
                "--for=condition=TestCompleted",
                "--timeout=10s",
            ],
        )
        .await,
        "wait for a condition",
    );
    let logs = ok(
        &kubectl(&binary, &kubeconfig, &["logs", "job/kq-master"]).await,
        "logs",
    );
    assert!(logs.contains("Aggregated"), "the master's summary:\n{logs}");
    let described = ok(
        &kubectl(&binary, &kubeconfig, &["describe", "locusttest", "kq"]).await,
        "describe",
    );
    assert!(described.contains("Events:"), "{described}");
    assert!(described.contains("TestSucceeded"), "{described}");

    // Deleting a running test stops its processes.
    ok(
        &kubectl(&binary, &kubeconfig, &["apply", "-f", &file("long.yaml")]).await,
        "apply",
    );
    lab.wait_for("long", "Running with both workers", |t| {
        phase(t) == "Running" && t["status"]["connectedWorkers"] == 2
    })
    .await;
    ok(
        &kubectl(&binary, &kubeconfig, &["delete", "locusttest", "long"]).await,
        "delete",
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !processes::under(&lab.dir).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "processes still run: {:?}",
            processes::under(&lab.dir)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_apply_of_a_bad_spec_is_denied_with_its_fields() {
    let Some(binary) = kubectl_binary() else {
        return;
    };
    let lab = Lab::start().await;
    let kubeconfig = lab.sandbox().kubeconfig.clone();
    let bad = lab.dir.join("bad.yaml");
    std::fs::write(
        &bad,
        quick_test("bad", "my-test-locustfile", 6).replace("replicas: 2", "replicas: 0"),
    )
    .unwrap();
    let output = kubectl(
        &binary,
        &kubeconfig,
        &["apply", "-f", &bad.to_string_lossy()],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("spec.worker.replicas"), "{stderr}");
    lab.stop().await;
}
