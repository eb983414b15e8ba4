//! `nova-office`: the daemon that runs inside an office's machine.

use clap::Parser;
use provisioner::cli::OfficeCommand;

#[derive(Parser)]
#[command(name = "nova-office", version, about = "The Nova office daemon")]
struct Cli {
    #[command(subcommand)]
    command: OfficeCommand,
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let command = match provisioner::cli::sandbox_first(Cli::parse().command) {
        Ok(sandboxed) => return sandboxed,
        Err(command) => command,
    };
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            // Colours only at a terminal: a runtime's stderr ends up in chat.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
        provisioner::cli::run(command).await
    })
}
