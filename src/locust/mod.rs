//! The test as Locust sees it: what the operator reads from a Locust master's web API
//! ([`stats`], over [`client`]), and the verdict on its final numbers ([`thresholds`]).

pub mod client;
pub mod stats;
pub mod thresholds;
