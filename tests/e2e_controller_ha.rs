//! End to end: the controller with leader election, several replicas on one Lease, in-process
//! and as the real binary, against an API server (the harness, or a real one through
//! `LOCUST_E2E_KUBECONFIG`), driven only through the Kubernetes API:
//!
//! - one leader at a time; only it reconciles (one `Created` event, children with one owner);
//!   a standby is ready, the leader once its caches are synced;
//! - failover on a clean stop (the lease is released: a standby leads within a retry period or
//!   two) and on a crash (only after the lease duration), the new leader finishing a test in
//!   progress; a new leader whose child caches list slowly still reconciles the tests it finds;
//! - dropping the future running the controller ends its leader election (a crashed replica
//!   does not keep the lease);
//! - a leader that cannot renew steps down before the lease can expire and writes nothing
//!   until it holds the lease again (harness fault injection);
//! - `locust-operator run` itself: probes, metrics, reconciling, a standby replica, SIGTERM;
//! - reconcile error metrics carry bounded labels (harness fault injection).
//!
//! Every wait is bounded; "must not happen" checks watch a window well inside what the
//! algorithm guarantees. Lease timings are [`operator::fast_timings`] (3 s, 2 s, 250 ms).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/binary.rs"]
mod binary;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/logs.rs"]
mod logs;
#[path = "support/objects.rs"]
mod objects;
#[path = "support/operator.rs"]
mod operator;
#[path = "support/scenario.rs"]
mod scenario;
#[path = "support/test_status.rs"]
mod test_status;

use std::time::Duration;

use binary::{Binary, binary_dir};
use e2e::{poll, random_suffix, request};
use hyper::Method;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::PostParams;
use locust_operator::controller::{Leadership, State};
use memory_apiserver::Filter;
use objects::{Children, TestNamespace, metric};
use operator::{Operator, Options, OwnRuntimeOperator, fast_timings};
use scenario::Scenario;
use serde_json::{Value, json};
use test_status::{condition, phase};
use tokio::time::{Instant, sleep};

/// Upper bound of one wait for the operator to act.
const WAIT: Duration = Duration::from_secs(20);
/// Pause between two samples of a "must hold for a while" check.
const SAMPLE: Duration = Duration::from_millis(20);

// ---------------------------------------------------------------------------------------------
// Helpers

/// Logs of the in-process operators (`RUST_LOG`, default warnings without the client's
/// per-request errors, which the fault injection makes many of), shown for failed tests.
fn init_logs() {
    logs::init("warn,kube_client::client::builder=off");
}

/// A Lease name of its own for each test.
fn lease_name() -> String {
    format!("locust-operator-{}", random_suffix(6))
}

/// An identity unique to this test run.
fn identity(replica: &str) -> String {
    format!("{replica}_{}", random_suffix(8))
}

/// [`Options::new`] with leader election on `lease` in `namespace` (the test's).
fn elected(namespace: &str, lease: &str, identity: &str) -> Options {
    let mut options = Options::new();
    options.leadership = Some(Leadership {
        namespace: namespace.to_owned(),
        name: lease.to_owned(),
        identity: identity.to_owned(),
        timings: fast_timings(),
    });
    options
}

/// Fails when any child of the test exists.
async fn assert_no_children(place: &TestNamespace, name: &str) {
    let master = format!("{name}-master");
    let worker = format!("{name}-worker");
    let service = request("get Service", place.api::<Service>().get_opt(&master))
        .await
        .unwrap();
    let jobs = place.api::<Job>();
    let master_job = request("get Job", jobs.get_opt(&master)).await.unwrap();
    let worker_job = request("get Job", jobs.get_opt(&worker)).await.unwrap();
    assert!(
        service.is_none() && master_job.is_none() && worker_job.is_none(),
        "{name} has children although no replica leads: service {} master {} worker {}",
        service.is_some(),
        master_job.is_some(),
        worker_job.is_some()
    );
}

