//! The install manifests, the certificates and the image, checked without a cluster:
//!
//! - every YAML file under `deploy/` (but `deploy/helm/`), `webhooks/` and `certs/` parses into
//!   its typed object (k8s-openapi, or the cert-manager and kustomize structs below), and a field
//!   the typed object does not know (a misspelling) fails: k8s-openapi ignores unknown fields,
//!   so [`strict`] re-serializes the typed value and requires every original field back;
//! - every overlay of `deploy/overlays/` rendered with `kubectl kustomize` (kubectl must be on
//!   `PATH`) is internally consistent: names, labels and selectors, ports, probes, webhook and
//!   conversion service references and paths (against the running server), the certificate
//!   chain and CA injection, RBAC per scope, volumes, flags (accepted by the real binary);
//! - `certs/dev-certs.sh` makes certificates the operator loads and serves, for every name asked;
//! - the Dockerfile, statically (no image registry here): stages, static binary, distroless
//!   non-root final stage without a shell, entrypoint and user matching the Deployment.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[allow(dead_code)] // shared with tests/webhook_server.rs; this file uses a part of it
#[path = "support/tls.rs"]
mod tls_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine;
use clap::{CommandFactory, Parser};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Namespace, PodSpec, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::{NamespaceResourceScope, Resource};
use locust_operator::flags::{CertMode, ProcessFlags};
use locust_operator::rbac::{self, Names, Scope};
use locust_operator::webhook::server::{
    CONVERT_PATH, HANDLER_TIMEOUT, MUTATE_PATH, SHUTDOWN_GRACE, VALIDATE_PATH,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The contract (the names other parts of the project build against)

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const NAMESPACE: &str = "locust-operator-system";
const NAME: &str = "locust-operator";
const CONTAINER: &str = "operator";
const IMAGE: &str = "ghcr.io/locust-operator/locust-operator";
const WEBHOOK_SERVICE: &str = "locust-operator-webhook";
const METRICS_SERVICE: &str = "locust-operator-metrics";
const MUTATING_CONFIGURATION: &str = "locust-operator-mutating-webhook";
const VALIDATING_CONFIGURATION: &str = "locust-operator-validating-webhook";
const MUTATING_WEBHOOK: &str = "mutate.locusttests.locust.io";
const VALIDATING_WEBHOOK: &str = "validate.locusttests.locust.io";
const CRD_NAME: &str = "locusttests.locust.io";
const CERT_SECRET: &str = "locust-operator-webhook-cert";
const WEBHOOK_CERTIFICATE: &str = "locust-operator-webhook-cert";
const INJECT_CA_FROM: &str = "cert-manager.io/inject-ca-from";
const LEADER_ELECTION_ROLE: &str = "locust-operator-leader-election";
const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "locust-operator");
/// The operator pods' labels, which the Deployment, Services, PDB and anti-affinity select on.
const POD_SELECTOR: [(&str, &str); 2] = [
    ("app.kubernetes.io/name", "locust-operator"),
    ("app.kubernetes.io/component", "controller"),
];
/// The namespace the namespaced overlay watches.
const WATCHED: &str = "load-tests";
/// Every overlay under deploy/overlays/ (a test fails when a directory is not listed here).
const OVERLAYS: [&str; 3] = ["cert-manager", "self-managed-certs", "namespaced"];
/// Environment variables the operator reads that are not `run` flags (src/leader.rs).
const DOWNWARD_API_ENV: [(&str, &str); 2] = [
    ("POD_NAME", "metadata.name"),
    ("POD_NAMESPACE", "metadata.namespace"),
];
/// UID and GID of the image (distroless `nonroot`) and of the pod.
const NONROOT: i64 = 65532;

fn root() -> &'static Path {
    Path::new(ROOT)
}

