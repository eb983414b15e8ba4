//! The runtime's sandbox. An agent runs arbitrary code and may be prompt-injected, so
//! the daemon starts every runtime through `nova-office sandbox`, which confines itself
//! with Landlock (unprivileged, Linux 5.13+) and then execs the runtime:
//!
//! - files: the system's programs and libraries read-only, the office's workspace and a
//!   private scratch dir read-write, nothing else: not the data dir (database, master
//!   key), not another office's workspace, not `/tmp`;
//! - processes: the daemon is not dumpable ([`keep_memory_private`]), so a process
//!   without `CAP_SYS_PTRACE` cannot read its `/proc/<pid>/environ`, `maps` or `mem`; a
//!   runtime started by a root daemon sheds every capability in a user namespace of its
//!   own first; Landlock forbids signalling any process outside the sandbox. The
//!   daemon's office token stays the daemon's;
//! - network: TCP connections only to the office's own agent API port, 443 and the
//!   ports the office's config allows: not Nova's listener, not the database, not
//!   another office's agent API, not a cloud metadata server (port 80).
//!
//! Without Landlock the sandbox refuses to start the runtime unless the office's config
//! turns it off (`runtime.sandbox.enabled = false`): running unconfined is a choice.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// Ports a runtime may always connect to: HTTPS. Not 80: on a cloud VM the metadata
/// server (and its service-account tokens) answers there.
pub const WEB_PORTS: [u16; 1] = [443];

/// Read-only for the runtime: where a system keeps programs, libraries and settings.
const SYSTEM_PATHS: [&str; 11] =
    ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt", "/proc", "/sys", "/nix/store"];

/// How an office's runtime is confined (`[runtime.sandbox]` in nova.toml).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSpec {
    /// Off only by choice: the runtime then runs with the daemon's rights.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// More paths the runtime may read and execute (an agent CLI's install dir).
    #[serde(default)]
    pub read: Vec<PathBuf>,
    /// More TCP ports the runtime may connect to (443 always). Allowing 80 on GCE lets
    /// the runtime ask the metadata server for the VM's credentials.
    #[serde(default)]
    pub ports: Vec<u16>,
}

fn enabled() -> bool {
    true
}

impl Default for SandboxSpec {
    fn default() -> Self {
        Self { enabled: true, read: Vec::new(), ports: Vec::new() }
    }
}

/// `nova-office sandbox`: confine this process, then become the runtime.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Read-write for the runtime.
    #[arg(long)]
    pub workspace: PathBuf,
    /// Read-write for the runtime too: its TMPDIR.
    #[arg(long)]
    pub scratch: PathBuf,
    /// Read-only (and executable) for the runtime; repeatable.
    #[arg(long = "read")]
    pub read: Vec<PathBuf>,
    /// A TCP port the runtime may connect to; repeatable.
    #[arg(long = "port")]
    pub ports: Vec<u16>,
    /// The runtime's command line.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// The scratch dir of a workspace: beside it, so it is neither shared with another
/// office nor part of the workspace's snapshot.
pub fn scratch_dir(workspace: &Path) -> PathBuf {
    let mut name = workspace.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// The office's commands for its runtime (`nova-office`): beside the workspace, so a
/// confined runtime reads them and cannot replace them.
pub fn bin_dir(workspace: &Path) -> PathBuf {
    let mut name = workspace.as_os_str().to_owned();
    name.push(".bin");
    PathBuf::from(name)
}

/// Where a command's program lives, as the sandbox must allow it: a path as given, or
/// the first match on `PATH`.
pub fn program_path(program: &str, path_var: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        return std::fs::canonicalize(program).ok();
    }
    std::env::split_paths(path_var?).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
}

/// Confines this process and execs the runtime; returns only on failure.
pub fn exec(args: SandboxArgs) -> anyhow::Result<std::process::ExitCode> {
    use std::os::unix::process::CommandExt as _;
    confine(&args).context("cannot confine the runtime (set runtime.sandbox.enabled = false to run it unconfined)")?;
    let (program, rest) = args.command.split_first().context("no runtime command")?;
    let error = std::process::Command::new(program).args(rest).exec();
    anyhow::bail!("cannot start the runtime `{program}`: {error}")
}

/// Signals a runtime's whole process group (it was started as the group's leader), so
/// what it spawned (a shell's children, a CLI's tool processes) ends with it.
pub fn signal_group(leader: u32, signal: i32) {
    let Ok(group) = libc::pid_t::try_from(leader) else { return };
    // SAFETY: kill takes plain integers; a group that has already gone is ESRCH.
    unsafe {
        libc::kill(-group, signal);
    }
}

