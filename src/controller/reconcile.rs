//! One reconcile of one LocustTest, as a pipeline of named steps:
//!
//! 1. **read** ([`read`]): the test from the cache and its children from theirs — the only
//!    reads — or why not now (caches not ready, behind our own writes);
//! 2. **validate** ([`validate`]) the spec the test runs with ([`plan::spec_source`]);
//! 3. **build** (pure, [`desired`]) its children;
//! 4. **plan** (pure, [`plan::plan`]): what to create, which events announce it;
//! 5. **apply** ([`Context::apply`]): the missing children (created, never updated), and the
//!    `Created`/`Recreated` events at once (before the status write, which may fail);
//! 6. **status** ([`Context::report`]): [`status::compute`], written through the status
//!    subresource when it differs from the stored one (with the read `resourceVersion` as
//!    precondition, so a status computed from a stale object is never written), then the
//!    events of its transitions and the metrics, from typed [`EventReason`]s. The first status
//!    write after the children were created also records the spec they were built from
//!    (`status.originalSpec`, [`plan::spec_source`]): no write of its own.
//!
//! A resync where nothing changed therefore writes nothing. And a reconcile whose caches have
//! not yet seen the operator's own last writes to the test (its status, a child
//! it created) waits for their watch events instead of repeating them ([`OwnWrites`]): a burst
//! of new tests costs exactly those writes, none refused with 409.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::Resource as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use kube::discovery::ApiResource;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, Recorder};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::cache::Caches;
use super::live::Live;
use super::metrics::{ControllerMetrics, ErrorKind, ReconcileResult};
use super::own_writes::OwnWrites;
use super::plan::{self, Child, Children, Ownership, Plan};
use crate::api::v2::{LocustTest, Phase};
use crate::api::{API_VERSION_V2, KIND};
use crate::builders::desired;
use crate::config::Config;
use crate::defaulting::Defaulted;
use crate::names::{Role, node_name};
use crate::status::{self, EventReason, Outcome, StatusEvent};
use crate::validation::{Report, validate};

pub use crate::names::FIELD_MANAGER;

/// Look again after this long even when nothing changes (re-evaluates time-based conditions;
/// a resync where nothing changed writes nothing).
pub const RESYNC_PERIOD: Duration = Duration::from_secs(10 * 60);
/// Retry after this long when a child name is taken by an object the test does not own.
pub const FOREIGN_CHILD_RETRY: Duration = Duration::from_secs(5);
/// Look again after this while a child of the test is being deleted (its deletion ends with a
/// watch event that triggers a reconcile sooner).
pub const LEAVING_CHILD_RETRY: Duration = Duration::from_secs(5);
/// Look again after this long when the child caches do not hold a complete list yet (only
/// after a start). Every test waits so: at 100 ms, 1,000 tests spun 10,000 empty reconciles a
/// second while the caches listed 3,000 pods in pages, which slowed that list threefold.
pub const CACHE_WAIT: Duration = Duration::from_secs(1);
/// Look again after this long when the cached test is older than our own last write to it
/// (the watch event of that write normally triggers the next reconcile well before).
pub const OWN_WRITE_WAIT: Duration = Duration::from_secs(1);

/// What every reconcile of one watched scope shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Operator configuration (locust pod defaults).
    pub config: Arc<Config>,
    /// Pod-health grace period.
    pub grace: Duration,
    /// How long a master may wait for all its workers, unless its test says.
    pub worker_connect_timeout: Duration,
    /// Child caches of this scope.
    pub caches: Caches,
    /// Event recorder (events.k8s.io/v1).
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: ControllerMetrics,
    /// The LocustTest API resource (v2).
    pub resource: ApiResource,
    /// Versions of tests our own writes replaced that the cache may still show.
    pub own_writes: OwnWrites,
    /// The latest reads of running tests' Locust masters.
    pub live: Arc<Live>,
}

/// A failed reconcile; retried with backoff (at once for a conflict).
#[derive(Debug, thiserror::Error)]
#[error("{kind:?} on LocustTest {namespace}/{name}")]
pub struct ReconcileError {
    /// What failed (the metrics label).
    pub kind: ErrorKind,
    /// The test's namespace.
    pub namespace: String,
    /// The test's name.
    pub name: String,
    /// The API error.
    #[source]
    pub source: Option<kube::Error>,
}

