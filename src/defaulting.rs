//! Defaulting: the one home of every default of docs/compatibility.md A2. [`apply_defaults`]
//! fills them into a v2 spec (the mutating webhook turns the difference into a JSON Patch);
//! [`Defaulted`] is a test that went through it, the only input validation, the builders and
//! the status take, and its methods read the defaulted values, so no other module knows a
//! default.
//!
//! Nested defaults are filled where their parent exists (as an API server does with schema
//! defaults), with one addition the schema cannot express: an absent `master.autoquit` means
//! "enabled, 60 seconds", so it is written out. `testFiles` and `observability` are not created
//! when absent: without a ConfigMap or an enabled exporter their defaults have no effect.
//! Applying the defaults twice changes nothing the second time.

use std::ops::Deref;

use crate::api::v2::{
    AutoquitSpec, ImagePullPolicy, LocustTest, LocustTestSpec, OtelProtocol, VolumeTarget,
};

/// Default `spec.imagePullPolicy`.
pub const DEFAULT_IMAGE_PULL_POLICY: ImagePullPolicy = ImagePullPolicy::IfNotPresent;
/// Default `spec.master.autostart`.
pub const DEFAULT_AUTOSTART: bool = true;
/// Default `spec.master.autoquit.enabled`.
pub const DEFAULT_AUTOQUIT_ENABLED: bool = true;
/// Default `spec.master.autoquit.timeout` in seconds.
pub const DEFAULT_AUTOQUIT_TIMEOUT: i32 = 60;
/// Default `spec.testFiles.srcMountPath` (also used when it is empty).
pub const DEFAULT_SRC_MOUNT_PATH: &str = "/lotest/src";
/// Default `spec.testFiles.libMountPath` (also used when it is empty).
pub const DEFAULT_LIB_MOUNT_PATH: &str = "/opt/locust/lib";
/// Default `spec.env.secretMounts[].readOnly`.
pub const DEFAULT_SECRET_MOUNT_READ_ONLY: bool = true;
/// Default `spec.volumeMounts[].target`.
pub const DEFAULT_VOLUME_TARGET: VolumeTarget = VolumeTarget::Both;
/// Default `spec.observability.openTelemetry.protocol`.
pub const DEFAULT_OTEL_PROTOCOL: OtelProtocol = OtelProtocol::Grpc;
/// Default `spec.observability.openTelemetry.insecure`.
pub const DEFAULT_OTEL_INSECURE: bool = false;
/// Default of the operator's `--worker-connect-timeout`: how long the master may wait for all
/// workers when the test does not say (`spec.worker.connectTimeoutSeconds`).
pub const DEFAULT_WORKER_CONNECT_TIMEOUT: std::time::Duration =
    std::time::Duration::from_secs(5 * 60);

/// Fills every default into `spec`, in place.
pub fn apply_defaults(spec: &mut LocustTestSpec) {
    spec.image_pull_policy
        .get_or_insert(DEFAULT_IMAGE_PULL_POLICY);

    let master = &mut spec.master;
    master.autostart.get_or_insert(DEFAULT_AUTOSTART);
    let autoquit = master.autoquit.get_or_insert(AutoquitSpec {
        enabled: DEFAULT_AUTOQUIT_ENABLED,
        timeout: None,
    });
    autoquit.timeout.get_or_insert(DEFAULT_AUTOQUIT_TIMEOUT);

    if let Some(files) = spec.test_files.as_mut() {
        files
            .src_mount_path
            .get_or_insert_with(|| DEFAULT_SRC_MOUNT_PATH.to_owned());
        files
            .lib_mount_path
            .get_or_insert_with(|| DEFAULT_LIB_MOUNT_PATH.to_owned());
    }
    if let Some(mounts) = spec.env.as_mut().and_then(|env| env.secret_mounts.as_mut()) {
        for mount in mounts {
            mount
                .read_only
                .get_or_insert(DEFAULT_SECRET_MOUNT_READ_ONLY);
        }
    }
    for mount in spec.volume_mounts.iter_mut().flatten() {
        mount.target.get_or_insert(DEFAULT_VOLUME_TARGET);
    }
    if let Some(otel) = spec
        .observability
        .as_mut()
        .and_then(|o| o.open_telemetry.as_mut())
    {
        otel.protocol.get_or_insert(DEFAULT_OTEL_PROTOCOL);
        otel.insecure.get_or_insert(DEFAULT_OTEL_INSECURE);
    }
}

/// `spec` with every default filled in.
pub fn defaulted_spec(spec: &LocustTestSpec) -> LocustTestSpec {
    let mut spec = spec.clone();
    apply_defaults(&mut spec);
    spec
}

