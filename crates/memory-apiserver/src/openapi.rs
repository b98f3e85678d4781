//! OpenAPI v3, as kube-apiserver publishes it for clients (kubectl's `apply` validation and
//! `explain`): `GET /openapi/v3` lists one document per group-version with a
//! `serverRelativeURL` whose `hash` changes with the document, and `GET /openapi/v3/api/v1`,
//! `/openapi/v3/apis/<group>/<version>` are the documents: every operation of every served
//! resource (with `x-kubernetes-action`, `x-kubernetes-group-version-kind` and the query
//! parameters, `fieldValidation` among them: kubectl checks for it before it relies on the
//! server's field validation), and the schemas. A custom resource's schema is its CRD's
//! `openAPIV3Schema` for that version (with `metadata` as `ObjectMeta`), a built-in kind's the
//! one `k8s-openapi` carries. `/openapi/v2` is not served (404): kubectl works with v3 alone.

use std::hash::{Hash, Hasher};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use crate::resources::{self, ResourceType};
use crate::state::State;

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DOC: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// Answers a request under `/openapi/` (`None`: not an OpenAPI path).
pub fn serve(state: &State, path: &str, query_hash: Option<&str>) -> Option<Response> {
    let rest = path.strip_prefix("/openapi")?;
    let rest = rest.trim_end_matches('/');
    if rest == "/v3" {
        return Some(json(&root(state), None));
    }
    let Some(group_version) = rest.strip_prefix("/v3/") else {
        return Some(not_found());
    };
    let (group, version) = match group_version.split('/').collect::<Vec<_>>().as_slice() {
        ["api", version] => (String::new(), (*version).to_owned()),
        ["apis", group, version] => ((*group).to_owned(), (*version).to_owned()),
        _ => return Some(not_found()),
    };
    let document = document(state, &group, &version)?;
    let bytes = crate::encoding::to_vec(&document);
    let hash = hash_of(&bytes);
    Some(json_bytes(
        bytes,
        (query_hash == Some(hash.as_str())).then_some(hash),
    ))
}

/// The answer to an OpenAPI path that is not served, as the API server's mux gives it.
fn not_found() -> Response {
    let mut response = Response::new(Body::from("404 page not found\n"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(value: &Value, etag: Option<String>) -> Response {
    json_bytes(crate::encoding::to_vec(value), etag)
}

/// A document: cached for good when asked for by its current hash (`etag`), else not cached.
fn json_bytes(bytes: Vec<u8>, etag: Option<String>) -> Response {
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    match etag.and_then(|e| HeaderValue::from_str(&format!("\"{e}\"")).ok()) {
        Some(etag) => {
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, immutable"),
            );
            headers.insert(header::ETAG, etag);
        }
        None => {
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, private"),
            );
        }
    }
    response
}

/// A hash of a document, as the `hash` of its `serverRelativeURL` (upper-case hex).
fn hash_of(bytes: &[u8]) -> String {
    let mut out = String::new();
    for seed in 0u8..4 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut hasher);
        bytes.hash(&mut hasher);
        out.push_str(&format!("{:016X}", hasher.finish()));
    }
    out
}

/// The group-versions served, as paths (`api/v1`, `apis/batch/v1`, ...).
fn group_versions() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for r in resources::all() {
        let gv = (r.group.to_owned(), r.version.to_owned());
        if !out.contains(&gv) {
            out.push(gv);
        }
    }
    out
}

