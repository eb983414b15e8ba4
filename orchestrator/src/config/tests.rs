use super::*;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, "nova.toml").map_err(|e| e.to_string())
}

const MINIMAL: &str = r#"
[workspace]
name = "w"

[[repos]]
name = "api"
description = "The API"

[[offices]]
name = "maker"
role = "Engineer"
repos = ["api"]
"#;

#[test]
fn minimal_config_gets_defaults() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.offices[0].tier, 2);
    assert_eq!(config.offices[0].idle_timeout, Duration::from_secs(30 * 60));
    assert_eq!(config.offices[0].idle_timeout_without_signals, Duration::from_secs(90 * 60));
    assert_eq!(config.provisioner.backend, Backend::Local);
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert!(config.offices[0].runtime.is_none());
    assert_eq!(config.workspace.time_zone, chrono_tz::Tz::UTC);
}

#[test]
fn the_workspace_s_time_zone_is_a_tz_database_name() {
    let with = |zone: &str| MINIMAL.replace("name = \"w\"", &format!("name = \"w\"\ntime_zone = \"{zone}\""));
    assert_eq!(parse(&with("Europe/Paris")).unwrap().workspace.time_zone, chrono_tz::Tz::Europe__Paris);
    assert_eq!(parse(&with("UTC")).unwrap().workspace.time_zone, chrono_tz::Tz::UTC);
    insta::assert_snapshot!(parse(&with("Pacific/Nowhere")).unwrap_err(), @r#"
    nova.toml: TOML parse error at line 4, column 13
      |
    4 | time_zone = "Pacific/Nowhere"
      |             ^^^^^^^^^^^^^^^^^
    `Pacific/Nowhere` is not a time zone: name one from the tz database, like `Europe/Paris`, `America/New_York` or `UTC`
    "#);
}

#[test]
fn shared_routing_workspace_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/routing/workspace.toml");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let config = Config::parse(&text, "workspace.toml").unwrap();
        assert_eq!(config.repos.len(), 6);
        assert_eq!(config.offices.len(), 5);
    }
}

#[test]
fn demo_workspace_is_valid_and_has_a_runtime_everywhere() {
    let config = Config::demo();
    assert!(config.offices.iter().all(|o| o.runtime.is_some()));
    assert!(config.channels().contains(&"payments".to_owned()));
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = MINIMAL.replace("role = \"Engineer\"", "role = \"Engineer\"\nrol = \"typo\"");
    insta::assert_snapshot!(parse(&text).unwrap_err(), @r#"
    nova.toml: TOML parse error at line 12, column 1
       |
    12 | rol = "typo"
       | ^^^
    unknown field `rol`, expected one of `name`, `role`, `repos`, `channels`, `tier`, `soul`, `skills`, `skills_dir`, `reports_to`, `budget`, `runtime`, `idle_timeout`, `concurrency`
    "#);
}

#[test]
fn unknown_top_level_section_is_an_error() {
    let text = format!("{MINIMAL}\n[surfaces_typo]\nx = 1\n");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("unknown field `surfaces_typo`"), "{err}");
    assert!(err.contains("line 14"), "{err}");
}

#[test]
fn missing_required_field_is_named() {
    let text = MINIMAL.replace("role = \"Engineer\"\n", "");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("missing field `role`"), "{err}");
}

#[test]
fn duplicate_repo_names_the_line() {
    let text = format!("{MINIMAL}\n[[repos]]\nname = \"api\"\ndescription = \"again\"\n");
    insta::assert_snapshot!(parse(&text).unwrap_err(), @"nova.toml, line 15: duplicate repo name `api`");
}

#[test]
fn duplicate_office_names_the_line() {
    let text = format!("{MINIMAL}\n[[offices]]\nname = \"maker\"\nrole = \"x\"\n");
    insta::assert_snapshot!(parse(&text).unwrap_err(), @"nova.toml, line 15: duplicate office name `maker`");
}

#[test]
fn offices_that_would_share_a_vm_name_are_refused() {
    let text = format!(
        "{MINIMAL}\n[[offices]]\nname = \"data_team\"\nrole = \"x\"\n\n[[offices]]\nname = \"data-team\"\nrole = \"y\"\n"
    );
    insta::assert_snapshot!(parse(&text).unwrap_err(), @"nova.toml, line 19: offices `data_team` and `data-team` would share the VM name `nova-data-team-…` on GCE: rename one");
}

