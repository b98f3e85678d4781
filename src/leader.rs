//! Leader election on a `coordination.k8s.io/v1` Lease.
//!
//! Several replicas of the operator may run at once; only the one holding the Lease
//! reconciles. The algorithm is client-go's `leaderelection` package with a `LeaseLock`, and the
//! record is written in client-go's format (`holderIdentity`, `leaseDurationSeconds`,
//! `acquireTime`, `renewTime`, `leaseTransitions`), so a replica of the Go operator and
//! `kubectl get lease` read it as usual:
//!
//! - A candidate reads the Lease every `retry_period` (plus up to 20% jitter). It takes the
//!   Lease when it is missing (create), free (no holder), or when the record has not changed for
//!   the holder's `leaseDurationSeconds` as observed on *our* clock (client-go's rule: the
//!   holder's `renewTime` is never compared with our wall clock, so clock skew between nodes does
//!   not matter). Writes are a PUT with the resourceVersion just read, so two candidates cannot
//!   both win.
//! - The leader renews every `retry_period`. When no renewal has succeeded for `renew_deadline`
//!   (measured on a monotonic clock from the start of the last successful round, and also when
//!   a request hangs), it stops being leader at once: `false` is published before the Lease can
//!   expire for the other replicas (`renew_deadline < lease_duration`).
//! - On shutdown the leader publishes `false`, then releases the Lease the way client-go's
//!   `ReleaseOnCancel` does (no holder, `leaseDurationSeconds: 1`), so a standby takes over
//!   within one `retry_period` instead of waiting for the Lease to expire.
//!
//! Why this is written by hand rather than taken from the `kube-lease-manager` crate: that
//! crate keeps reporting leadership while its renewals fail (its watch loop backs off on errors
//! with `is_leader` still true), but we must stop reconciling as soon as we can no longer prove
//! that we hold the Lease, which is client-go's renew-deadline behaviour.

use crate::random::random_u64;
use std::fmt;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api_call::{ApiCall, Scope, Target};
pub use crate::names::FIELD_MANAGER;

/// Every API request of leader election, all on the Lease in its namespace, for the RBAC
/// rules of the install manifests ([`crate::rbac`]; tests/rbac.rs records what the operator
/// really calls and compares it with this list): the Lease is read every round (get), created
/// when missing (create: not limited to a name, RBAC does not know it before the object
/// exists), and acquired, renewed and released by a replace (update) with the
/// `resourceVersion` read. Never patched, listed, watched or deleted, and nothing else is
/// touched: get and update are limited to the Lease `--leader-election-id`.
pub const API_CALLS: [ApiCall; 3] = [
    ApiCall::request(
        "coordination.k8s.io",
        "leases",
        "get",
        Scope::Lease,
        Target::Lease,
    ),
    ApiCall::request(
        "coordination.k8s.io",
        "leases",
        "create",
        Scope::Lease,
        Target::Any,
    ),
    ApiCall::request(
        "coordination.k8s.io",
        "leases",
        "update",
        Scope::Lease,
        Target::Lease,
    ),
];

/// The in-cluster file holding the pod's namespace.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// At most one warning per this period while the Lease API keeps failing (the rest go to debug).
const WARN_EVERY: Duration = Duration::from_secs(30);

/// The longest the release on shutdown may take.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long leadership lasts and how often it is renewed (client-go's `LeaderElectionConfig`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// How long the other replicas wait, after they last saw the record change, before they
    /// take the Lease over from a holder that stopped renewing.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal. Shorter than
    /// `lease_duration`, so the leader stops before anybody else can take over.
    pub renew_deadline: Duration,
    /// How often candidates try to acquire, and how often the leader renews. Shorter than
    /// `renew_deadline`.
    pub retry_period: Duration,
}

impl Default for Timings {
    /// client-go's and controller-runtime's defaults: 15s, 10s, 2s.
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl Timings {
    /// Checks the rules client-go enforces: every duration positive,
    /// `renew_deadline < lease_duration` and `retry_period < renew_deadline`.
    pub fn validate(&self) -> Result<(), LeaderError> {
        let rule = if self.lease_duration.is_zero()
            || self.renew_deadline.is_zero()
            || self.retry_period.is_zero()
        {
            TimingRule::Positive
        } else if self.renew_deadline >= self.lease_duration {
            TimingRule::RenewDeadlineBelowLeaseDuration
        } else if self.retry_period >= self.renew_deadline {
            TimingRule::RetryPeriodBelowRenewDeadline
        } else {
            return Ok(());
        };
        Err(LeaderError::InvalidTimings {
            rule,
            timings: *self,
        })
    }

    /// `leaseDurationSeconds` as written to the Lease: whole seconds, rounded up (so the other
    /// replicas never wait less than we assume), at least 1.
    fn lease_duration_seconds(&self) -> i32 {
        let duration = self.lease_duration;
        let seconds = duration
            .as_secs()
            .saturating_add(u64::from(duration.subsec_nanos() > 0));
        i32::try_from(seconds.max(1)).unwrap_or(i32::MAX)
    }
}

/// A rule that [`Timings`] break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingRule {
    /// Every duration must be greater than zero.
    Positive,
    /// `renew_deadline` must be shorter than `lease_duration`.
    RenewDeadlineBelowLeaseDuration,
    /// `retry_period` must be shorter than `renew_deadline`.
    RetryPeriodBelowRenewDeadline,
}

