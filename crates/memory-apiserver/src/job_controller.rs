//! The Job controller of kube-controller-manager 1.32 (`pkg/controller/job`), for the Jobs the
//! operator makes: `NonIndexed`, no pod failure policy, no success policy, no manual selector,
//! `podReplacementPolicy: TerminatingOrFailed`. It is a client of the API like the real one:
//! it reads the store (its informer cache) and writes through the API's own request handling
//! ([`crate::api::serve`]: admission, defaults, managedFields under field manager
//! [`FIELD_MANAGER`], watch events), though not through fault injection, which is for the
//! traffic of the tests' clients. What it does, as the recordings of a real cluster show
//! (`tests/fixtures/apiserver-http`, README there; `crates/memory-apiserver/tests/replay.rs` replays them):
//!
//! - **Pods.** Up to `parallelism` active pods (fewer once `completions` are nearly reached;
//!   none once a pod succeeded when `completions` is unset), each with `generateName: <job>-`,
//!   the template's labels and annotations plus `batch.kubernetes.io/controller-uid`,
//!   `batch.kubernetes.io/job-name`, `controller-uid` and `job-name`, a controller owner
//!   reference to the Job with `blockOwnerDeletion`, and the finalizer
//!   `batch.kubernetes.io/job-tracking`. Pods above `parallelism` are deleted (not ready and
//!   newest first); a failed or deleted pod is replaced after the pod-failure backoff (10 s,
//!   doubling per failure, at most 6 min) until the failures exceed `backoffLimit`
//!   (default 6).
//! - **Accounting.** A pod that finished (`Succeeded`, `Failed`, or deleted before it
//!   finished: `TerminatingOrFailed`) and still holds the finalizer is counted once: its uid
//!   goes to `uncountedTerminatedPods` (status written), its finalizer is removed, then it
//!   moves to `succeeded`/`failed` (status written). Pods the controller deletes itself for
//!   other reasons than failure lose the finalizer first and are never counted.
//! - **Status**, written through `/status` only when it changed: `startTime` (when the Job
//!   first runs), `active`, `succeeded`, `failed` (left out when 0), `terminating` (pods being
//!   deleted, plus those this sync deleted), `uncountedTerminatedPods`, `ready` (active pods
//!   with `Ready=True`), and the conditions: failures beyond `backoffLimit` give
//!   `FailureTarget` (reason `BackoffLimitExceeded`), the active pods are deleted (and count
//!   as failed), and `Failed` follows once no pod is terminating; enough successes give
//!   `SuccessCriteriaMet` (reason `CompletionsReached`), then `Complete` with
//!   `completionTime`; `spec.suspend` gives `Suspended` (`JobSuspended`, active pods deleted,
//!   `startTime` cleared) and resuming `Suspended=False` (`JobResumed`).
//! - A finished Job is left alone, except that its pods lose the finalizer; so do pods whose
//!   Job is gone. A Job being deleted is left to [`crate::gc::collect`], which takes the
//!   finalizer off its pods before the garbage collector deletes them.
//! - **Timing.** A change of a Job is synced at once; a change of a pod is synced after
//!   [`Settings::batch_period`] (kube-controller-manager's `syncJobBatchPeriod`, 1 s), so the
//!   Job's status follows its pods about a second later, as on a cluster.
//!
//! There is no kubelet: pods only change when a client writes their status (`crate::sim`).
//! Not modelled: indexed Jobs, `activeDeadlineSeconds`, pod failure and success policies,
//! `ttlSecondsAfterFinished` (the TTL controller), adoption of orphan pods.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use serde_json::{Map, Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::api::serve;
use crate::defaults::{JOB_TRACKING_FINALIZER, job_of};
use crate::resources::{self, ResourceType};
use crate::state::{State, key};
use crate::store::{Event, EventType, meta_str, now, resource_version};

