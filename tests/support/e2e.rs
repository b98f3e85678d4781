//! The end-to-end environment: the operator's webhook server in-process over real TLS, and a
//! Kubernetes API server that calls it, driven only through the Kubernetes API.
//!
//! - **Harness mode** (default): the in-memory API server of `crates/memory-apiserver`, with the
//!   generated CRD installed and the webhooks registered at `https://127.0.0.1:<port>`.
//! - **Real-cluster mode**: when `LOCUST_E2E_KUBECONFIG` names a kubeconfig, the API server of
//!   that kubeconfig. The suite installs the generated CRD (server-side apply; conversion by
//!   URL to a webhook server in this process, trusted through a test CA) and, per test, a
//!   `MutatingWebhookConfiguration` and a `ValidatingWebhookConfiguration` named
//!   `locust-operator-e2e-<namespace>` whose URL client configs point at the test's webhook
//!   server and whose `namespaceSelector` matches only the test's namespace (so tests running
//!   in parallel, each with its own server, never call each other's webhooks). The API server
//!   must be able to reach `https://127.0.0.1:<port>` (a kind/envtest API server on this host).
//!
//! In both modes every test gets a fresh namespace `e2e-<random>`; [`Env::teardown`] (or, if
//! the test panicked, dropping the [`Env`]) deletes it and the webhook configurations, best
//! effort and bounded in time. The CRD stays installed (deleting it would delete every
//! LocustTest of the cluster).
//!
//! The CRD's conversion webhook is cluster-wide, so in real-cluster mode it points at one
//! webhook server per test process (on its own thread, living as long as the process) rather
//! than at a per-test server that would stop when its test ends.
//!
//! Jobs: whether a Job controller runs is [`JOB_CONTROLLER_ENV`]'s to say (`on`, `off`,
//! `auto`: the harness runs its own unless `off`; a real cluster is probed once per process,
//! [`JOB_CONTROLLER_PROBE`]). [`Env::jobs`] gets a Job's pods and status either way (see
//! [`jobs`]); the tests always write pod status themselves, as the kubelet would.
//!
//! Everything waits with bounded polling, never on harness shortcuts.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test crates; tests fail loudly

#[path = "injector.rs"]
mod injector;
#[path = "jobs.rs"]
pub mod jobs;
#[allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
#[path = "tls.rs"]
mod tls;
#[path = "wait.rs"]
mod wait;

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use http_body_util::BodyExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::{Api, Client, Resource};
use memory_apiserver::ApiServer;
use serde_json::{Value, json};

pub use injector::{INIT_CONTAINER, Injector};
pub use jobs::{JOB_CONTROLLER_ENV, JobControl, Jobs};
pub use tls::{Ca, TestServer};

/// The environment variable naming a kubeconfig for real-cluster mode.
pub const KUBECONFIG_ENV: &str = "LOCUST_E2E_KUBECONFIG";
/// Name of the mutating webhook (in the API server's error messages).
pub const MUTATING_WEBHOOK: &str = "mutate.locusttests.locust.io";
/// Name of the validating webhook (in the API server's error messages).
pub const VALIDATING_WEBHOOK: &str = "validate.locusttests.locust.io";
/// Field manager of everything this suite applies.
pub const FIELD_MANAGER: &str = "locust-operator-e2e";
/// Label on the namespaces and webhook configurations this suite creates.
pub const E2E_LABEL: &str = "locust.io/e2e";
/// Label on the webhook configurations naming the namespace they serve.
pub const E2E_NAMESPACE_LABEL: &str = "locust.io/e2e-namespace";

/// Upper bound of setting up an environment (CRD established, webhooks effective).
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(180);
/// Upper bound of one wait during set-up (a CRD to be Established, a webhook to act).
pub const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// Upper bound of the body of one test.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Upper bound of cleaning up after one test.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Upper bound of one request to the API server.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between two polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long the real-cluster probe waits for a Job controller to make a pod
/// ([`JOB_CONTROLLER_ENV`] `auto`).
pub const JOB_CONTROLLER_PROBE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Time bounds

pub use wait::bounded;

/// Runs the body of a test within [`TEST_TIMEOUT`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    bounded("the test body", TEST_TIMEOUT, future).await
}