impl ReconcileError {
    /// How long to wait before the next attempt.
    pub fn retry_after(&self) -> Duration {
        match self.kind {
            ErrorKind::Conflict => Duration::from_millis(50),
            ErrorKind::ChildOwnedByOther => FOREIGN_CHILD_RETRY,
            _ => Duration::from_secs(2),
        }
    }
}

/// Reconciles one LocustTest.
pub async fn reconcile(
    object: Arc<DynamicObject>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let _timer = ctx.metrics.start_reconcile();
    let result = reconcile_inner(&object, &ctx).await;
    let (outcome, kind) = match &result {
        Ok(action) if *action == Action::await_change() => (ReconcileResult::Success, None),
        Ok(_) => (ReconcileResult::RequeueAfter, None),
        Err(error) if error.kind == ErrorKind::Conflict => {
            (ReconcileResult::Requeue, Some(error.kind))
        }
        Err(error) => (ReconcileResult::Error, Some(error.kind)),
    };
    ctx.metrics.record_result(outcome, kind);
    result
}

/// What the controller does after a failed reconcile.
pub fn error_policy(
    _object: Arc<DynamicObject>,
    error: &ReconcileError,
    _ctx: Arc<Context>,
) -> Action {
    match error.kind {
        ErrorKind::Conflict => tracing::debug!(%error, "conflict; retrying"),
        _ => {
            tracing::warn!(error = %error, source = ?error.source.as_ref().map(ToString::to_string), "reconcile failed; retrying")
        }
    }
    Action::requeue(error.retry_after())
}

/// The pipeline: read → validate → build → plan → apply → status.
async fn reconcile_inner(object: &DynamicObject, ctx: &Context) -> Result<Action, ReconcileError> {
    let now = Timestamp::now();
    let (test, children) = match read(object, ctx) {
        Read::Later(action) => return Ok(action),
        Read::Unreadable(stand_in, report) => return ctx.reject(&stand_in, &report, now).await,
        Read::Test(test, children) => (test, children),
    };

    // Validate the spec the test runs with (an edit after the start is ignored, valid or not).
    let source = plan::spec_source(&test, children.any_ours());
    let runs_with = source.runs_with(&test);
    let report = validate(runs_with.as_ref().unwrap_or(&test));
    if !report.is_valid() && !children.any_ours() {
        return ctx.reject(&test, &report, now).await;
    }

    let desired = runs_with.as_ref().map(|test| desired(test, &ctx.config));
    let plan = plan::plan(&test, &children, &source, report.is_valid(), desired);

    let recreating = !children.leaving.is_empty();
    let mut children = ctx.apply(&test, children, plan).await?;

    // A child of ours being deleted was created once: the test is recovering from that
    // deletion until it is gone and created again.
    children.observed.recreating |= recreating;
    children.observed.original_spec = source.spec().cloned();
    children.observed.locust = ctx
        .live
        .view(test.metadata.uid.as_deref().unwrap_or_default());
    children.observed.worker_connect_timeout =
        Some(test.worker_connect_timeout(ctx.worker_connect_timeout));
    ctx.report(&test, children, source.record(), now).await
}

/// What the read step found.
// Returned once per reconcile and taken apart at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Read {
    /// Nothing to do now; look again as the action says.
    Later(Action),
    /// The object does not read as a LocustTest: a stand-in for its status, and why.
    Unreadable(Defaulted, Report),
    /// The test and its children.
    Test(Defaulted, Children),
}

