//! The REST layer: routes Kubernetes API paths to the store with the API server's semantics
//! (status split, generation, optimistic concurrency, admission and conversion of custom
//! resources, patches, deletes with propagation, list and watch).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::patch::{
    PatchKind, apply, conflict_message, json_patch, leaf_paths, merge_patch, record_update,
    record_update_with, strategic_merge,
};
use crate::resources::{self, ResourceType};
use crate::response::json_response;
use crate::selectors::{FieldSelector, LabelSelector, labels};
use crate::state::{Propagation, State, convert, from_storage, key, storage_defaults};
use crate::status::{ApiError, delete_success};
use crate::store::{Key, meta_str, metadata_mut, resource_version};
use crate::strict::FieldValidation;
use crate::table::Table;
use crate::webhooks::{Decision, MUTATING_NAME, RequestAttributes, VALIDATING_NAME, Webhooks};

/// A parsed request path.
#[derive(Debug)]
enum Route {
    Version,
    CoreVersions,
    Groups,
    Discovery(String, String),
    Resource {
        resource: ResourceType,
        namespace: Option<String>,
        name: Option<String>,
        subresource: Option<String>,
    },
}

fn parse_route(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Some(Route::Version),
        ["api"] => return Some(Route::CoreVersions),
        ["apis"] => return Some(Route::Groups),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    if rest.is_empty() {
        return Some(Route::Discovery(group.to_owned(), version.to_owned()));
    }
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if resources::find(group, version, plural).is_some_and(|r| r.namespaced) =>
        {
            (Some((*ns).to_owned()), [&[*plural][..], tail].concat())
        }
        other => (None, other.to_vec()),
    };
    let resource = resources::find(group, version, rest.first()?)?;
    Some(Route::Resource {
        resource,
        namespace,
        name: rest.get(1).map(|s| (*s).to_owned()),
        subresource: rest.get(2).map(|s| (*s).to_owned()),
    })
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.code, &self.body, &[])
    }
}

/// `GET /version`: kube-apiserver's version info (the Kubernetes version whose API it serves).
fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-harness",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// Entry point of every request.
pub async fn handle(
    state: Arc<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(error) = state.faults.before(&method, uri.path()).await {
        return error.into_response();
    }
    serve(state, method, uri, headers, body).await
}

/// A request as [`handle`] serves it, without fault injection or recording: the entry of the
/// harness's own controllers, which are clients of the API like any other but not traffic
/// the tests observe or disturb.
pub async fn serve(
    state: Arc<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = query(&uri);
    if let Some(response) =
        crate::openapi::serve(&state, &path, query.get("hash").map(String::as_str))
    {
        return response;
    }
    let Some(route) = parse_route(&path) else {
        return ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
            None,
        )
        .into_response();
    };
    let result = match route {
        Route::Version => Ok(json_response(200, &version(), &[])),
        Route::CoreVersions => Ok(crate::discovery::core(&state, &headers)),
        Route::Groups => Ok(crate::discovery::groups(&state, &headers)),
        Route::Discovery(group, version) => crate::discovery::resources(&state, &group, &version),
        Route::Resource {
            resource,
            namespace,
            name,
            subresource,
        } => {
            let request = Request {
                state: &state,
                resource,
                namespace,
                name,
                subresource,
                query,
                headers,
                body,
            };
            request.dispatch(&method).await
        }
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

struct Request<'a> {
    state: &'a Arc<State>,
    resource: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
    query: BTreeMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
}