fn document_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `GET /openapi/v3`.
fn root(state: &State) -> Value {
    let mut paths = Map::new();
    for (group, version) in group_versions() {
        let Some(document) = document(state, &group, &version) else {
            continue;
        };
        let hash = hash_of(&crate::encoding::to_vec(&document));
        let path = document_path(&group, &version);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// The document of one group-version (`None` when nothing is served there).
pub fn document(state: &State, group: &str, version: &str) -> Option<Value> {
    let served: Vec<ResourceType> = resources::all()
        .into_iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
        let _ = generator.subschema_for::<meta::ObjectMeta>();
        let _ = generator.subschema_for::<meta::ListMeta>();
        let _ = generator.subschema_for::<meta::Status>();
        let _ = generator.subschema_for::<meta::DeleteOptions>();
    }
    let mut kinds = Vec::new();
    for r in &served {
        let name = match builtin_schema(r, &mut generator) {
            Some(name) => name,
            None => custom_schema_name(r),
        };
        kinds.push((r.clone(), name));
    }
    let mut schemas = generator.take_definitions(true);
    schemas.insert(
        PATCH.to_owned(),
        json!({"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object"}),
    );
    let mut paths = Map::new();
    for (r, name) in &kinds {
        if r.custom {
            let Some(schema) = custom_schema(state, r) else {
                continue;
            };
            schemas.insert(name.clone(), schema);
        } else if let Some(Value::Object(schema)) = schemas.get_mut(name) {
            schema.insert("x-kubernetes-group-version-kind".into(), gvk(r, r.kind));
        }
        let list_name = format!("{name}List");
        schemas.insert(list_name.clone(), list_schema(r, name));
        paths.extend(resource_paths(r, name, &list_name));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `[{"group", "kind", "version"}]`.
fn gvk(r: &ResourceType, kind: &str) -> Value {
    json!([{"group": r.group, "kind": kind, "version": r.version}])
}

/// The schema of a built-in kind (added to the generator's definitions): its name.
fn builtin_schema(r: &ResourceType, generator: &mut schemars::SchemaGenerator) -> Option<String> {
    use k8s_openapi::api;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    fn add<T: JsonSchema>(generator: &mut schemars::SchemaGenerator) -> Option<String> {
        let _ = generator.subschema_for::<T>();
        Some(T::schema_name().into_owned())
    }
    match (r.group, r.kind) {
        ("", "Namespace") => add::<api::core::v1::Namespace>(generator),
        ("", "Pod") => add::<api::core::v1::Pod>(generator),
        ("", "Service") => add::<api::core::v1::Service>(generator),
        ("", "Event") => add::<api::core::v1::Event>(generator),
        ("", "ConfigMap") => add::<api::core::v1::ConfigMap>(generator),
        ("", "Secret") => add::<api::core::v1::Secret>(generator),
        ("batch", "Job") => add::<api::batch::v1::Job>(generator),
        ("batch", "CronJob") => add::<api::batch::v1::CronJob>(generator),
        ("events.k8s.io", "Event") => add::<api::events::v1::Event>(generator),
        ("coordination.k8s.io", "Lease") => add::<api::coordination::v1::Lease>(generator),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
            add::<api::admissionregistration::v1::MutatingWebhookConfiguration>(generator)
        }
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            add::<api::admissionregistration::v1::ValidatingWebhookConfiguration>(generator)
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            add::<apiextensions::CustomResourceDefinition>(generator)
        }
        _ => None,
    }
}

/// `io.locust.v2.LocustTest`: the group reversed, the version, the kind.
fn custom_schema_name(r: &ResourceType) -> String {
    let reversed: Vec<&str> = r.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), r.version, r.kind)
}

/// A custom resource's schema: its CRD's `openAPIV3Schema` for the version, with `apiVersion`,
/// `kind` and `metadata` as every object has them.
fn custom_schema(state: &State, r: &ResourceType) -> Option<Value> {
    let crd = state.crd(r)?;
    let mut schema = crd
        .pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(r.version))?
        .pointer("/schema/openAPIV3Schema")?
        .clone();
    let object = schema.as_object_mut()?;
    let properties = object
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()?;
    properties.insert(
        "apiVersion".into(),
        json!({"description": API_VERSION_DOC, "type": "string"}),
    );
    properties.insert(
        "kind".into(),
        json!({"description": KIND_DOC, "type": "string"}),
    );
    properties.insert(
        "metadata".into(),
        json!({"description": METADATA_DOC, "allOf": [{"$ref": reference(OBJECT_META)}]}),
    );
    object.insert("x-kubernetes-group-version-kind".into(), gvk(r, r.kind));
    let selectable: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(r.version))
        .and_then(|v| v.get("selectableFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    object.insert("x-kubernetes-selectable-fields".into(), json!(selectable));
    publish(&mut schema);
    Some(schema)
}

/// A structural schema as kube-apiserver publishes it: `x-kubernetes-int-or-string` spelled
/// out as `anyOf` integer or string, and whole numbers (bounds) written as integers.
fn publish(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
                && !map.contains_key("anyOf")
            {
                map.insert(
                    "anyOf".into(),
                    json!([{"type": "integer"}, {"type": "string"}]),
                );
            }
            map.values_mut().for_each(publish);
        }
        Value::Array(items) => items.iter_mut().for_each(publish),
        Value::Number(n) => {
            if let Some(f) = n
                .as_f64()
                .filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9e15)
            {
                *schema = json!(f as i64);
            }
        }
        _ => {}
    }
}

