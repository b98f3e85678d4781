//! Replays what the real kubectl sent to a real kube-apiserver (`tests/fixtures/kubectl-http`,
//! see its README) against the in-memory API server and compares the parts of the answers
//! kubectl relies on: status, content type, kind, discovery entries, OpenAPI operations and
//! schemas, Table column definitions and the shape (and stable values) of their cells, error
//! reasons and messages, log bodies. Values the real server generated (uids,
//! resourceVersions, timestamps, generated names, IPs) are not compared literally. Each test
//! first sets up the objects the recording shows (namespace `locust-demo`, LocustTest
//! `my-test` from `examples/minimal-v2.yaml` with 4 workers, its Jobs, Service and Events).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use kube::{Api, Client};
use memory_apiserver::{ApiServer, Logs};
use serde_json::{Value, json};

const NAMESPACE: &str = "locust-demo";

fn fixture(name: &str) -> Vec<Value> {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/kubectl-http")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn exchange(name: &str, seq: u64) -> Value {
    fixture(name)
        .into_iter()
        .find(|e| e["seq"] == seq)
        .unwrap_or_else(|| panic!("{name} has no exchange {seq}"))
}

/// A log source with fixed logs, by `(namespace, pod, container)`.
#[derive(Default)]
struct FixedLogs(Mutex<HashMap<(String, String, String), Vec<u8>>>);

impl Logs for FixedLogs {
    fn read(&self, namespace: &str, pod: &str, container: &str) -> Option<Vec<u8>> {
        let logs = self.0.lock().unwrap();
        logs.get(&(namespace.to_owned(), pod.to_owned(), container.to_owned()))
            .cloned()
    }
}

/// What the server answered.
struct Answer {
    status: u16,
    content_type: String,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

struct Harness {
    server: ApiServer,
    client: Client,
    http: HttpClient<HttpConnector, Full<Bytes>>,
    logs: Arc<FixedLogs>,
}

impl Harness {
    async fn start() -> Self {
        let server = ApiServer::start().await.unwrap();
        // The CRD the exchanges were recorded with (the real server's Tables and OpenAPI
        // answers are compared field by field; later CRD versions add columns and fields).
        let crd: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/kubectl-http/crd-as-recorded.yaml"
            ))
            .unwrap(),
        )
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
        let http = HttpClient::builder(TokioExecutor::new()).build_http();
        Self {
            server,
            client,
            http,
            logs,
        }
    }

    fn locusttests(&self) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("locust.io", "v2", "LocustTest"),
            "locusttests",
        );
        Api::namespaced_with(self.client.clone(), NAMESPACE, &ar)
    }

    /// LocustTest `my-test` as the recordings have it (minimal-v2 with 4 workers).
    async fn create_test(&self) -> DynamicObject {
        let mut test: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../examples/minimal-v2.yaml"
            ))
            .unwrap(),
        )
        .unwrap();
        test["spec"]["worker"]["replicas"] = json!(4);
        self.locusttests()
            .create(
                &PostParams::default(),
                &serde_json::from_value(test).unwrap(),
            )
            .await
            .unwrap()
    }

    async fn patch_status(&self, status: Value) {
        self.locusttests()
            .patch_status(
                "my-test",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
            .unwrap();
    }

    fn request(&self, exchange: &Value) -> hyper::Request<Full<Bytes>> {
        let method = exchange["method"].as_str().unwrap();
        let path = exchange["path"].as_str().unwrap();
        let query = exchange["query"].as_str().unwrap_or_default();
        let uri = if query.is_empty() {
            format!("{}{path}", self.server.url())
        } else {
            format!("{}{path}?{query}", self.server.url())
        };
        let mut request = hyper::Request::builder().method(method).uri(uri);
        for header in ["Accept", "Content-Type", "User-Agent"] {
            if let Some(value) = exchange["request_headers"][header].as_str() {
                request = request.header(header, value);
            }
        }
        let body = match &exchange["request_body"] {
            Value::Null => Bytes::new(),
            body => Bytes::from(serde_json::to_vec(body).unwrap()),
        };
        request.body(Full::new(body)).unwrap()
    }

    /// Sends the recorded request and reads the whole answer.
    async fn replay(&self, exchange: &Value) -> Answer {
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            self.http.request(self.request(exchange)),
        )
        .await
        .expect("an answer within 10 s")
        .unwrap();
        let status = response.status().as_u16();
        let content_type = content_type(response.headers());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// Sends a recorded watch and returns its first `count` events, `during` running meanwhile.
    async fn replay_watch(
        &self,
        exchange: &Value,
        count: usize,
        during: impl Future<Output = ()>,
    ) -> (u16, String, Vec<Value>) {
        let response = self.http.request(self.request(exchange)).await.unwrap();
        let status = response.status().as_u16();
        let content_type = content_type(response.headers());
        let mut body = response.into_body();
        let read = async {
            let mut buffer = Vec::new();
            let mut events = Vec::new();
            while events.len() < count {
                let Some(frame) = body.frame().await else {
                    break;
                };
                if let Ok(data) = frame.unwrap().into_data() {
                    buffer.extend_from_slice(&data);
                }
                while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    events.push(serde_json::from_slice::<Value>(&line).unwrap());
                }
            }
            events
        };
        let (events, ()) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(read, during)
        })
        .await
        .expect("the watch events within 10 s");
        (status, content_type, events)
    }
}

