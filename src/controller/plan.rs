//! Pure decisions of a reconcile: which spec the test runs with, which children are ours, what
//! to create and whether creating it is a recovery. No I/O; the reconciler does what these say.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::DynamicObject;

use crate::api::conditions::{STATUS_TRUE, reasons, types};
use crate::api::v2::{LocustTest, LocustTestSpec, Phase};
use crate::defaulting::apply_defaults;
use crate::field::FieldError;
use crate::parse;
use crate::status::MESSAGE_RECREATING;
use crate::validation::Report;

pub use crate::api::ANNOTATION_ORIGINAL_SPEC;

/// Largest spec recorded in [`ANNOTATION_ORIGINAL_SPEC`] (the API server allows 256 KiB of
/// annotations in all). A larger spec is run without a record: no drift detection, no recovery.
pub const MAX_ORIGINAL_SPEC_BYTES: usize = 192 * 1024;

/// Where the spec the test runs with comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum SpecSource {
    /// Read from [`ANNOTATION_ORIGINAL_SPEC`].
    Recorded(LocustTestSpec),
    /// Not recorded yet and safe to take from the current spec (nothing was created from
    /// another one): record it, then build from it. The string is the annotation value.
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
}

/// The annotation value for `spec`: the defaulted spec as compact JSON.
pub fn encode_original(spec: &LocustTestSpec) -> String {
    let mut spec = spec.clone();
    apply_defaults(&mut spec);
    serde_json::to_string(&spec).unwrap_or_default()
}

/// Decides which spec the test runs with. `children_exist` is true when any child owned by
/// the test exists.
pub fn spec_source(test: &LocustTest, children_exist: bool) -> SpecSource {
    let recorded = test
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_ORIGINAL_SPEC));
    let problem = match recorded.map(|text| serde_json::from_str::<LocustTestSpec>(text)) {
        Some(Ok(spec)) => return SpecSource::Recorded(spec),
        Some(Err(error)) => format!("annotation {ANNOTATION_ORIGINAL_SPEC} is not a spec: {error}"),
        None => format!("annotation {ANNOTATION_ORIGINAL_SPEC} is missing"),
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
    let mut spec = test.spec.clone();
    apply_defaults(&mut spec);
    let text = encode_original(&spec);
    if text.len() > MAX_ORIGINAL_SPEC_BYTES {
        SpecSource::Unrecorded(spec)
    } else {
        SpecSource::RecordNow(spec, text)
    }
}

/// The test with `spec` in place of its own (what the builders and the status get).
pub fn with_spec(test: &LocustTest, spec: &LocustTestSpec) -> LocustTest {
    let mut test = test.clone();
    test.spec = spec.clone();
    test
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
pub fn decode(object: &DynamicObject) -> Result<(LocustTest, Option<String>), Report> {
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
pub fn undecodable(object: &DynamicObject) -> Option<LocustTest> {
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
    serde_json::from_value(value.clone()).ok().or_else(|| {
        let map = value.as_object_mut()?;
        map.remove("status");
        serde_json::from_value(value).ok()
    })
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
