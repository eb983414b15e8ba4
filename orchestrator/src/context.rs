//! What an office is told about itself on every wake: SOUL.md and AGENTS.md, rendered
//! from `prompts/*.hbs` with the live config, so a config change shows on the next wake.

use handlebars::Handlebars;
use provisioner::protocol::{ContextFile, ContextFiles};
use serde_json::json;

use crate::config::Config;

pub struct Templates {
    registry: Handlebars<'static>,
}

/// Handlebars as every prompt of Nova's is rendered: strict (a missing field is an
/// error, not an empty string) and unescaped (prompts are text, not HTML), with these
/// `(name, template)` registered.
pub(crate) fn prompt_templates(templates: &[(&str, &str)]) -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    for (name, template) in templates {
        registry
            .register_template_string(name, template)
            .unwrap_or_else(|error| panic!("the {name} prompt template is invalid: {error}"));
    }
    registry
}

impl Default for Templates {
    fn default() -> Self {
        let registry = prompt_templates(&[
            ("soul", include_str!("../../prompts/soul.md.hbs")),
            ("agents", include_str!("../../prompts/agents.md.hbs")),
        ]);
        Self { registry }
    }
}

impl Templates {
    /// The files to write into `office`'s workspace, or `None` for an unknown office.
    pub fn office_context(&self, config: &Config, office: &str) -> anyhow::Result<Option<ContextFiles>> {
        let Some(me) = config.office(office) else {
            return Ok(None);
        };
        let office_json = json!({
            "name": me.name,
            "role": me.role,
            "soul": me.soul,
            "reports_to": me.reports_to,
            "budget_usd": me.budget_usd,
        });
        let repos = |names: &[String]| -> Vec<serde_json::Value> {
            names
                .iter()
                .filter_map(|n| config.repo(n))
                .map(|r| json!({"name": r.name, "description": r.description}))
                .collect()
        };
        let workspace = json!({"name": config.workspace.name, "description": config.workspace.description});
        let soul = self
            .registry
            .render("soul", &json!({"workspace": workspace, "office": office_json, "repos": repos(&me.repos)}))?;
        let offices: Vec<_> = config
            .offices
            .iter()
            .map(|o| json!({"name": o.name, "role": o.role, "repos": o.repos, "reports_to": o.reports_to}))
            .collect();
        let all_repos: Vec<String> = config.repos.iter().map(|r| r.name.clone()).collect();
        let databases: Vec<&str> = config
            .databases
            .iter()
            .filter(|d| d.offices.is_empty() || d.offices.contains(&me.name))
            .map(|d| d.name.as_str())
            .collect();
        let agents = self.registry.render(
            "agents",
            &json!({
                "workspace": workspace, "self": me.name, "offices": offices, "repos": repos(&all_repos),
                "databases": databases
            }),
        )?;
        let mut files = vec![
            ContextFile { path: "SOUL.md".to_owned(), content: soul },
            ContextFile { path: "AGENTS.md".to_owned(), content: agents },
        ];
        // Every office learns how to talk to Nova, plus the workspace's skills and its own.
        files.extend(
            me.loaded_skills
                .iter()
                .flat_map(|skill| skill.workspace_files())
                .map(|(path, content)| ContextFile { path, content }),
        );
        Ok(Some(ContextFiles { files, upstreams: config.office_upstreams().cloned().collect() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(office: &str) -> Vec<String> {
        Templates::default()
            .office_context(&Config::demo(), office)
            .unwrap()
            .unwrap()
            .files
            .into_iter()
            .map(|f| format!("=== {}\n{}", f.path, f.content))
            .collect()
    }

    #[test]
    fn maker_context() {
        let files = render("maker");
        insta::assert_snapshot!("maker_soul", files[0]);
        insta::assert_snapshot!("maker_agents", files[1]);
    }

    #[test]
    fn office_without_repos_and_with_a_boss() {
        let files = render("operator");
        insta::assert_snapshot!("operator_soul", files[0]);
        let files = render("analyst");
        insta::assert_snapshot!("analyst_soul", files[0]);
    }

    #[test]
    fn every_office_gets_the_office_skill() {
        let context = Templates::default().office_context(&Config::demo(), "support").unwrap().unwrap();
        let paths: Vec<&str> = context.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["SOUL.md", "AGENTS.md", "skills/office/SKILL.md"]);
    }

    #[test]
    fn unknown_office_has_no_context() {
        assert!(Templates::default().office_context(&Config::demo(), "ghost").unwrap().is_none());
    }
}