fn content_type(headers: &hyper::HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn recorded_content_type(exchange: &Value) -> String {
    exchange["response_headers"]["Content-Type"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The JSON type of a value, for cells compared by shape.
fn shape(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A Table has the recorded kind, columns (exactly) and rows of the recorded shape: as many,
/// each with cells of the same JSON types and a `PartialObjectMetadata`.
fn assert_table_like(recorded: &Value, ours: &Value) {
    assert_eq!(ours["kind"], "Table", "{ours}");
    assert_eq!(ours["apiVersion"], recorded["apiVersion"]);
    assert_eq!(ours["columnDefinitions"], recorded["columnDefinitions"]);
    assert!(ours["metadata"]["resourceVersion"].is_string(), "{ours}");
    let (recorded_rows, rows) = (
        recorded["rows"].as_array().unwrap(),
        ours["rows"].as_array().unwrap(),
    );
    assert_eq!(rows.len(), recorded_rows.len(), "{ours}");
    for (recorded_row, row) in recorded_rows.iter().zip(rows) {
        let shapes = |row: &Value| -> Vec<&str> {
            row["cells"].as_array().unwrap().iter().map(shape).collect()
        };
        assert_eq!(shapes(row), shapes(recorded_row), "{row}");
        assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(
            row["object"]["apiVersion"],
            recorded_row["object"]["apiVersion"]
        );
        assert!(row["object"]["metadata"]["uid"].is_string());
    }
}

/// The cells of each row, except the columns at `volatile` (ages, generated names, IPs).
fn stable_cells(table: &Value, volatile: &[usize]) -> Vec<Vec<Value>> {
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row["cells"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .filter(|(i, _)| !volatile.contains(i))
                .map(|(_, c)| c.clone())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn version_has_the_fields_of_kube_apiservers() {
    let harness = Harness::start().await;
    let recorded = exchange("01-api-resources", 1);
    let answer = harness.replay(&recorded).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&answer.json()), keys(&recorded["response_body"]));
}

#[tokio::test]
async fn aggregated_discovery_lists_what_is_served_as_kube_apiserver_does() {
    let harness = Harness::start().await;
    for seq in [2, 3] {
        let recorded = exchange("01-api-resources", seq);
        let answer = harness.replay(&recorded).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.content_type, recorded_content_type(&recorded));
        let ours = answer.json();
        let expected = &recorded["response_body"];
        assert_eq!(ours["kind"], expected["kind"]);
        assert_eq!(ours["apiVersion"], expected["apiVersion"]);
        let mut compared = 0;
        for group in ours["items"].as_array().unwrap() {
            let recorded_group = expected["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["metadata"] == group["metadata"])
                .unwrap_or_else(|| panic!("group {} is not in the recording", group["metadata"]));
            for version in group["versions"].as_array().unwrap() {
                let recorded_version = recorded_group["versions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|v| v["version"] == version["version"])
                    .unwrap();
                assert_eq!(version["freshness"], recorded_version["freshness"]);
                for resource in version["resources"].as_array().unwrap() {
                    let recorded_resource = recorded_version["resources"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|r| r["resource"] == resource["resource"])
                        .unwrap_or_else(|| {
                            panic!("{} is not in the recording", resource["resource"])
                        });
                    for field in [
                        "responseKind",
                        "scope",
                        "singularResource",
                        "verbs",
                        "shortNames",
                        "categories",
                    ] {
                        assert_eq!(
                            resource[field], recorded_resource[field],
                            "{field} of {}",
                            resource["resource"]
                        );
                    }
                    // The subresources served are among the recorded ones, as recorded.
                    for sub in resource["subresources"].as_array().into_iter().flatten() {
                        assert!(
                            recorded_resource["subresources"]
                                .as_array()
                                .unwrap()
                                .contains(sub),
                            "{sub} of {}",
                            resource["resource"]
                        );
                    }
                    compared += 1;
                }
            }
        }
        assert!(compared >= 6, "compared {compared} resources");
    }
}

#[tokio::test]
async fn openapi_v3_serves_the_locusttest_schema_and_operations() {
    let harness = Harness::start().await;
    let recorded_root = exchange("02-explain-locusttest-spec", 4);
    let answer = harness.replay(&recorded_root).await;
    assert_eq!(answer.status, 200);
    let root = answer.json();
    for path in ["api/v1", "apis/locust.io/v2", "apis/batch/v1"] {
        let url = root["paths"][path]["serverRelativeURL"]
            .as_str()
            .unwrap_or_else(|| panic!("no {path} in {root}"));
        assert!(
            url.starts_with(&format!("/openapi/v3/{path}?hash=")),
            "{url}"
        );
    }
    // The document, fetched as kubectl does: by the root's URL.
    let mut recorded = exchange("02-explain-locusttest-spec", 5);
    let url = root["paths"]["apis/locust.io/v2"]["serverRelativeURL"]
        .as_str()
        .unwrap();
    let (path, query) = url.split_once('?').unwrap();
    recorded["path"] = json!(path);
    recorded["query"] = json!(query);
    let answer = harness.replay(&recorded).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, recorded_content_type(&recorded));
    let ours = answer.json();
    let expected = &recorded["response_body"];
    assert_eq!(ours["openapi"], expected["openapi"]);
    // The same paths and operations, each with its GVK, action and write parameters.
    let paths = |doc: &Value| {
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(paths(&ours), paths(expected));
    for (path, item) in expected["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let our = &ours["paths"][path][method];
            for field in [
                "operationId",
                "x-kubernetes-action",
                "x-kubernetes-group-version-kind",
            ] {
                assert_eq!(our[field], operation[field], "{method} {path}: {field}");
            }
            let names = |op: &Value| -> Vec<String> {
                op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect()
            };
            for name in ["dryRun", "fieldManager", "fieldValidation", "force"] {
                assert_eq!(
                    names(our).contains(&name.to_owned()),
                    names(operation).contains(&name.to_owned()),
                    "{method} {path}: parameter {name}"
                );
            }
        }
    }
    // The LocustTest schema: the CRD's, with the GVK and metadata as ObjectMeta.
    let schema = |doc: &Value| doc["components"]["schemas"]["io.locust.v2.LocustTest"].clone();
    let (ours, expected) = (schema(&ours), schema(expected));
    for field in [
        "description",
        "type",
        "required",
        "x-kubernetes-group-version-kind",
    ] {
        assert_eq!(ours[field], expected[field], "{field}");
    }
    for property in ["apiVersion", "kind", "metadata", "spec", "status"] {
        assert_eq!(
            ours["properties"][property], expected["properties"][property],
            "properties.{property}"
        );
    }
}

#[tokio::test]
async fn strict_field_validation_errors_read_as_kube_apiservers() {
    let harness = Harness::start().await;
    // Unknown fields on create: 400, the recorded Status exactly.
    for name in [
        "09-apply-invalid-unknown-field-and-wrong-type",
        "10-apply-invalid-unknown-field-only",
    ] {
        let recorded = exchange(name, 8);
        let answer = harness.replay(&recorded).await;
        assert_eq!(answer.status, 400, "{name}");
        assert_eq!(answer.json(), recorded["response_body"], "{name}");
    }
    // A wrong type only: 422 with the causes.
    let recorded = exchange("11-apply-invalid-wrong-type-only", 8);
    let answer = harness.replay(&recorded).await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.json(), recorded["response_body"]);
    // Server-side apply: 500, the typed patch's errors.
    let recorded = exchange("12-apply-server-side-invalid", 6);
    let answer = harness.replay(&recorded).await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.json(), recorded["response_body"]);
    // A merge patch onto an existing object: 422 on the field `patch`, the patched object as
    // the value.
    harness.create_test().await;
    let recorded = exchange("13-apply-invalid-existing-object-patch", 8);
    let answer = harness.replay(&recorded).await;
    assert_eq!(answer.status, 422);
    let (ours, expected) = (answer.json(), &recorded["response_body"]);
    assert_eq!(ours["reason"], expected["reason"]);
    assert_eq!(ours["code"], expected["code"]);
    let message = ours["message"].as_str().unwrap();
    assert!(
        message.starts_with(" \"\" is invalid: patch: Invalid value: \"{"),
        "{message}"
    );
    assert!(
        message.ends_with("}\": strict decoding error: unknown field \"spec.master.replicaCount\""),
        "{message}"
    );
    let cause = &ours["details"]["causes"][0];
    assert_eq!(cause["field"], "patch");
    assert_eq!(cause["reason"], expected["details"]["causes"][0]["reason"]);
    assert!(
        cause["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid value: \"{")
    );
    assert!(
        harness
            .locusttests()
            .get_opt("bad-test")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn locusttest_tables_have_the_crds_columns() {
    let harness = Harness::start().await;
    // No LocustTest: an empty Table.
    let recorded = exchange("49-get-locusttest-empty", 4);
    let answer = harness.replay(&recorded).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, recorded_content_type(&recorded));
    assert_table_like(&recorded["response_body"], &answer.json());

    // Without status: null cells (14).
    harness.create_test().await;
    let recorded = exchange("14-get-locusttest", 4);
    let answer = harness.replay(&recorded).await;
    assert_eq!(answer.status, 200);
    let table = answer.json();
    assert_table_like(&recorded["response_body"], &table);
    assert_eq!(
        stable_cells(&table, &[5]),
        stable_cells(&recorded["response_body"], &[5])
    );
    let age = table["rows"][0]["cells"][5].as_str().unwrap();
    assert!(age.ends_with('s'), "{age}");

    // With status, one object (47) and across namespaces (48).
    harness
        .patch_status(json!({"phase": "Running", "connectedWorkers": 2, "expectedWorkers": 2}))
        .await;
    harness
        .locusttests()
        .patch(
            "my-test",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"worker": {"replicas": 2}}})),
        )
        .await
        .unwrap();
    for name in ["47-get-lotest-by-name", "48-get-locusttests-all-namespaces"] {
        let recorded = exchange(name, 4);
        let answer = harness.replay(&recorded).await;
        assert_eq!(answer.status, 200, "{name}");
        let table = answer.json();
        assert_table_like(&recorded["response_body"], &table);
        assert_eq!(
            stable_cells(&table, &[5]),
            stable_cells(&recorded["response_body"], &[5]),
            "{name}"
        );
    }

    // Not found (50): the Status, then the namespace as a Table.
    let recorded = exchange("50-get-lotest-by-name-not-found", 4);
    harness
        .locusttests()
        .delete("my-test", &Default::default())
        .await
        .unwrap();
    let answer = harness.replay(&recorded).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json(), recorded["response_body"]);
    let recorded = exchange("50-get-lotest-by-name-not-found", 5);
    let table = harness.replay(&recorded).await.json();
    assert_table_like(&recorded["response_body"], &table);
    assert_eq!(
        stable_cells(&table, &[2]),
        stable_cells(&recorded["response_body"], &[2])
    );
}

