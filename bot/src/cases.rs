//! JSON-lines check sets, as `nova route` and `nova ask` read them: one case a line,
//! blank lines and `#` comments skipped, a malformed line named by its number.

use std::io::BufRead;

use anyhow::Context as _;
use serde::de::DeserializeOwned;

/// The cases of `input`, each parsed as `T`; `what` names a case in errors.
pub fn read<T: DeserializeOwned>(input: impl BufRead, what: &str) -> impl Iterator<Item = anyhow::Result<T>> {
    input.lines().enumerate().filter_map(move |(number, line)| {
        let line = match line.context("cannot read input") {
            Ok(line) => line,
            Err(error) => return Some(Err(error)),
        };
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            return None;
        }
        Some(serde_json::from_str(&line).with_context(|| format!("input line {}: not {what}", number + 1)))
    })
}

/// The file at `path`, or standard input without one.
pub fn open(path: Option<&std::path::Path>) -> anyhow::Result<Box<dyn BufRead>> {
    Ok(match path {
        Some(path) => {
            let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            Box::new(std::io::BufReader::new(file))
        }
        None => Box::new(std::io::stdin().lock()),
    })
}