/// Polls `attempt` every [`POLL_INTERVAL`] until it returns `Ok`; panics with `what` and the
/// last error after `limit`.
pub async fn poll<T, E: std::fmt::Debug, F, Fut>(what: &str, limit: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let last = match tokio::time::timeout(REQUEST_TIMEOUT, attempt()).await {
            Ok(Ok(value)) => return value,
            Ok(Err(error)) => format!("{error:?}"),
            Err(_) => format!("no answer within {REQUEST_TIMEOUT:?}"),
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}; last: {last}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// `future` (a request) within [`REQUEST_TIMEOUT`], or an error saying what timed out.
pub async fn request<T>(
    what: &str,
    future: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(REQUEST_TIMEOUT, future).await {
        Ok(result) => result.map_err(|e| format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {REQUEST_TIMEOUT:?}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Names

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `len` random characters from `[a-z0-9]`, starting with a letter.
pub fn random_suffix(len: usize) -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    let mut bits = hasher.finish();
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|i| {
            let range = if i == 0 { 26 } else { alphabet.len() as u64 };
            let c = alphabet[(bits % range) as usize] as char;
            bits = bits.rotate_right(7) ^ 0x9e37_79b9_7f4a_7c15;
            c
        })
        .collect()
}

/// The `ApiResource` of LocustTest in `version` (`v1` or `v2`).
pub fn locust_test_resource(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("locust.io", version, "LocustTest"),
        "locusttests",
    )
}

// ---------------------------------------------------------------------------------------------
// Raw requests (to see response headers, which kube::Api drops)

/// A response read in full.
#[derive(Debug)]
pub struct RawReply {
    /// HTTP status code.
    pub status: u16,
    /// The texts of the `Warning` headers (RFC 7234 warn-text, unquoted).
    pub warnings: Vec<String>,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
    /// The body as text.
    pub text: String,
}

/// The warn-texts of one `Warning` header value: `299 - "text"`, possibly several separated
/// by commas, each optionally followed by a quoted date.
pub fn parse_warning_header(value: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        // warn-code SP warn-agent SP warn-text [SP warn-date]
        let Some((_code, after_code)) = rest.split_once(' ') else {
            break;
        };
        let Some((_agent, after_agent)) = after_code.trim_start().split_once(' ') else {
            break;
        };
        let Some((text, after_text)) = quoted(after_agent.trim_start()) else {
            break;
        };
        texts.push(text);
        rest = after_text.trim_start();
        if rest.starts_with('"') {
            rest = quoted(rest).map_or("", |(_, after)| after).trim_start();
        }
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    texts
}

/// A quoted-string at the start of `text` (backslash escapes), unquoted, and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &body[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The environment

enum Backend {
    /// The in-memory API server.
    Harness(ApiServer),
    /// A real API server; the configuration to clean up with.
    Real(Box<kube::Config>),
}

/// One test's world: an API server, the operator's webhook server, a fresh namespace.
pub struct Env {
    client: Client,
    namespace: String,
    ca: Ca,
    webhooks: Option<TestServer>,
    backend: Backend,
    job_control: JobControl,
    /// The pod init-container injector, once a test asks for one.
    injector: tokio::sync::OnceCell<Injector>,
    cleaned_up: bool,
}

impl Env {
    /// Starts the webhook server and the API server (harness, or real when
    /// `LOCUST_E2E_KUBECONFIG` is set), creates the namespace and waits until admission is
    /// effective there.
    pub async fn start() -> Self {
        bounded(
            "starting the end-to-end environment",
            SETUP_TIMEOUT,
            Self::start_unbounded(),
        )
        .await
    }

    async fn start_unbounded() -> Self {
        let ca = Ca::new("locust-operator e2e CA");
        let (webhooks, _dir, _leaf) = TestServer::ready("e2e", &ca).await;
        let base = webhooks.url("");
        let namespace = format!("e2e-{}", random_suffix(8));
        let (client, backend, job_control) = match kubeconfig_path() {
            Some(path) => {
                let config = real_config(&path).await;
                let client = Client::try_from(config.clone()).expect("a client for the kubeconfig");
                if let Err(error) = request("GET /version", client.apiserver_version()).await {
                    panic!(
                        "{KUBECONFIG_ENV}={}: cannot reach the API server: {error}",
                        path.display()
                    );
                }
                ensure_real_cluster_setup(&client).await;
                let job_control = real_job_control(&client).await;
                (client, Backend::Real(Box::new(config)), job_control)
            }
            None => {
                let options = jobs::harness_options();
                let job_control = JobControl::of_harness(&options);
                let server = ApiServer::start_with(options)
                    .await
                    .expect("start the harness API server");
                let crd =
                    serde_json::to_value(locust_operator::crd::locust_test_crd().expect("CRD"))
                        .expect("CRD as JSON");
                server.install_crd(&crd).await;
                server
                    .register_webhooks(&base, ca.pem().as_bytes())
                    .await
                    .expect("register the webhooks with the harness");
                let client = server.client().expect("a client for the harness");
                (client, Backend::Harness(server), job_control)
            }
        };
        let env = Self {
            client,
            namespace,
            ca,
            webhooks: Some(webhooks),
            backend,
            job_control,
            injector: tokio::sync::OnceCell::new(),
            cleaned_up: false,
        };
        env.create_namespace().await;
        if env.is_real_cluster() {
            env.register_webhooks(&base).await;
        }
        env.wait_for_admission().await;
        env
    }

    /// Whether this runs against a real API server (`LOCUST_E2E_KUBECONFIG`).
    pub fn is_real_cluster(&self) -> bool {
        matches!(self.backend, Backend::Real(_))
    }

    /// Who makes Job pods and writes Job status here (see [`jobs`]).
    pub fn job_control(&self) -> JobControl {
        self.job_control
    }

    /// The Jobs of this test's namespace: their pods and status, whoever makes them.
    pub fn jobs(&self) -> Jobs {
        Jobs::new(self.client.clone(), &self.namespace, self.job_control)
    }

    /// The client (as kubectl would use it).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// This test's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A typed API of namespaced `K` in this test's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// LocustTests of `version` (`v1`, `v2`) in this test's namespace, untyped.
    pub fn locust_tests(&self, version: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &locust_test_resource(version),
        )
    }

    /// The harness, in harness mode (fault injection, `sim`).
    pub fn harness(&self) -> Option<&ApiServer> {
        match &self.backend {
            Backend::Harness(server) => Some(server),
            Backend::Real(_) => None,
        }
    }

    /// `https://127.0.0.1:<port>` of this test's webhook server.
    pub fn webhook_url(&self) -> String {
        self.webhooks
            .as_ref()
            .map(|w| w.url(""))
            .unwrap_or_default()
    }

    /// The test CA (PEM) the webhook server's certificate chains to.
    pub fn ca_pem(&self) -> &str {
        self.ca.pem()
    }

    /// The API path of this namespace's LocustTests of `version`, plus `suffix` (`/name`).
    pub fn locust_tests_path(&self, version: &str, suffix: &str) -> String {
        format!(
            "/apis/locust.io/{version}/namespaces/{}/locusttests{suffix}",
            self.namespace
        )
    }

    /// Sends a raw request through the client (same server, credentials and TLS as
    /// `kube::Api`) and returns status, warnings and body: `kube::Api` drops response headers,
    /// so this is how a test sees the `Warning` headers that kubectl prints.
    pub async fn send(&self, request: hyper::Request<Vec<u8>>) -> RawReply {
        let what = format!("{} {}", request.method(), request.uri());
        let exchange = async {
            let response = self
                .client
                .send(request.map(kube::client::Body::from))
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let status = response.status().as_u16();
            let warnings = response
                .headers()
                .get_all(hyper::header::WARNING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(parse_warning_header)
                .collect();
            let bytes = response
                .into_body()
                .collect()
                .await
                .unwrap_or_else(|e| panic!("{what}: reading the body: {e}"))
                .to_bytes();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            RawReply {
                status,
                warnings,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                text,
            }
        };
        bounded(&what, REQUEST_TIMEOUT, exchange).await
    }

    async fn create_namespace(&self) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let namespace: Namespace = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": self.namespace, "labels": {E2E_LABEL: "true"}}
        }))
        .expect("a Namespace");
        poll(
            &format!("creating namespace {}", self.namespace),
            WAIT_LIMIT,
            || create_idempotent(&namespaces, &namespace),
        )
        .await;
    }

    /// Real-cluster mode: the webhook configurations of this test, pointing at its server and
    /// limited to its namespace.
    async fn register_webhooks(&self, base: &str) {
        let name = webhook_configuration_name(&self.namespace);
        let ca_bundle = base64::engine::general_purpose::STANDARD.encode(self.ca.pem());
        let webhook = |webhook_name: &str, path: &str| {
            json!({
                "name": webhook_name,
                "clientConfig": {"url": format!("{base}{path}"), "caBundle": ca_bundle},
                "rules": [{
                    "apiGroups": ["locust.io"],
                    "apiVersions": ["v1", "v2"],
                    "resources": ["locusttests"],
                    "operations": ["CREATE", "UPDATE"],
                    "scope": "Namespaced"
                }],
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 5,
                "matchPolicy": "Equivalent",
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}}
            })
        };
        let metadata = json!({
            "name": name,
            "labels": {E2E_LABEL: "true", E2E_NAMESPACE_LABEL: self.namespace}
        });
        let mut mutating = webhook(MUTATING_WEBHOOK, "/mutate");
        mutating["reinvocationPolicy"] = json!("Never");
        let mutating = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": metadata,
            "webhooks": [mutating]
        });
        let validating = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": metadata,
            "webhooks": [webhook(VALIDATING_WEBHOOK, "/validate")]
        });
        let apply = PatchParams::apply(FIELD_MANAGER).force();
        let mutating_api: Api<MutatingWebhookConfiguration> = Api::all(self.client.clone());
        let validating_api: Api<ValidatingWebhookConfiguration> = Api::all(self.client.clone());
        let (mutating, validating) = (Patch::Apply(&mutating), Patch::Apply(&validating));
        poll(
            "applying the MutatingWebhookConfiguration",
            WAIT_LIMIT,
            || {
                request(
                    "apply MutatingWebhookConfiguration",
                    mutating_api.patch(&name, &apply, &mutating),
                )
            },
        )
        .await;
        poll(
            "applying the ValidatingWebhookConfiguration",
            WAIT_LIMIT,
            || {
                request(
                    "apply ValidatingWebhookConfiguration",
                    validating_api.patch(&name, &apply, &validating),
                )
            },
        )
        .await;
    }

    /// From now on, pods created in this namespace with the label `key=value` get a classic
    /// init container [`INIT_CONTAINER`] from a mutating admission webhook ([`Injector`]), as
    /// from a sidecar injector: a MutatingWebhookConfiguration
    /// `locust-operator-e2e-<namespace>-inject-<n>` (deleted at teardown) whose rules select pod
    /// creates in this namespace with that label. Returns once the API server applies it (a
    /// dry-run pod create comes back with the init container).
    pub async fn inject_init_container(&self, key: &str, value: &str) {
        static INJECTIONS: AtomicU64 = AtomicU64::new(0);
        let injector = self
            .injector
            .get_or_init(|| async {
                let leaf = self.ca.issue("e2e-injector");
                Injector::start(&leaf.cert_pem, &leaf.key_pem).await
            })
            .await;
        let name = format!(
            "{}-inject-{}",
            webhook_configuration_name(&self.namespace),
            INJECTIONS.fetch_add(1, Ordering::Relaxed)
        );
        let configuration: MutatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "labels": {E2E_LABEL: "true", E2E_NAMESPACE_LABEL: self.namespace}
            },
            "webhooks": [{
                "name": "inject.e2e.locust.io",
                "clientConfig": {
                    "url": injector.url(),
                    "caBundle": base64::engine::general_purpose::STANDARD.encode(self.ca.pem())
                },
                "rules": [{
                    "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                    "operations": ["CREATE"], "scope": "Namespaced"
                }],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}},
                "objectSelector": {"matchLabels": {key: value}},
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 5,
                "matchPolicy": "Equivalent",
                "reinvocationPolicy": "Never"
            }]
        }))
        .expect("a MutatingWebhookConfiguration");
        let configurations: Api<MutatingWebhookConfiguration> = Api::all(self.client.clone());
        poll("creating the injector's configuration", WAIT_LIMIT, || {
            create_idempotent(&configurations, &configuration)
        })
        .await;
        let probe: Pod = serde_json::from_value(json!({
            "metadata": {"generateName": "inject-probe-", "labels": {key: value}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}
        }))
        .expect("a Pod");
        let pods: Api<Pod> = self.api();
        let dry_run = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        poll("the injector to act", WAIT_LIMIT, || async {
            let made = request("dry-run create pod", pods.create(&dry_run, &probe)).await?;
            let injected = made
                .spec
                .as_ref()
                .and_then(|s| s.init_containers.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.name == INIT_CONTAINER));
            if injected {
                Ok(())
            } else {
                Err("no init container yet".to_owned())
            }
        })
        .await;
    }

    /// Waits until both webhooks act on this namespace: a dry-run create of a valid test comes
    /// back defaulted (mutating), one of an invalid test is denied (validating). A real API
    /// server picks up new webhook configurations and CRDs asynchronously.
    async fn wait_for_admission(&self) {
        let api = self.locust_tests("v2");
        let dry_run = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        let valid = probe_test("e2e-admission-probe", false);
        poll("the mutating webhook to default", WAIT_LIMIT, || async {
            let created = request("dry-run create", api.create(&dry_run, &valid)).await?;
            if created.data.pointer("/spec/master/autoquit").is_some() {
                Ok(())
            } else {
                Err(format!("not defaulted yet: {:?}", created.data))
            }
        })
        .await;
        let invalid = probe_test("e2e-admission-probe", true);
        poll("the validating webhook to deny", WAIT_LIMIT, || async {
            match api.create(&dry_run, &invalid).await {
                Err(kube::Error::Api(status))
                    if status.message.contains(&format!(
                        "admission webhook \"{VALIDATING_WEBHOOK}\" denied the request"
                    )) =>
                {
                    Ok(())
                }
                other => Err(format!("not denied by the webhook yet: {other:?}")),
            }
        })
        .await;
    }

    /// Deletes this test's namespace and (real-cluster mode) webhook configurations, then
    /// stops the webhook server; bounded, failures only logged.
    pub async fn teardown(mut self) {
        self.cleaned_up = true;
        let result = tokio::time::timeout(
            CLEANUP_TIMEOUT,
            cleanup(self.client.clone(), self.namespace.clone()),
        )
        .await;
        if let Ok(Err(error)) | Err(error) = result.map_err(|_| "timed out".to_owned()) {
            eprintln!("e2e cleanup of {}: {error}", self.namespace);
        }
        if let Some(webhooks) = self.webhooks.take() {
            webhooks.stop().await;
        }
    }
}

