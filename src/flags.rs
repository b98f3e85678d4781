//! The process's command-line flags (each also read from an environment variable): the
//! servers, leader election, certificates, watched namespaces. The operator's configuration of
//! the Locust pods is [`crate::config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of the TLS webhook server and the probe and metrics servers (`webhook` and `run`).
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct ServerFlags {
    /// Address of the HTTPS server for the admission and conversion webhooks.
    #[arg(long, env = "WEBHOOK_BIND_ADDRESS", default_value = ":9443", value_parser = parse_address)]
    pub webhook_bind_address: SocketAddr,

    /// Address of the `/healthz` and `/readyz` probes (plain HTTP).
    #[arg(long, env = "HEALTH_PROBE_BIND_ADDRESS", default_value = ":8081", value_parser = parse_address)]
    pub health_probe_bind_address: SocketAddr,

    /// Address of the Prometheus `/metrics` endpoint (plain HTTP).
    #[arg(long, env = "METRICS_BIND_ADDRESS", default_value = ":8080", value_parser = parse_address)]
    pub metrics_bind_address: SocketAddr,

    /// Directory holding the webhook certificate as `tls.crt` and `tls.key` (the layout of a
    /// mounted cert-manager Secret). Changes are picked up without a restart.
    #[arg(
        long,
        env = "CERT_DIR",
        default_value = "/tmp/k8s-webhook-server/serving-certs"
    )]
    pub cert_dir: PathBuf,

    /// How often the certificate files are checked for changes, e.g. `10s`.
    #[arg(long, env = "CERT_RELOAD_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub cert_reload_interval: Duration,
}

/// The flags of `run` alone on a command line (`args[0]` is the program's name), parsed as the
/// binary parses them: for the sandbox and the tests, which start the operator as `run` does.
#[derive(clap::Parser)]
struct RunCommandLine {
    #[command(flatten)]
    flags: ProcessFlags,
}

impl ProcessFlags {
    /// Parses `args` (`args[0]` is the program's name) as `locust-operator run` does.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        <RunCommandLine as clap::Parser>::try_parse_from(args).map(|line| line.flags)
    }
}

/// Command-line flags of `run` (each also readable from the environment).
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct ProcessFlags {
    #[command(flatten)]
    /// The servers.
    pub server: ServerFlags,

    /// Elect a leader among replicas; only the leader reconciles. `--leader-elect=false` for a
    /// single replica.
    #[arg(long, env = "LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,

    /// Name of the leader-election Lease: the Go operator's, so that during a migration the
    /// two can never both lead.
    #[arg(
        long,
        env = "LEADER_ELECTION_ID",
        default_value = "locust-k8s-operator.locust.io"
    )]
    pub leader_election_id: String,

    /// Namespace of the leader-election Lease (default: the operator's own namespace).
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// How long a Lease is valid after its last renewal: a standby takes over after this long
    /// when the leader stops without releasing it.
    #[arg(long, env = "LEADER_ELECT_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub leader_elect_lease_duration: Duration,

    /// The leader stops reconciling when it could not renew the Lease for this long (shorter
    /// than the lease duration).
    #[arg(long, env = "LEADER_ELECT_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub leader_elect_renew_deadline: Duration,

    /// How often the Lease is renewed, and how often a standby tries to acquire it.
    #[arg(long, env = "LEADER_ELECT_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    pub leader_elect_retry_period: Duration,

    /// LocustTests reconciled at once (per watched namespace).
    #[arg(long, env = "MAX_CONCURRENT_RECONCILES", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_reconciles: u16,

    /// How long after a pod's creation its failures (image pull, crash loop, ...) are ignored
    /// before the test is marked failed, e.g. `2m`, `90s`.
    #[arg(long, env = "POD_HEALTH_GRACE_PERIOD", default_value = "2m", value_parser = parse_duration)]
    pub pod_health_grace_period: Duration,

    /// How often the operator reads a running test's numbers from its Locust master (and so
    /// at most how often it writes them to the test's status), e.g. `10s`.
    #[arg(long, env = "LOCUST_POLL_INTERVAL", default_value = "10s", value_parser = parse_seconds)]
    pub locust_poll_interval: Duration,

    /// How long a test's master may wait, from when it runs, for all its workers to connect
    /// before the test fails (a test's `spec.worker.connectTimeoutSeconds` overrides it).
    #[arg(long, env = "WORKER_CONNECT_TIMEOUT", default_value = "5m", value_parser = parse_seconds)]
    pub worker_connect_timeout: Duration,

    /// Namespaces to watch, comma-separated; empty watches all namespaces.
    #[arg(long, env = "WATCH_NAMESPACE", default_value = "", value_parser = parse_namespaces)]
    pub watch_namespace: Namespaces,

    #[command(flatten)]
    /// Where the webhook certificate comes from.
    pub certs: CertFlags,
}

