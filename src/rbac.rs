//! The permissions the operator needs, derived from the code: each component lists the API
//! requests it makes, next to the code that makes them, as [`ApiCall`]s:
//!
//! - [`crate::operator::API_CALLS`]: the start-up check that the CRD is served;
//! - [`crate::controller::API_CALLS`]: the controller (its caches, its writes, its events);
//! - [`crate::leader::API_CALLS`]: leader election on the Lease;
//! - [`crate::certs::API_CALLS`]: self-managed webhook certificates.
//!
//! [`api_calls`] puts together the lists of a process started with given flags, and
//! [`Names`] resolves the objects calls are limited to. The install manifests (`deploy/`, the
//! Helm chart) grant exactly these calls, no more (tests/deploy/ computes the expected rules
//! from them); tests record every request each component really sends to an API server and
//! compare it with its list (tests/rbac.rs, tests/self_managed_certs.rs), so a list can neither
//! miss a call nor keep one the code no longer makes.

pub use crate::api_call::{ApiCall, Need, Scope, Target};
use crate::flags::{CertMode, ProcessFlags};

/// Every API call a process started with `flags` can make: the start-up CRD check and the
/// controller always, leader election with `--leader-elect`, the certificate manager with
/// `--certs=self-managed`. (The same call may be listed by several components.)
pub fn api_calls(flags: &ProcessFlags) -> Vec<ApiCall> {
    let mut calls = Vec::new();
    calls.extend(crate::operator::API_CALLS);
    calls.extend(crate::controller::API_CALLS);
    if flags.leader_elect {
        calls.extend(crate::leader::API_CALLS);
    }
    if flags.certs.mode == CertMode::SelfManaged {
        calls.extend(crate::certs::API_CALLS);
    }
    calls
}

/// The names of the objects [`Target`]s stand for in a process started with given flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// `--leader-election-id`.
    pub lease: String,
    /// `--cert-secret`.
    pub secret: String,
    /// `--mutating-webhook-configuration`.
    pub mutating_webhook_configuration: String,
    /// `--validating-webhook-configuration`.
    pub validating_webhook_configuration: String,
    /// The LocustTest CRD.
    pub crd: String,
}

impl Names {
    /// The names `flags` give.
    pub fn from_flags(flags: &ProcessFlags) -> Self {
        Self {
            lease: flags.leader_election_id.clone(),
            secret: flags.certs.cert_secret.clone(),
            mutating_webhook_configuration: flags.certs.mutating_webhook_configuration.clone(),
            validating_webhook_configuration: flags.certs.validating_webhook_configuration.clone(),
            crd: crate::certs::CRD_NAME.to_owned(),
        }
    }

    /// The name `target` stands for (`None`: any name).
    pub fn of(&self, target: Target) -> Option<&str> {
        match target {
            Target::Any => None,
            Target::Lease => Some(&self.lease),
            Target::Secret => Some(&self.secret),
            Target::MutatingWebhookConfiguration => Some(&self.mutating_webhook_configuration),
            Target::ValidatingWebhookConfiguration => Some(&self.validating_webhook_configuration),
            Target::Crd => Some(&self.crd),
        }
    }
}
