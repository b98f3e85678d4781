//! The API calls the operator declares ([`locust_operator::rbac`]: the lists of the start-up
//! CRD check, the controller and leader election, from which the install manifests' RBAC is
//! computed in tests/deploy/) are exactly the requests it makes.
//!
//! Every request of the operator is recorded over a rich life against the harness API server:
//! replicas run `locust_operator::operator::run` (the start-up check, leader election, the
//! controller, as `locust-operator run` wires them) each with a client of its own whose
//! requests are recorded (method, path and query: a watch is a GET with `?watch=true`); the
//! harness's own recording of every request it receives proves nothing reached it from
//! elsewhere (what it received, minus the test's own recorded requests, was sent by the
//! replicas' recorded clients). The life: two replicas on one Lease (namespaced, as the
//! `namespaced` overlay), tests run to `Succeeded` (pods from the harness's Job controller, or
//! from the test when `LOCUST_E2E_JOB_CONTROLLER=off`; pod status from `memory_apiserver::sim`; one
//! with a Locust master answering, whose report is kept), a pod failure,
//! workers that never connect (the Jobs suspended),
//! a spec edit and an externally deleted Job, expired watches (`compact` + `drop_watches`),
//! children names taken by foreign objects (a repeated event), an invalid spec, a failover on
//! the leader's clean shutdown (the Lease released), and a restart watching every namespace
//! (the default install), which recovers deleted children.
//!
//! Each recorded request is mapped to RBAC's view (group, resource/subresource, verb, scope,
//! name) and must match a declared call; each declared call must be matched by a request (a
//! call not reachable here means the list or this test is wrong); calls declared as required
//! by admission only must never be requested. The certificate manager's calls are recorded the
//! same way in tests/self_managed_certs.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "support/jobs.rs"]
mod jobs;
#[path = "support/locust_master.rs"]
mod locust_master;
#[path = "support/logs.rs"]
mod logs;
#[path = "support/test_status.rs"]
mod test_status;
#[path = "support/wait.rs"]
mod wait;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, Request, Uri};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use kube::discovery::ApiResource;
use kube::{Api, Client, ResourceExt};
use locust_operator::config::Config;
use locust_operator::controller::State;
use locust_operator::flags::{CertMode, ProcessFlags};
use locust_operator::locust::client::{MasterAddresses, Resolve};
use locust_operator::metrics::Metrics;
use locust_operator::operator::{self, RunError, RunSettings};
use locust_operator::rbac::{self, ApiCall, Names, Scope};
use locust_operator::webhook::tls::ReloadingCert;
use memory_apiserver::{ApiServer, Filter, sim};
use serde_json::{Value, json};
use test_status::{has, phase};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where the LocustTests are (the namespace the namespaced replicas watch).
const TESTS: &str = "load-tests";
/// The Lease's namespace (`--leader-election-namespace`; in the manifests the operator's own).
/// The certificate manager, the only user of `Scope::Operator`, does not run here.
const LEASE_NAMESPACE: &str = "locust-operator-system";
/// Upper bound of one wait for the operator.
const WAIT: Duration = Duration::from_secs(20);
/// Upper bound of the whole test.
const LIMIT: Duration = Duration::from_secs(90);
/// Long enough for the operator's caches to hold its last write.
const QUIET: Duration = Duration::from_millis(300);

fn init_logs() {
    logs::init("warn,kube_client::client::builder=off");
}

// ---------------------------------------------------------------------------------------------
// Recording clients

/// Every request a client sent: method and URI (path and query), in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<(Method, Uri)>>>);

impl Log {
    fn push(&self, method: &Method, uri: &Uri) {
        self.0.lock().unwrap().push((method.clone(), uri.clone()));
    }

    fn requests(&self) -> Vec<(Method, Uri)> {
        self.0.lock().unwrap().clone()
    }
}

/// A client of `server` (as [`ApiServer::client`] makes it) whose requests go to `log`.
fn recording_client(server: &ApiServer, log: &Log) -> Client {
    let mut config = kube::Config::new(server.url().parse().unwrap());
    config.default_namespace = "default".into();
    config.read_timeout = None;
    let log = log.clone();
    kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&tower::util::MapRequestLayer::new(
            move |request: Request<kube::client::Body>| {
                log.push(request.method(), request.uri());
                request
            },
        ))
        .build()
}

