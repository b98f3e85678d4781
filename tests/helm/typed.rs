//! Typed objects: strict parsing (an unknown or misspelled field fails), the cert-manager structs,
//! and accessors for the operator container's flags, environment and configuration.

use std::collections::BTreeMap;

use clap::Parser;
use k8s_openapi::Resource;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use locust_operator::config::Config;
use locust_operator::flags::ProcessFlags;
use locust_operator::telemetry::LogFormat;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::renderer::Rendered;

/// Names of fields in `original` that the typed round trip lost (unknown or misspelled).
fn lost_in_round_trip(original: &Value, back: &Value, path: &str, lost: &mut Vec<String>) {
    match (original, back) {
        (Value::Object(o), Value::Object(b)) => {
            for (key, value) in o {
                match b.get(key) {
                    Some(inner) => lost_in_round_trip(value, inner, &format!("{path}.{key}"), lost),
                    None => lost.push(format!("{path}.{key}")),
                }
            }
        }
        (Value::Array(o), Value::Array(b)) if o.len() == b.len() => {
            for (i, (value, inner)) in o.iter().zip(b).enumerate() {
                lost_in_round_trip(value, inner, &format!("{path}[{i}]"), lost);
            }
        }
        // A float field reads `0` and writes `0.0`: the same number.
        (Value::Number(o), Value::Number(b)) if o.as_f64() == b.as_f64() => {}
        (o, b) if o != b => lost.push(format!("{path} ({o} became {b})")),
        _ => {}
    }
}

/// Parses `value` into `T`, failing on any field `T` does not have.
pub(crate) fn strict<T: DeserializeOwned + Serialize>(value: &Value) -> T {
    let typed: T = serde_path_to_error::deserialize(value.clone()).unwrap_or_else(|e| {
        panic!(
            "not a {}: {}: {}\n{value:#}",
            std::any::type_name::<T>(),
            e.path(),
            e.inner()
        )
    });
    let back = serde_json::to_value(&typed).unwrap();
    let mut lost = Vec::new();
    lost_in_round_trip(value, &back, "", &mut lost);
    assert!(
        lost.is_empty(),
        "unknown or misspelled field(s) of {}: {lost:?}",
        std::any::type_name::<T>()
    );
    typed
}

/// cert-manager's `Issuer` and `Certificate`, with the fields this chart uses (strict).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CertManagerObject<S> {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: S,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct IssuerSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) self_signed: Option<serde_json::Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ca: Option<CaIssuer>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CaIssuer {
    pub(crate) secret_name: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CertificateSpec {
    #[serde(rename = "isCA", skip_serializing_if = "Option::is_none")]
    pub(crate) is_ca: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    common_name: Option<String>,
    pub(crate) secret_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_template: Option<SecretTemplate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dns_names: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    renew_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<PrivateKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usages: Option<Vec<String>>,
    pub(crate) issuer_ref: IssuerRef,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretTemplate {
    pub(crate) labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PrivateKey {
    algorithm: String,
    size: u32,
    rotation_policy: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuerRef {
    pub(crate) group: String,
    pub(crate) kind: String,
    pub(crate) name: String,
}

pub(crate) type Issuer = CertManagerObject<IssuerSpec>;
pub(crate) type Certificate = CertManagerObject<CertificateSpec>;
const CERT_MANAGER: &str = "cert-manager.io/v1";

pub(crate) fn kind_of(value: &Value) -> (&str, &str) {
    (
        value["apiVersion"].as_str().unwrap_or_default(),
        value["kind"].as_str().unwrap_or_default(),
    )
}

/// Parses a document into its typed form, by apiVersion and kind.
pub(crate) fn check_typed(value: &Value) {
    macro_rules! dispatch {
        ($($kind:ty),* $(,)?) => {{
            $(
                if kind_of(value) == (<$kind>::API_VERSION, <$kind>::KIND) {
                    strict::<$kind>(value);
                    return;
                }
            )*
        }};
    }
    dispatch!(
        Namespace,
        ServiceAccount,
        Service,
        Deployment,
        PodDisruptionBudget,
        ClusterRole,
        ClusterRoleBinding,
        Role,
        RoleBinding,
        MutatingWebhookConfiguration,
        ValidatingWebhookConfiguration,
        CustomResourceDefinition,
    );
    match kind_of(value) {
        (CERT_MANAGER, "Issuer") => drop(strict::<Issuer>(value)),
        (CERT_MANAGER, "Certificate") => drop(strict::<Certificate>(value)),
        other => panic!("unexpected object kind {other:?}"),
    }
}

impl Rendered {
    pub(crate) fn all<T: Resource + DeserializeOwned + Serialize>(&self) -> Vec<T> {
        self.documents
            .iter()
            .filter(|d| kind_of(d) == (T::API_VERSION, T::KIND))
            .map(strict)
            .collect()
    }

    pub(crate) fn find<T: Resource + DeserializeOwned + Serialize>(&self, name: &str) -> Option<T> {
        self.documents
            .iter()
            .find(|d| kind_of(d) == (T::API_VERSION, T::KIND) && d["metadata"]["name"] == name)
            .map(strict)
    }

    pub(crate) fn one<T: Resource + DeserializeOwned + Serialize>(&self, name: &str) -> T {
        self.find(name)
            .unwrap_or_else(|| panic!("{}: no {} {name}", self.case.what, T::KIND))
    }

    pub(crate) fn cert_manager<S: DeserializeOwned + Serialize>(
        &self,
        kind: &str,
    ) -> Vec<CertManagerObject<S>> {
        self.documents
            .iter()
            .filter(|d| kind_of(d) == (CERT_MANAGER, kind))
            .map(strict)
            .collect()
    }

    pub(crate) fn deployment(&self) -> Deployment {
        let mut all = self.all::<Deployment>();
        assert_eq!(all.len(), 1, "{}: one Deployment", self.case.what);
        all.remove(0)
    }

    pub(crate) fn fullname(&self) -> String {
        self.deployment().metadata.name.unwrap()
    }
}

pub(crate) fn container(deployment: &Deployment) -> Container {
    let spec = deployment.spec.clone().unwrap().template.spec.unwrap();
    assert_eq!(spec.containers.len(), 1);
    let container = spec.containers[0].clone();
    assert_eq!(container.name, "operator");
    container
}

/// `run` and its flags, parsed by the operator's own flag definitions.
#[derive(Parser, Debug, PartialEq)]
pub(crate) struct RunArgs {
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(flatten)]
    pub(crate) flags: ProcessFlags,
}

pub(crate) fn run_args(container: &Container) -> RunArgs {
    let args = container.args.clone().unwrap_or_default();
    assert_eq!(args.first().map(String::as_str), Some("run"), "{args:?}");
    // The first argument stands where the program name would.
    RunArgs::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The container's literal environment (`valueFrom` entries left out).
pub(crate) fn literal_env(container: &Container) -> BTreeMap<String, String> {
    container
        .env
        .iter()
        .flatten()
        .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
        .collect()
}

/// The operator's configuration from the container's environment, as the operator reads it.
pub(crate) fn operator_config(container: &Container) -> Config {
    let env = literal_env(container);
    let (config, warnings) = Config::from_lookup(&|name| env.get(name).cloned())
        .unwrap_or_else(|e| panic!("the operator would not start: {e}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    config
}
