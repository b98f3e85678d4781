//! An in-memory Kubernetes API server for locust-operator's end-to-end tests.
//!
//! It listens on 127.0.0.1 (plain HTTP, or HTTPS with a bearer token: [`Options::tls`],
//! [`Options::token`]) and speaks the Kubernetes REST + watch protocol for the
//! resources the operator touches (LocustTest v2/v1, Jobs, Services, Pods, Events, Leases,
//! Secrets, Namespaces, CRDs, webhook configurations) to an unmodified `kube::Client`, with the semantics the operator depends on:
//! uid/creationTimestamp, one monotonically increasing resourceVersion, generation on spec
//! changes, 409 on stale resourceVersions, `Status` errors, the status subresource split,
//! label/field selectors (with each kind's own field labels), one storage for core and
//! `events.k8s.io` Events, watches with bookmarks and 410, owner-reference garbage collection
//! and finalizers, PATCH of every content type, and admission and conversion of LocustTests
//! through the operator's real webhooks over HTTPS: registered ones, or those of the stored
//! webhook configurations and CRD with their `caBundle`s (see [`webhooks`]). Faults can be
//! injected.
//!
//! A Job controller runs with it by default ([`job_controller`]: pods for Jobs and their
//! status, as kube-controller-manager keeps them); [`Options::job_controller`] turns it off
//! for an API server without controllers, as envtest is. There is no kubelet: `sim` holds
//! what kubelet would write (and, for runs without a Job controller, what the Job controller
//! would), against the public API only, so tests can use it against a real API server too.

mod accept;
pub mod api;
mod auth;
pub mod defaults;
pub mod discovery;
pub mod encoding;
pub mod events;
pub mod faults;
pub mod gc;
pub mod job_controller;
pub mod log_source;
pub mod logs;
pub mod openapi;
pub mod patch;
pub mod resources;
pub mod response;
pub mod schema;
pub mod selectors;
pub mod sim;
pub mod state;
pub mod status;
pub mod store;
pub mod strict;
pub mod table;
pub mod tls;
pub mod watch;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, Uri};
use tokio::task::JoinHandle;

pub use faults::Filter;
pub use log_source::Logs;
pub use state::State;
pub use tls::Tls;

/// How to start an [`ApiServer`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Run the Job controller (default: yes, as every cluster does; without it the server is
    /// like envtest's, and Job pods and status are the tests' to write).
    pub job_controller: bool,
    /// The Job controller's timings.
    pub job_controller_settings: job_controller::Settings,
    /// Serve HTTPS with this certificate and key (default: plain HTTP).
    pub tls: Option<Tls>,
    /// Require `Authorization: Bearer <token>` on every request but `/version` and the health
    /// checks; others are answered 401 `Unauthorized` (default: no authentication).
    pub token: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            job_controller: true,
            job_controller_settings: job_controller::Settings::default(),
            tls: None,
            token: None,
        }
    }
}