#[tokio::test]
async fn a_table_watch_sends_the_columns_once() {
    let harness = Harness::start().await;
    harness.create_test().await;
    let list = exchange("15-get-locusttest-watch", 4);
    let table = harness.replay(&list).await.json();
    assert_table_like(&list["response_body"], &table);
    let mut watch = exchange("15-get-locusttest-watch", 5);
    let rv = table["metadata"]["resourceVersion"].as_str().unwrap();
    watch["query"] = json!(format!("resourceVersion={rv}&watch=true"));
    let changes = async {
        harness.patch_status(json!({"phase": "Running"})).await;
        harness.patch_status(json!({"connectedWorkers": 2})).await;
    };
    let (status, content_type, events) = harness.replay_watch(&watch, 2, changes).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, recorded_content_type(&watch));
    let recorded = watch["response_body"].as_array().unwrap();
    assert_eq!(events.len(), recorded.len());
    for (ours, recorded) in events.iter().zip(recorded) {
        assert_eq!(ours["type"], recorded["type"]);
        assert_table_like(&recorded["object"], &ours["object"]);
        assert_eq!(
            stable_cells(&ours["object"], &[5]),
            stable_cells(&recorded["object"], &[5])
        );
    }
}

/// The objects of the recordings 23 to 28: the master and worker Jobs (their pods made by the
/// Job controller), the master Service and two Events about the LocustTest.
async fn create_children(harness: &Harness) {
    let test = harness.create_test().await;
    let uid = test.metadata.uid.clone().unwrap();
    let jobs: Api<Job> = Api::namespaced(harness.client.clone(), NAMESPACE);
    for (role, parallelism) in [("master", 1), ("worker", 4)] {
        let name = format!("my-test-{role}");
        let labels = json!({"performance-test-name": "my-test", "performance-test-pod-name": name});
        jobs.create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": name, "labels": labels},
                "spec": {"parallelism": parallelism, "template": {
                    "metadata": {"labels": labels},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": name, "image": "locustio/locust:2.43.3"}]}
                }}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    }
    let services: Api<Service> = Api::namespaced(harness.client.clone(), NAMESPACE);
    services
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "my-test-master"},
                "spec": {"selector": {"performance-test-pod-name": "my-test-master"}, "ports": [
                    {"name": "master", "port": 5557, "protocol": "TCP"},
                    {"name": "web", "port": 8089, "protocol": "TCP"}
                ]}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let events: Api<DynamicObject> = Api::namespaced_with(
        harness.client.clone(),
        NAMESPACE,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("events.k8s.io", "v1", "Event"),
            "events",
        ),
    );
    for (i, note) in [
        "Created master Job my-test-master and Service my-test-master",
        "Created worker Job my-test-worker (4 workers)",
    ]
    .iter()
    .enumerate()
    {
        events
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "apiVersion": "events.k8s.io/v1", "kind": "Event",
                    "metadata": {"name": format!("my-test.000000000000000{}", i + 1)},
                    "eventTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                    "reportingController": "locust.io/locust-operator",
                    "reportingInstance": "locust-operator-7d9c5b6f4-x2x7q",
                    "action": "Create", "reason": "Created", "type": "Normal", "note": note,
                    "regarding": {"apiVersion": "locust.io/v2", "kind": "LocustTest", "name": "my-test", "namespace": NAMESPACE, "uid": uid}
                }))
                .unwrap(),
            )
            .await
            .unwrap();
    }
    // The Job controller's pods: one master, four workers.
    let pods: Api<Pod> = Api::namespaced(harness.client.clone(), NAMESPACE);
    for _ in 0..200 {
        if pods.list(&ListParams::default()).await.unwrap().items.len() == 5 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the Job controller did not make the five pods");
}