impl fmt::Display for TimingRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Positive => {
                "lease_duration, renew_deadline and retry_period must be greater than zero"
            }
            Self::RenewDeadlineBelowLeaseDuration => {
                "renew_deadline must be shorter than lease_duration"
            }
            Self::RetryPeriodBelowRenewDeadline => {
                "retry_period must be shorter than renew_deadline"
            }
        })
    }
}

/// Why a [`LeaderElector`] cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The timings break a rule.
    #[error(
        "invalid leader election timings: {rule} (lease_duration {:?}, renew_deadline {:?}, retry_period {:?})",
        timings.lease_duration,
        timings.renew_deadline,
        timings.retry_period
    )]
    InvalidTimings {
        /// The rule broken.
        rule: TimingRule,
        /// The timings given.
        timings: Timings,
    },
    /// The Lease name is empty.
    #[error("the leader election lease name is empty")]
    EmptyName,
    /// The Lease namespace is empty.
    #[error("the leader election lease namespace is empty")]
    EmptyNamespace,
    /// The identity is empty (an empty `holderIdentity` means "nobody holds the Lease").
    #[error("the leader election identity is empty")]
    EmptyIdentity,
}

/// Why one round of acquire-or-renew did not end with us holding the Lease.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    /// The API server refused or could not be reached.
    #[error("{}", describe(.0))]
    Api(#[from] kube::Error),
    /// The round did not finish in time.
    #[error("no answer from the API server within {0:?}")]
    TimedOut(Duration),
}

/// The longest error text logged.
const MAX_ERROR_CHARS: usize = 300;

