//! What the controller's end-to-end suites create, drive and read, all through the Kubernetes
//! API: a LocustTest manifest; one namespace's tests, their children (Service, master and
//! worker Jobs), the Jobs' pods (status written as kubelet would, `memory_apiserver::sim`) and
//! events ([`TestNamespace`]); and readers of status conditions, events and the operator's
//! metrics text.
//!
//! Include next to `e2e.rs` and `test_status.rs` (as `mod e2e;` and `mod test_status;` at the
//! root of the test crate); [`Scenario`](super::scenario::Scenario) dereferences to its
//! [`TestNamespace`].

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test crates; tests fail loudly

use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use kube::{Api, Client, Resource, ResourceExt};
use locust_operator::api::conditions::{reasons, types};
use memory_apiserver::sim;
use serde_json::{Value, json};

use super::e2e::jobs::{self, JobControl, Jobs};
use super::e2e::{self, Env, poll, request};
use super::test_status::{condition, has, phase};

/// The image of [`manifest`].
pub const IMAGE: &str = "locustio/locust:2.43.3";
/// The master command of [`manifest`].
pub const MASTER_COMMAND: &str =
    "--locustfile /lotest/src/t.py --host https://shop.example.com --users 10 --run-time 1m";
/// Upper bound of one wait for the controller.
pub const WAIT: Duration = Duration::from_secs(30);
/// How long "nothing happens" is watched for.
pub const QUIET: Duration = Duration::from_millis(400);

// ---------------------------------------------------------------------------------------------
// The test object

/// A valid v2 LocustTest `name` with `workers` worker replicas.
pub fn manifest(name: &str, workers: i64) -> Value {
    json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": name},
        "spec": {
            "image": IMAGE,
            "master": {"command": MASTER_COMMAND},
            "worker": {"command": "--locustfile /lotest/src/t.py", "replicas": workers}
        }
    })
}

/// The Service and the two Jobs the operator builds for a test.
pub struct Children {
    pub service: Service,
    pub master: Job,
    pub worker: Job,
}

impl Children {
    /// `(kind/name, uid)` of each: which objects they are.
    pub fn uids(&self) -> Vec<(String, String)> {
        self.versions()
            .into_iter()
            .map(|(k, u, _)| (k, u))
            .collect()
    }