#[tokio::test]
async fn pod_job_service_and_event_tables_have_kubes_columns() {
    let harness = Harness::start().await;
    create_children(&harness).await;
    // Pods (23): the master running and ready (as the recording's), the workers pending.
    let pods: Api<Pod> = Api::namespaced(harness.client.clone(), NAMESPACE);
    let master = pods
        .list(&ListParams::default().labels("batch.kubernetes.io/job-name=my-test-master"))
        .await
        .unwrap()
        .items
        .remove(0);
    memory_apiserver::sim::set_pod_running(&harness.client, NAMESPACE, &master, true)
        .await
        .unwrap();
    pods.patch_status(
        master.metadata.name.as_deref().unwrap(),
        &PatchParams::default(),
        &Patch::Merge(
            json!({"status": {"podIP": "10.244.0.15", "podIPs": [{"ip": "10.244.0.15"}]}}),
        ),
    )
    .await
    .unwrap();
    let recorded = exchange("23-get-pods-by-label", 4);
    let table = harness.replay(&recorded).await.json();
    assert_table_like(&recorded["response_body"], &table);
    // Name, age and IP vary; READY STATUS RESTARTS NODE NOMINATED GATES as recorded.
    assert_eq!(
        stable_cells(&table, &[0, 4, 5]),
        stable_cells(&recorded["response_body"], &[0, 4, 5])
    );
    // Jobs (24) and the Service (25).
    let recorded = exchange("24-get-jobs", 4);
    let table = harness.replay(&recorded).await.json();
    assert_table_like(&recorded["response_body"], &table);
    // Status, completions, containers and images as recorded (durations, ages, uids vary).
    assert_eq!(
        stable_cells(&table, &[3, 4, 7]),
        stable_cells(&recorded["response_body"], &[3, 4, 7])
    );
    let recorded = exchange("25-get-svc", 4);
    let table = harness.replay(&recorded).await.json();
    assert_table_like(&recorded["response_body"], &table);
    assert_eq!(
        stable_cells(&table, &[2, 5]),
        stable_cells(&recorded["response_body"], &[2, 5])
    );
    // Events (28), listed with a field selector.
    let recorded = exchange("28-get-events-field-selector", 4);
    let table = harness.replay(&recorded).await.json();
    assert_table_like(&recorded["response_body"], &table);
    assert_eq!(
        stable_cells(&table, &[0, 7]),
        stable_cells(&recorded["response_body"], &[0, 7])
    );
}