// ---------------------------------------------------------------------------------------------
// Replicas: `locust-operator run` in-process

/// The flags of a replica: leader election on the default Lease in [`LEASE_NAMESPACE`] with
/// short timings, a short pod-health grace period, watching `watch` (all namespaces: `None`).
fn flags(watch: Option<&str>) -> ProcessFlags {
    let argv = [
        "locust-operator".to_owned(),
        "--leader-elect=true".to_owned(),
        format!("--leader-election-namespace={LEASE_NAMESPACE}"),
        "--leader-elect-lease-duration=3s".to_owned(),
        "--leader-elect-renew-deadline=2s".to_owned(),
        "--leader-elect-retry-period=250ms".to_owned(),
        "--pod-health-grace-period=1s".to_owned(),
        format!("--watch-namespace={}", watch.unwrap_or_default()),
        "--certs=files".to_owned(),
    ];
    ProcessFlags::try_parse_from(argv).unwrap()
}

struct Replica {
    name: &'static str,
    /// Whether it watches every namespace (else only [`TESTS`]).
    watches_all: bool,
    log: Log,
    state: Arc<State>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), RunError>>>,
}

impl Replica {
    fn start(
        server: &ApiServer,
        name: &'static str,
        watch: Option<&str>,
        masters: &MasterAddresses,
    ) -> Self {
        let masters = masters.clone();
        let log = Log::default();
        let client = recording_client(server, &log);
        let flags = flags(watch);
        let state = Arc::new(State::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let state = Arc::clone(&state);
            let shutdown = shutdown.clone();
            async move {
                let config = Config::from_lookup(&|_| None).unwrap().0;
                let metrics = Metrics::new();
                let mut settings =
                    RunSettings::from_flags(&flags, config, client.default_namespace());
                settings.controller.masters = masters;
                let certificate = Arc::new(ReloadingCert::default());
                operator::run(client, settings, &metrics, state, certificate, shutdown).await
            }
        });
        Self {
            name,
            watches_all: watch.is_none(),
            log,
            state,
            shutdown,
            task: Some(task),
        }
    }

    /// Waits until it leads with synced caches.
    async fn leading(&self) {
        eventually(&format!("replica {} leading", self.name), || async {
            (self.state.is_leading() && self.state.caches_synced()).then_some(())
        })
        .await;
    }

    /// Stops it as SIGTERM does (a leader releases the Lease) and waits until it has stopped.
    async fn stop(&mut self) {
        self.shutdown.cancel();
        let task = self.task.take().unwrap();
        tokio::time::timeout(WAIT, task)
            .await
            .unwrap_or_else(|_| panic!("replica {} stops", self.name))
            .unwrap()
            .unwrap_or_else(|e| panic!("replica {}: {e}", self.name));
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Masters: those of the tests named at the address held, every other one unreachable.
struct Answering(String, &'static [&'static str]);

