#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Leader election on a Lease (`locust_operator::leader`), against the in-process API server
//! of `crates/memory-apiserver`: acquisition, mutual exclusion, release on shutdown, the renew deadline
//! (failing and hanging API), expiry of a dead holder, foreign holders, and timing validation.
//!
//! Every wait is bounded; "must not happen" checks watch a window well inside the time the
//! algorithm guarantees.

#[path = "support/logs.rs"]
mod logs;

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use locust_operator::leader::{
    LeaderElector, LeaderError, TimingRule, Timings, default_identity, lease_namespace,
};
use memory_apiserver::{ApiServer, Filter};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;

const NAMESPACE: &str = "default";
const LEASE: &str = "locust-operator-leader";

/// Short timings: lease 2s, renew deadline 1.5s, retry 250ms.
fn fast() -> Timings {
    Timings {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(250),
    }
}

fn init_logs() {
    logs::init("locust_operator=debug");
}

/// One running elector.
struct Replica {
    identity: String,
    leader: watch::Receiver<bool>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Replica {
    fn start(server: &ApiServer, name: &str, timings: Timings) -> Self {
        let identity = format!("{name}-{}", default_identity());
        let elector = LeaderElector::new(
            server.client().unwrap(),
            NAMESPACE,
            LEASE,
            identity.clone(),
            timings,
        )
        .unwrap();
        assert_eq!(elector.identity(), identity);
        let (sender, leader) = watch::channel(false);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(elector.run(sender, shutdown.clone()));
        Self {
            identity,
            leader,
            shutdown,
            task,
        }
    }

    fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Waits (at most `within`) until the published value is `value`; returns how long it took.
    async fn wait_for(&mut self, value: bool, within: Duration) -> Duration {
        let started = Instant::now();
        timeout(within, self.leader.wait_for(|v| *v == value))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} did not publish {value} within {within:?}",
                    self.identity
                )
            })
            .expect("the elector is running");
        started.elapsed()
    }

    /// Asserts that the published value stays `value` for `window`.
    async fn stays(&mut self, value: bool, window: Duration) {
        let changed = timeout(window, self.leader.wait_for(|v| *v != value)).await;
        assert!(
            changed.is_err(),
            "{} published {} within {window:?}",
            self.identity,
            !value
        );
    }

    /// Cancels and waits for `run` to return (it releases the lease first).
    async fn stop(self) -> watch::Receiver<bool> {
        self.shutdown.cancel();
        timeout(Duration::from_secs(10), self.task)
            .await
            .expect("run returns after cancellation")
            .expect("run does not panic");
        self.leader
    }
}

async fn start_server() -> ApiServer {
    init_logs();
    ApiServer::start().await.unwrap()
}

fn leases(server: &ApiServer) -> Api<Lease> {
    Api::namespaced(server.client().unwrap(), NAMESPACE)
}

async fn read_spec(server: &ApiServer) -> LeaseSpec {
    leases(server).get(LEASE).await.unwrap().spec.unwrap()
}