/// The field manager of every write of the Job controller (as on a cluster).
pub const FIELD_MANAGER: &str = "kube-controller-manager";
/// kube-controller-manager's `syncJobBatchPeriod`.
pub const BATCH_PERIOD: Duration = Duration::from_secs(1);
/// kube-controller-manager's `DefaultJobPodFailureBackOff`.
pub const POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10);
/// kube-controller-manager's `MaxJobPodFailureBackOff`.
const MAX_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(360);
/// `spec.backoffLimit` when unset.
const DEFAULT_BACKOFF_LIMIT: i64 = 6;

/// `FailureTarget`/`Failed` reason and message.
pub const BACKOFF_LIMIT_EXCEEDED: (&str, &str) = (
    "BackoffLimitExceeded",
    "Job has reached the specified backoff limit",
);
/// `SuccessCriteriaMet`/`Complete` reason and message.
pub const COMPLETIONS_REACHED: (&str, &str) = (
    "CompletionsReached",
    "Reached expected number of succeeded pods",
);
const SUSPENDED: (&str, &str) = ("JobSuspended", "Job suspended");
const RESUMED: (&str, &str) = ("JobResumed", "Job resumed");

/// The Job controller's timings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long after a pod change its Job is synced ([`BATCH_PERIOD`]).
    pub batch_period: Duration,
    /// Delay before the first replacement of a failed pod, doubling with each failure
    /// ([`POD_FAILURE_BACKOFF`]).
    pub pod_failure_backoff: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            batch_period: BATCH_PERIOD,
            pod_failure_backoff: POD_FAILURE_BACKOFF,
        }
    }
}

/// Starts the Job controller of `state`'s API server.
pub fn start(state: Arc<State>, settings: Settings) -> JoinHandle<()> {
    // Subscribed before the task runs, so no change made after `start` returns is missed.
    let live = state.store.subscribe();
    let controller = Controller::new(state, settings);
    tokio::spawn(controller.run(live))
}

/// `(namespace, name)` of a Job.
type JobKey = (String, String);

struct Controller {
    state: Arc<State>,
    settings: Settings,
    jobs: ResourceType,
    pods: ResourceType,
    /// When each Job is to be synced next.
    due: BTreeMap<JobKey, Instant>,
    /// The order in which this controller created pods (by uid): newest go first when
    /// there are too many (creation timestamps have whole seconds only).
    created: HashMap<String, u64>,
    next_seq: u64,
    /// When a failure of each Job (by uid) was last counted (for the replacement backoff).
    last_failure: HashMap<String, Instant>,
}

/// What is decided about one active pod.
enum Removal {
    /// Deleted as a failure of the Job: it keeps its finalizer and is counted as failed.
    AsFailure,
    /// Deleted for another reason: its finalizer goes first, so it is never counted.
    Uncounted,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn finished_phase(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

fn deleting(object: &Value) -> bool {
    meta_str(object, "deletionTimestamp").is_some()
}

fn tracked(pod: &Value) -> bool {
    strings(&pod["metadata"]["finalizers"])
        .iter()
        .any(|f| f == JOB_TRACKING_FINALIZER)
}

fn pod_condition(pod: &Value, type_: &str) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == type_ && c["status"] == "True")
        })
}

fn uid(object: &Value) -> String {
    meta_str(object, "uid").unwrap_or_default().to_owned()
}

fn name(object: &Value) -> String {
    meta_str(object, "name").unwrap_or_default().to_owned()
}

/// The condition of this type with status `True`.
fn has_condition(conditions: &[Value], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c["type"] == type_ && c["status"] == "True")
}

/// Sets a condition; one already there with the same status is kept as it is (its times
/// too), as the Job controller does.
fn set_condition(
    conditions: &mut Vec<Value>,
    type_: &str,
    status: &str,
    (reason, message): (&str, &str),
    at: &str,
) {
    let condition = json!({
        "type": type_, "status": status, "lastProbeTime": at, "lastTransitionTime": at,
        "reason": reason, "message": message
    });
    match conditions.iter_mut().find(|c| c["type"] == type_) {
        Some(existing) if existing["status"] == status => {}
        Some(existing) => *existing = condition,
        None => conditions.push(condition),
    }
}

