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

/// Where operators before issue 15 recorded the spec a test's children were built from
/// (defaulted, compact JSON), with a write of its own before the first child. Now the record is
/// `status.originalSpec`, carried by the first status write; this annotation is still read, so
/// tests created by those versions keep their record ([`v2::LocustTest::recorded_spec`]).
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
