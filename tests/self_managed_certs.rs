//! Self-managed certificates (`run --certs=self-managed`) against the harness API server,
//! with replicas of the operator in this process: each one its webhook server (real TLS, on a
//! loopback port, serving the certificate from memory) and its certificate manager
//! (`locust_operator::certs::run`, as `run` wires it), with its own client.
//!
//! The harness calls the webhooks the way kube-apiserver does: from the stored
//! MutatingWebhookConfiguration, ValidatingWebhookConfiguration and the CRD's conversion
//! webhook, through their `service` client config (the replicas' addresses, in turn, verified
//! for `locust-operator-webhook.locust-operator-system.svc`) and with the `caBundle` stored
//! there. So admission only works while what the replicas serve chains to what was injected.
//!
//! - two replicas starting at once end up with one Secret and one CA, both serve it, and the
//!   bundle is injected everywhere;
//! - serving certificates rotate and the CA rolls over while LocustTests are created
//!   continuously (v2 and v1, through mutation, validation and conversion): no request fails,
//!   every served certificate chains to every injected bundle at every moment, and both CAs
//!   are in the bundle until the switch is complete;
//! - a Secret holding garbage is replaced; a broken serving pair is re-issued from the same CA;
//!   missing webhook configurations and CRD are tolerated and injected once created;
//! - `/readyz` fails until a certificate is served;
//! - the real binary with `run --certs=self-managed` does all of it;
//! - the API calls the manager makes are exactly `certs::API_CALLS` (the RBAC it needs).
//!
//! Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
#[path = "support/tls.rs"]
mod tls;
#[path = "support/wait.rs"]
mod wait;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use kube::{Api, Client};
use locust_operator::certs::{self, CertsError, Policy, Settings};
use locust_operator::flags::ServerFlags;
use locust_operator::metrics::Metrics;
use locust_operator::rbac;
use locust_operator::webhook::server::Readiness;
use locust_operator::webhook::tls::ReloadingCert;
use locust_operator::webhook::{CertSource, Listeners, ServeError, Serving, serve};
use memory_apiserver::{ApiServer, Filter};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The operator's namespace.
const NAMESPACE: &str = "locust-operator-system";
/// Where the tests create LocustTests.
const TESTS_NAMESPACE: &str = "load";
const SERVICE: &str = "locust-operator-webhook";
const SECRET: &str = "locust-operator-webhook-cert";
const MUTATING: &str = "locust-operator-mutating-webhook";
const VALIDATING: &str = "locust-operator-validating-webhook";
/// The name the API server verifies.
const SERVER_NAME: &str = "locust-operator-webhook.locust-operator-system.svc";
/// How often the replicas read the Secret.
const INTERVAL: Duration = Duration::from_millis(100);
/// Upper bound of a wait for the replicas to converge.
const CONVERGE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The world: a harness API server with the operator's objects

struct World {
    server: ApiServer,
    client: Client,
}

/// A harness with the LocustTest schemas, the operator's and the tests' namespaces, and (when
/// asked) the CRD object and both webhook configurations as the install manifests declare
/// them: service client configs, no caBundle.
async fn world(with_crd: bool, with_configurations: bool) -> World {
    let server = ApiServer::start().await.unwrap();
    let crd = serde_json::to_value(locust_operator::crd::locust_test_crd().unwrap()).unwrap();
    server.install_crd(&crd).await;
    let client = server.client().unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in [NAMESPACE, TESTS_NAMESPACE] {
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
            )
            .await
            .unwrap();
    }
    let world = World { server, client };
    if with_crd {
        world.create_crd().await;
    }
    if with_configurations {
        world.create_webhook_configurations().await;
    }
    world
}

impl World {
    /// The generated CRD, whose conversion webhook is the Service `/convert` (no caBundle).
    async fn create_crd(&self) {
        let crd = locust_operator::crd::locust_test_crd().unwrap();
        let service = &crd
            .spec
            .conversion
            .as_ref()
            .unwrap()
            .webhook
            .as_ref()
            .unwrap();
        let reference = service
            .client_config
            .as_ref()
            .unwrap()
            .service
            .as_ref()
            .unwrap();
        assert_eq!(
            (reference.namespace.as_str(), reference.name.as_str()),
            (NAMESPACE, SERVICE)
        );
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }

