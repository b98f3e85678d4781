//! `locust.io/v1` <-> `locust.io/v2` conversion, as pure functions.
//!
//! - v1 -> v2 follows the Go operator: seeds become commands, `workerReplicas` becomes
//!   `worker.replicas`, autostart `true` and autoquit `{enabled: true, timeout: 60}` are made
//!   explicit, ConfigMaps become `testFiles`, each node-affinity `key: value` becomes an `In`
//!   requirement of a single node-selector term (sorted by key), tolerations and per-role
//!   labels/annotations are copied. v1 -> v2 -> v1 is lossless.
//! - v2 -> v1 keeps what v1 can express (only `In` node-affinity requirements with a value
//!   survive, with their first value). Where that loses anything, the complete v2 spec is
//!   stashed in the [`V2_SPEC_ANNOTATION`] annotation of the v1 object, and v1 -> v2 restores
//!   it, so v2 -> v1 -> v2 is lossless too. A field a v1 client *changed* wins over the stash;
//!   what v1 never showed (pod affinity, preferred node affinity, tolerations v1 cannot
//!   express) is kept even then.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, LocalObjectReference, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, Toleration,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::{API_VERSION_V1, API_VERSION_V2, KIND, v1, v2};
use crate::defaulting;

/// Annotation on the v1 form of a v2 object that holds the complete v2 spec (compact JSON)
/// when v1 cannot express all of it. It never appears on the stored (v2) object.
pub const V2_SPEC_ANNOTATION: &str = "locust.io/v2-spec";