#[test]
fn people_are_known_by_name_and_chat_ids() {
    let text = format!("{MINIMAL}\n[people.alice]\nslack = \"U1\"\ndiscord = \"42\"\n\n[roles]\ndba = [\"alice\"]\n");
    let config = parse(&text).unwrap();
    assert_eq!(config.person("U1"), Some("alice"));
    assert_eq!(config.identities("42"), ["42", "alice", "U1"]);
    assert!(config.holds_role("U1", "dba"));
    let typo = format!("{MINIMAL}\n[people.alice]\nslak = \"U1\"\n");
    assert!(parse(&typo).unwrap_err().contains("unknown field `slak`"));
    let office_named = format!("{MINIMAL}\n[people.maker]\nslack = \"U1\"\n");
    insta::assert_snapshot!(parse(&office_named).unwrap_err(), @"nova.toml: [people.maker]: `maker` is an office's name; give the person another");
}

#[test]
fn office_naming_unknown_repo_names_the_line() {
    let text = MINIMAL.replace("repos = [\"api\"]", "repos = [\"api\", \"web\"]");
    insta::assert_snapshot!(parse(&text).unwrap_err(), @"nova.toml, line 12: office `maker` names unknown repo `web`");
}

#[test]
fn reports_to_must_exist_and_not_loop() {
    let text = MINIMAL.replace("repos = [\"api\"]", "repos = [\"api\"]\nreports_to = \"boss\"");
    assert!(parse(&text).unwrap_err().contains("reports to unknown office `boss`"));

    let text = format!(
        "{}\n[[offices]]\nname = \"lead\"\nrole = \"Lead\"\nreports_to = \"maker\"\n",
        MINIMAL.replace("repos = [\"api\"]", "repos = [\"api\"]\nreports_to = \"lead\"")
    );
    assert!(parse(&text).unwrap_err().contains("reports_to cycle"));
}

#[test]
fn tier_out_of_range_is_rejected() {
    let text = MINIMAL.replace("repos = [\"api\"]", "repos = [\"api\"]\ntier = 9");
    insta::assert_snapshot!(parse(&text).unwrap_err(), @"nova.toml, line 13: office `maker` has tier 9, expected 1 to 8");
}

#[test]
fn invalid_names_are_rejected() {
    let text = MINIMAL.replace("name = \"api\"", "name = \"My API\"");
    assert!(parse(&text).unwrap_err().contains("repo name `My API` must be"));
}

#[test]
fn channels_are_normalized() {
    let text = MINIMAL.replace("repos = [\"api\"]", "repos = [\"api\"]\nchannels = [\"#Eng \"]");
    assert_eq!(parse(&text).unwrap().offices[0].channels, vec!["eng"]);
}

#[test]
fn office_runtime_overrides_workspace_runtime() {
    let text = format!(
        "{}\n[runtime]\ncommand = [\"agent\", \"{{{{prompt}}}}\"]\n",
        MINIMAL.replace("repos = [\"api\"]", "repos = [\"api\"]\nidle_timeout = \"2m\"")
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.offices[0].runtime.as_ref().unwrap().command, vec!["agent", "{{prompt}}"]);
    assert_eq!(config.offices[0].idle_timeout, Duration::from_secs(120));
    assert_eq!(
        config.offices[0].idle_timeout_without_signals,
        Duration::from_secs(120),
        "an office's own holds for both"
    );
}