impl Drop for Env {
    /// A test that panicked did not reach [`Env::teardown`]: in real-cluster mode, delete the
    /// namespace and webhook configurations from a thread of its own (this one may be the test
    /// runtime's only thread), with a fresh client, bounded. The harness goes away with the
    /// process state.
    fn drop(&mut self) {
        if self.cleaned_up {
            return;
        }
        let Backend::Real(config) = &self.backend else {
            return;
        };
        let (config, namespace) = ((**config).clone(), self.namespace.clone());
        let cleaner = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(client) = Client::try_from(config) else {
                    return;
                };
                match tokio::time::timeout(CLEANUP_TIMEOUT, cleanup(client, namespace.clone()))
                    .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => eprintln!("e2e cleanup of {namespace}: {error}"),
                    Err(_) => eprintln!("e2e cleanup of {namespace}: timed out"),
                }
            });
        });
        let _ = cleaner.join();
    }
}

/// `locust-operator-e2e-<namespace>`.
pub fn webhook_configuration_name(namespace: &str) -> String {
    format!("locust-operator-e2e-{namespace}")
}

/// Deletes the webhook configurations of `namespace` (if any) and the namespace.
async fn cleanup(client: Client, namespace: String) -> Result<(), String> {
    let name = webhook_configuration_name(&namespace);
    let mut errors = Vec::new();
    let not_found = |r: Result<(), String>| r.err().filter(|e| !e.contains("NotFound"));
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let namespaces: Api<Namespace> = Api::all(client);
    let dp = DeleteParams::default();
    // Those of `Env::inject_init_container`.
    let labelled = ListParams::default().labels(&format!("{E2E_NAMESPACE_LABEL}={namespace}"));
    if let Ok(list) = request("list webhook configurations", mutating.list(&labelled)).await {
        for configuration in list {
            if let Some(other) = configuration.metadata.name.filter(|n| *n != name) {
                errors.extend(not_found(
                    request(
                        "delete MutatingWebhookConfiguration",
                        mutating.delete(&other, &dp),
                    )
                    .await
                    .map(drop),
                ));
            }
        }
    }
    errors.extend(not_found(
        request(
            "delete MutatingWebhookConfiguration",
            mutating.delete(&name, &dp),
        )
        .await
        .map(drop),
    ));
    errors.extend(not_found(
        request(
            "delete ValidatingWebhookConfiguration",
            validating.delete(&name, &dp),
        )
        .await
        .map(drop),
    ));
    // Not waited for: without a namespace controller (envtest) a namespace never goes away,
    // and with one it takes its time; the DELETE marks it Terminating either way.
    errors.extend(not_found(
        request("delete Namespace", namespaces.delete(&namespace, &dp))
            .await
            .map(drop),
    ));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Creates `object`; an `AlreadyExists` counts as success (a retry after a lost answer).
async fn create_idempotent<K>(api: &Api<K>, object: &K) -> Result<(), String>
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.create(&PostParams::default(), object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error.to_string()),
    }
}

