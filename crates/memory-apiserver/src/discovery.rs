//! Discovery: `/api`, `/apis` and `/api/v1`, `/apis/<group>/<version>`, plain (`APIVersions`,
//! `APIGroupList`, `APIResourceList`) or aggregated (`APIGroupDiscoveryList`, `apidiscovery.k8s.io`
//! `v2` or `v2beta1`, when the `Accept` header asks for it, as kubectl does): every resource
//! with its verbs, short names, categories and subresources in one answer.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::resources::{self, ResourceType};
use crate::response::json_response;
use crate::state::State;
use crate::status::ApiError;

/// Names of a resource in discovery (`shortNames` or `categories`): a custom resource's from
/// its CRD's `spec.names` when the server knows the CRD, else the built-in ones.
fn names(state: &State, r: &ResourceType, field: &str) -> Vec<String> {
    if let Some(crd) = state.crd(r) {
        return crd
            .pointer(&format!("/spec/names/{field}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
    }
    let builtin = if field == "shortNames" {
        r.discovery_short_names()
    } else {
        r.categories()
    };
    builtin.iter().map(|n| (*n).to_owned()).collect()
}

/// Sets `shortNames` and `categories` of a discovery entry, when there are any.
fn add_names(state: &State, r: &ResourceType, entry: &mut Value) {
    for field in ["shortNames", "categories"] {
        let names = names(state, r, field);
        if !names.is_empty() {
            entry[field] = json!(names);
        }
    }
}

/// The verbs of a resource, in the order the API server lists them.
fn verbs(r: &ResourceType) -> Value {
    if r.custom {
        // The apiextensions server's order.
        json!([
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "create",
            "update",
            "watch"
        ])
    } else if r.plural == "namespaces" {
        json!([
            "create", "delete", "get", "list", "patch", "update", "watch"
        ])
    } else {
        json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ])
    }
}

/// The subresources served: `(name, verbs)`.
fn subresources(r: &ResourceType) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if (r.group, r.plural) == ("", "pods") {
        out.push(("log", json!(["get"])));
    }
    if r.status {
        out.push(("status", json!(["get", "patch", "update"])));
    }
    out
}

/// The served resources of `group/version`, by plural.
fn served(group: &str, version: &str) -> Vec<ResourceType> {
    let mut served: Vec<ResourceType> = resources::all()
        .into_iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    served.sort_by_key(|r| r.plural);
    served
}

/// The groups (other than core) and their versions, preferred version first.
fn groups_and_versions() -> BTreeMap<&'static str, Vec<&'static str>> {
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in resources::all().iter().filter(|r| !r.group.is_empty()) {
        let versions = by_group.entry(r.group).or_default();
        if !versions.contains(&r.version) {
            versions.push(r.version);
        }
    }
    for (group, versions) in &mut by_group {
        let preferred = preferred_version(group);
        versions.sort_by_key(|v| *v != preferred);
    }
    by_group
}

fn preferred_version(group: &str) -> &'static str {
    resources::all()
        .into_iter()
        .find(|r| r.group == group)
        .map(|r| r.storage_version)
        .unwrap_or("v1")
}

/// `GET /api`.
pub fn core(state: &State, headers: &HeaderMap) -> Response {
    match crate::accept::aggregated_discovery(headers) {
        Some(version) => aggregated(version, vec![group_discovery(state, "", &["v1"])]),
        None => json_response(
            200,
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
            &[],
        ),
    }
}

/// `GET /apis`.
pub fn groups(state: &State, headers: &HeaderMap) -> Response {
    let by_group = groups_and_versions();
    if let Some(version) = crate::accept::aggregated_discovery(headers) {
        let items = by_group
            .iter()
            .map(|(group, versions)| group_discovery(state, group, versions))
            .collect();
        return aggregated(version, items);
    }
    let groups: Vec<Value> = by_group
        .into_iter()
        .map(|(group, versions)| {
            let preferred = preferred_version(group);
            json!({
                "name": group,
                "versions": versions.iter().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect::<Vec<_>>(),
                "preferredVersion": {"groupVersion": format!("{group}/{preferred}"), "version": preferred}
            })
        })
        .collect();
    json_response(
        200,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
        &[],
    )
}

/// An `APIGroupDiscoveryList` answer.
fn aggregated(version: &str, items: Vec<Value>) -> Response {
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    });
    let mut response = json_response(200, &body, &[]);
    let content_type =
        format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

/// One `APIGroupDiscovery`: the group (`""` for core) and each version's resources.
fn group_discovery(state: &State, group: &str, versions: &[&str]) -> Value {
    let mut metadata = json!({"creationTimestamp": null});
    if !group.is_empty() {
        metadata = json!({"name": group, "creationTimestamp": null});
    }
    let versions: Vec<Value> = versions
        .iter()
        .map(|version| {
            let resources: Vec<Value> = served(group, version)
                .iter()
                .map(|r| resource_discovery(state, r))
                .collect();
            json!({"version": version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    json!({"metadata": metadata, "versions": versions})
}

/// One `APIResourceDiscovery`. Built-in kinds leave the group and version of `responseKind`
/// empty, custom resources name them (as kube-apiserver does).
fn resource_discovery(state: &State, r: &ResourceType) -> Value {
    let response_kind = |kind: &str| {
        if r.custom {
            json!({"group": r.group, "version": r.version, "kind": kind})
        } else {
            json!({"group": "", "version": "", "kind": kind})
        }
    };
    let mut entry = json!({
        "resource": r.plural,
        "responseKind": response_kind(r.kind),
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": verbs(r),
    });
    add_names(state, r, &mut entry);
    let subresources: Vec<Value> = subresources(r)
        .into_iter()
        .map(|(name, verbs)| json!({"subresource": name, "responseKind": response_kind(r.kind), "verbs": verbs}))
        .collect();
    if !subresources.is_empty() {
        entry["subresources"] = json!(subresources);
    }
    entry
}

/// `GET /api/v1` and `GET /apis/<group>/<version>`: an `APIResourceList`.
pub fn resources(state: &State, group: &str, version: &str) -> Result<Response, ApiError> {
    let served = served(group, version);
    if served.is_empty() {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
            None,
        ));
    }
    let mut list = Vec::new();
    for r in &served {
        let mut entry = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": verbs(r)
        });
        add_names(state, r, &mut entry);
        if let Some(hash) = r.storage_version_hash() {
            entry["storageVersionHash"] = json!(hash);
        }
        list.push(entry);
        for (name, verbs) in subresources(r) {
            list.push(json!({"name": format!("{}/{name}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": verbs}));
        }
    }
    Ok(json_response(
        200,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": resources::api_version(group, version), "resources": list}),
        &[],
    ))
}
