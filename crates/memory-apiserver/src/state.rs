//! The state of one API server (its objects, webhooks, schemas, faults) and reads from its
//! storage as the API server's storage codec does them (schema defaults, then conversion to
//! the version asked for). The REST layer ([`crate::api`]), the garbage collector
//! ([`crate::gc`]) and watches ([`crate::watch`]) share it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use tokio::sync::RwLock;

use crate::faults::Faults;
use crate::resources::{self, ResourceType};
use crate::status::ApiError;
use crate::store::{Key, Store};
use crate::webhooks::{Services, Webhooks};

/// Shared state of one harness API server.
pub struct State {
    /// The objects.
    pub store: Store,
    /// The operator's webhooks, once registered (else the stored webhook configurations and
    /// the CRD's conversion webhook are used).
    pub webhooks: RwLock<Option<Webhooks>>,
    /// Endpoints of Services (for webhooks with a `service` client config).
    pub services: Services,
    /// Structural schemas of custom resources, by `group/version`, shared: every request on a
    /// custom resource reads its schema, which is large (a CRD's), so it is never copied.
    pub schemas: RwLock<std::collections::HashMap<String, std::sync::Arc<Value>>>,
    /// The CustomResourceDefinitions installed with [`crate::ApiServer::install_crd`], by
    /// name (`<plural>.<group>`): their names, printer columns and schemas for discovery,
    /// Tables and OpenAPI.
    pub crds: std::sync::RwLock<std::collections::BTreeMap<String, Value>>,
    /// Where `pods/log` reads container logs from ([`crate::ApiServer::set_logs`]).
    pub logs: std::sync::RwLock<Option<Arc<dyn crate::log_source::Logs>>>,
    /// Fault injection.
    pub faults: Faults,
    /// Whether a Job controller runs ([`crate::job_controller`]): then the control plane's
    /// reactions that are the Job controller's (letting go of a deleted Job's pods, see
    /// [`crate::gc::collect`]) happen too.
    pub job_controller: bool,
    next_ip: AtomicU32,
}

impl State {
    /// A fresh server state with the `default` and `kube-system` namespaces, for a server with
    /// a Job controller.
    pub fn new() -> Arc<Self> {
        Self::with_job_controller(true)
    }

    /// [`State::new`], saying whether a Job controller runs.
    pub fn with_job_controller(job_controller: bool) -> Arc<Self> {
        let state = Arc::new(Self {
            store: Store::new(),
            webhooks: RwLock::new(None),
            services: Services::default(),
            schemas: RwLock::default(),
            crds: std::sync::RwLock::default(),
            logs: std::sync::RwLock::new(None),
            faults: Faults::default(),
            job_controller,
            next_ip: AtomicU32::new(10),
        });
        for name in ["default", "kube-system"] {
            let namespaces = resources::all()
                .into_iter()
                .find(|r| r.plural == "namespaces");
            if let Some(namespaces) = namespaces {
                let mut object =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
                object["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
                crate::defaults::apply(&namespaces, &mut object, String::new);
                let _ = state
                    .store
                    .create(&namespaces, key(&namespaces, "", name), object);
            }
        }
        state
    }

    /// The CustomResourceDefinition of a custom resource: the one stored through the API, or
    /// else the one installed with [`crate::ApiServer::install_crd`].
    pub fn crd(&self, resource: &ResourceType) -> Option<Value> {
        if !resource.custom {
            return None;
        }
        let name = resource.qualified();
        let stored = resources::find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .and_then(|crds| self.store.get(&key(&crds, "", &name)));
        stored.or_else(|| {
            self.crds
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&name)
                .cloned()
        })
    }

    /// The source of container logs, if one is set.
    pub fn logs(&self) -> Option<Arc<dyn crate::log_source::Logs>> {
        self.logs
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The next free ClusterIP for a Service.
    pub(crate) fn service_ip(&self) -> String {
        let n = self.next_ip.fetch_add(1, Ordering::Relaxed);
        format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff)
    }
}