impl Request<'_> {
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }

    fn key_of(&self, name: &str) -> Key {
        key(&self.resource, self.ns(), name)
    }

    fn is_status(&self) -> bool {
        self.subresource.as_deref() == Some("status")
    }

    fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|v| v == "All")
    }

    fn field_manager(&self) -> String {
        self.query.get("fieldManager").cloned().unwrap_or_else(|| {
            self.headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .and_then(|ua| ua.split('/').next())
                .unwrap_or("unknown")
                .to_owned()
        })
    }

    /// The request's `fieldValidation`.
    fn field_validation(&self) -> Result<FieldValidation, ApiError> {
        FieldValidation::from_query(self.query.get("fieldValidation").map(String::as_str))
    }

    /// The schema of a custom resource's request version.
    async fn schema(&self) -> Option<std::sync::Arc<Value>> {
        if !self.resource.custom {
            return None;
        }
        let schemas = self.state.schemas.read().await;
        schemas.get(&self.resource.api_version()).cloned()
    }

    /// Field validation of `object` (a custom resource in the request version): the warnings
    /// to give (`Warn`), or the error `strict` makes of the unknown fields (`Strict`).
    async fn check_fields(
        &self,
        object: &Value,
        strict: impl FnOnce(&[String]) -> ApiError,
    ) -> Result<Vec<String>, ApiError> {
        let validation = self.field_validation()?;
        if validation == FieldValidation::Ignore {
            return Ok(Vec::new());
        }
        let Some(schema) = self.schema().await else {
            return Ok(Vec::new());
        };
        let unknown = crate::strict::unknown_fields(&schema, object);
        match validation {
            _ if unknown.is_empty() => Ok(Vec::new()),
            FieldValidation::Strict => Err(strict(&unknown)),
            _ => Ok(crate::strict::warnings(&unknown)),
        }
    }

    async fn dispatch(self, method: &Method) -> Result<Response, ApiError> {
        if self.subresource.as_deref() == Some("log")
            && (self.resource.group, self.resource.plural) == ("", "pods")
            && let (Some(namespace), Some(name)) = (&self.namespace, &self.name)
        {
            if method != Method::GET {
                return Err(ApiError::method_not_allowed(format!(
                    "{method} is not supported here"
                )));
            }
            return crate::logs::serve(self.state.clone(), namespace, name, &self.query);
        }
        if let Some(sub) = &self.subresource
            && (sub != "status" || !self.resource.status)
        {
            return Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
                None,
            ));
        }
        if self.resource.namespaced && self.namespace.is_none() && self.name.is_some() {
            return Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
                None,
            ));
        }
        match (method.clone(), self.name.clone()) {
            (Method::GET, Some(name)) => self.get(&name).await,
            (Method::GET, None)
                if self
                    .query
                    .get("watch")
                    .is_some_and(|w| w == "true" || w == "1") =>
            {
                crate::watch::serve(
                    self.state.clone(),
                    self.resource.clone(),
                    self.namespace.clone(),
                    &self.query,
                    self.table(),
                )
                .await
            }
            (Method::GET, None) => self.list().await,
            (Method::POST, None) => self.create().await,
            (Method::PUT, Some(name)) => self.replace(&name).await,
            (Method::PATCH, Some(name)) => self.patch(&name).await,
            (Method::DELETE, Some(name)) => self.delete(&name).await,
            (method, _) => Err(ApiError::method_not_allowed(format!(
                "{method} is not supported here"
            ))),
        }
    }

    /// A stored object as this request reads it: defaulted with the storage version's schema,
    /// then converted to the request's version (custom resources only).
    async fn to_request_version(&self, object: Value) -> Result<Value, ApiError> {
        from_storage(self.state, object, &self.resource.api_version()).await
    }

    /// A built-in object as it is stored: an Event written through `events.k8s.io/v1` becomes
    /// the core `v1` Event both APIs read (and a core one is encoded as the API server encodes
    /// it). Custom resources are converted to their storage version by [`Request::admit`].
    fn to_storage(&self, object: Value) -> Value {
        if self.resource.custom {
            return object;
        }
        crate::events::convert(&object, &self.resource.storage_api_version()).unwrap_or(object)
    }

    async fn get(&self, name: &str) -> Result<Response, ApiError> {
        let object = self
            .state
            .store
            .get(&self.key_of(name))
            .ok_or_else(|| ApiError::not_found(&self.resource, name))?;
        let object = self.to_request_version(object).await?;
        if let Some(table) = self.table() {
            let rv = meta_str(&object, "resourceVersion").unwrap_or_default();
            return Ok(json_response(
                200,
                &table.of(std::slice::from_ref(&object), rv, true),
                &[],
            ));
        }
        Ok(json_response(200, &object, &[]))
    }

    /// The Table the request asks for, if any.
    fn table(&self) -> Option<Table> {
        Table::for_request(self.state, &self.resource, &self.headers, &self.query)
    }

    async fn list(&self) -> Result<Response, ApiError> {
        let labels_selector = LabelSelector::parse(
            self.query
                .get("labelSelector")
                .map(String::as_str)
                .unwrap_or_default(),
        )
        .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(
            &self.resource,
            self.query
                .get("fieldSelector")
                .map(String::as_str)
                .unwrap_or_default(),
        )
        .map_err(ApiError::bad_request)?;
        let page = Page::of_query(&self.query)?;
        let found = self.state.store.list_page(
            &self.resource,
            self.namespace.as_deref(),
            page.start.as_ref().map(|(_, after)| after),
            |object| labels_selector.matches(&labels(object)) && fields.matches(object),
            page.limit,
        );
        // Later pages report the first page's resourceVersion, as the API server does: a
        // watch from it replays whatever changed while the pages were read.
        let rv = page.start.as_ref().map_or(found.rv, |(rv, _)| *rv);
        let (remaining, last_key) = (found.remaining, found.last);
        let mut items = Vec::with_capacity(found.items.len());
        for object in found.items {
            items.push(self.to_request_version(object).await?);
        }
        let next = (remaining > 0)
            .then(|| last_key.map(|key| continue_token(rv, &key)))
            .flatten();
        let selected =
            self.query.contains_key("labelSelector") || self.query.contains_key("fieldSelector");
        if let Some(table) = self.table() {
            return Ok(json_response(
                200,
                &table.of(&items, &rv.to_string(), true),
                &[],
            ));
        }
        if !self.resource.custom {
            for item in &mut items {
                if let Value::Object(map) = item {
                    map.remove("kind");
                    map.remove("apiVersion");
                }
            }
        }
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if let Some(token) = next {
            metadata["continue"] = json!(token);
            if !selected {
                metadata["remainingItemCount"] = json!(remaining);
            }
        } else if self.resource.custom {
            metadata["continue"] = json!("");
        }
        let list = json!({
            "kind": format!("{}List", self.resource.kind),
            "apiVersion": self.resource.api_version(),
            "metadata": metadata,
            "items": items,
        });
        Ok(json_response(200, &list, &[]))
    }

    fn parse_body(&self) -> Result<Value, ApiError> {
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if content_type.contains("protobuf") || content_type.contains("cbor") {
            // Only JSON and YAML bodies are understood.
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (not {content_type})"
            )));
        }
        let text = std::str::from_utf8(&self.body)
            .map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
        let is_yaml = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("yaml"));
        let parsed = if is_yaml {
            serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
        } else {
            serde_json::from_str::<Value>(text).map_err(|e| e.to_string())
        };
        parsed.map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request was in an unknown format: {e}"
            ))
        })
    }

    fn check_type(&self, object: &Value) -> Result<(), ApiError> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if api_version != self.resource.api_version() || kind != self.resource.kind {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({}), or the kind ({kind}) is not {}",
                self.resource.api_version(),
                self.resource.kind
            )));
        }
        if let Some(ns) = meta_str(object, "namespace")
            && self.resource.namespaced
            && ns != self.ns()
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        Ok(())
    }

    async fn check_namespace(&self) -> Result<(), ApiError> {
        if !self.resource.namespaced {
            return Ok(());
        }
        let namespaces = resources::find("", "v1", "namespaces")
            .ok_or_else(|| ApiError::internal("no namespaces"))?;
        match self.state.store.get(&key(&namespaces, "", self.ns())) {
            Some(ns) if meta_str(&ns, "deletionTimestamp").is_some() => Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "unable to create new content in namespace {} because it is being terminated",
                    self.ns()
                ),
                None,
            )),
            Some(_) => Ok(()),
            None => Err(ApiError::not_found(&namespaces, self.ns())),
        }
    }

    /// Admission in the request version (webhooks of the stored configurations for built-ins
    /// too), with schema processing for custom resources, which are then converted to the
    /// storage version; built-ins are validated.
    async fn admit(
        &self,
        operation: &str,
        object: Value,
        old: Option<&Value>,
    ) -> Result<(Value, Vec<String>), ApiError> {
        let name = meta_str(&object, "name").unwrap_or_default().to_owned();
        // Built-ins have no structural schema here; their validation follows admission.
        let schema = if self.resource.custom {
            self.state
                .schemas
                .read()
                .await
                .get(&self.resource.api_version())
                .cloned()
        } else {
            None
        };
        let old_request_version = match old {
            Some(old) => Some(self.to_request_version(old.clone()).await?),
            None => None,
        };
        // As kube-apiserver: decode (prune, default), mutating admission (each patch decoded
        // again), schema and CEL validation, validating admission.
        let decode = |object: &Value| match &schema {
            Some(schema) => crate::schema::decode_custom(schema, object),
            None => object.clone(),
        };
        let mut object = decode(&object);
        let mut warnings = Vec::new();
        let (mutating, validating) =
            if !self.is_status() && matches!(operation, "CREATE" | "UPDATE") {
                self.admission_hooks(&object, operation).await
            } else {
                (Vec::new(), Vec::new())
            };
        let request = |object: &Value| {
            admission_request(
                &self.resource,
                self.ns(),
                &name,
                operation,
                object,
                old_request_version.as_ref(),
                self.dry_run(),
            )
        };
        for hook in &mutating {
            let Some(mutated) = hook.admit(request(&object), &mut warnings).await? else {
                continue;
            };
            if let Some(patch) = mutated.patch {
                let patched = json_patch(&object, &patch).map_err(|e| {
                    ApiError::internal(format!(
                        "Internal error occurred: the patch of webhook \"{}\" does not apply: {e}",
                        hook.name
                    ))
                })?;
                object = decode(&patched);
            }
        }
        if let Some(schema) = &schema {
            crate::schema::validate_custom(schema, &object, old_request_version.as_ref())
                .map_err(|causes| ApiError::invalid(&self.resource, &name, &causes))?;
        }
        if !self.resource.custom {
            let causes = crate::defaults::validate(&self.resource, &object);
            if !causes.is_empty() {
                return Err(ApiError::invalid(&self.resource, &name, &causes));
            }
        }
        for hook in &validating {
            hook.admit(request(&object), &mut warnings).await?;
        }
        if !self.resource.custom {
            return Ok((object, warnings));
        }
        let stored = convert(self.state, object, &self.resource.storage_api_version()).await?;
        Ok((storage_defaults(self.state, stored).await, warnings))
    }

    /// The mutating and validating webhooks a request goes through: the registered ones (for
    /// LocustTests), or those of the stored webhook configurations that match it (for any
    /// resource, built-ins too: a pod injector's, say).
    async fn admission_hooks(&self, object: &Value, operation: &str) -> (Vec<Hook>, Vec<Hook>) {
        let fixed = if self.resource.custom {
            self.state.webhooks.read().await.clone()
        } else {
            None
        };
        if let Some(fixed) = fixed {
            let hook = |name: &str, path: &str| Hook {
                name: name.to_owned(),
                target: Ok((fixed.clone(), path.to_owned())),
                ignore_failures: false,
            };
            return (
                vec![hook(MUTATING_NAME, "/mutate")],
                vec![hook(VALIDATING_NAME, "/validate")],
            );
        }
        let namespace_labels = match resources::find("", "v1", "namespaces") {
            Some(namespaces) if self.resource.namespaced => self
                .state
                .store
                .get(&key(&namespaces, "", self.ns()))
                .map(|ns| labels(&ns))
                .unwrap_or_default(),
            _ => BTreeMap::new(),
        };
        let object_labels = labels(object);
        let attributes = RequestAttributes {
            group: self.resource.group,
            version: self.resource.version,
            resource: self.resource.plural,
            operation,
            namespaced: self.resource.namespaced,
            namespace_labels: &namespace_labels,
            object_labels: &object_labels,
        };
        let hooks = |plural: &str| -> Vec<Hook> {
            let Some(resource) = resources::find("admissionregistration.k8s.io", "v1", plural)
            else {
                return Vec::new();
            };
            let (configurations, _) = self.state.store.list(&resource, None);
            crate::webhooks::matching(&configurations, &attributes)
                .into_iter()
                .map(|configured| Hook {
                    target: crate::webhooks::client_for(
                        &configured.client_config,
                        &self.state.services,
                        configured.timeout,
                    ),
                    name: configured.name,
                    ignore_failures: configured.ignore_failures,
                })
                .collect()
        };
        (
            hooks("mutatingwebhookconfigurations"),
            hooks("validatingwebhookconfigurations"),
        )
    }

    async fn create(&self) -> Result<Response, ApiError> {
        let mut object = self.parse_body()?;
        self.check_type(&object)?;
        let field_warnings = self
            .check_fields(&object, |unknown| {
                crate::strict::decode_error(&self.resource, unknown)
            })
            .await?;
        self.check_namespace().await?;
        let metadata = metadata_mut(&mut object);
        if self.resource.namespaced {
            metadata.insert("namespace".into(), json!(self.ns()));
        }
        if metadata
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            match metadata.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => {
                    let suffix = crate::defaults::random_suffix();
                    metadata.insert("name".into(), json!(format!("{prefix}{suffix}")));
                }
                _ => {
                    return Err(ApiError::invalid(
                        &self.resource,
                        "",
                        &[(
                            "metadata.name".into(),
                            "Required value: name or generateName is required".into(),
                        )],
                    ));
                }
            }
        }
        for field in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "managedFields",
        ] {
            metadata.remove(field);
        }
        if self.resource.status
            && let Value::Object(map) = &mut object
        {
            map.remove("status");
        }
        let name = meta_str(&object, "name").unwrap_or_default().to_owned();
        let (mut object, mut warnings) = self.admit("CREATE", object, None).await?;
        warnings.splice(0..0, field_warnings);
        metadata_mut(&mut object).insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        if !self.resource.custom {
            crate::defaults::defaults(&self.resource, &mut object);
        }
        // Scheme defaults count as the creator's fields; what the strategy, the allocators and
        // admission add afterwards does not.
        let manager = self.field_manager();
        record_update(
            None,
            &mut object,
            &manager,
            &self.resource.api_version(),
            None,
        );
        if !self.resource.custom {
            crate::defaults::prepare_create(&self.resource, &mut object, || {
                self.state.service_ip()
            });
        }
        let object = self.to_storage(object);
        if self.dry_run() {
            let response = self.to_request_version(object).await?;
            return Ok(json_response(201, &response, &warnings));
        }
        let created = self
            .state
            .store
            .create(&self.resource, self.key_of(&name), object)?;
        Ok(json_response(
            201,
            &self.to_request_version(created).await?,
            &warnings,
        ))
    }

    /// Merges the submitted object with the stored one according to the subresource split.
    fn split(&self, current: &Value, mut submitted: Value) -> Value {
        if !self.resource.status {
            return submitted;
        }
        if self.is_status() {
            let mut merged = current.clone();
            match submitted.get("status") {
                Some(status) => merged["status"] = status.clone(),
                None => {
                    if let Value::Object(map) = &mut merged {
                        map.remove("status");
                    }
                }
            }
            // Status writes keep the stored metadata (labels etc.) but take the caller's
            // resourceVersion precondition.
            if let Some(rv) = meta_str(&submitted, "resourceVersion") {
                metadata_mut(&mut merged).insert("resourceVersion".into(), json!(rv));
            }
            merged
        } else {
            match current.get("status") {
                Some(status) => submitted["status"] = status.clone(),
                None => {
                    if let Value::Object(map) = &mut submitted {
                        map.remove("status");
                    }
                }
            }
            submitted
        }
    }

    /// Stores `next` (in the request version) over `current` (storage version). `applied`: the
    /// managedFields a server-side apply computed (otherwise the write is recorded as an Update
    /// by the request's field manager).
    async fn write(
        &self,
        current: &Value,
        next: Value,
        expected_rv: u64,
        applied: Option<Value>,
    ) -> Result<(Value, Vec<String>), ApiError> {
        let name = meta_str(current, "name").unwrap_or_default().to_owned();
        let current_request = self.to_request_version(current.clone()).await?;
        // The field manager counts a label sent to /status as the writer's, although the
        // status strategy drops it (the API server does the same).
        let reset = if self.is_status() {
            let sent = leaf_paths(
                &json!({"apiVersion": next.get("apiVersion"), "kind": next.get("kind"), "metadata": {
                "labels": next.pointer("/metadata/labels"), "annotations": next.pointer("/metadata/annotations")}}),
            );
            sent.into_iter()
                .filter(|p| {
                    let pointer = format!(
                        "/{}",
                        p.iter()
                            .map(|k| k.replace('~', "~0").replace('/', "~1"))
                            .collect::<Vec<_>>()
                            .join("/")
                    );
                    current_request.pointer(&pointer) != next.pointer(&pointer)
                })
                .collect()
        } else {
            BTreeSet::new()
        };
        let mut next = self.split(&current_request, next);
        if !self.resource.custom && !self.is_status() {
            crate::defaults::defaults(&self.resource, &mut next);
            crate::defaults::prepare_update(&self.resource, &mut next, &current_request);
        }
        let (mut stored, warnings) = if self.is_status() {
            let stored = convert(self.state, next, &self.resource.storage_api_version()).await?;
            (storage_defaults(self.state, stored).await, Vec::new())
        } else {
            self.admit("UPDATE", next, Some(current)).await?
        };
        let subresource = self.is_status().then_some("status");
        // Built-ins are still in the request version here (custom resources were converted to
        // the storage version by admission): compare like with like.
        let before = if self.resource.custom {
            current
        } else {
            &current_request
        };
        match applied {
            Some(managed) => {
                metadata_mut(&mut stored).insert("managedFields".into(), managed);
            }
            None => record_update_with(
                Some(before),
                &mut stored,
                &reset,
                &self.field_manager(),
                &self.resource.api_version(),
                subresource,
            ),
        }
        let stored = self.to_storage(stored);
        let spec_changed = !self.is_status()
            && without(current, &["metadata", "status"])
                != without(&stored, &["metadata", "status"]);
        if self.dry_run() {
            return Ok((stored, warnings));
        }
        let finalizers_done = meta_str(current, "deletionTimestamp").is_some()
            && stored
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        if finalizers_done {
            // The last finalizer of an object marked for deletion went: the object goes with
            // this state (a DELETED event, no MODIFIED).
            let mut last = stored;
            for field in [
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                if let Some(value) = current.get("metadata").and_then(|m| m.get(field)) {
                    metadata_mut(&mut last).insert(field.into(), value.clone());
                }
            }
            let removed = self.state.store.remove_as(
                &self.resource,
                &self.key_of(&name),
                Some(expected_rv),
                Some(last),
            )?;
            crate::gc::collect(
                self.state.clone(),
                self.resource.clone(),
                removed.clone(),
                Propagation::Background,
            );
            return Ok((removed, warnings));
        }
        let updated = self.state.store.update(
            &self.resource,
            &self.key_of(&name),
            expected_rv,
            stored,
            spec_changed,
        )?;
        Ok((updated, warnings))
    }

    async fn replace(&self, name: &str) -> Result<Response, ApiError> {
        let object = self.parse_body()?;
        self.check_type(&object)?;
        let field_warnings = self
            .check_fields(&object, |unknown| {
                crate::strict::decode_error(&self.resource, unknown)
            })
            .await?;
        if meta_str(&object, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        let current = self
            .state
            .store
            .get(&self.key_of(name))
            .ok_or_else(|| ApiError::not_found(&self.resource, name))?;
        let expected = match resource_version(&object) {
            Some(rv) => rv,
            None if self.resource.custom => {
                return Err(ApiError::invalid_resource(
                    &self.resource,
                    name,
                    &[(
                        "metadata.resourceVersion".into(),
                        "Invalid value: 0x0: must be specified for an update".into(),
                    )],
                ));
            }
            None => resource_version(&current).unwrap_or_default(),
        };
        let (stored, mut warnings) = self.write(&current, object, expected, None).await?;
        warnings.splice(0..0, field_warnings);
        Ok(json_response(
            200,
            &self.to_request_version(stored).await?,
            &warnings,
        ))
    }

    async fn patch(&self, name: &str) -> Result<Response, ApiError> {
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let kind = PatchKind::from_content_type(content_type).ok_or_else(|| {
            ApiError::unsupported_media_type("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
        })?;
        if kind == PatchKind::Strategic && self.resource.custom {
            return Err(ApiError::unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        let patch = self.parse_body()?;
        let mut field_warnings = Vec::new();
        if kind == PatchKind::Apply
            && let Some(schema) = self.schema().await
        {
            match self.field_validation()? {
                FieldValidation::Strict => {
                    if let Some(error) =
                        crate::strict::apply_error(&self.resource, self.ns(), name, &schema, &patch)
                    {
                        return Err(error);
                    }
                }
                FieldValidation::Warn => {
                    let unknown = crate::strict::unknown_fields(&schema, &patch);
                    field_warnings = crate::strict::warnings(&unknown);
                }
                FieldValidation::Ignore => {}
            }
        }
        for _attempt in 0..8 {
            let current = self.state.store.get(&self.key_of(name));
            let Some(current) = current else {
                if kind == PatchKind::Apply {
                    return self.apply_create(name, &patch).await;
                }
                return Err(ApiError::not_found(&self.resource, name));
            };
            let rv = resource_version(&current).unwrap_or_default();
            let base = self.to_request_version(current.clone()).await?;
            let next = match kind {
                PatchKind::Merge => merge_patch(&base, &patch),
                PatchKind::Strategic => strategic_merge(&base, &patch),
                PatchKind::Json => json_patch(&base, &patch).map_err(|_| {
                    ApiError::new(
                        422,
                        "Invalid",
                        "the server rejected our request due to an error in our request",
                        Some(json!({})),
                    )
                })?,
                PatchKind::Apply => {
                    let manager = self.query.get("fieldManager").cloned().ok_or_else(|| {
                        ApiError::bad_request(
                            "PATCH requests with apply content type must set fieldManager",
                        )
                    })?;
                    let force = self.query.get("force").is_some_and(|f| f == "true");
                    let subresource = self.is_status().then_some("status");
                    apply(Some(&base), &patch, &manager, force, &self.resource.api_version(), subresource).map_err(|conflicts| {
                        let causes: Vec<Value> = conflicts
                            .iter()
                            .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager_description()), "field": c.field}))
                            .collect();
                        ApiError::new(409, "Conflict", conflict_message(&conflicts), Some(json!({"causes": causes})))
                    })?
                }
            };
            let mut next = next;
            if kind != PatchKind::Apply {
                field_warnings = self
                    .check_fields(&next, |unknown| crate::strict::patch_error(&next, unknown))
                    .await?;
            }
            // A patch may carry a resourceVersion precondition.
            let expected = match (resource_version(&patch), kind) {
                (Some(wanted), PatchKind::Merge | PatchKind::Strategic | PatchKind::Apply) => {
                    wanted
                }
                _ => rv,
            };
            metadata_mut(&mut next).insert("resourceVersion".into(), json!(rv.to_string()));
            let applied = (kind == PatchKind::Apply)
                .then(|| next.pointer("/metadata/managedFields").cloned())
                .flatten();
            match self.write(&current, next, expected, applied).await {
                Err(error)
                    if error.code == 409
                        && error.body["reason"] == "Conflict"
                        && expected == rv
                        && resource_version(&patch).is_none()
                        && kind != PatchKind::Apply =>
                {
                    continue;
                }
                Err(error) => return Err(error),
                Ok((stored, mut warnings)) => {
                    warnings.splice(0..0, field_warnings);
                    return Ok(json_response(
                        200,
                        &self.to_request_version(stored).await?,
                        &warnings,
                    ));
                }
            }
        }
        Err(ApiError::conflict(&self.resource, name))
    }

    async fn apply_create(&self, name: &str, config: &Value) -> Result<Response, ApiError> {
        self.check_type(config)?;
        self.check_namespace().await?;
        let manager = self.query.get("fieldManager").cloned().ok_or_else(|| {
            ApiError::bad_request("PATCH requests with apply content type must set fieldManager")
        })?;
        let mut object = apply(
            None,
            config,
            &manager,
            true,
            &self.resource.api_version(),
            None,
        )
        .map_err(|_| ApiError::internal("apply"))?;
        object["apiVersion"] = json!(self.resource.api_version());
        object["kind"] = json!(self.resource.kind);
        let metadata = metadata_mut(&mut object);
        metadata.insert("name".into(), json!(name));
        if self.resource.namespaced {
            metadata.insert("namespace".into(), json!(self.ns()));
        }
        if self.resource.status
            && let Value::Object(map) = &mut object
        {
            map.remove("status");
        }
        let managed = object.pointer("/metadata/managedFields").cloned();
        let (mut object, warnings) = self.admit("CREATE", object, None).await?;
        metadata_mut(&mut object).insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        if !self.resource.custom {
            crate::defaults::apply(&self.resource, &mut object, || self.state.service_ip());
        }
        if let Some(managed) = managed {
            metadata_mut(&mut object).insert("managedFields".into(), managed);
        }
        let object = self.to_storage(object);
        if self.dry_run() {
            return Ok(json_response(
                201,
                &self.to_request_version(object).await?,
                &warnings,
            ));
        }
        let created = self
            .state
            .store
            .create(&self.resource, self.key_of(name), object)?;
        Ok(json_response(
            201,
            &self.to_request_version(created).await?,
            &warnings,
        ))
    }

    async fn delete(&self, name: &str) -> Result<Response, ApiError> {
        let options: Value = if self.body.is_empty() {
            json!({})
        } else {
            self.parse_body()?
        };
        let policy = self.query.get("propagationPolicy").cloned().or_else(|| {
            options
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let mut warnings = Vec::new();
        let propagation = match policy.as_deref() {
            Some("Foreground") => Propagation::Foreground,
            Some("Orphan") => Propagation::Orphan,
            Some("Background") => Propagation::Background,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "unsupported propagationPolicy {other:?}"
                )));
            }
            None if self.resource.group == "batch" && self.resource.kind == "Job" => {
                warnings.push("child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning".to_owned());
                Propagation::Orphan
            }
            None => Propagation::Background,
        };
        if let Some(precondition) = options
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
        {
            let current = self
                .state
                .store
                .get(&self.key_of(name))
                .ok_or_else(|| ApiError::not_found(&self.resource, name))?;
            if meta_str(&current, "uid") != Some(precondition) {
                return Err(ApiError::conflict(&self.resource, name));
            }
        }
        if self.dry_run() {
            let current = self
                .state
                .store
                .get(&self.key_of(name))
                .ok_or_else(|| ApiError::not_found(&self.resource, name))?;
            return Ok(json_response(
                200,
                &self.to_request_version(current).await?,
                &warnings,
            ));
        }
        let outcome = crate::gc::delete(
            self.state.clone(),
            &self.resource,
            &self.key_of(name),
            propagation,
        )?;
        match outcome {
            crate::gc::Deleted::Marked(object) => Ok(json_response(
                200,
                &self.to_request_version(object).await?,
                &warnings,
            )),
            crate::gc::Deleted::Removed(object) if self.resource.returns_deleted_object() => Ok(
                json_response(200, &self.to_request_version(object).await?, &warnings),
            ),
            crate::gc::Deleted::Removed(object) => {
                let uid = meta_str(&object, "uid").unwrap_or_default();
                Ok(json_response(
                    200,
                    &delete_success(&self.resource, name, uid),
                    &warnings,
                ))
            }
        }
    }
}

