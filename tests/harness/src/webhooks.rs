//! Calls to the operator's admission and conversion webhooks, over HTTPS verified with a CA
//! bundle, with request bodies shaped exactly like the API server's.

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
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .build();
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout: Duration::from_secs(10),
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
        let uid = uuid::Uuid::new_v4().to_string();
        let review = json!({
            "kind": "ConversionReview",
            "apiVersion": "apiextensions.k8s.io/v1",
            "request": {"uid": uid, "desiredAPIVersion": desired, "objects": objects}
        });
        let answer = self.post("/convert", &review).await?;
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
