//! The JSON merge patch (RFC 7386) that turns one document into another: what changed, and
//! `null` for every member that went away. Serializing the new document alone would leave
//! members the new one omits (an optional status field that no longer applies) in place.

use serde_json::{Map, Value};

/// The merge patch from `old` to `new`.
pub fn between(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (key, value) in new {
                match old.get(key) {
                    Some(before) if before == value => {}
                    Some(before) => {
                        patch.insert(key.clone(), between(before, value));
                    }
                    None => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in old.keys().filter(|key| !new.contains_key(*key)) {
                patch.insert(key.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        // A new value that is not an object replaces the old one whole (arrays included).
        _ => new.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::between;

    #[test]
    fn applying_the_patch_gives_the_new_document() {
        let cases = [
            (json!({}), json!({"a": 1})),
            (json!({"a": 1, "b": 2}), json!({"a": 1})),
            (json!({"s": {"x": 1, "err": "e"}}), json!({"s": {"x": 2}})),
            (json!({"l": [1, 2]}), json!({"l": [1]})),
            (json!({"s": {"x": 1}}), json!({"s": "text"})),
            (json!({"a": 1}), json!({"a": 1})),
        ];
        for (old, new) in cases {
            let patch = between(&old, &new);
            let mut patched = old.clone();
            json_patch::merge(&mut patched, &patch);
            assert_eq!(patched, new, "{old} -> {new} with {patch}");
        }
        assert_eq!(
            between(&json!({"a": 1, "b": 2}), &json!({"a": 1})),
            json!({"b": null})
        );
    }
}
