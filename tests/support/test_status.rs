//! A LocustTest's status, read from the test as JSON (what `kubectl get -o json` shows),
//! shared by the integration tests.

use serde_json::Value;

/// `.status.phase`, or `""`.
pub fn phase(test: &Value) -> &str {
    test["status"]["phase"].as_str().unwrap_or_default()
}

/// The condition of type `type_`.
pub fn condition<'a>(test: &'a Value, type_: &str) -> Option<&'a Value> {
    test["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// True when the condition of type `type_` has this status and reason.
pub fn has(test: &Value, type_: &str, status: &str, reason: &str) -> bool {
    condition(test, type_).is_some_and(|c| c["status"] == status && c["reason"] == reason)
}
