//! Self-managed webhook certificates (`run --certs=self-managed`): no cert-manager needed.
//!
//! Every replica runs [`run`], which every `interval` (`--cert-reload-interval`):
//! 1. reads the Secret `--cert-secret` in the operator's namespace ([`secret`]);
//! 2. decides what it needs ([`rotation::decide`], pure): create it, replace garbage, rotate the
//!    serving certificate, roll the CA over, trim the bundle, or nothing;
//! 3. writes that, race-safe: create (409 `AlreadyExists`: another replica won, use theirs) or
//!    replace with the `resourceVersion` read (409 `Conflict`: another replica wrote first);
//!    the loser reads again;
//! 4. serves the Secret's `tls.crt`/`tls.key` from memory, swapped without a restart
//!    ([`crate::webhook::tls::ReloadingCert::set_pem`]); `/readyz` fails until the first one
//!    is served;
//! 5. injects the bundle (`ca.crt`, minus expired CAs) into both webhook configurations and
//!    the CRD's conversion webhook when it differs ([`inject`]).
//!
//! The Secret holds the CA's key (see [`secret`]); serving certificates are made for the
//! webhook Service's DNS names ([`Policy::dns_names`]). Rotation needs no leader: every replica
//! decides the same from the same Secret, and the preconditions let one write win. A CA
//! rollover keeps the old CA in the bundle until every replica serves a certificate of the new
//! one ([`rotation`] has the rules), so admission never sees an untrusted certificate.
//!
//! Failures (API errors, missing webhook configurations) are logged once per change and
//! retried next period; the process never exits for lack of a certificate.

pub mod generate;
pub mod inject;
pub mod rotation;
pub mod secret;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use crate::flags::CertFlags;
use crate::webhook::tls::ReloadingCert;
pub use generate::{Contents, GenerateError, Inspected, execute, inspect};
pub use inject::{Injected, Target};
pub use rotation::{Action, Policy, PolicyError, SecretFacts, Verdict, Why, decide};
use secret::Written;

/// Name of the CRD whose conversion webhook gets the bundle.
pub const CRD_NAME: &str = "locusttests.locust.io";

/// The object an API call of [`API_CALLS`] is limited to ([`crate::api_call::Target`]).
pub use crate::api_call::Target as CallTarget;
pub use crate::api_call::{ApiCall, Scope};

/// Every API request of `--certs=self-managed`, for the RBAC rules of the install manifests
/// (tests/self_managed_certs.rs records what the manager really calls and compares it with
/// this list; see [`crate::rbac`]): the Secret, in the operator's namespace, is read, created
/// (when missing; `create` cannot be limited to a name) and replaced; each injection target is
/// read and patched.
pub const API_CALLS: [ApiCall; 9] = [
    ApiCall::request("", "secrets", "get", Scope::Operator, CallTarget::Secret),
    ApiCall::request("", "secrets", "create", Scope::Operator, CallTarget::Any),
    ApiCall::request("", "secrets", "update", Scope::Operator, CallTarget::Secret),
    ApiCall::request(
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        "get",
        Scope::Cluster,
        CallTarget::MutatingWebhookConfiguration,
    ),
    ApiCall::request(
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        "patch",
        Scope::Cluster,
        CallTarget::MutatingWebhookConfiguration,
    ),
    ApiCall::request(
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        "get",
        Scope::Cluster,
        CallTarget::ValidatingWebhookConfiguration,
    ),
    ApiCall::request(
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        "patch",
        Scope::Cluster,
        CallTarget::ValidatingWebhookConfiguration,
    ),
    ApiCall::request(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "get",
        Scope::Cluster,
        CallTarget::Crd,
    ),
    ApiCall::request(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "patch",
        Scope::Cluster,
        CallTarget::Crd,
    ),
];

/// Writes to the Secret attempted in one period before giving up until the next (each lost
/// race costs one).
const MAX_WRITES_PER_PERIOD: usize = 3;

/// What the certificate manager works on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The operator's namespace (the Secret's and the Service's).
    pub namespace: String,
    /// The Secret.
    pub secret: String,
    /// The webhook Service (the certificate's DNS names).
    pub service: String,
    /// The MutatingWebhookConfiguration to inject into.
    pub mutating_webhook_configuration: String,
    /// The ValidatingWebhookConfiguration to inject into.
    pub validating_webhook_configuration: String,
    /// The CRD to inject into.
    pub crd: String,
    /// Validities and renewal thresholds.
    pub policy: Policy,
    /// How often the Secret is read (and the targets checked).
    pub interval: Duration,
}

impl Settings {
    /// The settings of `--certs=self-managed`: `flags`, the operator's `namespace`, the default
    /// [`Policy`], every `interval`.
    pub fn from_flags(flags: &CertFlags, namespace: &str, interval: Duration) -> Self {
        Self {
            namespace: namespace.to_owned(),
            secret: flags.cert_secret.clone(),
            service: flags.webhook_service.clone(),
            mutating_webhook_configuration: flags.mutating_webhook_configuration.clone(),
            validating_webhook_configuration: flags.validating_webhook_configuration.clone(),
            crd: CRD_NAME.to_owned(),
            policy: Policy::default(),
            interval,
        }
    }

