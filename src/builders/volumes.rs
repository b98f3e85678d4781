//! Volumes of a test pod and the Locust container's mounts: test files, library, secret
//! mounts, then the user's volumes targeting the pod's role.

use k8s_openapi::api::core::v1::{ConfigMapVolumeSource, SecretVolumeSource, Volume, VolumeMount};

use super::{LIB_VOLUME_NAME, SECRET_VOLUME_PREFIX};
use crate::api::v2::VolumeTarget;
use crate::defaulting::{self, Defaulted};
use crate::names::{self, Role};

/// Volume name of a `spec.env.secretMounts[]` entry: `secret-<secret name>`.
pub fn secret_volume_name(secret_name: &str) -> String {
    format!("{SECRET_VOLUME_PREFIX}{secret_name}")
}

/// Whether a `spec.volumeMounts[]` entry with this `target` (absent = `both`) goes into the
/// pods of `role`.
pub fn mount_applies(target: Option<VolumeTarget>, role: Role) -> bool {
    match defaulting::volume_target(target) {
        VolumeTarget::Both => true,
        VolumeTarget::Master => role == Role::Master,
        VolumeTarget::Worker => role == Role::Worker,
    }
}

/// A volume backed by a ConfigMap.
fn config_map_volume(volume: String, config_map: &str) -> Volume {
    Volume {
        name: volume,
        config_map: Some(ConfigMapVolumeSource {
            name: config_map.to_owned(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// A mount of `volume` at `path`.
fn mount(volume: String, path: &str, read_only: Option<bool>) -> VolumeMount {
    VolumeMount {
        name: volume,
        mount_path: path.to_owned(),
        read_only,
        ..VolumeMount::default()
    }
}

/// The pod's volumes and the Locust container's mounts for `role`, in order: the test-files
/// ConfigMap (volume `<node name>`, at `srcMountPath`), the library ConfigMap (volume
/// `locust-lib`, at `libMountPath`), the secret mounts (volume `secret-<name>`, read-only by
/// default), and the user's mounts targeting `role` (with `target` stripped) with the user's
/// volumes they reference (in `spec.volumes` order; unreferenced volumes are left out).
pub fn volumes_and_mounts(test: &Defaulted, role: Role) -> (Vec<Volume>, Vec<VolumeMount>) {
    let spec = &test.spec;
    let test_name = super::meta::test_name(test);
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();

    if let Some(files) = spec.test_files.as_ref() {
        if let Some(config_map) = files.config_map_ref.as_deref().filter(|c| !c.is_empty()) {
            let volume = names::node_name(test_name, role);
            volumes.push(config_map_volume(volume.clone(), config_map));
            mounts.push(mount(volume, test.src_mount_path(), None));
        }
        if let Some(config_map) = files
            .lib_config_map_ref
            .as_deref()
            .filter(|c| !c.is_empty())
        {
            volumes.push(config_map_volume(LIB_VOLUME_NAME.to_owned(), config_map));
            mounts.push(mount(
                LIB_VOLUME_NAME.to_owned(),
                test.lib_mount_path(),
                None,
            ));
        }
    }

    let secret_mounts = spec.env.as_ref().and_then(|e| e.secret_mounts.as_ref());
    for secret in secret_mounts.into_iter().flatten() {
        let volume = secret_volume_name(&secret.name);
        volumes.push(Volume {
            name: volume.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.name.clone()),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
        let read_only = defaulting::secret_read_only(secret.read_only);
        mounts.push(mount(volume, &secret.mount_path, Some(read_only)));
    }

    let user_mounts: Vec<&VolumeMount> = spec
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| mount_applies(m.target, role))
        .map(|m| &m.mount)
        .collect();
    volumes.extend(
        spec.volumes
            .iter()
            .flatten()
            .filter(|v| user_mounts.iter().any(|m| m.name == v.name))
            .cloned(),
    );
    mounts.extend(user_mounts.into_iter().cloned());

    (volumes, mounts)
}