/// A short, bounded description of an API error: `code reason: message` for a `Status`
/// (kube's own text repeats the whole `Status` in debug form).
fn describe(error: &kube::Error) -> String {
    let text = match error {
        kube::Error::Api(status) => {
            format!("{} {}: {}", status.code, status.reason, status.message)
        }
        other => other.to_string(),
    };
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// How a round that reached the API server ended.
#[derive(Debug)]
enum Round {
    /// We hold the Lease (acquired or renewed).
    Holding,
    /// Another identity holds a Lease that has not expired.
    HeldBy(String),
    /// Somebody else wrote the Lease between our read and our write (409).
    Conflict,
}

/// Elects one leader among the replicas that share a Lease.
pub struct LeaderElector {
    leases: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    timings: Timings,
    /// The last record read or written, and when (on our clock) it last changed.
    observed: Option<(LeaseSpec, Instant)>,
}

impl fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaderElector")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("identity", &self.identity)
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

impl LeaderElector {
    /// An elector for the Lease `namespace/name` (created when missing) as `identity`.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: String,
        timings: Timings,
    ) -> Result<Self, LeaderError> {
        timings.validate()?;
        if name.is_empty() {
            return Err(LeaderError::EmptyName);
        }
        if namespace.is_empty() {
            return Err(LeaderError::EmptyNamespace);
        }
        if identity.is_empty() {
            return Err(LeaderError::EmptyIdentity);
        }
        Ok(Self {
            leases: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            identity,
            timings,
            observed: None,
        })
    }

    /// The identity written as `holderIdentity` while we lead.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Runs until `shutdown` is cancelled; publishes every change of leadership on `leader`
    /// (true = we hold the lease).
    ///
    /// Publishes `false` at the start (if needed) and before returning. On shutdown while
    /// leading, releases the Lease (best effort, bounded in time). Never fails: API errors
    /// count as failed rounds and are logged.
    pub async fn run(mut self, leader: watch::Sender<bool>, shutdown: CancellationToken) {
        let publish = |value: bool| {
            leader.send_if_modified(|current| {
                let changed = *current != value;
                *current = value;
                changed
            })
        };
        publish(false);
        tracing::info!(
            namespace = %self.namespace,
            lease = %self.name,
            identity = %self.identity,
            "leader election started"
        );
        let timings = self.timings;
        let mut failures = FailureLog::default();
        // Some(start of the last successful round) while we lead.
        let mut renewed: Option<Instant> = None;
        // Whether a round was cut short by the shutdown (its write may have gone through).
        let mut interrupted = false;
        loop {
            let started = Instant::now();
            let deadline = match renewed {
                Some(at) => after(at, timings.renew_deadline),
                None => after(started, timings.renew_deadline),
            };
            let outcome = tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    interrupted = true;
                    break;
                }
                outcome = tokio::time::timeout_at(deadline, self.try_acquire_or_renew()) => {
                    match outcome {
                        Ok(result) => result.map_err(RoundError::from),
                        Err(_) => Err(RoundError::TimedOut(deadline.saturating_duration_since(started))),
                    }
                }
            };
            match outcome {
                Ok(Round::Holding) => {
                    failures.recovered(&self.name);
                    if renewed.is_none() {
                        tracing::info!(
                            namespace = %self.namespace,
                            lease = %self.name,
                            identity = %self.identity,
                            "became leader"
                        );
                    }
                    renewed = Some(started);
                    publish(true);
                }
                Ok(Round::HeldBy(holder)) => {
                    failures.recovered(&self.name);
                    if renewed.take().is_some() {
                        publish(false);
                        tracing::warn!(
                            namespace = %self.namespace,
                            lease = %self.name,
                            %holder,
                            "lost leadership: the lease is held by another replica"
                        );
                    } else {
                        tracing::trace!(lease = %self.name, %holder, "lease held by another replica");
                    }
                }
                Ok(Round::Conflict) => {
                    failures.recovered(&self.name);
                    tracing::debug!(
                        lease = %self.name,
                        "the lease changed between read and write; retrying"
                    );
                }
                Err(error) => failures.failed(&self.name, &error),
            }
            if let Some(at) = renewed {
                let lost_at = after(at, timings.renew_deadline);
                let next = after(Instant::now(), timings.retry_period).min(lost_at);
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep_until(next) => {}
                }
                if Instant::now() >= lost_at {
                    renewed = None;
                    publish(false);
                    tracing::warn!(
                        namespace = %self.namespace,
                        lease = %self.name,
                        renew_deadline = ?timings.renew_deadline,
                        "lost leadership: the lease was not renewed within the renew deadline"
                    );
                }
            } else {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(jittered(timings.retry_period)) => {}
                }
            }
        }
        let was_leader = renewed.is_some();
        publish(false);
        if was_leader || interrupted {
            self.release().await;
        }
        tracing::info!(lease = %self.name, identity = %self.identity, "leader election stopped");
    }

    /// One round of client-go's `tryAcquireOrRenew`.
    async fn try_acquire_or_renew(&mut self) -> Result<Round, kube::Error> {
        let params = post_params();
        let Some(current) = self.leases.get_opt(&self.name).await? else {
            let now = MicroTime(Timestamp::now());
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(self.timings.lease_duration_seconds()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.leases.create(&params, &lease).await {
                Ok(created) => {
                    self.observe(created.spec.unwrap_or_default());
                    Ok(Round::Holding)
                }
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(Round::Conflict),
                Err(error) => Err(error),
            };
        };
        let record = current.spec.clone().unwrap_or_default();
        let observed_at = self.observe(record.clone());
        let holder = record.holder_identity.as_deref().unwrap_or_default();
        if !holder.is_empty() && holder != self.identity {
            let duration = record
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0)
                .map_or(self.timings.lease_duration, Duration::from_secs);
            if after(observed_at, duration) > Instant::now() {
                return Ok(Round::HeldBy(holder.to_owned()));
            }
        }

        let now = MicroTime(Timestamp::now());
        let same_holder = holder == self.identity;
        let spec = LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.timings.lease_duration_seconds()),
            acquire_time: if same_holder {
                record.acquire_time.clone().or_else(|| Some(now.clone()))
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if same_holder {
                record.lease_transitions.unwrap_or(0)
            } else {
                record.lease_transitions.unwrap_or(0).saturating_add(1)
            }),
            ..record
        };
        match self.write(current, spec).await {
            Ok(updated) => {
                self.observe(updated.spec.unwrap_or_default());
                Ok(Round::Holding)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Round::Conflict),
            Err(error) => Err(error),
        }
    }

    /// PUT `current` with `spec`, on the resourceVersion read (optimistic concurrency).
    async fn write(&self, mut current: Lease, spec: LeaseSpec) -> Result<Lease, kube::Error> {
        // Left out, the server keeps the managed fields it has and records this write.
        current.metadata.managed_fields = None;
        current.spec = Some(spec);
        self.leases
            .replace(&self.name, &post_params(), &current)
            .await
    }

    /// Records `record` as the last one seen; returns when it last changed on our clock.
    fn observe(&mut self, record: LeaseSpec) -> Instant {
        match &self.observed {
            Some((seen, at)) if *seen == record => *at,
            _ => {
                let now = Instant::now();
                self.observed = Some((record, now));
                now
            }
        }
    }

    /// Gives the Lease up if we still hold it (client-go's `ReleaseOnCancel`): no holder,
    /// `leaseDurationSeconds: 1`, `renewTime` now; acquireTime and transitions kept.
    async fn release(&self) {
        let release = async {
            let Some(current) = self.leases.get_opt(&self.name).await? else {
                return Ok(false);
            };
            let Some(record) = current.spec.clone() else {
                return Ok(false);
            };
            if record.holder_identity.as_deref() != Some(self.identity.as_str()) {
                return Ok(false);
            }
            let spec = LeaseSpec {
                holder_identity: Some(String::new()),
                lease_duration_seconds: Some(1),
                renew_time: Some(MicroTime(Timestamp::now())),
                ..record
            };
            self.write(current, spec).await.map(|_| true)
        };
        let timeout = RELEASE_TIMEOUT.min(self.timings.renew_deadline);
        match tokio::time::timeout(timeout, release).await {
            Ok(Ok(true)) => {
                tracing::info!(lease = %self.name, identity = %self.identity, "released the lease");
            }
            Ok(Ok(false)) => {
                tracing::debug!(lease = %self.name, "not holding the lease; nothing to release");
            }
            Ok(Err(error)) => tracing::warn!(
                lease = %self.name,
                %error,
                "could not release the lease; it expires after its lease duration"
            ),
            Err(_) => tracing::warn!(
                lease = %self.name,
                ?timeout,
                "releasing the lease timed out; it expires after its lease duration"
            ),
        }
    }
}

