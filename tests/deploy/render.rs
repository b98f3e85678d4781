//! Reading the files and rendering the overlays: manifest files, `kubectl kustomize`, one
//! [`Install`] per overlay, the operator's flags, and small accessors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use clap::{CommandFactory, Parser};
use k8s_openapi::Resource;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use locust_operator::flags::ProcessFlags;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::typed::typed;
use crate::{
    CONTAINER, CRD_NAME, MUTATING_CONFIGURATION, NAME, NAMESPACE, OVERLAYS,
    VALIDATING_CONFIGURATION, WEBHOOK_SERVICE, root,
};

// ---------------------------------------------------------------------------------------------
// Files

pub(crate) fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

pub(crate) fn documents(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", relative(path)));
    locust_operator::check::documents(&text)
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", relative(path)))
}

// ---------------------------------------------------------------------------------------------
// Rendering with kubectl kustomize

/// kubectl on PATH; the tests fail (never skip) without it.
pub(crate) fn kubectl() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubectl is not on PATH: tests/deploy/ renders deploy/overlays/* with \
                 `kubectl kustomize` (kustomize v5, built into kubectl 1.27 or newer). Install it, \
                 e.g. from https://dl.k8s.io/release/v1.32.4/bin/linux/amd64/kubectl into \
                 /usr/local/bin (chmod +x), or the kubectl package of https://pkgs.k8s.io"
            )
        })
}

/// `kubectl kustomize dir` as JSON documents.
pub(crate) fn kustomize(dir: &Path) -> Vec<Value> {
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
pub(crate) struct Install {
    pub(crate) overlay: &'static str,
    pub(crate) objects: Vec<Value>,
}

/// `(apiVersion, kind, namespace, name)`.
pub(crate) type Id = (String, String, String, String);

pub(crate) fn id_of(object: &Value) -> Id {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    (
        text(&object["apiVersion"]),
        text(&object["kind"]),
        text(&object["metadata"]["namespace"]),
        text(&object["metadata"]["name"]),
    )
}

pub(crate) fn is<T: Resource>(object: &Value) -> bool {
    object["apiVersion"] == T::API_VERSION && object["kind"] == T::KIND
}

impl Install {
    pub(crate) fn values<T: Resource>(&self) -> impl Iterator<Item = &Value> {
        self.objects.iter().filter(|object| is::<T>(object))
    }

    pub(crate) fn all<T: Resource + DeserializeOwned + Serialize>(&self) -> Vec<T> {
        self.values::<T>()
            .map(|object| {
                typed(object)
                    .unwrap_or_else(|e| panic!("{}: {:?}: {e}", self.overlay, id_of(object)))
            })
            .collect()
    }

    pub(crate) fn get<T: Resource + DeserializeOwned + Serialize>(
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

    pub(crate) fn one<T: Resource + DeserializeOwned + Serialize>(
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

    pub(crate) fn deployment(&self) -> Deployment {
        self.one(Some(NAMESPACE), NAME)
    }

    pub(crate) fn pod(&self) -> PodSpec {
        self.deployment().spec.unwrap().template.spec.unwrap()
    }

    pub(crate) fn container(&self) -> Container {
        let pod = self.pod();
        assert_eq!(pod.containers.len(), 1, "{}: one container", self.overlay);
        let container = pod.containers.into_iter().next().unwrap();
        assert_eq!(container.name, CONTAINER, "{}", self.overlay);
        container
    }

    /// The flags the operator runs with: its args and its environment.
    pub(crate) fn flags(&self) -> ProcessFlags {
        effective_flags(&self.container())
    }
}

/// The rendered overlay `name` (rendered once per test process, all overlays in parallel).
pub(crate) fn install(name: &str) -> &'static Install {
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

pub(crate) fn installs() -> impl Iterator<Item = &'static Install> {
    OVERLAYS.iter().map(|overlay| install(overlay))
}

// ---------------------------------------------------------------------------------------------
// The operator's flags

/// `run`'s flags, to read what a Deployment configures.
#[derive(Parser, Debug)]
pub(crate) struct RunFlags {
    #[command(flatten)]
    pub(crate) flags: ProcessFlags,
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

// ---------------------------------------------------------------------------------------------
// Small helpers

pub(crate) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(crate) fn port_of(address: std::net::SocketAddr) -> i32 {
    i32::from(address.port())
}

/// The container port a Service or probe port refers to (by name or number).
pub(crate) fn container_port(container: &Container, port: &IntOrString) -> Option<i32> {
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
pub(crate) fn webhook_paths(install: &Install) -> BTreeMap<&'static str, String> {
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
