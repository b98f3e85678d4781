//! One reconcile of one LocustTest: the thin layer that talks to the API. Everything it
//! decides comes from pure functions ([`super::plan`], [`crate::builders`],
//! [`crate::status`]); this file reads the caches, writes what they say and records events.
//!
//! Writes, in order, each only when needed:
//! 1. the [`ANNOTATION_ORIGINAL_SPEC`] record (once, before the first child);
//! 2. missing children (Service, master Job, worker Job), created and never updated, and the
//!    `Created`/`Recreated` event at once (before the status write, which may fail);
//! 3. `.status` through the status subresource, when it differs from the stored one, with the
//!    read `resourceVersion` as precondition so a status computed from a stale object is never
//!    written;
//! 4. events for the transitions, after the status they describe was written.
//!
//! A resync where nothing changed therefore writes nothing. And a reconcile whose caches have
//! not yet seen the operator's own last writes to the test (its annotation or status, a child
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
use super::metrics::{ControllerMetrics, ErrorKind, ReconcileResult};
use super::own_writes::OwnWrites;
use super::plan::{
    self, ANNOTATION_ORIGINAL_SPEC, Ownership, SpecSource, children_were_created, is_terminal,
};
use crate::api::v2::{LocustTest, Phase};
use crate::api::{API_VERSION_V2, KIND};
use crate::builders::desired;
use crate::config::Config;
use crate::status::{self, EventType, Observed, Outcome, StatusEvent, event_reasons};
use crate::validation::validate;

pub use crate::names::FIELD_MANAGER;

/// Event reasons of the controller's own actions (the status transitions have theirs in
/// [`event_reasons`]).
pub mod action_reasons {
    /// Normal: the Service and Jobs of a test were created.
    pub const CREATED: &str = "Created";
    /// Warning: a child deleted by someone else was recreated from the original spec.
    pub const RECREATED: &str = "Recreated";
    /// Warning: a child name is taken by an object the test does not own; retried.
    pub const NAME_CONFLICT: &str = "NameConflict";
    /// Warning: a child was deleted but cannot be recreated (the original spec is unknown).
    pub const RECOVERY_IMPOSSIBLE: &str = "RecoveryImpossible";
}

/// Look again after this long even when nothing changes (re-evaluates time-based conditions;
/// a resync where nothing changed writes nothing).
pub const RESYNC_PERIOD: Duration = Duration::from_secs(10 * 60);
/// Retry after this long when a child name is taken by an object the test does not own.
pub const FOREIGN_CHILD_RETRY: Duration = Duration::from_secs(5);
/// Look again after this while a child of the test is being deleted (its deletion ends with a
/// watch event that triggers a reconcile sooner).
pub const LEAVING_CHILD_RETRY: Duration = Duration::from_secs(5);
/// Look again after this long when the child caches do not hold a complete list yet.
pub const CACHE_WAIT: Duration = Duration::from_millis(100);
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