#[tokio::test]
async fn logs_of_a_job_as_kube_apiserver_serves_them() {
    let harness = Harness::start().await;
    create_children(&harness).await;
    let pods: Api<Pod> = Api::namespaced(harness.client.clone(), NAMESPACE);
    let jobs: Api<Job> = Api::namespaced(harness.client.clone(), NAMESPACE);
    let job = jobs.get("my-test-master").await.unwrap();
    // kubectl finds the pod by the Job's controller-uid label (as recorded, with a protobuf
    // Accept: answered as JSON).
    let mut list = exchange("26-logs-job-master", 5);
    let uid = job.metadata.uid.clone().unwrap();
    list["query"] = json!(format!(
        "labelSelector=batch.kubernetes.io%2Fcontroller-uid%3D{uid}"
    ));
    let answer = harness.replay(&list).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json");
    let listed = answer.json();
    assert_eq!(listed["kind"], "PodList");
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let pod = listed["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();

    // Unscheduled: 204, empty.
    let mut logs = exchange("26-logs-job-master", 6);
    logs["path"] = json!(format!("/api/v1/namespaces/{NAMESPACE}/pods/{pod}/log"));
    let answer = harness.replay(&logs).await;
    assert_eq!(answer.status, 204);
    assert!(answer.body.is_empty());

    // On a node: the log, as text/plain (32), and its tail (33).
    pods.patch(
        &pod,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"nodeName": "sandbox"}})),
    )
    .await
    .unwrap();
    let recorded = exchange("32-logs-job-master-with-kubelet", 6);
    let text = recorded["response_body"].as_str().unwrap().to_owned();
    harness.logs.0.lock().unwrap().insert(
        (
            NAMESPACE.to_owned(),
            pod.clone(),
            "my-test-master".to_owned(),
        ),
        text.clone().into_bytes(),
    );
    let mut request = recorded.clone();
    request["path"] = json!(format!("/api/v1/namespaces/{NAMESPACE}/pods/{pod}/log"));
    let answer = harness.replay(&request).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, recorded_content_type(&recorded));
    assert_eq!(String::from_utf8_lossy(&answer.body), text);
    let recorded_tail = exchange("33-logs-pod-container-tail-with-kubelet", 5);
    let mut request = recorded_tail.clone();
    request["path"] = json!(format!("/api/v1/namespaces/{NAMESPACE}/pods/{pod}/log"));
    request["query"] = json!("container=my-test-master&tailLines=2");
    let answer = harness.replay(&request).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&answer.body),
        recorded_tail["response_body"].as_str().unwrap()
    );

    // A container the pod does not have: 400.
    request["query"] = json!("container=locust");
    let answer = harness.replay(&request).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json()["message"],
        format!("container locust is not valid for pod {pod}")
    );
}
