//! The `pods/log` subresource: `GET /api/v1/namespaces/NS/pods/P/log?container=C&tailLines=N
//! &limitBytes=B&follow=true`, answered from a [`Logs`](crate::Logs) source that the program running the
//! pods provides ([`crate::ApiServer::set_logs`]), as kube-apiserver answers it from the
//! kubelet: 200 `text/plain` with the raw log, streamed while `follow`ing (what the source
//! has appended is sent every [`FOLLOW_INTERVAL`], until the container or the pod is gone or
//! terminated, or the client hangs up). As kube-apiserver: 404 for a pod that does not exist,
//! 400 for a container the pod does not have (or none named when it has several), and 204
//! with an empty body while the pod has no node (`spec.nodeName`), which is also the answer
//! when no source is set.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::resources;
use crate::state::{State, key};
use crate::status::ApiError;

/// How often a followed log is read again.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// The options of a log request.
struct Options {
    container: String,
    follow: bool,
    tail_lines: Option<usize>,
    limit_bytes: Option<usize>,
}

/// The names of a pod's containers of one kind (`containers`, `initContainers`, ...).
fn names<'a>(pod: &'a Value, list: &str) -> Vec<&'a str> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect()
}

/// The container to read: the one named, or the pod's only one.
fn container(
    pod: &Value,
    name: &str,
    query: &BTreeMap<String, String>,
) -> Result<String, ApiError> {
    let containers = names(pod, "containers");
    let requested = query.get("container").filter(|c| !c.is_empty());
    let Some(requested) = requested else {
        return match containers.as_slice() {
            [only] => Ok((*only).to_owned()),
            many => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    many.join(" ")
                );
                let init = names(pod, "initContainers");
                if !init.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init.join(" ")
                    ));
                }
                Err(ApiError::bad_request(message))
            }
        };
    };
    let known = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .any(|list| names(pod, list).contains(&requested.as_str()));
    if !known {
        return Err(ApiError::bad_request(format!(
            "container {requested} is not valid for pod {name}"
        )));
    }
    Ok(requested.clone())
}

fn number(query: &BTreeMap<String, String>, name: &str) -> Result<Option<usize>, ApiError> {
    match query.get(name) {
        None => Ok(None),
        Some(text) => text
            .parse::<i64>()
            .map(|n| Some(usize::try_from(n.max(0)).unwrap_or(0)))
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "{name}: invalid value {text:?}: must be an integer"
                ))
            }),
    }
}

/// The last `lines` lines of `log`.
fn tail(log: &[u8], lines: usize) -> &[u8] {
    if lines == 0 {
        return &[];
    }
    let body = log.strip_suffix(b"\n").unwrap_or(log);
    let mut seen = 0;
    for (i, byte) in body.iter().enumerate().rev() {
        if *byte == b'\n' {
            seen += 1;
            if seen == lines {
                return &log[i + 1..];
            }
        }
    }
    log
}

/// Whether the container (or the whole pod) has finished.
fn terminated(pod: &Value, container: &str) -> bool {
    if matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    ) {
        return true;
    }
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|list| {
            pod.pointer(&format!("/status/{list}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .filter(|s| s.get("name").and_then(Value::as_str) == Some(container))
        .any(|s| s.pointer("/state/terminated").is_some())
}

fn text_response(status: StatusCode, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if status != StatusCode::NO_CONTENT {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    response
}

/// Serves `GET .../pods/<name>/log`.
pub fn serve(
    state: Arc<State>,
    namespace: &str,
    name: &str,
    query: &BTreeMap<String, String>,
) -> Result<Response, ApiError> {
    let pods = resources::find("", "v1", "pods").ok_or_else(|| ApiError::internal("no pods"))?;
    let pod_key = key(&pods, namespace, name);
    let pod = state
        .store
        .get(&pod_key)
        .ok_or_else(|| ApiError::not_found(&pods, name))?;
    let options = Options {
        container: container(&pod, name, query)?,
        follow: query.get("follow").is_some_and(|f| f == "true" || f == "1"),
        tail_lines: number(query, "tailLines")?,
        limit_bytes: number(query, "limitBytes")?,
    };
    let scheduled = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let source = state.logs();
    let (Some(source), true) = (source, scheduled) else {
        return Ok(text_response(StatusCode::NO_CONTENT, Body::empty()));
    };
    let Some(log) = source.read(namespace, name, &options.container) else {
        return Err(ApiError::bad_request(format!(
            "container \"{}\" in pod \"{name}\" is waiting to start: ContainerCreating",
            options.container
        )));
    };
    let mut first = match options.tail_lines {
        Some(lines) => tail(&log, lines).to_vec(),
        None => log.clone(),
    };
    let mut budget = options.limit_bytes.unwrap_or(usize::MAX);
    first.truncate(budget);
    budget -= first.len();
    if !options.follow {
        return Ok(text_response(StatusCode::OK, Body::from(first)));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let (namespace, name) = (namespace.to_owned(), name.to_owned());
    tokio::spawn(async move {
        let mut sent = log.len();
        if !first.is_empty() && tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
                () = tx.closed() => return,
            }
            let pod = state.store.get(&pod_key);
            let done = pod
                .as_ref()
                .is_none_or(|pod| terminated(pod, &options.container));
            let log = source
                .read(&namespace, &name, &options.container)
                .unwrap_or_default();
            if log.len() < sent {
                // The log started over (a restarted container): follow the new one.
                sent = 0;
            }
            let mut new = log.get(sent..).unwrap_or_default().to_vec();
            sent = log.len();
            new.truncate(budget);
            budget -= new.len();
            if !new.is_empty() && tx.send(Bytes::from(new)).await.is_err() {
                return;
            }
            if done || budget == 0 {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, std::io::Error>(bytes), rx))
    });
    Ok(text_response(StatusCode::OK, Body::from_stream(stream)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(tail(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(tail(b"a\nb\n", 0), b"");
    }

    #[test]
    fn containers_are_checked_as_kube_apiserver_does() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        let query = |c: &str| BTreeMap::from([("container".to_owned(), c.to_owned())]);
        assert_eq!(container(&pod, "p", &query("b")).ok().as_deref(), Some("b"));
        assert_eq!(container(&pod, "p", &query("i")).ok().as_deref(), Some("i"));
        let wrong = container(&pod, "p", &query("locust"))
            .err()
            .map(|e| e.body["message"].clone());
        assert_eq!(
            wrong,
            Some(json!("container locust is not valid for pod p"))
        );
        let none = container(&pod, "p", &BTreeMap::new())
            .err()
            .map(|e| e.body["message"].clone());
        assert_eq!(
            none,
            Some(json!(
                "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
            ))
        );
        let single = json!({"spec": {"containers": [{"name": "only"}]}});
        assert_eq!(
            container(&single, "p", &BTreeMap::new()).ok().as_deref(),
            Some("only")
        );
    }
}
