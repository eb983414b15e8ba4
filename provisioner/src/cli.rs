//! The office's commands, one definition for both ways of running them: the
//! `nova-office` binary and `nova office`.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum OfficeCommand {
    /// Serve prompts from Nova and run the office's agent runtime on them.
    Serve(crate::office::ServeArgs),
    /// On a pool VM: wait unassigned until Nova assigns an office, then serve it.
    Pool(crate::office::PoolArgs),
    /// Confine this process (Landlock), then run the agent runtime: how the daemon
    /// starts every runtime.
    Sandbox(crate::sandbox::SandboxArgs),
    /// Nova's built-in agent: a tool-calling loop against an OpenAI-compatible model
    /// through the office's secrets proxy.
    Agent(crate::agent::AgentArgs),
    /// The example runtime: demonstrates the event protocol, does no real work.
    ExampleAgent,
    /// For the agent: ask a person to approve an action and wait (exit 0 approved,
    /// 3 rejected, 4 expired).
    RequestApproval(crate::office::ApprovalArgs),
    /// For the agent: ask for a credential and wait until it is in the vault.
    RequestCredential(crate::office::CredentialArgs),
    /// For the agent: hand work to another office; its outcome comes back to this
    /// session as a new message.
    Handoff(crate::office::HandoffArgs),
    /// For the agent: tasks (list, create, claim, done).
    #[command(subcommand)]
    Task(crate::work::TaskCommand),
    /// For the agent: ask the office you report to for help, in this session's thread.
    Escalate(crate::work::EscalateArgs),
    /// For the agent: ask Nova about the fleet in plain language ("what is the writer
    /// doing?", "make a task for the analyst: …"); prints Nova's answer.
    AskNova(crate::work::AskNovaArgs),
    /// For the agent: one SQL statement on a workspace database, run by Nova (which
    /// holds the password); a write waits for a person's approval. Prints the rows as JSON.
    Sql(crate::work::SqlArgs),
    /// For the agent: put the change your session branch holds (pushed) up for review in
    /// this thread; a later call after changes were asked for is its next revision.
    SubmitChange(crate::work::ChangeArgs),
    /// For a reviewer office: approve a review, ask for changes, or comment.
    ReviewDecision(crate::work::ReviewDecisionArgs),
}

/// Runs the sandbox, which must start before any thread does (a user namespace needs
/// a single-threaded process); every other command is handed back for [`run`].
pub fn sandbox_first(command: OfficeCommand) -> Result<anyhow::Result<ExitCode>, OfficeCommand> {
    match command {
        OfficeCommand::Sandbox(args) => Ok(crate::sandbox::exec(args)),
        other => Err(other),
    }
}

pub async fn run(command: OfficeCommand) -> anyhow::Result<ExitCode> {
    let done = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    match command {
        OfficeCommand::Serve(args) => done(crate::office::serve(args).await),
        OfficeCommand::Pool(args) => done(crate::office::pool(args).await),
        OfficeCommand::Sandbox(_) => anyhow::bail!("the sandbox runs before any thread starts"),
        OfficeCommand::Agent(args) => crate::agent::run(args).await,
        OfficeCommand::ExampleAgent => done(crate::example_agent::run()),
        OfficeCommand::RequestApproval(args) => crate::office::request_approval(args).await,
        OfficeCommand::RequestCredential(args) => crate::office::request_credential(args).await,
        OfficeCommand::Handoff(args) => crate::office::hand_off(args).await,
        OfficeCommand::Task(command) => crate::work::task(command).await,
        OfficeCommand::Escalate(args) => crate::work::escalate(args).await,
        OfficeCommand::AskNova(args) => crate::work::ask_nova(args).await,
        OfficeCommand::Sql(args) => crate::work::sql(args).await,
        OfficeCommand::SubmitChange(args) => crate::work::submit_change(args).await,
        OfficeCommand::ReviewDecision(args) => crate::work::review_decision(args).await,
    }
}
