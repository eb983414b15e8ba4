//! `nova-office`: the daemon that runs inside an office's machine.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "nova-office", version, about = "The Nova office daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve prompts from Nova and run the office's agent runtime on them.
    Serve(provisioner::office::ServeArgs),
    /// The example runtime: demonstrates the event protocol, does no real work.
    ExampleAgent,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    match Cli::parse().command {
        Command::Serve(args) => provisioner::office::serve(args).await,
        Command::ExampleAgent => provisioner::example_agent::run(),
    }
}
