//! Trust boundaries: what an office's runtime (arbitrary code, maybe prompt-injected)
//! can take, and what reaches Nova's console without a person signed in.

use serde_json::json;

use crate::harness::Nova;
use orchestrator::store::MessageKind;

/// A runtime that tries what a hostile agent would, and reports each attempt as
/// `name=GOT` or `name=refused` in its result.
pub const HOSTILE: &str = r#"
data="$NOVA_WORKSPACE/../../.."
nova=$(tr '\0' '\n' < /proc/$PPID/cmdline | grep -A1 -x -- --nova-url | tail -1)
own_port=$(echo "$NOVA_OFFICE_API" | sed -E 's#^http://127.0.0.1:([0-9]+)/.*#\1#')
report=""
attempt() {
  name=$1; shift
  if got=$("$@" 2>/dev/null) && [ -n "$got" ]; then report="$report $name=GOT"; else report="$report $name=refused"; fi
}
# The daemon's environment and memory map hold its office token.
attempt daemon_environ sh -c "tr '\0' '\n' < /proc/$PPID/environ | grep NOVA_OFFICE_TOKEN"
attempt daemon_memory cat /proc/$PPID/maps
# Nova's data dir: its database and master key; other offices' workspaces.
attempt master_key cat "$data/master.key"
attempt data_dir ls "$data"
attempt other_workspaces ls "$data/offices"
# Nova's console API, directly: read approvals, approve as someone.
attempt console_read curl -sf "$nova/api/approvals"
attempt console_approve curl -sf -X POST -H 'content-type: application/json' \
  -d '{"thread_id":"t","message_id":1,"action":"approve","client_id":"c"}' "$nova/api/console/actions"
