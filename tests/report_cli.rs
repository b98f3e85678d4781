//! `locust-operator report NAME`: the real binary against the in-memory API server over HTTPS
//! with a bearer token, through a kubeconfig as a user has one. The report ConfigMap is the one
//! `locust::report::config_map` builds from the recorded master's files; the files written
//! must equal those files, `status.json` the test's status; a missing test, a missing report
//! and a damaged report are each one sentence and exit status 1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use locust_operator::api::LocustTest;
use locust_operator::locust::client::{Artifacts, ReadError};
use locust_operator::locust::report::config_map;
use memory_apiserver::{ApiServer, Options, Tls};
use serde_json::{Value, json};

const NAMESPACE: &str = "loadtests";
/// Upper bound of one run of the binary.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/locust-web")
            .join(name),
    )
    .unwrap()
}

fn artifacts(html: Result<Vec<u8>, ReadError>) -> Artifacts {
    Artifacts {
        html,
        requests_csv: fixture("17-stopped-stats-requests-csv.csv"),
        failures_csv: fixture("18-stopped-stats-failures-csv.csv"),
        exceptions_csv: fixture("20-stopped-exceptions-csv.csv"),
    }
}

/// The API server (TLS, token, the CRD, namespace [`NAMESPACE`]), a client, and a scratch
/// directory holding a kubeconfig whose context's namespace is [`NAMESPACE`].
struct World {
    _server: ApiServer,
    client: Client,
    dir: PathBuf,
    kubeconfig: PathBuf,
}

impl World {
    async fn start(label: &str) -> Self {
        let server = ApiServer::start_with(Options {
            tls: Some(Tls::self_signed().unwrap()),
            token: Some(format!("token-{}", std::process::id())),
            ..Options::default()
        })
        .await
        .unwrap();
        let crd = serde_json::to_value(locust_operator::crd::locust_test_crd().unwrap()).unwrap();
        server.install_crd(&crd).await;
        let client = server.client().unwrap();
        Api::<Namespace>::all(client.clone())
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}})).unwrap(),
            )
            .await
            .unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("report-cli-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, server.kubeconfig(NAMESPACE)).unwrap();
        Self {
            _server: server,
            client,
            dir,
            kubeconfig,
        }
    }

    /// Creates test `name` and gives it `status`; the test as stored.
    async fn test(&self, name: &str, status: Value) -> LocustTest {
        let tests: Api<LocustTest> = Api::namespaced(self.client.clone(), NAMESPACE);
        let test: LocustTest = serde_json::from_value(json!({
            "apiVersion": "locust.io/v2",
            "kind": "LocustTest",
            "metadata": {"name": name},
            "spec": {
                "image": "locustio/locust:2.43.3",
                "master": {"command": "--locustfile /lotest/src/t.py --host http://app:8080 --users 10 --run-time 20s"},
                "worker": {"command": "--locustfile /lotest/src/t.py", "replicas": 2}
            }
        }))
        .unwrap();
        tests.create(&PostParams::default(), &test).await.unwrap();
        tests
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .unwrap()
    }

    async fn store(&self, config_map: &ConfigMap) {
        Api::<ConfigMap>::namespaced(self.client.clone(), NAMESPACE)
            .create(&PostParams::default(), config_map)
            .await
            .unwrap();
    }

    /// `locust-operator ARGS` with this world's kubeconfig: exit code, stdout, stderr.
    async fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        self.run_with(args, &self.kubeconfig).await
    }

    /// `locust-operator ARGS` with `kubeconfig`.
    async fn run_with(&self, args: &[&str], kubeconfig: &Path) -> (Option<i32>, String, String) {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_locust-operator"))
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            // Not in a pod: no in-cluster configuration to fall back on.
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("RUST_LOG")
            .current_dir(&self.dir)
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(RUN_TIMEOUT, output)
            .await
            .expect("the binary ends in time")
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

fn time() -> Timestamp {
    "2026-11-24T05:15:01Z".parse().unwrap()
}

fn succeeded() -> Value {
    json!({"phase": "Succeeded", "expectedWorkers": 2, "connectedWorkers": 2})
}

#[tokio::test]
async fn the_report_is_written_as_the_master_served_it() {
    let world = World::start("whole").await;
    let test = world.test("my-test", succeeded()).await;
    let html = b"<!DOCTYPE html><html><body>Locust report</body></html>".to_vec();
    let files = artifacts(Ok(html.clone()));
    world
        .store(&config_map(&test, &files, time()).unwrap())
        .await;
    let out = world.dir.join("out/nested");
    let (code, stdout, stderr) = world
        .run(&[
            "report",
            "my-test",
            "-n",
            NAMESPACE,
            "-o",
            out.to_str().unwrap(),
        ])
        .await;
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stderr, "");
    for (file, original) in [
        ("report.html", &html),
        ("requests.csv", &files.requests_csv),
        ("failures.csv", &files.failures_csv),
        ("exceptions.csv", &files.exceptions_csv),
    ] {
        assert_eq!(&std::fs::read(out.join(file)).unwrap(), original, "{file}");
        assert!(
            stdout.contains(&format!(
                "wrote {} ({} bytes)\n",
                out.join(file).display(),
                original.len()
            )),
            "{file}: {stdout}"
        );
    }
    let status: Value =
        serde_json::from_slice(&std::fs::read(out.join("status.json")).unwrap()).unwrap();
    assert_eq!(status, succeeded());
    assert_eq!(stdout.lines().count(), 5, "{stdout}");

    // The context's namespace, and the current directory, by default.
    let (code, stdout, stderr) = world.run(&["report", "my-test"]).await;
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(
        std::fs::read(world.dir.join("requests.csv")).unwrap(),
        files.requests_csv
    );
}

