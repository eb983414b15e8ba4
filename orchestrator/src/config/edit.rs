//! Fleet changes made while Nova runs (from chat, the console or `/api`), written as
//! edits of nova.toml's text. The live fleet is the file with every change that was
//! allowed applied in order, so it is validated exactly like the file
//! ([`Config::parse`]), `nova export` prints it (the file's comments and layout kept),
//! and an edit of the file itself is still the bootstrap the changes apply over.

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use super::{Config, ConfigError};
use crate::ask::{Action, NewOffice, NewRepo, OfficeChanges};

/// Why a change cannot be written into the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("there is already an office named `{0}`")]
    OfficeExists(String),
    #[error("there is already a repo named `{0}`")]
    RepoExists(String),
    #[error("there is no office named `{0}`")]
    NoOffice(String),
    #[error("a new office needs a name or a role to name it after")]
    Unnamed,
    #[error("`{0}` changes nothing in the fleet's config")]
    NotAChange(&'static str),
    #[error("the config is not TOML: {0}")]
    Unreadable(String),
}

/// `text` with `change` written into it. Validation of the result is the caller's
/// ([`Config::parse`]): this only refuses what cannot be written at all.
pub fn apply(text: &str, change: &Action) -> Result<String, EditError> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| EditError::Unreadable(e.to_string()))?;
    match change {
        Action::CreateOffice(new) => create_office(&mut doc, new)?,
        Action::UpdateOffice { office, changes } => update_office(&mut doc, office, changes)?,
        Action::RetireOffice { office } => retire_office(&mut doc, office)?,
        Action::AddRepo(repo) => add_repo(&mut doc, repo)?,
        other => return Err(EditError::NotAChange(other.name())),
    }
    Ok(doc.to_string())
}

/// A change that no longer fits the config it is written over (the file was edited
/// since: its office is gone, or the file now makes the same office), and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub id: i64,
    pub reason: String,
}

/// The live fleet: `base` (nova.toml's text) with each change written in, in order,
/// each validated as it goes. A change the config no longer takes is skipped, saying
/// why, and the rest still apply; `Err` only when `base` itself is not valid.
pub fn apply_all(base: &str, origin: &str, changes: &[(i64, Action)]) -> Result<(Config, Vec<Skipped>), ConfigError> {
    let mut config = Config::parse(base, origin)?;
    let mut skipped = Vec::new();
    for (id, change) in changes {
        let edited = apply(&config.source, change)
            .map_err(|e| e.to_string())
            .and_then(|text| Config::parse(&text, origin).map_err(|e| e.to_string()));
        match edited {
            Ok(next) => config = next,
            Err(reason) => skipped.push(Skipped { id: *id, reason }),
        }
    }
    Ok((config, skipped))
}

/// The name a new office gets: the one it was given, or (when the request only said
/// what it is for, "an office for release notes") the first words of its role, in the
/// form config names take (`release-notes`).
pub fn office_name(new: &NewOffice) -> Result<String, EditError> {
    let source = match new.name.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(name) => name.to_owned(),
        None => new
            .role
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty() && !FILLER.contains(&w.to_lowercase().as_str()))
            .take(2)
            .collect::<Vec<_>>()
            .join("-"),
    };
    let name: String = source
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let name: String = name.chars().take(63).collect();
    if name.is_empty() { Err(EditError::Unnamed) } else { Ok(name) }
}

/// Words a role starts with that make a poor name ("handles the release notes").
const FILLER: &[&str] =
    &["a", "an", "the", "our", "all", "handles", "handling", "writes", "writing", "does", "doing", "to", "for", "and"];

fn named<'a>(tables: &'a mut ArrayOfTables, name: &str) -> Option<&'a mut Table> {
    tables.iter_mut().find(|t| t.get("name").and_then(Item::as_str) == Some(name))
}

fn tables<'a>(doc: &'a mut DocumentMut, key: &str) -> Result<&'a mut ArrayOfTables, EditError> {
    if !doc.contains_key(key) {
        doc.insert(key, Item::ArrayOfTables(ArrayOfTables::new()));
    }
    doc[key].as_array_of_tables_mut().ok_or_else(|| EditError::Unreadable(format!("`{key}` is not a list of tables")))
}

