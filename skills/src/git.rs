//! Packages from a git repository (`[skills] git = [{ url, rev, path }]`): the repo is
//! fetched at `rev` (a tag, a commit, or a branch) into a cache, once per URL and rev,
//! and read like any directory of packages. A tag or a commit pins what offices get; a
//! branch is read as it was when first fetched, until `nova skill sync` fetches again.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The file that marks a checkout complete, holding the commit it is at.
const COMPLETE: &str = ".nova-commit";

/// Where `url` at `rev` is checked out under `cache`, fetching it if it is not there yet;
/// and the commit it is at. The error is git's own complaint.
pub fn checkout(url: &str, rev: &str, cache: &Path) -> Result<(PathBuf, String), String> {
    let dir = cache_dir(url, rev, cache);
    if let Ok(commit) = std::fs::read_to_string(dir.join(COMPLETE)) {
        return Ok((dir, commit.trim().to_owned()));
    }
    std::fs::create_dir_all(cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let partial = cache.join(format!(".{}.partial-{}", file_name(&dir), std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    let fetched = (|| {
        git(cache, &["init", "--quiet", partial.to_str().ok_or("the cache path is not UTF-8")?])?;
        git(&partial, &["fetch", "--quiet", "--depth", "1", url, rev])
            .map_err(|error| format!("cannot fetch `{rev}` from {url}: {error}"))?;
        git(&partial, &["checkout", "--quiet", "FETCH_HEAD"])?;
        let commit = git(&partial, &["rev-parse", "HEAD"])?;
        std::fs::write(partial.join(COMPLETE), &commit).map_err(|e| e.to_string())?;
        Ok::<_, String>(commit)
    })();
    let commit = match fetched {
        Ok(commit) => commit,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(error);
        }
    };
    // Another process may have finished the same checkout first: theirs is as good.
    if std::fs::rename(&partial, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    Ok((dir, commit))
}

/// Forgets the checkout of `url` at `rev`, so the next [`checkout`] fetches it again.
pub fn forget(url: &str, rev: &str, cache: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(cache_dir(url, rev, cache)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

fn cache_dir(url: &str, rev: &str, cache: &Path) -> PathBuf {
    let tail: String = url
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    cache.join(format!("{tail}-{}", crate::revision(&format!("{url}\n{rev}"))))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Runs git without prompts or the machine's config; its stdout, or its stderr.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_with_a_package(root: &Path) -> String {
        let repo = root.join("skills-repo");
        std::fs::create_dir_all(repo.join("packages/deploy")).unwrap();
        std::fs::write(repo.join("packages/deploy/SKILL.md"), "---\nname: deploy\ndescription: Ship it.\n---\n")
            .unwrap();
        let commit = |message: &str| {
            git(&repo, &["add", "."]).unwrap();
            git(&repo, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", message]).unwrap();
        };
        git(&repo, &["init", "--quiet", "--initial-branch=main"]).unwrap();
        commit("v1");
        git(&repo, &["tag", "v1"]).unwrap();
        std::fs::write(repo.join("packages/deploy/SKILL.md"), "---\nname: deploy\ndescription: Ship it, v2.\n---\n")
            .unwrap();
        commit("v2");
        format!("file://{}", repo.display())
    }

    #[test]
    fn a_tag_is_fetched_once_and_read_from_the_cache_after() {
        let root = tempfile::tempdir().unwrap();
        let url = repo_with_a_package(root.path());
        let cache = root.path().join("cache");
        let (dir, commit) = checkout(&url, "v1", &cache).unwrap();
        assert_eq!(commit.len(), 40);
        let skills = crate::load_dir(&dir.join("packages")).unwrap();
        assert_eq!(skills[0].description, "Ship it.", "the tag, not the branch's head");
        let (main, _) = checkout(&url, "main", &cache).unwrap();
        assert_eq!(crate::load_dir(&main.join("packages")).unwrap()[0].description, "Ship it, v2.");

        // The origin is gone: the cached checkout still serves; forgetting it does not.
        std::fs::remove_dir_all(root.path().join("skills-repo")).unwrap();
        assert_eq!(checkout(&url, "v1", &cache).unwrap(), (dir, commit));
        forget(&url, "v1", &cache).unwrap();
        let error = checkout(&url, "v1", &cache).unwrap_err();
        assert!(error.starts_with(&format!("cannot fetch `v1` from {url}: ")), "{error}");
        let leftovers: Vec<_> =
            std::fs::read_dir(&cache).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 1, "a failed fetch leaves nothing behind: {leftovers:?}");
    }
}
