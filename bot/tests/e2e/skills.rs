//! Skill packages a workspace writes: every office gets the workspace's, an office's own
//! directory overrides them, a run's audit names the revisions it had, and a changed
//! package reaches an office at its next wake, never in the middle of a run.

use std::path::Path;

use crate::harness::Nova;
use crate::stories::workspace_file;
use orchestrator::store::MessageKind;

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

/// Nova on a workspace whose first office, `office` (with `office_lines`), runs the
/// built-in agent against the model stand-in at `llm`; `sections` adds upstreams,
/// databases and `[skills]`, `more` adds offices.
async fn agent_workspace(llm: &str, sections: &str, office: &str, office_lines: &str, more: &str) -> Nova {
    let toml = format!(
        "[workspace]\nname = \"acme\"\n\n[[upstreams]]\nname = \"llm\"\nurl = \"{llm}\"\n{sections}\n\
         [[offices]]\nname = \"{office}\"\n{office_lines}\n\
         [offices.runtime]\npreset = \"nova-agent\"\nmodel = \"small-coder\"\ntimeout = \"2m\"\n{more}"
    );
    let parsed = orchestrator::config::Config::parse(&toml, "the story's nova.toml").unwrap();
    Nova::start_with(|config| {
        config.offices = parsed.offices.clone();
        config.upstreams = parsed.upstreams.clone();
        config.databases = parsed.databases.clone();
        config.skill_dirs = parsed.skill_dirs.clone();
    })
    .await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skill_generated_from_an_openapi_spec_is_loaded_on_demand_and_calls_the_api_with_the_key_injected() {
    // The office's own package has a command tool: it appends what it is given to a log.
    let own = tempfile::tempdir().unwrap();
    package(own.path(), "logbook", "Keep the log of what changed in the galaxy.");
    let command =
        r#"cat >> "$SKILL_DIR/../../logbook.jsonl" && echo >> "$SKILL_DIR/../../logbook.jsonl" && echo logged"#;
    let tools = serde_json::json!([{"name": "log_entry", "description": "Log a change.", "command": command,
        "parameters": {"type": "object", "properties": {"entry": {"type": "string"}}, "required": ["entry"]}}]);
    std::fs::write(own.path().join("logbook/tools.json"), tools.to_string()).unwrap();

    use serde_json::json;
    use testkit::openai::{FakeOpenAi, Reply};

    let (model, galaxy) =
        (FakeOpenAi::start().await.unwrap(), testkit::galaxy::FakeGalaxy::start("gx-live-42").await.unwrap());
    let packages = tempfile::tempdir().unwrap();
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../testkit/specs/scalar-galaxy-3.1.yaml");
    let generated = std::process::Command::new(env!("CARGO_BIN_EXE_nova"))
        .args(["skill", "from-openapi", spec, "--upstream", "galaxy", "--out"])
        .arg(packages.path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&generated.stdout);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    assert!(printed.contains("galaxy: 8 tools through the `galaxy` upstream"), "{printed}");

    let sections = format!(
        "[[upstreams]]\nname = \"galaxy\"\nurl = \"{}\"\nsecret = \"galaxy_token\"\n\n\
         [skills]\ndirs = [\"{}\"]\nworkspace = [\"galaxy\"]\n",
        galaxy.base_url,
        packages.path().display()
    );
    let office = format!(
        "role = \"Planetary records\"\nchannels = [\"space\"]\nskills = [\"logbook\"]\nskills_dir = \"{}\"\n",
        own.path().display()
    );
    let mut nova = agent_workspace(&model.base_url, &sections, "astro", &office, "").await;
    let put = json!({"scope": "platform", "name": "galaxy_token", "value": "gx-live-42"});
    assert_eq!(nova.post_json("/api/vault", &put).await.0, 204);

    model.then(Reply::tool("load_skill", json!({"name": "galaxy"})));
    model.then(Reply::ToolCalls(vec![
        ("createPlanet".into(), json!({"body": {"name": "Hoth", "description": "Ice planet", "type": "terrestrial"}})),
        ("getAllData".into(), json!({"limit": 2, "offset": 1})),
    ]));
    model.then(Reply::tool("load_skill", json!({"name": "logbook"})));
    model.then(Reply::tool("log_entry", json!({"entry": "Added Hoth"})));
    model.then(Reply::Content("Hoth is in the galaxy now, as planet 3 of 3.".into()));
    let thread = nova.say("space", "dana", "@astro add Hoth, the ice planet, to the galaxy").await;
    let result = nova.results(&thread, 1).await.into_iter().find(|m| m.kind == MessageKind::Result).unwrap();
    assert_eq!(result.body, "Hoth is in the galaxy now, as planet 3 of 3.");

    // The skill cost one line until it was loaded; then its tools were there to call.
    let requests = model.requests();
    let tools = |request: &serde_json::Value| -> Vec<String> {
        request["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let system = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("- galaxy: Scalar Galaxy API: 8 tools calling it through the `galaxy` upstream"),
        "{system}"
    );
    assert!(!tools(&requests[0]).contains(&"createPlanet".to_owned()));
    let loaded = tools(&requests[1]);
    assert_eq!(
        loaded[loaded.len() - 8..],
        ["getToken", "getMe", "getAllData", "createPlanet", "getPlanet", "updatePlanet", "deletePlanet", "createUser"]
    );
    let answers = requests[2]["messages"].to_string();
    assert!(answers.contains("HTTP 201 Created") && answers.contains("\\\"name\\\":\\\"Hoth\\\""), "{answers}");
    assert!(answers.contains("\\\"total\\\":3"), "the page the model asked for: {answers}");
    let logged = requests[4]["messages"].to_string();
    assert!(logged.contains("exit code 0\\nlogged"), "{logged}");
    let log = nova.data_dir.path().join("offices/astro/workspace/logbook.jsonl");
    assert_eq!(std::fs::read_to_string(log).unwrap(), "{\"entry\":\"Added Hoth\"}\n");

    // The API saw the key; the model and the office's agent never did.
    let received = galaxy.received();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!((received[0].method.as_str(), received[0].uri.as_str()), ("POST", "/planets"));
    assert_eq!(received[1].uri, "/planets?limit=2&offset=1");
    assert!(received.iter().all(|r| r.authorization.as_deref() == Some("Bearer gx-live-42")), "{received:?}");
    assert_eq!(galaxy.planets()[2]["name"], "Hoth");
    assert!(!serde_json::to_string(&requests).unwrap().contains("gx-live-42"), "the key reached the model");

    // The run's audit pins the package: its SKILL.md and its tools.
    let package = ::skills::load_dir(packages.path()).unwrap().remove(0);
    assert_eq!(pinned(&nova, "astro", "galaxy").await, std::slice::from_ref(&package.revision));
    assert!(package.pinned_text().contains("\n==> tools.json <==\n["));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_asks_nova_about_the_fleet_and_makes_a_task_but_cannot_put_another_office_to_sleep() {
    use serde_json::json;
    use testkit::openai::{FakeOpenAi, Reply};

    let model = FakeOpenAi::start().await.unwrap();
    let office = "role = \"Software engineer\"\nchannels = [\"eng\"]\nskills = [\"command\"]\n";
    let writer = "\n[[offices]]\nname = \"writer\"\nrole = \"Technical writer\"\nchannels = [\"docs\"]\n";
    let mut nova = agent_workspace(&model.base_url, "", "maker", office, writer).await;
    model.then(Reply::tool("ask_nova", json!({"text": "make a task for writer: draft the release notes for 2.4"})));
    model.then(Reply::tool("ask_nova", json!({"text": "what tasks are open?"})));
    model.then(Reply::tool("ask_nova", json!({"text": "put the writer to sleep"})));
    model.then(Reply::tool("ask_nova", json!({"text": "cancel task 1"})));
    model.then(Reply::tool("ask_nova", json!({"text": "lorem ipsum dolor"})));
    model.then(Reply::Content("The writer has the release notes as task #1.".into()));
    let thread = nova.say("eng", "erin", "@maker get the release notes going").await;
    let result = nova.results(&thread, 1).await.into_iter().find(|m| m.kind == MessageKind::Result).unwrap();
    assert_eq!(result.body, "The writer has the release notes as task #1.");

    let answers: Vec<String> = model.requests()[1..]
        .iter()
        .map(|request| {
            let messages = request["messages"].as_array().unwrap();
            messages.last().unwrap()["content"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(answers[0], "made task #1 for writer: draft the release notes for 2.4");
    assert!(answers[1].contains("#1") && answers[1].contains("draft the release notes for 2.4"), "{}", answers[1]);
    assert_eq!(
        answers[2],
        "refused (HTTP 403): an office may not wake or put offices to sleep: ask a person in the thread"
    );
    // A runtime cannot take a task away from the office it gave it to.
    assert_eq!(
        answers[3],
        "refused (HTTP 403): an office may not cancel or give out tasks: ask a person in the thread"
    );
    assert!(answers[4].starts_with("refused (HTTP 422): Nova did not read that"), "{}", answers[4]);
    let tasks = nova.engine().store().tasks(Some("writer")).await.unwrap();
    assert_eq!((tasks.len(), tasks[0].created_by.as_str()), (1, "maker"));
    assert_ne!(tasks[0].state, orchestrator::store::TaskState::Cancelled);

    // Every request is audited with the run, the refused ones with why.
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    let commands: Vec<_> = trail.iter().filter(|r| r.action == "office_command").collect();
    assert_eq!(commands.len(), 5);
    assert!(commands.iter().all(|r| r.actor == "maker" && r.run_id.is_some()));
    assert!(commands.iter().any(|r| r.details.contains("may not wake or put offices to sleep")));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_reads_a_database_through_nova_and_writes_only_what_a_person_approved() {
    use orchestrator::texts::Card;
    use sea_orm::ConnectionTrait as _;
    use serde_json::json;
    use testkit::openai::{FakeOpenAi, Reply};

    // The shop's database, on this run's backend (SQLite, or Postgres in CI).
    let shop = testkit::TestDatabase::new().await.unwrap();
    let db = sea_orm::Database::connect(&shop.url).await.unwrap();
    db.execute_unprepared("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total_cents INTEGER NOT NULL, paid BOOLEAN NOT NULL)").await.unwrap();
    db.execute_unprepared(
        "INSERT INTO orders VALUES (1, 'ada', 1250, true), (2, 'bob', 990, false), (3, 'cy', 4000, false)",
    )
    .await
    .unwrap();
    let postgres = shop.backend == testkit::Backend::Postgres;

    let model = FakeOpenAi::start().await.unwrap();
    let secret = if postgres { "secret = \"shop_password\"\n" } else { "" };
    // Payroll is the finance office's alone.
    let database = format!(
        "[[databases]]\nname = \"shop\"\nurl = \"{url}\"\n{secret}\n[[databases]]\nname = \"payroll\"\nurl = \"{url}\"\n{secret}offices = [\"finance\"]\n",
        url = shop.url
    );
    let finance = "\n[[offices]]\nname = \"finance\"\nrole = \"Finance\"\n";
    let office = "role = \"Data analyst\"\nchannels = [\"data\"]\nskills = [\"database\"]\n";
    let mut nova = agent_workspace(&model.base_url, &database, "analyst", office, finance).await;
    // Trust auth ignores it, but Nova puts it in the URL it connects with, and nowhere else.
    let put = json!({"scope": "platform", "name": "shop_password", "value": "pg-pass-7731"});
    assert_eq!(nova.post_json("/api/vault", &put).await.0, 204);

    let unpaid = "SELECT id, customer, total_cents FROM orders WHERE paid = false ORDER BY id";
    let sneaky = "WITH doomed AS (SELECT 3 AS id) DELETE FROM orders WHERE id IN (SELECT id FROM doomed)";
    model.then(Reply::tool("sql", json!({"database": "shop", "query": unpaid})));
    model.then(Reply::tool("sql", json!({"database": "shop", "query": sneaky})));
    model.then(Reply::tool("sql", json!({"database": "shop", "query": "DELETE FROM orders WHERE id = 2;"})));
    model.then(Reply::tool("sql", json!({"database": "payroll", "query": "SELECT 1"})));
    model.then(Reply::Content("Two orders were unpaid; bob's duplicate is gone.".into()));
    let thread = nova.say("data", "dana", "@analyst which orders are unpaid? drop bob's duplicate").await;

    let card = nova
        .eventually("the write's approval card", async |nova: &Nova| {
            nova.messages(&thread).await.into_iter().find(|m| matches!(m.card, Some(Card::Approval { .. })))
        })
        .await;
    assert!(card.body.contains("write to the `shop` database: DELETE FROM orders WHERE id = 2"), "{}", card.body);
    let click = json!({"thread_id": thread, "message_id": card.id, "author": "carol", "action": "approve", "client_id": uuid::Uuid::new_v4().to_string()});
    assert_eq!(nova.post_json("/api/console/actions", &click).await.0, 200);
    let result = nova.results(&thread, 1).await.into_iter().find(|m| m.kind == MessageKind::Result).unwrap();
    assert_eq!(result.body, "Two orders were unpaid; bob's duplicate is gone.");

    let requests = model.requests();
    let system = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("## Databases\nYou may query these through Nova (`sql`; see the `database` skill): `shop`."),
        "{system}"
    );
    let answer = |n: usize| {
        let messages = requests[n]["messages"].as_array().unwrap();
        messages.last().unwrap()["content"].as_str().unwrap().to_owned()
    };
    assert_eq!(answer(1), "columns: [\"id\",\"customer\",\"total_cents\"]\n[2,\"bob\",990]\n[3,\"cy\",4000]\n(2 rows)");
    // A write that reads like a read runs read-only, and the database refuses it.
    assert!(answer(2).starts_with("refused (HTTP 422): "), "{}", answer(2));
    assert!(answer(2).contains("read-only") || answer(2).contains("readonly"), "{}", answer(2));
    assert_eq!(answer(3), "done: 1 rows changed");
    assert_eq!(answer(4), "refused (HTTP 403): analyst may not query `payroll`");
    let left = db
        .query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), "SELECT id FROM orders ORDER BY id"))
        .await
        .unwrap();
    let ids: Vec<i64> = left
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0).or_else(|_| row.try_get_by_index::<i32>(0).map(i64::from)).unwrap())
        .collect();
    assert_eq!(ids, [1, 3]);
    assert!(!serde_json::to_string(&requests).unwrap().contains("pg-pass-7731"), "the password reached the model");

    // Every statement is in the audit trail: its text, its rows, who approved a write.
    let trail = nova.engine().store().audit_trail(&Default::default()).await.unwrap();
    let details = |action: &str| -> Vec<serde_json::Value> {
        trail.iter().filter(|r| r.action == action).map(|r| serde_json::from_str(&r.details).unwrap()).collect()
    };
    let queries = details("database_query");
    assert_eq!(queries.len(), 2);
    assert_eq!((queries.iter().find(|q| q["query"] == unpaid).unwrap()["rows"]).as_u64(), Some(2));
    assert!(queries.iter().any(|q| q["query"] == sneaky && q["failed"].is_string()));
    let writes = details("database_write");
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0]["query"].as_str(), writes[0]["rows"].as_u64()),
        (Some("DELETE FROM orders WHERE id = 2"), Some(1))
    );
    assert_eq!(writes[0]["approved_by"], "carol");
    nova.finish().await;
}