/// The parts of a Job status the controller computes.
struct Status {
    conditions: Vec<Value>,
    start_time: Option<Value>,
    completion_time: Option<Value>,
    active: usize,
    succeeded: i64,
    failed: i64,
    terminating: i64,
    uncounted_succeeded: Vec<String>,
    uncounted_failed: Vec<String>,
    ready: usize,
}

impl Status {
    /// As the API server encodes it: zero `active`/`succeeded`/`failed` left out, `terminating`,
    /// `uncountedTerminatedPods` and `ready` always there.
    fn to_value(&self) -> Value {
        let mut status = Map::new();
        if !self.conditions.is_empty() {
            status.insert("conditions".into(), json!(self.conditions));
        }
        if let Some(start) = &self.start_time {
            status.insert("startTime".into(), start.clone());
        }
        if let Some(completion) = &self.completion_time {
            status.insert("completionTime".into(), completion.clone());
        }
        for (field, count) in [
            ("active", i64::try_from(self.active).unwrap_or(i64::MAX)),
            ("succeeded", self.succeeded),
            ("failed", self.failed),
        ] {
            if count != 0 {
                status.insert(field.into(), json!(count));
            }
        }
        status.insert("terminating".into(), json!(self.terminating));
        let mut uncounted = Map::new();
        if !self.uncounted_succeeded.is_empty() {
            uncounted.insert("succeeded".into(), json!(self.uncounted_succeeded));
        }
        if !self.uncounted_failed.is_empty() {
            uncounted.insert("failed".into(), json!(self.uncounted_failed));
        }
        status.insert("uncountedTerminatedPods".into(), Value::Object(uncounted));
        status.insert("ready".into(), json!(self.ready));
        Value::Object(status)
    }
}

impl Controller {
    fn new(state: Arc<State>, settings: Settings) -> Self {
        let find = |group, plural| {
            resources::find(group, "v1", plural).unwrap_or_else(|| {
                // The harness always serves both; a missing one is a harness bug.
                unreachable!("the harness serves {plural}")
            })
        };
        Self {
            jobs: find("batch", "jobs"),
            pods: find("", "pods"),
            state,
            settings,
            due: BTreeMap::new(),
            created: HashMap::new(),
            next_seq: 0,
            last_failure: HashMap::new(),
        }
    }

    async fn run(mut self, mut live: broadcast::Receiver<Event>) {
        self.enqueue_all();
        loop {
            let next = self.due.values().min().copied();
            let wake = async move {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                received = live.recv() => match received {
                    Ok(event) => self.observe(&event),
                    // Missed changes: look at every Job again.
                    Err(RecvError::Lagged(_)) => self.enqueue_all(),
                    Err(RecvError::Closed) => return,
                },
                () = wake => self.sync_due().await,
            }
        }
    }

    fn schedule(&mut self, job: JobKey, at: Instant) {
        let due = self.due.entry(job).or_insert(at);
        if at < *due {
            *due = at;
        }
    }

    fn enqueue_all(&mut self) {
        let (jobs, _) = self.state.store.list(&self.jobs, None);
        let now = Instant::now();
        for job in jobs {
            let namespace = meta_str(&job, "namespace").unwrap_or_default().to_owned();
            self.schedule((namespace, name(&job)), now);
        }
    }

