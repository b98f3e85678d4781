//! The `locust.io` `LocustTest` API: v2 (storage) and v1 (deprecated), condition vocabulary,
//! and the schema helpers that keep the generated CRD structural and small.

pub mod conditions;
pub mod schema;
pub mod v1;
pub mod v2;

pub use v2::{LocustTest, LocustTestSpec, LocustTestStatus, Phase};

/// API group of the custom resource.
pub const GROUP: &str = "locust.io";
/// Kind of the custom resource.
pub const KIND: &str = "LocustTest";
/// Plural resource name.
pub const PLURAL: &str = "locusttests";
/// Storage and preferred version.
pub const STORAGE_VERSION: &str = "v2";
/// `apiVersion` of the storage version.
pub const API_VERSION_V2: &str = "locust.io/v2";
/// `apiVersion` of the deprecated version.
pub const API_VERSION_V1: &str = "locust.io/v1";

/// Annotation on the LocustTest holding the spec its children were built from (defaulted,
/// compact JSON), written by the controller before it creates the first child. It makes
/// `SpecDrifted` exact and lets externally deleted children be recreated from the spec the test
/// started with, never from an edited one; the validating webhook reads it to warn that an
/// edit can no longer take effect.
pub const ANNOTATION_ORIGINAL_SPEC: &str = "locust.io/original-spec";

/// CEL rule on the root of both versions: names longer than [`v2::MAX_NAME_LENGTH`] would make
/// the generated `<name>-master`/`<name>-worker` names exceed 63 characters.
fn name_length_rule() -> kube::core::Rule {
    kube::core::Rule::new(format!("self.metadata.name.size() <= {}", v2::MAX_NAME_LENGTH))
        .message(kube::core::Message::Message(format!(
            "metadata.name must be no more than {} characters: the operator appends -master/-worker and names are limited to 63",
            v2::MAX_NAME_LENGTH
        )))
        .field_path(".metadata.name")
        .reason(kube::core::Reason::FieldValueInvalid)
}
