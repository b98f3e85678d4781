//! The real `kubectl` against the API server served over HTTPS with a bearer token, through a
//! kubeconfig written to a temporary directory (each invocation with its own empty
//! `--cache-dir`, so kubectl reads discovery and OpenAPI from the server every time).
//!
//! kubectl is looked up on `PATH`. Without it the tests are skipped with a note, unless
//! `KUBECTL_REQUIRED=1`, where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use kube::{Api, Client};
use memory_apiserver::{ApiServer, Logs, Options, Tls};
use serde_json::json;

const NAMESPACE: &str = "locust-demo";
/// Upper bound of one kubectl invocation.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// `kubectl` on `PATH`, or `None` (the test is skipped) unless `KUBECTL_REQUIRED=1`.
fn kubectl_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("kubectl"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        if std::env::var("KUBECTL_REQUIRED").is_ok_and(|v| v == "1") {
            panic!("KUBECTL_REQUIRED=1 but no kubectl was found on PATH");
        }
        eprintln!("note: no kubectl on PATH; skipping the real-kubectl test");
    }
    found
}

/// A log source with fixed logs, by `(namespace, pod, container)`.
#[derive(Default)]
struct FixedLogs(Mutex<HashMap<(String, String, String), Vec<u8>>>);

impl FixedLogs {
    fn append(&self, namespace: &str, pod: &str, container: &str, text: &str) {
        let mut logs = self.0.lock().unwrap();
        logs.entry((namespace.to_owned(), pod.to_owned(), container.to_owned()))
            .or_default()
            .extend_from_slice(text.as_bytes());
    }
}

impl Logs for FixedLogs {
    fn read(&self, namespace: &str, pod: &str, container: &str) -> Option<Vec<u8>> {
        let logs = self.0.lock().unwrap();
        logs.get(&(namespace.to_owned(), pod.to_owned(), container.to_owned()))
            .cloned()
    }
}

/// The server, a client, the logs it serves, and kubectl configured for it.
struct World {
    server: ApiServer,
    client: Client,
    logs: Arc<FixedLogs>,
    kubectl: PathBuf,
    dir: PathBuf,
}

