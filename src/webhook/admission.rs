//! The admission and conversion webhooks as pure functions of the request body: bytes in,
//! HTTP status and JSON body out. The HTTP server ([`super::server`]) only routes to these.
//!
//! - validating: the shared [`validate`](crate::validation::validate) on the defaulted v2
//!   object (v1 objects are converted first); every violation in one denial, warnings as
//!   admission warnings. On UPDATE, a spec change to a test past `Pending` is allowed with a
//!   warning that it is ignored (the user's document, SpecDrifted); status-only,
//!   metadata-only updates and DELETE are always allowed.
//! - mutating: the shared [`apply_defaults`](crate::defaulting::apply_defaults) as a minimal
//!   RFC 6902 JSON Patch, touching nothing else. An object it cannot read is allowed unchanged:
//!   mutating admission runs before the API server's schema validation, which reports it.
//! - conversion: [`convert_object`](crate::conversion::convert_object) for every object; a
//!   failure is a `Failure` result with a message, never an HTTP error.

use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::conversion::{ConversionRequest, ConversionResponse, ConversionReview};
use kube::core::{DynamicObject, Status};
use serde::Serialize;
use serde_json::Value;

use crate::api::{API_VERSION_V2, GROUP, KIND, Phase, v2};
use crate::conversion::convert_object;
use crate::defaulting::{Defaulted, defaulted_spec};
use crate::field::{self, FieldError};
use crate::parse;
use crate::schema_check::SchemaChecker;
use crate::validation::validate;

use super::review::{Answer, TypedRequest, TypedReview};

/// `apiVersion` of the admission reviews served.
pub const ADMISSION_API_VERSION: &str = "admission.k8s.io/v1";
/// Most warnings returned in one admission response.
pub const MAX_WARNINGS: usize = 20;
/// `apiVersion` of the conversion reviews served.
pub const CONVERSION_API_VERSION: &str = "apiextensions.k8s.io/v1";

/// Which admission webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Admission {
    /// Rejects invalid tests, warns about ignored edits.
    Validate,
    /// Fills defaults.
    Mutate,
}

/// What a webhook decided, for metrics and logs (a bounded set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Allowed as is.
    Allowed,
    /// Allowed with a patch.
    Patched,
    /// Allowed with warnings.
    Warned,
    /// Denied.
    Denied,
    /// Every object converted.
    Converted,
    /// Conversion failed (a `Failure` result).
    ConversionFailed,
    /// The request itself was unusable (HTTP 4xx).
    BadRequest,
    /// The client went away before the answer.
    Cancelled,
}

impl Decision {
    /// Label value for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Patched => "patched",
            Decision::Warned => "warned",
            Decision::Denied => "denied",
            Decision::Converted => "converted",
            Decision::ConversionFailed => "conversion_failed",
            Decision::BadRequest => "bad_request",
            Decision::Cancelled => "cancelled",
        }
    }
}

/// An HTTP answer: status code, JSON (or plain-text for 4xx) body, and the decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Response body.
    pub body: Vec<u8>,
    /// What was decided.
    pub decision: Decision,
}

impl Reply {
    fn bad_request(message: impl Into<String>) -> Self {
        Reply {
            status: 400,
            body: message.into().into_bytes(),
            decision: Decision::BadRequest,
        }
    }

    fn json<T: Serialize>(value: &T, decision: Decision) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Reply {
                status: 200,
                body,
                decision,
            },
            Err(e) => Reply {
                status: 500,
                body: format!("cannot encode the response: {e}").into_bytes(),
                decision: Decision::BadRequest,
            },
        }
    }
}