/// A LocustTest for the admission probe: valid, or with a violation only the validating
/// webhook catches (a request above its limit).
fn probe_test(name: &str, invalid: bool) -> DynamicObject {
    let mut test = json!({
        "apiVersion": "locust.io/v2",
        "kind": "LocustTest",
        "metadata": {"name": name},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "master": {"command": "--locustfile /lotest/src/probe.py --run-time 1m"},
            "worker": {"command": "--locustfile /lotest/src/probe.py", "replicas": 1}
        }
    });
    if invalid {
        test["spec"]["master"]["resources"] =
            json!({"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}});
    }
    serde_json::from_value(test).expect("a LocustTest")
}

// ---------------------------------------------------------------------------------------------
// Real-cluster mode

/// The kubeconfig of real-cluster mode (`~/` expanded), if any.
pub fn kubeconfig_path() -> Option<PathBuf> {
    let value = std::env::var(KUBECONFIG_ENV).ok()?;
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    match (value.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Some(PathBuf::from(home).join(rest)),
        _ => Some(PathBuf::from(value)),
    }
}

async fn real_config(path: &PathBuf) -> kube::Config {
    let kubeconfig = Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("{KUBECONFIG_ENV}={}: {e}", path.display()));
    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{KUBECONFIG_ENV}={}: {e}", path.display()))
}

