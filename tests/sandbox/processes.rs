//! The processes of a sandbox (those working in its directory), and stopping a sandbox in
//! the middle of a test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{LOCUSTFILE_CONFIGMAP, Lab, phase, quick_test};

/// The processes whose working directory is under `dir` (every pod process works in its
/// pod's directory), as `(pid, command line)`.
pub fn under(dir: &Path) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cwd: PathBuf = std::fs::read_link(entry.path().join("cwd")).ok()?;
            cwd.starts_with(dir).then(|| {
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                (pid, String::from_utf8_lossy(&cmdline).replace('\0', " "))
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_the_sandbox_mid_test_leaves_no_process() {
    let lab = Lab::start().await;
    lab.apply(&[
        LOCUSTFILE_CONFIGMAP,
        &quick_test("long", "my-test-locustfile", 300),
    ])
    .await;
    lab.wait_for("long", "Running with both workers", |t| {
        phase(t) == "Running" && t["status"]["connectedWorkers"] == 2
    })
    .await;
    let running = under(&lab.dir);
    assert!(
        running.len() >= 3,
        "a master and two workers run as processes: {running:?}"
    );
    // Lab::stop asserts that none is left.
    tokio::time::timeout(Duration::from_secs(60), lab.stop())
        .await
        .expect("the sandbox stops within a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_test_stops_its_processes() {
    let lab = Lab::start().await;
    lab.apply(&[
        LOCUSTFILE_CONFIGMAP,
        &quick_test("gone", "my-test-locustfile", 300),
    ])
    .await;
    lab.wait_for("gone", "Running with both workers", |t| {
        phase(t) == "Running" && t["status"]["connectedWorkers"] == 2
    })
    .await;
    let resource = kube::discovery::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("locust.io", "v2", "LocustTest"),
        "locusttests",
    );
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(lab.sandbox().client.clone(), "default", &resource);
    api.delete("gone", &kube::api::DeleteParams::background())
        .await
        .expect("delete the test");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left = under(&lab.dir);
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "processes of the deleted test still run: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_followed_test_deleted_before_its_verdict_ends_the_follow() {
    use locust_operator::sandbox::follow::{self, Verdict};
    let lab = Lab::start().await;
    let tests = lab
        .apply(&[
            LOCUSTFILE_CONFIGMAP,
            &quick_test("del", "my-test-locustfile", 300),
        ])
        .await;
    lab.wait_for("del", "Running", |t| phase(t) == "Running")
        .await;
    let client = lab.sandbox().client.clone();
    let node = std::sync::Arc::clone(&lab.sandbox().host);
    let following = tokio::spawn(async move {
        let mut out: Vec<u8> = Vec::new();
        let stop = tokio_util::sync::CancellationToken::new();
        let verdict = follow::follow(&client, &node, &tests, stop, &mut out).await;
        (verdict, String::from_utf8_lossy(&out).into_owned())
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let resource = kube::discovery::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("locust.io", "v2", "LocustTest"),
        "locusttests",
    );
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(lab.sandbox().client.clone(), "default", &resource);
    api.delete("del", &kube::api::DeleteParams::background())
        .await
        .expect("delete the test");
    let (verdict, out) = tokio::time::timeout(Duration::from_secs(30), following)
        .await
        .expect("the follow ends")
        .unwrap();
    assert_eq!(verdict, Verdict::Failed(vec!["del".to_owned()]), "{out}");
    assert!(out.contains("del: deleted before it ended"), "{out}");
    lab.stop().await;
}