fn strings(items: &[String]) -> Item {
    value(items.iter().map(String::as_str).collect::<Array>())
}

fn create_office(doc: &mut DocumentMut, new: &NewOffice) -> Result<(), EditError> {
    let name = office_name(new)?;
    // An office under another, with no runtime of the workspace to fall back on, works
    // the way the office it reports to does.
    let inherited_runtime = match (&new.reports_to, doc.get("runtime")) {
        (Some(boss), None) => tables(doc, "offices")?
            .iter()
            .find(|t| t.get("name").and_then(Item::as_str) == Some(boss))
            .and_then(|t| t.get("runtime").cloned()),
        _ => None,
    };
    let offices = tables(doc, "offices")?;
    if named(offices, &name).is_some() {
        return Err(EditError::OfficeExists(name));
    }
    let mut office = Table::new();
    office["name"] = value(name);
    office["role"] = value(new.role.trim());
    office["repos"] = strings(&new.repos);
    office["channels"] = strings(&new.channels);
    if let Some(boss) = &new.reports_to {
        office["reports_to"] = value(boss.as_str());
    }
    if let Some(tier) = new.tier {
        office["tier"] = value(i64::from(tier));
    }
    if let Some(budget) = new.budget_usd {
        office["budget"] = value(budget);
    }
    // Inline, so it is written with the new office rather than where it was copied from.
    match inherited_runtime {
        Some(Item::Table(runtime)) => office["runtime"] = value(runtime.into_inline_table()),
        Some(runtime) => office["runtime"] = runtime,
        None => {}
    }
    offices.push(office);
    Ok(())
}

fn update_office(doc: &mut DocumentMut, name: &str, changes: &OfficeChanges) -> Result<(), EditError> {
    let office = named(tables(doc, "offices")?, name).ok_or_else(|| EditError::NoOffice(name.to_owned()))?;
    if let Some(role) = &changes.role {
        office["role"] = value(role.trim());
    }
    if let Some(repos) = &changes.repos {
        office["repos"] = strings(repos);
    }
    if let Some(channels) = &changes.channels {
        office["channels"] = strings(channels);
    }
    if let Some(boss) = &changes.reports_to {
        office["reports_to"] = value(boss.as_str());
    }
    if let Some(tier) = changes.tier {
        office["tier"] = value(i64::from(tier));
    }
    if let Some(budget) = changes.budget_usd {
        office["budget"] = value(budget);
    }
    if let Some(idle) = &changes.idle_timeout {
        office["idle_timeout"] = value(idle.as_str());
    }
    Ok(())
}

/// Takes the office out; offices that reported to it report to its own boss (or to
/// nobody), so the chain of command stays whole.
fn retire_office(doc: &mut DocumentMut, name: &str) -> Result<(), EditError> {
    let offices = tables(doc, "offices")?;
    let index = offices
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
        .ok_or_else(|| EditError::NoOffice(name.to_owned()))?;
    let boss = offices.get(index).and_then(|t| t.get("reports_to")).and_then(Item::as_str).map(str::to_owned);
    offices.remove(index);
    for office in offices.iter_mut() {
        if office.get("reports_to").and_then(Item::as_str) == Some(name) {
            match &boss {
                Some(boss) => office["reports_to"] = value(boss.as_str()),
                None => {
                    office.remove("reports_to");
                }
            }
        }
    }
    Ok(())
}