async fn reconcile_inner(object: &DynamicObject, ctx: &Context) -> Result<Action, ReconcileError> {
    if object.metadata.deletion_timestamp.is_some() {
        // Owner references garbage-collect the children; there is no finalizer.
        return Ok(Action::await_change());
    }
    // Children are read from the caches: until they hold a complete list (only at start), look
    // again shortly rather than act on a partial view.
    if !ctx.caches.ready() {
        return Ok(Action::requeue(CACHE_WAIT));
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
        return Ok(Action::requeue(OWN_WRITE_WAIT));
    }
    let now = Timestamp::now();
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
            let Some(stand_in) = plan::undecodable(object) else {
                tracing::warn!(%namespace, %name, "LocustTest cannot be read at all; skipped");
                return Ok(Action::await_change());
            };
            let outcome = status::invalid_spec(&stand_in, &report, now);
            ctx.write_status(&stand_in, &outcome).await?;
            ctx.publish(&stand_in, &outcome.events).await;
            return Ok(Action::await_change());
        }
    };
    let uid = test.metadata.uid.clone().unwrap_or_default();
    let Some(lookup) = Lookup::new(ctx, &namespace, &name, &uid, &test) else {
        // A child we created is not in its cache yet: creating it again would get a 409.
        return Ok(Action::requeue(OWN_WRITE_WAIT));
    };
    let source = plan::spec_source(&test, lookup.any_ours());

    // Validate the spec the test runs with (an edit after the start is ignored, valid or not).
    let runs_with = source.spec().map(|spec| plan::with_spec(&test, spec));
    let report = validate(runs_with.as_ref().unwrap_or(&test));
    if !report.is_valid() && !lookup.any_ours() {
        let outcome = status::invalid_spec(&test, &report, now);
        ctx.write_status(&test, &outcome).await?;
        ctx.publish(&test, &outcome.events).await;
        return Ok(Action::await_change());
    }

    let mut test = test;
    if let SpecSource::RecordNow(_, text) = &source {
        test = ctx.record_original(&test, text).await?;
    }
    let mut observed = lookup.observed;
    observed.original_spec = source.spec().cloned();
    // A child of ours being deleted was created once: the test is recovering from that
    // deletion until it is gone and created again.
    observed.recreating = !lookup.leaving.is_empty();

    let mut events: Vec<StatusEvent> = Vec::new();
    let mut foreign = lookup.foreign;
    let mut leaving = lookup.leaving;
    if !is_terminal(&test) && report.is_valid() {
        match &runs_with {
            Some(runs_with) => {
                let created = ctx
                    .create_missing(runs_with, &mut observed, &mut foreign, &mut leaving)
                    .await?;
                if children_were_created(&test) {
                    // One event per object, each naming it as the related object, so that
                    // repeated recoveries are told apart (the recorder folds identical events).
                    observed.recreating |= !created.is_empty();
                    for child in created {
                        let event = StatusEvent {
                            type_: EventType::Warning,
                            reason: action_reasons::RECREATED,
                            message: format!(
                                "Recreated {}, deleted by someone else, from the spec the test started with",
                                describe(&child)
                            ),
                        };
                        ctx.publish_about(&test, &event, Some(child)).await;
                    }
                } else if !created.is_empty() {
                    let list: Vec<String> = created.iter().map(describe).collect();
                    events.push(StatusEvent {
                        type_: EventType::Normal,
                        reason: action_reasons::CREATED,
                        message: format!("Created {}", list.join(", ")),
                    });
                }
            }
            None => {
                if let SpecSource::Unknown(problem) = &source
                    && missing_children(&observed)
                    && children_were_created(&test)
                {
                    events.push(StatusEvent {
                        type_: EventType::Warning,
                        reason: action_reasons::RECOVERY_IMPOSSIBLE,
                        message: format!(
                            "A child was deleted but is not recreated: the original spec is unknown ({problem})"
                        ),
                    });
                }
            }
        }
    }

    // What was done is announced even if the status write below fails: the next reconcile
    // finds the children and would not announce them again.
    ctx.publish(&test, &events).await;
    let outcome = status::compute(&test, &observed, now, ctx.grace);
    ctx.write_status(&test, &outcome).await?;
    ctx.observe(&outcome);
    ctx.publish(&test, &outcome.events).await;

    if !foreign.is_empty() {
        let list = foreign.join(", ");
        ctx.publish(
            &test,
            &[StatusEvent {
                type_: EventType::Warning,
                reason: action_reasons::NAME_CONFLICT,
                message: format!(
                    "{list} exists and is not owned by this LocustTest; waiting for it to go away"
                ),
            }],
        )
        .await;
        return Err(ctx.error(&test, ErrorKind::ChildOwnedByOther, None));
    }
    let terminal = outcome.status.phase.is_some_and(Phase::is_terminal);
    if !leaving.is_empty() && !terminal {
        // Its deletion ends with a watch event; look again soon in any case.
        tracing::debug!(%namespace, %name, leaving = %leaving.join(", "), "waiting for children being deleted to go");
        return Ok(Action::requeue(LEAVING_CHILD_RETRY));
    }
    Ok(match outcome.requeue_after {
        Some(after) => Action::requeue(after.min(RESYNC_PERIOD)),
        None if terminal => Action::await_change(),
        None => Action::requeue(RESYNC_PERIOD),
    })
}

/// `Job my-test-master`.
fn describe(child: &ObjectReference) -> String {
    format!(
        "{} {}",
        child.kind.as_deref().unwrap_or_default(),
        child.name.as_deref().unwrap_or_default()
    )
}