impl Resolve for Answering {
    fn master(&self, _: &str, name: &str) -> String {
        if self.1.contains(&name) {
            self.0.clone()
        } else {
            "127.0.0.1:9".to_owned()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Driving the operator (through the test's own client)

/// [`wait::eventually`] within [`WAIT`].
async fn eventually<T, Fut>(what: &str, check: impl FnMut() -> Fut) -> T
where
    Fut: Future<Output = Option<T>>,
{
    wait::eventually(what, WAIT, check).await
}

struct World {
    server: ApiServer,
    /// Whether the harness runs its Job controller.
    job_control: jobs::JobControl,
    /// The test's own client (recorded too: what the harness received from it).
    client: Client,
    log: Log,
}

impl World {
    fn tests(&self) -> Api<DynamicObject> {
        let resource = ApiResource::erase::<locust_operator::api::LocustTest>(&());
        Api::namespaced_with(self.client.clone(), TESTS, &resource)
    }

    fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), TESTS)
    }

    fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), TESTS)
    }

    async fn create(&self, name: &str, workers: i64, spec: Value) {
        let mut manifest = json!({
            "apiVersion": "locust.io/v2",
            "kind": "LocustTest",
            "metadata": {"name": name},
            "spec": {
                "image": "locustio/locust:2.43.3",
                "master": {"command": "--locustfile /lotest/src/t.py --host https://shop.example.com"},
                "worker": {"command": "--locustfile /lotest/src/t.py", "replicas": workers}
            }
        });
        json_patch::merge(&mut manifest["spec"], &spec);
        let object: DynamicObject = serde_json::from_value(manifest).unwrap();
        self.tests()
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
    }

    async fn wait_for(&self, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        eventually(&format!("{name}: {what}"), || async {
            let test = serde_json::to_value(self.tests().get(name).await.ok()?).unwrap();
            pred(&test).then_some(test)
        })
        .await
    }

    /// Waits for the test's Service and Jobs.
    async fn children(&self, name: &str) -> (Service, Job, Job) {
        let master = format!("{name}-master");
        let worker = format!("{name}-worker");
        eventually(&format!("{name}: children"), || async {
            Some((
                self.services().get_opt(&master).await.ok()??,
                self.jobs().get_opt(&master).await.ok()??,
                self.jobs().get_opt(&worker).await.ok()??,
            ))
        })
        .await
    }

    /// The Jobs of [`TESTS`]: their pods made by the harness's Job controller, or (when it is
    /// off) by the test as it would.
    fn job_pods(&self) -> jobs::Jobs {
        jobs::Jobs::new(self.client.clone(), TESTS, self.job_control)
    }

    /// `count` pods of `job`, running and ready, the Job reporting them.
    async fn run_pods(&self, job: &str, count: usize) -> Vec<Pod> {
        let pods = self.job_pods().pods(job, count).await;
        for pod in &pods {
            sim::set_pod_running(&self.client, TESTS, pod, true)
                .await
                .unwrap();
        }
        self.job_pods().settle(job).await;
        pods
    }

    /// From creation to `Running`; returns the master pod.
    async fn run_to_running(&self, name: &str, workers: usize) -> Pod {
        self.children(name).await;
        let master = self.run_pods(&format!("{name}-master"), 1).await;
        self.run_pods(&format!("{name}-worker"), workers).await;
        self.wait_for(name, "Running", |t| phase(t) == "Running")
            .await;
        master.into_iter().next().unwrap()
    }

    /// Deletes a child (as someone else would) and waits until the operator made it again.
    async fn delete_and_wait_recreated(&self, kind: &str, name: &str) {
        tokio::time::sleep(QUIET).await;
        let uid = match kind {
            "Job" => {
                let uid = self.jobs().get(name).await.unwrap().uid();
                self.jobs()
                    .delete(name, &DeleteParams::background())
                    .await
                    .unwrap();
                uid
            }
            _ => {
                let uid = self.services().get(name).await.unwrap().uid();
                self.services()
                    .delete(name, &DeleteParams::background())
                    .await
                    .unwrap();
                uid
            }
        };
        eventually(&format!("{kind} {name} recreated"), || async {
            let now = match kind {
                "Job" => self.jobs().get_opt(name).await.ok()??.uid(),
                _ => self.services().get_opt(name).await.ok()??.uid(),
            };
            (now != uid).then_some(())
        })
        .await;
    }

    async fn events(&self, name: &str, reason: &str) -> Vec<Event> {
        Api::<Event>::namespaced(self.client.clone(), TESTS)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            })
            .collect()
    }
}

async fn create_namespace(client: &Client, name: &str) {
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Requests as RBAC sees them

/// One request as RBAC authorizes it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    group: String,
    /// With the subresource: `locusttests/status`.
    resource: String,
    verb: String,
    namespace: Option<String>,
    name: Option<String>,
    /// Whether the resource is namespaced (from the harness's resource table).
    namespaced: bool,
}

/// RBAC's view of a request: GET of one object = get, GET of a collection = list, with
/// `?watch=true` = watch, POST = create, PUT = update, PATCH = patch, DELETE = delete
/// (`deletecollection` without a name).
fn seen(method: &Method, uri: &Uri) -> Result<Seen, String> {
    let path = uri.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(format!("not a resource request: {method} {uri}")),
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(*namespace), rest),
        rest => (None, rest),
    };
    let (resource, name) = match rest {
        [resource] => ((*resource).to_owned(), None),
        [resource, name] => ((*resource).to_owned(), Some(*name)),
        [resource, name, subresource] => (format!("{resource}/{subresource}"), Some(*name)),
        _ => return Err(format!("not a resource request: {method} {uri}")),
    };
    let watch = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair == "watch=true" || pair == "watch=1");
    let verb = match (method.as_str(), name, watch) {
        ("GET", None, true) => "watch",
        ("GET", None, false) => "list",
        ("GET", Some(_), _) => "get",
        ("POST", None, _) => "create",
        ("PUT", Some(_), _) => "update",
        ("PATCH", Some(_), _) => "patch",
        ("DELETE", Some(_), _) => "delete",
        ("DELETE", None, _) => "deletecollection",
        _ => return Err(format!("unexpected request: {method} {uri}")),
    };
    let plural = resource.split('/').next().unwrap_or_default();
    let namespaced = memory_apiserver::resources::find(group, version, plural)
        .ok_or_else(|| format!("unknown resource: {method} {uri}"))?
        .namespaced;
    Ok(Seen {
        group: group.to_owned(),
        resource,
        verb: verb.to_owned(),
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        namespaced,
    })
}

