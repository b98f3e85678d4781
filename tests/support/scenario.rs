//! One end-to-end scenario of the controller, start → act and wait → tear down, so that a
//! test's body is only its specification:
//!
//! ```ignore
//! #[tokio::test]
//! async fn spec_drift_is_reported_and_ignored() {
//!     Scenario::run(Options::new(), async |s| {
//!         s.create("drift", 2).await;
//!         s.run_to_running("drift", 2).await;
//!         s.patch_spec("drift", json!({"worker": {"replicas": 3}})).await;
//!         let test = s.wait_for("drift", "SpecDrifted", |t| /* ... */).await;
//!         assert_eq!(/* ... */);
//!     })
//!     .await;
//! }
//! ```
//!
//! - **Start**: an [`Env`] (API server, the operator's webhooks, a fresh namespace) and one
//!   [`Operator`] watching that namespace ([`Scenario::run`]); or the Env alone, the test
//!   starting its operators itself ([`Scenario::run_without_operator`]); or an operator on a
//!   namespace no admission webhook covers ([`Scenario::run_without_admission`]).
//! - **Act and wait**: the body gets `&Scenario`, which dereferences to the
//!   [`TestNamespace`] the operator watches (create, read, drive pods as kubelet would, wait,
//!   read events), and has the operator's metrics and state, and stops, starts or kills it.
//!   The whole body runs within [`e2e::TEST_TIMEOUT`] ([`within`]).
//! - **Tear down**, once the body returned: the operator stopped (as SIGTERM does, bounded),
//!   the namespaces the scenario created deleted, then [`Env::teardown`].
//!
//! A body that panics fails the test with its own message: the panic unwinds through
//! [`Scenario::run`], and dropping the scenario drops the [`Env`], which cleans up after a
//! panicking test as it always does.
//!
//! Include next to `e2e.rs`, `operator.rs`, `objects.rs` and `test_status.rs` (each as a
//! module of the same name at the root of the test crate).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test crates; tests fail loudly

use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use locust_operator::controller::State;
use memory_apiserver::ApiServer;

use super::e2e::jobs::{self, JobControl};
use super::e2e::{self, Env, poll, within};
use super::objects::{self, QUIET, TestNamespace, WAIT};
use super::operator::{Operator, Options};

/// The API server a scenario runs against.
enum World {
    /// An [`Env`]: admission by the operator's webhooks.
    Env(Box<Env>),
    /// The harness without any webhooks (nothing is admitted by the operator).
    Bare(ApiServer),
}

/// One test's API server, namespace and operator (see the module documentation).
pub struct Scenario {
    world: World,
    /// Where the operator runs and the test acts.
    place: TestNamespace,
    /// The operator, while one runs.
    operator: Mutex<Option<Operator>>,
    /// Namespaces created for this scenario, deleted at tear-down.
    namespaces: Mutex<Vec<String>>,
}

impl Scenario {
    /// Starts an [`Env`] and an [`Operator`] with `options` watching its namespace, runs
    /// `body` within [`e2e::TEST_TIMEOUT`], then tears down. Returns what `body` returns.
    pub async fn run<T>(options: Options, body: impl AsyncFnOnce(&Scenario) -> T) -> T {
        let scenario = Self::on(Env::start().await);
        scenario.start_operator(options);
        scenario.act(body).await
    }

    /// [`Scenario::run`] without an operator: the body starts what it needs
    /// ([`Scenario::start_operator`], or several [`Operator`]s of its own, which it stops).
    pub async fn run_without_operator<T>(body: impl AsyncFnOnce(&Scenario) -> T) -> T {
        Self::on(Env::start().await).act(body).await
    }

    /// [`Scenario::run`] on a namespace of its own that no admission webhook covers, so the
    /// body can store what the webhooks would deny: on a real cluster
    /// (`LOCUST_E2E_KUBECONFIG`), a namespace besides the Env's (whose webhooks select only
    /// the Env's namespace); with the harness, which calls its webhooks for every namespace,
    /// a harness without webhooks. The operator watches that namespace only.
    pub async fn run_without_admission<T>(
        options: Options,
        body: impl AsyncFnOnce(&Scenario) -> T,
    ) -> T {
        let (world, client, job_control) = if e2e::kubeconfig_path().is_some() {
            let env = Env::start().await;
            let (client, job_control) = (env.client().clone(), env.job_control());
            (World::Env(Box::new(env)), client, job_control)
        } else {
            let harness_options = jobs::harness_options();
            let job_control = JobControl::of_harness(&harness_options);
            let server = ApiServer::start_with(harness_options)
                .await
                .expect("start the harness API server");
            let crd = serde_json::to_value(locust_operator::crd::locust_test_crd().expect("CRD"))
                .expect("CRD as JSON");
            server.install_crd(&crd).await;
            let client = server.client().expect("a client for the harness");
            (World::Bare(server), client, job_control)
        };
        let namespace = objects::create_namespace(&client).await;
        let scenario = Self {
            world,
            place: TestNamespace::new(client, &namespace, job_control),
            operator: Mutex::new(None),
            namespaces: Mutex::new(vec![namespace]),
        };
        scenario.start_operator(options);
        scenario.act(body).await
    }

