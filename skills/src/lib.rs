//! Skill packages: a `SKILL.md` with front matter (`name`, `description`, optional
//! `version`) and the instructions an office reads. Some ship inside the binary; a
//! workspace adds its own as directories of packages (`<dir>/<name>/SKILL.md`), and an
//! office may have a directory of its own whose packages override the workspace's. An
//! office's skills are written into its workspace (`skills/<name>/SKILL.md`) on every
//! wake, each with its revision (a hash of its text), which the run's audit names.

use std::path::{Path, PathBuf};

/// Every office gets this skill: how to talk to Nova.
pub const OFFICE: &str = "office";

const BUNDLED: &[&str] = &[include_str!("../office/SKILL.md")];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    pub name: String,
    pub description: String,
    pub version: Option<String>,
    /// The whole SKILL.md, front matter included.
    pub text: String,
    /// What this text is: the first 12 hex digits of its SHA-256. A run pins it.
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

/// The first 12 hex digits of the SHA-256 of `text`.
pub fn revision(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..6])
}

/// The packages in a directory: each subdirectory with a `SKILL.md`, named as its
/// front matter says (which must match the directory's name).
pub fn load_dir(dir: &Path) -> Result<Vec<Skill>, PackageError> {
    let unreadable = |file: &Path, error: std::io::Error| PackageError {
        file: file.to_owned(),
        line: 0,
        message: format!("cannot read it: {error}"),
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| unreadable(dir, e))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("SKILL.md").is_file())
        .collect();
    entries.sort();
    let mut skills = Vec::with_capacity(entries.len());
    for package in entries {
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
        skills.push(skill);
    }
    Ok(skills)
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
            revision: revision(text),
        })
    }

    /// Where the skill lives in an office's workspace.
    pub fn path(&self) -> String {
        format!("skills/{}/SKILL.md", self.name)
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