/// What one kubectl run gave.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl From<Output> for Ran {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl World {
    async fn start() -> Option<Self> {
        let kubectl = kubectl_binary()?;
        let server = ApiServer::start_with(Options {
            tls: Some(Tls::self_signed().unwrap()),
            token: Some(uuid::Uuid::new_v4().to_string()),
            ..Options::default()
        })
        .await
        .unwrap();
        let crd: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(repo_file("deploy/crd.yaml")).unwrap())
                .unwrap();
        server.install_crd(&crd).await;
        let logs = Arc::new(FixedLogs::default());
        server.set_logs(logs.clone());
        let client = server.client().unwrap();
        Api::<Namespace>::all(client.clone())
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap(),
            )
            .await
            .unwrap();
        let dir = std::env::temp_dir().join(format!("kubectl-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("kubeconfig"), server.kubeconfig(NAMESPACE)).unwrap();
        Some(Self {
            server,
            client,
            logs,
            kubectl,
            dir,
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let cache = self.dir.join(format!("cache-{}", uuid::Uuid::new_v4()));
        let mut command = Command::new(&self.kubectl);
        command
            .arg(format!(
                "--kubeconfig={}",
                self.dir.join("kubeconfig").display()
            ))
            .arg(format!("--cache-dir={}", cache.display()))
            .args(args)
            .env("KUBECONFIG", self.dir.join("kubeconfig"))
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs kubectl to the end (bounded by [`KUBECTL_TIMEOUT`]).
    async fn run(&self, args: &[&str]) -> Ran {
        let mut command = self.command(args);
        let child = command.spawn().expect("run kubectl");
        let id = child.id();
        let waited = tokio::time::timeout(
            KUBECTL_TIMEOUT,
            tokio::task::spawn_blocking(move || child.wait_with_output()),
        )
        .await;
        match waited {
            Ok(output) => Ran::from(output.unwrap().unwrap()),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
                panic!("kubectl {args:?} did not finish within {KUBECTL_TIMEOUT:?}");
            }
        }
    }

    /// Runs kubectl and expects exit code 0.
    async fn ok(&self, args: &[&str]) -> Ran {
        let ran = self.run(args).await;
        assert_eq!(ran.code, Some(0), "kubectl {args:?}: {ran:?}");
        ran
    }

    fn write(&self, name: &str, content: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    fn locusttests(&self) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("locust.io", "v2", "LocustTest"),
            "locusttests",
        );
        Api::namespaced_with(self.client.clone(), NAMESPACE, &ar)
    }

    async fn apply_examples(&self) {
        let configmap = repo_file("examples/locustfile-configmap.yaml");
        let test = repo_file("examples/minimal-v2.yaml");
        let ran = self
            .ok(&[
                "apply",
                "-f",
                &configmap.display().to_string(),
                "-f",
                &test.display().to_string(),
            ])
            .await;
        assert_eq!(
            ran.stdout,
            "configmap/my-test-locustfile created\nlocusttest.locust.io/my-test created\n"
        );
    }

    /// Patches the LocustTest's status (as the operator would), `after` from now.
    fn patch_status_later(&self, after: Duration, status: serde_json::Value) {
        let tests = self.locusttests();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            tests
                .patch_status(
                    "my-test",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": status})),
                )
                .await
                .unwrap();
        });
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The words of a line of kubectl's table output.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_resources_lists_locusttests_from_aggregated_discovery() {
    let Some(world) = World::start().await else {
        return;
    };
    let ran = world.ok(&["api-resources"]).await;
    let header = ran.stdout.lines().next().unwrap_or_default();
    assert_eq!(
        words(header),
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    );
    let line = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("locusttests "))
        .unwrap_or_else(|| panic!("no locusttests in {ran:?}"));
    assert_eq!(
        words(line),
        [
            "locusttests",
            "lotest",
            "locust.io/v2",
            "true",
            "LocustTest"
        ]
    );
    let ran = world
        .ok(&["api-resources", "--categories=locust", "-o", "name"])
        .await;
    assert_eq!(ran.stdout, "locusttests.locust.io\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_get_wait_describe_and_delete_a_locusttest() {
    let Some(world) = World::start().await else {
        return;
    };
    world.apply_examples().await;

    // get: the CRD's printer columns, from the server's Table.
    let ran = world.ok(&["get", "locusttest"]).await;
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(
        words(lines[0]),
        ["NAME", "PHASE", "WORKERS", "CONNECTED", "AGE"],
        "{ran:?}"
    );
    assert!(
        lines[0].starts_with("NAME      PHASE   WORKERS   CONNECTED   AGE"),
        "{ran:?}"
    );
    assert_eq!(words(lines[1])[..2], ["my-test", "2"], "{ran:?}");
    let ran = world.ok(&["get", "lotest", "my-test", "-o", "wide"]).await;
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(
        words(lines[0]),
        [
            "NAME",
            "PHASE",
            "WORKERS",
            "CONNECTED",
            "IMAGE",
            "USERS",
            "RPS",
            "FAILURES",
            "AGE"
        ]
    );
    assert_eq!(
        words(lines[1])[..3],
        ["my-test", "2", "locustio/locust:2.43.3"]
    );

    // wait --for=jsonpath after a status patch 1 s later.
    world.patch_status_later(
        Duration::from_secs(1),
        json!({"phase": "Running", "connectedWorkers": 2, "expectedWorkers": 2}),
    );
    let ran = world
        .ok(&[
            "wait",
            "locusttest/my-test",
            "--for=jsonpath={.status.phase}=Running",
            "--timeout=20s",
        ])
        .await;
    assert_eq!(ran.stdout, "locusttest.locust.io/my-test condition met\n");
    let ran = world.ok(&["get", "locusttest"]).await;
    assert_eq!(
        words(ran.stdout.lines().nth(1).unwrap_or_default())[..4],
        ["my-test", "Running", "2", "2"]
    );

    // wait --for=condition.
    world.patch_status_later(
        Duration::from_millis(500),
        json!({"conditions": [{"type": "Ready", "status": "True", "reason": "AllWorkersConnected", "message": "2/2 workers connected", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}),
    );
    let ran = world
        .ok(&[
            "wait",
            "locusttest/my-test",
            "--for=condition=Ready",
            "--timeout=20s",
        ])
        .await;
    assert_eq!(ran.stdout, "locusttest.locust.io/my-test condition met\n");

    // describe: the object and its events (listed with involvedObject field selectors).
    let test = world.locusttests().get("my-test").await.unwrap();
    let uid = test.metadata.uid.clone().unwrap();
    let events: Api<DynamicObject> = Api::namespaced_with(
        world.client.clone(),
        NAMESPACE,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("events.k8s.io", "v1", "Event"),
            "events",
        ),
    );
    events
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": "my-test.0000000000000001", "namespace": NAMESPACE},
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "reportingController": "locust.io/locust-operator", "reportingInstance": "locust-operator-0",
                "action": "Create", "reason": "Created", "type": "Normal",
                "note": "Created master Job my-test-master and Service my-test-master",
                "regarding": {"apiVersion": "locust.io/v2", "kind": "LocustTest", "name": "my-test", "namespace": NAMESPACE, "uid": uid}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let ran = world.ok(&["describe", "locusttest", "my-test"]).await;
    assert!(
        ran.stdout
            .starts_with("Name:         my-test\nNamespace:    locust-demo\n"),
        "{ran:?}"
    );
    assert!(
        ran.stdout.contains("  Phase:                   Running\n")
            || ran.stdout.contains("Phase:"),
        "{ran:?}"
    );
    let events_section = ran.stdout.split("Events:").nth(1).unwrap_or_default();
    assert!(
        events_section.contains("Created master Job my-test-master and Service my-test-master"),
        "{ran:?}"
    );
    let ran = world
        .ok(&["get", "events", "--field-selector", "reason=Created"])
        .await;
    assert_eq!(
        words(ran.stdout.lines().next().unwrap_or_default()),
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert!(ran.stdout.contains("locusttest/my-test"), "{ran:?}");

    // get -w: the list, then a row per change.
    let mut watch = world.command(&["get", "locusttest", "-w"]).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    world
        .locusttests()
        .patch_status(
            "my-test",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    watch.kill().unwrap();
    let ran = Ran::from(watch.wait_with_output().unwrap());
    let rows: Vec<Vec<&str>> = ran.stdout.lines().map(words).collect();
    assert_eq!(
        rows[0],
        ["NAME", "PHASE", "WORKERS", "CONNECTED", "AGE"],
        "{ran:?}"
    );
    assert_eq!(rows[1][..2], ["my-test", "Running"], "{ran:?}");
    assert_eq!(
        rows.last().map(|r| r[..2].to_vec()),
        Some(vec!["my-test", "Succeeded"]),
        "{ran:?}"
    );

    // delete waits until the object is gone (a finalizer holds it for a second).
    world
        .locusttests()
        .patch(
            "my-test",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["locust.io/demo-hold"]}})),
        )
        .await
        .unwrap();
    let tests = world.locusttests();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        tests
            .patch(
                "my-test",
                &PatchParams::default(),
                &Patch::Json::<()>(
                    serde_json::from_value(
                        json!([{"op": "remove", "path": "/metadata/finalizers"}]),
                    )
                    .unwrap(),
                ),
            )
            .await
            .unwrap();
    });
    let started = Instant::now();
    let ran = world.ok(&["delete", "locusttest", "my-test"]).await;
    // kubectl 1.35 and later add " from locust-demo namespace".
    assert!(
        ran.stdout
            .starts_with("locusttest.locust.io \"my-test\" deleted"),
        "{ran:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "kubectl delete did not wait"
    );
    assert!(
        world
            .locusttests()
            .get_opt("my-test")
            .await
            .unwrap()
            .is_none()
    );
    let ran = world.run(&["get", "lotest", "my-test"]).await;
    assert_eq!(ran.code, Some(1));
    assert_eq!(
        ran.stderr,
        "Error from server (NotFound): locusttests.locust.io \"my-test\" not found\n"
    );
    let ran = world.ok(&["get", "locusttest"]).await;
    assert_eq!(ran.stderr, "No resources found in locust-demo namespace.\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_of_a_job_and_their_logs() {
    let Some(world) = World::start().await else {
        return;
    };
    // A master Job as the operator makes it; the Job controller makes its pod.
    let jobs: Api<Job> = Api::namespaced(world.client.clone(), NAMESPACE);
    jobs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "my-test-master", "labels": {"performance-test-name": "my-test"}},
            "spec": {"template": {
                "metadata": {"labels": {"performance-test-name": "my-test"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "my-test-master", "image": "locustio/locust:2.43.3"}]}
            }}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(world.client.clone(), NAMESPACE);
    let pod = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let listed = pods.list(&ListParams::default()).await.unwrap().items;
            if let Some(pod) = listed.into_iter().next() {
                break pod;
            }
            assert!(Instant::now() < deadline, "the Job controller made no pod");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let pod_name = pod.metadata.name.clone().unwrap();

    let ran = world
        .ok(&["get", "pods", "-l", "performance-test-name=my-test"])
        .await;
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(
        words(lines[0]),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    assert_eq!(
        words(lines[1])[..4],
        [pod_name.as_str(), "0/1", "Pending", "0"]
    );
    let ran = world.ok(&["get", "jobs"]).await;
    assert_eq!(
        words(ran.stdout.lines().next().unwrap_or_default()),
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    );

    // Not on a node yet: no logs (204), kubectl prints nothing.
    let ran = world.ok(&["logs", "job/my-test-master"]).await;
    assert_eq!(ran.stdout, "");

    // On a node, with a log.
    pods.patch(
        &pod_name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"nodeName": "sandbox"}})),
    )
    .await
    .unwrap();
    world.logs.append(
        NAMESPACE,
        &pod_name,
        "my-test-master",
        "line 1\nline 2\nline 3\n",
    );
    let ran = world.ok(&["logs", "job/my-test-master"]).await;
    assert_eq!(ran.stdout, "line 1\nline 2\nline 3\n");
    let ran = world
        .ok(&["logs", &pod_name, "-c", "my-test-master", "--tail=2"])
        .await;
    assert_eq!(ran.stdout, "line 2\nline 3\n");
    let ran = world.run(&["logs", &pod_name, "-c", "locust"]).await;
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr
            .contains(&format!("container locust is not valid for pod {pod_name}")),
        "{ran:?}"
    );

    // logs -f: what is appended arrives, until the container terminates.
    let follow = world
        .command(&["logs", "-f", &pod_name, "--tail=1"])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    world
        .logs
        .append(NAMESPACE, &pod_name, "my-test-master", "line 4\n");
    tokio::time::sleep(Duration::from_millis(600)).await;
    pods.patch_status(
        &pod_name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Succeeded", "containerStatuses": [{
            "name": "my-test-master", "ready": false, "restartCount": 0, "image": "locustio/locust:2.43.3", "imageID": "",
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}
        }]}})),
    )
    .await
    .unwrap();
    let ran = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || follow.wait_with_output()),
    )
    .await
    .expect("kubectl logs -f ends when the container terminates")
    .unwrap()
    .unwrap();
    let ran = Ran::from(ran);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.stdout, "line 3\nline 4\n");
    let ran = world.ok(&["get", "pods", pod_name.as_str()]).await;
    assert_eq!(
        words(ran.stdout.lines().nth(1).unwrap_or_default())[2],
        "Completed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_and_strict_validation() {
    let Some(world) = World::start().await else {
        return;
    };
    let ran = world.ok(&["explain", "locusttest.spec"]).await;
    assert!(ran.stdout.starts_with("GROUP:      locust.io\nKIND:       LocustTest\nVERSION:    v2\n\nFIELD: spec <Object>\n"), "{ran:?}");
    assert!(
        ran.stdout.contains("  image\t<string> -required-\n"),
        "{ran:?}"
    );

    let bad = world.write(
        "bad-test.yaml",
        "apiVersion: locust.io/v2\nkind: LocustTest\nmetadata:\n  name: bad-test\nspec:\n  image: locustio/locust:2.43.3\n  testFiles:\n    configMapRef: my-test-locustfile\n  master:\n    command: --locustfile /lotest/src/locustfile.py\n    replicaCount: 1\n  worker:\n    command: --locustfile /lotest/src/locustfile.py\n    replicas: 2\n",
    );
    let ran = world.run(&["apply", "-f", &bad]).await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert_eq!(
        ran.stderr,
        format!(
            "Error from server (BadRequest): error when creating \"{bad}\": LocustTest in version \"v2\" cannot be handled as a LocustTest: strict decoding error: unknown field \"spec.master.replicaCount\"\n"
        )
    );
    assert!(
        world
            .locusttests()
            .get_opt("bad-test")
            .await
            .unwrap()
            .is_none()
    );
    // Without validation the unknown field is pruned.
    world.ok(&["apply", "--validate=false", "-f", &bad]).await;
    let stored = world.locusttests().get("bad-test").await.unwrap();
    assert!(stored.data["spec"]["master"].get("replicaCount").is_none());
    // The server's URL is https and kubectl sent the token: a wrong token is refused.
    assert!(world.server.url().starts_with("https://"));
    let kubeconfig = std::fs::read_to_string(world.dir.join("kubeconfig")).unwrap();
    let wrong = world.write(
        "kubeconfig-wrong-token",
        &kubeconfig.replace(world.server.token().unwrap(), "wrong"),
    );
    let ran = world
        .run(&[&format!("--kubeconfig={wrong}"), "get", "locusttests"])
        .await;
    assert_eq!(ran.code, Some(1), "{ran:?}");
    // kubectl's words for a 401.
    assert!(
        ran.stderr
            .contains("the server has asked for the client to provide credentials"),
        "{ran:?}"
    );
}
