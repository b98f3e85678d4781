//! One kind of request a component makes of the Kubernetes API, as RBAC sees it
//! ([`ApiCall`]). Each component lists the calls it makes next to the code that makes them
//! (its `API_CALLS`); [`crate::rbac`] puts the lists of a process together.

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