#[tokio::test]
async fn a_report_without_its_html_gives_the_csvs_and_says_why() {
    let world = World::start("no-html").await;
    let test = world.test("my-test", succeeded()).await;
    let files = artifacts(Err(ReadError::Status(404)));
    world
        .store(&config_map(&test, &files, time()).unwrap())
        .await;
    let (code, stdout, stderr) = world
        .run(&["report", "my-test", "-n", NAMESPACE, "-o", "out"])
        .await;
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(
        stderr,
        "warning: report.html is not in ConfigMap my-test-report: the master's web API answered HTTP 404\n"
    );
    assert!(!world.dir.join("out/report.html").exists());
    assert_eq!(
        std::fs::read(world.dir.join("out/failures.csv")).unwrap(),
        files.failures_csv
    );
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
}

#[tokio::test]
async fn what_is_not_there_is_one_sentence_and_exit_1() {
    let world = World::start("errors").await;
    world
        .test("running-test", json!({"phase": "Running"}))
        .await;
    let damaged = world.test("damaged", succeeded()).await;
    let mut config_map = config_map(&damaged, &artifacts(Ok(Vec::new())), time()).unwrap();
    config_map
        .binary_data
        .as_mut()
        .unwrap()
        .get_mut("requests.csv.gz")
        .unwrap()
        .0 = fixture("17-stopped-stats-requests-csv.csv");
    world.store(&config_map).await;
    let cases = [
        (
            "nope",
            "error: LocustTest nope not found in namespace loadtests\n",
        ),
        (
            "running-test",
            "error: LocustTest running-test has no report yet (phase Running): the operator keeps it once the run stops\n",
        ),
        (
            "damaged",
            "error: ConfigMap damaged-report in namespace loadtests: requests.csv.gz is not valid gzip data: ",
        ),
    ];
    for (name, said) in cases {
        let (code, stdout, stderr) = world
            .run(&["report", name, "-n", NAMESPACE, "-o", "out"])
            .await;
        assert_eq!(code, Some(1), "{name}: stdout: {stdout}\nstderr: {stderr}");
        assert!(stderr.starts_with(said), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert_eq!(stdout, "", "{name}");
    }
    assert!(
        !world.dir.join("out").exists(),
        "nothing written on an error"
    );
    let (code, stdout, stderr) = world
        .run_with(
            &["report", "my-test"],
            &world.dir.join("no-such-kubeconfig"),
        )
        .await;
    assert_eq!(code, Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stderr.starts_with(
            "error: cannot connect to the Kubernetes API of the current kube context: "
        ),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("; check KUBECONFIG and `kubectl config current-context`\n"),
        "{stderr}"
    );
}