/// The conversion webhook of real-cluster mode: one server per test process, on a thread and
/// runtime of its own so it outlives every test (the CRD is cluster-wide).
struct ConversionServer {
    base: String,
    ca_pem: String,
}

fn conversion_server() -> &'static ConversionServer {
    static SERVER: OnceLock<ConversionServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("e2e-conversion-webhook".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a runtime for the conversion webhook");
                runtime.block_on(async move {
                    let ca = Ca::new("locust-operator e2e conversion CA");
                    let (server, _dir, _leaf) = TestServer::ready("e2e-conversion", &ca).await;
                    let _ = sender.send(ConversionServer {
                        base: server.url(""),
                        ca_pem: ca.pem().to_owned(),
                    });
                    std::future::pending::<()>().await;
                    drop(server);
                });
            })
            .expect("spawn the conversion webhook thread");
        receiver
            .recv_timeout(WAIT_LIMIT)
            .expect("the conversion webhook server starts")
    })
}

/// Once per process: the stale webhook configurations of earlier runs removed, the CRD
/// applied (conversion by URL to this process), established, served, and converting.
async fn ensure_real_cluster_setup(client: &Client) {
    static SETUP: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SETUP
        .get_or_init(|| async {
            sweep_stale_webhook_configurations(client).await;
            let conversion = conversion_server();
            install_crd(client, conversion).await;
            wait_for_conversion(client).await;
        })
        .await;
}

