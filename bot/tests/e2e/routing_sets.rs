//! Routing accuracy on every workspace we have: the shared development set and our own
//! sets in other industries (testdata/routing). A change that makes the router fit one
//! workspace at the others' expense fails here.

use std::path::{Path, PathBuf};

use orchestrator::config::Config;
use orchestrator::router::Router;

/// Both repo and office right, per set.
const BAR: f64 = 0.85;

/// Sets written blind that the router does not clear yet, with the figure it reached:
/// a ratchet (a change that loses ground on them fails) until they reach [`BAR`]. None
/// today.
///
/// The last to leave: the day nurseries in session 26 (a password reset is operations
/// work), and the insurer in session 26 too, when "cancellations are not refunding …"
/// stopped reading as the verb "cancel" (a subject word first is the subject unless its
/// object follows). Still missed there: "renew" a TLS certificate read as a policy
/// renewal, a cloud bill as the billing system's, and a data deletion request as
/// documentation work.
const BELOW_BAR: &[(&str, f64)] = &[];

fn sets() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sets = vec![root.join("../shared/routing")];
    let ours = std::fs::read_dir(root.join("testdata/routing")).unwrap();
    let mut ours: Vec<PathBuf> = ours.map(|e| e.unwrap().path()).filter(|p| p.join("cases.jsonl").exists()).collect();
    ours.sort();
    sets.extend(ours);
    sets
}

#[tokio::test]
async fn every_routing_set_clears_the_bar() {
    let mut report = String::new();
    let mut failing = Vec::new();
    for set in sets() {
        let config = match Config::load(&set.join("workspace.toml")) {
            Ok(config) => config,
            Err(_) if !set.exists() => continue,
            Err(error) => panic!("{}: {error}", set.display()),
        };
        let router = Router::new(&config);
        let cases = std::fs::File::open(set.join("cases.jsonl")).unwrap();
        let evaluation =
            bot::route_cmd::run(&router, None, std::io::BufReader::new(cases), std::io::sink(), false).await.unwrap();
        let both = evaluation.both_right as f64 / evaluation.cases as f64;
        report.push_str(&format!("{}: {:.1}% both right ({} cases)\n", set.display(), 100.0 * both, evaluation.cases));
        let name = set.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let bar = BELOW_BAR.iter().find(|(n, _)| *n == name).map_or(BAR, |(_, reached)| *reached);
        if both < bar {
            failing.push(format!("{}\n{}", set.display(), evaluation.report()));
        }
    }
    eprint!("{report}");
    assert!(failing.is_empty(), "below the bar:\n{}", failing.join("\n"));
}

#[test]
fn content_free_messages_are_unknown_in_every_workspace() {
    for set in sets() {
        let Ok(config) = Config::load(&set.join("workspace.toml")) else { continue };
        let router = Router::new(&config);
        for text in [
            "can someone look at this?",
            "it's broken",
            "any update?",
            "thanks",
            "ping",
            "?",
            "hello there",
            "ok cool",
            "bump",
            "can you check?",
            "could you check this please",
        ] {
            let route =
                router.route(&orchestrator::router::RouteRequest { channel: "general", text, ..Default::default() });
            assert_eq!(route.office, None, "{}: {text:?} routed to {:?}", set.display(), route.office);
        }
    }
}