    async fn create_webhook_configurations(&self) {
        let webhook = |name: &str, path: &str| {
            json!({
                "name": name,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 5,
                "matchPolicy": "Equivalent",
                "clientConfig": {"service": {"name": SERVICE, "namespace": NAMESPACE, "port": 443, "path": path}},
                "rules": [{"apiGroups": ["locust.io"], "apiVersions": ["v1", "v2"], "resources": ["locusttests"],
                           "operations": ["CREATE", "UPDATE"], "scope": "Namespaced"}]
            })
        };
        let mutating: MutatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {"name": MUTATING},
            "webhooks": [webhook("mutate.locusttests.locust.io", "/mutate")]
        }))
        .unwrap();
        let validating: ValidatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {"name": VALIDATING},
            "webhooks": [webhook("validate.locusttests.locust.io", "/validate")]
        }))
        .unwrap();
        Api::<MutatingWebhookConfiguration>::all(self.client.clone())
            .create(&PostParams::default(), &mutating)
            .await
            .unwrap();
        Api::<ValidatingWebhookConfiguration>::all(self.client.clone())
            .create(&PostParams::default(), &validating)
            .await
            .unwrap();
    }

    /// Routes the webhook Service to the replicas.
    fn route(&self, replicas: &[&Replica]) {
        self.server.route_service(
            NAMESPACE,
            SERVICE,
            replicas.iter().map(|r| r.webhook).collect(),
        );
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    /// The Secret's four entries, if it exists.
    async fn secret(&self) -> Option<certs::Contents> {
        self.secrets()
            .get_opt(SECRET)
            .await
            .unwrap()
            .map(|s| certs::secret::contents(&s))
    }

    /// The caBundles injected into the mutating and validating configurations and the CRD
    /// (empty when absent).
    async fn injected(&self) -> [Vec<u8>; 3] {
        let bundle = |b: Option<&ByteString>| b.map(|b| b.0.clone()).unwrap_or_default();
        let mutating = Api::<MutatingWebhookConfiguration>::all(self.client.clone())
            .get_opt(MUTATING)
            .await
            .unwrap();
        let validating = Api::<ValidatingWebhookConfiguration>::all(self.client.clone())
            .get_opt(VALIDATING)
            .await
            .unwrap();
        let crd = Api::<CustomResourceDefinition>::all(self.client.clone())
            .get_opt(certs::CRD_NAME)
            .await
            .unwrap();
        [
            bundle(mutating.as_ref().and_then(|m| {
                m.webhooks
                    .as_ref()?
                    .first()?
                    .client_config
                    .ca_bundle
                    .as_ref()
            })),
            bundle(validating.as_ref().and_then(|v| {
                v.webhooks
                    .as_ref()?
                    .first()?
                    .client_config
                    .ca_bundle
                    .as_ref()
            })),
            bundle(crd.as_ref().and_then(|c| {
                c.spec
                    .conversion
                    .as_ref()?
                    .webhook
                    .as_ref()?
                    .client_config
                    .as_ref()?
                    .ca_bundle
                    .as_ref()
            })),
        ]
    }

    fn locust_tests(&self, version: &str) -> Api<DynamicObject> {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("locust.io", version, "LocustTest"),
            "locusttests",
        );
        Api::namespaced_with(self.client.clone(), TESTS_NAMESPACE, &resource)
    }

    /// Creates a LocustTest of `version` through admission (and, for v1, conversion), and
    /// reads it back in that version (conversion again).
    async fn create_test(&self, name: &str, version: &str) -> Result<(), String> {
        let object: DynamicObject = serde_json::from_value(test_object(name, version)).unwrap();
        let api = self.locust_tests(version);
        let created = tokio::time::timeout(
            Duration::from_secs(15),
            api.create(&PostParams::default(), &object),
        )
        .await
        .map_err(|_| format!("create {version} {name}: no answer"))?
        .map_err(|e| format!("create {version} {name}: {e}"))?;
        if version == "v2" && created.data.pointer("/spec/master/autoquit").is_none() {
            return Err(format!("{name}: not mutated: {:?}", created.data));
        }
        tokio::time::timeout(Duration::from_secs(15), api.get(name))
            .await
            .map_err(|_| format!("get {version} {name}: no answer"))?
            .map_err(|e| format!("get {version} {name}: {e}"))?;
        Ok(())
    }
}