/// Asserts that every child has exactly one owner reference, the test (as controller).
fn assert_owned_once(children: &Children, test_uid: &str) {
    for (kind, meta) in children.metas() {
        let what = format!("{kind} {}", meta.name.as_deref().unwrap_or_default());
        let owners = meta.owner_references.clone().unwrap_or_default();
        assert_eq!(owners.len(), 1, "{what} owners: {owners:?}");
        assert_eq!(owners[0].uid, test_uid, "{what} owner: {owners:?}");
        assert_eq!(owners[0].kind, "LocustTest", "{what} owner: {owners:?}");
        assert_eq!(owners[0].controller, Some(true), "{what} owner: {owners:?}");
    }
}

/// Waits until the test's status has `phase` and `Ready=True`; returns the status.
async fn wait_for_phase(place: &TestNamespace, name: &str, expected: &str) -> Value {
    let test = place
        .wait_for(name, &format!("{expected}, Ready=True"), |t| {
            let ready = condition(t, "Ready").is_some_and(|c| c["status"] == "True");
            phase(t) == expected && ready
        })
        .await;
    test["status"].clone()
}

/// The `Created` events (events.k8s.io) about the test.
async fn created_events(place: &TestNamespace, name: &str) -> Result<Vec<Event>, String> {
    Ok(place
        .try_events(name)
        .await?
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("Created"))
        .collect())
}

/// Waits for the `Created` event, lets duplicates (if any) arrive, and asserts there is exactly
/// one, never repeated (kube's recorder turns a repeat into a series).
async fn assert_created_once(place: &TestNamespace, name: &str) {
    poll(&format!("the Created event of {name}"), WAIT, || async {
        let events = created_events(place, name).await?;
        if events.is_empty() {
            Err("none yet".to_owned())
        } else {
            Ok(())
        }
    })
    .await;
    sleep(Duration::from_millis(500)).await;
    let events = created_events(place, name).await.unwrap();
    assert_eq!(events.len(), 1, "Created events of {name}: {events:#?}");
    assert!(
        events[0].series.is_none(),
        "the Created event of {name} was repeated: {:?}",
        events[0].series
    );
}

/// All reconciles counted by `controller_runtime_reconcile_total`, whatever their result.
fn reconciles(text: &str) -> f64 {
    ["success", "error", "requeue", "requeue_after"]
        .iter()
        .map(|result| {
            metric(
                text,
                &format!(
                    "controller_runtime_reconcile_total{{controller=\"locusttest\",result=\"{result}\"}}"
                ),
            )
            .unwrap_or_else(|| panic!("no reconcile_total series for {result}:\n{text}"))
        })
        .sum()
}

fn leader_gauge(text: &str) -> f64 {
    metric(text, "locust_operator_leader")
        .unwrap_or_else(|| panic!("no locust_operator_leader:\n{text}"))
}

fn tests_in_phase(text: &str, phase: &str) -> f64 {
    metric(text, &format!("locust_operator_tests{{phase=\"{phase}\"}}"))
        .unwrap_or_else(|| panic!("no locust_operator_tests for {phase}:\n{text}"))
}

async fn lease_spec(place: &TestNamespace, name: &str) -> Result<LeaseSpec, String> {
    let leases: Api<Lease> = place.api();
    let lease = request("get Lease", leases.get(name)).await?;
    Ok(lease.spec.unwrap_or_default())
}

fn holder(spec: &LeaseSpec) -> &str {
    spec.holder_identity.as_deref().unwrap_or_default()
}

/// How a separate operator process would connect: a configuration for a client of its own.
async fn process_config(s: &Scenario) -> kube::Config {
    match s.harness() {
        Some(harness) => {
            let mut config = kube::Config::new(harness.url().parse().unwrap());
            config.default_namespace = "default".into();
            config.read_timeout = None;
            config
        }
        None => {
            let path = e2e::kubeconfig_path().expect("the real cluster's kubeconfig");
            let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .unwrap()
        }
    }
}

/// Waits until exactly one of `states` leads; returns its index.
async fn wait_for_one_leader(states: &[&State]) -> usize {
    poll("exactly one replica to lead", WAIT, || async {
        let leading: Vec<usize> = states
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_leading())
            .map(|(i, _)| i)
            .collect();
        match leading[..] {
            [one] => Ok(one),
            _ => Err(format!("leading: {leading:?}")),
        }
    })
    .await
}