    fn on(env: Env) -> Self {
        Self {
            place: TestNamespace::of(&env),
            world: World::Env(Box::new(env)),
            operator: Mutex::new(None),
            namespaces: Mutex::new(Vec::new()),
        }
    }

    /// Runs `body` within [`e2e::TEST_TIMEOUT`], then tears down.
    async fn act<T>(self, body: impl AsyncFnOnce(&Scenario) -> T) -> T {
        let result = within(body(&self)).await;
        self.teardown().await;
        result
    }

    /// Stops the operator (if one runs), deletes the namespaces created for the scenario,
    /// and tears the [`Env`] down; every step bounded.
    async fn teardown(self) {
        let Self {
            world,
            place,
            operator,
            namespaces,
        } = self;
        let operator = operator
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(operator) = operator {
            operator.stop().await;
        }
        let namespaces = namespaces
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        for namespace in &namespaces {
            objects::delete_namespace(place.client(), namespace).await;
        }
        if let World::Env(env) = world {
            env.teardown().await;
        }
    }

    // -----------------------------------------------------------------------------------------
    // The API server

    /// The [`Env`]; panics in a scenario without one ([`Scenario::run_without_admission`]
    /// with the harness).
    pub fn env(&self) -> &Env {
        match &self.world {
            World::Env(env) => env,
            World::Bare(_) => panic!("this scenario runs on a harness without an Env"),
        }
    }

    /// The harness, in harness mode (fault injection, `sim`).
    pub fn harness(&self) -> Option<&ApiServer> {
        match &self.world {
            World::Env(env) => env.harness(),
            World::Bare(server) => Some(server),
        }
    }

    /// Whether this runs against a real API server (`LOCUST_E2E_KUBECONFIG`).
    pub fn is_real_cluster(&self) -> bool {
        match &self.world {
            World::Env(env) => env.is_real_cluster(),
            World::Bare(_) => false,
        }
    }

    /// [`Env::inject_init_container`].
    pub async fn inject_init_container(&self, key: &str, value: &str) {
        self.env().inject_init_container(key, value).await;
    }

    /// Creates another namespace on the same API server (not covered by the Env's webhooks
    /// in real-cluster mode), deleted at tear-down once the operator has stopped.
    pub async fn create_namespace(&self) -> TestNamespace {
        let name = objects::create_namespace(self.client()).await;
        self.namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.clone());
        self.place.sibling(&name)
    }

    // -----------------------------------------------------------------------------------------
    // The operator

    fn operator(&self) -> MutexGuard<'_, Option<Operator>> {
        self.operator.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the operator with `options`, watching the scenario's namespace (and
    /// [`Options::extra_namespaces`]); panics if one runs.
    pub fn start_operator(&self, options: Options) {
        let mut operator = self.operator();
        assert!(operator.is_none(), "the scenario's operator runs already");
        *operator = Some(Operator::start(
            self.client().clone(),
            self.namespace(),
            options,
        ));
    }

    /// Stops the operator as SIGTERM does and waits until it has ([`Operator::stop`]).
    pub async fn stop_operator(&self) {
        let operator = self.operator().take().expect("an operator runs");
        operator.stop().await;
    }

    /// Kills the operator without any clean-up ([`Operator::kill`]).
    pub fn kill_operator(&self) {
        self.operator().take().expect("an operator runs").kill();
    }

    /// The operator's metrics text.
    pub fn metrics_text(&self) -> String {
        self.operator()
            .as_ref()
            .expect("an operator runs")
            .metrics_text()
    }

    /// What the operator's probes read.
    pub fn state(&self) -> Arc<State> {
        Arc::clone(&self.operator().as_ref().expect("an operator runs").state)
    }

    /// Reconciles the operator finished so far, whatever their result.
    pub fn reconciles(&self) -> f64 {
        objects::reconciles_in(&self.metrics_text())
    }

    /// Waits until the operator finished a reconcile after `before` ([`Self::reconciles`])
    /// was read, then for [`QUIET`].
    pub async fn reconciled_since(&self, before: f64) {
        poll("a reconcile", WAIT, || async {
            let now = self.reconciles();
            if now > before { Ok(()) } else { Err(now) }
        })
        .await;
        tokio::time::sleep(QUIET).await;
    }
}

impl Deref for Scenario {
    type Target = TestNamespace;

    /// The namespace the operator watches and the test acts in.
    fn deref(&self) -> &TestNamespace {
        &self.place
    }
}
