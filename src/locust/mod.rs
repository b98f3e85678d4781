//! The test as Locust sees it: what the operator reads from a Locust master's web API
//! ([`stats`], over [`client`]), the verdict on its final numbers ([`thresholds`]), and the
//! run's report kept in a ConfigMap ([`report`]).

pub mod client;
pub mod report;
pub mod stats;
pub mod thresholds;