/// Waits until `state` leads with synced caches, and checks that it is ready then.
async fn wait_for_synced_leader(state: &State) {
    poll("the leader's caches to sync", WAIT, || async {
        if state.is_leading() && state.caches_synced() {
            Ok(())
        } else {
            Err(format!(
                "leading {} synced {}",
                state.is_leading(),
                state.caches_synced()
            ))
        }
    })
    .await;
    assert!(state.ready(), "a leader with synced caches is ready");
}

/// Samples `states` for `window`: only `leader` leads, and every replica stays ready.
async fn assert_sole_leader_for(states: &[&State], leader: usize, window: Duration) {
    let end = Instant::now() + window;
    let mut samples = 0;
    while Instant::now() < end {
        for (i, state) in states.iter().enumerate() {
            assert_eq!(
                state.is_leading(),
                i == leader,
                "replica {i} leading {} after {samples} samples (replica {leader} leads)",
                state.is_leading()
            );
            assert!(
                state.ready(),
                "replica {i} not ready after {samples} samples (leading {}, synced {})",
                state.is_leading(),
                state.caches_synced()
            );
        }
        samples += 1;
        sleep(SAMPLE).await;
    }
}

// ---------------------------------------------------------------------------------------------
// In-process replicas

#[tokio::test]
async fn two_replicas_elect_one_leader_which_alone_reconciles() {
    init_logs();
    Scenario::run_without_operator(async |s| {
        let lease = lease_name();
        let ids = [identity("replica-a"), identity("replica-b")];
        let a = Operator::start(
            s.client().clone(),
            s.namespace(),
            elected(s.namespace(), &lease, &ids[0]),
        );
        let b = Operator::start(
            s.client().clone(),
            s.namespace(),
            elected(s.namespace(), &lease, &ids[1]),
        );
        let states = [&*a.state, &*b.state];
        let ops = [&a, &b];
        let leader = wait_for_one_leader(&states).await;
        let standby = 1 - leader;
        assert!(states[standby].ready(), "a standby is ready");
        wait_for_synced_leader(states[leader]).await;
        assert_sole_leader_for(&states, leader, Duration::from_secs(2)).await;
        assert_eq!(holder(&lease_spec(s, &lease).await.unwrap()), ids[leader]);
        assert_eq!(leader_gauge(&ops[leader].metrics_text()), 1.0);
        assert_eq!(leader_gauge(&ops[standby].metrics_text()), 0.0);

        let uid = s.create("ha-once", 1).await;
        let kids = s.children("ha-once").await;
        wait_for_phase(s, "ha-once", "Pending").await;
        assert_created_once(s, "ha-once").await;
        assert_owned_once(&kids, &uid);
        assert_sole_leader_for(&states, leader, Duration::from_millis(200)).await;

        let leader_text = ops[leader].metrics_text();
        let standby_text = ops[standby].metrics_text();
        assert!(reconciles(&leader_text) >= 1.0, "{leader_text}");
        assert_eq!(
            reconciles(&standby_text),
            0.0,
            "the standby reconciled:\n{standby_text}"
        );
        poll("the leader to count the test", WAIT, || async {
            let text = ops[leader].metrics_text();
            match tests_in_phase(&text, "Pending") {
                1.0 => Ok(()),
                n => Err(n),
            }
        })
        .await;
        assert_eq!(tests_in_phase(&standby_text, "Pending"), 0.0);
        a.stop().await;
        b.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_clean_stop_hands_over_at_once_and_the_new_leader_finishes_the_test() {
    init_logs();
    Scenario::run_without_operator(async |s| {
        let lease = lease_name();
        let ids = [identity("replica-a"), identity("replica-b")];
        let a = Operator::start(
            s.client().clone(),
            s.namespace(),
            elected(s.namespace(), &lease, &ids[0]),
        );
        let b = Operator::start(
            s.client().clone(),
            s.namespace(),
            elected(s.namespace(), &lease, &ids[1]),
        );
        let leader = wait_for_one_leader(&[&a.state, &b.state]).await;
        let (old, new) = if leader == 0 { (a, b) } else { (b, a) };
        let (old_id, new_id) = (&ids[leader], &ids[1 - leader]);
        wait_for_synced_leader(&old.state).await;

        s.create("ha-handover", 1).await;
        let before = s.children("ha-handover").await.uids();
        let (master, _) = s.run_to_running("ha-handover", 1).await;

        let stopping = Instant::now();
        old.stop().await;
        let stopped_in = stopping.elapsed();
        poll("the standby to lead", WAIT, || async {
            if new.state.is_leading() {
                Ok(())
            } else {
                Err("standby")
            }
        })
        .await;
        let handover = stopping.elapsed();
        println!("clean stop took {stopped_in:?}; the standby led {handover:?} after the stop began");
        let timings = fast_timings();
        assert!(
            handover < timings.lease_duration / 2,
            "a released lease is taken within a retry period or two ({:?}), not after the lease duration ({:?}): took {handover:?}",
            timings.retry_period,
            timings.lease_duration
        );
        let spec = lease_spec(s, &lease).await.unwrap();
        assert_eq!(holder(&spec), new_id.as_str(), "{spec:?}");
        assert_ne!(holder(&spec), old_id.as_str());

        // The new leader picks up the test where the old one left it.
        s.finish_master("ha-handover", &master).await;
        let status = wait_for_phase(s, "ha-handover", "Succeeded").await;
        assert!(status["completionTime"].is_string(), "{status}");
        assert_eq!(
            s.try_children("ha-handover").await.unwrap().uids(),
            before,
            "children were recreated"
        );
        assert_created_once(s, "ha-handover").await;
        new.stop().await;
        let spec = lease_spec(s, &lease).await.unwrap();
        assert_eq!(
            holder(&spec),
            "",
            "the last leader released the lease: {spec:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_crashed_leader_is_replaced_only_after_the_lease_duration() {
    init_logs();
    Scenario::run_without_operator(async |s| {
        let lease = lease_name();
        let ids = [identity("replica-a"), identity("replica-b")];
        let a = OwnRuntimeOperator::start(
            process_config(s).await,
            s.namespace(),
            elected(s.namespace(), &lease, &ids[0]),
        );
        let b = OwnRuntimeOperator::start(
            process_config(s).await,
            s.namespace(),
            elected(s.namespace(), &lease, &ids[1]),
        );
        let leader = wait_for_one_leader(&[a.state(), b.state()]).await;
        let (old, new) = if leader == 0 { (a, b) } else { (b, a) };
        wait_for_synced_leader(old.state()).await;
        s.create("ha-crash", 1).await;
        s.children("ha-crash").await;
        let (master, _) = s.run_to_running("ha-crash", 1).await;
        let transitions = lease_spec(s, &lease).await.unwrap().lease_transitions;

        let crashed = Instant::now();
        old.crash();
        // The test finishes while nobody leads: nothing may be written until the standby
        // takes over.
        s.finish_master("ha-crash", &master).await;
        let timings = fast_timings();
        // The last renewal was at most a retry period before the crash.
        let quiet = timings.lease_duration - timings.retry_period * 2;
        while crashed.elapsed() < quiet {
            assert!(
                !new.state().is_leading(),
                "the standby led {:?} after the crash, before the lease ({:?}) expired",
                crashed.elapsed(),
                timings.lease_duration
            );
            assert!(new.state().ready(), "a standby is ready");
            sleep(SAMPLE).await;
        }
        assert_eq!(s.get("ha-crash").await["status"]["phase"], "Running");
        poll("the standby to take over", WAIT, || async {
            if new.state().is_leading() {
                Ok(())
            } else {
                Err("standby")
            }
        })
        .await;
        let takeover = crashed.elapsed();
        println!("the standby took over {takeover:?} after the crash");
        assert!(
            takeover < timings.lease_duration + Duration::from_secs(2),
            "took {takeover:?}"
        );
        let spec = lease_spec(s, &lease).await.unwrap();
        assert_eq!(holder(&spec), ids[1 - leader], "{spec:?}");
        assert_eq!(
            spec.lease_transitions,
            transitions.map(|t| t + 1),
            "{spec:?}"
        );
        wait_for_phase(s, "ha-crash", "Succeeded").await;
        assert_created_once(s, "ha-crash").await;
        new.stop().await;
    })
    .await;
}

/// A new leader finds tests in progress. Their first reconciles start as soon as the
/// LocustTest cache is filled and wait there for the child caches; those must still finish
/// when the child caches fill later (here: the Job list answers 1 s late), or the tests are
/// never reconciled again by this leader.
#[tokio::test]
async fn a_new_leader_reconciles_existing_tests_while_its_child_caches_still_list() {
    init_logs();
    Scenario::run_without_operator(async |s| {
        let Some(harness) = s.harness() else {
            eprintln!("skipped: slow lists need the harness");
            return;
        };
        let lease = lease_name();
        let uid = s.create("ha-existing", 1).await;
        let slow_jobs = Filter {
            method: Some(Method::GET),
            path_contains: Some(format!("/namespaces/{}/jobs", s.namespace())),
        };
        harness.faults().delay(slow_jobs, Duration::from_secs(1));
        s.start_operator(elected(s.namespace(), &lease, &identity("slow")));
        poll("the replica to lead", WAIT, || async {
            if s.state().is_leading() {
                Ok(())
            } else {
                Err("not leading")
            }
        })
        .await;
        // While the Job list is still on its way, something the operator watches changes
        // (as pods of running tests do during a failover).
        sleep(Duration::from_millis(300)).await;
        let unrelated: Service = serde_json::from_value(json!({
            "metadata": {"name": "unrelated", "labels": {
                "managed-by": "locust-k8s-operator",
                "performance-test-name": "unrelated"
            }},
            "spec": {"ports": [{"port": 80}]}
        }))
        .unwrap();
        request(
            "create Service",
            s.api::<Service>()
                .create(&PostParams::default(), &unrelated),
        )
        .await
        .unwrap();
        wait_for_synced_leader(&s.state()).await;
        harness.faults().clear();
        let found = poll(
            "the existing test's children",
            Duration::from_secs(10),
            || async {
                s.try_children("ha-existing").await.map_err(|e| {
                    let text = s.metrics_text();
                    format!(
                        "{e}; active workers {:?}, reconciles {}",
                        metric(
                            &text,
                            "controller_runtime_active_workers{controller=\"locusttest\"}"
                        ),
                        reconciles(&text)
                    )
                })
            },
        )
        .await;
        assert_owned_once(&found, &uid);
        wait_for_phase(s, "ha-existing", "Pending").await;
    })
    .await;
}

/// `Operator::kill` aborts the task running `controller::run`; the leader election that `run`
/// started must end with it, or a replica whose controller is gone keeps the lease forever.
#[tokio::test]
async fn dropping_the_controller_future_ends_its_leader_election() {
    init_logs();
    Scenario::run_without_operator(async |s| {
        let lease = lease_name();
        s.start_operator(elected(s.namespace(), &lease, &identity("killed")));
        wait_for_one_leader(&[&s.state()]).await;
        s.kill_operator();
        // In-flight requests settle.
        sleep(Duration::from_millis(500)).await;
        let first = lease_spec(s, &lease).await.unwrap();
        sleep(fast_timings().retry_period * 6).await;
        let second = lease_spec(s, &lease).await.unwrap();
        assert_eq!(
            first.renew_time, second.renew_time,
            "the lease is still renewed after the future running controller::run was dropped: \
             the leader-election task it spawned outlives it, so no standby can ever take over"
        );
    })
    .await;
}

#[tokio::test]
async fn a_leader_that_cannot_renew_stops_reconciling_until_it_holds_the_lease_again() {
    init_logs();
    Scenario::run_without_operator(async |s| {
        let Some(harness) = s.harness() else {
            eprintln!("skipped: lease faults need the harness");
            return;
        };
        let lease = lease_name();
        s.start_operator(elected(s.namespace(), &lease, &identity("only")));
        wait_for_synced_leader(&s.state()).await;
        s.create("ha-before", 1).await;
        s.children("ha-before").await;
        wait_for_phase(s, "ha-before", "Pending").await;

        // Every request on the Lease fails, for longer than the renew deadline.
        let timings = fast_timings();
        let faults = harness.faults();
        let lease_requests = Filter {
            method: None,
            path_contains: Some(format!("/leases/{lease}")),
        };
        let injected = Instant::now();
        faults.fail_next(lease_requests, 1_000_000, 500);
        poll("the leader to step down", WAIT, || async {
            if s.state().is_leading() {
                Err("leading")
            } else {
                Ok(())
            }
        })
        .await;
        let stepped_down = injected.elapsed();
        println!("stepped down {stepped_down:?} after the lease API started failing");
        assert!(
            stepped_down < timings.lease_duration,
            "a leader that cannot renew must stop before the lease ({:?}) can expire for the others; took {stepped_down:?}",
            timings.lease_duration
        );
        assert!(
            stepped_down + Duration::from_millis(100) >= timings.renew_deadline - timings.retry_period * 2,
            "stepped down after {stepped_down:?}, well before the renew deadline {:?}",
            timings.renew_deadline
        );
        let text = s.metrics_text();
        assert_eq!(leader_gauge(&text), 0.0, "{text}");
        assert_eq!(tests_in_phase(&text, "Pending"), 0.0, "{text}");
        assert!(s.state().ready(), "a replica that does not lead is ready");
        let counted = reconciles(&text);

        // Nothing is written while it does not hold the lease.
        s.create("ha-during", 1).await;
        let window = Instant::now();
        while window.elapsed() < Duration::from_millis(1500) {
            assert!(!s.state().is_leading(), "led again while the lease API fails");
            sleep(Duration::from_millis(100)).await;
        }
        assert_no_children(s, "ha-during").await;
        assert_eq!(s.get("ha-during").await["status"], Value::Null);
        assert_eq!(reconciles(&s.metrics_text()), counted, "reconciled without the lease");

        faults.clear();
        poll("the replica to lead again", WAIT, || async {
            if s.state().is_leading() {
                Ok(())
            } else {
                Err("not leading")
            }
        })
        .await;
        s.children("ha-during").await;
        wait_for_phase(s, "ha-during", "Pending").await;
        assert_eq!(leader_gauge(&s.metrics_text()), 1.0);
        assert_created_once(s, "ha-before").await;
        assert_created_once(s, "ha-during").await;
    })
    .await;
}

#[tokio::test]
async fn reconcile_error_metrics_have_bounded_labels() {
    init_logs();
    Scenario::run_without_operator(async |s| {
        let Some(harness) = s.harness() else {
            eprintln!("skipped: API faults need the harness");
            return;
        };
        harness.faults().fail_next(
            Filter {
                method: Some(Method::POST),
                path_contains: Some(format!("/namespaces/{}/jobs", s.namespace())),
            },
            2,
            500,
        );
        s.start_operator(Options::new());
        s.create("ha-errors", 1).await;
        s.children("ha-errors").await;
        wait_for_phase(s, "ha-errors", "Pending").await;
        assert_eq!(harness.faults().injected(), 2);
        let text = s.metrics_text();
        let by_kind = metric(
            &text,
            "locust_operator_reconcile_errors_by_kind_total{controller=\"locusttest\",kind=\"create_child\"}",
        );
        assert!(by_kind.is_some_and(|n| n >= 2.0), "{text}");
        let errors = metric(
            &text,
            "controller_runtime_reconcile_errors_total{controller=\"locusttest\"}",
        );
        assert!(errors.is_some_and(|n| n >= 2.0), "{text}");
        assert_bounded_labels(&text);
    })
    .await;
}

/// Every label value is a short token: no spaces, no error text.
fn assert_bounded_labels(text: &str) {
    let label = regex::Regex::new(r#"(\w+)="((?:[^"\\]|\\.)*)""#).unwrap();
    let token = regex::Regex::new(r"^[A-Za-z0-9_.:+\-/]{1,63}$").unwrap();
    let kinds = [
        "create_child",
        "read_child",
        "record_spec",
        "write_status",
        "conflict",
        "child_owned_by_other",
    ];
    let mut seen = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, labels)) = line.split_once('{') else {
            continue;
        };
        for capture in label.captures_iter(labels) {
            let (name, value) = (&capture[1], &capture[2]);
            seen += 1;
            assert!(
                token.is_match(value),
                "label {name}={value:?} is not a bounded token: {line}"
            );
            for error_text in ["injected", "Internal", "error:", "failed"] {
                assert!(!value.contains(error_text), "error text in a label: {line}");
            }
            if line.starts_with("locust_operator_reconcile_errors_by_kind") && name == "kind" {
                assert!(kinds.contains(&value), "unknown kind {value:?}: {line}");
            }
        }
    }
    assert!(seen > 0, "no labels found:\n{text}");
}

// ---------------------------------------------------------------------------------------------
// The real binary

#[tokio::test]
async fn the_binary_reconciles_serves_probes_and_metrics_and_hands_over_on_sigterm() {
    init_logs();
    let dir = Scenario::run_without_operator(async |s| {
        let (dir, kubeconfig) = binary_dir(s, "binary");
        let lease = lease_name();
        let ns = s.namespace().to_owned();
        let mut a = Binary::start(&dir, &kubeconfig, &ns, &lease, "replica-a").await;
        a.wait_for_leader_gauge(1.0).await;
        a.wait_ready().await;
        let text = a.metrics_text().await.unwrap();
        for series in [
            "controller_runtime_reconcile_total{controller=\"locusttest\",result=\"success\"}",
            "controller_runtime_reconcile_errors_total{controller=\"locusttest\"}",
            "controller_runtime_active_workers{controller=\"locusttest\"}",
            "controller_runtime_max_concurrent_reconciles{controller=\"locusttest\"}",
            "locust_operator_leader",
            "locust_operator_tests{phase=\"Pending\"}",
            "locust_operator_tests{phase=\"Running\"}",
            "locust_operator_tests{phase=\"Succeeded\"}",
            "locust_operator_tests{phase=\"Failed\"}",
        ] {
            assert!(metric(&text, series).is_some(), "no {series}:\n{text}");
        }
        assert_eq!(
            metric(
                &text,
                "controller_runtime_max_concurrent_reconciles{controller=\"locusttest\"}"
            ),
            Some(16.0)
        );
        assert_bounded_labels(&text);
        let spec = lease_spec(s, &lease).await.unwrap();
        assert!(holder(&spec).starts_with("replica-a_"), "{spec:?}");

        let uid = s.create("ha-binary", 1).await;
        let kids = s.children("ha-binary").await;
        assert_owned_once(&kids, &uid);
        wait_for_phase(s, "ha-binary", "Pending").await;
        assert_created_once(s, "ha-binary").await;
        let text = poll("the binary to count the test", WAIT, || async {
            let text = a.metrics_text().await?;
            match tests_in_phase(&text, "Pending") {
                1.0 => Ok(text),
                n => Err(format!("{n}")),
            }
        })
        .await;
        assert!(reconciles(&text) >= 1.0, "{text}");
        assert!(
            text.contains("controller_runtime_reconcile_time_seconds_bucket{"),
            "{text}"
        );
        assert_bounded_labels(&text);

        // A second replica on the same lease: a ready standby.
        let mut b = Binary::start(&dir, &kubeconfig, &ns, &lease, "replica-b").await;
        // The controller metrics are registered once the API server has been reached.
        b.wait_for_leader_gauge(0.0).await;
        b.wait_ready().await;
        let end = Instant::now() + Duration::from_secs(1);
        while Instant::now() < end {
            let text = b.metrics_text().await.unwrap();
            assert_eq!(leader_gauge(&text), 0.0, "replica-b leads:\n{text}");
            assert_eq!(tests_in_phase(&text, "Pending"), 0.0, "{text}");
            assert_eq!(reconciles(&text), 0.0, "the standby reconciled:\n{text}");
            let (status, body) = b.readyz().await.unwrap();
            assert_eq!(status, 200, "standby /readyz: {body}");
            sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(leader_gauge(&a.metrics_text().await.unwrap()), 1.0);

        // SIGTERM: the leader exits 0, releasing the lease; the standby takes over at once.
        let terminated = Instant::now();
        a.sigterm();
        let exit = a.wait_exit(Duration::from_secs(5)).await;
        assert_eq!(exit.code(), Some(0), "replica-a:\n{}", a.log_text());
        println!("replica-a exited {:?} after SIGTERM", terminated.elapsed());
        assert!(
            a.log_text().contains("released the lease"),
            "{}",
            a.log_text()
        );
        b.wait_for_leader_gauge(1.0).await;
        let handover = terminated.elapsed();
        println!("replica-b led {handover:?} after replica-a's SIGTERM");
        assert!(handover < Duration::from_secs(3), "took {handover:?}");
        let spec = lease_spec(s, &lease).await.unwrap();
        assert!(holder(&spec).starts_with("replica-b_"), "{spec:?}");
        b.wait_ready().await;
        poll("replica-b to count the test", WAIT, || async {
            let text = b.metrics_text().await?;
            match tests_in_phase(&text, "Pending") {
                1.0 => Ok(()),
                n => Err(format!("{n}")),
            }
        })
        .await;

        b.sigterm();
        let exit = b.wait_exit(Duration::from_secs(5)).await;
        assert_eq!(exit.code(), Some(0), "replica-b:\n{}", b.log_text());
        let spec = lease_spec(s, &lease).await.unwrap();
        assert_eq!(holder(&spec), "", "the lease is released: {spec:?}");
        assert_created_once(s, "ha-binary").await;
        assert_eq!(
            s.try_children("ha-binary").await.unwrap().uids(),
            kids.uids()
        );
        dir
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `/readyz` of `locust-operator run` with leader election, sampled every 20 ms from the
/// moment its servers are bound until it leads with synced caches and for a while after:
/// once it answers 200 it never answers anything else (it used to go 200 -> 503 -> 200 as the
/// standby it starts as became leader and synced its caches).
#[tokio::test]
async fn readiness_of_the_binary_goes_up_once_during_start_up() {
    init_logs();
    let dir = Scenario::run_without_operator(async |s| {
        let (dir, kubeconfig) = binary_dir(s, "readyz");
        let lease = lease_name();
        let ns = s.namespace().to_owned();
        if let Some(harness) = s.harness() {
            // As on a real API server, where it was seen: the lease takes a moment to win (the
            // replica starts as a standby), and the caches a moment to sync once it leads.
            let slow = |path: &str, millis| {
                harness.faults().delay(
                    Filter {
                        method: None,
                        path_contains: Some(path.to_owned()),
                    },
                    Duration::from_millis(millis),
                );
            };
            slow("/leases", 300);
            slow("/pods", 600);
        }
        let mut replica = Binary::start(&dir, &kubeconfig, &ns, &lease, "replica-readyz").await;
        let mut samples: Vec<u16> = Vec::new();
        let mut leading_since: Option<Instant> = None;
        // Until it has led (gauge 1) for a second, bounded by the suite's wait limit.
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let status = replica.readyz().await.map_or(0, |(status, _)| status);
            samples.push(status);
            if leading_since.is_none()
                && replica
                    .metrics_text()
                    .await
                    .ok()
                    .and_then(|text| metric(&text, "locust_operator_leader"))
                    == Some(1.0)
            {
                leading_since = Some(Instant::now());
            }
            if leading_since.is_some_and(|at| at.elapsed() > Duration::from_secs(1)) {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
        assert!(leading_since.is_some(), "never led: {}", replica.log_text());
        let first_up = samples
            .iter()
            .position(|s| *s == 200)
            .unwrap_or_else(|| panic!("never ready: {samples:?}"));
        assert!(
            samples[first_up..].iter().all(|s| *s == 200),
            "readiness went down after going up ({} samples): {samples:?}",
            samples.len()
        );
        replica.sigterm();
        let exit = replica.wait_exit(Duration::from_secs(5)).await;
        assert_eq!(exit.code(), Some(0), "{}", replica.log_text());
        dir
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}
