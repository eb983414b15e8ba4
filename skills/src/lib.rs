//! Skill packages: a `SKILL.md` with front matter (`name`, `description`) and the
//! instructions an office reads. Skills ship inside the binary and are written into an
//! office's workspace (`skills/<name>/SKILL.md`) on every wake.

/// Every office gets this skill: how to talk to Nova.
pub const OFFICE: &str = "office";

const BUNDLED: &[&str] = &[include_str!("../office/SKILL.md")];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    pub name: String,
    pub description: String,
    /// The whole SKILL.md, front matter included.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkillError {
    #[error("SKILL.md must start with a `---` front matter block")]
    NoFrontMatter,
    #[error("SKILL.md front matter has no `{0}`")]
    Missing(&'static str),
    #[error("SKILL.md front matter line {0} is not `key: value`")]
    BadLine(usize),
}

impl Skill {
    pub fn parse(text: &str) -> Result<Self, SkillError> {
        let rest = text.strip_prefix("---\n").ok_or(SkillError::NoFrontMatter)?;
        let end = rest.find("\n---").ok_or(SkillError::NoFrontMatter)?;
        let (mut name, mut description) = (None, None);
        for (index, line) in rest[..end].lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (key, value) = line.split_once(':').ok_or(SkillError::BadLine(index + 2))?;
            match key.trim() {
                "name" => name = Some(value.trim().to_owned()),
                "description" => description = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        Ok(Self {
            name: name.filter(|n| !n.is_empty()).ok_or(SkillError::Missing("name"))?,
            description: description.ok_or(SkillError::Missing("description"))?,
            text: text.to_owned(),
        })
    }

    /// Where the skill lives in an office's workspace.
    pub fn path(&self) -> String {
        format!("skills/{}/SKILL.md", self.name)
    }
}

/// The skills built into this binary.
pub fn bundled() -> Vec<Skill> {
    BUNDLED.iter().map(|text| Skill::parse(text).expect("bundled skills are valid")).collect()
}

pub fn find(name: &str) -> Option<Skill> {
    bundled().into_iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_office_skill_is_bundled() {
        let skill = find(OFFICE).unwrap();
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

    #[test]
    fn parses_name_and_description() {
        let skill = Skill::parse("---\nname: git\ndescription: Commit: well.\n---\n# Git\n").unwrap();
        assert_eq!((skill.name.as_str(), skill.description.as_str()), ("git", "Commit: well."));
    }
}