/// Whether a Job controller runs on the real cluster: as [`JOB_CONTROLLER_ENV`] says, or
/// (`auto`) as a probe finds out, once per process.
async fn real_job_control(client: &Client) -> JobControl {
    static CONTROL: tokio::sync::OnceCell<JobControl> = tokio::sync::OnceCell::const_new();
    *CONTROL
        .get_or_init(|| async {
            match jobs::setting() {
                jobs::Setting::On => JobControl::Controller,
                jobs::Setting::Off => JobControl::Manual,
                jobs::Setting::Auto => probe_job_controller(client).await,
            }
        })
        .await
}

/// Creates a Job in a scratch namespace and waits up to [`JOB_CONTROLLER_PROBE`] for a pod
/// of it: kube-controller-manager makes one within milliseconds; an API server without it
/// (envtest) never does.
async fn probe_job_controller(client: &Client) -> JobControl {
    const PROBE: &str = "job-controller-probe";
    let namespace = format!("e2e-{}", random_suffix(8));
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let scratch: Namespace = serde_json::from_value(json!({
        "metadata": {"name": namespace, "labels": {E2E_LABEL: "true"}}
    }))
    .expect("a Namespace");
    poll("creating the probe's namespace", WAIT_LIMIT, || {
        create_idempotent(&namespaces, &scratch)
    })
    .await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
    // Ends by itself should a scheduler and kubelet run it.
    let probe: Job = serde_json::from_value(json!({
        "metadata": {"name": PROBE},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": 60, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}]
        }}}
    }))
    .expect("a Job");
    poll("creating the Job controller probe", WAIT_LIMIT, || {
        create_idempotent(&jobs, &probe)
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let selector = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={PROBE}"));
    let deadline = tokio::time::Instant::now() + JOB_CONTROLLER_PROBE;
    let found = loop {
        if let Ok(list) = request("list the probe's pods", pods.list(&selector)).await
            && !list.items.is_empty()
        {
            break true;
        }
        if tokio::time::Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    };
    let _ = cleanup(client.clone(), namespace).await;
    let control = if found {
        JobControl::Controller
    } else {
        JobControl::Manual
    };
    eprintln!(
        "e2e: Job controller probe: {control:?} (set {JOB_CONTROLLER_ENV}=on or off to skip it)"
    );
    control
}

/// Deletes webhook configurations of this suite whose namespace is gone or terminating
/// (left behind by a killed test process).
async fn sweep_stale_webhook_configurations(client: &Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let selector = ListParams::default().labels(&format!("{E2E_LABEL}=true"));
    let alive = |namespace: Option<String>| {
        let namespaces = namespaces.clone();
        async move {
            let Some(namespace) = namespace else {
                return false;
            };
            match request("get namespace", namespaces.get_opt(&namespace)).await {
                Ok(Some(ns)) => ns.metadata.deletion_timestamp.is_none(),
                Ok(None) => false,
                Err(_) => true, // unsure: keep it
            }
        }
    };
    let namespace_of = |labels: Option<&std::collections::BTreeMap<String, String>>| {
        labels.and_then(|l| l.get(E2E_NAMESPACE_LABEL)).cloned()
    };
    let dp = DeleteParams::default();
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    if let Ok(list) = request("list webhook configurations", mutating.list(&selector)).await {
        for config in list {
            if !alive(namespace_of(config.metadata.labels.as_ref())).await
                && let Some(name) = &config.metadata.name
            {
                let _ = request("delete", mutating.delete(name, &dp)).await;
            }
        }
    }
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    if let Ok(list) = request("list webhook configurations", validating.list(&selector)).await {
        for config in list {
            if !alive(namespace_of(config.metadata.labels.as_ref())).await
                && let Some(name) = &config.metadata.name
            {
                let _ = request("delete", validating.delete(name, &dp)).await;
            }
        }
    }
}

/// Server-side applies the generated CRD with its conversion webhook at
/// `<conversion.base>/convert` (caBundle: the conversion server's CA) and waits until it is
/// Established.
async fn install_crd(client: &Client, conversion: &ConversionServer) {
    let mut crd = serde_json::to_value(locust_operator::crd::locust_test_crd().expect("CRD"))
        .expect("CRD as JSON");
    let name = crd["metadata"]["name"]
        .as_str()
        .expect("the CRD has a name")
        .to_owned();
    let client_config = json!({
        "url": format!("{}{}", conversion.base, locust_operator::crd::CONVERSION_PATH),
        "caBundle": base64::engine::general_purpose::STANDARD.encode(&conversion.ca_pem),
    });
    crd["spec"]["conversion"]["webhook"]["clientConfig"] = client_config.clone();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    // A CRD installed from deploy/crd.yaml by someone else has a `service` client config that
    // server-side apply would keep (another manager owns it); url and service are exclusive.
    if let Ok(Some(existing)) = request("get CRD", crds.get_opt(&name)).await
        && existing
            .spec
            .conversion
            .as_ref()
            .and_then(|c| c.webhook.as_ref())
            .and_then(|w| w.client_config.as_ref())
            .is_some_and(|c| c.service.is_some())
    {
        let mut replace = client_config.clone();
        replace["service"] = Value::Null;
        let patch =
            Patch::Merge(json!({"spec": {"conversion": {"webhook": {"clientConfig": replace}}}}));
        let params = PatchParams::default();
        poll(
            "replacing the CRD's service client config",
            WAIT_LIMIT,
            || request("merge-patch CRD", crds.patch(&name, &params, &patch)),
        )
        .await;
    }
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let crd = Patch::Apply(&crd);
    poll("applying the CRD", WAIT_LIMIT, || {
        request("apply CRD", crds.patch(&name, &apply, &crd))
    })
    .await;
    poll("the CRD to be Established", WAIT_LIMIT, || async {
        let crd = request("get CRD", crds.get(&name)).await?;
        let established = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            Ok(())
        } else {
            Err(format!("not Established: {:?}", crd.status))
        }
    })
    .await;
}