#[test]
fn summary_lists_what_would_run() {
    // The bundled skill's revision changes with its text: not this test's business.
    let office_skill = skills::Library::bundled().get(skills::OFFICE).unwrap().revision.clone();
    insta::assert_snapshot!(parse(MINIMAL).unwrap().summary().replace(&office_skill, "REV"), @r"
    workspace w: 1 repos, 1 offices; clock UTC (schedules' times of day, calendar months)
      repo   api              channels: -
      office maker            tier 2 repos: api; channels: -; runtime: none (prompts are answered with setup instructions); skills: office@REV
    provisioner: Local backend, idle timeout 30m (1h 30m when prompts come unannounced; longer while sessions begin more often than once in 5h), data dir .nova
    snapshots: .nova/snapshots; prewarm on typing: up to 4 offices for 1m 30s; habits: woken for those kept on 50% of days
    listen: 127.0.0.1:8080
    ");
}

#[test]
fn the_example_config_documents_a_valid_config() {
    let text = include_str!("../../../nova.example.toml");
    let config = Config::parse(text, "nova.example.toml").unwrap();
    assert_eq!(config.offices.len(), 2);
    assert_eq!(config.offices[0].budget_usd, Some(50.0));
    // `maker` brings its own runtime; `support` inherits the workspace's.
    assert_eq!(config.offices[0].runtime.as_ref().unwrap().timeout, Duration::from_secs(45 * 60));
    assert_eq!(config.offices[1].runtime.as_ref().unwrap().timeout, Duration::from_secs(30 * 60));
    assert_eq!(config.offices[1].idle_timeout, Duration::from_secs(30 * 60));
    assert_eq!(config.offices[1].idle_timeout_without_signals, Duration::from_secs(90 * 60));
    assert!(config.holds_role("U024BE7LH", "dba"), "Alice's Slack id holds her roles");
    assert_eq!(config.credentials.providers, ["operator"]);
    assert!(config.offices[1].runtime.as_ref().unwrap().sandbox.enabled);
}

#[test]
fn unknown_skill_names_the_line() {
    let text = MINIMAL.replace("repos = [\"api\"]", "repos = [\"api\"]\nskills = [\"office\", \"telepathy\"]");
    insta::assert_snapshot!(parse(&text).unwrap_err(), @"nova.toml, line 13: office `maker` names unknown skill `telepathy` (known: office, command, database)");
}

#[test]
fn the_model_stage_comes_from_the_file_and_the_environment() {
    let text = format!("{MINIMAL}\n[model]\nmodel = \"small\"\ntimeout = \"500ms\"\n");
    let config = parse(&text).unwrap();
    let settings = config.model_settings(|_| None).unwrap();
    assert_eq!((settings.model.as_str(), settings.timeout), ("small", Duration::from_millis(500)));
    assert_eq!(settings.base_url, "https://api.openai.com/v1");
    let env = |key: &str| match key {
        "NOVA_ROUTER_MODEL" => Some("fast".to_owned()),
        "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1".to_owned()),
        "OPENAI_API_KEY" => Some("sk-test".to_owned()),
        _ => None,
    };
    let settings = config.model_settings(env).unwrap();
    assert_eq!(
        (settings.model.as_str(), settings.base_url.as_str(), settings.api_key.as_deref()),
        ("fast", "http://127.0.0.1:9/v1", Some("sk-test"))
    );
    assert!(parse(MINIMAL).unwrap().model_settings(|_| None).is_none(), "no model named, no model stage");
    assert!(
        parse(&format!("{MINIMAL}\n[model]\napi_key = \"sk-in-file\"\n"))
            .unwrap_err()
            .contains("unknown field `api_key`")
    );
}

#[test]
fn approval_policies_name_known_roles() {
    let text = format!(
        "{MINIMAL}\n[roles]\ndba = [\"alice\"]\n\n[[approvals]]\nkind = \"destructive\"\napprovers = [\"dba\"]\nexpires = \"30m\"\n"
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.approvals[0].approvers, ["dba"]);
    assert_eq!(config.approvals[0].expires, Duration::from_secs(1800));
    let bad = text.replace("approvers = [\"dba\"]", "approvers = [\"dbas\"]");
    insta::assert_snapshot!(parse(&bad).unwrap_err(), @"nova.toml, line 19: approval policy `destructive` names unknown role `dbas`");
    let twice = format!("{text}\n[[approvals]]\nkind = \"destructive\"\n");
    assert!(parse(&twice).unwrap_err().contains("duplicate approval policy for kind `destructive`"));
}

#[test]
fn offices_on_gce_need_their_snapshots_in_cloud_storage() {
    let gce = format!("{MINIMAL}\n[provisioner]\nbackend = \"gce\"\n");
    insta::assert_snapshot!(parse(&gce).unwrap_err(), @r#"nova.toml: [provisioner] backend = "gce" needs [store] snapshots = "gs://bucket/prefix": an office's VM is deleted when it sleeps, so its workspace must live in Cloud Storage"#);
    let with_bucket = format!("{gce}pool_floor = 2\n\n[store]\nsnapshots = \"gs://nova-snapshots/acme\"\n");
    let config = parse(&with_bucket).unwrap();
    assert_eq!(config.provisioner.backend, Backend::Gce);
    assert_eq!(config.provisioner.pool_floor, 2);
    assert_eq!(config.provisioner.wake_timeout(), Duration::from_secs(180), "a fresh VM takes up to minutes");
    assert_eq!(parse(MINIMAL).unwrap().provisioner.wake_timeout(), Duration::from_secs(60));
    let summary = config.summary();
    let gce_line = summary.lines().find(|l| l.starts_with("GCE:")).unwrap();
    insta::assert_snapshot!(gce_line, @"GCE: 2–8 warm VMs per tier people type to, unclaimed for 2h they go; image rebuilt every 30m");
    let inverted = with_bucket.replace("pool_floor = 2", "pool_floor = 9");
    insta::assert_snapshot!(parse(&inverted).unwrap_err(), @"nova.toml: [provisioner] pool_floor (9) is above pool_ceiling (8)");
}

#[test]
fn a_preset_fills_in_the_runtime_and_points_it_at_its_upstream() {
    let text = format!(
        "{MINIMAL}concurrency = 2\n[offices.runtime]\npreset = \"nova-agent\"\nmodel = \"small-coder\"\n\n\
         [[upstreams]]\nname = \"llm\"\nurl = \"http://10.0.0.5:8080/v1\"\n"
    );
    let config = parse(&text).unwrap();
    let office = &config.offices[0];
    assert_eq!(office.concurrency, 2);
    let runtime = office.runtime.as_ref().unwrap();
    assert_eq!(runtime.command, ["{{office_exe}}", "agent"]);
    assert_eq!(runtime.env["NOVA_AGENT_MODEL"], "small-coder");
    assert_eq!(runtime.env["NOVA_AGENT_UPSTREAM"], "llm");
    assert_eq!(runtime.output, Some(provisioner::presets::OutputFormat::Nova));
    assert_eq!(config.upstreams[0].secret, None, "a local model server takes no key");
}

#[test]
fn a_preset_without_its_model_or_upstream_is_refused_with_the_line() {
    let runtime = "[offices.runtime]\npreset = \"nova-agent\"\n";
    insta::assert_snapshot!(parse(&format!("{MINIMAL}{runtime}")).unwrap_err(), @"nova.toml, line 10: office `maker`: runtime preset `nova-agent` needs a `model`");
    let claude = "[offices.runtime]\npreset = \"claude-code\"\n";
    insta::assert_snapshot!(parse(&format!("{MINIMAL}{claude}")).unwrap_err(), @"nova.toml, line 10: office `maker`: runtime preset `claude-code` reaches its model through the upstream `anthropic`, which is not in [[upstreams]]");
    let repo = MINIMAL.replace("description = \"The API\"", "description = \"The API\"\nupstream = \"git\"");
    insta::assert_snapshot!(parse(&repo).unwrap_err(), @"nova.toml, line 8: repo `api` names unknown upstream `git`");
    insta::assert_snapshot!(parse(&format!("{MINIMAL}concurrency = 0\n")).unwrap_err(), @"nova.toml, line 13: office `maker` has concurrency 0, expected 1 to 16");
}

#[test]
fn prices_and_a_workspace_budget_are_read_and_checked() {
    let text = MINIMAL.replace("name = \"w\"", "name = \"w\"\nbudget = 500.0")
        + "\n[prices]\n\"gpt-4o-mini\" = { input = 0.15, output = 0.6 }\n";
    let config = parse(&text).unwrap();
    assert_eq!(config.workspace.budget, Some(500.0));
    assert_eq!(config.prices["gpt-4o-mini"], ModelPrice { input: 0.15, output: 0.6 });
    let typo = MINIMAL.to_owned() + "\n[prices]\n\"m\" = { input = 1.0, ouput = 2.0 }\n";
    let error = parse(&typo).unwrap_err();
    assert!(error.contains("ouput"), "{error}");
    let negative = MINIMAL.replace("name = \"w\"", "name = \"w\"\nbudget = -1.0");
    assert!(parse(&negative).unwrap_err().contains("workspace.budget must be a number of dollars"));
}

fn package(root: &Path, dir: &str, name: &str, description: &str) {
    std::fs::create_dir_all(root.join(dir).join(name)).unwrap();
    let text = format!("---\nname: {name}\ndescription: {description}\n---\n# {name}\n");
    std::fs::write(root.join(dir).join(name).join("SKILL.md"), text).unwrap();
}

#[test]
fn workspace_skills_reach_every_office_and_an_office_overrides_or_drops_them() {
    let root = tempfile::tempdir().unwrap();
    package(root.path(), "shared", "postgres", "Query the warehouse.");
    package(root.path(), "shared", "runbooks", "What to do when.");
    package(root.path(), "maker", "postgres", "Query the app database.");
    let at = |dir: &str| root.path().join(dir).display().to_string();
    let text = MINIMAL.to_owned()
        + &format!("skills_dir = \"{}\"\nskills = [\"-runbooks\"]\n", at("maker"))
        + "\n[[offices]]\nname = \"writer\"\nrole = \"Writer\"\n"
        + &format!("\n[skills]\ndirs = [\"{}\"]\nworkspace = [\"postgres\", \"runbooks\"]\n", at("shared"));
    let config = parse(&text).unwrap();
    let loaded = |office: &str| -> Vec<(String, String)> {
        config.office(office).unwrap().loaded_skills.iter().map(|s| (s.name.clone(), s.description.clone())).collect()
    };
    assert_eq!(
        loaded("writer"),
        [
            ("office".into(), skills::Library::bundled().get("office").unwrap().description.clone()),
            ("postgres".into(), "Query the warehouse.".into()),
            ("runbooks".into(), "What to do when.".into())
        ]
    );
    let maker = loaded("maker");
    assert_eq!(maker.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["office", "postgres"]);
    assert_eq!(maker[1].1, "Query the app database.", "the office's own package wins");
}

#[test]
fn a_broken_package_or_an_unknown_skill_is_refused_with_where() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("pkgs/deploy")).unwrap();
    std::fs::write(root.path().join("pkgs/deploy/SKILL.md"), "---\nname: deploy\ndescription\n---\n").unwrap();
    let dir = root.path().join("pkgs").display().to_string();
    let text = MINIMAL.to_owned() + &format!("\n[skills]\ndirs = [\"{dir}\"]\n");
    let error = parse(&text).unwrap_err();
    assert!(error.contains("skill package"), "{error}");
    assert!(error.contains("pkgs/deploy/SKILL.md:3: SKILL.md front matter line 3 is not `key: value`"), "{error}");
    let unknown = MINIMAL.to_owned() + "skills = [\"kubernetes\"]\n";
    let error = parse(&unknown).unwrap_err();
    assert!(
        error.contains("line 13")
            && error.contains("names unknown skill `kubernetes` (known: office, command, database)"),
        "{error}"
    );
    let drop_office = MINIMAL.to_owned() + "skills = [\"-office\"]\n";
    assert!(parse(&drop_office).unwrap_err().contains("cannot drop the `office` skill"));

    // A package's tools: a broken tools.json says its line; a tool that calls an
    // upstream the workspace does not have is refused, naming the file.
    std::fs::write(root.path().join("pkgs/deploy/SKILL.md"), "---\nname: deploy\ndescription: Ship it.\n---\n")
        .unwrap();
    let tools = root.path().join("pkgs/deploy/tools.json");
    std::fs::write(&tools, "[\n  {\"name\": \"ship\", \"description\": \"Ship.\",\n   \"command\": }\n]").unwrap();
    let error = parse(&text).unwrap_err();
    assert!(error.contains("pkgs/deploy/tools.json:3: expected value"), "{error}");
    let http = r#"[{"name": "ship", "description": "Ship.", "http": {"upstream": "ci", "method": "POST", "path": "/deploys"}}]"#;
    std::fs::write(&tools, http).unwrap();
    let error = parse(&text).unwrap_err();
    assert!(
        error.contains("pkgs/deploy/tools.json: tool `ship` calls the upstream `ci`, which is not in [[upstreams]]"),
        "{error}"
    );
    let with_ci = text.clone() + "\n[[upstreams]]\nname = \"ci\"\nurl = \"https://ci.example.com\"\n";
    assert!(parse(&with_ci).is_ok());
}