fn add_repo(doc: &mut DocumentMut, new: &NewRepo) -> Result<(), EditError> {
    let repos = tables(doc, "repos")?;
    if named(repos, &new.name).is_some() {
        return Err(EditError::RepoExists(new.name.clone()));
    }
    let mut repo = Table::new();
    repo["name"] = value(new.name.as_str());
    // The router matches messages against the description: the name is better than nothing.
    repo["description"] = value(new.description.as_deref().unwrap_or(&new.name).trim());
    repo["channels"] = strings(&new.channels);
    if let Some(url) = &new.url {
        repo["url"] = value(url.as_str());
    }
    repos.push(repo);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn demo_with(change: &Action) -> Result<Config, String> {
        let text = apply(crate::config::DEMO_TOML, change).map_err(|e| e.to_string())?;
        Config::parse(&text, "test").map_err(|e| e.to_string())
    }

    fn new_office(name: Option<&str>, role: &str) -> NewOffice {
        NewOffice { name: name.map(str::to_owned), role: role.to_owned(), ..Default::default() }
    }

    #[test]
    fn a_created_office_is_in_the_config_with_what_it_was_given() {
        let change = Action::CreateOffice(NewOffice {
            reports_to: Some("writer".into()),
            tier: Some(2),
            budget_usd: Some(40.0),
            channels: vec!["releases".into()],
            repos: vec!["help-center".into()],
            ..new_office(Some("scribe"), "Writes the release notes for every deploy.")
        });
        let config = demo_with(&change).unwrap();
        let office = config.office("scribe").expect("the new office");
        assert_eq!(office.role, "Writes the release notes for every deploy.");
        assert_eq!(office.reports_to.as_deref(), Some("writer"));
        assert_eq!((office.tier, office.budget_usd), (2, Some(40.0)));
        assert_eq!(
            (office.repos.as_slice(), office.channels.as_slice()),
            (&["help-center".to_owned()][..], &["releases".to_owned()][..])
        );
        assert_eq!(config.offices.len(), Config::demo().offices.len() + 1);
    }

    #[test]
    fn the_file_keeps_its_comments_and_the_new_office_comes_last() {
        let text =
            apply(crate::config::DEMO_TOML, &Action::CreateOffice(new_office(Some("scribe"), "Notes."))).unwrap();
        assert!(text.starts_with(crate::config::DEMO_TOML.lines().next().unwrap()));
        assert!(text.contains("# runtime that ships inside nova-office"));
        insta::assert_snapshot!(text[crate::config::DEMO_TOML.trim_end().len()..].trim_start(), @r#"
        [[offices]]
        name = "scribe"
        role = "Notes."
        repos = []
        channels = []
        "#);
    }

    #[test]
    fn an_office_named_after_its_role_when_the_request_gave_no_name() {
        assert_eq!(office_name(&new_office(None, "release notes for the mobile app")).unwrap(), "release-notes");
        assert_eq!(office_name(&new_office(None, "handles the Refunds queue")).unwrap(), "refunds-queue");
        assert_eq!(office_name(&new_office(Some("Intake Bot"), "x")).unwrap(), "intake-bot");
        assert_eq!(office_name(&new_office(None, "  ")), Err(EditError::Unnamed));
    }

    #[test]
    fn an_office_or_repo_that_exists_is_not_made_twice() {
        let office = Action::CreateOffice(new_office(Some("writer"), "Another writer."));
        assert_eq!(demo_with(&office).unwrap_err(), "there is already an office named `writer`");
        let repo = Action::AddRepo(NewRepo { name: "infra".into(), ..Default::default() });
        assert_eq!(demo_with(&repo).unwrap_err(), "there is already a repo named `infra`");
    }

    #[test]
    fn a_change_the_config_rejects_is_refused_with_the_configs_own_error() {
        let unknown_boss = Action::CreateOffice(NewOffice {
            reports_to: Some("ghost".into()),
            ..new_office(Some("scribe"), "Notes.")
        });
        let error = demo_with(&unknown_boss).unwrap_err();
        assert!(error.contains("ghost"), "{error}");
        let bad_tier = Action::UpdateOffice {
            office: "writer".into(),
            changes: OfficeChanges { tier: Some(12), ..Default::default() },
        };
        assert!(demo_with(&bad_tier).unwrap_err().contains("tier"));
    }

    #[test]
    fn an_update_changes_only_what_it_names() {
        let change = Action::UpdateOffice {
            office: "writer".into(),
            changes: OfficeChanges { idle_timeout: Some("1h".into()), budget_usd: Some(25.5), ..Default::default() },
        };
        let config = demo_with(&change).unwrap();
        let (before, after) =
            (Config::demo().office("writer").unwrap().clone(), config.office("writer").unwrap().clone());
        assert_eq!(after.idle_timeout, std::time::Duration::from_secs(3600));
        assert_eq!(after.budget_usd, Some(25.5));
        assert_eq!((after.role, after.repos, after.channels), (before.role, before.repos, before.channels));
        let missing = Action::UpdateOffice { office: "ghost".into(), changes: OfficeChanges::default() };
        assert_eq!(demo_with(&missing).unwrap_err(), "there is no office named `ghost`");
    }

    #[test]
    fn a_retired_office_is_gone_and_its_reports_move_up() {
        // operator reports to maker; retiring maker leaves operator at the top.
        let config = demo_with(&Action::RetireOffice { office: "maker".into() }).unwrap();
        assert!(config.office("maker").is_none());
        assert_eq!(config.office("operator").unwrap().reports_to, None);
        let middle = apply(
            &apply(
                crate::config::DEMO_TOML,
                &Action::CreateOffice(NewOffice {
                    reports_to: Some("operator".into()),
                    ..new_office(Some("pager"), "Pages people.")
                }),
            )
            .unwrap(),
            &Action::RetireOffice { office: "operator".into() },
        )
        .unwrap();
        let config = Config::parse(&middle, "test").unwrap();
        assert_eq!(config.office("pager").unwrap().reports_to.as_deref(), Some("maker"));
    }

    #[test]
    fn an_added_repo_is_described_by_its_name_when_nobody_said_more() {
        let config =
            demo_with(&Action::AddRepo(NewRepo { name: "billing-jobs".into(), ..Default::default() })).unwrap();
        let repo = config.repo("billing-jobs").unwrap();
        assert_eq!((repo.description.as_str(), repo.url.as_deref()), ("billing-jobs", None));
    }

    #[test]
    fn the_live_fleet_skips_a_change_the_edited_file_no_longer_takes() {
        let scribe = Action::CreateOffice(new_office(Some("scribe"), "Notes."));
        let retire_writer = Action::RetireOffice { office: "writer".into() };
        let changes = vec![
            (1, scribe.clone()),
            (2, retire_writer),
            (3, Action::AddRepo(NewRepo { name: "billing-jobs".into(), ..Default::default() })),
        ];
        let (config, skipped) = apply_all(crate::config::DEMO_TOML, "nova.toml", &changes).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert!(
            config.office("scribe").is_some()
                && config.office("writer").is_none()
                && config.repo("billing-jobs").is_some()
        );
        // Someone then adds scribe to the file by hand: the file's wins, the rest apply.
        let edited = apply(crate::config::DEMO_TOML, &scribe).unwrap();
        let (config, skipped) = apply_all(&edited, "nova.toml", &changes).unwrap();
        assert_eq!(skipped, vec![Skipped { id: 1, reason: "there is already an office named `scribe`".into() }]);
        assert!(config.office("writer").is_none() && config.repo("billing-jobs").is_some());
        assert!(apply_all("[workspace]", "nova.toml", &changes).is_err());
    }

    #[test]
    fn an_office_under_another_works_the_way_its_boss_does() {
        let file = r#"
[workspace]
name = "acme"

[[offices]]
name = "writer"
role = "Writes"
[offices.runtime]
command = ["sh", "-c", "echo writer did it"]

[[offices]]
name = "helpdesk"
role = "Helps"
[offices.runtime]
command = ["sh", "-c", "echo helpdesk did it"]
"#;
        let scribe = NewOffice { reports_to: Some("writer".into()), ..new_office(Some("scribe"), "Notes.") };
        let text = apply(file, &Action::CreateOffice(scribe)).unwrap();
        let config = Config::parse(&text, "test").unwrap();
        let runtime = |name: &str| config.office(name).unwrap().runtime.as_ref().unwrap().command.join(" ");
        assert_eq!(runtime("scribe"), "sh -c echo writer did it");
        assert_eq!(runtime("helpdesk"), "sh -c echo helpdesk did it");
    }

    #[test]
    fn a_request_that_changes_no_config_is_not_an_edit() {
        let error = apply(crate::config::DEMO_TOML, &Action::Help {}).unwrap_err();
        assert_eq!(error, EditError::NotAChange("help"));
    }
}
