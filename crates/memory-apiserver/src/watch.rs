//! WATCH: newline-delimited JSON events over a chunked HTTP/1.1 response, from a
//! resourceVersion (or from "now" with synthetic ADDED events for what exists, ended by a
//! `k8s.io/initial-events-end` BOOKMARK when asked with `sendInitialEvents`), filtered by
//! label and field selectors, with BOOKMARKs, `timeoutSeconds`, and an `ERROR` event with a
//! 410 `Expired` Status for a resourceVersion older than the history.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::resources::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector, labels};
use crate::state::{State, from_storage};
use crate::status::ApiError;
use crate::store::{Event, EventType, meta_str};
use crate::table::Table;

/// Default watch duration when the client sets no `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct Filters {
    resource: ResourceType,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filters {
    fn selects(&self, object: &Value) -> bool {
        self.labels.matches(&labels(object)) && self.fields.matches(object)
    }

    /// Whether the change is to this watch's storage (both Event APIs see every Event).
    fn same_resource(&self, event: &Event) -> bool {
        event.group == self.resource.storage_group()
            && event.plural == self.resource.plural
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| ns == event.namespace)
    }

    /// The event as this watch sees it (selector transitions become ADDED/DELETED).
    fn view(&self, event: &Event) -> Option<(EventType, Value)> {
        if !self.same_resource(event) {
            return None;
        }
        let now = self.selects(&event.object);
        let before = event.previous.as_ref().map(|p| self.selects(p));
        match (event.kind, before, now) {
            (EventType::Modified, Some(true), true) => {
                Some((EventType::Modified, event.object.clone()))
            }
            (EventType::Modified, Some(false), true) => {
                Some((EventType::Added, event.object.clone()))
            }
            (EventType::Modified, Some(true), false) => {
                Some((EventType::Deleted, event.object.clone()))
            }
            (EventType::Modified, _, _) => None,
            (kind, _, true) => Some((kind, event.object.clone())),
            _ => None,
        }
    }
}

fn line(value: &Value) -> Bytes {
    Bytes::from(crate::encoding::to_line(value))
}

