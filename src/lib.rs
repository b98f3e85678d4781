//! locust-operator: runs distributed Locust load tests declared as `LocustTest` resources.
//!
//! The library holds everything the binary and the tests share: the API types, the CRD
//! generator, the pure v1 <-> v2 conversion, and the operator process itself.

pub mod api;
pub mod api_call;
pub mod builders;
pub mod certs;
pub mod check;
pub mod config;
pub mod controller;
pub mod conversion;
pub mod crd;
pub mod defaulting;
pub mod field;
pub mod flags;
pub mod leader;
pub mod locust;
pub mod merge_patch;
pub mod metrics;
pub mod names;
pub mod operator;
pub mod parse;
pub mod quantity;
pub mod random;
pub mod rbac;
pub mod render;
pub mod report_cmd;
pub mod sandbox;
pub mod schema_check;
pub mod status;
pub mod syntax;
pub mod telemetry;
pub mod validation;
pub mod webhook;