#[test]
fn a_database_keeps_its_password_in_the_vault_and_names_offices_that_exist() {
    let with = |entry: &str| MINIMAL.to_owned() + "\n[[databases]]\n" + entry;
    let good = parse(&with(
        "name = \"shop\"\nurl = \"postgres://app@db:5432/shop\"\nsecret = \"shop_pw\"\noffices = [\"maker\"]\n",
    ))
    .unwrap();
    assert_eq!(good.databases[0].secret.as_deref(), Some("shop_pw"));
    let cases = [
        (
            "name = \"shop\"\nurl = \"postgres://app:hunter2@db/shop\"\n",
            "database `shop`: keep the password out of nova.toml",
        ),
        (
            "name = \"shop\"\nurl = \"mysql://app@db/shop\"\n",
            "database `shop`: `mysql` is not a database Nova can query",
        ),
        (
            "name = \"shop\"\nurl = \"sqlite:///shop.db\"\nsecret = \"x\"\n",
            "database `shop`: a SQLite file has no password",
        ),
        (
            "name = \"shop\"\nurl = \"postgres://db/shop\"\noffices = [\"ghost\"]\n",
            "database `shop`: names unknown office `ghost`",
        ),
        ("name = \"shop\"\nurl = \"db/shop\"\n", "database `shop`: its url is"),
    ];
    for (entry, message) in cases {
        let error = parse(&with(entry)).unwrap_err();
        assert!(error.contains(message), "{error}");
    }
}

