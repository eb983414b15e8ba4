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
    /// On a pool VM: wait unassigned until Nova assigns an office, then serve it.
    Pool(provisioner::office::PoolArgs),
    /// Confine this process (Landlock), then run the agent runtime: how the daemon
    /// starts every runtime.
    Sandbox(provisioner::sandbox::SandboxArgs),
    /// The example runtime: demonstrates the event protocol, does no real work.
    ExampleAgent,
    /// For the agent: ask a person to approve an action and wait (exit 0 approved,
    /// 3 rejected, 4 expired).
    RequestApproval(provisioner::office::ApprovalArgs),
    /// For the agent: ask for a credential and wait until it is in the vault.
    RequestCredential(provisioner::office::CredentialArgs),
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    // The sandbox confines a single-threaded process (a user namespace needs one).
    if let Command::Sandbox(args) = cli.command {
        return provisioner::sandbox::exec(args);
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    match cli.command {
        Command::Serve(args) => provisioner::office::serve(args).await.map(|()| std::process::ExitCode::SUCCESS),
        Command::Pool(args) => provisioner::office::pool(args).await.map(|()| std::process::ExitCode::SUCCESS),
        Command::Sandbox(_) => unreachable!("the sandbox runs before the runtime starts"),
        Command::ExampleAgent => provisioner::example_agent::run().map(|()| std::process::ExitCode::SUCCESS),
        Command::RequestApproval(args) => provisioner::office::request_approval(args).await,
        Command::RequestCredential(args) => provisioner::office::request_credential(args).await,
    }
}