/// Whether anything of a runtime's process group is still running.
pub fn group_alive(leader: u32) -> bool {
    let Ok(group) = libc::pid_t::try_from(leader) else { return false };
    // SAFETY: signal 0 only checks that the group exists.
    unsafe { libc::kill(-group, 0) == 0 }
}

/// Makes this process (the daemon) non-dumpable: its environment and memory, which
/// hold the office token, are then unreadable to any process without `CAP_SYS_PTRACE`,
/// its runtimes included.
#[cfg(target_os = "linux")]
pub fn keep_memory_private() -> anyhow::Result<()> {
    // SAFETY: prctl(PR_SET_DUMPABLE) takes plain integers and touches no memory of ours.
    let done = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    anyhow::ensure!(done == 0, "cannot make the daemon non-dumpable: {}", std::io::Error::last_os_error());
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn keep_memory_private() -> anyhow::Result<()> {
    Ok(())
}

/// The Landlock ABI this kernel offers, if any: whether runtimes can be confined here.
#[cfg(target_os = "linux")]
pub fn landlock_abi() -> Option<i64> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: asking for the ABI version reads no memory (null attributes, size 0).
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (version > 0).then_some(version)
}

#[cfg(not(target_os = "linux"))]
pub fn landlock_abi() -> Option<i64> {
    None
}

#[cfg(target_os = "linux")]
fn confine(args: &SandboxArgs) -> anyhow::Result<()> {
    // Root would keep CAP_SYS_PTRACE, CAP_DAC_OVERRIDE and the rest: in a user namespace
    // of its own it holds them only over that (empty) namespace.
    // SAFETY: geteuid and unshare take plain integers; this process is single-threaded.
    if unsafe { libc::geteuid() } == 0 && unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        anyhow::bail!("cannot shed root's capabilities: {}", std::io::Error::last_os_error());
    }
    use landlock::{
        ABI, Access, AccessFs, AccessNet, NetPort, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
        path_beneath_rules,
    };
    let abi = ABI::V6;
    let read = AccessFs::from_read(abi);
    let everything = AccessFs::from_all(abi);
    let devices = read | AccessFs::WriteFile;
    let ports = WEB_PORTS
        .iter()
        .chain(&args.ports)
        .map(|port| Ok::<_, landlock::RulesetError>(NetPort::new(*port, AccessNet::ConnectTcp)));
    let status = Ruleset::default()
        .handle_access(everything)?
        .handle_access(AccessNet::ConnectTcp)?
        .scope(Scope::from_all(abi))?
        .create()?
        .add_rules(path_beneath_rules(SYSTEM_PATHS, read))?
        .add_rules(path_beneath_rules(&args.read, read))?
        .add_rules(path_beneath_rules(["/dev"], devices))?
        .add_rules(path_beneath_rules([&args.workspace, &args.scratch], everything))?
        .add_rules(ports)?
        .restrict_self()?;
    if status.ruleset == RulesetStatus::NotEnforced {
        anyhow::bail!("this kernel has no Landlock, so the runtime cannot be confined");
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn confine(_: &SandboxArgs) -> anyhow::Result<()> {
    anyhow::bail!("runtimes can be confined on Linux only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_sits_beside_the_workspace() {
        assert_eq!(scratch_dir(Path::new("/var/lib/nova/workspace")), Path::new("/var/lib/nova/workspace.tmp"));
    }

    #[test]
    fn a_bare_program_is_found_on_the_path() {
        let found = program_path("sh", Some(std::ffi::OsStr::new("/nonexistent:/bin:/usr/bin"))).unwrap();
        assert!(found.ends_with("sh"), "{found:?}");
        assert_eq!(program_path("no-such-program-here", Some(std::ffi::OsStr::new("/bin"))), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_kernel_says_whether_it_has_landlock() {
        // Either answer is a kernel's; what matters is that asking never fails.
        assert!(landlock_abi().is_none_or(|abi| abi >= 1));
    }

    #[test]
    fn the_sandbox_is_on_unless_turned_off() {
        let spec: SandboxSpec = serde_json::from_str("{}").unwrap();
        assert!(spec.enabled);
        assert!(serde_json::from_str::<SandboxSpec>(r#"{"enabeld": false}"#).is_err(), "a typo is an error");
    }
}
