//! The `locust-operator` command: parses flags and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use locust_operator::config::Config;
use locust_operator::flags::{CertMode, ProcessFlags, ServerFlags};
use locust_operator::telemetry::{self, LogFormat};
use locust_operator::webhook::tls::ReloadingCert;
use locust_operator::webhook::{CertSource, Listeners, Serving};

/// Kubernetes operator for distributed Locust load tests (`locust.io` `LocustTest`).
#[derive(Parser, Debug)]
#[command(name = "locust-operator", version, about)]
struct Cli {
    /// Log line format.
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "LOG_FORMAT",
        global = true
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the operator against the current kube context (or in-cluster config).
    Run {
        #[command(flatten)]
        flags: Box<ProcessFlags>,
    },
    /// Run only the webhook server (validating, mutating and conversion webhooks over TLS)
    /// with its probes and metrics; needs no cluster connection.
    Webhook {
        #[command(flatten)]
        flags: ServerFlags,
    },
    /// Print the LocustTest CustomResourceDefinition as YAML (the content of deploy/crd.yaml).
    Crd,
    /// Check LocustTest manifests (v1 or v2, multi-document YAML) the way the cluster would:
    /// CRD schema and rules, defaults, and the operator's validation. Exits 1 on any error.
    Check {
        /// Manifest files (`-` for standard input).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the operator on this machine with no cluster: an embedded API server, the operator,
    /// and a local node that runs the tests' pods as real Locust processes. With FILEs, apply
    /// them, follow every LocustTest in them to its verdict, and exit 0 when all succeeded, 1
    /// when any failed; without, serve until interrupted. Either way `kubectl` works against
    /// it through the kubeconfig it prints.
    Sandbox {
        /// Manifests to apply (LocustTests, ConfigMaps, Secrets, Services, Namespaces).
        files: Vec<PathBuf>,
        /// Keep serving after the verdict, until interrupted.
        #[arg(long)]
        keep: bool,
        /// Directory of the sandbox's state (kubeconfig, pods' files and logs).
        #[arg(long, env = "LOCUST_SANDBOX_DIR")]
        dir: Option<PathBuf>,
        /// Pod-health grace period of the operator.
        #[arg(long, env = "POD_HEALTH_GRACE_PERIOD", default_value = "2m", value_parser = humantime::parse_duration)]
        pod_health_grace_period: std::time::Duration,
        /// How often the operator reads a running test's numbers from its Locust master.
        #[arg(long, env = "LOCUST_POLL_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
        locust_poll_interval: std::time::Duration,
        /// How long a master may wait for all its workers before its test fails.
        #[arg(long, env = "WORKER_CONNECT_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
        worker_connect_timeout: std::time::Duration,
    },
    /// Write the report the operator kept for a LocustTest (ConfigMap NAME-report) into a
    /// directory: report.html, requests.csv, failures.csv, exceptions.csv, and the test's
    /// status as status.json. Uses the current kube context.
    Report {
        /// The LocustTest's name.
        name: String,
        /// Its namespace (default: the current context's).
        #[arg(short, long)]
        namespace: Option<String>,
        /// The directory to write into (created if missing).
        #[arg(short, long, default_value = ".")]
        output: PathBuf,
    },
    /// Print the Service and Jobs the operator would create for the LocustTests of a manifest,
    /// with the operator configuration taken from the environment (as in the cluster).
    Render {
        /// Manifest file (`-` for standard input).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.command {
        Command::Sandbox { .. } | Command::Report { .. } => "warn",
        _ => "info",
    };
    telemetry::init(cli.log_format, level);
    let result = match cli.command {
        Command::Crd => print_crd(),
        Command::Run { flags } => run_operator(*flags),
        Command::Webhook { flags } => run_webhook(flags),
        Command::Check { files } => return check(&files),
        Command::Render { file } => render(&file),
        Command::Report {
            name,
            namespace,
            output,
        } => return report(&name, namespace, &output),
        Command::Sandbox {
            files,
            keep,
            dir,
            pod_health_grace_period,
            locust_poll_interval,
            worker_connect_timeout,
        } => {
            let timings = Timings {
                grace: pod_health_grace_period,
                poll_interval: locust_poll_interval,
                worker_connect_timeout,
            };
            return sandbox(&files, keep, dir, timings);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{}", render_error(&error));
            ExitCode::FAILURE
        }
    }
}

fn print_crd() -> anyhow::Result<()> {
    let yaml = locust_operator::crd::locust_test_crd_yaml()?;
    print!("{yaml}");
    Ok(())
}

/// The operator configuration from the environment, with its warnings logged.
fn load_config() -> anyhow::Result<Config> {
    let (config, warnings) = Config::from_env()?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run_operator(flags: ProcessFlags) -> anyhow::Result<()> {
    let config = load_config()?;
    tracing::debug!(?flags, "starting");
    runtime()?.block_on(async {
        let shutdown = locust_operator::operator::shutdown_on_signal();
        let metrics = std::sync::Arc::new(locust_operator::metrics::Metrics::new());
        let state =
            std::sync::Arc::new(locust_operator::controller::State::new(flags.leader_elect));
        let readiness = {
            let state = std::sync::Arc::clone(&state);
            locust_operator::webhook::server::Readiness::default()
                .with("controller caches synced", move || state.ready())
        };
        // With self-managed certificates the certificate manager (started with the
        // controller, as it needs the cluster) feeds the server's certificate from memory.
        let certificate = std::sync::Arc::new(ReloadingCert::default());
        let serving = Serving {
            certificate: match flags.certs.mode {
                CertMode::SelfManaged => CertSource::Memory(std::sync::Arc::clone(&certificate)),
                CertMode::Files => CertSource::files(&flags.server),
            },
            metrics: std::sync::Arc::clone(&metrics),
            readiness,
        };
        let listeners = Listeners::bind(&flags.server).await?;
        let servers = locust_operator::webhook::serve(listeners, serving, shutdown.clone());
        let operator = async {
            let result = async {
                let client = locust_operator::operator::connect().await?;
                let settings = locust_operator::operator::RunSettings::from_flags(
                    &flags,
                    config,
                    client.default_namespace(),
                );
                locust_operator::operator::run(
                    client,
                    settings,
                    &metrics,
                    state,
                    certificate,
                    shutdown.clone(),
                )
                .await
            }
            .await;
            shutdown.cancel();
            result
        };
        let (servers, operator) = tokio::join!(servers, operator);
        servers?;
        operator?;
        Ok(())
    })
}

fn run_webhook(flags: ServerFlags) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let shutdown = locust_operator::operator::shutdown_on_signal();
        let metrics = std::sync::Arc::new(locust_operator::metrics::Metrics::new());
        let serving = Serving {
            certificate: CertSource::files(&flags),
            metrics,
            readiness: Default::default(),
        };
        let listeners = Listeners::bind(&flags).await?;
        locust_operator::webhook::serve(listeners, serving, shutdown).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn read_input(path: &PathBuf) -> anyhow::Result<String> {
    use anyhow::Context;
    if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    }
}

/// `check`: every finding on stdout as `FILE: document N (LocustTest/NAME): error: FIELD: MESSAGE`,
/// a summary on stderr; exit 1 when any file has an error or cannot be read.
fn check(files: &[PathBuf]) -> ExitCode {
    let checker = match locust_operator::schema_check::SchemaChecker::new() {
        Ok(checker) => checker,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (mut errors, mut warnings, mut tests) = (0, 0, 0);
    for path in files {
        let shown = path.display();
        let report = read_input(path)
            .map_err(|e| render_error(&e))
            .and_then(|text| {
                locust_operator::check::check_yaml(&text, &checker)
                    .map_err(|e| format!("not valid YAML: {e}"))
            });
        match report {
            Err(message) => {
                println!("{shown}: error: {message}");
                errors += 1;
            }
            Ok(report) => {
                for finding in &report.findings {
                    println!("{shown}: {finding}");
                }
                if report.tests == 0 {
                    println!("{shown}: warning: no locust.io LocustTest found");
                }
                errors += report.errors();
                warnings += report.findings.len() - report.errors();
                tests += report.tests;
            }
        }
    }
    eprintln!(
        "checked {tests} LocustTest(s) in {} file(s): {errors} error(s), {warnings} warning(s)",
        files.len()
    );
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn render(file: &PathBuf) -> anyhow::Result<()> {
    let config = load_config()?;
    let text = read_input(file)?;
    print!("{}", locust_operator::render::render_yaml(&text, &config)?);
    Ok(())
}

/// `error: cause: cause ...`, skipping causes whose text an outer message already contains
/// (several Kubernetes client errors repeat their source in their own message).
fn render_error(error: &anyhow::Error) -> String {
    let mut rendered = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !rendered.contains(&text) {
            if !rendered.is_empty() {
                rendered.push_str(": ");
            }
            rendered.push_str(&text);
        }
    }
    rendered
}

/// `report`: exit 0 once the files are written (a report without its HTML included, with a
/// warning), 1 with one sentence on stderr otherwise.
fn report(name: &str, namespace: Option<String>, dir: &std::path::Path) -> ExitCode {
    use locust_operator::report_cmd;
    let result = runtime().map_err(|e| render_error(&e)).and_then(|runtime| {
        runtime
            .block_on(async {
                let client = report_cmd::connect().await?;
                let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_owned());
                report_cmd::run(
                    &client,
                    &namespace,
                    name,
                    dir,
                    &mut std::io::stdout(),
                    &mut std::io::stderr(),
                )
                .await
            })
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `sandbox`: exit 0 when every test succeeded (or, without files, after an interrupt), 1 when
/// one failed or the sandbox could not run, 130 when interrupted before the verdict.
/// The operator's timings in the sandbox (the flags of `run` of the same names).
struct Timings {
    grace: std::time::Duration,
    poll_interval: std::time::Duration,
    worker_connect_timeout: std::time::Duration,
}

fn sandbox(files: &[PathBuf], keep: bool, dir: Option<PathBuf>, timings: Timings) -> ExitCode {
    use locust_operator::sandbox::follow::{self, Verdict};
    use locust_operator::sandbox::{Options, Sandbox, host::Allocatable};
    let fail = |message: String| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    };
    let texts: Result<Vec<(String, String)>, String> = files
        .iter()
        .map(|f| {
            read_input(f)
                .map(|t| (f.display().to_string(), t))
                .map_err(|e| render_error(&e))
        })
        .collect();
    let texts = match texts {
        Ok(texts) => texts,
        Err(message) => return fail(message),
    };
    let config = match load_config() {
        Ok(config) => config,
        Err(error) => return fail(render_error(&error)),
    };
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("locust-sandbox-{}", std::process::id()))
    });
    let options = Options {
        dir,
        cache: Options::default_cache(),
        config,
        grace: timings.grace,
        poll_interval: timings.poll_interval,
        worker_connect_timeout: timings.worker_connect_timeout,
        allocatable: Allocatable::of_this_machine(),
        progress: true,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => return fail(render_error(&error)),
    };
    runtime.block_on(async {
        let interrupted = locust_operator::operator::shutdown_on_signal();
        let sandbox = match Sandbox::start(options).await {
            Ok(sandbox) => sandbox,
            Err(error) => return fail(error.to_string()),
        };
        eprintln!(
            "sandbox: API server at {}; use it with: export KUBECONFIG={}",
            sandbox.url(),
            sandbox.kubeconfig.display()
        );
        let mut code = ExitCode::SUCCESS;
        if !texts.is_empty() {
            if let Err(error) = sandbox.prepare(&texts).await {
                sandbox.stop().await;
                return fail(error.to_string());
            }
            let tests = match follow::apply(&sandbox.client, &texts).await {
                Ok(tests) => tests,
                Err(error) => {
                    sandbox.stop().await;
                    return fail(error.to_string());
                }
            };
            if tests.is_empty() {
                eprintln!("sandbox: no LocustTest in the files; serving until interrupted");
            } else {
                let stop = interrupted.clone();
                let mut out = std::io::stdout();
                let verdict =
                    follow::follow(&sandbox.client, &sandbox.host, &tests, stop, &mut out).await;
                code = match verdict {
                    Verdict::Succeeded => {
                        eprintln!(
                            "sandbox: every test succeeded ({} requests served by the demo target)",
                            sandbox.demo.served()
                        );
                        ExitCode::SUCCESS
                    }
                    Verdict::Failed(names) => {
                        eprintln!("sandbox: failed: {}", names.join(", "));
                        ExitCode::FAILURE
                    }
                    Verdict::Interrupted => ExitCode::from(130),
                };
                if !keep || interrupted.is_cancelled() {
                    eprintln!("sandbox: stopping");
                    sandbox.stop().await;
                    return code;
                }
            }
        }
        eprintln!("sandbox: serving until interrupted (Ctrl-C)");
        interrupted.cancelled().await;
        eprintln!("sandbox: stopping");
        sandbox.stop().await;
        code
    })
}