/// Waits until exactly one of `replicas` leads; returns its index.
async fn wait_for_one_leader(replicas: &[&Replica], within: Duration) -> usize {
    timeout(within, async {
        loop {
            let leading: Vec<usize> = replicas
                .iter()
                .enumerate()
                .filter(|(_, r)| r.is_leader())
                .map(|(i, _)| i)
                .collect();
            assert!(leading.len() <= 1, "several leaders: {leading:?}");
            if let [one] = leading.as_slice() {
                return *one;
            }
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no leader within {within:?}"))
}

fn holder(spec: &LeaseSpec) -> &str {
    spec.holder_identity.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn a_single_elector_becomes_leader_and_renews() {
    let server = start_server().await;
    let mut replica = Replica::start(&server, "solo", fast());
    replica.wait_for(true, Duration::from_secs(5)).await;

    let lease = leases(&server).get(LEASE).await.unwrap();
    let spec = lease.spec.clone().unwrap();
    assert_eq!(holder(&spec), replica.identity);
    assert_eq!(spec.lease_duration_seconds, Some(2));
    assert_eq!(spec.lease_transitions, Some(0));
    let acquired = spec.acquire_time.clone().expect("acquireTime");
    let renewed = spec.renew_time.clone().expect("renewTime");
    assert!(renewed >= acquired);
    let managers: Vec<String> = lease
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.iter().any(|m| m == "locust-operator"),
        "field manager: {managers:?}"
    );

    // It keeps renewing: renewTime moves on, acquireTime and the transitions stay.
    let renewed_again = timeout(Duration::from_secs(5), async {
        loop {
            let spec = read_spec(&server).await;
            if spec.renew_time.as_ref().is_some_and(|t| *t > renewed) {
                return spec;
            }
            sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the leader renews");
    assert_eq!(holder(&renewed_again), replica.identity);
    assert_eq!(renewed_again.acquire_time, Some(acquired));
    assert_eq!(renewed_again.lease_transitions, Some(0));
    assert!(replica.is_leader());
    replica.stop().await;
}

#[tokio::test]
async fn two_electors_never_lead_at_the_same_time() {
    let server = start_server().await;
    let a = Replica::start(&server, "a", fast());
    let b = Replica::start(&server, "b", fast());
    let (mut ra, mut rb) = (a.leader.clone(), b.leader.clone());

    // Check the pair after every published change, for 3 seconds.
    let mut someone_led = false;
    let window = sleep(Duration::from_secs(3));
    tokio::pin!(window);
    loop {
        let both = *ra.borrow_and_update() && *rb.borrow_and_update();
        assert!(!both, "both replicas lead");
        someone_led |= *ra.borrow() || *rb.borrow();
        tokio::select! {
            () = &mut window => break,
            changed = ra.changed() => changed.unwrap(),
            changed = rb.changed() => changed.unwrap(),
        }
    }
    assert!(someone_led, "nobody became leader within 3s");
    let leading = wait_for_one_leader(&[&a, &b], Duration::from_secs(1)).await;
    let (leader, standby) = if leading == 0 { (&a, &b) } else { (&b, &a) };
    assert!(!standby.is_leader());
    let spec = read_spec(&server).await;
    assert_eq!(holder(&spec), leader.identity);
    assert_eq!(spec.lease_transitions, Some(0));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn shutdown_releases_the_lease() {
    let server = start_server().await;
    let mut replica = Replica::start(&server, "solo", fast());
    replica.wait_for(true, Duration::from_secs(5)).await;
    let before = read_spec(&server).await;

    let leader = replica.stop().await;
    assert!(!*leader.borrow(), "false is published on shutdown");
    let after = read_spec(&server).await;
    assert_eq!(holder(&after), "", "the holder is cleared");
    assert_eq!(after.lease_duration_seconds, Some(1));
    assert_eq!(after.acquire_time, before.acquire_time);
    assert_eq!(after.lease_transitions, before.lease_transitions);
    assert!(after.renew_time > before.renew_time);
}

#[tokio::test]
async fn a_standby_takes_over_a_released_lease_within_a_few_retry_periods() {
    let server = start_server().await;
    // A long lease duration: a takeover well before it proves the lease was released (rather
    // than expired).
    let timings = Timings {
        lease_duration: Duration::from_secs(10),
        ..fast()
    };
    let a = Replica::start(&server, "a", timings);
    let b = Replica::start(&server, "b", timings);
    let leading = wait_for_one_leader(&[&a, &b], Duration::from_secs(10)).await;
    let (leader, mut standby) = if leading == 0 { (a, b) } else { (b, a) };
    let before = read_spec(&server).await;
    assert_eq!(holder(&before), leader.identity);
    let transitions = before.lease_transitions.unwrap();

    let cancelled = Instant::now();
    let old = leader.stop().await;
    assert!(!*old.borrow());
    standby.wait_for(true, Duration::from_secs(5)).await;
    let took = cancelled.elapsed();
    assert!(
        took < timings.lease_duration / 2,
        "took {took:?}, not a release"
    );
    let after = read_spec(&server).await;
    assert_eq!(holder(&after), standby.identity);
    assert_eq!(after.lease_transitions, Some(transitions + 1));
    assert_eq!(after.lease_duration_seconds, Some(10));
    assert!(after.acquire_time > before.acquire_time);
    standby.stop().await;
}

#[tokio::test]
async fn a_leader_that_cannot_renew_steps_down_within_the_renew_deadline() {
    let server = start_server().await;
    let timings = fast();
    let a = Replica::start(&server, "a", timings);
    let b = Replica::start(&server, "b", timings);
    let leading = wait_for_one_leader(&[&a, &b], Duration::from_secs(10)).await;
    let (mut leader, standby) = if leading == 0 { (a, b) } else { (b, a) };

    // Every Lease request (reads and writes) fails until cleared.
    let all_leases = Filter {
        method: None,
        path_contains: Some("/leases".into()),
    };
    server.faults().fail_next(all_leases, u32::MAX, 500);
    let took = leader.wait_for(false, Duration::from_secs(10)).await;
    // The last successful round started at most one retry period before the faults.
    assert!(
        took >= timings.renew_deadline - timings.retry_period - Duration::from_millis(100),
        "stepped down after {took:?}, before the renew deadline"
    );
    assert!(
        !standby.is_leader(),
        "nobody can acquire while the API fails"
    );
    assert!(server.faults().injected() > 0);

    server.faults().clear();
    wait_for_one_leader(&[&leader, &standby], Duration::from_secs(15)).await;
    leader.stop().await;
    standby.stop().await;
}

#[tokio::test]
async fn a_leader_whose_requests_hang_steps_down_within_the_renew_deadline() {
    let server = start_server().await;
    let timings = fast();
    let mut replica = Replica::start(&server, "solo", timings);
    replica.wait_for(true, Duration::from_secs(5)).await;

    // Every Lease request hangs for a minute: only the elector's own deadline can end a round.
    let all_leases = Filter {
        method: None,
        path_contains: Some("/leases".into()),
    };
    server.faults().delay(all_leases, Duration::from_secs(60));
    let took = replica.wait_for(false, Duration::from_secs(10)).await;
    assert!(
        took <= timings.renew_deadline + Duration::from_secs(3),
        "took {took:?}"
    );

    server.faults().clear();
    replica.wait_for(true, Duration::from_secs(10)).await;
    let spec = read_spec(&server).await;
    assert_eq!(holder(&spec), replica.identity);
    // The same holder again: not a transition.
    assert_eq!(spec.lease_transitions, Some(0));
    replica.stop().await;
}

#[tokio::test]
async fn a_dead_leader_is_replaced_only_after_the_lease_duration() {
    let server = start_server().await;
    let timings = Timings {
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(3),
        retry_period: Duration::from_millis(250),
    };
    let a = Replica::start(&server, "a", timings);
    let b = Replica::start(&server, "b", timings);
    let leading = wait_for_one_leader(&[&a, &b], Duration::from_secs(10)).await;
    let (leader, mut standby) = if leading == 0 { (a, b) } else { (b, a) };
    let transitions = read_spec(&server).await.lease_transitions.unwrap();

    // The leader dies: no release, no more renewals.
    leader.task.abort();
    let died = Instant::now();
    let _ = leader.task.await;

    // The standby last saw the record change at most a retry period (plus a request) before
    // the death, so it waits for about lease_duration: nothing may happen for half of it.
    standby.stays(false, timings.lease_duration / 2).await;
    standby
        .wait_for(true, timings.lease_duration + Duration::from_secs(10))
        .await;
    let took = died.elapsed();
    assert!(
        took >= timings.lease_duration - timings.retry_period * 2,
        "took over after {took:?}, before the lease expired"
    );
    let spec = read_spec(&server).await;
    assert_eq!(holder(&spec), standby.identity);
    assert_eq!(spec.lease_transitions, Some(transitions + 1));
    standby.stop().await;
}

fn foreign_lease(holder: &str, renew: Timestamp, transitions: i32) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(LEASE.into()),
            namespace: Some(NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(2),
            acquire_time: Some(MicroTime(renew)),
            renew_time: Some(MicroTime(renew)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }),
    }
}

#[tokio::test]
async fn a_lease_renewed_by_another_identity_is_respected() {
    let server = start_server().await;
    let api = leases(&server);
    api.create(
        &PostParams::default(),
        &foreign_lease("go-operator-7d9f", Timestamp::now(), 3),
    )
    .await
    .unwrap();
    // The foreign holder renews every 300ms (read, then write with the resourceVersion read).
    let stop_renewing = CancellationToken::new();
    let renewer = tokio::spawn({
        let api = api.clone();
        let stop = stop_renewing.clone();
        async move {
            while !stop.is_cancelled() {
                let mut lease = api.get(LEASE).await.unwrap();
                if let Some(spec) = lease.spec.as_mut() {
                    spec.renew_time = Some(MicroTime(Timestamp::now()));
                }
                lease.metadata.managed_fields = None;
                api.replace(LEASE, &PostParams::default(), &lease)
                    .await
                    .unwrap();
                sleep(Duration::from_millis(300)).await;
            }
        }
    });

    let mut replica = Replica::start(&server, "rust", fast());
    // Twice the lease duration: it never takes a lease that keeps being renewed.
    replica.stays(false, Duration::from_secs(4)).await;
    assert_eq!(holder(&read_spec(&server).await), "go-operator-7d9f");

    stop_renewing.cancel();
    timeout(Duration::from_secs(5), renewer)
        .await
        .unwrap()
        .unwrap();
    let stopped = Instant::now();
    replica.wait_for(true, Duration::from_secs(12)).await;
    assert!(stopped.elapsed() >= Duration::from_millis(1500));
    let spec = read_spec(&server).await;
    assert_eq!(holder(&spec), replica.identity);
    assert_eq!(spec.lease_transitions, Some(4));
    assert_eq!(spec.lease_duration_seconds, Some(2));
    replica.stop().await;
}

#[tokio::test]
async fn an_expired_foreign_lease_is_taken_over_after_the_lease_duration() {
    let server = start_server().await;
    // Renewed an hour ago by a replica that is gone. Only the local observation counts (clock
    // skew): the elector still waits a full lease duration after first seeing it.
    let an_hour_ago = Timestamp::now() - SignedDuration::from_hours(1);
    leases(&server)
        .create(
            &PostParams::default(),
            &foreign_lease("gone", an_hour_ago, 0),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut replica = Replica::start(&server, "rust", fast());
    replica.stays(false, Duration::from_secs(1)).await;
    replica.wait_for(true, Duration::from_secs(12)).await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "took over after {:?}",
        started.elapsed()
    );
    let spec = read_spec(&server).await;
    assert_eq!(holder(&spec), replica.identity);
    assert_eq!(spec.lease_transitions, Some(1));
    assert!(spec.acquire_time.unwrap().0 > an_hour_ago);
    replica.stop().await;
}

#[tokio::test]
async fn timings_are_validated() {
    let defaults = Timings::default();
    assert_eq!(
        defaults,
        Timings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    );
    defaults.validate().unwrap();
    fast().validate().unwrap();

    let cases = [
        (
            Timings {
                renew_deadline: Duration::from_secs(15),
                ..defaults
            },
            TimingRule::RenewDeadlineBelowLeaseDuration,
            "renew_deadline must be shorter than lease_duration",
        ),
        (
            Timings {
                renew_deadline: Duration::from_secs(20),
                ..defaults
            },
            TimingRule::RenewDeadlineBelowLeaseDuration,
            "renew_deadline must be shorter than lease_duration",
        ),
        (
            Timings {
                retry_period: Duration::from_secs(10),
                ..defaults
            },
            TimingRule::RetryPeriodBelowRenewDeadline,
            "retry_period must be shorter than renew_deadline",
        ),
        (
            Timings {
                retry_period: Duration::ZERO,
                ..defaults
            },
            TimingRule::Positive,
            "must be greater than zero",
        ),
    ];
    let server = start_server().await;
    for (timings, rule, text) in cases {
        let error = LeaderElector::new(
            server.client().unwrap(),
            NAMESPACE,
            LEASE,
            "me".into(),
            timings,
        )
        .unwrap_err();
        match &error {
            LeaderError::InvalidTimings {
                rule: got,
                timings: t,
            } => {
                assert_eq!((*got, *t), (rule, timings));
            }
            other => panic!("expected InvalidTimings, got {other:?}"),
        }
        assert!(error.to_string().contains(text), "{error}");
        assert!(matches!(
            timings.validate(),
            Err(LeaderError::InvalidTimings { .. })
        ));
    }

    let new = |namespace: &str, name: &str, identity: &str| {
        LeaderElector::new(
            server.client().unwrap(),
            namespace,
            name,
            identity.into(),
            defaults,
        )
    };
    assert!(matches!(
        new(NAMESPACE, "", "me"),
        Err(LeaderError::EmptyName)
    ));
    assert!(matches!(
        new("", LEASE, "me"),
        Err(LeaderError::EmptyNamespace)
    ));
    assert!(matches!(
        new(NAMESPACE, LEASE, ""),
        Err(LeaderError::EmptyIdentity)
    ));
    assert_eq!(new(NAMESPACE, LEASE, "me").unwrap().identity(), "me");
}

#[test]
fn default_identities_are_unique_and_look_like_client_go_ones() {
    let pattern = regex::Regex::new(r"^[^\s_]+_[0-9a-f]{16}$").unwrap();
    let (one, two) = (default_identity(), default_identity());
    assert!(pattern.is_match(&one), "{one}");
    assert!(pattern.is_match(&two), "{two}");
    assert_ne!(one, two);
}

#[test]
fn an_explicit_lease_namespace_wins() {
    assert_eq!(lease_namespace(Some("ops"), "default"), "ops");
    let fallback = lease_namespace(None, "from-kubeconfig");
    let pod_namespace = std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|n| !n.trim().is_empty());
    let in_cluster =
        std::path::Path::new("/var/run/secrets/kubernetes.io/serviceaccount/namespace").exists();
    if pod_namespace.is_none() && !in_cluster {
        assert_eq!(fallback, "from-kubeconfig");
    }
    assert_eq!(lease_namespace(Some(""), "from-kubeconfig"), fallback);
}
