//! What a run starts from: the repo checked out on the session's branch, and the thread
//! written down for the runtime.
//!
//! nova-office (not the runtime) clones and fetches, so git's credential, where the
//! repo needs one, comes from the office's secrets proxy: the repo's URL is rewritten
//! to the proxy in a git config file outside the workspace, and the proxy adds the
//! credential on the way out. Neither `.git/config` nor the runtime's environment ever
//! holds it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::protocol::{RepoContext, Speaker, TranscriptEntry};

/// A run's repo, ready for the runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkout {
    /// `repos/{name}` in the workspace.
    pub dir: PathBuf,
    pub branch: String,
}

/// How long one git command may take before the run fails.
const GIT_TIMEOUT: Duration = Duration::from_secs(600);

/// The branch a session works on.
pub fn session_branch(session: &str) -> String {
    format!("nova/{session}")
}

/// Clones the repo into `repos/{name}` (or fetches it, if it is there from an earlier
/// run) and checks out the session's branch: the existing one, local or on the remote,
/// or a new one from the default branch. Work another session left uncommitted is
/// stashed, not carried over. `proxied`: the office proxy's base URL for the repo's
/// upstream, and the upstream's URL it stands for.
pub async fn prepare(
    workspace: &Path,
    scratch: &Path,
    repo: &RepoContext,
    session: &str,
    office: &str,
    proxied: Option<(String, String)>,
    isolated: bool,
) -> anyhow::Result<Option<Checkout>> {
    let Some(url) = &repo.url else {
        return Ok(None);
    };
    let name = Path::new(&repo.name);
    if name.components().count() != 1 || !matches!(name.components().next(), Some(std::path::Component::Normal(_))) {
        bail!("the repo name {:?} cannot be a directory name", repo.name);
    }
    // The proxy's address changes with every daemon: rewritten each run, outside the
    // workspace (so never in a snapshot), and read by git through `include.path`.
    let git_config = scratch.join("git").join(format!("{}.config", repo.name));
    std::fs::create_dir_all(scratch.join("git")).with_context(|| format!("cannot create {}", scratch.display()))?;
    let rewrite = match &proxied {
        Some((proxy, upstream_url)) => format!(
            "[url \"{}/\"]\n\tinsteadOf = {}/\n",
            proxy.trim_end_matches('/'),
            upstream_url.trim_end_matches('/')
        ),
        None => String::new(),
    };
    std::fs::write(&git_config, rewrite).with_context(|| format!("cannot write {}", git_config.display()))?;
    let include = format!("include.path={}", git_config.display());

    let repos = workspace.join("repos");
    std::fs::create_dir_all(&repos).with_context(|| format!("cannot create {}", repos.display()))?;
    let dir = repos.join(name);
    if !dir.join(".git").exists() {
        git(&repos, &["-c", &include, "clone", "--quiet", "--no-checkout", url, &repo.name]).await?;
        git(&dir, &["config", "include.path", &git_config.display().to_string()]).await?;
    } else {
        // The runtime could write this clone's config since the last run.
        scrub_config(&dir, &git_config.display().to_string()).await?;
        git(&dir, &["config", "include.path", &git_config.display().to_string()]).await?;
        git(&dir, &["config", "remote.origin.url", url]).await?;
        git(&dir, &["fetch", "--quiet", "--prune", "origin"]).await?;
    }
    for (key, value) in [("user.name", office.to_owned()), ("user.email", format!("{office}@offices.nova"))] {
        if git(&dir, &["config", "--get", key]).await.is_err() {
            git(&dir, &["config", key, &value]).await?;
        }
    }

    let branch = session_branch(session);
    if isolated {
        prune_idle_worktrees(workspace, &dir, &repo.name, session, WORKTREE_IDLE).await;
        return worktree(workspace, &dir, repo, session, &branch).await.map(Some);
    }
    let current = git(&dir, &["symbolic-ref", "--quiet", "--short", "HEAD"]).await.unwrap_or_default();
    if current.trim() != branch {
        let dirty = !git(&dir, &["status", "--porcelain"]).await.unwrap_or_default().trim().is_empty();
        let has_commits = git(&dir, &["rev-parse", "--verify", "--quiet", "HEAD"]).await.is_ok();
        if dirty && has_commits {
            let message = format!("nova: {} left unfinished", current.trim());
            git(&dir, &["stash", "push", "--include-untracked", "--message", &message]).await?;
        }
        let local = git(&dir, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")]).await.is_ok();
        let remote = format!("origin/{branch}");
        let on_remote =
            git(&dir, &["rev-parse", "--verify", "--quiet", &format!("refs/remotes/{remote}")]).await.is_ok();
        let start = format!("origin/{}", repo.default_branch);
        if local {
            git(&dir, &["checkout", "--quiet", &branch]).await?;
        } else if on_remote {
            git(&dir, &["checkout", "--quiet", "-b", &branch, "--track", &remote]).await?;
        } else {
            git(&dir, &["checkout", "--quiet", "--no-track", "-b", &branch, &start]).await.with_context(|| {
                format!("the repo has no branch `{}` to start from (its `branch` in nova.toml)", repo.default_branch)
            })?;
        }
    }
    Ok(Some(Checkout { dir, branch }))
}

/// A session's own worktree, `worktrees/{session}/{name}`, on its branch: how an office
/// that works on several sessions at once keeps them apart.
async fn worktree(
    workspace: &Path,
    clone: &Path,
    repo: &RepoContext,
    session: &str,
    branch: &str,
) -> anyhow::Result<Checkout> {
    let dir = workspace.join("worktrees").join(session).join(&repo.name);
    if dir.join(".git").exists() {
        return Ok(Checkout { dir, branch: branch.to_owned() });
    }
    let path = dir.display().to_string();
    let local = git(clone, &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")]).await.is_ok();
    let remote = format!("origin/{branch}");
    let on_remote = git(clone, &["rev-parse", "--verify", "--quiet", &format!("refs/remotes/{remote}")]).await.is_ok();
    let start = format!("origin/{}", repo.default_branch);
    if local {
        git(clone, &["worktree", "add", "--quiet", &path, branch]).await?;
    } else if on_remote {
        git(clone, &["worktree", "add", "--quiet", "--track", "-b", branch, &path, &remote]).await?;
    } else {
        git(clone, &["worktree", "add", "--quiet", "--no-track", "-b", branch, &path, &start]).await.with_context(
            || format!("the repo has no branch `{}` to start from (its `branch` in nova.toml)", repo.default_branch),
        )?;
    }
    Ok(Checkout { dir, branch: branch.to_owned() })
}

/// How long a session's worktree may go unused before it is taken away (if nothing in
/// it is uncommitted): its branch stays in the clone, and the session gets a new
/// worktree on it if it comes back.
const WORKTREE_IDLE: Duration = Duration::from_secs(7 * 86_400);

/// Removes the worktrees of `clone` that no session but `keep` has used for `idle` (git
/// last touched their index, at a checkout, a commit or a status), read from the clone's
/// own list of worktrees without a git process each. Without this an office with
/// `concurrency` kept a checkout for every session it ever worked on, in its disk and in
/// every snapshot. `git worktree remove` refuses a worktree with changes that are not
/// committed, and those stay: nothing anyone wrote is lost. Only worktrees where Nova
/// makes them (`worktrees/{session}/{repo}`) are candidates, whatever the list says.
async fn prune_idle_worktrees(workspace: &Path, clone: &Path, repo: &str, keep: &str, idle: Duration) {
    let Ok(listed) = std::fs::read_dir(clone.join(".git").join("worktrees")) else { return };
    // Git records real paths, links resolved.
    let sessions = workspace.join("worktrees");
    let sessions = std::fs::canonicalize(&sessions).unwrap_or(sessions);
    for admin in listed.flatten() {
        // `gitdir` names the worktree's `.git` file.
        let Ok(gitdir) = std::fs::read_to_string(admin.path().join("gitdir")) else { continue };
        let Some(dir) = Path::new(gitdir.trim()).parent() else { continue };
        let Some(session) = dir.parent().filter(|session| session.parent() == Some(sessions.as_path())) else {
            continue;
        };
        if dir.file_name() != Some(std::ffi::OsStr::new(repo))
            || session.file_name() == Some(std::ffi::OsStr::new(keep))
        {
            continue;
        }
        let used = std::fs::metadata(admin.path().join("index")).and_then(|meta| meta.modified()).ok();
        if used.is_none_or(|used| used.elapsed().is_ok_and(|unused| unused < idle)) {
            continue;
        }
        match git(clone, &["worktree", "remove", &dir.display().to_string()]).await {
            Ok(_) => {
                tracing::info!(worktree = %dir.display(), "removed a worktree no session has used for a week");
                // The session's folder, once it holds no other repo's worktree.
                let _ = std::fs::remove_dir(session);
            }
            Err(error) => tracing::info!(worktree = %dir.display(), "kept an idle worktree: {error:#}"),
        }
    }
}

/// Settings every git the daemon runs is given on its command line, where they win over
/// any config file. The workspace is the runtime's to write, clones' `.git` included,
/// and the daemon runs git there with rights the sandbox denies the runtime: no hook,
/// file-system monitor, credential helper, askpass, ssh command or upload-pack program
/// the runtime wrote may run through it.
const TRUSTED_SETTINGS: [&str; 14] = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "credential.helper=",
    "-c",
    "core.askPass=",
    "-c",
    "core.sshCommand=ssh",
    "-c",
    "remote.origin.uploadpack=git-upload-pack",
    "-c",
    "protocol.ext.allow=never",
];

/// Whether a key found in a clone's own config may stay there: what git itself writes
/// in a clone, and everyday settings that name no program, file or address. Everything
/// else goes, whatever its name: a list of what is dangerous (filters, includes, URL
/// rewrites, `…program`, `…command`) missed what nobody thought of, like
/// `http.cookieFile` with `http.saveCookies`, which has the daemon write a file where
/// the runtime says, or `http.sslVerify = false` for the daemon's fetches.
fn trusted_key(key: &str) -> bool {
    let (section, rest) = key.split_once('.').unwrap_or((key, ""));
    // A subsection (a remote's or a branch's name) may itself hold dots.
    let (scoped, variable) = match rest.rsplit_once('.') {
        Some((_, variable)) => (true, variable),
        None => (false, rest),
    };
    let allowed: &[&str] = match (section.to_ascii_lowercase().as_str(), scoped) {
        ("core", false) => &[
            "repositoryformatversion",
            "filemode",
            "bare",
            "logallrefupdates",
            "ignorecase",
            "precomposeunicode",
            "symlinks",
            "autocrlf",
            "eol",
            "safecrlf",
            "quotepath",
            "sparsecheckout",
            "sparsecheckoutcone",
            "untrackedcache",
            "abbrev",
            "whitespace",
        ],
        ("extensions", false) => &["objectformat", "refstorage", "preciousobjects", "relativeworktrees"],
        // Not `promisor` (nor `extensions.partialclone`): the daemon's clones are whole,
        // and a promisor remote the runtime names is fetched from, unasked, at checkout.
        ("remote", true) => &["url", "fetch", "tagopt", "prune", "prunetags"],
        ("branch", true) => &["remote", "merge", "rebase", "description"],
        ("user", false) => &["name", "email"],
        ("pull", false) => &["rebase", "ff"],
        ("push", false) => &["default", "autosetupremote"],
        ("fetch", false) => &["prune", "prunetags"],
        ("rebase", false) => &["autosquash", "autostash"],
        ("merge", false) => &["ff", "conflictstyle"],
        ("rerere", false) => &["enabled", "autoupdate"],
        ("init", false) => &["defaultbranch"],
        ("index", false) => &["sparse", "version"],
        _ => &[],
    };
    allowed.contains(&variable.to_ascii_lowercase().as_str())
}

/// Takes out of a clone's own config every key [`trusted_key`] does not keep (the
/// daemon writes its own include, `own_include`, and the repo's URL again after), and
/// warns of what the runtime put there. Reading config runs nothing.
async fn scrub_config(clone: &Path, own_include: &str) -> anyhow::Result<()> {
    // NUL-separated entries, each the key, then a newline and the value if it has one.
    let listed = git(clone, &["config", "--local", "--null", "--list"]).await?;
    let entries = listed.split('\0').filter(|entry| !entry.is_empty()).map(|entry| match entry.split_once('\n') {
        Some((key, value)) => (key, Some(value)),
        None => (entry, None),
    });
    let untrusted: Vec<(&str, Option<&str>)> = entries.filter(|(key, _)| !trusted_key(key)).collect();
    let mut removed: Vec<&str> = untrusted.iter().map(|(key, _)| *key).collect();
    removed.sort_unstable();
    removed.dedup();
    for key in &removed {
        git(clone, &["config", "--local", "--unset-all", key]).await?;
    }
    let foreign: Vec<&str> = untrusted
        .iter()
        .filter(|(key, value)| !(*key == "include.path" && *value == Some(own_include)))
        .map(|(key, _)| *key)
        .collect();
    if !foreign.is_empty() {
        tracing::warn!(clone = %clone.display(), removed = ?foreign, "took settings the runtime wrote out of a clone's config");
    }
    Ok(())
}

/// Runs git in `dir` with a clean environment (no terminal prompts, no user config) and
/// [`TRUSTED_SETTINGS`]; its stdout, or its stderr as the error.
async fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let run = tokio::process::Command::new("git")
        .args(TRUSTED_SETTINGS)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LANG", "C.UTF-8")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(GIT_TIMEOUT, run)
        .await
        .with_context(|| format!("git {} took longer than {} s", args.join(" "), GIT_TIMEOUT.as_secs()))?
        .context("cannot run git (is it installed in the office's image?)")?;
    if !output.status.success() {
        bail!("git {} failed: {}", args.first().unwrap_or(&""), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// What the runtime is told about the run, as text: who it is, where the repo is, the
/// thread so far and what to do now. Agent CLIs get it as their prompt; the built-in
/// agent as the run's first message.
pub fn brief(
    office: &str,
    repo: Option<&RepoContext>,
    checkout: Option<&Checkout>,
    transcript: &[TranscriptEntry],
    prompt: &str,
    author: &str,
) -> String {
    let mut text = format!("You are {office}, an office of Nova, working for the people in a chat thread.\n\n");
    match (repo, checkout) {
        (Some(repo), Some(checkout)) => text.push_str(&format!(
            "The thread is about the repo **{}**. It is checked out in `{}` on the branch `{}` (started from `{}`): \
             commit your changes there; push only that branch, and ask for approval first.\n\n",
            repo.name,
            checkout.dir.display(),
            checkout.branch,
            repo.default_branch
        )),
        (Some(repo), None) => text.push_str(&format!(
            "The thread is about the repo **{}**, which has no url in nova.toml, so there is no checkout of it.\n\n",
            repo.name
        )),
        (None, _) => {}
    }
    // The prompt is the transcript's last entry: shown once, below.
    let earlier = match transcript.last() {
        Some(last) if last.text == prompt => &transcript[..transcript.len() - 1],
        _ => transcript,
    };
    if !earlier.is_empty() {
        text.push_str("The thread so far, oldest first:\n");
        for entry in earlier {
            let who = match entry.role {
                Speaker::Person => entry.author.clone(),
                Speaker::Nova => "Nova".to_owned(),
                Speaker::Office if entry.author == office => format!("{} (you)", entry.author),
                Speaker::Office => format!("{} (office)", entry.author),
            };
            text.push_str(&format!("- {who}: {}\n", entry.text.replace('\n', "\n  ")));
        }
        text.push('\n');
    }
    text.push_str(&format!("{author} now asks:\n{prompt}\n"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(author: &str, role: Speaker, text: &str) -> TranscriptEntry {
        TranscriptEntry { author: author.into(), role, text: text.into() }
    }

    #[test]
    fn the_brief_names_the_repo_the_branch_and_the_thread() {
        let repo = RepoContext {
            name: "payments-api".into(),
            url: Some("https://git.example.com/acme/payments-api.git".into()),
            default_branch: "main".into(),
            upstream: None,
        };
        let checkout = Checkout { dir: "/w/repos/payments-api".into(), branch: "nova/t-42".into() };
        let transcript = vec![
            entry("alice", Speaker::Person, "the coupon field rejects valid codes, please fix"),
            entry("nova", Speaker::Nova, "→ maker, on payments-api"),
            entry("maker", Speaker::Office, "Fixed: codes of 6 to 12 characters pass.\nTests pass."),
            entry("bob", Speaker::Person, "also handle expired codes"),
        ];
        let brief = brief("maker", Some(&repo), Some(&checkout), &transcript, "also handle expired codes", "bob");
        insta::assert_snapshot!(brief);
    }

    fn git_in(dir: &Path, args: &[&str]) -> String {
        let output = std::process::Command::new("git").args(args).current_dir(dir).output().unwrap();
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// A bare remote with `main` holding one file.
    fn remote(dir: &Path) -> RepoContext {
        let remote = dir.join("remote.git");
        let seed = dir.join("seed");
        git_in(dir, &["init", "--quiet", "--bare", "--initial-branch=main", remote.to_str().unwrap()]);
        git_in(dir, &["init", "--quiet", "--initial-branch=main", seed.to_str().unwrap()]);
        std::fs::write(seed.join("README"), "v1\n").unwrap();
        git_in(&seed, &["add", "."]);
        git_in(&seed, &["-c", "user.name=a", "-c", "user.email=a@x", "commit", "--quiet", "-m", "v1"]);
        git_in(&seed, &["push", "--quiet", remote.to_str().unwrap(), "main"]);
        RepoContext {
            name: "shop".into(),
            url: Some(remote.display().to_string()),
            default_branch: "main".into(),
            upstream: None,
        }
    }

    #[tokio::test]
    async fn sessions_get_their_own_branch_and_keep_their_work_apart() {
        let dir = tempfile::tempdir().unwrap();
        let repo = remote(dir.path());
        let (workspace, scratch) = (dir.path().join("ws"), dir.path().join("ws.tmp"));
        std::fs::create_dir_all(&scratch).unwrap();
        let first = prepare(&workspace, &scratch, &repo, "s-1", "maker", None, false).await.unwrap().unwrap();
        assert_eq!((first.dir.clone(), first.branch.as_str()), (workspace.join("repos/shop"), "nova/s-1"));
        assert_eq!(git_in(&first.dir, &["config", "user.name"]), "maker");
        std::fs::write(first.dir.join("README"), "s-1 was here\n").unwrap();

        // Another session: the first one's unfinished work is stashed, not carried over.
        let second = prepare(&workspace, &scratch, &repo, "s-2", "maker", None, false).await.unwrap().unwrap();
        assert_eq!(second.branch, "nova/s-2");
        assert_eq!(std::fs::read_to_string(second.dir.join("README")).unwrap(), "v1\n");
        assert!(git_in(&second.dir, &["stash", "list"]).contains("nova: nova/s-1 left unfinished"));

        // Back to the first: its branch again, fetched from a remote that moved on.
        let again = prepare(&workspace, &scratch, &repo, "s-1", "maker", None, false).await.unwrap().unwrap();
        assert_eq!(git_in(&again.dir, &["symbolic-ref", "--short", "HEAD"]), "nova/s-1");

        // Side by side: each session in a worktree of its own.
        let a = prepare(&workspace, &scratch, &repo, "s-3", "maker", None, true).await.unwrap().unwrap();
        let b = prepare(&workspace, &scratch, &repo, "s-4", "maker", None, true).await.unwrap().unwrap();
        assert_eq!(a.dir, workspace.join("worktrees/s-3/shop"));
        assert_ne!(a.dir, b.dir);
        assert_eq!(git_in(&b.dir, &["symbolic-ref", "--short", "HEAD"]), "nova/s-4");
        let again = prepare(&workspace, &scratch, &repo, "s-3", "maker", None, true).await.unwrap().unwrap();
        assert_eq!(again.dir, a.dir);
    }

    /// A hostile runtime writes hooks, a file-system monitor, a filter driver (with the
    /// attributes that call it), an include of its own and a credential helper into the
    /// clone, each of which would run a program as the daemon; none runs, and the next
    /// checkouts (in the clone and in worktrees) still work.
    #[tokio::test]
    async fn nothing_the_runtime_writes_into_a_clone_runs_as_the_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let repo = remote(dir.path());
        let (workspace, scratch) = (dir.path().join("ws"), dir.path().join("ws.tmp"));
        std::fs::create_dir_all(&scratch).unwrap();
        let first = prepare(&workspace, &scratch, &repo, "s-1", "maker", None, false).await.unwrap().unwrap();
        let clone = first.dir.clone();
        let ran = dir.path().join("ran");
        let program = format!("sh -c 'echo $0 >> {}'", ran.display());
        let hooks = clone.join(".git/hooks");
        for hook in ["post-checkout", "reference-transaction", "pre-auto-gc"] {
            std::fs::write(hooks.join(hook), format!("#!/bin/sh\necho {hook} >> {}\n", ran.display())).unwrap();
            std::fs::set_permissions(hooks.join(hook), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.path().join("more.config"), format!("[filter \"x\"]\n\tsmudge = {program} included\n"))
            .unwrap();
        let more = dir.path().join("more.config").display().to_string();
        for (key, value) in [
            ("core.fsmonitor", format!("{program} fsmonitor")),
            ("filter.lfs.smudge", format!("{program} smudge")),
            ("filter.lfs.clean", format!("{program} clean")),
            ("credential.helper", format!("!{program} credential")),
            ("core.sshCommand", format!("{program} ssh")),
            ("include.path", more),
            // No program, but the daemon writing a file where the runtime says, and
            // fetching without checking whom it talks to.
            ("http.cookieFile", dir.path().join("written-by-the-daemon").display().to_string()),
            ("http.saveCookies", "true".to_owned()),
            ("http.sslVerify", "false".to_owned()),
            ("credential.https://example.com.helper", format!("!{program} scoped-credential")),
            // The runtime's everyday settings stay.
            ("pull.rebase", "true".to_owned()),
        ] {
            git_in(&clone, &["config", "--add", key, &value]);
        }
        std::fs::write(clone.join(".git/info/attributes"), "* filter=lfs\nREADME filter=x\n").unwrap();
        std::fs::write(clone.join("README"), "s-1 changed this\n").unwrap();

        let second = prepare(&workspace, &scratch, &repo, "s-2", "maker", None, false).await.unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(second.dir.join("README")).unwrap(), "v1\n");
        let side = prepare(&workspace, &scratch, &repo, "s-3", "maker", None, true).await.unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(side.dir.join("README")).unwrap(), "v1\n");
        assert!(!ran.exists(), "ran as the daemon: {}", std::fs::read_to_string(&ran).unwrap_or_default());
        let config = git_in(&clone, &["config", "--local", "--list"]);
        for planted in ["filter.", "more.config", "http.", "credential.", "fsmonitor", "sshcommand"] {
            assert!(!config.contains(planted), "{planted} is still there: {config}");
        }
        for kept in ["pull.rebase=true", "remote.origin.fetch=", "user.name=maker", "include.path="] {
            assert!(config.contains(kept), "{kept} was taken out: {config}");
        }
    }

    #[test]
    fn a_clone_keeps_what_git_writes_and_loses_whatever_names_a_program_file_or_address() {
        let kept = [
            "core.repositoryformatversion",
            "core.logallrefupdates",
            "remote.origin.url",
            "remote.my.fork.fetch",
            "branch.Feature.With.Dots.merge",
            "extensions.objectformat",
            "user.email",
            "Pull.Rebase",
        ];
        let removed = [
            "core.fsmonitor",
            "core.hookspath",
            "core.worktree",
            "core.attributesfile",
            "core.alternaterefscommand",
            "diff.external",
            "diff.x.textconv",
            "merge.x.driver",
            "filter.lfs.smudge",
            "include.path",
            "includeif.gitdir:/x.path",
            "url.https://evil/.insteadof",
            "remote.origin.pushurl",
            "remote.origin.uploadpack",
            "remote.origin.proxy",
            "http.cookiefile",
            "http.https://github.com.sslverify",
            "credential.helper",
            "submodule.x.update",
            "extensions.worktreeconfig",
            "extensions.partialclone",
            "remote.evil.promisor",
            "gpg.program",
            "user",
            "",
        ];
        for key in kept {
            assert!(trusted_key(key), "{key} should stay");
        }
        for key in removed {
            assert!(!trusted_key(key), "{key} should go");
        }
    }

    #[tokio::test]
    async fn a_worktree_unused_for_a_week_goes_unless_it_holds_uncommitted_work() {
        let dir = tempfile::tempdir().unwrap();
        let repo = remote(dir.path());
        let (workspace, scratch) = (dir.path().join("ws"), dir.path().join("ws.tmp"));
        std::fs::create_dir_all(&scratch).unwrap();
        let session = |name: &'static str| prepare(&workspace, &scratch, &repo, name, "maker", None, true);
        let done = session("s-done").await.unwrap().unwrap();
        std::fs::write(done.dir.join("NOTES"), "done\n").unwrap();
        git_in(&done.dir, &["add", "NOTES"]);
        git_in(&done.dir, &["commit", "--quiet", "-m", "notes"]);
        let unfinished = session("s-unfinished").await.unwrap().unwrap();
        std::fs::write(unfinished.dir.join("draft.txt"), "half a thought\n").unwrap();
        let recent = session("s-recent").await.unwrap().unwrap();
        // Eight days without a git command, for two of them.
        let long_ago = std::time::SystemTime::now() - Duration::from_secs(8 * 86_400);
        for worktree in [&done, &unfinished] {
            let index = worktree.dir.join(git_in(&worktree.dir, &["rev-parse", "--git-path", "index"]));
            std::fs::File::options().write(true).open(index).unwrap().set_modified(long_ago).unwrap();
        }

        session("s-new").await.unwrap().unwrap();
        assert!(!workspace.join("worktrees/s-done").exists(), "an idle, committed worktree is removed");
        let clone = workspace.join("repos/shop");
        assert_eq!(git_in(&clone, &["log", "-1", "--format=%s", "nova/s-done"]), "notes", "its branch stays");
        assert!(unfinished.dir.join("draft.txt").exists(), "uncommitted work is never removed");
        assert!(recent.dir.exists());

        // The session comes back: a worktree on its branch again, with its work.
        let back = session("s-done").await.unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(back.dir.join("NOTES")).unwrap(), "done\n");
    }

    #[tokio::test]
    async fn git_goes_through_the_office_proxy_and_the_credential_never_lands_in_git_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut repo = remote(dir.path());
        let (workspace, scratch) = (dir.path().join("ws"), dir.path().join("ws.tmp"));
        std::fs::create_dir_all(&scratch).unwrap();
        // The proxy stands for the upstream `https://git.example.com`; the remote's real
        // path is reached through it (a rewrite to a local path, here).
        let remote_dir = dir.path().join("remote.git");
        repo.url = Some("https://git.example.com/remote.git".into());
        let proxied = Some((dir.path().display().to_string(), "https://git.example.com".to_owned()));
        let checkout = prepare(&workspace, &scratch, &repo, "s-1", "maker", proxied, false).await.unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(checkout.dir.join("README")).unwrap(), "v1\n");
        assert!(remote_dir.exists());
        let config = std::fs::read_to_string(checkout.dir.join(".git/config")).unwrap();
        assert!(config.contains("url = https://git.example.com/remote.git"), "{config}");
        assert!(!config.contains("insteadOf"), "the rewrite lives outside the workspace: {config}");
    }

    #[test]
    fn a_repo_without_url_is_said_to_have_no_checkout() {
        let repo = RepoContext { name: "help-center".into(), url: None, default_branch: "main".into(), upstream: None };
        let brief = brief("writer", Some(&repo), None, &[], "write the FAQ", "carol");
        insta::assert_snapshot!(brief);
    }
}
