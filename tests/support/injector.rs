//! A mutating admission webhook for pods that adds a classic init container
//! [`INIT_CONTAINER`], as sidecar injectors (service meshes, secret agents) do. The operator's
//! pod templates have no classic init container, so this is how a pod of its Jobs gets one on
//! a cluster, whoever creates the pod (the Job controller, or the test without one): the API
//! server calls this webhook on every pod create its configuration selects.
//!
//! It serves HTTPS on a free port of 127.0.0.1 with a certificate of the test CA; the API
//! server (the harness, or a real one on this host) verifies it through the caBundle.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The name of the init container added.
pub const INIT_CONTAINER: &str = "setup";
/// Its image.
pub const INIT_IMAGE: &str = "busybox:1.36";

/// The running webhook server; dropping it stops it.
pub struct Injector {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Injector {
    /// Serves with the certificate `cert_pem` and key `key_pem` (for `127.0.0.1`).
    pub async fn start(cert_pem: &str, key_pem: &str) -> Self {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("the injector's certificate");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("the injector's key");
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("a TLS configuration");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the injector");
        let addr = listener.local_addr().expect("the injector's address");
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service_fn(admit))
                        .await;
                });
            }
        });
        Self { addr, task }
    }

    /// `https://127.0.0.1:<port>/inject`.
    pub fn url(&self) -> String {
        format!("https://{}/inject", self.addr)
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers one AdmissionReview: allowed, with a JSON patch adding the init container.
async fn admit(
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let uid = review
        .pointer("/request/uid")
        .cloned()
        .unwrap_or(Value::Null);
    let init = json!({
        "name": INIT_CONTAINER,
        "image": INIT_IMAGE,
        "command": ["sh", "-c", "until nslookup api-dependency; do sleep 2; done"]
    });
    let has_init = review
        .pointer("/request/object/spec/initContainers")
        .and_then(Value::as_array)
        .is_some();
    let patch = if has_init {
        json!([{"op": "add", "path": "/spec/initContainers/-", "value": init}])
    } else {
        json!([{"op": "add", "path": "/spec/initContainers", "value": [init]}])
    };
    let patch = base64::engine::general_purpose::STANDARD.encode(patch.to_string());
    let answer = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": true, "patchType": "JSONPatch", "patch": patch}
    });
    let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