/// The read step: the test from its cache and its children from theirs, or why not now.
fn read(object: &DynamicObject, ctx: &Context) -> Read {
    if object.metadata.deletion_timestamp.is_some() {
        // Owner references garbage-collect the children; there is no finalizer.
        return Read::Later(Action::await_change());
    }
    // Children are read from the caches: until they hold a complete list (only at start), look
    // again shortly rather than act on a partial view.
    if !ctx.caches.ready() {
        return Read::Later(Action::requeue(CACHE_WAIT));
    }
    // The cached test is one our own write replaced: acting on it would only repeat that
    // write or a create, refused with 409. The watch event of our write is on its way.
    if ctx.own_writes.cache_is_behind(
        object.metadata.uid.as_deref().unwrap_or_default(),
        object
            .metadata
            .resource_version
            .as_deref()
            .unwrap_or_default(),
        tokio::time::Instant::now(),
    ) {
        return Read::Later(Action::requeue(OWN_WRITE_WAIT));
    }
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let test = match plan::decode(object) {
        Ok((test, dropped_status)) => {
            if let Some(problem) = dropped_status {
                tracing::warn!(%namespace, %name, %problem, "status does not parse; writing a fresh one");
            }
            test
        }
        Err(report) => {
            return match plan::undecodable(object) {
                Some(stand_in) => Read::Unreadable(stand_in, report),
                None => {
                    tracing::warn!(%namespace, %name, "LocustTest cannot be read at all; skipped");
                    Read::Later(Action::await_change())
                }
            };
        }
    };
    let uid = test.metadata.uid.clone().unwrap_or_default();
    match children_of(ctx, &namespace, &name, &uid) {
        Some(children) => Read::Test(test, children),
        // A child we created is not in its cache yet: creating it again would get a 409.
        None => Read::Later(Action::requeue(OWN_WRITE_WAIT)),
    }
}

/// `Job my-test-master`.
fn describe(child: &ObjectReference) -> String {
    plan::child_label(
        child.kind.as_deref().unwrap_or_default(),
        child.name.as_deref().unwrap_or_default(),
    )
}

/// The test's children as the caches show them; `None` when a child we created is not in its
/// cache yet ([`OwnWrites::child_cache_is_behind`]): the caches are behind our own writes.
fn children_of(ctx: &Context, namespace: &str, name: &str, uid: &str) -> Option<Children> {
    let service_name = node_name(name, Role::Master);
    let master_name = node_name(name, Role::Master);
    let worker_name = node_name(name, Role::Worker);
    let cached_service = ctx.caches.service(namespace, &service_name);
    let cached_master = ctx.caches.job(namespace, &master_name);
    let cached_worker = ctx.caches.job(namespace, &worker_name);
    let now = tokio::time::Instant::now();
    // Every record is looked at (and dropped once its child is cached): no short-circuit.
    let children_behind = [
        (Service::KIND, &service_name, cached_service.is_some()),
        (Job::KIND, &master_name, cached_master.is_some()),
        (Job::KIND, &worker_name, cached_worker.is_some()),
    ]
    .into_iter()
    .fold(false, |behind, (kind, name, cached)| {
        ctx.own_writes
            .child_cache_is_behind(uid, kind, name, cached, now)
            || behind
    });
    if children_behind {
        return None;
    }
    let mut children = Children::default();
    let service = owned(cached_service, uid, &mut children);
    let master = owned(cached_master, uid, &mut children);
    let worker = owned(cached_worker, uid, &mut children);
    children.observed.pods = ctx
        .caches
        .pods_of(namespace, name)
        .into_iter()
        .filter(|p| owned_by_our_jobs(p, master.as_ref(), worker.as_ref()))
        .collect();
    children.observed.service = service;
    children.observed.master_job = master;
    children.observed.worker_job = worker;
    Some(children)
}

/// The cached child `found` when the test with `uid` owns it; a child of that name owned by
/// someone else is listed in `children.foreign`, one of ours being deleted in
/// `children.leaving`, as `Kind name`.
fn owned<K: Resource<DynamicType = ()> + Clone>(
    found: Option<Arc<K>>,
    uid: &str,
    children: &mut Children,
) -> Option<K> {
    let found = found?;
    let label = || {
        plan::child_label(
            &K::kind(&()),
            found.meta().name.as_deref().unwrap_or_default(),
        )
    };
    match plan::ownership(found.meta(), uid) {
        Ownership::Ours => return Some((*found).clone()),
        Ownership::Leaving => children.leaving.push(label()),
        Ownership::Foreign => children.foreign.push(label()),
    }
    None
}

/// A pod belongs to the test when its controller is one of the test's Jobs (pods of a deleted
/// test of the same name, still terminating, do not count). Pods without an owner reference
/// (made by hand with the labels) are kept: the user's selectors show them too.
fn owned_by_our_jobs(
    pod: &k8s_openapi::api::core::v1::Pod,
    master: Option<&Job>,
    worker: Option<&Job>,
) -> bool {
    let Some(owner) = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
    else {
        return true;
    };
    [master, worker]
        .into_iter()
        .flatten()
        .any(|job| job.metadata.uid.as_deref() == Some(owner.uid.as_str()))
}

