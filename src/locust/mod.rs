//! The test as Locust sees it: what the operator reads from a Locust master's web API
//! ([`stats`]), and the verdict on its final numbers ([`thresholds`]).

pub mod stats;
pub mod thresholds;