# Anything listening on loopback but its own agent API: Nova, other offices, databases.
reachable=""
for hex in $(awk 'NR > 1 && $4 == "0A" { split($2, a, ":"); print a[2] }' /proc/net/tcp /proc/net/tcp6 | sort -u); do
  port=$((16#$hex))
  [ "$port" = "$own_port" ] || [ "$port" = 443 ] && continue
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then reachable="$reachable $port"; fi
done
attempt loopback_ports echo $reachable
# Nova's office API with the daemon's token, if it got it: the secret its upstream
# injects, and one no upstream of its injects.
token=$(tr '\0' '\n' < /proc/$PPID/environ 2>/dev/null | sed -n 's/^NOVA_OFFICE_TOKEN=//p')
attempt upstream_secret curl -sf -H "Authorization: Bearer $token" "$nova/api/office/secrets/llm_key"
attempt other_secret curl -sf -H "Authorization: Bearer $token" "$nova/api/office/secrets/db_password"
# A cloud metadata server's service-account token.
attempt metadata_token curl -sf -m 3 -H 'Metadata-Flavor: Google' \
  http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token
# Its own daemon, by signal.
attempt signal_daemon sh -c "kill -0 $PPID && echo alive"
# The office's commands, swapped for its own (the daemon must never run them unconfined).
attempt replace_office_cli sh -c "ln -sf /bin/true '$NOVA_OFFICE_CLI' && echo replaced"
echo "{\"type\":\"result\",\"text\":\"attacks:$report\"}"
"#;

/// How many attacks [`HOSTILE`] reports.
pub const ATTACKS: usize = 13;

/// Office `office` runs [`HOSTILE`]; the workspace has an `llm` upstream (its key is
/// `llm_key`).
pub fn hostile(config: &mut orchestrator::config::Config, office: usize) {
    config.offices[office].runtime.as_mut().unwrap().command = vec!["bash".into(), "-c".into(), HOSTILE.into()];
    if config.upstreams.is_empty() {
        config.upstreams.push(provisioner::protocol::Upstream {
            name: "llm".into(),
            url: "https://api.openai.com".into(),
            header: "Authorization".into(),
            value: "Bearer {secret}".into(),
            secret: Some("llm_key".into()),
        });
    }
}

/// The attacks a result reports, as (name, outcome).
pub fn outcomes(result: &str) -> Vec<(String, String)> {
    let list = result.split_once("attacks:").map(|(_, list)| list).unwrap_or_else(|| panic!("no report in {result}"));
    list.split_whitespace()
        .map(|pair| {
            let (name, outcome) = pair.split_once('=').unwrap();
            (name.to_owned(), outcome.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_runtime_gets_nothing_from_its_sandbox() {
    let mut nova = Nova::start_with(|config| {
        hostile(config, 0);
        // The analyst's runtime runs unconfined, by choice: the same attacks then work,
        // which shows they are real.
        hostile(config, 2);
        config.offices[2].runtime.as_mut().unwrap().sandbox.enabled = false;
    })
    .await;
    // The vault holds the key the `llm` upstream injects, and a database password.
    for (name, value) in [("llm_key", "sk-live-123"), ("db_password", "hunter2")] {
        let put = json!({"scope": "platform", "name": name, "value": value});
        assert_eq!(nova.post_json("/api/vault", &put).await.0, 204);
    }
    // Another office is up, so there is another agent API on loopback to reach for.
    let writer = nova.say("marketing", "alice", "@writer draft the release notes").await;
    nova.results(&writer, 1).await;

    let thread = nova.say("eng", "alice", "@maker fix the flaky test").await;
    let result = nova.results(&thread, 1).await.into_iter().find(|m| m.kind == MessageKind::Result).unwrap().body;
    let attacks = outcomes(&result);
    assert_eq!(attacks.len(), ATTACKS, "{result}");
    let got: Vec<&(String, String)> = attacks.iter().filter(|(_, outcome)| outcome != "refused").collect();
    assert!(got.is_empty(), "the sandboxed runtime got {got:?}");

    let unconfined = nova.say("data", "alice", "@analyst count the orders").await;
    let result = nova.results(&unconfined, 1).await.into_iter().find(|m| m.kind == MessageKind::Result).unwrap().body;
    let attacks = outcomes(&result);
    for attack in
        ["daemon_environ", "daemon_memory", "data_dir", "other_workspaces", "loopback_ports", "upstream_secret"]
    {
        assert!(attacks.contains(&(attack.to_owned(), "GOT".to_owned())), "unconfined, {attack} works: {result}");
    }
    // Even with the office's token, Nova gives out only what its upstreams inject.
    assert!(attacks.contains(&("other_secret".to_owned(), "refused".to_owned())), "{result}");
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_answers_only_people_signed_in_under_its_own_name() {
    let nova = Nova::start_with(|config| {
        config.roles.insert("operator".into(), vec!["carol".into()]);
    })
    .await;
    let anonymous = reqwest::Client::new();
    for path in ["/api/workspace", "/api/approvals", "/api/audit", "/api/stream", "/api/channels/eng/threads"] {
        let response = anonymous.get(nova.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path} without signing in");
    }
    let approve = json!({"thread_id": "t", "message_id": 1, "action": "approve", "client_id": "c"});
    let response = anonymous.post(nova.url("/api/console/actions")).json(&approve).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not signed in: run `nova login` on the Nova host and open the link it prints");
    let forged = anonymous.get(nova.url("/api/approvals")).header("cookie", "nova_session=forged").send().await;
    assert_eq!(forged.unwrap().status(), 401);

    // A page elsewhere whose name resolves to Nova's address (DNS rebinding).
    let cookie = nova.session("alice").await;
    let rebound =
        anonymous.get(nova.url("/api/approvals")).header("host", "evil.example").header("cookie", &cookie).send().await;
    assert_eq!(rebound.unwrap().status(), 421);

    // A login link works once.
    let (_, token) = nova.engine().issue_login_link(Some("bob")).await.unwrap().unwrap();
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let first = no_redirects.get(nova.url(&format!("/login?token={token}"))).send().await.unwrap();
    assert_eq!(first.status(), 303);
    let again = no_redirects.get(nova.url(&format!("/login?token={token}"))).send().await.unwrap();
    assert_eq!(again.status(), 401, "a used link signs nobody in");
    // A session or link under an office's name (issued before an office took the name)
    // signs nobody in.
    let store = nova.engine().store().clone();
    let office_session = store.open_console_session("maker", std::time::Duration::from_secs(3600)).await.unwrap();
    let as_office =
        anonymous.get(nova.url("/api/me")).header("cookie", format!("nova_session={office_session}")).send().await;
    assert_eq!(as_office.unwrap().status(), 401);
    let office_link = store.issue_login_link("maker", std::time::Duration::from_secs(900)).await.unwrap();
    let opened = no_redirects.get(nova.url(&format!("/login?token={office_link}"))).send().await.unwrap();
    assert_eq!(opened.status(), 401);

    // The person is who the session says, whatever the body claims.
    let (status, me) = nova.get_json("/api/me").await;
    assert_eq!((status, me["person"].as_str()), (200, Some(crate::harness::OPERATOR)));
    let (status, _) = nova.get_json("/api/audit?limit=18446744073709551615").await;
    assert_eq!(status, 400, "a huge audit limit is a clear error, not a panic");
    let (status, _) = nova.get_json("/api/audit?limit=10000").await;
    assert_eq!(status, 200);
    // What the vault holds is for operators only.
    let (status, refused) = nova.get_json("/api/vault").await;
    assert_eq!((status, refused["error"].as_str()), (403, Some("Only people with the `operator` role may do that.")));
    let revoke = json!({"author": "alice", "scope": "workspace", "name": "llm_key"});
    assert_eq!(nova.post_json("/api/vault/revoke", &revoke).await.0, 403);
    nova.finish().await;
}

/// Asks for a credential and reports how the wait ended.
const NEEDS_KEY: &str = r#"
$NOVA_OFFICE_CLI request-credential --name llm_key --why "to call the model" > /dev/null
echo "{\"type\":\"result\",\"text\":\"request-credential exited $?\"}"
"#;

fn needs_key(config: &mut orchestrator::config::Config) {
    config.roles.insert("keyholders".into(), vec!["carol".into()]);
    config.credentials.providers = vec!["keyholders".into()];
    config.offices[0].runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), NEEDS_KEY.into()];
}

async fn credential_card(nova: &mut Nova, thread: &str) -> String {
    nova.eventually("a credential card", async |nova: &Nova| {
        nova.messages(thread).await.into_iter().find_map(|m| match m.card {
            Some(orchestrator::texts::Card::Credential { id, .. }) => Some(id),
            _ => None,
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_keyholder_provides_a_credential() {
    let mut nova = Nova::start_with(needs_key).await;
    let thread = nova.say("eng", "alice", "@maker summarize the bugs with the model").await;
    let id = credential_card(&mut nova, &thread).await;
    let provide = |person: &str| json!({"request_id": id, "author": person, "value": "sk-live-123"});
    let (status, refused) = nova.post_json("/api/console/credentials", &provide("alice")).await;
    assert_eq!(
        (status, refused["error"].as_str().unwrap()),
        (403, "alice may not provide credentials; it takes one of: keyholders")
    );
    let (status, _) = nova.post_json("/api/console/credentials", &provide("carol")).await;
    assert_eq!(status, 204);
    let messages = nova.results(&thread, 1).await;
    assert!(messages.iter().any(|m| m.body == "request-credential exited 0"), "{messages:?}");

    // The vault lists names, never values; anyone may look while no `operator` role
    // exists, and revoking takes the secret away from the office.
    let (status, listed) = nova.get_json("/api/vault").await;
    assert_eq!(status, 200);
    assert_eq!(listed[0]["name"], "llm_key");
    assert_eq!(listed[0]["scope"], "office:maker");
    assert!(!listed.to_string().contains("sk-live-123"), "{listed}");
    let revoke = json!({"scope": "office:maker", "name": "llm_key"});
    let (status, _) = nova.post_json("/api/vault/revoke", &revoke).await;
    assert_eq!(status, 204);
    let (status, _) = nova.post_json("/api/vault/revoke", &revoke).await;
    assert_eq!(status, 404, "gone");
    let (_, listed) = nova.get_json("/api/vault").await;
    assert_eq!(listed, json!([]));
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_nobody_provides_expires_and_the_office_is_told() {
    let mut nova = Nova::start_with(|config| {
        needs_key(config);
        config.credentials.expires = std::time::Duration::ZERO;
    })
    .await;
    let thread = nova.say("eng", "alice", "@maker summarize the bugs with the model").await;
    let messages = nova.results(&thread, 1).await;
    assert!(messages.iter().any(|m| m.body == "request-credential exited 4"), "{messages:?}");
    let card = messages.iter().find(|m| m.kind == MessageKind::Card).unwrap();
    assert_eq!(card.body, "Nobody provided **llm_key** in time; **maker** has to ask again.");
    let id = match &card.card {
        Some(orchestrator::texts::Card::Credential { id, .. }) => id.clone(),
        other => panic!("{other:?}"),
    };
    let late = json!({"request_id": id, "author": "carol", "value": "sk-live-123"});
    let (status, refused) = nova.post_json("/api/console/credentials", &late).await;
    assert_eq!(
        (status, refused["error"].as_str().unwrap()),
        (403, "this request expired; the office has to ask again")
    );
    nova.finish().await;
}