    /// `(kind/name, uid, resourceVersion)` of each: which objects, as last written.
    pub fn versions(&self) -> Vec<(String, String, String)> {
        self.metas()
            .into_iter()
            .map(|(kind, meta)| {
                (
                    format!("{kind}/{}", meta.name.clone().unwrap_or_default()),
                    meta.uid.clone().unwrap_or_default(),
                    meta.resource_version.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// `(kind, metadata)` of each.
    pub fn metas(&self) -> [(&'static str, &ObjectMeta); 3] {
        [
            ("Service", self.service.meta()),
            ("Job", self.master.meta()),
            ("Job", self.worker.meta()),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// One namespace's tests

/// One namespace of the API server as a test works in it: its LocustTests, their children,
/// the Jobs' pods (made by the Job controller, or by the test as it would, see
/// [`Jobs`]) and events. Every wait is bounded ([`WAIT`]).
#[derive(Clone)]
pub struct TestNamespace {
    client: Client,
    namespace: String,
    job_control: JobControl,
}

impl TestNamespace {
    /// `namespace` through `client`, whose Jobs' pods and status `job_control` makes.
    pub fn new(client: Client, namespace: &str, job_control: JobControl) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            job_control,
        }
    }

    /// The namespace of `env`.
    pub fn of(env: &Env) -> Self {
        Self::new(env.client().clone(), env.namespace(), env.job_control())
    }

    /// Another namespace `namespace` of the same API server.
    pub fn sibling(&self, namespace: &str) -> Self {
        Self::new(self.client.clone(), namespace, self.job_control)
    }

    /// The client (as kubectl would use it).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The namespace's name.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A typed API of namespaced `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// LocustTests of `version` (`v1`, `v2`) in this namespace, untyped.
    pub fn locust_tests(&self, version: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &e2e::locust_test_resource(version),
        )
    }

    /// The Jobs of this namespace: their pods and status, whoever makes them.
    pub fn jobs(&self) -> Jobs {
        Jobs::new(self.client.clone(), &self.namespace, self.job_control)
    }

    /// Creates the test [`manifest`] `name` with `workers` workers; returns its uid.
    pub async fn create(&self, name: &str, workers: i64) -> String {
        self.create_from(manifest(name, workers)).await
    }

    /// Creates the test from `manifest`; returns its uid.
    pub async fn create_from(&self, manifest: Value) -> String {
        let object: DynamicObject = serde_json::from_value(manifest).unwrap();
        let what = format!("create {}/{}", self.namespace, object.name_any());
        request(
            &what,
            self.locust_tests("v2")
                .create(&PostParams::default(), &object),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .uid()
        .expect("a uid")
    }

    /// The test, which must exist, as JSON.
    pub async fn get(&self, name: &str) -> Value {
        let test = self
            .locust_tests("v2")
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("get {}/{name}: {e}", self.namespace));
        serde_json::to_value(test).unwrap()
    }

    /// Edits the test's spec (merge patch), as `kubectl edit` does.
    pub async fn patch_spec(&self, name: &str, spec: Value) {
        self.locust_tests("v2")
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .unwrap_or_else(|e| panic!("edit the spec of {name}: {e}"));
    }

    /// Polls the test until `pred` holds ([`WAIT`]); returns it. `what` names the wait.
    pub async fn wait_for(&self, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let api = self.locust_tests("v2");
        let (api, pred) = (&api, &pred);
        poll(
            &format!("{}/{name}: {what}", self.namespace),
            WAIT,
            || async move {
                let test = api.get(name).await.map_err(|e| e.to_string())?;
                let test = serde_json::to_value(test).unwrap();
                if pred(&test) {
                    Ok(test)
                } else {
                    Err(test["status"].to_string())
                }
            },
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Children, pods, Jobs (what kubelet and the Job controller would write)

    /// The test's children as they are now: an error while any is missing.
    pub async fn try_children(&self, name: &str) -> Result<Children, String> {
        let (services, jobs) = (self.api::<Service>(), self.api::<Job>());
        let master = format!("{name}-master");
        let worker = format!("{name}-worker");
        Ok(Children {
            service: request("get Service", services.get(&master)).await?,
            master: request("get master Job", jobs.get(&master)).await?,
            worker: request("get worker Job", jobs.get(&worker)).await?,
        })
    }

    /// The test's children, once they all exist.
    pub async fn children(&self, name: &str) -> Children {
        poll(
            &format!("{}/{name}: children", self.namespace),
            WAIT,
            || self.try_children(name),
        )
        .await
    }

    /// The children that exist now (no waiting), as `Kind/name`.
    pub async fn children_now(&self, name: &str) -> Vec<String> {
        let jobs = self.api::<Job>();
        let services = self.api::<Service>();
        let mut found = Vec::new();
        if services
            .get_opt(&format!("{name}-master"))
            .await
            .unwrap()
            .is_some()
        {
            found.push(format!("Service/{name}-master"));
        }
        for role in ["master", "worker"] {
            if jobs
                .get_opt(&format!("{name}-{role}"))
                .await
                .unwrap()
                .is_some()
            {
                found.push(format!("Job/{name}-{role}"));
            }
        }
        found
    }

    /// `count` active pods of `job`: the Job controller's, or (without one) created as it would.
    pub async fn job_pods(&self, job: &str, count: usize) -> Vec<Pod> {
        self.jobs().pods(job, count).await
    }

    /// The pods run and are ready (kubelet).
    pub async fn set_running(&self, pods: &[Pod]) {
        for pod in pods {
            sim::set_pod_running(&self.client, &self.namespace, pod, true)
                .await
                .unwrap();
        }
    }

    /// The Job's status follows its pods (written by the Job controller, or without one as it
    /// would).
    pub async fn settle(&self, job: &str) -> Job {
        self.jobs().settle(job).await
    }

    /// The master pod running and ready, its Job reporting it.
    pub async fn start_master(&self, name: &str) -> Pod {
        let job = format!("{name}-master");
        let pods = self.job_pods(&job, 1).await;
        self.set_running(&pods).await;
        self.settle(&job).await;
        pods.into_iter().next().unwrap()
    }

    /// `workers` worker pods running and ready, their Job reporting them.
    pub async fn start_workers(&self, name: &str, workers: usize) -> Vec<Pod> {
        let job = format!("{name}-worker");
        let pods = self.job_pods(&job, workers).await;
        self.set_running(&pods).await;
        self.settle(&job).await;
        pods
    }

    /// Two worker pods running, the first ready (connected), the second not yet; the worker
    /// Job reporting them (`ready: 1`).
    pub async fn start_one_of_two_workers(&self, name: &str) -> Vec<Pod> {
        let job = format!("{name}-worker");
        let workers = self.job_pods(&job, 2).await;
        let (client, ns) = (&self.client, self.namespace.as_str());
        sim::set_pod_running(client, ns, &workers[0], true)
            .await
            .unwrap();
        sim::set_pod_running(client, ns, &workers[1], false)
            .await
            .unwrap();
        self.settle(&job).await;
        workers
    }

    /// The second worker of [`Self::start_one_of_two_workers`] becomes ready too.
    pub async fn connect_second_worker(&self, name: &str, workers: &[Pod]) {
        sim::set_pod_running(&self.client, &self.namespace, &workers[1], true)
            .await
            .unwrap();
        self.settle(&format!("{name}-worker")).await;
    }

    /// From creation to `Running` with every worker connected; returns the master pod and
    /// the worker pods.
    pub async fn run_to_running(&self, name: &str, workers: usize) -> (Pod, Vec<Pod>) {
        self.children(name).await;
        let master = self.start_master(name).await;
        let workers = self.start_workers(name, workers).await;
        self.wait_for(name, "Running, all workers connected", |t| {
            phase(t) == "Running"
                && has(
                    t,
                    types::WORKERS_CONNECTED,
                    "True",
                    reasons::ALL_WORKERS_CONNECTED,
                )
        })
        .await;
        (master, workers)
    }

    /// The master exited 0 and its Job completed.
    pub async fn finish_master(&self, name: &str, master: &Pod) {
        sim::set_pod_terminated(&self.client, &self.namespace, master, 0, "Completed")
            .await
            .unwrap();
        let job = self.settle(&format!("{name}-master")).await;
        assert!(jobs::finished(&job, "Complete"), "{:?}", job.status);
    }

    // -----------------------------------------------------------------------------------------
    // Events

    /// The events (`events.k8s.io/v1`) regarding the object `name`.
    pub async fn try_events(&self, name: &str) -> Result<Vec<Event>, String> {
        let api: Api<Event> = self.api();
        let list = request("list events", api.list(&ListParams::default())).await?;
        Ok(list
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .collect())
    }

    /// The events regarding the object `name`.
    pub async fn events(&self, name: &str) -> Vec<Event> {
        self.try_events(name)
            .await
            .unwrap_or_else(|e| panic!("{}/{name}: {e}", self.namespace))
    }

    /// Waits until an event with `reason` regards `name`; returns all that do.
    pub async fn wait_event(&self, name: &str, reason: &str) -> Vec<Event> {
        poll(
            &format!("{}/{name}: event {reason}", self.namespace),
            WAIT,
            || async {
                let list = self.events(name).await;
                if occurrences(&list, reason) > 0 {
                    Ok(list)
                } else {
                    Err(list
                        .iter()
                        .map(|e| e.reason.clone().unwrap_or_default())
                        .collect::<Vec<_>>())
                }
            },
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Status

/// The condition has exactly this status, reason and message, the test's generation and a
/// transition time.
#[track_caller]
pub fn assert_condition(test: &Value, type_: &str, status: &str, reason: &str, message: &str) {
    let name = test["metadata"]["name"].as_str().unwrap_or_default();
    let found = condition(test, type_)
        .unwrap_or_else(|| panic!("{name}: no {type_} condition in {}", test["status"]));
    assert_eq!(
        (
            found["status"].as_str(),
            found["reason"].as_str(),
            found["message"].as_str()
        ),
        (Some(status), Some(reason), Some(message)),
        "{name}: condition {type_}"
    );
    assert_eq!(
        found["observedGeneration"], test["metadata"]["generation"],
        "{name}: {type_}.observedGeneration"
    );
    assert!(
        found["lastTransitionTime"]
            .as_str()
            .is_some_and(|t| t.parse::<Timestamp>().is_ok()),
        "{name}: {type_}.lastTransitionTime"
    );
}

/// The types of the test's conditions, in order.
pub fn condition_types(test: &Value) -> Vec<String> {
    test["status"]["conditions"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A time of the status (`startTime`, `completionTime`).
pub fn time_of(value: &Value) -> Timestamp {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"))
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Children

/// What the operator built of a Job: its spec without what the API server derives from the
/// Job's uid (selector, `controller-uid` labels).
pub fn built(job: &Job) -> Value {
    let mut spec = serde_json::to_value(job.spec.as_ref().unwrap()).unwrap();
    spec.as_object_mut().unwrap().remove("selector");
    if let Some(labels) = spec
        .pointer_mut("/template/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.retain(|key, _| !key.contains("controller-uid") && !key.contains("job-name"));
    }
    spec
}

/// The uids of the object's controller owner references.
pub fn owner_uid(meta: &ObjectMeta) -> Vec<String> {
    meta.owner_references
        .iter()
        .flatten()
        .filter(|o| o.controller == Some(true))
        .map(|o| o.uid.clone())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Events

/// How often an event with `reason` was recorded (objects and their series counts).
pub fn occurrences(events: &[Event], reason: &str) -> i32 {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum()
}

/// `(type, note)` of the events with `reason`.
pub fn notes(events: &[Event], reason: &str) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| {
            (
                e.type_.clone().unwrap_or_default(),
                e.note.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// Every event as `(reason, occurrences)`, sorted: what "no new event" compares.
pub fn event_summary(events: &[Event]) -> Vec<(String, i32)> {
    let mut summary: Vec<(String, i32)> = events
        .iter()
        .map(|e| {
            (
                e.reason.clone().unwrap_or_default(),
                e.series.as_ref().map_or(1, |s| s.count),
            )
        })
        .collect();
    summary.sort();
    summary
}

// ---------------------------------------------------------------------------------------------
// Metrics

/// The `controller` label of the reconcile metrics.
pub const CONTROLLER: &str = "controller=\"locusttest\"";

/// `name{labels}`.
pub fn series(name: &str, labels: &str) -> String {
    format!("{name}{{{labels}}}")
}

/// The value of one series (`name{labels}` exactly as encoded) in a metrics text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Reconciles finished so far according to a metrics text, whatever their result.
pub fn reconciles_in(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("controller_runtime_reconcile_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Namespaces besides the Env's

/// Creates another namespace `e2e-<random>` on the API server of `client` (not covered by an
/// Env's webhooks in real-cluster mode); returns its name.
pub async fn create_namespace(client: &Client) -> String {
    let name = format!("e2e-{}", e2e::random_suffix(8));
    let namespace: Namespace = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {e2e::E2E_LABEL: "true"}}
    }))
    .unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
    name
}

/// Deletes the namespace `name`, best effort and bounded.
pub async fn delete_namespace(client: &Client, name: &str) {
    let namespaces = Api::<Namespace>::all(client.clone());
    let _ = request(
        "delete namespace",
        namespaces.delete(name, &DeleteParams::default()),
    )
    .await;
}
