//! Skill packages: a `SKILL.md` with front matter (`name`, `description`, optional
//! `version`) and the instructions an office reads. Some ship inside the binary; a
//! workspace adds its own as directories of packages (`<dir>/<name>/SKILL.md`), and an
//! office may have a directory of its own whose packages override the workspace's. An
//! office's skills are written into its workspace (`skills/<name>/SKILL.md`) on every
//! wake, each with its revision (a hash of its text), which the run's audit names.
//!
//! A package may hold more than instructions: tools (`tools.json`, see [`tools`]) that the
//! built-in agent can call once it loads the skill, and the scripts they run. Every file
//! of a package is part of its revision.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod git;
pub mod openapi;
pub mod tools;

pub use tools::Tool;

/// Every office gets this skill: how to talk to Nova.
pub const OFFICE: &str = "office";

/// What an office may ask Nova about the fleet (opt in: `skills = ["command"]`).
pub const COMMAND: &str = "command";

/// SQL on the workspace's `[[databases]]`, through Nova (opt in: `skills = ["database"]`).
pub const DATABASE: &str = "database";

const BUNDLED: &[&str] =
    &[include_str!("../office/SKILL.md"), include_str!("../command/SKILL.md"), include_str!("../database/SKILL.md")];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    pub name: String,
    pub description: String,
    pub version: Option<String>,
    /// The whole SKILL.md, front matter included.
    pub text: String,
    /// What the agent may call once it loads the skill (`tools.json`).
    pub tools: Vec<Tool>,
    /// The package's other files (`tools.json`, scripts), by path within the package.
    pub files: BTreeMap<String, String>,
    /// What the package is: the first 12 hex digits of the SHA-256 of its pinned text
    /// ([`Skill::pinned_text`]). A run pins it.
    pub revision: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkillError {
    #[error("SKILL.md must start with a `---` front matter block")]
    NoFrontMatter,
    #[error("SKILL.md front matter has no `{0}`")]
    Missing(&'static str),
    #[error("SKILL.md front matter line {0} is not `key: value`")]
    BadLine(usize),
    #[error("skill name `{0}` may hold only a-z, 0-9, `-` and `_`")]
    BadName(String),
}

impl SkillError {
    /// The line of SKILL.md the error is on.
    pub fn line(&self) -> usize {
        match self {
            Self::BadLine(line) => *line,
            _ => 1,
        }
    }
}

/// A package that cannot be used: which file, which line, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct PackageError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

/// The most a package's files may weigh together: it is copied into every office's workspace.
pub const MAX_PACKAGE_BYTES: u64 = 4 << 20;

/// The first 12 hex digits of the SHA-256 of `text`.
pub fn revision(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..6])
}

/// The packages in a directory: each subdirectory with a `SKILL.md`, named as its
/// front matter says (which must match the directory's name), with its other files.
pub fn load_dir(dir: &Path) -> Result<Vec<Skill>, PackageError> {
    let unreadable = |file: &Path, error: std::io::Error| PackageError {
        file: file.to_owned(),
        line: 0,
        message: format!("cannot read it: {error}"),
    };
    let mut skills = Vec::new();
    for package in package_dirs(dir).map_err(|e| unreadable(dir, e))? {
        let file = package.join("SKILL.md");
        let text = std::fs::read_to_string(&file).map_err(|e| unreadable(&file, e))?;
        let skill = Skill::parse(&text).map_err(|error| PackageError {
            file: file.clone(),
            line: error.line(),
            message: error.to_string(),
        })?;
        let folder = package.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if skill.name != folder {
            return Err(PackageError {
                file,
                line: 2,
                message: format!("the skill is named `{}` but its directory `{folder}`", skill.name),
            });
        }
        let mut files = BTreeMap::new();
        let mut weight = text.len() as u64;
        for path in package_files(&package).map_err(|e| unreadable(&package, e))? {
            let bytes = std::fs::read(&path).map_err(|e| unreadable(&path, e))?;
            weight += bytes.len() as u64;
            let refuse = |message: String| PackageError { file: path.clone(), line: 0, message };
            if weight > MAX_PACKAGE_BYTES {
                return Err(refuse(format!("the package is over {} MiB", MAX_PACKAGE_BYTES >> 20)));
            }
            let content = String::from_utf8(bytes)
                .map_err(|_| refuse("a package holds text files only (this one is not UTF-8)".to_owned()))?;
            let relative = path.strip_prefix(&package).expect("under the package").to_string_lossy().into_owned();
            files.insert(relative, content);
        }
        let tools = match files.get(tools::TOOLS_FILE) {
            Some(text) => tools::parse_tools(text).map_err(|(line, message)| PackageError {
                file: package.join(tools::TOOLS_FILE),
                line,
                message,
            })?,
            None => Vec::new(),
        };
        skills.push(skill.with_files(tools, files));
    }
    Ok(skills)
}

/// The packages in `dir`: its subdirectories with a `SKILL.md`, sorted.
pub fn package_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut packages: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("SKILL.md").is_file())
        .collect();
    packages.sort();
    Ok(packages)
}