    fn observe(&mut self, event: &Event) {
        let object = &event.object;
        let namespace = event.namespace.clone();
        match (event.group.as_str(), event.plural.as_str()) {
            ("batch", "jobs") => {
                if event.kind == EventType::Deleted {
                    self.last_failure.remove(&uid(object));
                }
                // A new Job, a spec change (or a deletion) is looked at at once; other changes
                // of the Job (its status, labels) are batched like pod changes.
                let generation = |o: &Value| o.pointer("/metadata/generation").cloned();
                let batched = event.kind == EventType::Modified
                    && event.previous.as_ref().map(generation) == Some(generation(object));
                let at = if batched {
                    Instant::now() + self.settings.batch_period
                } else {
                    Instant::now()
                };
                self.schedule((namespace, name(object)), at);
            }
            ("", "pods") => {
                if let Some((job, _)) = job_of(object) {
                    if event.kind == EventType::Deleted {
                        self.created.remove(&uid(object));
                    }
                    let at = Instant::now() + self.settings.batch_period;
                    self.schedule((namespace, job), at);
                }
            }
            _ => {}
        }
    }

    async fn sync_due(&mut self) {
        let now = Instant::now();
        let ready: Vec<JobKey> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(job, _)| job.clone())
            .collect();
        for job in ready {
            self.due.remove(&job);
            if let Some(again) = self.sync(&job).await {
                self.schedule(job, again);
            }
        }
    }

    /// The pods in `namespace` whose controller is the Job with `job_uid`, by name.
    fn pods_of(&self, namespace: &str, job_uid: &str) -> Vec<Value> {
        let (pods, _) = self.state.store.list(&self.pods, Some(namespace));
        pods.into_iter()
            .filter(|p| job_of(p).is_some_and(|(_, uid)| uid == job_uid))
            .collect()
    }

    /// Syncs one Job; returns when to look again, if a wait (backoff, conflict) is pending.
    async fn sync(&mut self, (namespace, job_name): &JobKey) -> Option<Instant> {
        let job = self.state.store.get(&key(&self.jobs, namespace, job_name));
        let current_uid = job.as_ref().map(uid);
        self.release_orphans(namespace, job_name, current_uid.as_deref())
            .await;
        let job = job?;
        if deleting(&job) {
            return None;
        }
        let job_uid = uid(&job);
        let pods = self.pods_of(namespace, &job_uid);
        let status = job.get("status").cloned().unwrap_or_else(|| json!({}));
        let conditions: Vec<Value> = status["conditions"].as_array().cloned().unwrap_or_default();
        if has_condition(&conditions, "Complete") || has_condition(&conditions, "Failed") {
            for pod in pods.iter().filter(|p| tracked(p)) {
                self.remove_finalizer(pod).await;
            }
            return None;
        }
        self.sync_running(&job, pods, &status, conditions).await
    }

    /// Pods whose controller is a Job named `job_name` that is gone (another uid, or none) lose
    /// the finalizer.
    async fn release_orphans(&self, namespace: &str, job_name: &str, current_uid: Option<&str>) {
        let (pods, _) = self.state.store.list(&self.pods, Some(namespace));
        for pod in pods {
            let orphaned = job_of(&pod)
                .is_some_and(|(job, uid)| job == job_name && Some(uid.as_str()) != current_uid);
            if orphaned && tracked(&pod) {
                self.remove_finalizer(&pod).await;
            }
        }
    }

    async fn sync_running(
        &mut self,
        job: &Value,
        pods: Vec<Value>,
        status: &Value,
        mut conditions: Vec<Value>,
    ) -> Option<Instant> {
        let job_uid = uid(job);
        let spec = &job["spec"];
        let parallelism = spec["parallelism"].as_i64().unwrap_or(1).max(0);
        let completions = spec["completions"].as_i64();
        let backoff_limit = spec["backoffLimit"]
            .as_i64()
            .unwrap_or(DEFAULT_BACKOFF_LIMIT);
        let suspended = spec["suspend"].as_bool() == Some(true);
        let at = now();

        let mut next = Status {
            conditions: Vec::new(),
            start_time: status.get("startTime").cloned(),
            completion_time: status.get("completionTime").cloned(),
            active: 0,
            succeeded: status["succeeded"].as_i64().unwrap_or(0),
            failed: status["failed"].as_i64().unwrap_or(0),
            terminating: 0,
            uncounted_succeeded: strings(&status["uncountedTerminatedPods"]["succeeded"]),
            uncounted_failed: strings(&status["uncountedTerminatedPods"]["failed"]),
            ready: 0,
        };

        // Pods that finished (or went before finishing) and still hold the finalizer are
        // accounted for once.
        let mut new_failures = false;
        for pod in pods.iter().filter(|p| tracked(p)) {
            let pod_uid = uid(pod);
            if next.uncounted_succeeded.contains(&pod_uid)
                || next.uncounted_failed.contains(&pod_uid)
            {
                continue;
            }
            match phase(pod) {
                "Succeeded" => next.uncounted_succeeded.push(pod_uid),
                "Failed" => {
                    next.uncounted_failed.push(pod_uid);
                    new_failures = true;
                }
                _ if deleting(pod) => {
                    next.uncounted_failed.push(pod_uid);
                    new_failures = true;
                }
                _ => {}
            }
        }
        if new_failures {
            self.last_failure.insert(job_uid.clone(), Instant::now());
        }
        let mut active: Vec<&Value> = pods
            .iter()
            .filter(|p| !finished_phase(p) && !deleting(p))
            .collect();
        next.terminating = i64::try_from(
            pods.iter()
                .filter(|p| !finished_phase(p) && deleting(p))
                .count(),
        )
        .unwrap_or(i64::MAX);

        let count = |v: &Vec<String>| i64::try_from(v.len()).unwrap_or(i64::MAX);
        let mut removals: Vec<(&Value, Removal)> = Vec::new();
        let mut to_create = 0_i64;
        let mut again = None;
        let failures = next.failed + count(&next.uncounted_failed);
        if has_condition(&conditions, "FailureTarget") || failures > backoff_limit {
            set_condition(
                &mut conditions,
                "FailureTarget",
                "True",
                BACKOFF_LIMIT_EXCEEDED,
                &at,
            );
            // The Job failed: every pod still running is deleted and counts as failed.
            for pod in active.drain(..) {
                if tracked(pod) {
                    next.uncounted_failed.push(uid(pod));
                }
                removals.push((pod, Removal::AsFailure));
            }
        } else if suspended {
            removals.extend(active.drain(..).map(|p| (p, Removal::Uncounted)));
        } else {
            let succeeded = next.succeeded + count(&next.uncounted_succeeded);
            let active_count = i64::try_from(active.len()).unwrap_or(i64::MAX);
            let complete = has_condition(&conditions, "SuccessCriteriaMet")
                || match completions {
                    None => succeeded > 0 && active.is_empty(),
                    Some(completions) => succeeded >= completions,
                };
            if complete {
                set_condition(
                    &mut conditions,
                    "SuccessCriteriaMet",
                    "True",
                    COMPLETIONS_REACHED,
                    &at,
                );
                removals.extend(active.drain(..).map(|p| (p, Removal::Uncounted)));
            } else {
                let wanted = match completions {
                    // Once a pod succeeded, the others are left to finish; none are added.
                    None if succeeded > 0 => active_count,
                    None => parallelism,
                    Some(completions) => (completions - succeeded).clamp(0, parallelism),
                };
                if active_count > wanted {
                    active.sort_by_key(|p| self.removal_order(p));
                    let excess = usize::try_from(active_count - wanted).unwrap_or_default();
                    removals.extend(active.drain(..excess).map(|p| (p, Removal::Uncounted)));
                } else if active_count < wanted {
                    match self.backoff_until(&job_uid, failures) {
                        Some(until) if until > Instant::now() => again = Some(until),
                        _ => to_create = wanted - active_count,
                    }
                }
            }
        }

        // Deletions: counted as terminating until a later sync sees them gone.
        for (pod, removal) in removals {
            if matches!(removal, Removal::Uncounted) {
                self.remove_finalizer(pod).await;
            }
            if self.delete_pod(pod).await {
                next.terminating += 1;
            }
        }
        next.active = active.len();
        next.ready = active.iter().filter(|p| pod_condition(p, "Ready")).count();
        if suspended {
            set_condition(&mut conditions, "Suspended", "True", SUSPENDED, &at);
            next.start_time = None;
        } else {
            if has_condition(&conditions, "Suspended") {
                set_condition(&mut conditions, "Suspended", "False", RESUMED, &at);
            }
            next.start_time = next.start_time.or_else(|| Some(json!(at)));
        }
        next.conditions = conditions;

        // Accounting: record the uncounted pods, take their finalizers off, then count them.
        let mut job = job.clone();
        if !next.uncounted_succeeded.is_empty() || !next.uncounted_failed.is_empty() {
            job = match self.write_status(&job, next.to_value()).await {
                Ok(job) => job,
                Err(()) => return Some(Instant::now()),
            };
            let uncounted: Vec<&String> = next
                .uncounted_succeeded
                .iter()
                .chain(&next.uncounted_failed)
                .collect();
            for pod in pods.iter().filter(|p| uncounted.contains(&&uid(p))) {
                self.remove_finalizer(pod).await;
            }
            next.succeeded += count(&next.uncounted_succeeded);
            next.failed += count(&next.uncounted_failed);
            next.uncounted_succeeded.clear();
            next.uncounted_failed.clear();
        }

        for _ in 0..to_create {
            if self.create_pod(&job).await {
                next.active += 1;
            }
        }

        // The terminal condition once no pod is terminating (kube 1.31+).
        if next.terminating == 0 {
            if has_condition(&next.conditions, "FailureTarget") {
                set_condition(
                    &mut next.conditions,
                    "Failed",
                    "True",
                    BACKOFF_LIMIT_EXCEEDED,
                    &at,
                );
            } else if has_condition(&next.conditions, "SuccessCriteriaMet") {
                set_condition(
                    &mut next.conditions,
                    "Complete",
                    "True",
                    COMPLETIONS_REACHED,
                    &at,
                );
                next.completion_time = Some(json!(at));
            }
        }
        let value = next.to_value();
        if job.get("status") != Some(&value) && self.write_status(&job, value).await.is_err() {
            return Some(Instant::now());
        }
        again
    }

    /// Which active pods go first when there are too many (kube's `ActivePods` order):
    /// unscheduled before scheduled, pending before running, not ready before ready, newer
    /// before older.
    fn removal_order(&self, pod: &Value) -> (bool, u8, bool, std::cmp::Reverse<(String, u64)>) {
        let scheduled = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let phase_rank = match phase(pod) {
            "Pending" | "" => 0,
            "Running" => 2,
            _ => 1,
        };
        let created = meta_str(pod, "creationTimestamp")
            .unwrap_or_default()
            .to_owned();
        let seq = self.created.get(&uid(pod)).copied().unwrap_or_default();
        (
            scheduled,
            phase_rank,
            pod_condition(pod, "Ready"),
            std::cmp::Reverse((created, seq)),
        )
    }

    /// When the next replacement of a failed pod may be created.
    fn backoff_until(&self, job_uid: &str, failures: i64) -> Option<Instant> {
        if failures <= 0 {
            return None;
        }
        let last = self.last_failure.get(job_uid)?;
        let exponent = u32::try_from(failures - 1).unwrap_or(u32::MAX).min(16);
        let delay = self
            .settings
            .pod_failure_backoff
            .saturating_mul(2_u32.saturating_pow(exponent))
            .min(MAX_POD_FAILURE_BACKOFF);
        Some(*last + delay)
    }

    /// One request through the API; the answer's body, or its HTTP status.
    async fn request(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: Option<&Value>,
    ) -> Result<Value, u16> {
        let uri: Uri = path.parse().map_err(|_| 400_u16)?;
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        let body = body
            .map(|b| Bytes::from(crate::encoding::to_vec(b)))
            .unwrap_or_default();
        let response = serve(self.state.clone(), method, uri, headers, body).await;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|_| 500_u16)?;
        if (200..300).contains(&status) {
            Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        } else {
            Err(status)
        }
    }

    /// Writes the Job's status (`PUT .../status` with the read resourceVersion as
    /// precondition, as `UpdateStatus` does); the stored Job, or `Err` to sync again.
    async fn write_status(&self, job: &Value, status: Value) -> Result<Value, ()> {
        let mut next = job.clone();
        next["status"] = status;
        let path = format!(
            "/apis/batch/v1/namespaces/{}/jobs/{}/status?fieldManager={FIELD_MANAGER}",
            meta_str(job, "namespace").unwrap_or_default(),
            name(job)
        );
        self.request(Method::PUT, &path, "application/json", Some(&next))
            .await
            .map_err(|_| ())
    }

    fn pod_path(pod: &Value) -> String {
        format!(
            "/api/v1/namespaces/{}/pods/{}",
            meta_str(pod, "namespace").unwrap_or_default(),
            name(pod)
        )
    }

    /// Takes the tracking finalizer off a pod (a merge patch with the read resourceVersion as
    /// precondition; read again on a conflict). A pod marked for deletion then goes.
    async fn remove_finalizer(&self, pod: &Value) {
        let pod_key = key(
            &self.pods,
            meta_str(pod, "namespace").unwrap_or_default(),
            &name(pod),
        );
        for _ in 0..8 {
            let Some(current) = self.state.store.get(&pod_key) else {
                return;
            };
            if uid(&current) != uid(pod) || !tracked(&current) {
                return;
            }
            let remaining: Vec<String> = strings(&current["metadata"]["finalizers"])
                .into_iter()
                .filter(|f| f != JOB_TRACKING_FINALIZER)
                .collect();
            let finalizers = if remaining.is_empty() {
                Value::Null
            } else {
                json!(remaining)
            };
            let patch = json!({"metadata": {
                "resourceVersion": resource_version(&current).unwrap_or_default().to_string(),
                "finalizers": finalizers,
            }});
            let path = format!("{}?fieldManager={FIELD_MANAGER}", Self::pod_path(&current));
            match self
                .request(
                    Method::PATCH,
                    &path,
                    "application/merge-patch+json",
                    Some(&patch),
                )
                .await
            {
                Err(409) => continue,
                _ => return,
            }
        }
    }

    /// Deletes a pod; whether the delete was accepted.
    async fn delete_pod(&self, pod: &Value) -> bool {
        let options = json!({"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid(pod)}});
        self.request(
            Method::DELETE,
            &Self::pod_path(pod),
            "application/json",
            Some(&options),
        )
        .await
        .is_ok()
    }

    /// Creates one pod of `job` from its template; whether it was created.
    async fn create_pod(&mut self, job: &Value) -> bool {
        let job_name = name(job);
        let job_uid = uid(job);
        let namespace = meta_str(job, "namespace").unwrap_or_default().to_owned();
        let template = &job["spec"]["template"];
        let mut labels = template["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (label, value) in [
            ("batch.kubernetes.io/controller-uid", &job_uid),
            ("batch.kubernetes.io/job-name", &job_name),
            ("controller-uid", &job_uid),
            ("job-name", &job_name),
        ] {
            labels.insert(label.into(), json!(value));
        }
        let mut metadata = json!({
            "generateName": format!("{job_name}-"),
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": job_uid,
                "controller": true, "blockOwnerDeletion": true
            }],
            "finalizers": [JOB_TRACKING_FINALIZER],
        });
        if let Some(annotations) = template["metadata"]["annotations"]
            .as_object()
            .filter(|a| !a.is_empty())
        {
            metadata["annotations"] = json!(annotations);
        }
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
        });
        let path = format!("/api/v1/namespaces/{namespace}/pods?fieldManager={FIELD_MANAGER}");
        match self
            .request(Method::POST, &path, "application/json", Some(&pod))
            .await
        {
            Ok(created) => {
                self.next_seq += 1;
                self.created.insert(uid(&created), self.next_seq);
                true
            }
            Err(_) => false,
        }
    }
}