#[test]
fn packages_come_from_a_git_repository_at_a_tag() {
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("skills-repo");
    std::fs::create_dir_all(repo.join("packages/deploy")).unwrap();
    std::fs::write(repo.join("packages/deploy/SKILL.md"), "---\nname: deploy\ndescription: Ship it.\n---\n").unwrap();
    let git = |args: &[&str]| {
        let output = std::process::Command::new("git").args(args).current_dir(&repo).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    git(&["init", "--quiet", "--initial-branch=main"]);
    git(&["add", "."]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "deploy"]);
    git(&["tag", "v1"]);
    let source = |rev: &str| {
        MINIMAL.to_owned()
            + &format!("\n[store]\ndata_dir = \"{}\"\n", root.path().join("data").display())
            + &format!(
                "\n[skills]\nworkspace = [\"deploy\"]\ngit = [{{ url = \"file://{}\", rev = \"{rev}\", path = \"packages\" }}]\n",
                repo.display()
            )
    };
    let config = parse(&source("v1")).unwrap();
    let names: Vec<&str> = config.office("maker").unwrap().loaded_skills.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["office", "deploy"]);
    assert_eq!(config.skill_git[0].rev, "v1");
    let error = parse(&source("v9")).unwrap_err();
    assert!(error.contains("skills from git: cannot fetch `v9` from file://"), "{error}");
}

