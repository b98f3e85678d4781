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