/// A running harness API server.
pub struct ApiServer {
    /// Shared state (store, webhooks, faults).
    pub state: Arc<State>,
    addr: SocketAddr,
    tls: Option<Tls>,
    token: Option<String>,
    task: JoinHandle<()>,
    job_controller: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Starts a server on 127.0.0.1 with a free port, with a Job controller.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(Options::default()).await
    }

    /// Starts a server on 127.0.0.1 with a free port.
    pub async fn start_with(options: Options) -> std::io::Result<Self> {
        let state = State::with_job_controller(options.job_controller);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let token = options.token.clone();
        let router = Router::new().fallback(
            move |AxumState(state): AxumState<Arc<State>>,
                  method: Method,
                  uri: Uri,
                  headers: HeaderMap,
                  body: axum::body::Bytes| {
                let token = token.clone();
                async move {
                    if let Some(token) = &token
                        && !auth::authorized(token, uri.path(), &headers)
                    {
                        return auth::unauthorized();
                    }
                    api::handle(state, method, uri, headers, body).await
                }
            },
        );
        let app = router.with_state(state.clone());
        let task = match &options.tls {
            Some(tls) => {
                let config = tls.server_config().map_err(std::io::Error::other)?;
                let listener = tls::TlsListener::new(listener, config)?;
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                })
            }
            None => tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }),
        };
        let job_controller = options
            .job_controller
            .then(|| job_controller::start(state.clone(), options.job_controller_settings.clone()));
        Ok(Self {
            state,
            addr,
            tls: options.tls,
            token: options.token,
            task,
            job_controller,
        })
    }

    /// Whether its Job controller runs.
    pub fn has_job_controller(&self) -> bool {
        self.job_controller.is_some()
    }

    /// `http://127.0.0.1:<port>`, or `https://` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bearer token it requires, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A kube client talking to this server (trusting its certificate and sending its token,
    /// when it has them), with namespace `default`.
    pub fn client(&self) -> Result<kube::Client, kube::Error> {
        let uri = self
            .url()
            .parse()
            .map_err(|e: axum::http::uri::InvalidUri| kube::Error::Service(Box::new(e)))?;
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".into();
        config.read_timeout = None;
        if let Some(tls) = &self.tls {
            let certificates = tls
                .certificates_der()
                .map_err(|e| kube::Error::Service(e.into()))?;
            config.root_cert = Some(certificates);
        }
        if let Some(token) = &self.token {
            config.auth_info.token = Some(token.clone().into());
        }
        kube::Client::try_from(config)
    }

    /// A kubeconfig (YAML) for this server with one context, `memory-apiserver`, whose
    /// namespace is `namespace`: the server's URL, its certificates as the certificate
    /// authority (when serving TLS) and its token (when it has one).
    pub fn kubeconfig(&self, namespace: &str) -> String {
        use base64::Engine;
        let mut cluster = serde_json::json!({"server": self.url()});
        if let Some(tls) = &self.tls {
            cluster["certificate-authority-data"] = base64::engine::general_purpose::STANDARD
                .encode(&tls.cert_pem)
                .into();
        }
        let mut user = serde_json::json!({});
        if let Some(token) = &self.token {
            user["token"] = token.clone().into();
        }
        let name = "memory-apiserver";
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
            "current-context": name,
        });
        // JSON is YAML; kubectl reads either.
        serde_json::to_string_pretty(&config).unwrap_or_default()
    }

    /// Installs a CustomResourceDefinition: its schemas (pruning, defaults, validation, CEL),
    /// and its names, printer columns and schemas for discovery, Tables and OpenAPI.
    pub async fn install_crd(&self, crd: &serde_json::Value) {
        let schemas = schema::crd_schemas(crd);
        self.state.schemas.write().await.extend(
            schemas
                .into_iter()
                .map(|(version, schema)| (version, std::sync::Arc::new(schema))),
        );
        if let Some(name) = crd
            .pointer("/metadata/name")
            .and_then(serde_json::Value::as_str)
        {
            self.state
                .crds
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(name.to_owned(), crd.clone());
        }
    }

    /// Routes LocustTest admission and conversion to the operator's webhooks at `base`
    /// (`https://127.0.0.1:<port>`), trusted through `ca_pem` (the caBundle).
    pub async fn register_webhooks(&self, base: &str, ca_pem: &[u8]) -> Result<(), String> {
        let webhooks = webhooks::Webhooks::new(base, ca_pem)?;
        *self.state.webhooks.write().await = Some(webhooks);
        Ok(())
    }

    /// Routes calls to Service `namespace/name` (webhooks with a `service` client config) to
    /// `endpoints` in turn; the certificate is verified for `<name>.<namespace>.svc`.
    pub fn route_service(&self, namespace: &str, name: &str, endpoints: Vec<SocketAddr>) {
        self.state.services.set(namespace, name, endpoints);
    }

    /// Serves `pods/log` from `logs` (until then, and for pods without a node, log requests
    /// are answered 204 No Content, as for an unscheduled pod).
    pub fn set_logs(&self, logs: Arc<dyn Logs>) {
        *self
            .state
            .logs
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(logs);
    }

    /// Fault injection.
    pub fn faults(&self) -> &faults::Faults {
        &self.state.faults
    }

    /// Ends every open watch (clients must re-watch or relist).
    pub fn drop_watches(&self) {
        self.state.store.drop_watches.notify_waiters();
    }

    /// Forgets the event history, so watches resuming from an older resourceVersion get 410.
    pub fn compact(&self) {
        self.state.store.compact();
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(job_controller) = &self.job_controller {
            job_controller.abort();
        }
    }
}