/// Waits until the API server serves both versions and converts through this process's
/// conversion webhook: a v1 test created in a scratch namespace (no admission webhooks match
/// it) is stored as v2 and read back as v1. A CRD update reaches the API server's handlers
/// asynchronously, and an earlier run may have left the conversion pointing elsewhere.
async fn wait_for_conversion(client: &Client) {
    let namespace = format!("e2e-{}", random_suffix(8));
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let scratch: Namespace = serde_json::from_value(json!({
        "metadata": {"name": namespace, "labels": {E2E_LABEL: "true"}}
    }))
    .expect("a Namespace");
    poll("creating the scratch namespace", WAIT_LIMIT, || {
        create_idempotent(&namespaces, &scratch)
    })
    .await;
    let v1: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &locust_test_resource("v1"));
    let v2: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &locust_test_resource("v2"));
    let probe: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "locust.io/v1",
        "kind": "LocustTest",
        "metadata": {"name": "conversion-probe"},
        "spec": {
            "image": "locustio/locust:2.43.3",
            "masterCommandSeed": "--locustfile /lotest/src/probe.py",
            "workerCommandSeed": "--locustfile /lotest/src/probe.py",
            "workerReplicas": 1
        }
    }))
    .expect("a v1 LocustTest");
    poll("a v1 create to convert", WAIT_LIMIT, || {
        create_idempotent(&v1, &probe)
    })
    .await;
    poll("reads in both versions", WAIT_LIMIT, || async {
        let as_v2 = request("get v2", v2.get("conversion-probe")).await?;
        let as_v1 = request("get v1", v1.get("conversion-probe")).await?;
        if as_v2.data.pointer("/spec/master/command").is_some()
            && as_v1.data.pointer("/spec/masterCommandSeed").is_some()
        {
            Ok(())
        } else {
            Err(format!("not converted: {as_v2:?} {as_v1:?}"))
        }
    })
    .await;
    let _ = request(
        "delete the conversion probe",
        v2.delete("conversion-probe", &DeleteParams::default()),
    )
    .await;
    let _ = cleanup(client.clone(), namespace).await;
}
