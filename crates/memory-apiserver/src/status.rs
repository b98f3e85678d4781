//! `Status` error bodies exactly as the API server writes them.

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// An API error: HTTP code and `Status` body, plus extra response headers.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// HTTP status code (repeated as `code` in the body).
    pub code: u16,
    /// The `Status` object.
    pub body: Value,
}

impl ApiError {
    /// A `Status` with `reason`, `message` and optional `details`.
    pub fn new(
        code: u16,
        reason: &str,
        message: impl Into<String>,
        details: Option<Value>,
    ) -> Self {
        let mut body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message.into(),
            "reason": reason,
            "code": code,
        });
        if let Some(details) = details {
            body["details"] = details;
        }
        Self { code, body }
    }

    fn details(resource: &ResourceType, name: &str) -> Value {
        let mut details = json!({"name": name, "kind": resource.plural});
        if !resource.group.is_empty() {
            details["group"] = json!(resource.group);
        }
        details
    }

    /// 404 `NotFound`: `jobs.batch "x" not found`.
    pub fn not_found(resource: &ResourceType, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", resource.qualified()),
            Some(Self::details(resource, name)),
        )
    }

    /// 409 `AlreadyExists`.
    pub fn already_exists(resource: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", resource.qualified()),
            Some(Self::details(resource, name)),
        )
    }

    /// 409 `Conflict` for a stale resourceVersion.
    pub fn conflict(resource: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                resource.qualified()
            ),
            Some(Self::details(resource, name)),
        )
    }

    /// 422 `Invalid` with causes `(field, message)`, for a failed validation of the object:
    /// `Job.batch "x" is invalid: ...` (`Service "x"` for the core group), with `details.kind`
    /// the Kind.
    pub fn invalid(resource: &ResourceType, name: &str, causes: &[(String, String)]) -> Self {
        let qualified = if resource.group.is_empty() {
            resource.kind.to_owned()
        } else {
            format!("{}.{}", resource.kind, resource.group)
        };
        let mut details = json!({"name": name, "kind": resource.kind});
        if !resource.group.is_empty() {
            details["group"] = json!(resource.group);
        }
        Self::invalid_with(&qualified, details, name, causes)
    }

    /// 422 `Invalid` raised by the storage layer about the request rather than the object (a
    /// custom resource PUT without resourceVersion): `locusttests.locust.io "x" is invalid:
    /// ...`, with `details.kind` the resource.
    pub fn invalid_resource(
        resource: &ResourceType,
        name: &str,
        causes: &[(String, String)],
    ) -> Self {
        Self::invalid_with(
            &resource.qualified(),
            Self::details(resource, name),
            name,
            causes,
        )
    }

    fn invalid_with(
        qualified: &str,
        mut details: Value,
        name: &str,
        causes: &[(String, String)],
    ) -> Self {
        let summary: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        details["causes"] = Value::Array(
            causes
                .iter()
                .map(|(field, message)| json!({"reason": cause_reason(message), "message": message, "field": field}))
                .collect(),
        );
        let summary = match summary.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        Self::new(
            422,
            "Invalid",
            format!("{qualified} \"{name}\" is invalid: {summary}"),
            Some(details),
        )
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message, None)
    }

    /// 415 `UnsupportedMediaType`.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message, None)
    }

    /// 405 `MethodNotAllowed`.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message, None)
    }

    /// 500 `InternalError`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message, None)
    }

    /// 410 `Expired` (as a watch `ERROR` event object).
    pub fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
            None,
        )
    }
}

/// The reason of a cause, from its message as kube-apiserver's field errors word it (the
/// error type's name: `Required value` is `FieldValueRequired`, a wrong type
/// `FieldValueTypeInvalid`, ...).
fn cause_reason(message: &str) -> &'static str {
    if message.contains(" in body must be of type ") {
        "FieldValueTypeInvalid"
    } else if message.starts_with("Required value") {
        "FieldValueRequired"
    } else if message.starts_with("Unsupported value") {
        "FieldValueNotSupported"
    } else if message.starts_with("Too long") {
        "FieldValueTooLong"
    } else if message.starts_with("Too many") {
        "FieldValueTooMany"
    } else {
        "FieldValueInvalid"
    }
}

/// A `Status` `Success` for deletes that removed the object at once.
pub fn delete_success(resource: &ResourceType, name: &str, uid: &str) -> Value {
    let mut details = json!({"name": name, "kind": resource.plural, "uid": uid});
    if !resource.group.is_empty() {
        details["group"] = json!(resource.group);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}
