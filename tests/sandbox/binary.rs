//! `locust-operator sandbox FILE...` as a user runs it: the verdict as the exit status, the
//! rows on stdout, bad input named, and a SIGTERM that leaves no process behind.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{LOCUSTFILE_CONFIGMAP, cache, processes, quick_test};

/// A scratch directory with the given files; its path and theirs.
fn files(name: &str, contents: &[(&str, &str)]) -> (PathBuf, Vec<PathBuf>) {
    let dir = std::env::temp_dir().join(format!(
        "sandbox-bin-{name}-{}-{}",
        std::process::id(),
        crate::random()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let paths = contents
        .iter()
        .map(|(file, text)| {
            let path = dir.join(file);
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    (dir, paths)
}

fn sandbox(dir: &std::path::Path, args: &[PathBuf]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_locust-operator"));
    command
        .arg("sandbox")
        .arg("--dir")
        .arg(dir.join("state"))
        .arg("--pod-health-grace-period=4s")
        .args(args)
        .env("LOCUST_SANDBOX_CACHE", cache())
        .stdin(Stdio::null());
    command
}

#[test]
fn a_test_that_succeeds_exits_0_with_its_rows() {
    let (dir, paths) = files(
        "ok",
        &[
            ("locustfile.yaml", LOCUSTFILE_CONFIGMAP),
            ("test.yaml", &quick_test("cli", "my-test-locustfile", 6)),
        ],
    );
    let output = sandbox(&dir, &paths).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let header: Vec<&str> = stdout.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "PHASE",
            "WORKERS",
            "CONNECTED",
            "USERS",
            "RPS",
            "FAILURES",
            "AGE",
            "CHANGED"
        ]
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("cli ") && l.contains(" Succeeded ")),
        "{stdout}"
    );
    assert!(
        stdout.contains("WorkersConnected=True AllWorkersConnected"),
        "{stdout}"
    );
    assert!(stderr.contains("export KUBECONFIG="), "{stderr}");
    assert!(processes::under(&dir).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_failing_test_exits_1_with_the_reason_and_the_masters_log() {
    let broken = LOCUSTFILE_CONFIGMAP.replace(
        "from locust import HttpUser, between, task",
        "from locust import HttpUser, between, task\n    raise RuntimeError(\"broken on purpose\")",
    );
    let (dir, paths) = files(
        "fail",
        &[
            ("locustfile.yaml", &broken),
            (
                "test.yaml",
                &quick_test("cli-fail", "my-test-locustfile", 6),
            ),
        ],
    );
    let output = sandbox(&dir, &paths).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("cli-fail: Test failed: "), "{stdout}");
    assert!(stdout.contains("broken on purpose"), "{stdout}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_input_is_named_and_nothing_runs() {
    let invalid = quick_test("bad", "my-test-locustfile", 6).replace("replicas: 2", "replicas: 0");
    let unknown_kind = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n";
    for (name, text, expected) in [
        ("invalid", invalid.as_str(), "spec.worker.replicas"),
        (
            "kind",
            unknown_kind,
            "apps/v1 Deployment is not served by the sandbox",
        ),
    ] {
        let (dir, paths) = files(name, &[("manifest.yaml", text)]);
        let output = sandbox(&dir, &paths).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn sigterm_mid_test_stops_every_process() {
    let (dir, paths) = files(
        "term",
        &[
            ("locustfile.yaml", LOCUSTFILE_CONFIGMAP),
            (
                "test.yaml",
                &quick_test("cli-term", "my-test-locustfile", 300),
            ),
        ],
    );
    let mut child = sandbox(&dir, &paths)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Until the master and both workers run.
    let deadline = Instant::now() + Duration::from_secs(120);
    while processes::under(&dir).len() < 3 {
        assert!(Instant::now() < deadline, "the test's processes never ran");
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the child this test started.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(130), "interrupted before the verdict");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sandbox did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = processes::under(&dir);
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_locust_version_pip_cannot_install_stops_with_one_sentence() {
    let test = quick_test("nover", "my-test-locustfile", 6)
        .replace("locustio/locust:2.43.3", "locustio/locust:0.0.1");
    let (dir, paths) = files("nover", &[("test.yaml", &test)]);
    let output = sandbox(&dir, &paths).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: installing locust==0.0.1 with pip failed (the first run of a version needs access to PyPI)"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