/// The [`Scope`] of a request of a replica watching [`TESTS`] or every namespace; `None`
/// where the operator has no business (another namespace; all namespaces while it watches
/// one: a namespaced install grants nothing cluster-wide).
fn scope_of(seen: &Seen, watches_all: bool) -> Option<Scope> {
    match (seen.namespace.as_deref(), seen.namespaced) {
        (Some(TESTS), _) => Some(Scope::Watched),
        (Some(LEASE_NAMESPACE), _) => Some(Scope::Lease),
        (Some(_), _) => None,
        (None, true) => watches_all.then_some(Scope::Watched),
        (None, false) => Some(Scope::Cluster),
    }
}

/// Whether `call` allows `seen` in `scope`.
fn allows(call: &ApiCall, names: &Names, seen: &Seen, scope: Scope) -> bool {
    call.group == seen.group
        && call.resource == seen.resource
        && call.verb == seen.verb
        && call.scope == scope
        && names
            .of(call.target)
            .is_none_or(|name| seen.name.as_deref() == Some(name))
}

fn describe(call: &ApiCall) -> String {
    format!(
        "{}/{} {} ({:?}, {:?}, {:?})",
        call.group, call.resource, call.verb, call.scope, call.target, call.need
    )
}

/// `(method, path)` counts.
fn counts(requests: impl IntoIterator<Item = (Method, String)>) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for (method, path) in requests {
        *counts.entry((method.to_string(), path)).or_default() += 1;
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// The test

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_operator_makes_exactly_the_declared_api_calls() {
    init_logs();
    tokio::time::timeout(LIMIT, run())
        .await
        .unwrap_or_else(|_| panic!("timed out after {LIMIT:?}"));
}

async fn run() {
    let options = jobs::harness_options();
    let job_control = jobs::JobControl::of_harness(&options);
    let server = ApiServer::start_with(options).await.unwrap();
    let crd = serde_json::to_value(locust_operator::crd::locust_test_crd().unwrap()).unwrap();
    server.install_crd(&crd).await;
    // Everything the harness receives from here on.
    let received = server.faults().record(Filter::default());
    let log = Log::default();
    let client = recording_client(&server, &log);
    let world = World {
        server,
        job_control,
        client,
        log,
    };
    create_namespace(&world.client, TESTS).await;
    create_namespace(&world.client, LEASE_NAMESPACE).await;

    // Two replicas on one Lease: `a` creates it and leads, `b` stands by.
    // The Locust masters of tests `done` and `edited` answer (their runs stopped: the report is
    // kept, or found taken); no other master does.
    let master = locust_master::server(locust_master::stopped_master_with_stats()).await;
    let masters = MasterAddresses(Arc::new(Answering(master, &["done", "edited"])));
    let mut a = Replica::start(&world.server, "a", Some(TESTS), &masters);
    a.leading().await;
    let mut b = Replica::start(&world.server, "b", Some(TESTS), &masters);
    eventually("replica b reading the Lease", || async {
        b.log
            .requests()
            .iter()
            .any(|(_, uri)| uri.path().contains("/leases/"))
            .then_some(())
    })
    .await;
    assert!(!b.state.is_leading());

    // A test to Succeeded.
    world.create("done", 1, json!({})).await;
    let master = world.run_to_running("done", 1).await;
    eventually("done's report kept", || async {
        let config_maps: Api<ConfigMap> = Api::namespaced(world.client.clone(), TESTS);
        config_maps.get("done-report").await.ok()
    })
    .await;
    sim::set_pod_terminated(&world.client, TESTS, &master, 0, "Completed")
        .await
        .unwrap();
    world.job_pods().settle("done-master").await;
    world
        .wait_for("done", "Succeeded", |t| phase(t) == "Succeeded")
        .await;

    // A pod failure: an OOM-killed worker fails the test after the grace period.
    world.create("crash", 1, json!({})).await;
    world.children("crash").await;
    world.run_pods("crash-master", 1).await;
    let workers = world.job_pods().pods("crash-worker", 1).await;
    sim::set_pod_terminated(&world.client, TESTS, &workers[0], 137, "OOMKilled")
        .await
        .unwrap();
    world
        .wait_for("crash", "Failed", |t| phase(t) == "Failed")
        .await;

    // Workers that never connect: at the test's connect timeout it fails, and its Jobs are
    // suspended (a patch of each).
    world
        .create("lonely", 1, json!({"worker": {"connectTimeoutSeconds": 1}}))
        .await;
    world.children("lonely").await;
    world.run_pods("lonely-master", 1).await;
    world
        .wait_for("lonely", "Failed", |t| phase(t) == "Failed")
        .await;
    eventually("lonely's Jobs suspended", || async {
        let worker = world.jobs().get("lonely-worker").await.ok()?;
        (worker.spec?.suspend == Some(true)).then_some(())
    })
    .await;

    // A spec edit (ignored), then the worker Job deleted by someone else (recreated). Its
    // report's name is taken by someone else's ConfigMap (created, answered 409, read).
    let foreign_report: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "edited-report"}})).unwrap();
    Api::<ConfigMap>::namespaced(world.client.clone(), TESTS)
        .create(&PostParams::default(), &foreign_report)
        .await
        .unwrap();
    world.create("edited", 1, json!({})).await;
    world.run_to_running("edited", 1).await;
    world
        .wait_for("edited", "its report not kept", |t| {
            t["status"]["results"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("ConfigMap edited-report exists and is not owned"))
        })
        .await;
    world
        .tests()
        .patch(
            "edited",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"worker": {"replicas": 3}}})),
        )
        .await
        .unwrap();
    world
        .wait_for("edited", "SpecDrifted", |t| {
            has(t, "SpecDrifted", "True", "SpecChangeIgnored")
        })
        .await;
    world
        .delete_and_wait_recreated("Job", "edited-worker")
        .await;

    // Watches expire: the history is forgotten and every watch ends (410 on resuming, relist).
    world.server.compact();
    world.server.drop_watches();
    world.create("after-expiry", 1, json!({})).await;
    world.children("after-expiry").await;

    // Names taken by objects the test does not own: created, answered 409, read; the
    // NameConflict event repeats (a patch of the event's series) when the test changes.
    let foreign_service: Service = serde_json::from_value(json!({
        "metadata": {"name": "taken-master"},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "someone-else"}}
    }))
    .unwrap();
    world
        .services()
        .create(&PostParams::default(), &foreign_service)
        .await
        .unwrap();
    let foreign_job: Job = serde_json::from_value(json!({
        "metadata": {"name": "taken-worker"},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]
        }}}
    }))
    .unwrap();
    world
        .jobs()
        .create(&PostParams::default(), &foreign_job)
        .await
        .unwrap();
    world.create("taken", 1, json!({})).await;
    eventually("a NameConflict event", || async {
        (!world.events("taken", "NameConflict").await.is_empty()).then_some(())
    })
    .await;
    world
        .tests()
        .patch(
            "taken",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
        )
        .await
        .unwrap();
    eventually("the NameConflict event repeated", || async {
        world
            .events("taken", "NameConflict")
            .await
            .iter()
            .any(|e| e.series.is_some())
            .then_some(())
    })
    .await;

    // An invalid spec (no webhooks here: it passes the schema but not the operator's checks).
    world
        .create(
            "invalid",
            1,
            json!({"master": {"resources": {
                "requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}
            }}}),
        )
        .await;
    world
        .wait_for("invalid", "InvalidSpec", |t| {
            has(t, "Ready", "False", "InvalidSpec")
        })
        .await;

    // Failover: `a` stops and releases the Lease; `b` takes over and recovers a deletion.
    a.stop().await;
    b.leading().await;
    world
        .delete_and_wait_recreated("Service", "after-expiry-master")
        .await;

    // Restart: `b` stops too; `c` comes up watching every namespace (the default install),
    // takes the released Lease and recovers deletions.
    b.stop().await;
    let mut c = Replica::start(&world.server, "c", None, &masters);
    c.leading().await;
    world
        .delete_and_wait_recreated("Job", "after-expiry-worker")
        .await;
    world.create("restarted", 1, json!({})).await;
    world.children("restarted").await;
    c.stop().await;

    check(&world, &[&a, &b, &c], &received);
}

