//! The test as Locust sees it: what the operator reads from a Locust master's web API.

pub mod stats;
