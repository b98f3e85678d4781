//! Strict typed parsing: k8s-openapi ignores unknown fields, so [`strict`] re-serializes the typed
//! value and requires every original field back; and the cert-manager and kustomize structs.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{NamespaceResourceScope, Resource};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Paths (`.spec.template.spec.containers[0].imagePullPolicy`) of the values of `original`
/// that `reserialized` lacks or holds differently. An explicit `null` counts as absent.
fn lost_in_round_trip(original: &Value, reserialized: &Value) -> Vec<String> {
    fn walk(path: &str, original: &Value, back: &Value, lost: &mut Vec<String>) {
        match (original, back) {
            (Value::Object(original), Value::Object(back)) => {
                for (key, value) in original {
                    let path = format!("{path}.{key}");
                    match back.get(key) {
                        Some(back) => walk(&path, value, back, lost),
                        None if value.is_null() => {}
                        None => lost.push(path),
                    }
                }
            }
            (Value::Array(original), Value::Array(back)) if original.len() == back.len() => {
                for (index, (value, back)) in original.iter().zip(back).enumerate() {
                    walk(&format!("{path}[{index}]"), value, back, lost);
                }
            }
            (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
            (a, b) if a == b => {}
            _ => lost.push(if path.is_empty() {
                ".".into()
            } else {
                path.into()
            }),
        }
    }
    let mut lost = Vec::new();
    walk("", original, reserialized, &mut lost);
    lost
}

/// `value` as a `T`, failing on a type error (with its path) and on any field `T` does not
/// know: k8s-openapi types skip unknown fields silently, so the typed value is serialized
/// again and every original field must come back unchanged.
pub(crate) fn strict<T: DeserializeOwned + Serialize>(value: &Value) -> Result<T, String> {
    let typed: T = serde_path_to_error::deserialize(value.clone())
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let lost = lost_in_round_trip(value, &back);
    if lost.is_empty() {
        Ok(typed)
    } else {
        Err(format!(
            "unknown or misspelled field(s), not part of {}: {}",
            std::any::type_name::<T>(),
            lost.join(", ")
        ))
    }
}

/// [`strict`] for a Kubernetes object, which must also carry `T`'s apiVersion and kind.
pub(crate) fn typed<T: Resource + DeserializeOwned + Serialize>(
    value: &Value,
) -> Result<T, String> {
    let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
    if (field("apiVersion"), field("kind")) != (T::API_VERSION, T::KIND) {
        return Err(format!(
            "{}/{} is not a {}/{}",
            field("apiVersion"),
            field("kind"),
            T::API_VERSION,
            T::KIND
        ));
    }
    strict(value)
}

/// Parses any object the manifests may contain into its typed form.
pub(crate) fn check_typed(value: &Value) -> Result<(), String> {
    macro_rules! dispatch {
        ($($kind:ty),* $(,)?) => {{
            let id = (
                value.get("apiVersion").and_then(Value::as_str).unwrap_or_default(),
                value.get("kind").and_then(Value::as_str).unwrap_or_default(),
            );
            $(
                if id == (<$kind>::API_VERSION, <$kind>::KIND) {
                    return typed::<$kind>(value).map(drop);
                }
            )*
            Err(format!("{}/{}: not a kind the install manifests should contain", id.0, id.1))
        }};
    }
    dispatch!(
        Namespace,
        CustomResourceDefinition,
        ServiceAccount,
        ClusterRole,
        ClusterRoleBinding,
        Role,
        RoleBinding,
        Deployment,
        PodDisruptionBudget,
        Service,
        MutatingWebhookConfiguration,
        ValidatingWebhookConfiguration,
        Issuer,
        Certificate,
    )
}

// --- cert-manager v1 (https://cert-manager.io/docs/reference/api-docs/), the fields we use

macro_rules! cert_manager_resource {
    ($kind:ident, $plural:literal) => {
        impl Resource for $kind {
            const API_VERSION: &'static str = "cert-manager.io/v1";
            const GROUP: &'static str = "cert-manager.io";
            const KIND: &'static str = stringify!($kind);
            const VERSION: &'static str = "v1";
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = NamespaceResourceScope;
        }
    };
}

/// A cert-manager `Issuer`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Issuer {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: IssuerSpec,
}
cert_manager_resource!(Issuer, "issuers");

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct IssuerSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) self_signed: Option<SelfSignedIssuer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ca: Option<CaIssuer>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SelfSignedIssuer {
    #[serde(skip_serializing_if = "Option::is_none")]
    crl_distribution_points: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CaIssuer {
    pub(crate) secret_name: String,
}

/// A cert-manager `Certificate`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Certificate {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: CertificateSpec,
}
cert_manager_resource!(Certificate, "certificates");

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CertificateSpec {
    pub(crate) secret_name: String,
    pub(crate) issuer_ref: IssuerRef,
    #[serde(default, rename = "isCA", skip_serializing_if = "Option::is_none")]
    pub(crate) is_ca: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    common_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dns_names: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    renew_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<CertificatePrivateKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) usages: Option<Vec<KeyUsage>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_template: Option<SecretTemplate>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct IssuerRef {
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) group: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CertificatePrivateKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) algorithm: Option<KeyAlgorithm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_policy: Option<RotationPolicy>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub(crate) enum KeyAlgorithm {
    #[serde(rename = "RSA")]
    Rsa,
    #[serde(rename = "ECDSA")]
    Ecdsa,
    Ed25519,
}

#[derive(Debug, Deserialize, Serialize)]
pub(crate) enum RotationPolicy {
    Never,
    Always,
}

/// The key usages this install uses (cert-manager accepts more).
#[derive(Debug, Deserialize, Serialize, PartialEq)]
pub(crate) enum KeyUsage {
    #[serde(rename = "server auth")]
    ServerAuth,
    #[serde(rename = "digital signature")]
    DigitalSignature,
    #[serde(rename = "key encipherment")]
    KeyEncipherment,
    #[serde(rename = "cert sign")]
    CertSign,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SecretTemplate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) annotations: Option<BTreeMap<String, String>>,
}

// --- kustomize (kustomize.config.k8s.io/v1beta1), the fields we use

/// A `kustomization.yaml`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Kustomization {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) patches: Vec<KustomizePatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) labels: Vec<KustomizeLabels>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct KustomizePatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<PatchTarget>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PatchTarget {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) namespace: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct KustomizeLabels {
    pub(crate) pairs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    include_selectors: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    include_templates: Option<bool>,
}

pub(crate) fn parse_kustomization(value: &Value) -> Result<Kustomization, String> {
    let kustomization: Kustomization = strict(value)?;
    if (
        kustomization.api_version.as_str(),
        kustomization.kind.as_str(),
    ) != ("kustomize.config.k8s.io/v1beta1", "Kustomization")
    {
        return Err(format!(
            "{}/{} is not kustomize.config.k8s.io/v1beta1/Kustomization",
            kustomization.api_version, kustomization.kind
        ));
    }
    Ok(kustomization)
}
