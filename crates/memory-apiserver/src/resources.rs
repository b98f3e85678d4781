//! The resource types the harness serves, with the facts the API server's behaviour depends
//! on: group/version/kind, plural, scope, status subresource, whether it is a custom resource.

/// One served resource type (one version of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Version served.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource name (URL segment, `details.kind` of errors).
    pub plural: &'static str,
    /// Singular name.
    pub singular: &'static str,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Has a `/status` subresource (main-resource writes ignore status and vice versa).
    pub status: bool,
    /// A custom resource (CRD): keys sorted, list items carry kind/apiVersion, PUT needs a
    /// resourceVersion, strategic merge patch is refused.
    pub custom: bool,
    /// Short names for discovery.
    pub short_names: &'static [&'static str],
    /// Whether `metadata.generation` is maintained (bumped on spec changes).
    pub generation: bool,
    /// The version objects are stored in (for multi-version resources).
    pub storage_version: &'static str,
}

impl ResourceType {
    /// `group/version`, or `version` for core.
    pub fn api_version(&self) -> String {
        api_version(self.group, self.version)
    }

    /// The group of the resource whose storage this one shares: `events.k8s.io` Events live in
    /// the core `events` storage (kube-apiserver serves both from one registry), every other
    /// resource in its own.
    pub fn storage_group(&self) -> &'static str {
        match (self.group, self.plural) {
            ("events.k8s.io", "events") => "",
            _ => self.group,
        }
    }

    /// The storage `apiVersion` (core `v1` for `events.k8s.io` Events).
    pub fn storage_api_version(&self) -> String {
        api_version(self.storage_group(), self.storage_version)
    }

    /// `plural` or `plural.group`, as in error messages (`jobs.batch "x" not found`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Key identifying the resource across versions.
    pub fn group_resource(&self) -> (&'static str, &'static str) {
        (self.group, self.plural)
    }

    /// Short names in discovery (`kubectl get po`).
    pub fn discovery_short_names(&self) -> &'static [&'static str] {
        if !self.short_names.is_empty() {
            return self.short_names;
        }
        match (self.group, self.plural) {
            ("", "namespaces") => &["ns"],
            ("", "pods") => &["po"],
            ("", "services") => &["svc"],
            ("", "events") | ("events.k8s.io", "events") => &["ev"],
            ("", "configmaps") => &["cm"],
            ("batch", "cronjobs") => &["cj"],
            ("apiextensions.k8s.io", "customresourcedefinitions") => &["crd", "crds"],
            _ => &[],
        }
    }

    /// Discovery categories (`kubectl get all`).
    pub fn categories(&self) -> &'static [&'static str] {
        match (self.group, self.plural) {
            ("", "pods" | "services") | ("batch", "jobs" | "cronjobs") => &["all"],
            ("apiextensions.k8s.io", "customresourcedefinitions")
            | (
                "admissionregistration.k8s.io",
                "mutatingwebhookconfigurations" | "validatingwebhookconfigurations",
            ) => &["api-extensions"],
            _ => &[],
        }
    }

    /// Discovery's `storageVersionHash`: base64 of the first 8 bytes of the SHA-256 of
    /// `<group>/<storage version>/<kind>` (precomputed). Resources sharing a storage share the
    /// hash: `events.k8s.io` Events have the core Events' one.
    pub fn storage_version_hash(&self) -> Option<&'static str> {
        let hash = match (self.storage_group(), self.kind) {
            ("", "Namespace") => "Q3oi5N2YM8M=",
            ("", "Pod") => "xPOwRZ+Yhw8=",
            ("", "Service") => "0/CO1lhkEBI=",
            ("", "Event") => "r2yiGXH7wu8=",
            ("", "ConfigMap") => "qFsyl6wFWjQ=",
            ("", "Secret") => "S6u1pOWzb84=",
            ("batch", "Job") => "mudhfqk/qZY=",
            ("batch", "CronJob") => "sd5LIXh4Fjs=",
            ("coordination.k8s.io", "Lease") => "gqkMMb/YqFM=",
            ("apiextensions.k8s.io", "CustomResourceDefinition") => "M5uH+AlWATY=",
            ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => "Sqi0GUgDaX0=",
            ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => "B0wHjQmsGNk=",
            ("locust.io", "LocustTest") => "C/qTNsmYOqk=",
            _ => return None,
        };
        Some(hash)
    }

    /// DELETE answers with the object even when it is removed at once (pods and services),
    /// instead of a `Status`.
    pub fn returns_deleted_object(&self) -> bool {
        matches!((self.group, self.plural), ("", "pods" | "services"))
    }

    /// Deleted gracefully: a DELETE first sets `deletionTimestamp` (a MODIFIED event), and the
    /// object goes once the grace period (0 for unscheduled pods) is over and no finalizer is
    /// left.
    pub fn graceful_delete(&self) -> bool {
        (self.group, self.plural) == ("", "pods")
    }
}

/// `group/version`, or `version` for core.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

#[allow(clippy::too_many_arguments)] // a table of constants reads best positionally
const fn builtin(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    status: bool,
    generation: bool,
) -> ResourceType {
    ResourceType {
        group,
        version,
        kind,
        plural,
        singular,
        namespaced,
        status,
        custom: false,
        short_names: &[],
        generation,
        storage_version: version,
    }
}

/// Every resource type served.
pub fn all() -> Vec<ResourceType> {
    vec![
        builtin(
            "",
            "v1",
            "Namespace",
            "namespaces",
            "namespace",
            false,
            true,
            false,
        ),
        builtin("", "v1", "Pod", "pods", "pod", true, true, false),
        builtin(
            "", "v1", "Service", "services", "service", true, true, false,
        ),
        builtin("", "v1", "Event", "events", "event", true, false, false),
        builtin(
            "",
            "v1",
            "ConfigMap",
            "configmaps",
            "configmap",
            true,
            false,
            false,
        ),
        builtin("", "v1", "Secret", "secrets", "secret", true, false, false),
        builtin("batch", "v1", "Job", "jobs", "job", true, true, true),
        builtin(
            "batch", "v1", "CronJob", "cronjobs", "cronjob", true, true, true,
        ),
        builtin(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            "event",
            true,
            false,
            false,
        ),
        builtin(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            "lease",
            true,
            false,
            false,
        ),
        // Webhook configurations: plain storage (cluster-scoped, generation bumped when
        // `webhooks` change). Admission of LocustTests calls the webhooks they configure when
        // no fixed webhooks are registered (see `webhooks`).
        builtin(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            "mutatingwebhookconfiguration",
            false,
            false,
            true,
        ),
        builtin(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            false,
            false,
            true,
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            "customresourcedefinition",
            false,
            true,
            true,
        ),
        ResourceType {
            group: "locust.io",
            version: "v2",
            kind: "LocustTest",
            plural: "locusttests",
            singular: "locusttest",
            namespaced: true,
            status: true,
            custom: true,
            short_names: &["lotest"],
            generation: true,
            storage_version: "v2",
        },
        ResourceType {
            group: "locust.io",
            version: "v1",
            kind: "LocustTest",
            plural: "locusttests",
            singular: "locusttest",
            namespaced: true,
            status: true,
            custom: true,
            short_names: &["lotest"],
            generation: true,
            storage_version: "v2",
        },
    ]
}

/// The type served at `group/version/plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<ResourceType> {
    all()
        .into_iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The type of `apiVersion` + `kind`.
pub fn by_kind(api_version: &str, kind: &str) -> Option<ResourceType> {
    all()
        .into_iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}