/// The store key of an object (in its resource's storage: `events.k8s.io` Events are keyed as
/// the core Events they are stored as).
pub fn key(resource: &ResourceType, namespace: &str, name: &str) -> Key {
    (
        resource.storage_group().to_owned(),
        resource.plural.to_owned(),
        if resource.namespaced {
            namespace.to_owned()
        } else {
            String::new()
        },
        name.to_owned(),
    )
}

/// How a delete propagates to dependents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// Delete the owner now, dependents in the background.
    Background,
    /// Delete dependents first, the owner last.
    Foreground,
    /// Keep dependents, removing their owner reference.
    Orphan,
}

/// Reads a stored custom resource the way the API server's storage codec does: the storage
/// version's schema defaults are applied on every decode from storage, then the object is
/// converted to `api_version`. Built-in objects are returned as they are, except Events read
/// through the other Event API, which are converted to it.
pub async fn from_storage(
    state: &Arc<State>,
    object: Value,
    api_version: &str,
) -> Result<Value, ApiError> {
    let object = storage_defaults(state, object).await;
    convert(state, object, api_version).await
}

/// A custom resource in its storage version with that version's schema defaults. Applied on
/// reads (as the API server's storage codec does) and on writes (so that a stored object and
/// its reads compare equal, as the API server's decoded objects do).
pub(crate) async fn storage_defaults(state: &Arc<State>, object: Value) -> Value {
    let version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let schema = state.schemas.read().await.get(&version).cloned();
    match schema {
        Some(schema) => {
            let mut defaulted = kube::core::cel::apply_defaults(&schema, &object);
            if let Value::Object(map) = &mut defaulted {
                map.retain(|_, v| !v.is_null());
            }
            defaulted
        }
        None => object,
    }
}

/// Converts an object to `api_version`: Events between core `v1` and `events.k8s.io/v1` as the
/// API server's built-in conversion does, custom resources through the conversion webhook
/// (no-op when it already has that version or is not a multi-version custom resource).
pub async fn convert(
    state: &Arc<State>,
    object: Value,
    api_version: &str,
) -> Result<Value, ApiError> {
    let current = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if current == api_version || current.is_empty() {
        return Ok(object);
    }
    // Built-in conversions (Events between core `v1` and `events.k8s.io/v1`).
    if let Some(converted) = crate::events::convert(&object, api_version) {
        return Ok(converted);
    }
    let fixed = state.webhooks.read().await.clone();
    let (webhooks, path) = match fixed {
        Some(webhooks) => (webhooks, "/convert".to_owned()),
        None => stored_conversion(state, &object, &current)?,
    };
    let mut converted = webhooks
        .convert_at(&path, vec![object], api_version)
        .await
        .map_err(|e| {
            ApiError::internal(format!(
                "conversion webhook for {current}, Kind=LocustTest failed: {e}"
            ))
        })?;
    converted
        .pop()
        .ok_or_else(|| ApiError::internal("the conversion webhook returned no object"))
}

/// The conversion webhook of the stored CRD of `object` (of `api_version`), with the
/// `caBundle` stored in its client config.
fn stored_conversion(
    state: &Arc<State>,
    object: &Value,
    api_version: &str,
) -> Result<(Webhooks, String), ApiError> {
    let not_registered = || {
        ApiError::internal(format!(
            "conversion webhook for {api_version} is not registered"
        ))
    };
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let resource = resources::by_kind(api_version, kind).ok_or_else(not_registered)?;
    let crds = resources::find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .ok_or_else(not_registered)?;
    let crd = state
        .store
        .get(&key(&crds, "", &resource.qualified()))
        .ok_or_else(not_registered)?;
    let client_config =
        crate::webhooks::conversion_client_config(&crd).ok_or_else(not_registered)?;
    crate::webhooks::client_for(
        client_config,
        &state.services,
        std::time::Duration::from_secs(10),
    )
    .map_err(|e| {
        ApiError::internal(format!(
            "conversion webhook for {api_version}, Kind={kind} failed: {e}"
        ))
    })
}