/// One admission webhook to call: its name (in messages), where (or why it cannot be
/// reached), and its failure policy.
struct Hook {
    name: String,
    target: Result<(Webhooks, String), String>,
    ignore_failures: bool,
}

impl Hook {
    /// Calls the webhook and collects its warnings: its denial as the API server words it
    /// (`admission webhook "<name>" denied the request: ...`), `None` when the call failed and
    /// the failure policy is `Ignore`.
    async fn admit(
        &self,
        review: Value,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Decision>, ApiError> {
        let Some(decision) = self.call(review).await? else {
            return Ok(None);
        };
        warnings.extend(decision.warnings.iter().cloned());
        match &decision.denial {
            Some((code, reason, message)) => Err(ApiError::new(
                *code,
                reason,
                format!(
                    "admission webhook \"{}\" denied the request: {message}",
                    self.name
                ),
                None,
            )),
            None => Ok(Some(decision)),
        }
    }

    /// Calls the webhook; `None` when the call failed and the failure policy is `Ignore`.
    async fn call(&self, review: Value) -> Result<Option<Decision>, ApiError> {
        let result = match &self.target {
            Ok((webhooks, path)) => webhooks.admit(path, review).await,
            Err(error) => Err(error.clone()),
        };
        match result {
            Ok(decision) => Ok(Some(decision)),
            Err(_) if self.ignore_failures => Ok(None),
            Err(error) => Err(ApiError::internal(format!(
                "Internal error occurred: failed calling webhook \"{}\": {error}",
                self.name
            ))),
        }
    }
}

fn without(object: &Value, keys: &[&str]) -> Value {
    let mut copy = object.clone();
    if let Value::Object(map) = &mut copy {
        for key in keys {
            map.remove(*key);
        }
    }
    copy
}

fn admission_request(
    resource: &ResourceType,
    namespace: &str,
    name: &str,
    operation: &str,
    object: &Value,
    old: Option<&Value>,
    dry_run: bool,
) -> Value {
    let gvk = json!({"group": resource.group, "version": resource.version, "kind": resource.kind});
    let gvr =
        json!({"group": resource.group, "version": resource.version, "resource": resource.plural});
    json!({
        "uid": uuid::Uuid::new_v4().to_string(),
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": name,
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": "system:harness", "groups": ["system:masters", "system:authenticated"]},
        "object": object,
        "oldObject": old.cloned().unwrap_or(Value::Null),
        "dryRun": dry_run,
        "options": {"kind": if operation == "CREATE" { "CreateOptions" } else { "UpdateOptions" }, "apiVersion": "meta.k8s.io/v1"}
    })
}

/// The page a list request asks for: `limit` (at most that many items; absent or 0: all) and
/// `continue` (the token of the previous page: its resourceVersion and the last key served).
struct Page {
    limit: Option<usize>,
    start: Option<(u64, PageKey)>,
}

/// Where an object sorts in a list: namespace, then name (the store's order).
type PageKey = (String, String);

impl Page {
    fn of_query(query: &BTreeMap<String, String>) -> Result<Self, ApiError> {
        let limit = match query.get("limit").filter(|l| !l.is_empty()) {
            Some(text) => Some(text.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "limit: Invalid value: {text:?}: must be an integer"
                ))
            })?),
            None => None,
        };
        let start = match query.get("continue").filter(|c| !c.is_empty()) {
            Some(token) => Some(parse_continue(token).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid continue token: continue key is not valid: not a token this server issued",
                )
            })?),
            None => None,
        };
        Ok(Self {
            limit: limit
                .filter(|l| *l > 0)
                .and_then(|l| usize::try_from(l).ok()),
            start,
        })
    }
}

/// The API server's continue token: base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":KEY}`.
fn continue_token(rv: u64, (namespace, name): &PageKey) -> String {
    use base64::Engine;
    let token =
        json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{namespace}/{name}\u{0}")});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

/// The resourceVersion and last key of a [`continue_token`].
fn parse_continue(token: &str) -> Option<(u64, PageKey)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    if value.get("v")?.as_str()? != "meta.k8s.io/v1" {
        return None;
    }
    let rv = value.get("rv")?.as_u64()?;
    let start = value.get("start")?.as_str()?.strip_suffix('\u{0}')?;
    let (namespace, name) = start.split_once('/')?;
    Some((rv, (namespace.to_owned(), name.to_owned())))
}
