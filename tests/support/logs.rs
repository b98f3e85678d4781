//! Logs of the code under test, shared by the integration tests.

/// Sends `tracing` output to the test's captured output (shown for a failed test), filtered by
/// `RUST_LOG`, else by `default`. Calls after the first in a test binary do nothing.
pub fn init(default: &str) {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .try_init();
}