/// Handles one AdmissionReview body.
pub fn admit(webhook: Admission, body: &[u8]) -> Reply {
    // The common case in one typed pass; anything unusual (and every error) is answered by the
    // untyped reading, whose messages name the field at fault.
    match TypedReview::from_slice(body) {
        Ok(review)
            if review.api_version == ADMISSION_API_VERSION && review.kind == "AdmissionReview" =>
        {
            let request = review.request;
            let answer = match webhook {
                Admission::Validate => validating_typed(request),
                Admission::Mutate => mutating_typed(request),
            };
            let decision = if !answer.allowed() {
                Decision::Denied
            } else if answer.patched() {
                Decision::Patched
            } else if answer.warned() {
                Decision::Warned
            } else {
                Decision::Allowed
            };
            Reply::json(&answer, decision)
        }
        _ => admit_untyped(webhook, body),
    }
}

/// [`admit`] on the untyped reading: the review as JSON, then kube's `AdmissionReview`, then
/// each object as a LocustTest.
fn admit_untyped(webhook: Admission, body: &[u8]) -> Reply {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => return Reply::bad_request(format!("the request body is not JSON: {e}")),
    };
    let uid = value
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (api_version, kind) = (text(&value, "apiVersion"), text(&value, "kind"));
    if api_version != ADMISSION_API_VERSION || kind != "AdmissionReview" {
        let message = format!(
            "expected an {ADMISSION_API_VERSION} AdmissionReview, got {kind:?} {api_version:?} (set admissionReviewVersions: [v1])"
        );
        return match uid {
            Some(uid) => deny_uid(uid, 400, "BadRequest", &message),
            None => Reply::bad_request(message),
        };
    }
    let review: AdmissionReview<DynamicObject> = match serde_path_to_error::deserialize(value) {
        Ok(review) => review,
        Err(e) => {
            let message = format!("malformed AdmissionReview at {}: {}", e.path(), e.inner());
            return match uid {
                Some(uid) => deny_uid(uid, 400, "BadRequest", &message),
                None => Reply::bad_request(message),
            };
        }
    };
    let types = review.types.clone();
    let Some(mut request) = review.request else {
        return Reply::bad_request("the AdmissionReview has no request");
    };
    request.types = types;
    let response = match webhook {
        Admission::Validate => validating(&request),
        Admission::Mutate => mutating(&request),
    };
    let decision = if !response.allowed {
        Decision::Denied
    } else if response.patch.is_some() {
        Decision::Patched
    } else if response.warnings.as_ref().is_some_and(|w| !w.is_empty()) {
        Decision::Warned
    } else {
        Decision::Allowed
    };
    let mut review = match serde_json::to_value(response.into_review()) {
        Ok(review) => review,
        Err(e) => return Reply::bad_request(format!("cannot encode the response: {e}")),
    };
    encode_patch(&mut review);
    Reply::json(&review, decision)
}