#[test]
fn a_repo_on_github_needs_the_github_table_an_upstream_with_a_token_and_owner_slash_name() {
    let on_github = MINIMAL.replace("description = \"The API\"", "description = \"The API\"\ngithub = \"acme/api\"");
    let upstream = "\n[[upstreams]]\nname = \"gh\"\nurl = \"https://api.github.com\"\nsecret = \"github_token\"\n";
    let table = "\n[github]\nupstream = \"gh\"\nwebhook_secret = \"github_webhook\"\n";
    let config = parse(&format!("{on_github}{upstream}{table}")).unwrap();
    assert_eq!(config.repos[0].github.as_deref(), Some("acme/api"));
    assert_eq!(config.office_upstreams().count(), 0, "GitHub's API is Nova's alone, never an office's");
    let person = format!("{on_github}{upstream}{table}\n[people.carol]\ngithub = \"carol-gh\"\n");
    assert_eq!(parse(&person).unwrap().identities("carol-gh"), ["carol-gh", "carol"]);

    insta::assert_snapshot!(parse(&format!("{on_github}{upstream}")).unwrap_err(), @"nova.toml, line 8: repo `api` names a GitHub repository but there is no [github] table");
    let bad = on_github.replace("acme/api", "acme");
    insta::assert_snapshot!(parse(&format!("{bad}{upstream}{table}")).unwrap_err(), @"nova.toml, line 8: repo `api`: github is `owner/name`, not `acme`");
    insta::assert_snapshot!(parse(&format!("{on_github}{table}")).unwrap_err(), @"nova.toml, line 15: [github] names unknown upstream `gh`");
    let no_token = upstream.replace("secret = \"github_token\"\n", "");
    insta::assert_snapshot!(parse(&format!("{on_github}{no_token}{table}")).unwrap_err(), @"nova.toml, line 19: [github]: upstream `gh` needs a `secret` (the vault secret holding GitHub's token)");
    let pr_stage = "\n[[reviews]]\nstages = [\"pr\"]\n";
    assert!(parse(&format!("{on_github}{upstream}{table}{pr_stage}")).is_ok());
    insta::assert_snapshot!(parse(&format!("{MINIMAL}{pr_stage}")).unwrap_err(), @"nova.toml, line 14: [[reviews]]: stage `pr` needs a pull request, and repo `api` names no `github` repository");
}
