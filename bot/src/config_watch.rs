//! Picks up nova.toml changes while Nova runs (see [`Engine::reload`]): the file, and
//! the skill packages it names, are looked at every [`LOOK_EVERY`]; a change is
//! validated like at start, and either becomes the running fleet (an office gets a
//! changed skill at its next wake) or is refused with its error (logged and audited)
//! while the fleet keeps its config.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orchestrator::Engine;
use orchestrator::config::Config;
use sha2::{Digest as _, Sha256};

/// How often the file is looked at: a hash of a small file, cheap enough to do often.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// `loaded` is the text Nova started on: a change made between reading the file and
/// this watch starting is a change too.
pub async fn watch(engine: Arc<Engine>, path: PathBuf, loaded: Arc<str>) {
    let mut seen: Option<[u8; 32]> = Some(fingerprint_of(loaded.as_bytes(), &engine.config().skill_dirs));
    loop {
        tokio::time::sleep(LOOK_EVERY).await;
        let now = fingerprint(&path, &engine.config().skill_dirs);
        if now == seen {
            continue;
        }
        seen = now;
        let shown = path.display();
        match Config::load(&path) {
            Ok(config) => match engine.reload(config).await {
                Ok(Ok(changes)) if changes.is_empty() => tracing::info!("{shown} changed; the fleet is the same"),
                Ok(Ok(changes)) => tracing::info!(?changes, "{shown} changed; the fleet now follows it"),
                Ok(Err(refusal)) => tracing::error!("{shown} changed but is not taken: {refusal}"),
                Err(error) => tracing::error!("cannot take the changed {shown}: {error:#}"),
            },
            Err(error) => {
                tracing::error!("{shown} changed but is not valid, the running fleet keeps its config: {error}");
                engine.refuse_config(&error.to_string()).await;
            }
        }
    }
}

/// The hash of the file and the packages in `skill_dirs` (`None`: the file cannot be
/// read right now, e.g. mid-rename).
fn fingerprint(path: &std::path::Path, skill_dirs: &[PathBuf]) -> Option<[u8; 32]> {
    std::fs::read(path).ok().map(|bytes| fingerprint_of(&bytes, skill_dirs))
}

fn fingerprint_of(config: &[u8], skill_dirs: &[PathBuf]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(config);
    for dir in skill_dirs {
        for package in skills::package_dirs(dir).unwrap_or_default() {
            let files = skills::package_files(&package).unwrap_or_default();
            for file in std::iter::once(package.join("SKILL.md")).chain(files) {
                if let Ok(text) = std::fs::read(&file) {
                    hash.update(file.as_os_str().as_encoded_bytes());
                    hash.update(&text);
                }
            }
        }
    }
    hash.finalize().into()
}