/// Where the webhook server's certificate comes from (`--certs`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CertMode {
    /// `tls.crt` and `tls.key` in `--cert-dir` (a mounted Secret, e.g. from cert-manager),
    /// reloaded when they change.
    #[default]
    Files,
    /// The operator makes its own CA and serving certificate, keeps them in the Secret
    /// `--cert-secret` shared by all replicas, serves them from memory, rotates them, and
    /// injects the CA bundle into the webhook configurations and the CRD (`crate::certs`).
    SelfManaged,
}

/// Flags of the certificate source (`run` only: self-managed certificates need the cluster).
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct CertFlags {
    /// Where the webhook certificate comes from: `files` (`--cert-dir`) or `self-managed`.
    #[arg(
        long = "certs",
        id = "certs",
        env = "CERTS",
        value_enum,
        default_value = "files"
    )]
    pub mode: CertMode,

    /// Secret (in the operator's namespace) holding the self-managed CA and serving
    /// certificate: `ca.crt`, `ca.key`, `tls.crt`, `tls.key`.
    #[arg(long, env = "CERT_SECRET", default_value = "locust-operator-webhook-cert", value_parser = parse_subdomain)]
    pub cert_secret: String,

    /// Service (in the operator's namespace) through which the API server calls the webhooks;
    /// the self-managed serving certificate is made for its DNS names.
    #[arg(long, env = "WEBHOOK_SERVICE", default_value = "locust-operator-webhook", value_parser = parse_label)]
    pub webhook_service: String,

    /// MutatingWebhookConfiguration whose caBundle the operator keeps up to date (self-managed).
    #[arg(
        long,
        env = "MUTATING_WEBHOOK_CONFIGURATION",
        default_value = "locust-operator-mutating-webhook",
        value_parser = parse_subdomain
    )]
    pub mutating_webhook_configuration: String,

    /// ValidatingWebhookConfiguration whose caBundle the operator keeps up to date
    /// (self-managed).
    #[arg(
        long,
        env = "VALIDATING_WEBHOOK_CONFIGURATION",
        default_value = "locust-operator-validating-webhook",
        value_parser = parse_subdomain
    )]
    pub validating_webhook_configuration: String,
}

/// A comma-separated namespace list; empty means all namespaces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Namespaces(pub Vec<String>);

/// `host:port`, or `:port` for every interface (the controller-runtime form).
fn parse_address(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let full = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_owned()
    };
    full.parse().map_err(|_| {
        format!("{text:?} is not an address (examples: :9443, 127.0.0.1:9443, [::]:9443)")
    })
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("{e} (examples: 2m, 90s, 1h)"))
}

/// A duration of at least one second (Locust's numbers change every 2–3 s; a master is never
/// read more often than this, nor a test failed sooner).
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration < Duration::from_secs(1) {
        return Err(format!("{text:?} is shorter than the least allowed, 1s"));
    }
    Ok(duration)
}

fn parse_subdomain(text: &str) -> Result<String, String> {
    let text = text.trim();
    crate::syntax::dns_subdomain(text).map_err(|reason| format!("{text:?}: {reason}"))?;
    Ok(text.to_owned())
}

fn parse_label(text: &str) -> Result<String, String> {
    let text = text.trim();
    crate::syntax::dns_label(text).map_err(|reason| format!("{text:?}: {reason}"))?;
    Ok(text.to_owned())
}

fn parse_namespaces(text: &str) -> Result<Namespaces, String> {
    let mut list: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    for name in &list {
        crate::syntax::dns_label(name)
            .map_err(|reason| format!("{name:?} is not a namespace name: {reason}"))?;
    }
    list.sort();
    list.dedup();
    Ok(Namespaces(list))
}
