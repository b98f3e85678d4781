//! Calls to the operator's admission and conversion webhooks, over HTTPS verified with a CA
//! bundle, with request bodies shaped exactly like the API server's.
//!
//! The webhooks come either from [`crate::ApiServer::register_webhooks`] (fixed: one base URL
//! and CA for everything), or, when none are registered, from what is stored, as in a real API
//! server: the MutatingWebhookConfigurations and ValidatingWebhookConfigurations whose rules
//! match a request ([`matching`]), and the LocustTest CRD's conversion webhook, each called
//! with the `caBundle` stored in its `clientConfig` (so admission depends on the CA that was
//! injected there). A `service` client config is reached through the endpoints tests register
//! with [`crate::ApiServer::route_service`], and the certificate is verified for
//! `<name>.<namespace>.svc`, as kube-apiserver does. Each call makes a new connection (a new
//! TLS handshake), so a changed certificate or bundle counts from the next call.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

/// Name of the mutating webhook in error messages.
pub const MUTATING_NAME: &str = "mutate.locusttests.locust.io";
/// Name of the validating webhook in error messages.
pub const VALIDATING_NAME: &str = "validate.locusttests.locust.io";

/// Where the webhooks are and how to trust them.
#[derive(Clone)]
pub struct Webhooks {
    base: String,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// An admission decision as the API server applies it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// The status of a denial: `(code, reason, message)`.
    pub denial: Option<(u16, String, String)>,
    /// JSON Patch (decoded) of a mutating webhook.
    pub patch: Option<Value>,
    /// Warnings.
    pub warnings: Vec<String>,
}

impl Webhooks {
    /// Webhooks at `base` (`https://127.0.0.1:9443`), trusted through `ca_pem`.
    pub fn new(base: &str, ca_pem: &[u8]) -> Result<Self, String> {
        Self::with_server_name(base, None, ca_pem, Duration::from_secs(10))
    }