/// Compares what the replicas requested with what they declare.
fn check(world: &World, replicas: &[&Replica], received: &memory_apiserver::faults::Recording) {
    let flags = flags(Some(TESTS));
    assert!(flags.leader_elect && flags.certs.mode == CertMode::Files);
    let calls = rbac::api_calls(&flags);
    let names = Names::from_flags(&flags);

    // Nothing reached the API server from elsewhere than the recorded clients.
    let received = counts(
        received
            .lock()
            .unwrap()
            .iter()
            .map(|(method, path)| (method.clone(), path.clone())),
    );
    let sent = |logs: &[&Log]| {
        counts(
            logs.iter()
                .flat_map(|log| log.requests())
                .map(|(method, uri)| (method, uri.path().to_owned())),
        )
    };
    let by_test = sent(&[&world.log]);
    let by_replicas = sent(&replicas.iter().map(|r| &r.log).collect::<Vec<_>>());
    let mut unexplained = Vec::new();
    for (request, count) in &received {
        let test = by_test.get(request).copied().unwrap_or(0);
        let replicas = by_replicas.get(request).copied().unwrap_or(0);
        if *count > test + replicas {
            unexplained.push(format!(
                "{} {}: {count} received, {test} sent by the test, {replicas} by the replicas",
                request.0, request.1
            ));
        }
    }
    assert!(
        unexplained.is_empty(),
        "requests the recorded clients did not send:\n{}",
        unexplained.join("\n")
    );

    // Every request is declared; every declared request is made.
    let mut undeclared = BTreeSet::new();
    let mut used = vec![0u64; calls.len()];
    let mut table: BTreeMap<String, u64> = BTreeMap::new();
    for replica in replicas {
        for (method, uri) in replica.log.requests() {
            let seen = match seen(&method, &uri) {
                Ok(seen) => seen,
                Err(problem) => {
                    undeclared.insert(format!("{}: {problem}", replica.name));
                    continue;
                }
            };
            let Some(scope) = scope_of(&seen, replica.watches_all) else {
                undeclared.insert(format!(
                    "{}: {method} {uri} is outside the operator's scopes",
                    replica.name
                ));
                continue;
            };
            let mut declared = false;
            for (index, call) in calls.iter().enumerate() {
                if allows(call, &names, &seen, scope) {
                    used[index] += 1;
                    declared |= call.is_requested();
                }
            }
            if !declared {
                undeclared.insert(format!(
                    "{}: {method} {uri} = {}/{} {} ({scope:?}, name {:?})",
                    replica.name, seen.group, seen.resource, seen.verb, seen.name
                ));
            }
            *table
                .entry(format!(
                    "{:<20} {:<22} {:<7} {scope:?}",
                    seen.group, seen.resource, seen.verb
                ))
                .or_default() += 1;
        }
    }
    eprintln!("requests of the replicas (group, resource, verb, scope: count):");
    for (row, count) in &table {
        eprintln!("  {row}: {count}");
    }
    let unused: Vec<String> = calls
        .iter()
        .zip(&used)
        .filter(|(call, used)| call.is_requested() && **used == 0)
        .map(|(call, _)| describe(call))
        .collect();
    let requested_admission_only: Vec<String> = calls
        .iter()
        .zip(&used)
        .filter(|(call, used)| !call.is_requested() && **used > 0)
        .map(|(call, _)| describe(call))
        .collect();
    assert!(
        undeclared.is_empty() && unused.is_empty() && requested_admission_only.is_empty(),
        "requests not declared in API_CALLS:\n{}\n\ndeclared calls never requested:\n{}\n\n\
         declared as required by admission only, but requested:\n{}",
        undeclared.into_iter().collect::<Vec<_>>().join("\n"),
        unused.join("\n"),
        requested_admission_only.join("\n"),
    );
    // The list holds every component of this process and no certificate manager calls.
    assert!(calls.iter().all(|call| call.scope != Scope::Operator));
}