/// A LocustTest whose spec went through [`apply_defaults`]. Validation, the builders and the
/// status take only this type, so a test is defaulted exactly once, where it is read; it
/// reads as a [`LocustTest`] (`Deref`), and the methods below give the values that have a
/// default.
#[derive(Clone, Debug)]
pub struct Defaulted(LocustTest);

impl Defaulted {
    /// `test` with every default filled in.
    pub fn new(mut test: LocustTest) -> Self {
        apply_defaults(&mut test.spec);
        Self(test)
    }

    /// `test` (its metadata and status) running with `spec` instead of its own: what the
    /// controller builds from once a test has started.
    pub fn with_spec(test: &LocustTest, spec: &LocustTestSpec) -> Self {
        let mut test = test.clone();
        test.spec = spec.clone();
        Self::new(test)
    }

    /// The defaulted test.
    pub fn test(&self) -> &LocustTest {
        &self.0
    }

    /// The defaulted test, owned.
    pub fn into_test(self) -> LocustTest {
        self.0
    }

    /// `spec.imagePullPolicy`.
    pub fn image_pull_policy(&self) -> ImagePullPolicy {
        self.0
            .spec
            .image_pull_policy
            .unwrap_or(DEFAULT_IMAGE_PULL_POLICY)
    }

    /// `spec.master.autostart`.
    pub fn autostart(&self) -> bool {
        self.0.spec.master.autostart.unwrap_or(DEFAULT_AUTOSTART)
    }

    /// `spec.master.autoquit.timeout` in seconds when autoquit is enabled, else `None`.
    pub fn autoquit_timeout(&self) -> Option<i32> {
        match &self.0.spec.master.autoquit {
            Some(autoquit) if !autoquit.enabled => None,
            autoquit => Some(
                autoquit
                    .as_ref()
                    .and_then(|a| a.timeout)
                    .unwrap_or(DEFAULT_AUTOQUIT_TIMEOUT),
            ),
        }
    }

    /// How long the master may wait for all workers (`spec.worker.connectTimeoutSeconds`, else
    /// `operator_default`, the `--worker-connect-timeout` flag).
    pub fn worker_connect_timeout(
        &self,
        operator_default: std::time::Duration,
    ) -> std::time::Duration {
        self.0
            .spec
            .worker
            .connect_timeout_seconds
            .and_then(|seconds| u64::try_from(seconds).ok())
            .map_or(operator_default, std::time::Duration::from_secs)
    }

    /// Whether the operator, not Locust's exit code, decides the verdict (`spec.thresholds`
    /// sets at least one threshold).
    pub fn has_thresholds(&self) -> bool {
        self.0
            .spec
            .thresholds
            .as_ref()
            .is_some_and(|t| !t.is_empty())
    }

    /// Where the test-files ConfigMap is mounted (`spec.testFiles.srcMountPath`).
    pub fn src_mount_path(&self) -> &str {
        self.0
            .spec
            .test_files
            .as_ref()
            .and_then(|f| f.src_mount_path.as_deref())
            .filter(|p| !p.is_empty())
            .unwrap_or(DEFAULT_SRC_MOUNT_PATH)
    }

    /// Where the library ConfigMap is mounted (`spec.testFiles.libMountPath`).
    pub fn lib_mount_path(&self) -> &str {
        self.0
            .spec
            .test_files
            .as_ref()
            .and_then(|f| f.lib_mount_path.as_deref())
            .filter(|p| !p.is_empty())
            .unwrap_or(DEFAULT_LIB_MOUNT_PATH)
    }

    /// `spec.observability.openTelemetry.protocol` (the default when it is absent).
    pub fn otel_protocol(&self) -> OtelProtocol {
        self.0
            .spec
            .observability
            .as_ref()
            .and_then(|o| o.open_telemetry.as_ref())
            .and_then(|o| o.protocol)
            .unwrap_or(DEFAULT_OTEL_PROTOCOL)
    }

    /// `spec.observability.openTelemetry.insecure` (the default when it is absent).
    pub fn otel_insecure(&self) -> bool {
        self.0
            .spec
            .observability
            .as_ref()
            .and_then(|o| o.open_telemetry.as_ref())
            .and_then(|o| o.insecure)
            .unwrap_or(DEFAULT_OTEL_INSECURE)
    }
}

impl Deref for Defaulted {
    type Target = LocustTest;

    fn deref(&self) -> &LocustTest {
        &self.0
    }
}

/// `readOnly` of a `spec.env.secretMounts[]` entry, given its field.
pub fn secret_read_only(read_only: Option<bool>) -> bool {
    read_only.unwrap_or(DEFAULT_SECRET_MOUNT_READ_ONLY)
}

/// `target` of a `spec.volumeMounts[]` entry, given its field.
pub fn volume_target(target: Option<VolumeTarget>) -> VolumeTarget {
    target.unwrap_or(DEFAULT_VOLUME_TARGET)
}