impl Context {
    /// The status step of a test whose spec is invalid (or does not read) and that has no
    /// children: `InvalidSpec`, nothing created.
    async fn reject(
        &self,
        test: &Defaulted,
        report: &Report,
        now: Timestamp,
    ) -> Result<Action, ReconcileError> {
        let outcome = status::invalid_spec(test, report, now);
        self.write_status(test, &outcome).await?;
        self.publish(test, &outcome.events).await;
        Ok(Action::await_change())
    }

    /// The apply step: the children of `plan`, and the events announcing them. Returns the
    /// test's children as they are now.
    async fn apply(
        &self,
        test: &Defaulted,
        mut children: Children,
        plan: Plan,
    ) -> Result<Children, ReconcileError> {
        let mut created = Vec::new();
        for child in plan.create {
            match child {
                Child::Service(service) => {
                    children.observed.service = self
                        .create_child(test, service, &mut created, &mut children)
                        .await?;
                }
                Child::MasterJob(job) => {
                    children.observed.master_job = self
                        .create_child(test, job, &mut created, &mut children)
                        .await?;
                }
                Child::WorkerJob(job) => {
                    children.observed.worker_job = self
                        .create_child(test, job, &mut created, &mut children)
                        .await?;
                }
            }
        }
        let mut events = plan.events;
        if plan.recovery {
            // One event per object, each naming it as the related object, so that repeated
            // recoveries are told apart (the recorder folds identical events).
            children.observed.recreating |= !created.is_empty();
            for child in created {
                let event = StatusEvent::new(
                    EventReason::Recreated,
                    format!(
                        "Recreated {}, deleted by someone else, from the spec the test started with",
                        describe(&child)
                    ),
                );
                self.publish_about(test, &event, Some(child)).await;
            }
        } else if !created.is_empty() {
            let list: Vec<String> = created.iter().map(describe).collect();
            events.push(StatusEvent::new(
                EventReason::Created,
                format!("Created {}", list.join(", ")),
            ));
        }
        // What was done is announced even if the status write fails: the next reconcile
        // finds the children and would not announce them again.
        self.publish(test, &events).await;
        Ok(children)
    }

    /// The status step: computes the status from what is there now, writes it when it
    /// changed, records its transitions (events and metrics) and says when to look again.
    async fn report(
        &self,
        test: &Defaulted,
        children: Children,
        record: Option<&str>,
        now: Timestamp,
    ) -> Result<Action, ReconcileError> {
        let mut outcome = status::compute(test, &children.observed, now, self.grace);
        if let Some(text) = record {
            outcome.status.original_spec = Some(text.to_owned());
        }
        if outcome.suspend_jobs {
            // Before the status: a failed suspension is retried with the same outcome.
            self.suspend_jobs(test, &children).await?;
        }
        self.write_status(test, &outcome).await?;
        self.observe(&outcome);
        self.publish(test, &outcome.events).await;

        if !children.foreign.is_empty() {
            let list = children.foreign.join(", ");
            let event = StatusEvent::new(
                EventReason::NameConflict,
                format!(
                    "{list} exists and is not owned by this LocustTest; waiting for it to go away"
                ),
            );
            self.publish(test, &[event]).await;
            return Err(self.error(test, ErrorKind::ChildOwnedByOther, None));
        }
        let terminal = outcome.status.phase.is_some_and(Phase::is_terminal);
        let uid = test.metadata.uid.as_deref().unwrap_or_default();
        let next_read = match outcome.status.phase {
            Some(Phase::Running) => Some(self.live.poll(test)),
            _ => {
                if terminal {
                    self.live.forget(uid);
                }
                None
            }
        };
        if !children.leaving.is_empty() && !terminal {
            // Its deletion ends with a watch event; look again soon in any case.
            tracing::debug!(
                namespace = test.metadata.namespace.as_deref().unwrap_or_default(),
                name = test.metadata.name.as_deref().unwrap_or_default(),
                leaving = %children.leaving.join(", "),
                "waiting for children being deleted to go"
            );
            return Ok(Action::requeue(LEAVING_CHILD_RETRY));
        }
        let requeue_after = [outcome.requeue_after, next_read]
            .into_iter()
            .flatten()
            .min();
        Ok(match requeue_after {
            Some(after) => Action::requeue(after.min(RESYNC_PERIOD)),
            None if terminal => Action::await_change(),
            None => Action::requeue(RESYNC_PERIOD),
        })
    }

