//! Prometheus metrics, served on `/metrics` of the metrics port.
//!
//! Webhook metrics use controller-runtime's names and labels so dashboards built for
//! controller-runtime operators (including the Go operator) keep working:
//! `controller_runtime_webhook_requests_total{webhook,code}`,
//! `controller_runtime_webhook_latency_seconds{webhook}` and
//! `controller_runtime_webhook_requests_in_flight{webhook}`. Our own
//! `locust_operator_webhook_decisions_total{webhook,decision}` adds what was decided.
//! Every label takes values from a bounded set (paths, HTTP codes, decisions).

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets of controller-runtime's webhook histogram (Prometheus' default buckets).
const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// `webhook` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// The webhook's path, e.g. `/validate`.
    pub webhook: String,
}

/// `webhook` and `code` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookCodeLabels {
    /// The webhook's path.
    pub webhook: String,
    /// The HTTP status code of the response.
    pub code: String,
}

/// `webhook` and `decision` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookDecisionLabels {
    /// The webhook's path.
    pub webhook: String,
    /// What was decided (`allowed`, `denied`, `patched`, ...).
    pub decision: String,
}

/// Every metric the operator exports, and the registry that encodes them.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Webhook requests by path and HTTP code.
    pub webhook_requests: Family<WebhookCodeLabels, Counter>,
    /// Webhook latency by path.
    pub webhook_latency: Family<WebhookLabels, Histogram>,
    /// Webhook requests being served, by path.
    pub webhook_in_flight: Family<WebhookLabels, Gauge>,
    /// Webhook decisions by path.
    pub webhook_decisions: Family<WebhookDecisionLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let webhook_requests = Family::<WebhookCodeLabels, Counter>::default();
        let webhook_latency = Family::<WebhookLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS)
        });
        let webhook_in_flight = Family::<WebhookLabels, Gauge>::default();
        let webhook_decisions = Family::<WebhookDecisionLabels, Counter>::default();
        registry.register(
            "controller_runtime_webhook_requests",
            "Total number of admission requests by HTTP status code",
            webhook_requests.clone(),
        );
        registry.register(
            "controller_runtime_webhook_latency_seconds",
            "Histogram of the latency of processing admission requests",
            webhook_latency.clone(),
        );
        registry.register(
            "controller_runtime_webhook_requests_in_flight",
            "Current number of admission requests being served",
            webhook_in_flight.clone(),
        );
        registry.register(
            "locust_operator_webhook_decisions",
            "Webhook decisions (allowed, patched, warned, denied, converted, conversion_failed, bad_request)",
            webhook_decisions.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            webhook_requests,
            webhook_latency,
            webhook_in_flight,
            webhook_decisions,
        }
    }

    /// Registers more metrics (for other parts of the operator).
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut registry)
    }

    /// Every metric in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}
