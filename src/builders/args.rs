//! Locust command lines (the container `args`; the image's entrypoint is `locust`).
//!
//! Master: `split(master.command)` + [`--otel`] + `--master --master-port=5557
//! --expect-workers=<replicas>` + [`--autostart`] + [`--autoquit <timeout>`] +
//! `--enable-rebalancing --only-summary` + [`--exit-code-on-error=0` with `spec.thresholds`] +
//! `master.extraArgs`.
//! Worker: `split(worker.command)` + [`--otel`] + `--worker --master-port=5557
//! --master-host=<name>-master` + `worker.extraArgs`.
//! Commands are split on whitespace: no shell, no quoting.

use crate::api::v2::LocustTestSpec;
use crate::defaulting::Defaulted;
use crate::names::{Role, node_name};

/// Port the master listens on for workers.
pub const MASTER_PORT: i32 = 5557;
/// The master's second (bind) port.
pub const MASTER_BIND_PORT: i32 = 5558;
/// The Locust web UI and API port of the master.
pub const WEB_UI_PORT: i32 = 8089;
/// Locust's flag for its exit code when a run had failures (default 1), set to 0 on masters of
/// tests with `spec.thresholds`.
pub const EXIT_CODE_ON_ERROR: &str = "--exit-code-on-error";
/// The worker container port.
pub const WORKER_PORT: i32 = 8080;

/// Flags the operator sets itself, per role. An `extraArgs` entry equal to one of them, or
/// starting with `flag=`, overrides the operator (Locust takes the last occurrence).
pub fn managed_flags(role: Role) -> &'static [&'static str] {
    match role {
        Role::Master => &[
            "--master",
            "--master-port",
            "--expect-workers",
            "--autostart",
            "--autoquit",
            "--enable-rebalancing",
            "--only-summary",
            "--otel",
        ],
        Role::Worker => &["--worker", "--master-port", "--master-host", "--otel"],
    }
}

/// The flag of `managed_flags(role)` that `arg` sets, if any.
pub fn managed_flag(role: Role, arg: &str) -> Option<&'static str> {
    managed_flags(role).iter().copied().find(|flag| {
        arg == *flag
            || arg
                .strip_prefix(flag)
                .is_some_and(|rest| rest.starts_with('='))
    })
}

/// Whether OpenTelemetry export is enabled.
pub fn otel_enabled(spec: &LocustTestSpec) -> bool {
    spec.observability
        .as_ref()
        .and_then(|o| o.open_telemetry.as_ref())
        .is_some_and(|o| o.enabled)
}

/// The master's arguments.
pub fn master_args(test: &Defaulted) -> Vec<String> {
    let spec = &test.spec;
    let mut managed = vec![
        "--master".to_owned(),
        format!("--master-port={MASTER_PORT}"),
        format!("--expect-workers={}", spec.worker.replicas),
    ];
    if test.autostart() {
        managed.push("--autostart".into());
    }
    if let Some(timeout) = test.autoquit_timeout() {
        managed.push("--autoquit".into());
        managed.push(timeout.to_string());
    }
    managed.push("--enable-rebalancing".into());
    managed.push("--only-summary".into());
    if test.has_thresholds() {
        // The operator decides the verdict from the final numbers: a run that ends with some
        // failed requests must still exit 0, so that a master exiting non-zero means a crash.
        managed.push(format!("{EXIT_CODE_ON_ERROR}=0"));
    }
    role_args(spec, &spec.master.command, managed, &spec.master.extra_args)
}

/// A worker's arguments (the master Service is `<name>-master` in the test's namespace).
pub fn worker_args(test: &Defaulted) -> Vec<String> {
    let spec = &test.spec;
    let master = node_name(super::meta::test_name(test), Role::Master);
    let managed = vec![
        "--worker".to_owned(),
        format!("--master-port={MASTER_PORT}"),
        format!("--master-host={master}"),
    ];
    role_args(spec, &spec.worker.command, managed, &spec.worker.extra_args)
}

/// A role's arguments, in order: its `command` split on whitespace (no shell), `--otel` when
/// OpenTelemetry is on, the operator-managed flags of the role, then its `extraArgs`.
fn role_args(
    spec: &LocustTestSpec,
    command: &str,
    managed: Vec<String>,
    extra_args: &Option<Vec<String>>,
) -> Vec<String> {
    let mut args: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    if otel_enabled(spec) {
        args.push("--otel".into());
    }
    args.extend(managed);
    args.extend(extra_args.iter().flatten().cloned());
    args
}
