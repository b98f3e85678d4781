//! Pure decisions of a reconcile: which spec the test runs with ([`spec_source`]), which
//! children are ours ([`ownership`]), and the [`Plan`]: what to create, and whether
//! creating it is a recovery. No I/O; the reconciler does what these say.

use k8s_openapi::Resource as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::DynamicObject;

use crate::api::conditions::{STATUS_TRUE, reasons, types};
use crate::api::v2::{LocustTest, LocustTestSpec, Phase};
use crate::builders::Desired;
use crate::defaulting::{Defaulted, defaulted_spec};
use crate::field::FieldError;
use crate::parse;
use crate::status::{EventReason, MESSAGE_RECREATING, Observed, StatusEvent};
use crate::validation::Report;

pub use crate::api::v2::ORIGINAL_SPEC_FIELD;

/// Largest spec recorded in [`ORIGINAL_SPEC_FIELD`] (an object is at most 1.5 MiB in etcd, and
/// the record rides on every status read). A larger spec is run without a record: no drift
/// detection, no recovery.
pub const MAX_ORIGINAL_SPEC_BYTES: usize = 192 * 1024;

/// Where the spec the test runs with comes from. Every spec in it is defaulted.
#[derive(Clone, Debug, PartialEq)]
pub enum SpecSource {
    /// Read from the record ([`LocustTest::recorded_spec`]).
    Recorded(LocustTestSpec),
    /// Not recorded yet and safe to take from the current spec (nothing was created from
    /// another one): build from it, and record it with the status. The string is the record.
    RecordNow(LocustTestSpec, String),
    /// Not recorded yet and too large to record: build from the current spec, record nothing.
    Unrecorded(LocustTestSpec),
    /// Unknown: children exist but the record is missing or unreadable and the spec was
    /// edited since creation. Nothing is created or recreated.
    Unknown(String),
}

impl SpecSource {
    /// The spec to build children from, when known.
    pub fn spec(&self) -> Option<&LocustTestSpec> {
        match self {
            Self::Recorded(spec) | Self::RecordNow(spec, _) | Self::Unrecorded(spec) => Some(spec),
            Self::Unknown(_) => None,
        }
    }

    /// The record to write with the status, when there is a new one.
    pub fn record(&self) -> Option<&str> {
        match self {
            Self::RecordNow(_, text) => Some(text),
            _ => None,
        }
    }

    /// The test running with that spec, when known.
    pub fn runs_with(&self, test: &LocustTest) -> Option<Defaulted> {
        self.spec().map(|spec| Defaulted::with_spec(test, spec))
    }
}

/// The record of `spec`: the defaulted spec as compact JSON.
pub fn encode_original(spec: &LocustTestSpec) -> String {
    encode(&defaulted_spec(spec))
}

/// A defaulted spec as compact JSON.
fn encode(spec: &LocustTestSpec) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

/// Decides which spec the test runs with. `children_exist` is true when any child owned by
/// the test exists.
pub fn spec_source(test: &Defaulted, children_exist: bool) -> SpecSource {
    let recorded = test
        .recorded_spec()
        .map(|(place, text)| (place, serde_json::from_str::<LocustTestSpec>(text)));
    let problem = match recorded {
        // Defaulted again: a record written before a default existed lacks it.
        Some((_, Ok(spec))) => return SpecSource::Recorded(defaulted_spec(&spec)),
        Some((place, Err(error))) => format!("{place} is not a spec: {error}"),
        None => format!("{ORIGINAL_SPEC_FIELD} is missing"),
    };
    let started = test
        .status
        .as_ref()
        .is_some_and(|s| s.start_time.is_some() || s.phase.is_some_and(|p| p != Phase::Pending));
    // Nothing was built from another spec when no child exists and the test never ran, or
    // when the spec was never edited (generation 1; e.g. children of the Go operator).
    let safe = (!children_exist && !started) || test.metadata.generation.unwrap_or(1) <= 1;
    if !safe {
        return SpecSource::Unknown(problem);
    }
    let spec = test.spec.clone();
    let text = encode(&spec);
    if text.len() > MAX_ORIGINAL_SPEC_BYTES {
        SpecSource::Unrecorded(spec)
    } else {
        SpecSource::RecordNow(spec, text)
    }
}

