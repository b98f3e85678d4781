//! Defaulting: fills every default of docs/compatibility.md A2 into a v2 spec. The mutating webhook turns
//! the difference into a JSON Patch; the builders read only defaulted specs.
//!
//! Nested defaults are filled where their parent exists (as an API server does with schema
//! defaults), with one addition the schema cannot express: an absent `master.autoquit` means
//! "enabled, 60 seconds", so it is written out. `testFiles` and `observability` are not created
//! when absent: without a ConfigMap or an enabled exporter their defaults have no effect.
//! Applying the defaults twice changes nothing the second time.

use crate::api::v2::{
    AutoquitSpec, DEFAULT_AUTOQUIT_ENABLED, DEFAULT_AUTOQUIT_TIMEOUT, DEFAULT_AUTOSTART,
    DEFAULT_IMAGE_PULL_POLICY, DEFAULT_LIB_MOUNT_PATH, DEFAULT_OTEL_PROTOCOL,
    DEFAULT_SECRET_MOUNT_READ_ONLY, DEFAULT_SRC_MOUNT_PATH, DEFAULT_VOLUME_TARGET, LocustTest,
    LocustTestSpec,
};

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
        otel.insecure.get_or_insert(false);
    }
}

/// A copy of `test` with every default filled in.
pub fn defaulted(test: &LocustTest) -> LocustTest {
    let mut test = test.clone();
    apply_defaults(&mut test.spec);
    test
}