/// Serves one watch request.
pub async fn serve(
    state: Arc<State>,
    resource: ResourceType,
    namespace: Option<String>,
    query: &BTreeMap<String, String>,
    table: Option<Table>,
) -> Result<Response, ApiError> {
    let filters = Filters {
        resource: resource.clone(),
        namespace,
        labels: LabelSelector::parse(
            query
                .get("labelSelector")
                .map(String::as_str)
                .unwrap_or_default(),
        )
        .map_err(ApiError::bad_request)?,
        fields: FieldSelector::parse(
            &resource,
            query
                .get("fieldSelector")
                .map(String::as_str)
                .unwrap_or_default(),
        )
        .map_err(ApiError::bad_request)?,
    };
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    // A watch-list (`sendInitialEvents=true`, with `resourceVersionMatch=NotOlderThan`):
    // the current state as ADDED events, then a BOOKMARK saying the initial events ended.
    let initial_events = query.get("sendInitialEvents").is_some_and(|v| v == "true");
    let from = query
        .get("resourceVersion")
        .filter(|rv| !rv.is_empty() && *rv != "0" && !initial_events)
        .map(|rv| rv.parse::<u64>());

    // Subscribe before reading the backlog so nothing falls between the two.
    let mut live = state.store.subscribe();
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut backlog: Vec<(EventType, Value, u64)> = Vec::new();
    let mut last_rv;
    match from {
        Some(Err(_)) => return Err(ApiError::bad_request("resourceVersion must be a number")),
        Some(Ok(rv)) => match state.store.events_since(rv) {
            Ok(events) => {
                last_rv = rv;
                for event in events {
                    if let Some((kind, object)) = filters.view(&event) {
                        backlog.push((kind, object, event.rv));
                    }
                }
            }
            Err(oldest) => {
                let status = ApiError::expired(rv, oldest).body;
                let event = line(&json!({"type": "ERROR", "object": status}));
                let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(event) });
                return Ok(stream_response(Body::from_stream(stream)));
            }
        },
        None => {
            let (objects, rv) = state.store.list(&resource, filters.namespace.as_deref());
            last_rv = rv;
            for object in objects.into_iter().filter(|o| filters.selects(o)) {
                let object_rv = crate::store::resource_version(&object).unwrap_or_default();
                backlog.push((EventType::Added, object, object_rv));
            }
        }
    }
    let floor = last_rv;
    let drop_watches = state.store.drop_watches.clone();
    let api_version = resource.api_version();
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let bookmark_at = deadline
            .checked_sub(Duration::from_secs(2))
            .filter(|_| bookmarks && timeout > Duration::from_secs(2));
        let mut bookmark_interval = tokio::time::interval(Duration::from_secs(60));
        bookmark_interval.tick().await;
        let dropped = drop_watches.notified();
        tokio::pin!(dropped);
        // With a Table: each object as a one-row Table, the first with the column definitions.
        let mut columns_sent = false;
        let mut send = |kind: &str, object: Value| {
            let object = match &table {
                Some(table) if kind != "ERROR" => {
                    let rv = meta_str(&object, "resourceVersion")
                        .unwrap_or_default()
                        .to_owned();
                    let rows = if kind == "BOOKMARK" {
                        Vec::new()
                    } else {
                        vec![object]
                    };
                    let with_columns =
                        kind != "BOOKMARK" && !std::mem::replace(&mut columns_sent, true);
                    table.of(&rows, &rv, with_columns)
                }
                _ => object,
            };
            line(&json!({"type": kind, "object": object}))
        };
        for (kind, object, rv) in backlog {
            let Ok(object) = from_storage(&state, object, &api_version).await else {
                return;
            };
            last_rv = last_rv.max(rv);
            if tx.send(send(kind.as_str(), object)).await.is_err() {
                return;
            }
        }
        if initial_events {
            let mut end = bookmark(&resource, last_rv);
            end["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            if tx.send(send("BOOKMARK", end)).await.is_err() {
                return;
            }
        }
        let mut bookmark_sent = false;
        loop {
            let bookmark_sleep = async {
                match bookmark_at {
                    Some(at) if !bookmark_sent => tokio::time::sleep_until(at).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut dropped => return,
                () = tokio::time::sleep_until(deadline) => return,
                () = bookmark_sleep => {
                    bookmark_sent = true;
                    if tx.send(send("BOOKMARK", bookmark(&resource, last_rv))).await.is_err() { return; }
                }
                _ = bookmark_interval.tick(), if bookmarks => {
                    if tx.send(send("BOOKMARK", bookmark(&resource, last_rv))).await.is_err() { return; }
                }
                received = live.recv() => match received {
                    Ok(event) => {
                        if event.rv <= floor { continue; }
                        if let Some((kind, object)) = filters.view(&event) {
                            let Ok(object) = from_storage(&state, object, &api_version).await else { return };
                            last_rv = event.rv;
                            if tx.send(send(kind.as_str(), object)).await.is_err() { return; }
                        } else if filters.same_resource(&event) {
                            last_rv = event.rv;
                        }
                    }
                    // Fell behind the broadcast: end the watch; the client relists.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                () = tx.closed() => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, std::io::Error>(bytes), rx))
    });
    Ok(stream_response(Body::from_stream(stream)))
}

fn stream_response(body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A BOOKMARK's object: the zero value of the watched kind, as the API server encodes it,
/// with only `metadata.resourceVersion` set (custom resources: just apiVersion, kind and the
/// resourceVersion).
fn bookmark(resource: &ResourceType, rv: u64) -> Value {
    let rv = rv.to_string();
    if resource.custom {
        return json!({"apiVersion": resource.api_version(), "kind": resource.kind, "metadata": {"resourceVersion": rv}});
    }
    let mut object = json!({
        "kind": resource.kind,
        "apiVersion": resource.api_version(),
        "metadata": {"resourceVersion": rv, "creationTimestamp": null},
    });
    let zero = match (resource.group, resource.kind) {
        ("batch", "Job") => json!({
            "spec": {"template": {"metadata": {"creationTimestamp": null}, "spec": {"containers": null}}},
            "status": {}
        }),
        ("batch", "CronJob") => json!({
            "spec": {"schedule": "", "jobTemplate": {"metadata": {"creationTimestamp": null}, "spec": {"template": {"metadata": {"creationTimestamp": null}, "spec": {"containers": null}}}}},
            "status": {}
        }),
        ("", "Pod") => json!({"spec": {"containers": null}, "status": {}}),
        ("", "Service") => json!({"spec": {}, "status": {"loadBalancer": {}}}),
        ("", "Namespace") => json!({"spec": {}, "status": {}}),
        // The zero Event of either version, as its json tags encode it (`omitempty` strings and
        // counts left out, struct references `{}`, timestamps `null`).
        (_, "Event") => {
            return crate::events::convert(&object, &resource.api_version()).unwrap_or(object);
        }
        ("coordination.k8s.io", "Lease") => json!({"spec": {}}),
        _ => json!({}),
    };
    if let (Value::Object(object), Value::Object(zero)) = (&mut object, zero) {
        object.extend(zero);
    }
    object
}

/// Whether an object is in a namespace (helper for callers).
pub fn in_namespace(object: &Value, namespace: &str) -> bool {
    meta_str(object, "namespace") == Some(namespace)
}