/// A package's files besides its `SKILL.md`, sorted; hidden ones (`.git`) are not part of it.
pub fn package_files(package: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut dirs = vec![package.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type()?.is_dir() {
                dirs.push(path);
            } else if path != package.join("SKILL.md") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Skills by name, the later source winning: the bundled ones, then each directory added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Library {
    skills: Vec<Skill>,
}

impl Library {
    /// The skills built into this binary, for packages to go over.
    pub fn bundled() -> Self {
        Self { skills: bundled() }
    }

    /// `skills` over this library's: a package of the same name replaces the old one.
    pub fn add(&mut self, skills: Vec<Skill>) {
        for skill in skills {
            self.skills.retain(|s| s.name != skill.name);
            self.skills.push(skill);
        }
    }

    pub fn get(&self, name: &str) -> Option<&Skill> {
        self.skills.iter().find(|s| s.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.skills.iter().map(|s| s.name.as_str()).collect()
    }
}

impl Skill {
    pub fn parse(text: &str) -> Result<Self, SkillError> {
        let rest = text.strip_prefix("---\n").ok_or(SkillError::NoFrontMatter)?;
        let end = rest.find("\n---").ok_or(SkillError::NoFrontMatter)?;
        let (mut name, mut description, mut version) = (None, None, None);
        for (index, line) in rest[..end].lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (key, value) = line.split_once(':').ok_or(SkillError::BadLine(index + 2))?;
            match key.trim() {
                "name" => name = Some(value.trim().to_owned()),
                "description" => description = Some(value.trim().to_owned()),
                "version" => version = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let name = name.filter(|n| !n.is_empty()).ok_or(SkillError::Missing("name"))?;
        if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
            return Err(SkillError::BadName(name));
        }
        Ok(Self {
            name,
            description: description.filter(|d| !d.is_empty()).ok_or(SkillError::Missing("description"))?,
            version,
            text: text.to_owned(),
            tools: Vec::new(),
            files: BTreeMap::new(),
            revision: revision(text),
        })
    }

    /// This skill with its package's other files, and the revision they all make.
    fn with_files(mut self, tools: Vec<Tool>, files: BTreeMap<String, String>) -> Self {
        self.tools = tools;
        self.files = files;
        self.revision = revision(&self.pinned_text());
        self
    }

    /// Where the skill lives in an office's workspace.
    pub fn path(&self) -> String {
        format!("skills/{}/SKILL.md", self.name)
    }

    /// Everything the package is, as one text: its `SKILL.md`, then each other file under
    /// a `==> path <==` line. What a revision hashes and what `nova skill diff` compares.
    pub fn pinned_text(&self) -> String {
        let mut text = self.text.clone();
        for (path, content) in &self.files {
            text.push_str(&format!("\n==> {path} <==\n{content}"));
        }
        text
    }

    /// The files written into an office's workspace: path (under it) and content.
    pub fn workspace_files(&self) -> Vec<(String, String)> {
        std::iter::once((self.path(), self.text.clone()))
            .chain(self.files.iter().map(|(path, content)| (format!("skills/{}/{path}", self.name), content.clone())))
            .collect()
    }
}

/// The skills built into this binary.
fn bundled() -> Vec<Skill> {
    BUNDLED.iter().map(|text| Skill::parse(text).expect("bundled skills are valid")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_office_skill_is_bundled() {
        let library = Library::bundled();
        let skill = library.get(OFFICE).unwrap();
        assert_eq!(skill.path(), "skills/office/SKILL.md");
        assert!(skill.description.starts_with("How an office talks to Nova"));
    }

    #[test]
    fn front_matter_is_required() {
        assert_eq!(Skill::parse("# no front matter"), Err(SkillError::NoFrontMatter));
        assert_eq!(Skill::parse("---\nname: x\n---\nbody"), Err(SkillError::Missing("description")));
        assert_eq!(Skill::parse("---\ndescription: d\n---\n"), Err(SkillError::Missing("name")));
        assert_eq!(Skill::parse("---\nname x\n---\n"), Err(SkillError::BadLine(2)));
    }

    fn package(root: &Path, dir: &str, text: &str) {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join("SKILL.md"), text).unwrap();
    }

    #[test]
    fn a_directory_of_packages_loads_over_the_bundled_skills_and_says_which_file_is_wrong() {
        let root = tempfile::tempdir().unwrap();
        package(
            root.path(),
            "postgres",
            "---\nname: postgres\ndescription: Query safely.\nversion: 2\n---\n# Postgres\n",
        );
        package(root.path(), "office", "---\nname: office\ndescription: Ours.\n---\n");
        std::fs::create_dir_all(root.path().join("notes")).unwrap(); // no SKILL.md: not a package
        let mut library = Library::bundled();
        library.add(load_dir(root.path()).unwrap());
        let postgres = library.get("postgres").unwrap();
        assert_eq!((postgres.version.as_deref(), postgres.revision.len()), (Some("2"), 12));
        assert_eq!(library.get(OFFICE).unwrap().description, "Ours.", "a package overrides a bundled skill");

        package(root.path(), "broken", "---\nname: broken\ndescription ok\n---\n");
        let error = load_dir(root.path()).unwrap_err();
        assert_eq!(error.file, root.path().join("broken/SKILL.md"));
        assert_eq!(error.line, 3);
        std::fs::remove_dir_all(root.path().join("broken")).unwrap();
        package(root.path(), "misnamed", "---\nname: other\ndescription: d\n---\n");
        let error = load_dir(root.path()).unwrap_err();
        assert!(
            error.to_string().ends_with("misnamed/SKILL.md:2: the skill is named `other` but its directory `misnamed`"),
            "{error}"
        );
    }

    #[test]
    fn a_revision_changes_with_the_text() {
        let one = Skill::parse("---\nname: a\ndescription: d\n---\none").unwrap();
        let two = Skill::parse("---\nname: a\ndescription: d\n---\ntwo").unwrap();
        assert_ne!(one.revision, two.revision);
        assert_eq!(one.revision, revision(&one.text));
    }

    #[test]
    fn parses_name_and_description() {
        let skill = Skill::parse("---\nname: git\ndescription: Commit: well.\n---\n# Git\n").unwrap();
        assert_eq!((skill.name.as_str(), skill.description.as_str()), ("git", "Commit: well."));
    }
}
