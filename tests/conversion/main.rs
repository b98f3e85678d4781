//! `locust.io/v1` <-> `locust.io/v2` conversion (`locust_operator::conversion`), against
//! `docs/compatibility.md` A4, B15 and the Part C "Conversion" scenarios:
//!
//! - exact v1 <-> v2 spec pairs (full, minimal, every v1 field on its own), both directions;
//! - v2 specs v1 cannot express: the lossy v1 view, the `locust.io/v2-spec` stash, and
//!   lossless v2 -> v1 -> v2 (metadata and spec; status becomes an empty object);
//! - node affinity (`In` with a value only, first value, merged terms, later key wins, sorted),
//!   tolerations, pull secrets, per-role labels/annotations;
//! - stash semantics: a field a v1 client edits wins, every v2-only field comes back; a
//!   corrupt stash is ignored and removed;
//! - generated round trips (a small deterministic LCG, no extra dependencies);
//! - `convert_object` on the ConversionReview objects recorded from a real kube-apiserver
//!   (`tests/fixtures/apiserver-reviews/convert-*.json`) and its errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use locust_operator::api::{v1, v2};
use locust_operator::conversion::V2_SPEC_ANNOTATION;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// `assert_eq!` for whole LocustTest objects (the derived root types have no `PartialEq`):
/// compares metadata, spec and status.
macro_rules! assert_same_object {
    ($left:expr, $right:expr $(, $($arg:tt)+)?) => {{
        let (left, right) = (&$left, &$right);
        assert_eq!(
            (&left.metadata, &left.spec, &left.status),
            (&right.metadata, &right.spec, &right.status)
            $(, $($arg)+)?
        );
    }};
}

mod convert_object;
mod exact_pairs;
mod generated;
mod lossy;
mod node_affinity;
mod round_trips;
mod specs;
mod stash;
mod tolerations;

const V1: &str = "locust.io/v1";
const V2: &str = "locust.io/v2";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn parse<T: DeserializeOwned>(what: &str, value: Value) -> T {
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{what}: does not parse: {e}"))
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializes")
}

fn v1_spec(value: Value) -> v1::LocustTestSpec {
    parse("v1 spec", value)
}

fn v2_spec(value: Value) -> v2::LocustTestSpec {
    parse("v2 spec", value)
}

/// `base` with the JSON merge patch (RFC 7386) `patch` applied.
fn merged(base: &Value, patch: &Value) -> Value {
    let mut out = base.clone();
    json_patch::merge(&mut out, patch);
    out
}

fn metadata_json() -> Value {
    json!({
        "name": "perf.checkout",
        "namespace": "loadtests",
        "uid": "136a2735-d729-425f-956e-1a7bb3871efe",
        "resourceVersion": "4242",
        "generation": 3,
        "creationTimestamp": "2026-11-24T04:52:39Z",
        "labels": {"team": "payments"},
        "annotations": {
            LAST_APPLIED: "{\"apiVersion\":\"locust.io/v2\",\"kind\":\"LocustTest\"}\n",
            "example.com/note": "keep me"
        }
    })
}

fn object_json(api_version: &str, metadata: Value, spec: Value) -> Value {
    json!({"apiVersion": api_version, "kind": "LocustTest", "metadata": metadata, "spec": spec})
}

fn v1_object(metadata: Value, spec: Value) -> v1::LocustTest {
    parse("v1 object", object_json(V1, metadata, spec))
}

fn v2_object(metadata: Value, spec: Value) -> v2::LocustTest {
    parse("v2 object", object_json(V2, metadata, spec))
}

fn annotations_of(metadata: &ObjectMeta) -> BTreeMap<String, String> {
    metadata.annotations.clone().unwrap_or_default()
}

fn stash_of(test: &v1::LocustTest) -> Option<String> {
    annotations_of(&test.metadata)
        .get(V2_SPEC_ANNOTATION)
        .cloned()
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apiserver-reviews")
}

/// `(file name, desiredAPIVersion, objects)` of every recorded ConversionReview.
fn recorded_reviews() -> Vec<(String, String, Vec<Value>)> {
    let mut reviews: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("convert-") && name.ends_with(".json")
        })
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable fixture");
            let review: Value = serde_json::from_str(&text).expect("fixture is JSON");
            let request = &review["body"]["request"];
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                request["desiredAPIVersion"]
                    .as_str()
                    .expect("desiredAPIVersion")
                    .to_owned(),
                request["objects"].as_array().expect("objects").clone(),
            )
        })
        .collect();
    reviews.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        reviews.len() >= 3,
        "expected the recorded convert-*.json fixtures, got {}",
        reviews.len()
    );
    reviews
}

fn fixture_object(file: &str) -> Value {
    let (_, _, objects) = recorded_reviews()
        .into_iter()
        .find(|(name, _, _)| name == file)
        .expect(file);
    objects[0].clone()
}