fn missing_children(observed: &Observed) -> bool {
    observed.service.is_none() || observed.master_job.is_none() || observed.worker_job.is_none()
}

/// The test's children as the caches show them.
struct Lookup {
    observed: Observed,
    /// Names of children whose name is taken by an object the test does not own.
    foreign: Vec<String>,
    /// Names of children of the test being deleted: neither there nor someone else's; they
    /// are created again once gone.
    leaving: Vec<String>,
}

impl Lookup {
    /// `None` when a child we created is not in its cache yet
    /// ([`OwnWrites::child_cache_is_behind`]): the caches are behind our own writes.
    fn new(
        ctx: &Context,
        namespace: &str,
        name: &str,
        uid: &str,
        test: &LocustTest,
    ) -> Option<Self> {
        let names = desired_names(test);
        let mut foreign = Vec::new();
        let cached_service = ctx.caches.service(namespace, &names.service);
        let cached_master = ctx.caches.job(namespace, &names.master);
        let cached_worker = ctx.caches.job(namespace, &names.worker);
        let now = tokio::time::Instant::now();
        // Every record is looked at (and dropped once its child is cached): no short-circuit.
        let children_behind = [
            (Service::KIND, &names.service, cached_service.is_some()),
            (Job::KIND, &names.master, cached_master.is_some()),
            (Job::KIND, &names.worker, cached_worker.is_some()),
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
        let mut leaving = Vec::new();
        let service = owned(cached_service, uid, &mut foreign, &mut leaving);
        let master = owned(cached_master, uid, &mut foreign, &mut leaving);
        let worker = owned(cached_worker, uid, &mut foreign, &mut leaving);
        let pods = ctx
            .caches
            .pods_of(namespace, name)
            .into_iter()
            .filter(|p| owned_by_our_jobs(p, master.as_ref(), worker.as_ref()))
            .collect();
        Some(Self {
            observed: Observed {
                service,
                master_job: master,
                worker_job: worker,
                pods,
                recreating: false,
                original_spec: None,
            },
            foreign,
            leaving,
        })
    }

    fn any_ours(&self) -> bool {
        self.observed.service.is_some()
            || self.observed.master_job.is_some()
            || self.observed.worker_job.is_some()
            || !self.leaving.is_empty()
    }
}

/// The cached child `found` when the test with `uid` owns it; a child of that name owned by
/// someone else is listed in `foreign`, one of ours being deleted in `leaving`, as
/// `Kind name`.
fn owned<K: Resource<DynamicType = ()> + Clone>(
    found: Option<Arc<K>>,
    uid: &str,
    foreign: &mut Vec<String>,
    leaving: &mut Vec<String>,
) -> Option<K> {
    let found = found?;
    let label = || {
        let name = found.meta().name.as_deref().unwrap_or_default();
        format!("{} {name}", K::kind(&()))
    };
    match plan::ownership(found.meta(), uid) {
        Ownership::Ours => return Some((*found).clone()),
        Ownership::Leaving => leaving.push(label()),
        Ownership::Foreign => foreign.push(label()),
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

struct DesiredNames {
    service: String,
    master: String,
    worker: String,
}

fn desired_names(test: &LocustTest) -> DesiredNames {
    use crate::names::{Role, node_name};
    let name = test.metadata.name.as_deref().unwrap_or_default();
    DesiredNames {
        service: node_name(name, Role::Master),
        master: node_name(name, Role::Master),
        worker: node_name(name, Role::Worker),
    }
}

impl Context {
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

    /// Writes the original-spec record with the read `resourceVersion` as precondition and
    /// returns the test as stored.
    async fn record_original(
        &self,
        test: &LocustTest,
        text: &str,
    ) -> Result<LocustTest, ReconcileError> {
        let patch = json!({
            "metadata": {
                "resourceVersion": test.metadata.resource_version,
                "annotations": { ANNOTATION_ORIGINAL_SPEC: text },
            }
        });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let name = test.metadata.name.as_deref().unwrap_or_default();
        match self
            .tests_api(test)
            .patch(name, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(stored) => match plan::decode(&stored) {
                Ok((stored, _)) => {
                    self.record_own_write(test, &stored.metadata);
                    Ok(stored)
                }
                Err(_) => Err(self.error(test, ErrorKind::Conflict, None)),
            },
            Err(error) => Err(self.error(
                test,
                write_error_kind(&error, ErrorKind::RecordSpec),
                Some(error),
            )),
        }
    }

    /// Creates the children missing from `observed` (Service, then master Job, then worker
    /// Job, so workers find the master's name) and puts the created objects into it. Returns
    /// references to what was created. A name already taken (the cache lagging behind
    /// our own earlier create, or another owner) is read back instead.
    async fn create_missing(
        &self,
        test: &LocustTest,
        observed: &mut Observed,
        foreign: &mut Vec<String>,
        leaving: &mut Vec<String>,
    ) -> Result<Vec<ObjectReference>, ReconcileError> {
        let desired = desired(test, &self.config);
        let mut created = Vec::new();
        if observed.service.is_none() {
            observed.service = self
                .create_child(test, desired.service, &mut created, foreign, leaving)
                .await?;
        }
        if observed.master_job.is_none() {
            observed.master_job = self
                .create_child(test, desired.master_job, &mut created, foreign, leaving)
                .await?;
        }
        if observed.worker_job.is_none() {
            observed.worker_job = self
                .create_child(test, desired.worker_job, &mut created, foreign, leaving)
                .await?;
        }
        Ok(created)
    }

    async fn create_child<K>(
        &self,
        test: &LocustTest,
        child: K,
        created: &mut Vec<ObjectReference>,
        foreign: &mut Vec<String>,
        leaving: &mut Vec<String>,
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
        let label = format!("{} {name}", K::kind(&()));
        if foreign.contains(&label) || leaving.contains(&label) {
            return Ok(None);
        }
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
                        leaving.push(label);
                        Ok(None)
                    }
                    Some((Ownership::Foreign, _)) => {
                        foreign.push(label);
                        Ok(None)
                    }
                    // Deleted between our create and read: the next reconcile creates it.
                    None => Err(self.error(test, ErrorKind::Conflict, None)),
                }
            }
            Err(error) => Err(self.error(test, ErrorKind::CreateChild, Some(error))),
        }
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
        let patch = json!({
            "metadata": { "resourceVersion": test.metadata.resource_version },
            "status": outcome.status,
        });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let name = test.metadata.name.as_deref().unwrap_or_default();
        self.tests_api(test)
            .patch_status(name, &params, &Patch::Merge(&patch))
            .await
            .map(|stored| self.record_own_write(test, &stored.metadata))
            .map_err(|error| {
                self.error(
                    test,
                    write_error_kind(&error, ErrorKind::WriteStatus),
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
                event_reasons::TEST_SUCCEEDED | event_reasons::TEST_FAILED => {
                    let status = &outcome.status;
                    if let (Some(phase), Some(start), Some(end)) =
                        (status.phase, &status.start_time, &status.completion_time)
                    {
                        let seconds = end.0.as_second() - start.0.as_second();
                        self.metrics.observe_test_duration(phase, seconds as f64);
                    }
                }
                event_reasons::POD_FAILURE => {
                    if let Some(reason) = pods_healthy_reason(outcome) {
                        self.metrics.count_pod_failure(reason);
                    }
                }
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
                    reason: event.reason.to_owned(),
                    note: Some(event.message.clone()),
                    action: "Reconcile".to_owned(),
                    secondary: related,
                },
                &reference,
            )
            .await;
        if let Err(error) = published {
            tracing::warn!(%error, reason = event.reason, "cannot record event");
        }
    }
}

fn pods_healthy_reason(outcome: &Outcome) -> Option<&'static str> {
    use crate::api::conditions::types;
    let condition = outcome
        .status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == types::PODS_HEALTHY)?;
    status::FailureKind::ALL
        .into_iter()
        .map(status::FailureKind::reason)
        .find(|reason| *reason == condition.reason)
}

fn write_error_kind(error: &kube::Error, otherwise: ErrorKind) -> ErrorKind {
    match error {
        kube::Error::Api(status) if status.code == 409 => ErrorKind::Conflict,
        _ => otherwise,
    }
}
