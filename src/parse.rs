//! Reading a LocustTest: the one parser for every way in — admission reviews, the manifests of
//! `check` and `render`, the controller's cache. A v1 object is converted to v2 and defaults
//! are filled in ([`Defaulted`]); what does not read is a [`FieldError`] naming the first field
//! that does not.

use kube::core::DynamicObject;
use serde_json::Value;

use crate::api::{API_VERSION_V1, API_VERSION_V2, v1, v2};
use crate::conversion::v1_to_v2;
use crate::defaulting::Defaulted;
use crate::field::FieldError;

/// `value` as a defaulted v2 LocustTest (a v1 one converted), or the first field that does not
/// read.
pub fn locust_test(value: &Value) -> Result<Defaulted, FieldError> {
    as_written(value).map(Defaulted::new)
}

/// `value` as a v2 LocustTest (a v1 one converted) without defaults: what the mutating webhook
/// compares with its defaulted copy.
pub fn as_written(value: &Value) -> Result<v2::LocustTest, FieldError> {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match api_version {
        API_VERSION_V2 => serde_path_to_error::deserialize(value).map_err(field_error),
        API_VERSION_V1 => serde_path_to_error::deserialize::<_, v1::LocustTest>(value)
            .map(v1_to_v2)
            .map_err(field_error),
        other => Err(FieldError::new(
            "apiVersion",
            format!("{other:?} is not served; use {API_VERSION_V2}"),
        )),
    }
}

/// An untyped object (an admission review's, the cache's) as JSON, for [`locust_test`].
pub fn to_value(object: &DynamicObject) -> Result<Value, FieldError> {
    serde_json::to_value(object).map_err(|error| FieldError::new("", error.to_string()))
}

fn field_error(error: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let path = error.path().to_string();
    // serde_path_to_error says `.` for the root.
    let path = if path == "." { String::new() } else { path };
    FieldError::new(path, error.into_inner().to_string())
}