/// kube serializes `response.patch` (Go `[]byte`) as an array of numbers; the API server's
/// canonical form is a base64 string, which is what we send.
fn encode_patch(review: &mut Value) {
    use base64::Engine;
    if let Some(patch) = review.pointer_mut("/response/patch")
        && let Some(bytes) = patch.as_array().map(|items| {
            items
                .iter()
                .filter_map(Value::as_u64)
                .filter_map(|b| u8::try_from(b).ok())
                .collect::<Vec<u8>>()
        })
    {
        *patch = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A denial for a request whose review did not parse but whose uid is known.
fn deny_uid(uid: String, code: u16, reason: &str, message: &str) -> Reply {
    let response = serde_json::json!({
        "apiVersion": ADMISSION_API_VERSION,
        "kind": "AdmissionReview",
        "response": {
            "uid": uid,
            "allowed": false,
            "status": {"status": "Failure", "code": code, "reason": reason, "message": message}
        }
    });
    Reply::json(&response, Decision::Denied)
}

fn deny(
    request: &AdmissionRequest<DynamicObject>,
    code: u16,
    reason: &str,
    message: String,
) -> AdmissionResponse {
    let mut response = AdmissionResponse::from(request).deny(&message);
    response.result = Status::failure(&message, reason).with_code(code);
    response
}

/// The answer to a request that needs no look at the object: a denial when it is not about
/// our resource, an allowance when it needs no object ([`needs_no_object`]).
fn answered_without_object(request: &AdmissionRequest<DynamicObject>) -> Option<AdmissionResponse> {
    if let Some(message) = foreign_kind(&request.kind) {
        return Some(deny(request, 400, "BadRequest", message));
    }
    needs_no_object(&request.operation, request.sub_resource.as_deref())
        .then(|| AdmissionResponse::from(request))
}

/// Why a request about `kind` is not this webhook's, `None` when it is a LocustTest.
fn foreign_kind(kind: &kube::core::GroupVersionKind) -> Option<String> {
    (kind.group != GROUP || kind.kind != KIND).then(|| {
        format!(
            "this webhook admits {GROUP} {KIND} only, got {}/{} {}",
            kind.group, kind.version, kind.kind
        )
    })
}

/// The object as a defaulted v2 LocustTest (v1 converted), or why not.
fn object_as_v2(object: &DynamicObject) -> Result<Defaulted, String> {
    parse::to_value(object)
        .and_then(|value| parse::locust_test(&value))
        .map_err(|error| error.to_string())
}

/// The denial message for an object that does not read as a LocustTest: the problems the API
/// server's schema validation reports (an object normally never gets here, since that
/// validation runs before the validating webhook; it can when the CRD's schema is not ours),
/// in its wording, never the parser's.
fn unreadable(object: &DynamicObject, parse_error: &str) -> String {
    let name = object.metadata.name.as_deref().unwrap_or_default();
    let errors = match (SchemaChecker::new(), parse::to_value(object)) {
        (Ok(checker), Ok(value)) => checker.check(&value),
        _ => Vec::new(),
    };
    if errors.is_empty() {
        // The schema accepts what the types do not: only the parser can say where.
        return format!("LocustTest {name:?} is invalid: {parse_error}");
    }
    invalid(name, &errors)
}

/// `LocustTest "<name>" is invalid (N problems): <field>: <rule>; ...`.
fn invalid(name: &str, errors: &[FieldError]) -> String {
    let count = errors.len();
    format!(
        "LocustTest {name:?} is invalid ({count} problem{}): {}",
        if count == 1 { "" } else { "s" },
        field::join_errors(errors)
    )
}

/// DELETE, CONNECT and subresource requests are allowed without a look at the object.
fn needs_no_object(operation: &Operation, sub_resource: Option<&str>) -> bool {
    matches!(operation, Operation::Delete | Operation::Connect) || sub_resource.is_some()
}

/// What the validating webhook decides about a test read from a request (and, on UPDATE, the
/// test it replaces): the rules, whichever reading of the review got there.
enum Verdict {
    /// Allowed, with these warnings.
    Allow(Vec<String>),
    /// Denied as invalid (422), with this message and these warnings.
    Invalid(String, Vec<String>),
}

fn validation_verdict(test: &Defaulted, replaced: Option<&Defaulted>) -> Verdict {
    if let Some(old) = replaced {
        if old.spec == test.spec {
            // Metadata-only or status-only: never rejected, even if the spec is (still) invalid.
            return Verdict::Allow(Vec::new());
        }
        if let Some(warning) = ignored_edit_warning(old) {
            return Verdict::Allow(vec![warning]);
        }
    }
    let report = validate(test);
    let warnings = capped(report.warnings.iter().map(ToString::to_string).collect());
    if report.is_valid() {
        Verdict::Allow(warnings)
    } else {
        let name = test.metadata.name.as_deref().unwrap_or_default();
        Verdict::Invalid(invalid(name, &report.errors), warnings)
    }
}

fn validating(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    if let Some(answer) = answered_without_object(request) {
        return answer;
    }
    let Some(object) = &request.object else {
        return deny(
            request,
            400,
            "BadRequest",
            format!("{:?} request without an object", request.operation),
        );
    };
    let test = match object_as_v2(object) {
        Ok(test) => test,
        Err(e) => return deny(request, 422, "Invalid", unreadable(object, &e)),
    };
    let old = (request.operation == Operation::Update)
        .then(|| {
            request
                .old_object
                .as_ref()
                .and_then(|old| object_as_v2(old).ok())
        })
        .flatten();
    let (mut response, warnings) = match validation_verdict(&test, old.as_ref()) {
        Verdict::Allow(warnings) => (AdmissionResponse::from(request), warnings),
        Verdict::Invalid(message, warnings) => (deny(request, 422, "Invalid", message), warnings),
    };
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    response
}

/// The warning for a spec edit that can no longer take effect, `None` while it still can. An
/// edit is ignored once the test's children were built from its spec: from the moment the
/// controller records that spec (before the first child, so also while still `Pending`), and
/// in any phase past `Pending`.
fn ignored_edit_warning(old: &v2::LocustTest) -> Option<String> {
    let phase = old
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or(Phase::Pending);
    let built = old.recorded_spec().is_some();
    (phase != Phase::Pending || built).then(|| format!(
        "this test is {phase} and its resources exist: spec changes are ignored once they are created; delete and recreate the LocustTest to run it with the new spec"
    ))
}

/// At most [`MAX_WARNINGS`] warnings (the API server and kubectl truncate anyway), the last
/// one saying how many were left out.
fn capped(mut warnings: Vec<String>) -> Vec<String> {
    if warnings.len() > MAX_WARNINGS {
        let left_out = warnings.len() - (MAX_WARNINGS - 1);
        warnings.truncate(MAX_WARNINGS - 1);
        warnings.push(format!("... and {left_out} more warnings"));
    }
    warnings
}

/// [`answered_without_object`] for a typed request.
fn answered_without_object_typed(request: &TypedRequest) -> Option<Answer> {
    if let Some(message) = foreign_kind(&request.kind) {
        return Some(Answer::deny(
            request.uid.clone(),
            400,
            "BadRequest",
            message,
        ));
    }
    needs_no_object(&request.operation, request.sub_resource.as_deref())
        .then(|| Answer::allow(request.uid.clone()))
}

/// [`validating`] on a typed request (whose objects read as LocustTests).
fn validating_typed(request: TypedRequest) -> Answer {
    if let Some(answer) = answered_without_object_typed(&request) {
        return answer;
    }
    let uid = request.uid;
    let Some(object) = request.object else {
        return Answer::deny(
            uid,
            400,
            "BadRequest",
            format!("{:?} request without an object", request.operation),
        );
    };
    let test = Defaulted::new(object.test);
    let old = (request.operation == Operation::Update)
        .then(|| request.old_object.map(|old| Defaulted::new(old.test)))
        .flatten();
    let (answer, warnings) = match validation_verdict(&test, old.as_ref()) {
        Verdict::Allow(warnings) => (Answer::allow(uid), warnings),
        Verdict::Invalid(message, warnings) => {
            (Answer::deny(uid, 422, "Invalid", message), warnings)
        }
    };
    if warnings.is_empty() {
        answer
    } else {
        answer.with_warnings(warnings)
    }
}

/// [`mutating`] on a typed request (whose objects read as LocustTests).
fn mutating_typed(request: TypedRequest) -> Answer {
    if let Some(answer) = answered_without_object_typed(&request) {
        return answer;
    }
    let uid = request.uid;
    // v1 objects get their v2 defaults through conversion; the schema defaults v1 itself.
    let Some(object) = request.object.filter(|object| object.v2) else {
        return Answer::allow(uid);
    };
    let patch = defaults_patch(&object.test.spec);
    if patch.0.is_empty() {
        return Answer::allow(uid);
    }
    match serde_json::to_vec(&patch) {
        Ok(patch) => Answer::patch(uid, &patch),
        // kube's `with_patch` wording.
        Err(e) => Answer::deny(
            uid,
            500,
            "InternalError",
            format!("cannot encode the patch: failed to serialize patch: {e}"),
        ),
    }
}

fn mutating(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    if let Some(answer) = answered_without_object(request) {
        return answer;
    }
    let Some(object) = &request.object else {
        return AdmissionResponse::from(request);
    };
    // v1 objects get their v2 defaults through conversion; the schema defaults v1 itself.
    if object.types.as_ref().map(|t| t.api_version.as_str()) != Some(API_VERSION_V2) {
        return AdmissionResponse::from(request);
    }
    // Mutating admission runs before the API server's schema validation: an object this
    // webhook cannot read is not its to reject. Passed on unchanged, it gets every schema error
    // from the API server in kubectl's own format, then the validating webhook's rules.
    let written = parse::to_value(object).and_then(|value| parse::as_written(&value));
    let test = match written {
        Ok(test) => test,
        Err(error) => {
            tracing::debug!(%error, "mutating webhook: object not readable, left to schema validation");
            return AdmissionResponse::from(request);
        }
    };
    let patch = defaults_patch(&test.spec);
    if patch.0.is_empty() {
        return AdmissionResponse::from(request);
    }
    match AdmissionResponse::from(request).with_patch(patch) {
        Ok(response) => response,
        Err(e) => deny(
            request,
            500,
            "InternalError",
            format!("cannot encode the patch: {e}"),
        ),
    }
}

/// The JSON Patch (paths under `/spec`) that fills the defaults into `spec`. Both sides go
/// through the same serialization, so only defaulting shows up in the difference, and every
/// operation adds a field that is absent (its parent exists in the original object).
pub fn defaults_patch(spec: &v2::LocustTestSpec) -> json_patch::Patch {
    let filled = defaulted_spec(spec);
    if filled == *spec {
        // Nothing to fill (the usual case once the schema defaulted): no need to diff JSON.
        return json_patch::Patch(Vec::new());
    }
    let (Ok(before), Ok(after)) = (serde_json::to_value(spec), serde_json::to_value(&filled))
    else {
        return json_patch::Patch(Vec::new());
    };
    let patch = json_patch::diff(&before, &after);
    // Re-root every operation under /spec.
    let Ok(Value::Array(mut operations)) = serde_json::to_value(&patch) else {
        return json_patch::Patch(Vec::new());
    };
    for operation in &mut operations {
        for key in ["path", "from"] {
            if let Some(Value::String(pointer)) = operation.get_mut(key) {
                *pointer = format!("/spec{pointer}");
            }
        }
    }
    serde_json::from_value(Value::Array(operations)).unwrap_or(json_patch::Patch(Vec::new()))
}

/// Handles one ConversionReview body.
pub fn convert(body: &[u8]) -> Reply {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => return Reply::bad_request(format!("the request body is not JSON: {e}")),
    };
    let (api_version, kind) = (text(&value, "apiVersion"), text(&value, "kind"));
    if api_version != CONVERSION_API_VERSION || kind != "ConversionReview" {
        return Reply::bad_request(format!(
            "expected an {CONVERSION_API_VERSION} ConversionReview, got {kind:?} {api_version:?} (set conversionReviewVersions: [v1])"
        ));
    }
    let review: ConversionReview = match serde_path_to_error::deserialize(value) {
        Ok(review) => review,
        Err(e) => {
            return Reply::bad_request(format!(
                "malformed ConversionReview at {}: {}",
                e.path(),
                e.inner()
            ));
        }
    };
    let request = match ConversionRequest::from_review(review) {
        Ok(request) => request,
        Err(_) => return Reply::bad_request("the ConversionReview has no request"),
    };
    let desired = request.desired_api_version.clone();
    let objects = request.objects.clone();
    let response = ConversionResponse::for_request(request);
    let mut converted = Vec::with_capacity(objects.len());
    for (i, object) in objects.into_iter().enumerate() {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match convert_object(object, &desired) {
            Ok(object) => converted.push(object),
            Err(e) => {
                let message = format!("converting object {i} ({name:?}) to {desired}: {e}");
                let failed = response.failure(Status::failure(&message, "ConversionFailed"));
                return Reply::json(&failed.into_review(), Decision::ConversionFailed);
            }
        }
    }
    Reply::json(
        &response.success(converted).into_review(),
        Decision::Converted,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::{Value, json};

    use super::{Admission, TypedReview, admit, admit_untyped};

    fn fixtures() -> Vec<(String, Value)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/apiserver-reviews");
        let mut fixtures: Vec<(String, Value)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .filter(|path| !path.to_string_lossy().contains("convert"))
            .map(|path| {
                let recorded: Value =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                (
                    path.file_stem().unwrap().to_string_lossy().into_owned(),
                    recorded["body"].clone(),
                )
            })
            .collect();
        fixtures.sort_by(|a, b| a.0.cmp(&b.0));
        fixtures
    }

    /// Edits of a review that take each branch of the webhooks.
    fn variants(review: &Value) -> Vec<(&'static str, Value)> {
        let mut out = vec![("as recorded", review.clone())];
        let mut edit = |name: &'static str, f: &dyn Fn(&mut Value)| {
            let mut review = review.clone();
            f(&mut review);
            out.push((name, review));
        };
        edit("running old", &|r| {
            r["request"]["oldObject"] = r["request"]["object"].clone();
            if r["request"]["oldObject"].is_object() {
                r["request"]["oldObject"]["status"] = json!({"phase": "Running"});
            }
            r["request"]["operation"] = json!("UPDATE");
        });
        edit("running old, spec changed", &|r| {
            if r["request"]["object"].is_object() {
                r["request"]["oldObject"] = r["request"]["object"].clone();
                r["request"]["oldObject"]["status"] = json!({"phase": "Running"});
                r["request"]["object"]["spec"]["image"] = json!("locustio/locust:2.44.0");
                r["request"]["operation"] = json!("UPDATE");
            }
        });
        edit("built old, spec changed", &|r| {
            if r["request"]["object"].is_object() {
                r["request"]["oldObject"] = r["request"]["object"].clone();
                r["request"]["oldObject"]["metadata"]["annotations"] =
                    json!({"locust.io/original-spec": "{}"});
                r["request"]["object"]["spec"]["image"] = json!("locustio/locust:2.44.0");
                r["request"]["operation"] = json!("UPDATE");
            }
        });
        edit("invalid", &|r| {
            if r["request"]["object"].is_object() {
                let object = &mut r["request"]["object"];
                object["metadata"]["name"] = json!("x".repeat(70));
                if object["apiVersion"] == "locust.io/v2" {
                    object["spec"]["worker"]["replicas"] = json!(600);
                    object["spec"]["volumeMounts"] =
                        json!([{"name": "nothing", "mountPath": "/results"}]);
                } else {
                    object["spec"]["workerReplicas"] = json!(0);
                }
            }
        });
        edit("many warnings", &|r| {
            if r["request"]["object"]["apiVersion"] == "locust.io/v2" {
                let flags: Vec<String> = (0..30).map(|i| format!("--expect-workers={i}")).collect();
                r["request"]["object"]["spec"]["master"]["extraArgs"] = json!(flags);
            }
        });
        edit("unreadable", &|r| {
            if r["request"]["object"].is_object() {
                r["request"]["object"]["spec"]["worker"] = json!("ten");
            }
        });
        edit("unreadable old", &|r| {
            r["request"]["oldObject"] = json!({"apiVersion": "locust.io/v2", "kind": "LocustTest", "metadata": {}, "spec": 5});
            r["request"]["operation"] = json!("UPDATE");
        });
        edit("no object", &|r| r["request"]["object"] = Value::Null);
        edit("status subresource", &|r| {
            r["request"]["subResource"] = json!("status")
        });
        edit("connect", &|r| r["request"]["operation"] = json!("CONNECT"));
        edit("pod", &|r| {
            r["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Pod"});
        });
        edit("v9", &|r| {
            r["request"]["object"]["apiVersion"] = json!("locust.io/v9")
        });
        edit("no kind in object", &|r| {
            if let Some(object) = r["request"]["object"].as_object_mut() {
                object.remove("kind");
            }
        });
        edit("bad userInfo", &|r| r["request"]["userInfo"] = json!(5));
        edit("no operation", &|r| {
            r["request"].as_object_mut().unwrap().remove("operation");
        });
        edit("a response", &|r| {
            r["response"] = json!({"uid": "x", "allowed": true})
        });
        edit("v1beta1", &|r| {
            r["apiVersion"] = json!("admission.k8s.io/v1beta1")
        });
        edit("odd managedFields", &|r| {
            if r["request"]["object"].is_object() {
                r["request"]["object"]["metadata"]["managedFields"] =
                    json!([{"fieldsV1": 5, "manager": "x", "extra": [1]}, {}]);
            }
        });
        edit("bad managedFields", &|r| {
            if r["request"]["object"].is_object() {
                r["request"]["object"]["metadata"]["managedFields"] = json!([{"time": "soon"}]);
            }
        });
        edit("array managedFields entry", &|r| {
            if r["request"]["object"].is_object() {
                r["request"]["object"]["metadata"]["managedFields"] = json!([["v2"]]);
            }
        });
        edit("array metadata", &|r| {
            if r["request"]["object"].is_object() {
                r["request"]["object"]["metadata"] = json!(["x"]);
            }
        });
        edit("null metadata fields", &|r| {
            if r["request"]["object"].is_object() {
                r["request"]["object"]["metadata"]["labels"] = Value::Null;
                r["request"]["object"]["metadata"]["uid"] = Value::Null;
            }
        });
        edit("unknown fields", &|r| {
            r["extra"] = json!([1, 2]);
            r["request"]["extra"] = json!({"a": null});
            if r["request"]["object"].is_object() {
                r["request"]["object"]["extra"] = json!("x");
            }
        });
        out
    }

    /// The typed reading answers exactly as the untyped one, byte for byte, and is the one
    /// taken for the recorded reviews.
    #[test]
    fn typed_answers_equal_untyped_answers() {
        let fixtures = fixtures();
        assert!(fixtures.len() >= 10);
        for (name, review) in &fixtures {
            let body = serde_json::to_vec(review).unwrap();
            assert!(
                TypedReview::from_slice(&body).is_ok(),
                "{name}: the typed reading reads the recorded review"
            );
            let text = String::from_utf8(body).unwrap();
            // Edits JSON values cannot express: repeated keys, arrays for objects, the API
            // server's key order.
            let raw = [
                (
                    "repeated metadata",
                    text.replacen(
                        "\"metadata\":{",
                        "\"metadata\":{\"name\":\"a\"},\"metadata\":{",
                        1,
                    ),
                ),
                (
                    "repeated name",
                    text.replacen("\"metadata\":{", "\"metadata\":{\"name\":\"a\",", 1),
                ),
                (
                    "repeated uid",
                    text.replacen("\"uid\":", "\"uid\":\"a\",\"uid\":", 1),
                ),
                (
                    "review as array",
                    format!("[\"admission.k8s.io/v1\",\"AdmissionReview\",{text}]"),
                ),
                (
                    "kind first",
                    text.replacen(
                        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",",
                        "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\",",
                        1,
                    ),
                ),
            ];
            let edited = variants(review)
                .into_iter()
                .map(|(variant, review)| (variant, serde_json::to_vec(&review).unwrap()));
            let raw = raw
                .into_iter()
                .map(|(variant, text)| (variant, text.into_bytes()));
            for (variant, body) in edited.chain(raw) {
                for webhook in [Admission::Validate, Admission::Mutate] {
                    assert_eq!(
                        admit(webhook, &body),
                        admit_untyped(webhook, &body),
                        "{name}, {variant}, {webhook:?}"
                    );
                }
            }
        }
    }
}