    /// The serving certificate's DNS names.
    pub fn dns_names(&self) -> Vec<String> {
        Policy::dns_names(&self.service, &self.namespace)
    }

    /// The three injection targets.
    pub fn targets(&self) -> [Target; 3] {
        [
            Target::Mutating(self.mutating_webhook_configuration.clone()),
            Target::Validating(self.validating_webhook_configuration.clone()),
            Target::Crd(self.crd.clone()),
        ]
    }
}

/// Why the certificate manager cannot run.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// The policy's periods do not fit together.
    #[error("self-managed certificates: {0}")]
    Policy(#[from] PolicyError),
}

/// Why one period failed (logged; retried next period).
#[derive(Debug, thiserror::Error)]
enum PeriodError {
    #[error("reading Secret {0}: {1}")]
    Read(String, #[source] kube::Error),
    #[error("writing Secret {0}: {1}")]
    Write(String, #[source] kube::Error),
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error("Secret {0} kept changing under us; trying again next period")]
    Contended(String),
}

/// One replica's certificate manager (state carried between periods).
struct Manager {
    client: Client,
    secrets: Api<Secret>,
    settings: Settings,
    names: Vec<String>,
    cert: Arc<ReloadingCert>,
    /// The serving pair last loaded.
    served: Option<(Vec<u8>, Vec<u8>)>,
    /// The bundle every target was last seen holding (`None`: not confirmed).
    injected: Option<Vec<u8>>,
    /// Last message logged per subject, to log each change once.
    reported: BTreeMap<String, String>,
}

/// Runs the certificate manager until `shutdown` is cancelled, feeding `cert` (the webhook
/// server's certificate). Fails only for invalid settings.
pub async fn run(
    client: Client,
    settings: Settings,
    cert: Arc<ReloadingCert>,
    shutdown: CancellationToken,
) -> Result<(), CertsError> {
    settings.policy.validate()?;
    tracing::info!(
        secret = %format!("{}/{}", settings.namespace, settings.secret),
        dns_names = ?settings.dns_names(),
        mutating = %settings.mutating_webhook_configuration,
        validating = %settings.validating_webhook_configuration,
        crd = %settings.crd,
        "self-managed webhook certificates"
    );
    let mut manager = Manager {
        secrets: Api::namespaced(client.clone(), &settings.namespace),
        names: settings.dns_names(),
        client,
        settings,
        cert,
        served: None,
        injected: None,
        reported: BTreeMap::new(),
    };
    loop {
        let wait = match manager.period().await {
            Ok(wait) => {
                manager.resolved("period");
                wait
            }
            Err(error) => {
                manager.report_warn("period", &error.to_string());
                manager.settings.interval
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

impl Manager {
    fn secret_name(&self) -> String {
        format!("{}/{}", self.settings.namespace, self.settings.secret)
    }

    /// Logs `message` as a warning when it differs from the last one about `subject`.
    fn report_warn(&mut self, subject: &str, message: &str) {
        if self.reported.get(subject).map(String::as_str) != Some(message) {
            tracing::warn!(subject, "{message}");
            self.reported.insert(subject.to_owned(), message.to_owned());
        } else {
            tracing::debug!(subject, "{message}");
        }
    }

    /// Logs `message` at info level when it differs from the last one about `subject`.
    fn report_info(&mut self, subject: &str, message: &str) {
        if self.reported.get(subject).map(String::as_str) != Some(message) {
            tracing::info!(subject, "{message}");
            self.reported.insert(subject.to_owned(), message.to_owned());
        }
    }

    /// Forgets the last message about `subject` (the problem went away).
    fn resolved(&mut self, subject: &str) {
        if self.reported.remove(subject).is_some() {
            tracing::debug!(subject, "resolved");
        }
    }

    /// One period: read, decide, write, serve, inject. Returns how long to wait.
    async fn period(&mut self) -> Result<Duration, PeriodError> {
        let name = self.secret_name();
        for _ in 0..MAX_WRITES_PER_PERIOD {
            let current = self
                .secrets
                .get_opt(&self.settings.secret)
                .await
                .map_err(|e| PeriodError::Read(name.clone(), e))?;
            let now = SystemTime::now();
            let contents = current.as_ref().map(secret::contents);
            let inspected = contents.as_ref().map(|c| inspect(c, &self.names));
            let bundle_injected = inspected
                .as_ref()
                .is_some_and(|i| self.injected.as_deref() == Some(&i.current_bundle(now)[..]));
            let verdict = decide(
                inspected.as_ref().map(|i| &i.observed),
                now,
                &self.settings.policy,
                bundle_injected,
            );
            let in_effect = match verdict.action {
                Action::Keep => current,
                action => {
                    let Some(next) = execute(
                        action,
                        contents.as_ref().zip(inspected.as_ref()),
                        &self.names,
                        now,
                        &self.settings.policy,
                    )?
                    else {
                        continue;
                    };
                    log_action(action, &name);
                    match secret::write(
                        &self.secrets,
                        &self.settings.secret,
                        &self.settings.namespace,
                        current.as_ref(),
                        next,
                    )
                    .await
                    .map_err(|e| PeriodError::Write(name.clone(), e))?
                    {
                        Written::Stored(secret) => Some(*secret),
                        Written::Lost => {
                            tracing::info!(
                                secret = %name,
                                "another replica wrote the Secret first; using theirs"
                            );
                            continue;
                        }
                    }
                }
            };
            let Some(in_effect) = in_effect else {
                continue;
            };
            let contents = secret::contents(&in_effect);
            let inspected = inspect(&contents, &self.names);
            self.serve(&contents, &inspected);
            let bundle = inspected.current_bundle(SystemTime::now());
            self.inject(&bundle).await;
            let wait = match verdict.recheck_at {
                Some(at) => at
                    .duration_since(SystemTime::now())
                    .ok()
                    .filter(|wait| !wait.is_zero())
                    .map_or(self.settings.interval, |wait| {
                        wait.min(self.settings.interval)
                    }),
                None => self.settings.interval,
            };
            return Ok(wait);
        }
        Err(PeriodError::Contended(name))
    }

    /// Serves the Secret's serving pair when it changed and is usable.
    fn serve(&mut self, contents: &Contents, inspected: &Inspected) {
        let pair = (contents.tls_crt.clone(), contents.tls_key.clone());
        if self.served.as_ref() == Some(&pair) {
            return;
        }
        let origin = format!("Secret {}", self.secret_name());
        match self.cert.set_pem(&pair.0, &pair.1, &origin) {
            Ok(()) => {
                let now = SystemTime::now();
                let valid_for = inspected
                    .observed
                    .serving
                    .map(|serving| rotation::human(serving.validity.remaining(now)))
                    .unwrap_or_else(|| "?".to_owned());
                let ca_valid_for = rotation::signer(&inspected.observed, now)
                    .map(|index| {
                        rotation::human(inspected.observed.cas[index].validity.remaining(now))
                    })
                    .unwrap_or_else(|| "?".to_owned());
                tracing::info!(
                    secret = %self.secret_name(),
                    %valid_for,
                    ca_valid_for = %ca_valid_for,
                    "serving the webhook certificate of the Secret"
                );
                self.served = Some(pair);
                self.resolved("serve");
            }
            Err(error) => {
                let message = if self.cert.is_loaded() {
                    format!("unusable serving certificate; still serving the previous one: {error}")
                } else {
                    format!("unusable serving certificate; not ready: {error}")
                };
                self.report_warn("serve", &message);
            }
        }
    }

    /// Injects `bundle` into every target; remembers it as injected when all went through.
    async fn inject(&mut self, bundle: &[u8]) {
        if bundle.is_empty() {
            // No valid CA to trust (never after a write of ours): inject nothing.
            self.injected = None;
            return;
        }
        // Checked every period even when unchanged: a re-applied manifest resets a target.
        let mut complete = true;
        for target in self.settings.targets() {
            let subject = target.to_string();
            match target.inject(&self.client, bundle).await {
                Ok(Injected::Updated) => {
                    tracing::info!(target = %subject, "injected the CA bundle");
                    self.resolved(&subject);
                }
                Ok(Injected::UpToDate | Injected::NotApplicable) => self.resolved(&subject),
                Ok(Injected::Missing) => self.report_info(
                    &subject,
                    &format!(
                        "{subject} does not exist yet; its CA bundle is injected once it does"
                    ),
                ),
                Err(error) => {
                    complete = false;
                    self.report_warn(
                        &subject,
                        &format!("cannot inject the CA bundle into {subject}: {error}"),
                    );
                }
            }
        }
        self.injected = complete.then(|| bundle.to_vec());
    }
}

fn log_action(action: Action, secret: &str) {
    match action {
        Action::Keep => {}
        Action::Create => {
            tracing::info!(%secret, "creating the Secret with a new CA and serving certificate");
        }
        Action::Replace(why) => {
            tracing::warn!(%secret, reason = %why, "replacing the Secret's content with a new CA and serving certificate");
        }
        Action::AddCa(why) => {
            tracing::info!(%secret, reason = %why, "CA rollover: adding a new CA to the bundle; the serving certificate switches once it has propagated");
        }
        Action::IssueServing(why) => {
            tracing::info!(%secret, reason = %why, "issuing a new serving certificate");
        }
        Action::TrimBundle => {
            tracing::info!(%secret, "CA rollover complete: removing the previous CA from the bundle");
        }
    }
}