/// True when the test's children were all created once: a child missing now was deleted by
/// someone else, and creating it again is a recovery. The status says so: `Running`,
/// `Ready=True`, or a recovery already under way (`Ready=False` while recreating, e.g. waiting
/// for a child being deleted in the foreground) — which must not read as a first creation.
pub fn children_were_created(test: &LocustTest) -> bool {
    let Some(status) = &test.status else {
        return false;
    };
    status.phase == Some(Phase::Running)
        || status.conditions.iter().flatten().any(|c| {
            c.type_ == types::READY
                && (c.status == STATUS_TRUE
                    || (c.reason == reasons::RESOURCES_CREATING
                        && c.message.starts_with(MESSAGE_RECREATING)))
        })
}

/// True when the test is in a terminal phase: nothing is created or recreated any more.
pub fn is_terminal(test: &LocustTest) -> bool {
    test.status
        .as_ref()
        .and_then(|s| s.phase)
        .is_some_and(Phase::is_terminal)
}

/// How a child found in the cache relates to the test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Owned by this test (controller owner reference with its uid).
    Ours,
    /// Ours, but being deleted (`deletionTimestamp` set, e.g. `kubectl delete job
    /// --cascade=foreground` waiting for its pods): not there for the test any more, and not
    /// someone else's either. The controller waits for it to go, then creates it again.
    Leaving,
    /// Same name, other owner: another test of the same name being deleted, or an object the
    /// operator does not own. Never adopted or changed.
    Foreign,
}

/// Whether `child` belongs to the test with `uid`.
pub fn ownership(child: &ObjectMeta, uid: &str) -> Ownership {
    let ours = child
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.controller == Some(true));
    match (ours, child.deletion_timestamp.is_some()) {
        (true, false) => Ownership::Ours,
        (true, true) => Ownership::Leaving,
        (false, _) => Ownership::Foreign,
    }
}

/// Reads a LocustTest from the cache's untyped object. A `status` that does not parse (written
/// by another tool) is dropped so the controller writes a fresh one; a spec or metadata that
/// does not parse is a [`Report`] naming the field.
pub fn decode(object: &DynamicObject) -> Result<(Defaulted, Option<String>), Report> {
    let mut value = parse::to_value(object).map_err(report)?;
    match parse::locust_test(&value) {
        Ok(test) => Ok((test, None)),
        Err(error) if error.field.starts_with("status") => {
            if let Some(map) = value.as_object_mut() {
                map.remove("status");
            }
            parse::locust_test(&value)
                .map(|test| (test, Some(error.to_string())))
                .map_err(report)
        }
        Err(error) => Err(report(error)),
    }
}

/// A stand-in for a LocustTest whose spec does not parse, so its status can say why: the
/// object's metadata and status, and an empty spec with the worker count when readable.
pub fn undecodable(object: &DynamicObject) -> Option<Defaulted> {
    let replicas = object
        .data
        .pointer("/spec/worker/replicas")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0);
    let status = object.data.get("status").cloned();
    let mut value = serde_json::json!({
        "apiVersion": crate::api::API_VERSION_V2,
        "kind": crate::api::KIND,
        "metadata": object.metadata,
        "spec": {
            "image": "",
            "master": {"command": ""},
            "worker": {"command": "", "replicas": replicas},
        },
    });
    if let (Some(status), Some(map)) = (status, value.as_object_mut()) {
        map.insert("status".into(), status);
    }
    serde_json::from_value(value.clone())
        .ok()
        .or_else(|| {
            let map = value.as_object_mut()?;
            map.remove("status");
            serde_json::from_value(value).ok()
        })
        .map(Defaulted::new)
}

/// A parse error as a validation report; an error about the whole object is about its spec.
fn report(mut error: FieldError) -> Report {
    if error.field.is_empty() {
        error.field = "spec".to_owned();
    }
    Report {
        errors: vec![error],
        warnings: Vec::new(),
    }
}