// ---------------------------------------------------------------------------------------------
// Strict typed parsing

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
fn strict<T: DeserializeOwned + Serialize>(value: &Value) -> Result<T, String> {
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
fn typed<T: Resource + DeserializeOwned + Serialize>(value: &Value) -> Result<T, String> {
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
fn check_typed(value: &Value) -> Result<(), String> {
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
struct Issuer {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: IssuerSpec,
}
cert_manager_resource!(Issuer, "issuers");

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IssuerSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    self_signed: Option<SelfSignedIssuer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca: Option<CaIssuer>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SelfSignedIssuer {
    #[serde(skip_serializing_if = "Option::is_none")]
    crl_distribution_points: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CaIssuer {
    secret_name: String,
}

/// A cert-manager `Certificate`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Certificate {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: CertificateSpec,
}
cert_manager_resource!(Certificate, "certificates");

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CertificateSpec {
    secret_name: String,
    issuer_ref: IssuerRef,
    #[serde(default, rename = "isCA", skip_serializing_if = "Option::is_none")]
    is_ca: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    common_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_names: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    renew_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<CertificatePrivateKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usages: Option<Vec<KeyUsage>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_template: Option<SecretTemplate>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IssuerRef {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CertificatePrivateKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    algorithm: Option<KeyAlgorithm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_policy: Option<RotationPolicy>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
enum KeyAlgorithm {
    #[serde(rename = "RSA")]
    Rsa,
    #[serde(rename = "ECDSA")]
    Ecdsa,
    Ed25519,
}

#[derive(Debug, Deserialize, Serialize)]
enum RotationPolicy {
    Never,
    Always,
}

/// The key usages this install uses (cert-manager accepts more).
#[derive(Debug, Deserialize, Serialize, PartialEq)]
enum KeyUsage {
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
struct SecretTemplate {
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

// --- kustomize (kustomize.config.k8s.io/v1beta1), the fields we use

/// A `kustomization.yaml`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Kustomization {
    api_version: String,
    kind: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    patches: Vec<KustomizePatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    labels: Vec<KustomizeLabels>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KustomizePatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<PatchTarget>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchTarget {
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KustomizeLabels {
    pairs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    include_selectors: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    include_templates: Option<bool>,
}

fn parse_kustomization(value: &Value) -> Result<Kustomization, String> {
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

// ---------------------------------------------------------------------------------------------
// Files

fn is_kustomization(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("kustomization.yaml" | "kustomization.yml" | "Kustomization")
    )
}

/// Every YAML file under deploy/ (but deploy/helm/, another install path), webhooks/ and
/// certs/ (but the developer certificates of certs/dev/), sorted.
fn manifest_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        let skip = [root().join("deploy/helm"), root().join("certs/dev")];
        if skip.iter().any(|s| s == dir) {
            return;
        }
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(&path, files);
            } else if is_kustomization(&path)
                || matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                )
            {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in ["deploy", "webhooks", "certs"] {
        walk(&root().join(dir), &mut files);
    }
    files.sort();
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn documents(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", relative(path)));
    locust_operator::check::documents(&text)
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", relative(path)))
}

// ---------------------------------------------------------------------------------------------
// Rendering with kubectl kustomize

/// kubectl on PATH; the tests fail (never skip) without it.
fn kubectl() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubectl is not on PATH: tests/deploy.rs renders deploy/overlays/* with \
                 `kubectl kustomize` (kustomize v5, built into kubectl 1.27 or newer). Install it, \
                 e.g. from https://dl.k8s.io/release/v1.32.4/bin/linux/amd64/kubectl into \
                 /usr/local/bin (chmod +x), or the kubectl package of https://pkgs.k8s.io"
            )
        })
}

/// `kubectl kustomize dir` as JSON documents.
fn kustomize(dir: &Path) -> Vec<Value> {
    let output = Command::new(kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("running kubectl kustomize {}: {e}", dir.display()));
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    locust_operator::check::documents(&text)
        .unwrap_or_else(|e| panic!("kubectl kustomize {}: not YAML: {e}", dir.display()))
}

/// One rendered overlay.
struct Install {
    overlay: &'static str,
    objects: Vec<Value>,
}

/// `(apiVersion, kind, namespace, name)`.
type Id = (String, String, String, String);

fn id_of(object: &Value) -> Id {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    (
        text(&object["apiVersion"]),
        text(&object["kind"]),
        text(&object["metadata"]["namespace"]),
        text(&object["metadata"]["name"]),
    )
}

fn is<T: Resource>(object: &Value) -> bool {
    object["apiVersion"] == T::API_VERSION && object["kind"] == T::KIND
}

impl Install {
    fn values<T: Resource>(&self) -> impl Iterator<Item = &Value> {
        self.objects.iter().filter(|object| is::<T>(object))
    }

    fn all<T: Resource + DeserializeOwned + Serialize>(&self) -> Vec<T> {
        self.values::<T>()
            .map(|object| {
                typed(object)
                    .unwrap_or_else(|e| panic!("{}: {:?}: {e}", self.overlay, id_of(object)))
            })
            .collect()
    }

    fn get<T: Resource + DeserializeOwned + Serialize>(
        &self,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<T> {
        self.values::<T>()
            .find(|object| {
                object["metadata"]["name"] == name
                    && object["metadata"]["namespace"].as_str() == namespace
            })
            .map(|object| typed(object).unwrap())
    }

    fn one<T: Resource + DeserializeOwned + Serialize>(
        &self,
        namespace: Option<&str>,
        name: &str,
    ) -> T {
        self.get(namespace, name).unwrap_or_else(|| {
            panic!(
                "{}: no {} {}{name}",
                self.overlay,
                T::KIND,
                namespace.map(|n| format!("{n}/")).unwrap_or_default()
            )
        })
    }

    fn deployment(&self) -> Deployment {
        self.one(Some(NAMESPACE), NAME)
    }

    fn pod(&self) -> PodSpec {
        self.deployment().spec.unwrap().template.spec.unwrap()
    }

    fn container(&self) -> Container {
        let pod = self.pod();
        assert_eq!(pod.containers.len(), 1, "{}: one container", self.overlay);
        let container = pod.containers.into_iter().next().unwrap();
        assert_eq!(container.name, CONTAINER, "{}", self.overlay);
        container
    }

    /// The flags the operator runs with: its args and its environment.
    fn flags(&self) -> ProcessFlags {
        effective_flags(&self.container())
    }
}

/// The `cert-manager.io/inject-ca-from` annotation of an object.
fn inject_ca_from(object: &Value) -> Option<&str> {
    object["metadata"]["annotations"][INJECT_CA_FROM].as_str()
}

/// The rendered overlay `name` (rendered once per test process, all overlays in parallel).
fn install(name: &str) -> &'static Install {
    static RENDERED: OnceLock<Vec<Install>> = OnceLock::new();
    RENDERED
        .get_or_init(|| {
            std::thread::scope(|scope| {
                let renders: Vec<_> = OVERLAYS
                    .iter()
                    .map(|&overlay| {
                        scope.spawn(move || Install {
                            overlay,
                            objects: kustomize(&root().join("deploy/overlays").join(overlay)),
                        })
                    })
                    .collect();
                renders.into_iter().map(|r| r.join().unwrap()).collect()
            })
        })
        .iter()
        .find(|install| install.overlay == name)
        .unwrap_or_else(|| panic!("no overlay {name}"))
}

fn installs() -> impl Iterator<Item = &'static Install> {
    OVERLAYS.iter().map(|overlay| install(overlay))
}

// ---------------------------------------------------------------------------------------------
// The operator's flags

/// `run`'s flags, to read what a Deployment configures.
#[derive(Parser, Debug)]
struct RunFlags {
    #[command(flatten)]
    flags: ProcessFlags,
}

/// The [`ProcessFlags`] of a container: its `--name=value` args that `run` defines, and its
/// environment variables with a literal value that `run` reads.
fn effective_flags(container: &Container) -> ProcessFlags {
    let command = RunFlags::command();
    let mut by_long = BTreeSet::new();
    let mut by_env = BTreeMap::new();
    for arg in command.get_arguments() {
        if let Some(long) = arg.get_long() {
            by_long.insert(long.to_owned());
            if let Some(env) = arg.get_env() {
                by_env.insert(env.to_string_lossy().into_owned(), long.to_owned());
            }
        }
    }
    let mut argv = vec!["locust-operator".to_owned()];
    for arg in container.args.iter().flatten().skip(1) {
        let long = arg
            .strip_prefix("--")
            .and_then(|a| a.split_once('='))
            .map(|(name, _)| name)
            .unwrap_or_else(|| panic!("{arg:?}: write flags as --name=value"));
        if by_long.contains(long) {
            argv.push(arg.clone());
        }
    }
    for env in container.env.iter().flatten() {
        if let (Some(value), Some(long)) = (&env.value, by_env.get(&env.name)) {
            argv.push(format!("--{long}={value}"));
        }
    }
    RunFlags::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
        .flags
}

/// The operator's defaults (no flags).
fn default_flags() -> ProcessFlags {
    RunFlags::try_parse_from(["locust-operator"]).unwrap().flags
}

fn operator_binary() -> &'static str {
    env!("CARGO_BIN_EXE_locust-operator")
}

/// `locust-operator run --help`.
fn run_help() -> &'static str {
    static HELP: OnceLock<String> = OnceLock::new();
    HELP.get_or_init(|| {
        let output = Command::new(operator_binary())
            .args(["run", "--help"])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    })
}

// ---------------------------------------------------------------------------------------------
// Small helpers

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn selector_labels() -> BTreeMap<String, String> {
    labels(&POD_SELECTOR)
}

/// The labels a `matchLabels`-only selector requires.
fn match_labels(selector: &LabelSelector) -> BTreeMap<String, String> {
    assert!(
        selector.match_expressions.is_none(),
        "selectors use matchLabels only"
    );
    selector.match_labels.clone().unwrap_or_default()
}

fn is_subset(small: &BTreeMap<String, String>, large: &BTreeMap<String, String>) -> bool {
    small.iter().all(|(k, v)| large.get(k) == Some(v))
}

fn port_of(address: std::net::SocketAddr) -> i32 {
    i32::from(address.port())
}

/// The container port a Service or probe port refers to (by name or number).
fn container_port(container: &Container, port: &IntOrString) -> Option<i32> {
    let ports = container.ports.iter().flatten();
    match port {
        IntOrString::String(name) => ports
            .into_iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
        IntOrString::Int(number) => ports
            .into_iter()
            .find(|p| p.container_port == *number)
            .map(|p| p.container_port),
    }
}

/// The DNS names the API server may use for a Service.
fn service_dns_names(name: &str, namespace: &str) -> Vec<String> {
    vec![
        name.to_owned(),
        format!("{name}.{namespace}"),
        format!("{name}.{namespace}.svc"),
        format!("{name}.{namespace}.svc.cluster.local"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Files: typed, referenced, the CRD

#[test]
fn every_manifest_file_parses_into_its_typed_object() {
    let files = manifest_files();
    assert!(files.len() >= 25, "found only {files:?}");
    let mut failures = Vec::new();
    let mut objects = 0;
    for file in &files {
        for (index, document) in documents(file).iter().enumerate() {
            let result = if is_kustomization(file) {
                parse_kustomization(document).map(drop)
            } else {
                objects += 1;
                check_typed(document)
            };
            if let Err(error) = result {
                failures.push(format!(
                    "{} (document {}): {error}",
                    relative(file),
                    index + 1
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(objects >= 20, "{objects} objects");
}

#[test]
fn strict_parsing_rejects_unknown_and_misspelled_fields() {
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "labels": {"a": "b"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "args": ["run"]}]}
            }
        }
    });
    typed::<Deployment>(&deployment).expect("the well-formed Deployment parses");

    let misspell = |pointer: &str, field: &str| {
        let mut broken = deployment.clone();
        let parent = broken
            .pointer_mut(pointer)
            .unwrap()
            .as_object_mut()
            .unwrap();
        parent.insert(field.to_owned(), json!(1));
        broken
    };
    for (pointer, field, path) in [
        ("/spec", "replica", ".spec.replica"),
        (
            "/spec/template/spec/containers/0",
            "imagePulPolicy",
            ".spec.template.spec.containers[0].imagePulPolicy",
        ),
        ("/metadata", "label", ".metadata.label"),
        ("", "spec2", ".spec2"),
    ] {
        let error = typed::<Deployment>(&misspell(pointer, field)).unwrap_err();
        assert!(error.contains(path), "{field}: {error}");
    }
    // A wrong kind, a wrong type (with its path).
    let mut wrong_kind = deployment.clone();
    wrong_kind["kind"] = json!("Deploymnet");
    assert!(typed::<Deployment>(&wrong_kind).is_err());
    let mut wrong_type = deployment.clone();
    wrong_type["spec"]["replicas"] = json!("two");
    let error = typed::<Deployment>(&wrong_type).unwrap_err();
    assert!(error.contains("spec.replicas"), "{error}");

    // The cert-manager and kustomize structs: deny_unknown_fields, plus the round trip for
    // their embedded ObjectMeta.
    let certificate = json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "c", "namespace": "n"},
        "spec": {"secretName": "s", "issuerRef": {"name": "i"}, "dnsNames": ["a"]}
    });
    typed::<Certificate>(&certificate).unwrap();
    let mut broken = certificate.clone();
    broken["spec"]["dnsName"] = json!(["a"]);
    assert!(typed::<Certificate>(&broken).is_err());
    let mut broken = certificate.clone();
    broken["metadata"]["annotation"] = json!({});
    assert!(typed::<Certificate>(&broken).is_err());
    let mut broken = certificate;
    broken["spec"]["privateKey"] = json!({"algorithm": "DSA"});
    assert!(typed::<Certificate>(&broken).is_err());
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resource": ["a.yaml"]
    });
    assert!(parse_kustomization(&kustomization).is_err());

    // check_typed knows only the kinds of an install.
    assert!(check_typed(&json!({"apiVersion": "v1", "kind": "ConfigMap"})).is_err());
}

#[test]
fn kustomizations_reference_existing_paths_and_every_manifest() {
    let files = manifest_files();
    let mut referenced = BTreeSet::new();
    let mut problems = Vec::new();
    for file in files.iter().filter(|f| is_kustomization(f)) {
        let dir = file.parent().unwrap();
        let kustomization = parse_kustomization(&documents(file)[0]).unwrap();
        for resource in &kustomization.resources {
            let path = dir.join(resource);
            if path.is_dir() {
                if !["kustomization.yaml", "kustomization.yml", "Kustomization"]
                    .iter()
                    .any(|name| path.join(name).is_file())
                {
                    problems.push(format!(
                        "{}: {resource} has no kustomization",
                        relative(file)
                    ));
                }
            } else if !path.is_file() {
                problems.push(format!("{}: {resource} does not exist", relative(file)));
            } else if resource.contains("..") || Path::new(resource).is_absolute() {
                problems.push(format!(
                    "{}: {resource} is a file outside the kustomization's directory",
                    relative(file)
                ));
            } else {
                referenced.insert(path.canonicalize().unwrap());
            }
        }
        for patch in &kustomization.patches {
            if let Some(path) = &patch.path {
                problems.push(format!(
                    "{}: patch file {path}: keep patches inline",
                    relative(file)
                ));
            }
            let text = patch.patch.as_deref().unwrap_or_default();
            let docs = locust_operator::check::documents(text).unwrap();
            assert_eq!(docs.len(), 1, "{}: one document per patch", relative(file));
            let (api_version, kind, _, name) = id_of(&docs[0]);
            if let Some(target) = &patch.target {
                let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
                if target.kind.as_deref() != Some(kind.as_str())
                    || target.name.as_deref() != Some(name.as_str())
                    || target.group.as_deref().unwrap_or("") != group
                {
                    problems.push(format!(
                        "{}: patch target {target:?} differs from the patch's {api_version} {kind} {name}",
                        relative(file)
                    ));
                }
            }
        }
    }
    for file in files.iter().filter(|f| !is_kustomization(f)) {
        if !referenced.contains(&file.canonicalize().unwrap()) {
            problems.push(format!(
                "{}: not part of any kustomization (so never installed)",
                relative(file)
            ));
        }
    }
    let overlays: BTreeSet<String> = std::fs::read_dir(root().join("deploy/overlays"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = OVERLAYS.iter().map(|o| (*o).to_owned()).collect();
    assert_eq!(
        overlays, listed,
        "deploy/overlays/* and OVERLAYS in this file"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_crd_in_deploy_is_the_generated_one() {
    let generated = locust_operator::crd::locust_test_crd_yaml().unwrap();
    // deploy/crd.yaml (what the README and `locust-operator crd > deploy/crd.yaml` name) is a
    // symlink to deploy/crd/crd.yaml, the file kustomize can load.
    let link = root().join("deploy/crd.yaml");
    let metadata = std::fs::symlink_metadata(&link).unwrap();
    assert!(
        metadata.file_type().is_symlink(),
        "deploy/crd.yaml must be a symlink to crd/crd.yaml (kustomize loads files only from \
         inside a kustomization's directory); restore it with \
         `ln -sf crd/crd.yaml deploy/crd.yaml && cargo run -q -- crd > deploy/crd.yaml`"
    );
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("crd/crd.yaml")
    );
    for path in ["deploy/crd.yaml", "deploy/crd/crd.yaml"] {
        let committed = std::fs::read_to_string(root().join(path)).unwrap();
        assert!(
            committed == generated,
            "{path} is stale: regenerate it with `cargo run -q -- crd > deploy/crd.yaml`"
        );
    }
    // Each overlay installs it unchanged but for labels and annotations.
    let crd = locust_operator::crd::locust_test_crd().unwrap();
    for install in installs() {
        let rendered: CustomResourceDefinition = install.one(None, CRD_NAME);
        assert_eq!(rendered.spec, crd.spec, "{}", install.overlay);
    }
}

// ---------------------------------------------------------------------------------------------
// Every overlay

#[test]
fn every_overlay_renders_typed_objects_in_the_operator_namespace() {
    for install in installs() {
        let mut seen = BTreeSet::new();
        for object in &install.objects {
            let id = id_of(object);
            check_typed(object).unwrap_or_else(|e| panic!("{}: {id:?}: {e}", install.overlay));
            assert!(seen.insert(id.clone()), "{}: {id:?} twice", install.overlay);
            assert_eq!(
                object["metadata"]["labels"][PART_OF.0], PART_OF.1,
                "{}: {id:?} lacks the part-of label",
                install.overlay
            );
            let namespace = &id.2;
            let allowed = if install.overlay == "namespaced" {
                vec!["", NAMESPACE, WATCHED]
            } else {
                vec!["", NAMESPACE]
            };
            assert!(
                allowed.contains(&namespace.as_str()),
                "{}: {id:?} in namespace {namespace:?}",
                install.overlay
            );
        }
        let _: Namespace = install.one(None, NAMESPACE);
        let _: ServiceAccount = install.one(Some(NAMESPACE), NAME);
        let _: Service = install.one(Some(NAMESPACE), WEBHOOK_SERVICE);
        let _: Service = install.one(Some(NAMESPACE), METRICS_SERVICE);
        let _: PodDisruptionBudget = install.one(Some(NAMESPACE), NAME);
        let _: MutatingWebhookConfiguration = install.one(None, MUTATING_CONFIGURATION);
        let _: ValidatingWebhookConfiguration = install.one(None, VALIDATING_CONFIGURATION);
        assert_eq!(install.all::<Deployment>().len(), 1, "{}", install.overlay);
        // Namespaced kinds carry their namespace, cluster-scoped ones none.
        for object in &install.objects {
            let cluster_scoped = is::<Namespace>(object)
                || is::<CustomResourceDefinition>(object)
                || is::<ClusterRole>(object)
                || is::<ClusterRoleBinding>(object)
                || is::<MutatingWebhookConfiguration>(object)
                || is::<ValidatingWebhookConfiguration>(object);
            assert_eq!(
                object["metadata"]["namespace"].is_string(),
                !cluster_scoped,
                "{}: {:?}",
                install.overlay,
                id_of(object)
            );
        }
    }
}

#[test]
fn the_deployment_runs_the_hardened_operator() {
    let defaults = default_flags();
    for install in installs() {
        let overlay = install.overlay;
        let deployment = install.deployment();
        let spec = deployment.spec.clone().unwrap();
        assert_eq!(spec.replicas, Some(2), "{overlay}");
        assert_eq!(match_labels(&spec.selector), selector_labels(), "{overlay}");
        let template_labels = spec.template.metadata.unwrap().labels.unwrap();
        assert!(is_subset(&selector_labels(), &template_labels), "{overlay}");
        assert_eq!(
            template_labels.get(PART_OF.0).map(String::as_str),
            Some(PART_OF.1)
        );
        let metadata_labels = deployment.metadata.labels.unwrap();
        assert!(is_subset(&selector_labels(), &metadata_labels), "{overlay}");

        let pod = install.pod();
        assert_eq!(pod.service_account_name.as_deref(), Some(NAME), "{overlay}");
        assert_eq!(pod.automount_service_account_token, Some(true), "{overlay}");
        // SIGTERM lets in-flight webhook requests finish within SHUTDOWN_GRACE, then the lease
        // is released: the pod must be given longer than that.
        let grace = pod.termination_grace_period_seconds.unwrap();
        assert_eq!(grace, 30, "{overlay}");
        assert!(grace as u64 > SHUTDOWN_GRACE.as_secs(), "{overlay}");

        let security = pod.security_context.clone().unwrap();
        assert_eq!(security.run_as_non_root, Some(true), "{overlay}");
        assert_eq!(security.run_as_user, Some(NONROOT), "{overlay}");
        assert_eq!(security.run_as_group, Some(NONROOT), "{overlay}");
        assert_eq!(security.seccomp_profile.unwrap().type_, "RuntimeDefault");

        // Replicas on different nodes when possible.
        let anti = pod.affinity.clone().unwrap().pod_anti_affinity.unwrap();
        let preferred = anti
            .preferred_during_scheduling_ignored_during_execution
            .unwrap();
        assert_eq!(preferred.len(), 1, "{overlay}");
        let term = &preferred[0].pod_affinity_term;
        assert_eq!(term.topology_key, "kubernetes.io/hostname", "{overlay}");
        assert!(
            is_subset(
                &match_labels(term.label_selector.as_ref().unwrap()),
                &template_labels
            ),
            "{overlay}: the anti-affinity selects the operator's own pods"
        );
        assert_eq!(
            match_labels(term.label_selector.as_ref().unwrap()),
            selector_labels()
        );
        assert!(
            anti.required_during_scheduling_ignored_during_execution
                .is_none()
        );

        let container = install.container();
        assert_eq!(
            container.image.as_deref(),
            Some(format!("{IMAGE}:{}", env!("CARGO_PKG_VERSION")).as_str()),
            "{overlay}: the image tag is the package version"
        );
        assert!(
            container.command.is_none(),
            "{overlay}: the image's ENTRYPOINT is the binary; the Deployment sets args only"
        );
        let args = container.args.clone().unwrap();
        assert_eq!(args[0], "run", "{overlay}");
        assert_eq!(args[1], "--log-format=json", "{overlay}");
        let container_security = container.security_context.clone().unwrap();
        assert_eq!(container_security.allow_privilege_escalation, Some(false));
        assert_eq!(container_security.read_only_root_filesystem, Some(true));
        assert_eq!(container_security.run_as_non_root, Some(true));
        assert!(container_security.privileged.is_none_or(|p| !p));
        let capabilities = container_security.capabilities.unwrap();
        assert_eq!(capabilities.drop, Some(vec!["ALL".to_owned()]));
        assert!(capabilities.add.is_none());
        assert_eq!(
            container_security.seccomp_profile.unwrap().type_,
            "RuntimeDefault"
        );
        let resources = container.resources.clone().unwrap();
        let requests = resources.requests.unwrap();
        assert_eq!(requests["cpu"].0, "50m", "{overlay}");
        assert_eq!(requests["memory"].0, "64Mi", "{overlay}");
        assert_eq!(resources.limits.unwrap()["memory"].0, "256Mi", "{overlay}");

        // Downward API for the leader-election identity and namespace.
        let env = container.env.clone().unwrap();
        for (name, field) in DOWNWARD_API_ENV {
            let var = env
                .iter()
                .find(|e| e.name == name)
                .unwrap_or_else(|| panic!("{overlay}: no {name}"));
            let from = var.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
            assert_eq!(from.field_path, field, "{overlay}: {name}");
        }
        // Every other variable is one `run` reads.
        for var in &env {
            if DOWNWARD_API_ENV.iter().any(|(name, _)| *name == var.name) {
                continue;
            }
            assert!(
                run_help().contains(&format!("[env: {}=", var.name)),
                "{overlay}: {} is not read by `locust-operator run`",
                var.name
            );
        }

        // Ports: the servers' addresses, named as the Services and probes refer to them.
        let flags = install.flags();
        let ports: BTreeMap<String, i32> = container
            .ports
            .iter()
            .flatten()
            .map(|p| (p.name.clone().unwrap(), p.container_port))
            .collect();
        let expected = BTreeMap::from([
            (
                "webhook".to_owned(),
                port_of(flags.server.webhook_bind_address),
            ),
            (
                "metrics".to_owned(),
                port_of(flags.server.metrics_bind_address),
            ),
            (
                "probes".to_owned(),
                port_of(flags.server.health_probe_bind_address),
            ),
        ]);
        assert_eq!(ports, expected, "{overlay}");
        assert_eq!(
            expected.values().copied().collect::<Vec<_>>(),
            vec![8080, 8081, 9443],
            "{overlay}: the contract's ports"
        );
        assert_eq!(
            flags.server, defaults.server,
            "{overlay}: server flags left at their defaults"
        );
        assert!(
            flags.leader_elect,
            "{overlay}: 2 replicas need leader election"
        );

        // Probes on the probes port: liveness never depends on the certificate, readiness does.
        for (probe, path) in [
            (container.liveness_probe.clone(), "/healthz"),
            (container.readiness_probe.clone(), "/readyz"),
        ] {
            let get = probe.unwrap().http_get.unwrap();
            assert_eq!(get.path.as_deref(), Some(path), "{overlay}");
            assert_eq!(
                container_port(&container, &get.port),
                Some(port_of(flags.server.health_probe_bind_address)),
                "{overlay}: {path}"
            );
            assert!(get.scheme.is_none_or(|s| s == "HTTP"), "{overlay}");
        }

        // Every mount names a volume, every volume is mounted.
        let volumes: BTreeSet<String> = pod
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.clone())
            .collect();
        let mounted: BTreeSet<String> = container
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| m.name.clone())
            .collect();
        assert_eq!(volumes, mounted, "{overlay}");

        // At least one replica through voluntary disruptions, never blocking a drain.
        let pdb: PodDisruptionBudget = install.one(Some(NAMESPACE), NAME);
        let pdb = pdb.spec.unwrap();
        assert_eq!(pdb.min_available, Some(IntOrString::Int(1)), "{overlay}");
        assert!(pdb.max_unavailable.is_none());
        assert_eq!(
            match_labels(pdb.selector.as_ref().unwrap()),
            selector_labels()
        );
        assert!(spec.replicas.unwrap() > 1);
    }
}

#[test]
fn deployment_args_and_environment_are_accepted_by_the_binary() {
    for install in installs() {
        let container = install.container();
        // clap rejects an unknown flag or a bad value as it reads it; `--help` last then
        // succeeds only when every argument before it was accepted.
        let output = Command::new(operator_binary())
            .args(container.args.iter().flatten())
            .arg("--help")
            .env_clear()
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: locust-operator {:?} is rejected:\n{}",
            install.overlay,
            container.args,
            String::from_utf8_lossy(&output.stderr)
        );
        // The values of the environment variables parse too.
        let _ = install.flags();
    }
}

#[test]
fn services_select_the_operator_pods_and_name_its_ports() {
    for install in installs() {
        let overlay = install.overlay;
        let container = install.container();
        let flags = install.flags();
        let template_labels = install
            .deployment()
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .labels
            .unwrap();
        for (name, port, target) in [
            (
                WEBHOOK_SERVICE,
                443,
                port_of(flags.server.webhook_bind_address),
            ),
            (
                METRICS_SERVICE,
                8080,
                port_of(flags.server.metrics_bind_address),
            ),
        ] {
            let service: Service = install.one(Some(NAMESPACE), name);
            let spec = service.spec.unwrap();
            assert!(
                spec.type_.is_none_or(|t| t == "ClusterIP"),
                "{overlay}: {name}"
            );
            let selector = spec.selector.unwrap();
            assert_eq!(selector, selector_labels(), "{overlay}: {name}");
            assert!(is_subset(&selector, &template_labels), "{overlay}: {name}");
            let ports = spec.ports.unwrap();
            assert_eq!(ports.len(), 1, "{overlay}: {name}");
            assert_eq!(ports[0].port, port, "{overlay}: {name}");
            let target_port = ports[0].target_port.as_ref().unwrap();
            assert!(
                matches!(target_port, IntOrString::String(_)),
                "{overlay}: {name}: target ports by name"
            );
            assert_eq!(
                container_port(&container, target_port),
                Some(target),
                "{overlay}: {name}: {target_port:?} names the container port of the server"
            );
        }
    }
}

/// `(service name, namespace, port, path)` of a webhook client configuration.
fn service_reference(
    install: &Install,
    what: &str,
    url: Option<&String>,
    ca_bundle: bool,
    service: Option<(&str, &str, Option<i32>, Option<&str>)>,
) -> (String, String, i32, String) {
    assert!(
        url.is_none(),
        "{}: {what}: service, not url",
        install.overlay
    );
    assert!(
        !ca_bundle,
        "{}: {what}: the caBundle is injected, never written in the manifests",
        install.overlay
    );
    let (name, namespace, port, path) =
        service.unwrap_or_else(|| panic!("{}: {what}: no service", install.overlay));
    (
        name.to_owned(),
        namespace.to_owned(),
        port.unwrap_or(443),
        path.unwrap_or("/").to_owned(),
    )
}

/// Checks that a webhook's Service reference reaches the webhook server; returns its path.
fn check_reaches_webhook_server(
    install: &Install,
    what: &str,
    reference: (String, String, i32, String),
) -> String {
    let (name, namespace, port, path) = reference;
    assert_eq!(
        (name.as_str(), namespace.as_str()),
        (WEBHOOK_SERVICE, NAMESPACE),
        "{}: {what}",
        install.overlay
    );
    let service: Service = install.one(Some(&namespace), &name);
    let service_port = service
        .spec
        .unwrap()
        .ports
        .unwrap()
        .into_iter()
        .find(|p| p.port == port)
        .unwrap_or_else(|| {
            panic!(
                "{}: {what}: the Service has no port {port}",
                install.overlay
            )
        });
    assert_eq!(
        container_port(
            &install.container(),
            service_port.target_port.as_ref().unwrap()
        ),
        Some(port_of(install.flags().server.webhook_bind_address)),
        "{}: {what}: reaches the HTTPS server",
        install.overlay
    );
    path
}

/// The paths the manifests send admission and conversion reviews to.
fn webhook_paths(install: &Install) -> BTreeMap<&'static str, String> {
    let mutating: MutatingWebhookConfiguration = install.one(None, MUTATING_CONFIGURATION);
    let validating: ValidatingWebhookConfiguration = install.one(None, VALIDATING_CONFIGURATION);
    let crd: CustomResourceDefinition = install.one(None, CRD_NAME);
    let mut paths = BTreeMap::new();
    let webhooks = mutating.webhooks.unwrap();
    assert_eq!(webhooks.len(), 1);
    let client = &webhooks[0].client_config;
    let service = client.service.as_ref();
    paths.insert(
        "mutating",
        check_reaches_webhook_server(
            install,
            "mutating webhook",
            service_reference(
                install,
                "mutating webhook",
                client.url.as_ref(),
                client.ca_bundle.is_some(),
                service.map(|s| {
                    (
                        s.name.as_str(),
                        s.namespace.as_str(),
                        s.port,
                        s.path.as_deref(),
                    )
                }),
            ),
        ),
    );
    let webhooks = validating.webhooks.unwrap();
    assert_eq!(webhooks.len(), 1);
    let client = &webhooks[0].client_config;
    let service = client.service.as_ref();
    paths.insert(
        "validating",
        check_reaches_webhook_server(
            install,
            "validating webhook",
            service_reference(
                install,
                "validating webhook",
                client.url.as_ref(),
                client.ca_bundle.is_some(),
                service.map(|s| {
                    (
                        s.name.as_str(),
                        s.namespace.as_str(),
                        s.port,
                        s.path.as_deref(),
                    )
                }),
            ),
        ),
    );
    let conversion = crd.spec.conversion.unwrap();
    assert_eq!(conversion.strategy, "Webhook", "{}", install.overlay);
    let webhook = conversion.webhook.unwrap();
    assert!(
        webhook
            .conversion_review_versions
            .contains(&"v1".to_owned())
    );
    let client = webhook.client_config.unwrap();
    let service = client.service.as_ref();
    paths.insert(
        "conversion",
        check_reaches_webhook_server(
            install,
            "CRD conversion webhook",
            service_reference(
                install,
                "CRD conversion webhook",
                client.url.as_ref(),
                client.ca_bundle.is_some(),
                service.map(|s| {
                    (
                        s.name.as_str(),
                        s.namespace.as_str(),
                        s.port,
                        s.path.as_deref(),
                    )
                }),
            ),
        ),
    );
    paths
}

#[test]
fn webhooks_and_conversion_point_at_the_webhook_service_and_the_server_paths() {
    for install in installs() {
        let overlay = install.overlay;
        let paths = webhook_paths(install);
        assert_eq!(paths["mutating"], MUTATE_PATH, "{overlay}");
        assert_eq!(paths["validating"], VALIDATE_PATH, "{overlay}");
        assert_eq!(paths["conversion"], CONVERT_PATH, "{overlay}");

        // The rules cover every version of the CRD's group, for the CRD's plural.
        let crd: CustomResourceDefinition = install.one(None, CRD_NAME);
        let mut versions: Vec<String> = crd.spec.versions.iter().map(|v| v.name.clone()).collect();
        versions.sort();
        let expected_rule = RuleWithOperations {
            api_groups: Some(vec![crd.spec.group.clone()]),
            api_versions: Some(versions),
            resources: Some(vec![crd.spec.names.plural.clone()]),
            operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
            scope: Some(crd.spec.scope.clone()),
        };
        assert_eq!(
            expected_rule.api_versions,
            Some(vec!["v1".to_owned(), "v2".to_owned()])
        );
        let mutating: MutatingWebhookConfiguration = install.one(None, MUTATING_CONFIGURATION);
        let validating: ValidatingWebhookConfiguration =
            install.one(None, VALIDATING_CONFIGURATION);
        let m = &mutating.webhooks.unwrap()[0];
        let v = &validating.webhooks.unwrap()[0];
        assert_eq!(m.name, MUTATING_WEBHOOK, "{overlay}");
        assert_eq!(v.name, VALIDATING_WEBHOOK, "{overlay}");
        assert_eq!(m.reinvocation_policy.as_deref(), Some("Never"));
        for (name, review_versions, side_effects, failure, timeout, matching, rules, selectors) in [
            (
                &m.name,
                &m.admission_review_versions,
                &m.side_effects,
                &m.failure_policy,
                m.timeout_seconds,
                &m.match_policy,
                &m.rules,
                (m.namespace_selector.is_some(), m.object_selector.is_some()),
            ),
            (
                &v.name,
                &v.admission_review_versions,
                &v.side_effects,
                &v.failure_policy,
                v.timeout_seconds,
                &v.match_policy,
                &v.rules,
                (v.namespace_selector.is_some(), v.object_selector.is_some()),
            ),
        ] {
            assert_eq!(review_versions, &vec!["v1".to_owned()], "{overlay}: {name}");
            assert_eq!(side_effects, "None", "{overlay}: {name}");
            assert_eq!(failure.as_deref(), Some("Fail"), "{overlay}: {name}");
            assert_eq!(matching.as_deref(), Some("Equivalent"), "{overlay}: {name}");
            assert_eq!(timeout, Some(5), "{overlay}: {name}");
            // The server answers within HANDLER_TIMEOUT, well inside the API server's wait.
            assert!(
                u64::try_from(timeout.unwrap()).unwrap() > HANDLER_TIMEOUT.as_secs(),
                "{overlay}: {name}"
            );
            assert_eq!(
                rules,
                &Some(vec![expected_rule.clone()]),
                "{overlay}: {name}"
            );
            assert_eq!(
                selectors,
                (false, false),
                "{overlay}: {name}: every namespace"
            );
        }
    }
}

#[test]
fn the_e2e_suite_registers_the_same_webhooks() {
    let source = std::fs::read_to_string(root().join("tests/support/e2e.rs")).unwrap();
    for (constant, value) in [
        ("MUTATING_WEBHOOK", MUTATING_WEBHOOK),
        ("VALIDATING_WEBHOOK", VALIDATING_WEBHOOK),
    ] {
        assert!(
            source.contains(&format!("pub const {constant}: &str = \"{value}\";")),
            "tests/support/e2e.rs {constant} differs from webhooks/"
        );
    }
    for fragment in [
        "\"admissionReviewVersions\": [\"v1\"]",
        "\"sideEffects\": \"None\"",
        "\"failurePolicy\": \"Fail\"",
        "\"timeoutSeconds\": 5",
        "\"matchPolicy\": \"Equivalent\"",
        "\"apiVersions\": [\"v1\", \"v2\"]",
        "\"operations\": [\"CREATE\", \"UPDATE\"]",
        "\"reinvocationPolicy\"] = json!(\"Never\")",
    ] {
        assert!(
            source.contains(fragment),
            "tests/support/e2e.rs no longer registers {fragment}: keep webhooks/ and it in step"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// RBAC

/// One permission: (API group, resource, verb, resource name or any).
type Grant = (String, String, String, Option<String>);

fn grants(rules: &[PolicyRule]) -> BTreeSet<Grant> {
    let mut all = BTreeSet::new();
    for rule in rules {
        assert!(rule.non_resource_urls.is_none(), "{rule:?}");
        let names: Vec<Option<String>> = match &rule.resource_names {
            Some(names) => names.iter().cloned().map(Some).collect(),
            None => vec![None],
        };
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    for name in &names {
                        all.insert((group.clone(), resource.clone(), verb.clone(), name.clone()));
                    }
                }
            }
        }
    }
    all
}

/// What the operator started with `flags` in `namespace` (its `POD_NAMESPACE`) needs:
/// cluster-wide, and per namespace. Computed from the code's own lists of the API calls each
/// component makes ([`rbac::api_calls`]: the start-up check, the controller, leader election,
/// self-managed certificates; tests/rbac.rs and tests/self_managed_certs.rs prove the lists
/// are what the code requests), placed by their [`Scope`] and limited to the names of
/// [`Names`]: least privilege is exactly this, no verb more.
fn needed(
    flags: &ProcessFlags,
    namespace: &str,
) -> (BTreeSet<Grant>, BTreeMap<String, BTreeSet<Grant>>) {
    let names = Names::from_flags(flags);
    let watched = &flags.watch_namespace.0;
    let lease_namespace = flags
        .leader_election_namespace
        .clone()
        .unwrap_or_else(|| namespace.to_owned());
    let mut cluster = BTreeSet::new();
    let mut namespaced: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
    for call in rbac::api_calls(flags) {
        let grant = (
            call.group.to_owned(),
            call.resource.to_owned(),
            call.verb.to_owned(),
            names.of(call.target).map(str::to_owned),
        );
        let namespaces = match call.scope {
            Scope::Cluster => None,
            Scope::Watched if watched.is_empty() => None,
            Scope::Watched => Some(watched.clone()),
            Scope::Operator => Some(vec![namespace.to_owned()]),
            Scope::Lease => Some(vec![lease_namespace.clone()]),
        };
        match namespaces {
            None => {
                cluster.insert(grant);
            }
            Some(namespaces) => {
                for namespace in namespaces {
                    namespaced
                        .entry(namespace)
                        .or_default()
                        .insert(grant.clone());
                }
            }
        }
    }
    (cluster, namespaced)
}

/// What the operator's ServiceAccount may do: cluster-wide, and per namespace. Also checks
/// that every binding binds only that ServiceAccount to a role of the install, that every
/// role is bound, and that no rule uses a wildcard.
fn access(install: &Install) -> (BTreeSet<Grant>, BTreeMap<String, BTreeSet<Grant>>) {
    let overlay = install.overlay;
    let service_account = install.pod().service_account_name.unwrap();
    let _: ServiceAccount = install.one(Some(NAMESPACE), &service_account);
    let expected_subject = (
        "ServiceAccount".to_owned(),
        service_account,
        Some(NAMESPACE.to_owned()),
    );
    let mut bound = BTreeSet::new();
    let check_subjects =
        |what: &str, subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| {
            let subjects: Vec<_> = subjects
                .iter()
                .flatten()
                .map(|s| (s.kind.clone(), s.name.clone(), s.namespace.clone()))
                .collect();
            assert_eq!(
                subjects,
                vec![expected_subject.clone()],
                "{overlay}: {what}"
            );
        };
    let rules_of = |kind: &str, namespace: Option<&str>, name: &str| -> Vec<PolicyRule> {
        match kind {
            "ClusterRole" => install
                .one::<ClusterRole>(None, name)
                .rules
                .unwrap_or_default(),
            "Role" => install
                .one::<Role>(namespace, name)
                .rules
                .unwrap_or_default(),
            other => panic!("{overlay}: roleRef kind {other}"),
        }
    };
    let mut cluster = BTreeSet::new();
    for binding in install.all::<ClusterRoleBinding>() {
        let name = binding.metadata.name.clone().unwrap();
        check_subjects(&name, &binding.subjects);
        assert_eq!(binding.role_ref.api_group, "rbac.authorization.k8s.io");
        assert_eq!(binding.role_ref.kind, "ClusterRole", "{overlay}: {name}");
        bound.insert((
            "ClusterRole".to_owned(),
            String::new(),
            binding.role_ref.name.clone(),
        ));
        cluster.extend(grants(&rules_of(
            "ClusterRole",
            None,
            &binding.role_ref.name,
        )));
    }
    let mut namespaced: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
    for binding in install.all::<RoleBinding>() {
        let name = binding.metadata.name.clone().unwrap();
        let namespace = binding.metadata.namespace.clone().unwrap();
        check_subjects(&name, &binding.subjects);
        assert_eq!(binding.role_ref.api_group, "rbac.authorization.k8s.io");
        let role_namespace = (binding.role_ref.kind == "Role").then_some(namespace.as_str());
        bound.insert((
            binding.role_ref.kind.clone(),
            role_namespace.unwrap_or_default().to_owned(),
            binding.role_ref.name.clone(),
        ));
        namespaced
            .entry(namespace.clone())
            .or_default()
            .extend(grants(&rules_of(
                &binding.role_ref.kind,
                role_namespace,
                &binding.role_ref.name,
            )));
    }
    let mut roles = BTreeSet::new();
    for role in install.all::<ClusterRole>() {
        roles.insert((
            "ClusterRole".to_owned(),
            String::new(),
            role.metadata.name.unwrap(),
        ));
    }
    for role in install.all::<Role>() {
        roles.insert((
            "Role".to_owned(),
            role.metadata.namespace.unwrap(),
            role.metadata.name.unwrap(),
        ));
    }
    assert_eq!(
        roles, bound,
        "{overlay}: every role bound, every binding to a role here"
    );
    for grant in cluster.iter().chain(namespaced.values().flatten()) {
        assert!(
            ![&grant.0, &grant.1, &grant.2].contains(&&"*".to_owned()),
            "{overlay}: wildcard in {grant:?}"
        );
    }
    (cluster, namespaced)
}

fn show(grants: &BTreeSet<Grant>) -> String {
    grants
        .iter()
        .map(|(g, r, v, n)| {
            format!(
                "  {g}/{r} {v}{}",
                n.as_ref().map(|n| format!(" [{n}]")).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_grants(overlay: &str, scope: &str, actual: &BTreeSet<Grant>, expected: &BTreeSet<Grant>) {
    assert!(
        actual == expected,
        "{overlay}: {scope}:\nmissing:\n{}\nextra:\n{}",
        show(&expected.difference(actual).cloned().collect()),
        show(&actual.difference(expected).cloned().collect())
    );
}

/// Each overlay grants its ServiceAccount exactly what the operator it runs needs ([`needed`]:
/// computed from the code's `API_CALLS` lists for the Deployment's own flags), in each scope:
/// nothing missing, no verb or name more.
#[test]
fn rbac_grants_exactly_what_the_operator_calls_in_each_scope() {
    for install in installs() {
        let overlay = install.overlay;
        let (cluster, namespaced) = access(install);
        let flags = install.flags();
        // What each overlay is (so that the expectation below follows the right flags).
        let (watched, certs): (&[&str], CertMode) = match overlay {
            "cert-manager" => (&[], CertMode::Files),
            "self-managed-certs" => (&[], CertMode::SelfManaged),
            "namespaced" => (&[WATCHED], CertMode::Files),
            other => panic!("no expectation for {other}"),
        };
        assert_eq!(
            flags.watch_namespace.0, watched,
            "{overlay}: WATCH_NAMESPACE"
        );
        assert_eq!(flags.certs.mode, certs, "{overlay}: --certs");
        assert!(flags.leader_elect, "{overlay}: --leader-elect");
        let (expected_cluster, expected_namespaced) = needed(&flags, NAMESPACE);
        assert_grants(overlay, "cluster-wide", &cluster, &expected_cluster);
        let scopes: BTreeSet<&str> = namespaced.keys().map(String::as_str).collect();
        assert_eq!(
            scopes,
            expected_namespaced.keys().map(String::as_str).collect(),
            "{overlay}: namespaces with access"
        );
        for (namespace, expected) in &expected_namespaced {
            assert_grants(overlay, namespace, &namespaced[namespace], expected);
        }
        // Secrets: only the self-managed certificate mode, only its own Secret (but create).
        let secrets: Vec<&Grant> = cluster
            .iter()
            .chain(namespaced.values().flatten())
            .filter(|g| g.1 == "secrets")
            .collect();
        if overlay == "self-managed-certs" {
            for grant in &secrets {
                assert!(
                    grant.2 == "create" || grant.3.as_deref() == Some(CERT_SECRET),
                    "{overlay}: {grant:?}"
                );
            }
            assert!(namespaced[NAMESPACE].iter().any(|g| g.1 == "secrets"));
        } else {
            assert!(secrets.is_empty(), "{overlay}: {secrets:?}");
        }
        // The leader-election Role is where the Lease lives: the operator's namespace.
        let _: Role = install.one(Some(NAMESPACE), LEADER_ELECTION_ROLE);
        assert!(
            flags.leader_election_namespace.is_none(),
            "{overlay}: POD_NAMESPACE decides"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Certificates per overlay

/// cert-manager: the chain selfsigned -> CA -> webhook certificate, the Secret it writes
/// mounted at --cert-dir, and the CA injected into both webhooks and the conversion webhook.
fn check_cert_manager(install: &Install) {
    let overlay = install.overlay;
    let issuers: BTreeMap<String, Issuer> = install
        .all::<Issuer>()
        .into_iter()
        .map(|i| (i.metadata.name.clone().unwrap(), i))
        .collect();
    let certificates: BTreeMap<String, Certificate> = install
        .all::<Certificate>()
        .into_iter()
        .map(|c| (c.metadata.name.clone().unwrap(), c))
        .collect();
    assert_eq!(
        issuers.keys().map(String::as_str).collect::<Vec<_>>(),
        ["locust-operator-ca-issuer", "locust-operator-selfsigned"],
        "{overlay}"
    );
    assert_eq!(
        certificates.keys().map(String::as_str).collect::<Vec<_>>(),
        ["locust-operator-ca", WEBHOOK_CERTIFICATE],
        "{overlay}"
    );
    for object in issuers
        .values()
        .map(|i| &i.metadata)
        .chain(certificates.values().map(|c| &c.metadata))
    {
        assert_eq!(object.namespace.as_deref(), Some(NAMESPACE), "{overlay}");
    }
    let issuer_of = |certificate: &Certificate| -> &Issuer {
        let reference = &certificate.spec.issuer_ref;
        assert_eq!(reference.kind.as_deref().unwrap_or("Issuer"), "Issuer");
        assert_eq!(
            reference.group.as_deref().unwrap_or("cert-manager.io"),
            "cert-manager.io"
        );
        issuers
            .get(&reference.name)
            .unwrap_or_else(|| panic!("{overlay}: no Issuer {}", reference.name))
    };

    // selfsigned -> CA certificate -> CA issuer -> webhook certificate.
    let ca = &certificates["locust-operator-ca"];
    assert_eq!(ca.spec.is_ca, Some(true), "{overlay}");
    assert!(issuer_of(ca).spec.self_signed.is_some(), "{overlay}");
    let webhook = &certificates[WEBHOOK_CERTIFICATE];
    assert!(webhook.spec.is_ca.is_none_or(|ca| !ca), "{overlay}");
    let ca_issuer = issuer_of(webhook);
    assert_eq!(
        ca_issuer.spec.ca.as_ref().map(|ca| ca.secret_name.as_str()),
        Some(ca.spec.secret_name.as_str()),
        "{overlay}: the CA issuer signs with the CA certificate's Secret"
    );
    for issuer in issuers.values() {
        assert!(
            issuer.spec.self_signed.is_some() != issuer.spec.ca.is_some(),
            "{overlay}: one issuer type each"
        );
    }
    // The serving certificate covers every name of the webhook Service.
    let dns_names: BTreeSet<&str> = webhook
        .spec
        .dns_names
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    for name in service_dns_names(WEBHOOK_SERVICE, NAMESPACE) {
        assert!(
            dns_names.contains(name.as_str()),
            "{overlay}: {name} not in dnsNames"
        );
    }
    if let Some(usages) = &webhook.spec.usages {
        assert!(usages.contains(&KeyUsage::ServerAuth), "{overlay}");
    }
    assert_eq!(webhook.spec.secret_name, CERT_SECRET, "{overlay}");

    // The Secret it writes is mounted read-only where the server reads it.
    let pod = install.pod();
    let container = install.container();
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| {
            v.secret.as_ref().is_some_and(|s| {
                s.secret_name.as_deref() == Some(webhook.spec.secret_name.as_str())
            })
        })
        .unwrap_or_else(|| panic!("{overlay}: the certificate Secret is not a volume"));
    assert!(volume.secret.as_ref().unwrap().optional.is_none_or(|o| !o));
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == volume.name)
        .unwrap_or_else(|| panic!("{overlay}: volume {} not mounted", volume.name));
    assert_eq!(mount.read_only, Some(true), "{overlay}");
    assert!(
        mount.sub_path.is_none(),
        "{overlay}: subPath mounts never see renewals"
    );
    assert_eq!(
        Path::new(&mount.mount_path),
        install.flags().server.cert_dir,
        "{overlay}: mounted at --cert-dir"
    );
    assert_eq!(mount.mount_path, "/tmp/k8s-webhook-server/serving-certs");
    assert_eq!(install.flags().certs.mode, CertMode::Files, "{overlay}");

    // cainjector copies the CA of that certificate into all three webhooks.
    let expected = format!("{NAMESPACE}/{WEBHOOK_CERTIFICATE}");
    for (kind, name) in [
        ("CustomResourceDefinition", CRD_NAME),
        ("MutatingWebhookConfiguration", MUTATING_CONFIGURATION),
        ("ValidatingWebhookConfiguration", VALIDATING_CONFIGURATION),
    ] {
        let object = install
            .objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap();
        assert_eq!(
            inject_ca_from(object),
            Some(expected.as_str()),
            "{overlay}: {kind} {name}"
        );
    }
    // And nowhere else.
    let annotated = install
        .objects
        .iter()
        .filter(|o| inject_ca_from(o).is_some())
        .count();
    assert_eq!(annotated, 3, "{overlay}");
}

#[test]
fn cert_manager_issues_mounts_and_injects_the_serving_certificate() {
    check_cert_manager(install("cert-manager"));
    check_cert_manager(install("namespaced"));
}

#[test]
fn self_managed_certs_mount_no_secret_and_inject_by_the_operator() {
    let install = install("self-managed-certs");
    assert_eq!(install.values::<Issuer>().count(), 0);
    assert_eq!(install.values::<Certificate>().count(), 0);
    assert!(
        install.objects.iter().all(|o| o["apiVersion"]
            .as_str()
            .is_some_and(|v| !v.starts_with("cert-manager.io"))),
        "no cert-manager objects"
    );
    assert!(
        install.objects.iter().all(|o| inject_ca_from(o).is_none()),
        "no cert-manager.io/inject-ca-from: the operator injects the CA itself"
    );
    let pod = install.pod();
    assert!(
        pod.volumes.iter().flatten().all(|v| v.secret.is_none()),
        "no Secret volume"
    );
    assert!(
        install
            .container()
            .volume_mounts
            .iter()
            .flatten()
            .next()
            .is_none()
    );
    let args = install.container().args.unwrap();
    assert!(
        args.contains(&"--certs=self-managed".to_owned()),
        "{args:?}"
    );
    assert!(
        args.contains(&format!("--cert-secret={CERT_SECRET}")),
        "{args:?}"
    );
    // The operator's certificate Secret, Service and injection targets are this install's.
    let certs = install.flags().certs;
    assert_eq!(certs.mode, CertMode::SelfManaged);
    assert_eq!(certs.cert_secret, CERT_SECRET);
    assert_eq!(certs.webhook_service, WEBHOOK_SERVICE);
    assert_eq!(certs.mutating_webhook_configuration, MUTATING_CONFIGURATION);
    assert_eq!(
        certs.validating_webhook_configuration,
        VALIDATING_CONFIGURATION
    );
    let _: Service = install.one(Some(NAMESPACE), &certs.webhook_service);
    // The injection RBAC (the cluster-scoped calls of the certificate manager) names exactly
    // the objects of this install.
    let flags = install.flags();
    let names = Names::from_flags(&flags);
    let names: BTreeSet<String> = locust_operator::certs::API_CALLS
        .iter()
        .filter(|call| call.scope == Scope::Cluster)
        .map(|call| names.of(call.target).unwrap().to_owned())
        .collect();
    let installed: BTreeSet<String> = install
        .objects
        .iter()
        .filter(|o| {
            is::<MutatingWebhookConfiguration>(o)
                || is::<ValidatingWebhookConfiguration>(o)
                || is::<CustomResourceDefinition>(o)
        })
        .map(|o| id_of(o).3)
        .collect();
    assert_eq!(names, installed);
}

/// The objects of `install` by id, minus what `skip` says.
fn by_id(install: &Install, skip: impl Fn(&Value) -> bool) -> BTreeMap<Id, Value> {
    install
        .objects
        .iter()
        .filter(|o| !skip(o))
        .map(|o| (id_of(o), o.clone()))
        .collect()
}

fn without_injection(mut object: Value) -> Value {
    let metadata = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .unwrap();
    if let Some(annotations) = metadata
        .get_mut("annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(INJECT_CA_FROM);
        if annotations.is_empty() {
            metadata.remove("annotations");
        }
    }
    object
}

#[test]
fn overlays_differ_from_the_default_only_where_they_should() {
    let default = install("cert-manager");
    let is_deployment = |o: &Value| is::<Deployment>(o);

    // namespaced = cert-manager - ClusterRole(Binding) + Role(Binding) in the watched namespace,
    // + WATCH_NAMESPACE.
    let namespaced = install("namespaced");
    let mut before = by_id(default, is_deployment);
    let after = by_id(namespaced, is_deployment);
    for kind in ["ClusterRole", "ClusterRoleBinding"] {
        before
            .remove(&(
                "rbac.authorization.k8s.io/v1".into(),
                kind.into(),
                String::new(),
                NAME.into(),
            ))
            .unwrap_or_else(|| panic!("cert-manager: no {kind} {NAME}"));
    }
    let added: Vec<&Id> = after
        .keys()
        .filter(|id| !before.contains_key(*id))
        .collect();
    assert_eq!(
        added,
        [
            &(
                "rbac.authorization.k8s.io/v1".into(),
                "Role".into(),
                WATCHED.into(),
                NAME.into()
            ),
            &(
                "rbac.authorization.k8s.io/v1".into(),
                "RoleBinding".into(),
                WATCHED.into(),
                NAME.into()
            ),
        ]
    );
    for (id, object) in &before {
        assert_eq!(Some(object), after.get(id), "namespaced: {id:?} differs");
    }
    let flags = namespaced.flags();
    assert_eq!(flags.watch_namespace.0, vec![WATCHED.to_owned()]);
    assert!(
        default.flags().watch_namespace.0.is_empty(),
        "the default watches every namespace"
    );
    let mut deployment = serde_json::to_value(namespaced.deployment()).unwrap();
    let env = deployment
        .pointer_mut("/spec/template/spec/containers/0/env")
        .unwrap()
        .as_array_mut()
        .unwrap();
    env.retain(|e| e["name"] != "WATCH_NAMESPACE");
    assert_eq!(
        deployment,
        serde_json::to_value(default.deployment()).unwrap()
    );
    // Its controller Role has the ClusterRole's rules, in each watched namespace.
    let cluster_role: ClusterRole = default.one(None, NAME);
    for namespace in &flags.watch_namespace.0 {
        let role: Role = namespaced.one(Some(namespace), NAME);
        assert_eq!(role.rules, cluster_role.rules, "{namespace}");
    }

    // self-managed-certs = cert-manager - cert-manager objects - injection annotations
    // + certificate RBAC, Deployment aside.
    let self_managed = install("self-managed-certs");
    let before: BTreeMap<Id, Value> = by_id(default, |o| {
        is_deployment(o)
            || o["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("cert-manager.io/"))
    })
    .into_iter()
    .map(|(id, o)| (id, without_injection(o)))
    .collect();
    let after = by_id(self_managed, is_deployment);
    for (id, object) in &before {
        assert_eq!(
            Some(object),
            after.get(id),
            "self-managed-certs: {id:?} differs"
        );
    }
    let added: BTreeSet<(String, String)> = after
        .keys()
        .filter(|id| !before.contains_key(*id))
        .map(|id| (id.1.clone(), id.3.clone()))
        .collect();
    let certs = "locust-operator-certs".to_owned();
    assert_eq!(
        added,
        BTreeSet::from([
            ("ClusterRole".into(), certs.clone()),
            ("ClusterRoleBinding".into(), certs.clone()),
            ("Role".into(), certs.clone()),
            ("RoleBinding".into(), certs),
        ])
    );
}

#[test]
fn the_image_can_be_overridden_with_kustomize_images() {
    let dir = tls_support::fresh_dir("kustomize-images");
    // kustomize takes relative paths only: up to `/`, then down to the overlay.
    let up = "../".repeat(dir.components().count() - 1);
    let overlay = format!(
        "{up}{}",
        root()
            .join("deploy/overlays/cert-manager")
            .strip_prefix("/")
            .unwrap()
            .display()
    );
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {overlay}\nimages:\n  - name: {IMAGE}\n    newName: registry.example/mirror/locust-operator\n    newTag: dev\n"
        ),
    )
    .unwrap();
    let objects = kustomize(&dir);
    let deployment = objects.iter().find(|o| is::<Deployment>(o)).unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/mirror/locust-operator:dev"
    );
}

// ---------------------------------------------------------------------------------------------
// certs/dev-certs.sh

fn dev_certs(out: &Path, names: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg(root().join("certs/dev-certs.sh"))
        .arg("--out")
        .arg(out)
        .args(names)
        .output()
        .expect("running certs/dev-certs.sh with sh (openssl must be installed)")
}

#[test]
fn dev_certs_script_makes_a_ca_and_a_serving_certificate() {
    use std::os::unix::fs::PermissionsExt;

    let script = std::fs::read_to_string(root().join("certs/dev-certs.sh")).unwrap();
    assert!(script.starts_with("#!/bin/sh\n"), "a POSIX sh script");
    assert!(script.contains("\nset -eu\n"));
    let mode = std::fs::metadata(root().join("certs/dev-certs.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "certs/dev-certs.sh is executable");
    let ignored = std::fs::read_to_string(root().join("certs/.gitignore")).unwrap();
    assert!(
        ignored.lines().any(|l| l == "dev/"),
        "certs/dev is git-ignored"
    );

    let dir = tls_support::fresh_dir("dev-certs-script");
    let output = dev_certs(&dir, &["webhook.dev.example", "10.11.12.13"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (file, private) in [
        ("ca.crt", false),
        ("ca.key", true),
        ("tls.crt", false),
        ("tls.key", true),
    ] {
        let mode = std::fs::metadata(dir.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode & 0o077 == 0, private, "{file}: mode {mode:o}");
    }
    // The last line is the caBundle: base64 of ca.crt.
    let ca_pem = std::fs::read(dir.join("ca.crt")).unwrap();
    let bundle = stdout.lines().last().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(bundle)
            .unwrap(),
        ca_pem
    );
    assert!(
        stdout.contains(&format!("--cert-dir {}", dir.display())),
        "{stdout}"
    );
    // The operator's loader takes the pair.
    let (cert, key) = (
        std::fs::read(dir.join("tls.crt")).unwrap(),
        std::fs::read(dir.join("tls.key")).unwrap(),
    );
    locust_operator::webhook::tls::certified_key(&cert, &key, &dir).unwrap();

    // Re-running keeps the CA (the registered caBundle stays valid), renews the leaf.
    let again = dev_certs(&dir, &["other.dev.example"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::read(dir.join("ca.crt")).unwrap(), ca_pem);
    assert_ne!(std::fs::read(dir.join("tls.crt")).unwrap(), cert);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout)
            .lines()
            .last()
            .unwrap(),
        bundle
    );

    // Bad input: exit 2 with a message, nothing written.
    let bad = tls_support::fresh_dir("dev-certs-bad");
    for args in [&["not a name"][..], &["--unknown"][..]] {
        let output = dev_certs(&bad, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty());
        assert!(!bad.join("tls.crt").exists());
    }
    let help = Command::new("sh")
        .arg(root().join("certs/dev-certs.sh"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: certs/dev-certs.sh"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_certs_serve_every_webhook_path_the_manifests_name() {
    use tls_support::{Http, HttpsClient, TestServer, client_config, handshake, plain_get};

    let dir = tls_support::fresh_dir("dev-certs-serve");
    let output = dev_certs(&dir, &["webhook.dev.example", "10.11.12.13"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ca = CertificateDer::from_pem_slice(&std::fs::read(dir.join("ca.crt")).unwrap()).unwrap();

    let server = TestServer::start(&dir).await;
    server.wait_ready().await;
    // Trusted for every name asked for, and no other.
    for name in [
        "localhost",
        "127.0.0.1",
        "webhook.dev.example",
        "10.11.12.13",
    ] {
        handshake(server.webhook, name, client_config(&[&ca], None))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let Err(error) = handshake(
        server.webhook,
        "elsewhere.example",
        client_config(&[&ca], None),
    )
    .await
    else {
        panic!("a name not in the certificate is refused");
    };
    assert!(
        error.contains("NotValidForName") || error.contains("not valid"),
        "{error}"
    );

    // Every path the manifests name is served (a review of nothing is a 400, not a 404).
    let client = HttpsClient::with_config(client_config(&[&ca], None), Http::One);
    let paths: BTreeSet<String> = installs()
        .flat_map(|i| webhook_paths(i).into_values())
        .collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    for path in &paths {
        let reply = client.post_json(&server.url(path), &json!({})).await;
        assert_ne!(reply.status, 404, "{path} is not served: {}", reply.text());
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
    }
    let reply = client
        .post_json(&server.url("/not-a-webhook"), &json!({}))
        .await;
    assert_eq!(reply.status, 404, "unknown paths are told apart");

    // And the probes of the Deployment.
    let container = install("cert-manager").container();
    for probe in [container.liveness_probe, container.readiness_probe] {
        let path = probe.unwrap().http_get.unwrap().path.unwrap();
        let (status, body) = plain_get(server.probes, &path).await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The image

/// One Dockerfile instruction: stage index, keyword (upper case), arguments.
#[derive(Debug)]
struct Instruction {
    stage: usize,
    keyword: String,
    args: String,
}

fn dockerfile() -> Vec<Instruction> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if trimmed.starts_with('#') {
            continue; // a comment inside a continued instruction
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    assert!(current.is_empty(), "the Dockerfile ends in a continuation");
    let mut stage = 0;
    let mut instructions = Vec::new();
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_uppercase();
        if keyword == "FROM" && !instructions.is_empty() {
            stage += 1;
        }
        instructions.push(Instruction {
            stage,
            keyword,
            args: args.trim().to_owned(),
        });
    }
    instructions
}

#[test]
fn the_dockerfile_builds_a_static_binary_into_a_distroless_nonroot_image() {
    let instructions = dockerfile();
    let stage = |index: usize| instructions.iter().filter(move |i| i.stage == index);
    let froms: Vec<&Instruction> = instructions
        .iter()
        .filter(|i| i.keyword == "FROM")
        .collect();
    assert_eq!(froms.len(), 2, "two stages: build, run");
    assert_eq!(
        instructions[0].keyword, "FROM",
        "only comments before the first FROM"
    );

    // Build: Rust at least the package's rust-version, static musl binary, locked, release.
    let build: Vec<&str> = froms[0].args.split_whitespace().collect();
    assert_eq!(build.len(), 3, "{build:?}");
    assert!(build[1].eq_ignore_ascii_case("AS"));
    let alias = build[2];
    let version = build[0]
        .strip_prefix("rust:")
        .and_then(|t| t.strip_suffix("-bookworm"))
        .unwrap_or_else(|| panic!("{}: a rust:<version>-bookworm builder", build[0]));
    let numbers = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(
        numbers(version) >= numbers(env!("CARGO_PKG_RUST_VERSION")),
        "rust:{version} is older than rust-version {}",
        env!("CARGO_PKG_RUST_VERSION")
    );
    let runs: String = stage(0)
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.args.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "musl-tools",
        "x86_64-unknown-linux-musl",
        "rustup target add",
        "cargo build --release --locked",
        "--bin locust-operator",
        "/out/locust-operator",
    ] {
        assert!(runs.contains(needle), "build stage lacks {needle:?}");
    }
    assert!(
        stage(0).any(|i| i.keyword == "ENV" && i.args.contains("CC_x86_64_unknown_linux_musl=musl-gcc")),
        "ring's C code is compiled with musl-gcc"
    );

    // Run: distroless static, no shell (so no RUN), the binary only, non-root.
    let run: Vec<&Instruction> = stage(1).collect();
    assert_eq!(run[0].args, "gcr.io/distroless/static-debian12:nonroot");
    for instruction in &run {
        assert!(
            !["RUN", "SHELL", "ADD"].contains(&instruction.keyword.as_str()),
            "the final stage has no shell: {instruction:?}"
        );
    }
    let copies: Vec<&&Instruction> = run.iter().filter(|i| i.keyword == "COPY").collect();
    assert_eq!(copies.len(), 1, "only the binary is copied");
    let copy: Vec<&str> = copies[0].args.split_whitespace().collect();
    assert_eq!(
        copy,
        [
            &format!("--from={alias}"),
            "/out/locust-operator",
            "/locust-operator"
        ]
    );
    let single = |keyword: &str| -> &str {
        let found: Vec<&&Instruction> = run.iter().filter(|i| i.keyword == keyword).collect();
        assert_eq!(found.len(), 1, "one {keyword}");
        &found[0].args
    };
    let pod = install("cert-manager").pod();
    let security = pod.security_context.unwrap();
    let (uid, gid) = single("USER").split_once(':').expect("USER uid:gid");
    assert_eq!(
        uid.parse::<i64>().ok(),
        security.run_as_user,
        "image and pod agree on the user"
    );
    assert_eq!(gid.parse::<i64>().ok(), security.run_as_group);
    assert_eq!(security.run_as_user, Some(NONROOT));
    // Exec form (no shell to run a string form).
    let entrypoint: Vec<String> =
        serde_json::from_str(single("ENTRYPOINT")).expect("ENTRYPOINT [..]");
    assert_eq!(entrypoint, [copy[2]], "the entrypoint is the copied binary");
    let cmd: Vec<String> = serde_json::from_str(single("CMD")).expect("CMD [..]");
    let container = install("cert-manager").container();
    assert!(
        container.command.is_none(),
        "the Deployment keeps the ENTRYPOINT"
    );
    assert_eq!(
        cmd[0],
        container.args.unwrap()[0],
        "CMD and the Deployment run the same command"
    );
    let exposed: BTreeSet<i32> = single("EXPOSE")
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let ports: BTreeSet<i32> = container
        .ports
        .iter()
        .flatten()
        .map(|p| p.container_port)
        .collect();
    assert_eq!(exposed, ports);
}

#[test]
fn the_docker_build_context_leaves_out_local_state_but_not_the_sources() {
    let text = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let matcher = |pattern: &str| {
        let pattern = pattern.trim_end_matches('/');
        let mut expression = String::from("^");
        let mut rest = pattern;
        while !rest.is_empty() {
            if let Some(tail) = rest.strip_prefix("**/") {
                expression.push_str("(.*/)?");
                rest = tail;
            } else if let Some(tail) = rest.strip_prefix('*') {
                expression.push_str("[^/]*");
                rest = tail;
            } else {
                let c = rest.chars().next().unwrap();
                expression.push_str(&regex::escape(&c.to_string()));
                rest = &rest[c.len_utf8()..];
            }
        }
        expression.push('$');
        regex::Regex::new(&expression).unwrap()
    };
    let matchers: Vec<regex::Regex> = patterns.iter().map(|p| matcher(p)).collect();
    // A path is left out when it or one of its parent directories matches.
    let ignored = |path: &str| {
        let parts: Vec<&str> = path.split('/').collect();
        (1..=parts.len()).any(|n| {
            let prefix = parts[..n].join("/");
            matchers.iter().any(|m| m.is_match(&prefix))
        })
    };
    assert!(
        patterns.iter().all(|p| !p.starts_with('!')),
        "no re-inclusions"
    );
    for path in ["target", ".git", ".venv", "certs/dev"] {
        assert!(ignored(path), "{path} is sent to the builder");
    }
    for path in [
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        "benches/webhook.rs",
        "crates/memory-apiserver/Cargo.toml",
        "crates/memory-apiserver/src/lib.rs",
    ] {
        assert!(!ignored(path), "{path} is needed by cargo but left out");
    }
}
