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
//! Helm chart) grant exactly these calls, no more (tests/deploy.rs computes the expected rules
//! from them); tests record every request each component really sends to an API server and
//! compare it with its list (tests/rbac.rs, tests/self_managed_certs.rs), so a list can neither
//! miss a call nor keep one the code no longer makes.

use crate::config::{CertMode, ProcessFlags};

/// Where the objects of an API call are, which decides the kind of role granting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Cluster-scoped objects: a ClusterRole.
    Cluster,
    /// The namespaces the controller watches: a ClusterRole when it watches all of them
    /// (no `WATCH_NAMESPACE`), else a Role in each namespace of `WATCH_NAMESPACE`.
    Watched,
    /// The operator's own namespace (`POD_NAMESPACE`): a Role there.
    Operator,
    /// The Lease's namespace (`--leader-election-namespace`, by default the operator's own):
    /// a Role there.
    Lease,
}

/// The object an API call is limited to (what RBAC `resourceNames` can name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// Any object of the scope: the name is not in the request path (`create`, `list`,
    /// `watch`), or the objects are the users' (their LocustTests and the children named after
    /// them).
    Any,
    /// The leader-election Lease `--leader-election-id`.
    Lease,
    /// The self-managed certificates' Secret `--cert-secret`.
    Secret,
    /// The MutatingWebhookConfiguration `--mutating-webhook-configuration`.
    MutatingWebhookConfiguration,
    /// The ValidatingWebhookConfiguration `--validating-webhook-configuration`.
    ValidatingWebhookConfiguration,
    /// The LocustTest CRD ([`crate::certs::CRD_NAME`]).
    Crd,
}

/// Why an [`ApiCall`] needs its permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// The code sends this request.
    Request,
    /// Required by admission, not requested: the code never sends this request, but an
    /// admission plugin of the API server checks this permission when the code makes another
    /// request (the entry's documentation says which and why).
    Admission,
}

/// One kind of API request, as RBAC sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiCall {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Resource (plural), with its subresource: `locusttests/status`.
    pub resource: &'static str,
    /// RBAC verb: `get` (GET of one object), `list` (GET of a collection), `watch` (GET with
    /// `?watch=true`), `create` (POST), `update` (PUT), `patch` (PATCH), `delete` (DELETE).
    pub verb: &'static str,
    /// Where the objects are.
    pub scope: Scope,
    /// The object it is limited to.
    pub target: Target,
    /// Whether the code sends it.
    pub need: Need,
}

impl ApiCall {
    /// A request the code sends.
    pub const fn request(
        group: &'static str,
        resource: &'static str,
        verb: &'static str,
        scope: Scope,
        target: Target,
    ) -> Self {
        Self {
            group,
            resource,
            verb,
            scope,
            target,
            need: Need::Request,
        }
    }

    /// A permission required by admission for another request, never requested itself
    /// ([`Need::Admission`]).
    pub const fn admission(
        group: &'static str,
        resource: &'static str,
        verb: &'static str,
        scope: Scope,
    ) -> Self {
        Self {
            need: Need::Admission,
            ..Self::request(group, resource, verb, scope, Target::Any)
        }
    }

    /// True when the code sends this request (not only admission needs it).
    pub const fn is_requested(&self) -> bool {
        matches!(self.need, Need::Request)
    }
}

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