    /// Webhooks at `base`, trusted through `ca_pem` (none: nothing is trusted), with the
    /// certificate verified for `server_name` instead of the host of `base` (a Service's DNS
    /// name while connecting to one of its endpoints), answering within `timeout`.
    pub fn with_server_name(
        base: &str,
        server_name: Option<&str>,
        ca_pem: &[u8],
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| format!("caBundle: {e}"))?;
            roots.add(cert).map_err(|e| format!("caBundle: {e}"))?;
        }
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only();
        let builder = match server_name {
            Some(name) => {
                let name = rustls_pki_types::ServerName::try_from(name.to_owned())
                    .map_err(|e| format!("server name {name:?}: {e}"))?;
                builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let connector = builder.enable_http1().build();
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        let uri = format!("{}{path}?timeout={}s", self.base, self.timeout.as_secs());
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let request = hyper::Request::post(&uri)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, */*")
            .header("User-Agent", "kube-apiserver-admission")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| format!("Post \"{uri}\": context deadline exceeded"))?
            .map_err(|e| format!("Post \"{uri}\": {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "Post \"{uri}\": HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("Post \"{uri}\": invalid response: {e}"))
    }

    /// Sends an AdmissionReview to `path` and returns the decision.
    pub async fn admit(&self, path: &str, request: Value) -> Result<Decision, String> {
        let review = json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": request});
        let answer = self.post(path, &review).await?;
        let response = answer
            .get("response")
            .ok_or("the webhook response has no response")?;
        if response.get("uid") != review.pointer("/request/uid") {
            return Err("the webhook response uid does not match the request".into());
        }
        let allowed = response
            .get("allowed")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let patch = match response.get("patch").and_then(Value::as_str) {
            Some(encoded) => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|e| format!("the webhook patch is not base64: {e}"))?;
                Some(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| format!("the webhook patch is not JSON: {e}"))?,
                )
            }
            None => None,
        };
        let denial = (!allowed).then(|| {
            let status = response.get("status").cloned().unwrap_or_default();
            let code = status
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (400..600).contains(c))
                .unwrap_or(403);
            let reason = status
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let message = status
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            (code, reason, message)
        });
        let warnings = response
            .get("warnings")
            .and_then(Value::as_array)
            .map(|w| {
                w.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Decision {
            allowed,
            denial,
            patch,
            warnings,
        })
    }

    /// Converts objects through `/convert`.
    pub async fn convert(&self, objects: Vec<Value>, desired: &str) -> Result<Vec<Value>, String> {
        self.convert_at("/convert", objects, desired).await
    }

    /// Converts objects through `path`.
    pub async fn convert_at(
        &self,
        path: &str,
        objects: Vec<Value>,
        desired: &str,
    ) -> Result<Vec<Value>, String> {
        let uid = uuid::Uuid::new_v4().to_string();
        let review = json!({
            "kind": "ConversionReview",
            "apiVersion": "apiextensions.k8s.io/v1",
            "request": {"uid": uid, "desiredAPIVersion": desired, "objects": objects}
        });
        let answer = self.post(path, &review).await?;
        let response = answer
            .get("response")
            .ok_or("the conversion response has no response")?;
        if response.get("uid").and_then(Value::as_str) != Some(uid.as_str()) {
            return Err("the conversion response uid does not match the request".into());
        }
        if response.pointer("/result/status").and_then(Value::as_str) != Some("Success") {
            let message = response
                .pointer("/result/message")
                .and_then(Value::as_str)
                .unwrap_or_default();
            return Err(format!("conversion webhook failed: {message}"));
        }
        response
            .get("convertedObjects")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| "the conversion response has no convertedObjects".into())
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks from stored configurations

/// The endpoints of Services, registered by tests (the harness has no pods or kube-proxy):
/// calls to a Service go to its endpoints in turn.
#[derive(Default)]
pub struct Services {
    routes: Mutex<HashMap<(String, String), Route>>,
}

/// A Service's endpoints and the index of the next one to call.
type Route = (Vec<SocketAddr>, usize);

impl Services {
    /// Routes Service `namespace/name` to `endpoints` (empty: no endpoints).
    pub fn set(&self, namespace: &str, name: &str, endpoints: Vec<SocketAddr>) {
        let mut routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        routes.insert((namespace.to_owned(), name.to_owned()), (endpoints, 0));
    }

    /// The next endpoint of Service `namespace/name` (round robin).
    pub fn next(&self, namespace: &str, name: &str) -> Option<SocketAddr> {
        let mut routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (endpoints, next) = routes.get_mut(&(namespace.to_owned(), name.to_owned()))?;
        let endpoint = endpoints.get(*next % endpoints.len().max(1)).copied()?;
        *next = next.wrapping_add(1);
        Some(endpoint)
    }
}

/// A client for a `WebhookClientConfig` (JSON) verifying with its `caBundle`, and the path to
/// post to. `url`: as given. `service`: the next endpoint of the Service, the certificate
/// verified for `<name>.<namespace>.svc`.
pub fn client_for(
    client_config: &Value,
    services: &Services,
    timeout: Duration,
) -> Result<(Webhooks, String), String> {
    use base64::Engine;
    let ca = match client_config.get("caBundle").and_then(Value::as_str) {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("caBundle: {e}"))?,
        None => Vec::new(),
    };
    if let Some(url) = client_config.get("url").and_then(Value::as_str) {
        return Ok((
            Webhooks::with_server_name(url, None, &ca, timeout)?,
            String::new(),
        ));
    }
    let service = client_config
        .get("service")
        .ok_or("the client config has neither url nor service")?;
    let text = |field: &str| {
        service
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let (namespace, name, path) = (text("namespace"), text("name"), text("path"));
    let port = service.get("port").and_then(Value::as_u64).unwrap_or(443);
    let host = format!("{name}.{namespace}.svc");
    let endpoint = services.next(namespace, name).ok_or_else(|| {
        format!(
            "Post \"https://{host}:{port}{path}?timeout={}s\": no endpoints available for service \"{name}\"",
            timeout.as_secs()
        )
    })?;
    Ok((
        Webhooks::with_server_name(&format!("https://{endpoint}"), Some(&host), &ca, timeout)?,
        path.to_owned(),
    ))
}

/// One webhook of a stored configuration that a request must go through.
#[derive(Clone, Debug, PartialEq)]
pub struct Configured {
    /// The webhook's name (in error messages).
    pub name: String,
    /// Its `clientConfig`.
    pub client_config: Value,
    /// `failurePolicy: Ignore`: a failed call is skipped.
    pub ignore_failures: bool,
    /// `timeoutSeconds` (default 10).
    pub timeout: Duration,
}

/// What an admission request is about, for rule matching.
#[derive(Clone, Copy, Debug)]
pub struct RequestAttributes<'a> {
    /// API group.
    pub group: &'a str,
    /// Version of the request.
    pub version: &'a str,
    /// Plural resource name.
    pub resource: &'a str,
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT`.
    pub operation: &'a str,
    /// Namespaced resource.
    pub namespaced: bool,
    /// Labels of the request's namespace.
    pub namespace_labels: &'a BTreeMap<String, String>,
    /// Labels of the object.
    pub object_labels: &'a BTreeMap<String, String>,
}

fn listed(list: Option<&Value>, wanted: &str) -> bool {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|item| item == "*" || item == wanted)
}

fn rule_matches(rule: &Value, request: &RequestAttributes<'_>) -> bool {
    let scope = rule.get("scope").and_then(Value::as_str).unwrap_or("*");
    let scope_ok = match scope {
        "Namespaced" => request.namespaced,
        "Cluster" => !request.namespaced,
        _ => true,
    };
    scope_ok
        && listed(rule.get("operations"), request.operation)
        && listed(rule.get("apiGroups"), request.group)
        && listed(rule.get("apiVersions"), request.version)
        && listed(rule.get("resources"), request.resource)
}

fn selector_matches(selector: Option<&Value>, labels: &BTreeMap<String, String>) -> bool {
    match selector {
        None | Some(Value::Null) => true,
        Some(selector) => crate::selectors::LabelSelector::from_json(selector)
            .is_ok_and(|selector| selector.matches(labels)),
    }
}

/// The webhooks of `configurations` (stored webhook configurations of one kind, JSON) that a
/// request goes through, in kube-apiserver's order: configurations by name, webhooks in list
/// order. A webhook matches when one of its rules lists the request's operation, group,
/// version and resource (or `*`) for its scope, and its `namespaceSelector` and
/// `objectSelector` match. (With `matchPolicy: Equivalent` kube-apiserver also calls webhooks
/// registered for another version of the resource, converting the object; that is not done
/// here: list every version.)
pub fn matching(configurations: &[Value], request: &RequestAttributes<'_>) -> Vec<Configured> {
    let mut sorted: Vec<&Value> = configurations.iter().collect();
    sorted.sort_by_key(|c| {
        c.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    });
    let mut out = Vec::new();
    for configuration in sorted {
        for webhook in configuration
            .get("webhooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let rules_match = webhook
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|rule| rule_matches(rule, request));
            let selected = (!request.namespaced
                || selector_matches(webhook.get("namespaceSelector"), request.namespace_labels))
                && selector_matches(webhook.get("objectSelector"), request.object_labels);
            if !(rules_match && selected) {
                continue;
            }
            out.push(Configured {
                name: webhook
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                client_config: webhook.get("clientConfig").cloned().unwrap_or(Value::Null),
                ignore_failures: webhook.get("failurePolicy").and_then(Value::as_str)
                    == Some("Ignore"),
                timeout: Duration::from_secs(
                    webhook
                        .get("timeoutSeconds")
                        .and_then(Value::as_u64)
                        .unwrap_or(10),
                ),
            });
        }
    }
    out
}

/// The conversion webhook of a stored CRD (JSON): its client config, when the CRD converts
/// by webhook.
pub fn conversion_client_config(crd: &Value) -> Option<&Value> {
    let conversion = crd.pointer("/spec/conversion")?;
    (conversion.get("strategy").and_then(Value::as_str) == Some("Webhook"))
        .then(|| conversion.pointer("/webhook/clientConfig"))
        .flatten()
}