/// Why an object could not be converted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConversionError {
    /// The object has no `apiVersion`, or one this operator does not serve.
    #[error("unsupported apiVersion {0:?}: expected locust.io/v1 or locust.io/v2")]
    UnsupportedVersion(String),
    /// The object is not a LocustTest.
    #[error("unsupported kind {0:?}: expected LocustTest")]
    UnsupportedKind(String),
    /// The object does not parse as a LocustTest of its version.
    #[error("invalid {api_version} LocustTest: {path}: {message}")]
    Invalid {
        /// The object's apiVersion.
        api_version: String,
        /// JSON path of the offending field (`.` for the whole object).
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Converts one object (JSON, as found in a ConversionReview) to `desired_api_version`.
/// An object already in that version is returned unchanged.
pub fn convert_object(object: Value, desired_api_version: &str) -> Result<Value, ConversionError> {
    let field = |name: &str| {
        object
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if kind != KIND {
        return Err(ConversionError::UnsupportedKind(kind));
    }
    for version in [api_version.as_str(), desired_api_version] {
        if version != API_VERSION_V1 && version != API_VERSION_V2 {
            return Err(ConversionError::UnsupportedVersion(version.to_owned()));
        }
    }
    if api_version == desired_api_version {
        return Ok(object);
    }
    if api_version == API_VERSION_V1 {
        let test: v1::LocustTest = parse(object, API_VERSION_V1)?;
        to_json(&v1_to_v2(test))
    } else {
        let test: v2::LocustTest = parse(object, API_VERSION_V2)?;
        to_json(&v2_to_v1(test))
    }
}

fn parse<T: DeserializeOwned>(object: Value, api_version: &str) -> Result<T, ConversionError> {
    serde_path_to_error::deserialize(object).map_err(|e| ConversionError::Invalid {
        api_version: api_version.to_owned(),
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

fn to_json<T: Serialize>(object: &T) -> Result<Value, ConversionError> {
    // Serializing our own types to a JSON value cannot fail (string keys, no NaN floats).
    serde_json::to_value(object).map_err(|e| ConversionError::Invalid {
        api_version: API_VERSION_V2.to_owned(),
        path: ".".to_owned(),
        message: e.to_string(),
    })
}

/// v1 object -> v2 object: metadata unchanged except that the stash annotation is consumed.
pub fn v1_to_v2(test: v1::LocustTest) -> v2::LocustTest {
    let mut metadata = test.metadata;
    let stash = metadata
        .annotations
        .as_mut()
        .and_then(|a| a.remove(V2_SPEC_ANNOTATION))
        .and_then(|json| serde_json::from_str::<v2::LocustTestSpec>(&json).ok());
    if metadata
        .annotations
        .as_ref()
        .is_some_and(BTreeMap::is_empty)
    {
        metadata.annotations = None;
    }
    let spec = match stash {
        Some(stash) => merge_v1_into_stash(&test.spec, stash),
        None => v1_spec_to_v2(&test.spec),
    };
    v2::LocustTest {
        metadata,
        spec,
        status: test.status.map(|_| v2::LocustTestStatus::default()),
    }
}

/// v2 object -> v1 object: metadata unchanged except for the stash annotation, which is set
/// exactly when the v1 spec cannot express the whole v2 spec.
pub fn v2_to_v1(test: v2::LocustTest) -> v1::LocustTest {
    let spec = v2_spec_to_v1(&test.spec);
    let mut metadata = test.metadata;
    let annotations = metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.remove(V2_SPEC_ANNOTATION);
    if v1_spec_to_v2(&spec) != test.spec {
        // A spec of plain serde types always serializes.
        if let Ok(json) = serde_json::to_string(&test.spec) {
            annotations.insert(V2_SPEC_ANNOTATION.to_owned(), json);
        }
    }
    if annotations.is_empty() {
        metadata.annotations = None;
    }
    v1::LocustTest {
        metadata,
        spec,
        status: test.status.map(|_| v1::LocustTestStatus {}),
    }
}

/// The v2 spec equivalent to a v1 spec (no stash involved).
pub fn v1_spec_to_v2(spec: &v1::LocustTestSpec) -> v2::LocustTestSpec {
    let labels = |role: fn(&v1::PodMetadataMaps) -> &Option<BTreeMap<String, String>>| {
        spec.labels.as_ref().and_then(|l| role(l).clone())
    };
    let annotations = |role: fn(&v1::PodMetadataMaps) -> &Option<BTreeMap<String, String>>| {
        spec.annotations.as_ref().and_then(|a| role(a).clone())
    };
    let affinity = spec.affinity.as_ref().and_then(affinity_to_v2);
    let tolerations = spec
        .tolerations
        .as_ref()
        .map(|list| list.iter().map(toleration_to_v2).collect());
    let scheduling = (affinity.is_some() || tolerations.is_some()).then(|| v2::SchedulingSpec {
        affinity,
        tolerations,
        ..Default::default()
    });
    let test_files =
        (spec.config_map.is_some() || spec.lib_config_map.is_some()).then(|| v2::TestFilesSpec {
            config_map_ref: spec.config_map.clone(),
            lib_config_map_ref: spec.lib_config_map.clone(),
            ..Default::default()
        });
    v2::LocustTestSpec {
        image: spec.image.clone(),
        image_pull_policy: spec.image_pull_policy,
        image_pull_secrets: spec.image_pull_secrets.as_ref().map(|names| {
            names
                .iter()
                .map(|name| LocalObjectReference { name: name.clone() })
                .collect()
        }),
        master: v2::MasterSpec {
            command: spec.master_command_seed.clone(),
            labels: labels(|m| &m.master),
            annotations: annotations(|m| &m.master),
            autostart: Some(defaulting::DEFAULT_AUTOSTART),
            autoquit: Some(v2::AutoquitSpec {
                enabled: defaulting::DEFAULT_AUTOQUIT_ENABLED,
                timeout: Some(defaulting::DEFAULT_AUTOQUIT_TIMEOUT),
            }),
            ..Default::default()
        },
        worker: v2::WorkerSpec {
            command: spec.worker_command_seed.clone(),
            replicas: spec.worker_replicas,
            labels: labels(|m| &m.worker),
            annotations: annotations(|m| &m.worker),
            ..Default::default()
        },
        test_files,
        scheduling,
        ..Default::default()
    }
}

/// The v1 spec closest to a v2 spec (lossy: v2-only fields are dropped).
pub fn v2_spec_to_v1(spec: &v2::LocustTestSpec) -> v1::LocustTestSpec {
    let per_role = |master: &Option<BTreeMap<String, String>>,
                    worker: &Option<BTreeMap<String, String>>| {
        (master.is_some() || worker.is_some()).then(|| v1::PodMetadataMaps {
            master: master.clone(),
            worker: worker.clone(),
        })
    };
    let test_files = spec.test_files.as_ref();
    let scheduling = spec.scheduling.as_ref();
    v1::LocustTestSpec {
        master_command_seed: spec.master.command.clone(),
        worker_command_seed: spec.worker.command.clone(),
        worker_replicas: spec.worker.replicas,
        image: spec.image.clone(),
        image_pull_policy: spec.image_pull_policy,
        image_pull_secrets: spec
            .image_pull_secrets
            .as_ref()
            .map(|refs| refs.iter().map(|r| r.name.clone()).collect()),
        config_map: test_files.and_then(|t| t.config_map_ref.clone()),
        lib_config_map: test_files.and_then(|t| t.lib_config_map_ref.clone()),
        labels: per_role(&spec.master.labels, &spec.worker.labels),
        annotations: per_role(&spec.master.annotations, &spec.worker.annotations),
        affinity: scheduling
            .and_then(|s| s.affinity.as_ref())
            .and_then(affinity_to_v1),
        tolerations: scheduling
            .and_then(|s| s.tolerations.as_ref())
            .map(|list| list.iter().filter_map(toleration_to_v1).collect()),
    }
}

/// Restores a stashed v2 spec, taking from the v1 spec every field group a v1 client changed
/// (one that differs from what the stash looks like in v1).
fn merge_v1_into_stash(
    spec: &v1::LocustTestSpec,
    mut stash: v2::LocustTestSpec,
) -> v2::LocustTestSpec {
    let seen = v2_spec_to_v1(&stash);
    let converted = v1_spec_to_v2(spec);
    if spec.image != seen.image {
        stash.image = converted.image;
    }
    if spec.image_pull_policy != seen.image_pull_policy {
        stash.image_pull_policy = converted.image_pull_policy;
    }
    if spec.image_pull_secrets != seen.image_pull_secrets {
        stash.image_pull_secrets = converted.image_pull_secrets;
    }
    if spec.master_command_seed != seen.master_command_seed {
        stash.master.command = converted.master.command;
    }
    if spec.worker_command_seed != seen.worker_command_seed {
        stash.worker.command = converted.worker.command;
    }
    if spec.worker_replicas != seen.worker_replicas {
        stash.worker.replicas = converted.worker.replicas;
    }
    if spec.labels != seen.labels {
        stash.master.labels = converted.master.labels;
        stash.worker.labels = converted.worker.labels;
    }
    if spec.annotations != seen.annotations {
        stash.master.annotations = converted.master.annotations;
        stash.worker.annotations = converted.worker.annotations;
    }
    if spec.config_map != seen.config_map || spec.lib_config_map != seen.lib_config_map {
        let files = stash.test_files.get_or_insert_with(Default::default);
        files.config_map_ref = spec.config_map.clone();
        files.lib_config_map_ref = spec.lib_config_map.clone();
        if *files == v2::TestFilesSpec::default() {
            stash.test_files = None;
        }
    }
    if spec.affinity != seen.affinity || spec.tolerations != seen.tolerations {
        let converted = converted.scheduling.unwrap_or_default();
        let scheduling = stash.scheduling.get_or_insert_with(Default::default);
        if spec.affinity != seen.affinity {
            // v1 shows only required node affinity: replace that, keep the rest.
            let required = converted
                .affinity
                .and_then(|a| a.node_affinity)
                .and_then(|n| n.required_during_scheduling_ignored_during_execution);
            let affinity = scheduling.affinity.get_or_insert_with(Default::default);
            let node = affinity.node_affinity.get_or_insert_with(Default::default);
            node.required_during_scheduling_ignored_during_execution = required;
            if *node == NodeAffinity::default() {
                affinity.node_affinity = None;
            }
            if *affinity == Affinity::default() {
                scheduling.affinity = None;
            }
        }
        if spec.tolerations != seen.tolerations {
            // v1 shows only the tolerations it can express: the v1 list replaces those, and
            // the ones v1 never showed are kept.
            let hidden: Vec<Toleration> = scheduling
                .tolerations
                .iter()
                .flatten()
                .filter(|t| toleration_to_v1(t).is_none())
                .cloned()
                .collect();
            scheduling.tolerations = match (converted.tolerations, hidden.is_empty()) {
                (tolerations, true) => tolerations,
                (tolerations, false) => {
                    Some(tolerations.into_iter().flatten().chain(hidden).collect())
                }
            };
        }
        if *scheduling == v2::SchedulingSpec::default() {
            stash.scheduling = None;
        }
    }
    stash
}

/// v1 node-affinity map -> one node-selector term of `In` requirements, sorted by key.
fn affinity_to_v2(affinity: &v1::Affinity) -> Option<Affinity> {
    let required = affinity
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .filter(|map| !map.is_empty())?;
    let match_expressions = required
        .iter()
        .map(|(key, value)| NodeSelectorRequirement {
            key: key.clone(),
            operator: "In".to_owned(),
            values: Some(vec![value.clone()]),
        })
        .collect();
    Some(Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(match_expressions),
                    match_fields: None,
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// v2 affinity -> v1 map: every `In` requirement with a value, across all terms, keeps its
/// first value (a later requirement for the same key wins, as in the Go operator).
fn affinity_to_v1(affinity: &Affinity) -> Option<v1::Affinity> {
    let terms = &affinity
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    let required: BTreeMap<String, String> = terms
        .iter()
        .flat_map(|term| term.match_expressions.iter().flatten())
        .filter(|req| req.operator == "In")
        .filter_map(|req| Some((req.key.clone(), req.values.as_ref()?.first()?.clone())))
        .collect();
    (!required.is_empty()).then_some(v1::Affinity {
        node_affinity: Some(v1::NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(required),
        }),
    })
}

fn toleration_to_v2(toleration: &v1::Toleration) -> Toleration {
    Toleration {
        key: Some(toleration.key.clone()).filter(|key| !key.is_empty()),
        operator: Some(toleration.operator.as_str().to_owned()),
        value: toleration.value.clone(),
        effect: Some(toleration.effect.as_str().to_owned()),
        toleration_seconds: None,
    }
}

/// A v2 toleration in v1 form, or `None` when v1 cannot express it: an empty effect (which
/// matches every effect), an unknown operator, or `tolerationSeconds` (v1 would show it as
/// "tolerate forever").
fn toleration_to_v1(toleration: &Toleration) -> Option<v1::Toleration> {
    if toleration.toleration_seconds.is_some() {
        return None;
    }
    let operator = match toleration.operator.as_deref() {
        Some("Exists") => v1::TolerationOperator::Exists,
        None | Some("" | "Equal") => v1::TolerationOperator::Equal,
        Some(_) => return None,
    };
    let effect = match toleration.effect.as_deref()? {
        "NoSchedule" => v1::TaintEffect::NoSchedule,
        "PreferNoSchedule" => v1::TaintEffect::PreferNoSchedule,
        "NoExecute" => v1::TaintEffect::NoExecute,
        _ => return None,
    };
    Some(v1::Toleration {
        key: toleration.key.clone().unwrap_or_default(),
        operator,
        value: toleration.value.clone(),
        effect,
    })
}