    fn error(
        &self,
        test: &LocustTest,
        kind: ErrorKind,
        source: Option<kube::Error>,
    ) -> ReconcileError {
        ReconcileError {
            kind,
            namespace: test.metadata.namespace.clone().unwrap_or_default(),
            name: test.metadata.name.clone().unwrap_or_default(),
            source,
        }
    }

    fn tests_api(&self, test: &LocustTest) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            test.metadata.namespace.as_deref().unwrap_or_default(),
            &self.resource,
        )
    }

    /// Creates `child`, recording a reference to it in `created`. A name already taken (the
    /// cache lagging behind our own earlier create, or another owner) is read back instead:
    /// ours is used as it is, someone else's or one being deleted is listed in `children`.
    async fn create_child<K>(
        &self,
        test: &LocustTest,
        child: K,
        created: &mut Vec<ObjectReference>,
        children: &mut Children,
    ) -> Result<Option<K>, ReconcileError>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + k8s_openapi::Resource
            + Clone
            + Serialize
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let namespace = test.metadata.namespace.as_deref().unwrap_or_default();
        let name = child.meta().name.clone().unwrap_or_default();
        let label = plan::child_label(&K::kind(&()), &name);
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        match api.create(&params, &child).await {
            Ok(object) => {
                tracing::info!(namespace, %name, kind = %K::kind(&()), "created");
                self.own_writes.record_child(
                    test.metadata.uid.as_deref().unwrap_or_default(),
                    K::KIND,
                    &name,
                    tokio::time::Instant::now(),
                );
                created.push(object.object_ref(&()));
                Ok(Some(object))
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let existing = api
                    .get_opt(&name)
                    .await
                    .map_err(|e| self.error(test, ErrorKind::ReadChild, Some(e)))?;
                let uid = test.metadata.uid.as_deref().unwrap_or_default();
                match existing.map(|object| (plan::ownership(object.meta(), uid), object)) {
                    Some((Ownership::Ours, object)) => Ok(Some(object)),
                    Some((Ownership::Leaving, _)) => {
                        children.leaving.push(label);
                        Ok(None)
                    }
                    Some((Ownership::Foreign, _)) => {
                        children.foreign.push(label);
                        Ok(None)
                    }
                    // Deleted between our create and read: the next reconcile creates it.
                    None => Err(self.error(test, ErrorKind::Conflict, None)),
                }
            }
            Err(error) => Err(self.error(test, ErrorKind::CreateChild, Some(error))),
        }
    }

    /// Suspends the test's Jobs that still run (their pods are deleted): nothing is left
    /// waiting for workers that never connected.
    async fn suspend_jobs(
        &self,
        test: &LocustTest,
        children: &Children,
    ) -> Result<(), ReconcileError> {
        let namespace = test.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<Job> = Api::namespaced(self.client.clone(), namespace);
        let params = patch_params();
        let jobs = [&children.observed.master_job, &children.observed.worker_job];
        for job in jobs.into_iter().flatten().filter(|job| plan::job_runs(job)) {
            let name = job.metadata.name.as_deref().unwrap_or_default();
            let patch = json!({ "spec": { "suspend": true } });
            api.patch(name, &params, &Patch::Merge(&patch))
                .await
                .map_err(|e| {
                    self.error(test, write_error_kind(&e, ErrorKind::SuspendJob), Some(e))
                })?;
            tracing::info!(
                namespace,
                name,
                "suspended: its test failed waiting for workers"
            );
        }
        Ok(())
    }

    /// Writes `outcome.status` when it differs from the stored status.
    async fn write_status(
        &self,
        test: &LocustTest,
        outcome: &Outcome,
    ) -> Result<(), ReconcileError> {
        if test.status.as_ref() == Some(&outcome.status) {
            return Ok(());
        }
        // Members the new status leaves out (a read error gone, no missing worker any more)
        // are removed, not kept: the patch nulls them.
        let old = serde_json::to_value(&test.status).unwrap_or_default();
        let new = serde_json::to_value(&outcome.status).unwrap_or_default();
        let patch = json!({
            "metadata": { "resourceVersion": test.metadata.resource_version },
            "status": crate::merge_patch::between(&old, &new),
        });
        let params = patch_params();
        let name = test.metadata.name.as_deref().unwrap_or_default();
        let written = self
            .tests_api(test)
            .patch_status(name, &params, &Patch::Merge(&patch))
            .await;
        match written {
            Ok(stored) => {
                self.record_own_write(test, &stored.metadata);
                Ok(())
            }
            Err(error) => {
                let kind = write_error_kind(&error, ErrorKind::WriteStatus);
                if kind == ErrorKind::Conflict {
                    self.keep_new_record(test, outcome).await?;
                }
                Err(self.error(test, kind, Some(error)))
            }
        }
    }

    /// After a status write refused because the test changed since it was read: when that
    /// write carried the first record of the spec the children were just built from, writes the
    /// record alone, without precondition. The record is a fact about what was created, not a
    /// view computed from the stale test; lost, the spec would be unknown once the test is
    /// edited (the change that caused the conflict may be that edit).
    async fn keep_new_record(
        &self,
        test: &LocustTest,
        outcome: &Outcome,
    ) -> Result<(), ReconcileError> {
        let stored = test.status.as_ref().and_then(|s| s.original_spec.as_ref());
        let Some(record) = outcome.status.original_spec.as_ref() else {
            return Ok(());
        };
        if stored == Some(record) {
            return Ok(());
        }
        let patch = json!({ "status": { "originalSpec": record } });
        let params = patch_params();
        let name = test.metadata.name.as_deref().unwrap_or_default();
        self.tests_api(test)
            .patch_status(name, &params, &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(|error| {
                self.error(
                    test,
                    write_error_kind(&error, ErrorKind::RecordSpec),
                    Some(error),
                )
            })
    }

    /// Remembers that our write replaced `test` (as read) by `stored`.
    fn record_own_write(&self, test: &LocustTest, stored: &ObjectMeta) {
        self.own_writes.record(
            test.metadata.uid.as_deref().unwrap_or_default(),
            test.metadata
                .resource_version
                .as_deref()
                .unwrap_or_default(),
            stored.resource_version.as_deref().unwrap_or_default(),
            tokio::time::Instant::now(),
        );
    }

    /// Metrics of the transitions in `outcome`.
    fn observe(&self, outcome: &Outcome) {
        for event in &outcome.events {
            match event.reason {
                EventReason::TestSucceeded | EventReason::TestFailed => {
                    let status = &outcome.status;
                    if let (Some(phase), Some(start), Some(end)) =
                        (status.phase, &status.start_time, &status.completion_time)
                    {
                        let seconds = end.0.as_second() - start.0.as_second();
                        self.metrics.observe_test_duration(phase, seconds as f64);
                    }
                }
                EventReason::PodFailure(kind) => self.metrics.count_pod_failure(kind),
                _ => {}
            }
        }
    }

    /// Publishes `events` about `test`, best effort (an event that cannot be written is logged).
    async fn publish(&self, test: &LocustTest, events: &[StatusEvent]) {
        for event in events {
            self.publish_about(test, event, None).await;
        }
    }

    /// Publishes one event about `test`, with `related` as its secondary object.
    async fn publish_about(
        &self,
        test: &LocustTest,
        event: &StatusEvent,
        related: Option<ObjectReference>,
    ) {
        let reference = ObjectReference {
            api_version: Some(API_VERSION_V2.to_owned()),
            kind: Some(KIND.to_owned()),
            name: test.metadata.name.clone(),
            namespace: test.metadata.namespace.clone(),
            uid: test.metadata.uid.clone(),
            ..ObjectReference::default()
        };
        let published = self
            .recorder
            .publish(
                &Event {
                    type_: event.type_.into(),
                    reason: event.reason.as_str().to_owned(),
                    note: Some(event.message.clone()),
                    action: "Reconcile".to_owned(),
                    secondary: related,
                },
                &reference,
            )
            .await;
        if let Err(error) = published {
            tracing::warn!(%error, reason = event.reason.as_str(), "cannot record event");
        }
    }
}

/// Every patch of the controller, as its field manager.
fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

fn write_error_kind(error: &kube::Error, otherwise: ErrorKind) -> ErrorKind {
    match error {
        kube::Error::Api(status) if status.code == 409 => ErrorKind::Conflict,
        _ => otherwise,
    }
}
