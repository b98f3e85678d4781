//! The sandbox's equivalent of the operator's metrics sidecar (`containersol/locust_exporter`):
//! the same listen address and the same metric names, read from the master's web API
//! (`/stats/requests`) at every scrape.

use std::net::SocketAddr;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Serves `/metrics` on `listen` until `stop`, scraping the Locust web UI at `web`.
pub async fn serve(
    listen: SocketAddr,
    web: SocketAddr,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || async move {
            let stats = fetch(web).await;
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                render(stats.as_ref()),
            )
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

/// `GET /stats/requests` of the master, or `None` when it does not answer.
async fn fetch(web: SocketAddr) -> Option<Value> {
    let body = crate::locust::client::get(
        &web.to_string(),
        "/stats/requests",
        crate::locust::client::DEFAULT_TIMEOUT,
    )
    .await
    .ok()?;
    serde_json::from_slice(&body).ok()
}

/// The exporter's metrics for `stats` (`locust_up 0` alone when the master did not answer).
pub fn render(stats: Option<&Value>) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: Vec<(String, f64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    let Some(stats) = stats else {
        gauge(
            "locust_up",
            "The current health status of the server (1 = UP, 0 = DOWN).",
            vec![(String::new(), 0.0)],
        );
        return out;
    };
    let number = |value: &Value, key: &str| value.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    gauge(
        "locust_up",
        "The current health status of the server (1 = UP, 0 = DOWN).",
        vec![(String::new(), 1.0)],
    );
    gauge(
        "locust_users",
        "The current number of users.",
        vec![(String::new(), number(stats, "user_count"))],
    );
    let state = stats
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let running = match state {
        "running" => 2.0,
        "spawning" | "hatching" => 1.0,
        _ => 0.0,
    };
    gauge(
        "locust_running",
        "The current state of the execution (0 = STOPPED 1 = HATCHING 2 = RUNNING,).",
        vec![(String::new(), running)],
    );
    let workers = stats
        .get("workers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let count = |wanted: &[&str]| {
        workers
            .iter()
            .filter(|w| {
                w.get("state")
                    .and_then(Value::as_str)
                    .is_some_and(|s| wanted.contains(&s))
            })
            .count() as f64
    };
    gauge(
        "locust_workers_count",
        "The current number of workers.",
        vec![(String::new(), workers.len() as f64)],
    );
    gauge(
        "locust_workers_running_count",
        "The current number of running workers.",
        vec![(String::new(), count(&["running"]))],
    );
    gauge(
        "locust_workers_hatching_count",
        "The current number of hatching workers.",
        vec![(String::new(), count(&["spawning", "hatching"]))],
    );
    gauge(
        "locust_workers_missing_count",
        "The current number of missing workers.",
        vec![(String::new(), count(&["missing"]))],
    );
    gauge(
        "locust_fail_ratio",
        "The current failure ratio.",
        vec![(String::new(), number(stats, "fail_ratio"))],
    );
    let entries: Vec<&Value> = stats
        .get("stats")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s.get("name").and_then(Value::as_str) != Some("Aggregated"))
        .collect();
    let per_request = |key: &str| {
        entries
            .iter()
            .map(|s| {
                let label = |k: &str| {
                    s.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                };
                (
                    format!(
                        "{{method=\"{}\",name=\"{}\"}}",
                        label("method"),
                        label("name")
                    ),
                    number(s, key),
                )
            })
            .collect::<Vec<_>>()
    };
    for (name, key, help) in [
        (
            "locust_requests_num_requests",
            "num_requests",
            "The number of requests.",
        ),
        (
            "locust_requests_num_failures",
            "num_failures",
            "The number of failures.",
        ),
        (
            "locust_requests_avg_response_time",
            "avg_response_time",
            "The average response time.",
        ),
        (
            "locust_requests_min_response_time",
            "min_response_time",
            "The minimum response time.",
        ),
        (
            "locust_requests_max_response_time",
            "max_response_time",
            "The maximum response time.",
        ),
        (
            "locust_requests_median_response_time",
            "median_response_time",
            "The median response time.",
        ),
        (
            "locust_requests_current_rps",
            "current_rps",
            "The current requests per second.",
        ),
        (
            "locust_requests_current_fail_per_sec",
            "current_fail_per_sec",
            "The current failures per second.",
        ),
        (
            "locust_requests_avg_content_length",
            "avg_content_length",
            "The average content length.",
        ),
    ] {
        gauge(name, help, per_request(key));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;
    use serde_json::json;

    #[test]
    fn metrics_of_a_running_test() {
        let stats = json!({
            "state": "running", "user_count": 20, "fail_ratio": 0.0,
            "workers": [{"state": "running"}, {"state": "running"}],
            "stats": [
                {"method": "GET", "name": "/", "num_requests": 120, "num_failures": 0,
                 "avg_response_time": 3.5, "current_rps": 9.5},
                {"method": null, "name": "Aggregated", "num_requests": 120}
            ]
        });
        let text = render(Some(&stats));
        for line in [
            "locust_up 1",
            "locust_users 20",
            "locust_running 2",
            "locust_workers_count 2",
            "locust_workers_running_count 2",
            "locust_requests_num_requests{method=\"GET\",name=\"/\"} 120",
            "locust_requests_current_rps{method=\"GET\",name=\"/\"} 9.5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("Aggregated"));
        assert_eq!(render(None).lines().last(), Some("locust_up 0"));
    }
}