fn post_params() -> PostParams {
    PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.to_owned()),
    }
}

/// Keeps the log bounded while the Lease API keeps failing: a warning for the first failure of
/// a streak, for a new kind of failure, and then at most one per [`WARN_EVERY`].
#[derive(Default)]
struct FailureLog {
    streak: u64,
    last_warning: Option<(Instant, String)>,
}

impl FailureLog {
    fn failed(&mut self, lease: &str, error: &RoundError) {
        self.streak += 1;
        let message = error.to_string();
        let warn = match &self.last_warning {
            None => true,
            Some((at, last)) => *last != message || at.elapsed() >= WARN_EVERY,
        };
        if warn {
            tracing::warn!(
                %lease,
                %error,
                failed_rounds = self.streak,
                "leader election round failed"
            );
            self.last_warning = Some((Instant::now(), message));
        } else {
            tracing::debug!(%lease, %error, failed_rounds = self.streak, "leader election round failed");
        }
    }

    fn recovered(&mut self, lease: &str) {
        if self.streak > 0 {
            tracing::info!(
                %lease,
                failed_rounds = self.streak,
                "the lease API answers again"
            );
        }
        self.streak = 0;
        self.last_warning = None;
    }
}

/// `period` plus up to 20% of it.
fn jittered(period: Duration) -> Duration {
    // Precision of a thousandth is plenty.
    let permille = u32::try_from(random_u64() % 201).unwrap_or(0);
    let jitter = period
        .checked_mul(permille)
        .map_or(Duration::ZERO, |d| d / 1000);
    period.saturating_add(jitter)
}

/// `at + duration`, saturating (far in the future) instead of panicking on overflow.
fn after(at: Instant, duration: Duration) -> Instant {
    at.checked_add(duration)
        .or_else(|| at.checked_add(Duration::from_secs(86_400 * 365)))
        .unwrap_or(at)
}

/// `<hostname or POD_NAME>_<16 hex random>` like client-go's id.
///
/// The name is `POD_NAME` when set (the downward API), else the host name (`HOSTNAME`, then
/// `/proc/sys/kernel/hostname`, then `/etc/hostname`), else `locust-operator`.
pub fn default_identity() -> String {
    let from_file = |path: &str| std::fs::read_to_string(path).ok();
    let name = ["POD_NAME", "HOSTNAME"]
        .into_iter()
        .filter_map(|var| std::env::var(var).ok())
        .chain(
            ["/proc/sys/kernel/hostname", "/etc/hostname"]
                .into_iter()
                .filter_map(from_file),
        )
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| crate::names::OPERATOR_NAME.to_owned());
    format!("{name}_{:016x}", random_u64())
}

/// The namespace for the lease: `explicit` if given, else env POD_NAMESPACE, else the in-cluster
/// file /var/run/secrets/kubernetes.io/serviceaccount/namespace, else `client_default` (the
/// kubeconfig context namespace).
///
/// Empty (or blank) values count as not given.
pub fn lease_namespace(explicit: Option<&str>, client_default: &str) -> String {
    explicit
        .map(str::to_owned)
        .into_iter()
        .chain(std::env::var("POD_NAMESPACE").ok())
        .chain(std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE).ok())
        .map(|namespace| namespace.trim().to_owned())
        .find(|namespace| !namespace.is_empty())
        .unwrap_or_else(|| client_default.to_owned())
}