/// The test's children as the caches show them.
#[derive(Clone, Debug, Default)]
pub struct Children {
    /// The children that are ours, and the test's pods.
    pub observed: Observed,
    /// Children whose name is taken by an object the test does not own, as `Kind name`.
    pub foreign: Vec<String>,
    /// Children of the test being deleted, as `Kind name`: neither there nor someone else's;
    /// they are created again once gone.
    pub leaving: Vec<String>,
}

impl Children {
    /// Any child of the test exists, even one being deleted.
    pub fn any_ours(&self) -> bool {
        let observed = &self.observed;
        observed.service.is_some()
            || observed.master_job.is_some()
            || observed.worker_job.is_some()
            || !self.leaving.is_empty()
    }

    /// Some child of the test is not there.
    pub fn any_missing(&self) -> bool {
        let observed = &self.observed;
        observed.service.is_none() || observed.master_job.is_none() || observed.worker_job.is_none()
    }

    /// Whether `kind name` may be created: not there, not taken, not being deleted.
    fn may_create(&self, kind: &str, name: Option<&str>) -> bool {
        let label = child_label(kind, name.unwrap_or_default());
        !self.foreign.contains(&label) && !self.leaving.contains(&label)
    }
}

/// How a child is named in [`Children::foreign`], [`Children::leaving`] and events:
/// `Job my-test-master`.
pub fn child_label(kind: &str, name: &str) -> String {
    format!("{kind} {name}")
}

/// A child to create.
#[derive(Clone, Debug, PartialEq)]
pub enum Child {
    /// The master Service.
    Service(Service),
    /// The master Job.
    MasterJob(Job),
    /// The worker Job.
    WorkerJob(Job),
}

/// What one reconcile writes before the status: decided from what was read, without I/O.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The missing children to create, in order (Service, master Job, worker Job, so the
    /// workers find the master's name).
    pub create: Vec<Child>,
    /// Creating them is a recovery (each announced `Recreated`), not the first creation (one
    /// `Created`).
    pub recovery: bool,
    /// Events to record whatever the writes give (`RecoveryImpossible`).
    pub events: Vec<StatusEvent>,
}

/// The plan for `test` (as read) with `children`, running with `source` (whose test was built
/// into `desired`, when the spec is known); `valid` is its validation verdict. A terminal or
/// invalid test gets nothing created.
pub fn plan(
    test: &LocustTest,
    children: &Children,
    source: &SpecSource,
    valid: bool,
    desired: Option<Desired>,
) -> Plan {
    let mut plan = Plan {
        recovery: children_were_created(test),
        ..Plan::default()
    };
    if is_terminal(test) || !valid {
        return plan;
    }
    match (desired, source) {
        (Some(desired), _) => {
            let observed = &children.observed;
            let service = &desired.service.metadata.name;
            if observed.service.is_none() && children.may_create(Service::KIND, service.as_deref())
            {
                plan.create.push(Child::Service(desired.service));
            }
            let master = &desired.master_job.metadata.name;
            if observed.master_job.is_none() && children.may_create(Job::KIND, master.as_deref()) {
                plan.create.push(Child::MasterJob(desired.master_job));
            }
            let worker = &desired.worker_job.metadata.name;
            if observed.worker_job.is_none() && children.may_create(Job::KIND, worker.as_deref()) {
                plan.create.push(Child::WorkerJob(desired.worker_job));
            }
        }
        (None, SpecSource::Unknown(problem)) if children.any_missing() && plan.recovery => {
            plan.events.push(StatusEvent::new(
                EventReason::RecoveryImpossible,
                format!(
                    "A child was deleted but is not recreated: the original spec is unknown ({problem})"
                ),
            ));
        }
        (None, _) => {}
    }
    plan
}

/// A Job that has neither finished nor been suspended.
pub fn job_runs(job: &Job) -> bool {
    let suspended = job.spec.as_ref().and_then(|s| s.suspend) == Some(true);
    let finished = ["Complete", "Failed"]
        .into_iter()
        .any(|type_| crate::status::job_condition(Some(job), type_).is_some());
    !suspended && !finished
}
