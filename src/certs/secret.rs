//! The certificate Secret: one `kubernetes.io/tls` Secret in the operator's namespace holding
//! `ca.crt`, `ca.key`, `tls.crt` and `tls.key`, shared by every replica.
//!
//! The Secret holds the CA's private key: a new serving certificate (every rotation) must be
//! signed by the CA the API servers already trust, and any replica may be the one that
//! rotates. Whoever can read this Secret can issue certificates the webhook configurations
//! trust, so only the operator's service account should be allowed to read it (RBAC by name).
//!
//! Writes are race-safe between replicas: a create fails with 409 `AlreadyExists` when another
//! replica created it first, and a replace carries the `resourceVersion` that was read, so it
//! fails with 409 `Conflict` when another replica wrote in between. Either way the loser reads
//! again and decides on what the winner wrote.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::PostParams;

use super::generate::Contents;
use crate::names::{FIELD_MANAGER, LABEL_K8S_MANAGED_BY, LABEL_K8S_NAME, OPERATOR_NAME};

/// Key of the CA bundle (PEM; the signing CA first).
pub const CA_CERT: &str = "ca.crt";
/// Key of the signing CA's private key (PEM).
pub const CA_KEY: &str = "ca.key";
/// Key of the serving certificate (PEM).
pub const TLS_CERT: &str = "tls.crt";
/// Key of the serving certificate's private key (PEM).
pub const TLS_KEY: &str = "tls.key";
/// Type of the Secret the operator creates.
pub const SECRET_TYPE: &str = "kubernetes.io/tls";
/// Value of `app.kubernetes.io/component` on the Secret.
pub const COMPONENT: &str = "webhook-certificate";

/// The four entries of `secret` (missing ones empty).
pub fn contents(secret: &Secret) -> Contents {
    let entry = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .map(|bytes| bytes.0.clone())
            .unwrap_or_default()
    };
    Contents {
        ca_crt: entry(CA_CERT),
        ca_key: entry(CA_KEY),
        tls_crt: entry(TLS_CERT),
        tls_key: entry(TLS_KEY),
    }
}

fn set_contents(data: &mut BTreeMap<String, ByteString>, contents: Contents) {
    for (key, value) in [
        (CA_CERT, contents.ca_crt),
        (CA_KEY, contents.ca_key),
        (TLS_CERT, contents.tls_crt),
        (TLS_KEY, contents.tls_key),
    ] {
        data.insert(key.to_owned(), ByteString(value));
    }
}

/// A new Secret `namespace/name` holding `contents`.
pub fn new_secret(name: &str, namespace: &str, contents: Contents) -> Secret {
    let mut data = BTreeMap::new();
    set_contents(&mut data, contents);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([
                (LABEL_K8S_NAME.to_owned(), OPERATOR_NAME.to_owned()),
                (
                    "app.kubernetes.io/component".to_owned(),
                    COMPONENT.to_owned(),
                ),
                (LABEL_K8S_MANAGED_BY.to_owned(), OPERATOR_NAME.to_owned()),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some(SECRET_TYPE.to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// `existing` with its four entries replaced by `contents`: metadata (with the
/// `resourceVersion` read, the precondition of the write), type and any other entries kept.
pub fn with_contents(existing: &Secret, contents: Contents) -> Secret {
    let mut secret = existing.clone();
    secret.metadata.managed_fields = None;
    set_contents(secret.data.get_or_insert_with(BTreeMap::new), contents);
    secret
}

/// How a write ended.
#[derive(Debug)]
pub enum Written {
    /// Stored: the Secret as the API server returned it.
    Stored(Box<Secret>),
    /// Another replica wrote first (409): read again.
    Lost,
}

/// Writes `contents`: creates the Secret when `current` is `None`, else replaces `current`
/// with the `resourceVersion` it was read with.
pub async fn write(
    api: &Api<Secret>,
    name: &str,
    namespace: &str,
    current: Option<&Secret>,
    contents: Contents,
) -> Result<Written, kube::Error> {
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let result = match current {
        None => {
            api.create(&params, &new_secret(name, namespace, contents))
                .await
        }
        Some(current) => {
            api.replace(name, &params, &with_contents(current, contents))
                .await
        }
    };
    match result {
        Ok(secret) => Ok(Written::Stored(Box::new(secret))),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Written::Lost),
        Err(error) => Err(error),
    }
}
