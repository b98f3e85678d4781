//! CA injection: the bundle of the Secret goes into `webhooks[*].clientConfig.caBundle` of the
//! operator's MutatingWebhookConfiguration and ValidatingWebhookConfiguration, and into
//! `spec.conversion.webhook.clientConfig.caBundle` of the LocustTest CRD.
//!
//! Every replica injects, whenever a target's bundle differs from the Secret's (no write when
//! equal, so steady state costs three GETs per period). The writes are race-safe:
//! - a webhook configuration gets a JSON Patch with, per webhook, a `test` of its name at that
//!   index before the `add` of its caBundle, so a concurrent reordering of the list fails the
//!   patch (422) instead of writing into the wrong entry;
//! - the CRD gets a JSON merge patch of the one field.
//!
//! Concurrent replicas write the same value. A replica still holding an older Secret may write
//! an older bundle for one period; the next period of any replica writes the current one
//! back, and certificate switches wait [`super::Policy::propagation`] for exactly that reason.
//!
//! A target that does not exist (not installed yet) is not an error: it is injected once it
//! appears. The patch builders are pure functions of the target's JSON.

use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::core::DynamicObject;
use kube::discovery::ApiResource;
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::names::FIELD_MANAGER;

/// The `caBundle` value (base64 of the PEM bundle) as it appears in JSON.
pub fn encode(bundle: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bundle)
}

/// Whether a JSON `caBundle` value holds exactly `bundle`.
fn holds(value: Option<&Value>, bundle: &[u8]) -> bool {
    value
        .and_then(Value::as_str)
        .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
        .is_some_and(|current| current == bundle)
}

/// The JSON Patch setting `caBundle` of every webhook of a webhook configuration (its JSON)
/// to `bundle`, each guarded by a `test` of the webhook's name at its index; `None` when
/// every webhook already holds it (or there is none).
pub fn webhook_configuration_patch(configuration: &Value, bundle: &[u8]) -> Option<Value> {
    let webhooks = configuration.get("webhooks")?.as_array()?;
    let encoded = encode(bundle);
    let mut operations = Vec::new();
    for (index, webhook) in webhooks.iter().enumerate() {
        let Some(client_config) = webhook.get("clientConfig").filter(|c| c.is_object()) else {
            continue;
        };
        if holds(client_config.get("caBundle"), bundle) {
            continue;
        }
        let name = webhook.get("name").cloned().unwrap_or(Value::Null);
        operations
            .push(json!({"op": "test", "path": format!("/webhooks/{index}/name"), "value": name}));
        operations.push(json!({"op": "add", "path": format!("/webhooks/{index}/clientConfig/caBundle"), "value": encoded}));
    }
    (!operations.is_empty()).then_some(Value::Array(operations))
}

/// What the CRD needs.
#[derive(Clone, Debug, PartialEq)]
pub enum CrdInjection {
    /// Its conversion webhook already trusts the bundle.
    UpToDate,
    /// It does not convert through a webhook (`strategy: None`, or no client config): nothing
    /// to inject (adding a caBundle would make it invalid).
    NoWebhook,
    /// This JSON merge patch sets the bundle.
    Patch(Value),
}

/// What to write into a CRD (its JSON) so that its conversion webhook trusts `bundle`.
pub fn crd_conversion_patch(crd: &Value, bundle: &[u8]) -> CrdInjection {
    let conversion = crd.pointer("/spec/conversion");
    let by_webhook = conversion
        .and_then(|c| c.get("strategy"))
        .and_then(Value::as_str)
        == Some("Webhook");
    let Some(client_config) = conversion
        .and_then(|c| c.pointer("/webhook/clientConfig"))
        .filter(|c| c.is_object())
    else {
        return CrdInjection::NoWebhook;
    };
    if !by_webhook {
        return CrdInjection::NoWebhook;
    }
    if holds(client_config.get("caBundle"), bundle) {
        return CrdInjection::UpToDate;
    }
    CrdInjection::Patch(json!({
        "spec": {"conversion": {"webhook": {"clientConfig": {"caBundle": encode(bundle)}}}}
    }))
}

/// One place the bundle goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A MutatingWebhookConfiguration.
    Mutating(String),
    /// A ValidatingWebhookConfiguration.
    Validating(String),
    /// A CustomResourceDefinition's conversion webhook.
    Crd(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Mutating(name) => write!(f, "MutatingWebhookConfiguration {name}"),
            Self::Validating(name) => write!(f, "ValidatingWebhookConfiguration {name}"),
            Self::Crd(name) => write!(f, "CustomResourceDefinition {name}"),
        }
    }
}

/// How an injection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    /// It already held the bundle.
    UpToDate,
    /// The bundle was written.
    Updated,
    /// The target does not exist (yet).
    Missing,
    /// The target has nothing to inject into (a CRD without a conversion webhook).
    NotApplicable,
}

impl Target {
    fn api(&self, client: &Client) -> (Api<DynamicObject>, &str) {
        let (resource, name) = match self {
            Self::Mutating(name) => (
                ApiResource::erase::<MutatingWebhookConfiguration>(&()),
                name,
            ),
            Self::Validating(name) => (
                ApiResource::erase::<ValidatingWebhookConfiguration>(&()),
                name,
            ),
            Self::Crd(name) => (ApiResource::erase::<CustomResourceDefinition>(&()), name),
        };
        (Api::all_with(client.clone(), &resource), name)
    }

    /// Reads the target and writes `bundle` into it when it differs.
    pub async fn inject(&self, client: &Client, bundle: &[u8]) -> Result<Injected, kube::Error> {
        let (api, name) = self.api(client);
        let Some(object) = api.get_opt(name).await? else {
            return Ok(Injected::Missing);
        };
        let json = serde_json::to_value(&object).map_err(kube::Error::SerdeError)?;
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        match self {
            Self::Mutating(_) | Self::Validating(_) => {
                let Some(patch) = webhook_configuration_patch(&json, bundle) else {
                    return Ok(Injected::UpToDate);
                };
                let patch: json_patch::Patch =
                    serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
                api.patch(name, &params, &Patch::<()>::Json(patch)).await?;
            }
            Self::Crd(_) => match crd_conversion_patch(&json, bundle) {
                CrdInjection::UpToDate => return Ok(Injected::UpToDate),
                CrdInjection::NoWebhook => return Ok(Injected::NotApplicable),
                CrdInjection::Patch(patch) => {
                    api.patch(name, &params, &Patch::Merge(patch)).await?;
                }
            },
        }
        Ok(Injected::Updated)
    }
}