fn test_object(name: &str, version: &str) -> Value {
    match version {
        "v1" => json!({
            "apiVersion": "locust.io/v1", "kind": "LocustTest", "metadata": {"name": name},
            "spec": {"image": "locustio/locust:2.43.3", "masterCommandSeed": "-f /lotest/src/t.py",
                     "workerCommandSeed": "-f /lotest/src/t.py", "workerReplicas": 1}
        }),
        _ => json!({
            "apiVersion": "locust.io/v2", "kind": "LocustTest", "metadata": {"name": name},
            "spec": {"image": "locustio/locust:2.43.3", "master": {"command": "-f /lotest/src/t.py"},
                     "worker": {"command": "-f /lotest/src/t.py", "replicas": 1}}
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Replicas

fn settings(policy: Policy) -> Settings {
    Settings {
        namespace: NAMESPACE.to_owned(),
        secret: SECRET.to_owned(),
        service: SERVICE.to_owned(),
        mutating_webhook_configuration: MUTATING.to_owned(),
        validating_webhook_configuration: VALIDATING.to_owned(),
        crd: certs::CRD_NAME.to_owned(),
        policy,
        interval: INTERVAL,
    }
}

/// One operator replica: its webhook server serving from memory, and (once started) its
/// certificate manager with a client of its own.
struct Replica {
    webhook: SocketAddr,
    probes: SocketAddr,
    cert: Arc<ReloadingCert>,
    shutdown: CancellationToken,
    server: JoinHandle<Result<(), ServeError>>,
    manager: Option<JoinHandle<Result<(), CertsError>>>,
}

impl Replica {
    /// Starts the webhook server (no certificate yet: not ready).
    async fn serve() -> Self {
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let flags = ServerFlags {
            webhook_bind_address: loopback,
            health_probe_bind_address: loopback,
            metrics_bind_address: loopback,
            cert_dir: PathBuf::from("/nonexistent"),
            cert_reload_interval: INTERVAL,
        };
        let listeners = Listeners::bind(&flags).await.unwrap();
        let (webhook, probes) = (
            listeners.webhook.local_addr().unwrap(),
            listeners.probes.local_addr().unwrap(),
        );
        let cert = Arc::new(ReloadingCert::default());
        let shutdown = CancellationToken::new();
        let server = tokio::spawn({
            let (cert, shutdown) = (Arc::clone(&cert), shutdown.clone());
            async move {
                let serving = Serving {
                    certificate: CertSource::Memory(cert),
                    metrics: Arc::new(Metrics::new()),
                    readiness: Readiness::default(),
                };
                serve(listeners, serving, shutdown).await
            }
        });
        Self {
            webhook,
            probes,
            cert,
            shutdown,
            server,
            manager: None,
        }
    }

    /// Starts the certificate manager.
    fn manage(&mut self, world: &World, policy: Policy) {
        let client = world.server.client().unwrap();
        self.manager = Some(tokio::spawn(certs::run(
            client,
            settings(policy),
            Arc::clone(&self.cert),
            self.shutdown.clone(),
        )));
    }

    async fn readyz(&self) -> (u16, String) {
        tls::plain_get(self.probes, "/readyz").await.unwrap()
    }

    async fn wait_ready(&self) {
        let probes = self.probes;
        tls::wait_for("/readyz to answer 200", CONVERGE, || async move {
            matches!(tls::plain_get(probes, "/readyz").await, Ok((200, _)))
        })
        .await;
    }

    /// The certificate a client trusting `bundle` (PEM) gets for the Service's name.
    async fn leaf(&self, bundle: &[u8]) -> Result<CertificateDer<'static>, String> {
        let roots = ders(bundle);
        if roots.is_empty() {
            return Err("empty bundle".into());
        }
        let config = tls::client_config(&roots.iter().collect::<Vec<_>>(), None);
        let stream = tls::handshake(self.webhook, SERVER_NAME, config).await?;
        Ok(tls::served_leaf(&stream))
    }

    /// Stops the replica; its manager and server must end without error.
    async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(manager) = self.manager.take() {
            tokio::time::timeout(Duration::from_secs(10), manager)
                .await
                .expect("the manager stops")
                .unwrap()
                .unwrap();
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.server)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The certificates of a PEM bundle.
fn ders(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// Index in `cas` of the CA that signed `leaf`.
fn issuer(leaf: &CertificateDer<'_>, cas: &[CertificateDer<'static>]) -> Option<usize> {
    let (_, leaf) = X509Certificate::from_der(leaf.as_ref()).ok()?;
    cas.iter().position(|ca| {
        X509Certificate::from_der(ca.as_ref())
            .is_ok_and(|(_, ca)| leaf.verify_signature(Some(ca.public_key())).is_ok())
    })
}

use wait::{bounded, eventually};

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_starting_at_once_share_one_ca() {
    bounded("the test", Duration::from_secs(90), async {
        let world = world(true, true).await;
        // Both replicas read "no Secret" before either creates it (every Secret request takes
        // 300 ms, more than the replicas' start-up gap): each generates a CA and creates; one
        // gets 409 AlreadyExists and must take the winner's.
        let secret_requests = Filter {
            method: None,
            path_contains: Some(format!("/namespaces/{NAMESPACE}/secrets")),
        };
        world
            .server
            .faults()
            .delay(secret_requests, Duration::from_millis(300));
        let creates = world.server.faults().count(Filter {
            method: Some(Method::POST),
            path_contains: Some(format!("/namespaces/{NAMESPACE}/secrets")),
        });
        let mut one = Replica::serve().await;
        let mut two = Replica::serve().await;
        world.route(&[&one, &two]);
        assert_eq!(one.readyz().await.0, 503, "not ready before a certificate");
        one.manage(&world, Policy::default());
        two.manage(&world, Policy::default());
        one.wait_ready().await;
        two.wait_ready().await;
        world.server.faults().clear();
        assert_eq!(
            creates.load(Ordering::Relaxed),
            2,
            "both replicas tried to create the Secret"
        );

        // One Secret, one CA.
        let secrets = world.secrets().list(&ListParams::default()).await.unwrap();
        assert_eq!(secrets.items.len(), 1);
        let secret = &secrets.items[0];
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        let contents = world.secret().await.unwrap();
        let cas = ders(&contents.ca_crt);
        assert_eq!(cas.len(), 1, "one CA");
        assert!(!contents.ca_key.is_empty(), "the Secret holds the CA key");

        // Both serve the Secret's certificate, which chains to that CA for the Service name.
        let served = ders(&contents.tls_crt)[0].clone();
        for replica in [&one, &two] {
            let leaf = replica.leaf(&contents.ca_crt).await.unwrap();
            assert_eq!(leaf, served);
            assert_eq!(issuer(&leaf, &cas), Some(0));
        }

        // Injected into both webhook configurations and the CRD.
        let injected = eventually("the bundle injected everywhere", CONVERGE, || async {
            let injected = world.injected().await;
            injected.iter().all(|b| ders(b) == cas).then_some(injected)
        })
        .await;
        assert_eq!(injected.len(), 3);

        // Admission and conversion work through the injected CA: mutation, validation, v1.
        world.create_test("first", "v2").await.unwrap();
        world.create_test("legacy", "v1").await.unwrap();
        let mut invalid = test_object("invalid", "v2");
        invalid["spec"]["master"]["resources"] =
            json!({"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}});
        let denied = world
            .locust_tests("v2")
            .create(
                &PostParams::default(),
                &serde_json::from_value(invalid).unwrap(),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            denied.contains("admission webhook \"validate.locusttests.locust.io\" denied"),
            "{denied}"
        );

        // Steady state: no more writes to the Secret or the targets.
        let requests = world.server.faults().count(Filter {
            method: None,
            path_contains: None,
        });
        let before = world.secrets().get(SECRET).await.unwrap();
        tokio::time::sleep(INTERVAL * 5).await;
        let after = world.secrets().get(SECRET).await.unwrap();
        assert_eq!(
            before.metadata.resource_version,
            after.metadata.resource_version
        );
        assert!(
            requests.load(Ordering::Relaxed) > 0,
            "the replicas keep polling"
        );
        let crd = Api::<CustomResourceDefinition>::all(world.client.clone())
            .get(certs::CRD_NAME)
            .await
            .unwrap();
        assert_eq!(
            crd.metadata.generation,
            Some(2),
            "one injection into the CRD"
        );

        one.stop().await;
        two.stop().await;
    })
    .await;
}

/// What the observer saw during rotation.
#[derive(Default)]
struct Seen {
    leaves: BTreeSet<Vec<u8>>,
    cas: Vec<CertificateDer<'static>>,
    /// A bundle of two CAs while a replica still served a certificate of the older one.
    overlap: bool,
    violations: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_and_ca_rollover_keep_admission_working() {
    // Serving certificates for 12 s, renewed with 4 s left (every 8 s); the CA for 40 s,
    // rolled over with 22 s left; 3 s of propagation. Leaves at about 0, 8, 16 s; the new CA
    // at 18 s, the switch at 21 s, the old CA gone at 24 s.
    let policy = Policy {
        ca_validity: Duration::from_secs(40),
        ca_renew_before: Duration::from_secs(22),
        serving_validity: Duration::from_secs(12),
        serving_renew_divisor: 3,
        propagation: Duration::from_secs(3),
        backdate: Duration::ZERO,
    };
    policy.validate().unwrap();
    bounded("the test", Duration::from_secs(120), async {
        let world = Arc::new(world(true, true).await);
        let mut one = Replica::serve().await;
        let mut two = Replica::serve().await;
        world.route(&[&one, &two]);
        one.manage(&world, policy);
        two.manage(&world, policy);
        one.wait_ready().await;
        two.wait_ready().await;
        eventually("the first bundle injected", CONVERGE, || async {
            let contents = world.secret().await?;
            let injected = world.injected().await;
            injected
                .iter()
                .all(|b| !b.is_empty() && ders(b) == ders(&contents.ca_crt))
                .then_some(())
        })
        .await;
        let first_ca = ders(&world.secret().await.unwrap().ca_crt)[0].clone();

        // Continuous admission: v2 and v1 LocustTests, each through the mutating and the
        // validating webhook (alternating replicas) and v1 through conversion both ways.
        let stop = Arc::new(AtomicBool::new(false));
        let created = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::<String>::new()));
        let admission = tokio::spawn({
            let (world, stop, created, failures) = (
                Arc::clone(&world),
                Arc::clone(&stop),
                Arc::clone(&created),
                Arc::clone(&failures),
            );
            async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let version = if i % 3 == 2 { "v1" } else { "v2" };
                    match world.create_test(&format!("t-{i}"), version).await {
                        Ok(()) => {
                            created.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => failures.lock().unwrap().push(error),
                    }
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });

        // Observe: at every moment, what each replica serves chains to every injected bundle.
        let mut seen = Seen::default();
        let replicas = [&one, &two];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let done = loop {
            let injected = world.injected().await;
            let mut leaves = Vec::new();
            for (index, replica) in replicas.iter().enumerate() {
                for (target, bundle) in ["mutating", "validating", "CRD"].iter().zip(&injected) {
                    match replica.leaf(bundle).await {
                        Ok(leaf) => leaves.push(leaf),
                        Err(error) => seen.violations.push(format!(
                            "replica {index}: its certificate does not chain to the {target} bundle ({} CA(s)): {error}",
                            ders(bundle).len()
                        )),
                    }
                }
            }
            let bundle = ders(&injected[0]);
            for ca in &bundle {
                if !seen.cas.contains(ca) {
                    seen.cas.push(ca.clone());
                }
            }
            for leaf in &leaves {
                seen.leaves.insert(leaf.as_ref().to_vec());
                if bundle.len() == 2 && issuer(leaf, &bundle) == Some(1) {
                    seen.overlap = true;
                }
            }
            // Done: rolled over to a new CA alone in the bundle, served by both replicas,
            // after several serving certificates.
            let rolled_over = bundle.len() == 1
                && bundle[0] != first_ca
                && leaves.len() == 6
                && leaves.iter().all(|leaf| issuer(leaf, &bundle) == Some(0));
            if rolled_over && seen.leaves.len() >= 4 {
                break true;
            }
            if tokio::time::Instant::now() >= deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        stop.store(true, Ordering::Relaxed);
        bounded("the admission loop to stop", Duration::from_secs(30), admission)
            .await
            .unwrap();

        let failures = failures.lock().unwrap().clone();
        assert!(failures.is_empty(), "admission failed during rotation: {failures:#?}");
        assert!(
            seen.violations.is_empty(),
            "served certificates not trusted: {:#?}",
            seen.violations
        );
        assert!(
            done,
            "no complete rollover within 60 s: {} serving certificates, {} CAs seen",
            seen.leaves.len(),
            seen.cas.len()
        );
        assert!(
            seen.overlap,
            "both CAs were in the bundle while the old CA's certificate was still served"
        );
        assert_eq!(seen.cas.len(), 2, "one rollover");
        let created = created.load(Ordering::Relaxed);
        assert!(created >= 50, "only {created} LocustTests created");

        one.stop().await;
        two.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_is_replaced_and_missing_targets_are_injected_once_created() {
    bounded("the test", Duration::from_secs(90), async {
        // Nothing installed but the namespaces, and a Secret of garbage.
        let world = world(false, false).await;
        let garbage: Secret = serde_json::from_value(json!({
            "metadata": {"name": SECRET, "labels": {"owner": "someone"}},
            "type": "kubernetes.io/tls",
            "data": {
                "ca.crt": base64_of(b"not a certificate"),
                "ca.key": base64_of(b"not a key"),
                "tls.crt": base64_of(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
                "tls.key": base64_of(&[0, 1, 2]),
                "extra": base64_of(b"kept")
            }
        }))
        .unwrap();
        let original = world
            .secrets()
            .create(&PostParams::default(), &garbage)
            .await
            .unwrap();
        let mut replica = Replica::serve().await;
        world.route(&[&replica]);
        replica.manage(&world, Policy::default());
        replica.wait_ready().await;

        // Replaced in place (same object), with a CA and a serving certificate that chains to it.
        let secret = world.secrets().get(SECRET).await.unwrap();
        assert_eq!(secret.metadata.uid, original.metadata.uid);
        assert_eq!(
            secret.data.as_ref().unwrap().get("extra").unwrap().0,
            b"kept",
            "entries that are not ours are kept"
        );
        let contents = certs::secret::contents(&secret);
        let cas = ders(&contents.ca_crt);
        assert_eq!(cas.len(), 1);
        let leaf = replica.leaf(&contents.ca_crt).await.unwrap();
        assert_eq!(issuer(&leaf, &cas), Some(0));

        // The manager carries on without webhook configurations or CRD.
        tokio::time::sleep(INTERVAL * 5).await;
        assert!(!replica.manager.as_ref().unwrap().is_finished());
        assert!(world.injected().await.iter().all(Vec::is_empty));

        // Installed later: injected within a few periods, and admission works.
        world.create_webhook_configurations().await;
        world.create_crd().await;
        eventually("the bundle injected once the targets exist", CONVERGE, || async {
            world
                .injected()
                .await
                .iter()
                .all(|b| ders(b) == cas)
                .then_some(())
        })
        .await;
        world.create_test("after-install", "v2").await.unwrap();
        world.create_test("after-install-v1", "v1").await.unwrap();

        // A broken serving pair (CA intact) is re-issued from the same CA; meanwhile the
        // replica keeps serving the previous one and stays ready.
        let patch = json!({"data": {"tls.crt": base64_of(b"garbage")}});
        world
            .secrets()
            .patch(SECRET, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        let reissued = eventually("a new serving certificate", CONVERGE, || async {
            let contents = world.secret().await?;
            let leaves = ders(&contents.tls_crt);
            (!leaves.is_empty() && leaves[0] != leaf).then_some(contents)
        })
        .await;
        assert_eq!(ders(&reissued.ca_crt), cas, "same CA");
        assert_eq!(reissued.ca_key, contents.ca_key);
        assert_eq!(replica.readyz().await.0, 200);
        let served = ders(&reissued.tls_crt)[0].clone();
        eventually("the new certificate served", CONVERGE, || async {
            (replica.leaf(&reissued.ca_crt).await.ok()? == served).then_some(())
        })
        .await;
        world.create_test("after-reissue", "v2").await.unwrap();

        // Someone resets a caBundle (a re-applied manifest): injected again.
        let reset = json!([{"op": "remove", "path": "/webhooks/0/clientConfig/caBundle"}]);
        Api::<ValidatingWebhookConfiguration>::all(world.client.clone())
            .patch(
                VALIDATING,
                &PatchParams::default(),
                &Patch::<()>::Json(serde_json::from_value(reset).unwrap()),
            )
            .await
            .unwrap();
        eventually("the reset bundle injected again", CONVERGE, || async {
            (ders(&world.injected().await[1]) == cas).then_some(())
        })
        .await;

        replica.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_waits_for_a_served_certificate() {
    bounded("the test", Duration::from_secs(60), async {
        let world = world(true, true).await;
        // The Secret cannot be read for a while.
        let reads = Filter {
            method: Some(Method::GET),
            path_contains: Some(format!("/namespaces/{NAMESPACE}/secrets/")),
        };
        world.server.faults().fail_next(reads, 20, 500);
        let mut replica = Replica::serve().await;
        world.route(&[&replica]);
        replica.manage(&world, Policy::default());
        // Not ready (and no handshake succeeds) while no certificate is served; alive.
        for _ in 0..5 {
            let (status, body) = replica.readyz().await;
            assert_eq!(status, 503, "{body}");
            assert!(body.contains("webhook certificate"), "{body}");
            assert_eq!(
                tls::plain_get(replica.probes, "/healthz").await.unwrap().0,
                200
            );
            tokio::time::sleep(INTERVAL).await;
        }
        assert!(
            world.server.faults().injected() < 20,
            "still within the failures"
        );
        let error = tls::handshake(replica.webhook, SERVER_NAME, tls::client_config(&[], None))
            .await
            .err()
            .unwrap_or_default();
        assert!(error.contains("handshake"), "{error}");
        // Ready once the Secret is readable and its certificate served.
        replica.wait_ready().await;
        assert!(replica.cert.is_loaded());
        assert_eq!(world.server.faults().injected(), 20);
        replica.stop().await;
    })
    .await;
}

/// The real binary, `run --certs=self-managed` against the harness: the operator's namespace
/// from `POD_NAMESPACE` (the kube context says `default`), the Secret created there, the
/// bundle injected, admission through what it serves, ready, and a clean exit on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binary_runs_with_self_managed_certificates() {
    bounded("the test", Duration::from_secs(90), async {
        let world = world(true, true).await;
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "self-managed-certs-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kubeconfig");
        let config = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "harness", "cluster": {"server": world.server.url()}}],
            "users": [{"name": "harness", "user": {}}],
            "contexts": [{"name": "harness", "context": {"cluster": "harness", "user": "harness", "namespace": "default"}}],
            "current-context": "harness"
        });
        std::fs::write(&kubeconfig, config.to_string()).unwrap();
        let log = dir.join("operator.log");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_locust-operator"))
            .args([
                "run",
                "--certs=self-managed",
                "--leader-elect=false",
                "--watch-namespace",
                TESTS_NAMESPACE,
                "--webhook-bind-address=127.0.0.1:0",
                "--health-probe-bind-address=127.0.0.1:0",
                "--metrics-bind-address=127.0.0.1:0",
                "--cert-reload-interval=200ms",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KUBECONFIG", &kubeconfig)
            .env("POD_NAMESPACE", NAMESPACE)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let pid = child.id();
        let child = KillOnDrop(Mutex::new(child));
        let child = &child.0;
        let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
        // The addresses from the `serving` line.
        let (webhook, probes) = eventually("the binary to bind its servers", CONVERGE, || async {
            if let Ok(Some(status)) = child.lock().unwrap().try_wait() {
                panic!("the operator exited with {status}:\n{}", log_text());
            }
            log_text()
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|line| line["message"] == "serving")
                .and_then(|line| {
                    assert_eq!(line["certificate"], "self-managed");
                    let address = |field: &str| line[field].as_str()?.parse::<SocketAddr>().ok();
                    Some((address("webhooks")?, address("probes")?))
                })
        })
        .await;
        world.server.route_service(NAMESPACE, SERVICE, vec![webhook]);
        eventually("/readyz to answer 200", CONVERGE, || async {
            matches!(tls::plain_get(probes, "/readyz").await, Ok((200, _))).then_some(())
        })
        .await;
        let contents = world.secret().await.expect("the Secret in POD_NAMESPACE");
        let cas = ders(&contents.ca_crt);
        assert_eq!(cas.len(), 1);
        eventually("the bundle injected", CONVERGE, || async {
            world
                .injected()
                .await
                .iter()
                .all(|b| ders(b) == cas)
                .then_some(())
        })
        .await;
        world.create_test("from-the-binary", "v2").await.unwrap();
        world.create_test("from-the-binary-v1", "v1").await.unwrap();

        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = eventually("the operator to exit", CONVERGE, || async {
            child.lock().unwrap().try_wait().unwrap()
        })
        .await;
        assert!(exit.success(), "exit {exit}:\n{}", log_text());
    })
    .await;
}

/// The RBAC view of a request: (API group, namespace, resource, verb, name).
type Rbac = (String, Option<String>, String, String, Option<String>);

/// The RBAC view of a request.
fn rbac_of(method: &Method, path: &str) -> Rbac {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("not a resource path: {path}"),
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(*namespace), rest),
        rest => (None, rest),
    };
    let (resource, name) = match rest {
        [resource] => (*resource, None),
        [resource, name] => (*resource, Some(*name)),
        _ => panic!("not a resource path: {path}"),
    };
    let verb = match (method.as_str(), name) {
        ("GET", Some(_)) => "get",
        ("GET", None) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        (other, _) => panic!("unexpected method {other}"),
    };
    (
        group.to_owned(),
        namespace.map(str::to_owned),
        resource.to_owned(),
        verb.to_owned(),
        name.map(str::to_owned),
    )
}

/// A stored object, read from the harness's store (no request, so not recorded).
fn stored(world: &World, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
    let resource = memory_apiserver::resources::find(group, "v1", plural).unwrap();
    world
        .server
        .state
        .store
        .get(&memory_apiserver::state::key(&resource, namespace, name))
}

/// The stored caBundles of the three targets and the stored Secret's `ca.crt` (no requests).
fn stored_bundles(world: &World) -> (Vec<String>, Option<String>) {
    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
    let mutating = stored(
        world,
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        "",
        MUTATING,
    );
    let validating = stored(
        world,
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        "",
        VALIDATING,
    );
    let crd = stored(
        world,
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "",
        certs::CRD_NAME,
    );
    let secret = stored(world, "", "secrets", NAMESPACE, SECRET);
    (
        vec![
            text(
                mutating
                    .as_ref()
                    .and_then(|m| m.pointer("/webhooks/0/clientConfig/caBundle")),
            ),
            text(
                validating
                    .as_ref()
                    .and_then(|v| v.pointer("/webhooks/0/clientConfig/caBundle")),
            ),
            text(
                crd.as_ref()
                    .and_then(|c| c.pointer("/spec/conversion/webhook/clientConfig/caBundle")),
            ),
        ],
        secret.map(|s| text(s.pointer("/data/ca.crt"))),
    )
}

/// What the certificate manager calls is exactly `certs::API_CALLS` (the RBAC the install
/// manifests grant): recorded through a whole life (garbage replaced, Secret deleted and
/// created again, every target injected twice) with no other client talking to the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_calls_are_exactly_the_declared_ones() {
    bounded("the test", Duration::from_secs(60), async {
        let world = world(true, true).await;
        let garbage: Secret = serde_json::from_value(json!({
            "metadata": {"name": SECRET},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64_of(b"x"), "tls.key": base64_of(b"y")}
        }))
        .unwrap();
        world
            .secrets()
            .create(&PostParams::default(), &garbage)
            .await
            .unwrap();
        // From here on only the replica talks to the API; the test reads the store directly.
        let recording = world.server.faults().record(Filter::default());
        let mut replica = Replica::serve().await;
        world.route(&[&replica]);
        replica.manage(&world, Policy::default());
        replica.wait_ready().await;
        let injected = |world: &World| {
            let (targets, secret) = stored_bundles(world);
            secret.filter(|secret| !secret.is_empty() && targets.iter().all(|t| t == secret))
        };
        let first = eventually("the replaced Secret injected", CONVERGE, || async {
            injected(&world)
        })
        .await;
        // The Secret disappears (not through the API): created again, injected again.
        let secrets = memory_apiserver::resources::find("", "v1", "secrets").unwrap();
        world
            .server
            .state
            .store
            .remove(
                &secrets,
                &memory_apiserver::state::key(&secrets, NAMESPACE, SECRET),
            )
            .unwrap();
        eventually("a new Secret injected", CONVERGE, || async {
            injected(&world).filter(|bundle| *bundle != first)
        })
        .await;
        replica.stop().await;

        // The objects the calls are limited to, as the install's flags name them (the
        // certificate manager makes no call on the Lease).
        let names = rbac::Names {
            lease: String::new(),
            secret: SECRET.to_owned(),
            mutating_webhook_configuration: MUTATING.to_owned(),
            validating_webhook_configuration: VALIDATING.to_owned(),
            crd: certs::CRD_NAME.to_owned(),
        };
        let expected: BTreeSet<Rbac> = certs::API_CALLS
            .iter()
            .map(|call| {
                let namespace = (call.group.is_empty()).then(|| NAMESPACE.to_owned());
                (
                    call.group.to_owned(),
                    namespace,
                    call.resource.to_owned(),
                    call.verb.to_owned(),
                    names.of(call.target).map(str::to_owned),
                )
            })
            .collect();
        let seen: BTreeSet<_> = recording
            .lock()
            .unwrap()
            .iter()
            .map(|(method, path)| rbac_of(method, path))
            .collect();
        assert_eq!(seen, expected);
    })
    .await;
}

/// A child process killed if the test ends early.
struct KillOnDrop(Mutex<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(child) = self.0.get_mut()
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
