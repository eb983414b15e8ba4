//! Skill packages a workspace writes: every office gets the workspace's, an office's own
//! directory overrides them, a run's audit names the revisions it had, and a changed
//! package reaches an office at its next wake, never in the middle of a run.

use std::path::Path;

use crate::harness::Nova;
use crate::stories::workspace_file;

fn package(dir: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(dir.join(name)).unwrap();
    let text = format!("---\nname: {name}\ndescription: {body}\n---\n# {name}\n\n{body}\n");
    std::fs::write(dir.join(name).join("SKILL.md"), text).unwrap();
}

/// The revisions the dispatch of each run pinned, oldest first, for one office.
async fn pinned(nova: &Nova, office: &str, skill: &str) -> Vec<String> {
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    let mut rows: Vec<_> =
        trail.iter().filter(|r| r.action == "dispatch" && r.office.as_deref() == Some(office)).collect();
    rows.sort_by_key(|r| r.id);
    rows.iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.details).unwrap()["skills"][skill].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_skill_reaches_every_office_an_office_overrides_it_and_runs_pin_what_they_had() {
    let packages = tempfile::tempdir().unwrap();
    let (shared, own) = (packages.path().join("shared"), packages.path().join("maker"));
    package(&shared, "runbooks", "Roll back first, then find out why.");
    package(&own, "runbooks", "Feature flags off first, then roll back.");
    let extra = format!("\n[skills]\ndirs = [\"{}\"]\nworkspace = [\"runbooks\"]\n", shared.display());
    let file = workspace_file(&[("maker", "eng"), ("writer", "docs")], &extra)
        .replace("name = \"maker\"\n", &format!("name = \"maker\"\nskills_dir = \"{}\"\n", own.display()));
    let mut nova = Nova::start_from_file(&file).await;
    let offices = nova.data_dir.path().join("offices");
    let read = |office: &str| {
        std::fs::read_to_string(offices.join(format!("{office}/workspace/skills/runbooks/SKILL.md"))).unwrap()
    };

    let work = nova.say("docs", "dave", "@writer draft the incident write-up").await;
    nova.results(&work, 1).await;
    let fix = nova.say("eng", "erin", "@maker fix the checkout").await;
    nova.results(&fix, 1).await;
    assert!(read("writer").contains("Roll back first"), "the workspace's package");
    assert!(read("maker").contains("Feature flags off first"), "the office's own package wins");
    let first = pinned(&nova, "writer", "runbooks").await;
    assert_eq!(first, [::skills::revision(&std::fs::read_to_string(shared.join("runbooks/SKILL.md")).unwrap())]);

    // The package changes: the running fleet takes it, but the writer, awake, keeps the
    // revision it was woken with until it wakes again.
    package(&shared, "runbooks", "Page the on-call, then roll back.");
    let changed = ::skills::revision(&std::fs::read_to_string(shared.join("runbooks/SKILL.md")).unwrap());
    nova.eventually("the changed package in the fleet", async |nova: &Nova| {
        let config = nova.engine().config();
        let writer = config.office("writer").unwrap();
        writer.loaded_skills.iter().any(|s| s.name == "runbooks" && s.revision == changed).then_some(())
    })
    .await;
    let again = nova.say("docs", "dave", "@writer and the customer email").await;
    nova.results(&again, 1).await;
    assert_eq!(pinned(&nova, "writer", "runbooks").await, [first[0].clone(), first[0].clone()]);
    assert!(read("writer").contains("Roll back first"));

    nova.engine().sleep_office("writer", "dave").await.unwrap();
    nova.office_reaches("writer", "asleep").await;
    let later = nova.say("docs", "dave", "@writer and the status page note").await;
    nova.results(&later, 1).await;
    assert_eq!(pinned(&nova, "writer", "runbooks").await.last(), Some(&changed));
    assert!(read("writer").contains("Page the on-call"));

    // What changed between the two revisions the runs name.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nova"))
        .args(["skill", "diff", &first[0][..8], &changed, "--config"])
        .arg(nova.config_file().unwrap())
        .env("NOVA_DATABASE_URL", nova.database_url())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let diff = String::from_utf8(output.stdout).unwrap();
    assert!(diff.starts_with(&format!("--- runbooks@{}\n+++ runbooks@{changed}\n", first[0])), "{diff}");
    assert!(
        diff.contains("\n-Roll back first, then find out why.\n")
            && diff.contains("\n+Page the on-call, then roll back.\n"),
        "{diff}"
    );
    nova.finish().await;
}
