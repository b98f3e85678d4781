//! The `locust-operator` command: parses flags and hands over to the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use locust_operator::telemetry::{self, LogFormat};

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
    Run,
    /// Print the LocustTest CustomResourceDefinition as YAML (the content of deploy/crd.yaml).
    Crd,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Crd => print_crd(),
        Command::Run => run_operator(),
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

fn run_operator() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(locust_operator::operator::run())?;
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