fn reference(name: &str) -> String {
    format!("#/components/schemas/{name}")
}

/// The list kind of a resource (`<Kind>List`).
fn list_schema(r: &ResourceType, item: &str) -> Value {
    json!({
        "description": format!("{}List is a list of {}", r.kind, r.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": API_VERSION_DOC, "type": "string"},
            "items": {
                "description": format!("List of {}.", r.plural),
                "type": "array",
                "items": {"$ref": reference(item)}
            },
            "kind": {"description": KIND_DOC, "type": "string"},
            "metadata": {"description": "Standard list metadata.", "allOf": [{"$ref": reference(LIST_META)}]}
        },
        "x-kubernetes-group-version-kind": gvk(r, &format!("{}List", r.kind)),
    })
}

/// A query parameter.
fn parameter(name: &str, kind: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": kind, "uniqueItems": true}})
}

fn path_parameter(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "description": description, "required": true, "schema": {"type": "string", "uniqueItems": true}})
}

/// The parameters of a list or watch.
fn list_parameters() -> Vec<Value> {
    vec![
        parameter(
            "allowWatchBookmarks",
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
        ),
        parameter(
            "continue",
            "string",
            "The continue option should be set when retrieving more results from the server.",
        ),
        parameter(
            "fieldSelector",
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        parameter(
            "labelSelector",
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        parameter(
            "limit",
            "integer",
            "limit is a maximum number of responses to return for a list call.",
        ),
        parameter(
            "resourceVersion",
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
        ),
        parameter(
            "resourceVersionMatch",
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls.",
        ),
        parameter(
            "sendInitialEvents",
            "boolean",
            "`sendInitialEvents=true` may be set together with `watch=true`.",
        ),
        parameter(
            "timeoutSeconds",
            "integer",
            "Timeout for the list/watch call.",
        ),
        parameter(
            "watch",
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
        ),
    ]
}

/// The parameters of a write (`dryRun`, `fieldManager`, `fieldValidation`).
fn write_parameters() -> Vec<Value> {
    vec![
        parameter(
            "dryRun",
            "string",
            "When present, indicates that modifications should not be persisted.",
        ),
        parameter(
            "fieldManager",
            "string",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        parameter(
            "fieldValidation",
            "string",
            "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict",
        ),
    ]
}

/// One operation.
#[allow(clippy::too_many_arguments)] // an operation has that many facets
fn operation(
    r: &ResourceType,
    action: &str,
    operation_id: String,
    description: String,
    parameters: Vec<Value>,
    request: Option<(&[&str], &str)>,
    response: &str,
    codes: &[&str],
) -> Value {
    let content = |schema: &str| {
        json!({
            "application/json": {"schema": {"$ref": reference(schema)}},
            "application/yaml": {"schema": {"$ref": reference(schema)}},
        })
    };
    let mut responses = Map::new();
    for code in codes {
        let description = match *code {
            "200" => "OK",
            "201" => "Created",
            "202" => "Accepted",
            _ => "",
        };
        responses.insert(
            (*code).to_owned(),
            json!({"description": description, "content": content(response)}),
        );
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    let tag = format!(
        "{}_{}",
        if r.group.is_empty() {
            "core".to_owned()
        } else {
            r.group.replace('.', "")
        },
        r.version
    );
    let mut op = json!({
        "tags": [tag],
        "description": description,
        "operationId": operation_id,
        "responses": responses,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
    });
    if !parameters.is_empty() {
        op["parameters"] = json!(parameters);
    }
    if let Some((media_types, schema)) = request {
        let content: Map<String, Value> = media_types
            .iter()
            .map(|m| {
                (
                    (*m).to_owned(),
                    json!({"schema": {"$ref": reference(schema)}}),
                )
            })
            .collect();
        op["requestBody"] = json!({"content": content, "required": true});
    }
    op
}

/// The paths of one resource: its collection (and, for namespaced ones, across namespaces),
/// an object, and its status.
fn resource_paths(r: &ResourceType, kind_schema: &str, list_schema: &str) -> Map<String, Value> {
    let base = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    let group_id = if r.group.is_empty() { "core" } else { r.group };
    let id = format!(
        "{}{}",
        group_id
            .split('.')
            .map(|part| {
                let mut chars = part.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect::<String>(),
        {
            let mut chars = r.version.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        }
    );
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let kind = r.kind;
    let pretty = parameter(
        "pretty",
        "string",
        "If 'true', then the output is pretty printed.",
    );
    let name = path_parameter("name", &format!("name of the {kind}"));
    let namespace = path_parameter(
        "namespace",
        "object name and auth scope, such as for teams and projects",
    );
    let writes: &[&str] = &["application/json", "application/yaml"];
    let patches: &[&str] = &[
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    ];
    let patches = if r.custom { &patches[..3] } else { patches };
    let mut patch_parameters = write_parameters();
    patch_parameters.push(parameter(
        "force",
        "boolean",
        "Force is going to \"force\" Apply requests.",
    ));
    let collection_path = if r.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{base}/{}", r.plural)
    };
    let scope_parameters = |with_name: bool| {
        let mut list = Vec::new();
        if with_name {
            list.push(name.clone());
        }
        if r.namespaced {
            list.push(namespace.clone());
        }
        list.push(pretty.clone());
        json!(list)
    };
    let mut paths = Map::new();
    if r.namespaced {
        let mut parameters = list_parameters();
        parameters.push(pretty.clone());
        paths.insert(
            format!("{base}/{}", r.plural),
            json!({
                "get": operation(r, "list", format!("list{id}{kind}ForAllNamespaces"), format!("list or watch objects of kind {kind}"), Vec::new(), None, list_schema, &["200"]),
                "parameters": parameters,
            }),
        );
    }
    paths.insert(
        collection_path.clone(),
        json!({
            "get": operation(r, "list", format!("list{id}{scope}{kind}"), format!("list or watch objects of kind {kind}"), list_parameters(), None, list_schema, &["200"]),
            "post": operation(r, "post", format!("create{id}{scope}{kind}"), format!("create a {kind}"), write_parameters(), Some((writes, kind_schema)), kind_schema, &["200", "201", "202"]),
            "delete": operation(r, "deletecollection", format!("delete{id}Collection{scope}{kind}"), format!("delete collection of {kind}"), list_parameters(), Some((writes, DELETE_OPTIONS)), STATUS, &["200"]),
            "parameters": scope_parameters(false),
        }),
    );
    paths.insert(
        format!("{collection_path}/{{name}}"),
        json!({
            "get": operation(r, "get", format!("read{id}{scope}{kind}"), format!("read the specified {kind}"), Vec::new(), None, kind_schema, &["200"]),
            "put": operation(r, "put", format!("replace{id}{scope}{kind}"), format!("replace the specified {kind}"), write_parameters(), Some((writes, kind_schema)), kind_schema, &["200", "201"]),
            "patch": operation(r, "patch", format!("patch{id}{scope}{kind}"), format!("partially update the specified {kind}"), patch_parameters.clone(), Some((patches, PATCH)), kind_schema, &["200", "201"]),
            "delete": operation(r, "delete", format!("delete{id}{scope}{kind}"), format!("delete a {kind}"), vec![
                parameter("dryRun", "string", "When present, indicates that modifications should not be persisted."),
                parameter("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."),
                parameter("propagationPolicy", "string", "Whether and how garbage collection will be performed."),
            ], Some((writes, DELETE_OPTIONS)), kind_schema, &["200", "202"]),
            "parameters": scope_parameters(true),
        }),
    );
    if r.status {
        paths.insert(
            format!("{collection_path}/{{name}}/status"),
            json!({
                "get": operation(r, "get", format!("read{id}{scope}{kind}Status"), format!("read status of the specified {kind}"), Vec::new(), None, kind_schema, &["200"]),
                "put": operation(r, "put", format!("replace{id}{scope}{kind}Status"), format!("replace status of the specified {kind}"), write_parameters(), Some((writes, kind_schema)), kind_schema, &["200", "201"]),
                "patch": operation(r, "patch", format!("patch{id}{scope}{kind}Status"), format!("partially update status of the specified {kind}"), patch_parameters, Some((patches, PATCH)), kind_schema, &["200", "201"]),
                "parameters": scope_parameters(true),
            }),
        );
    }
    paths
}
