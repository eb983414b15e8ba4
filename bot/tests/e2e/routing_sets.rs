//! Routing accuracy on every workspace we have: the shared development set and our own
//! sets in other industries (testdata/routing). A change that makes the router fit one
//! workspace at the others' expense fails here.

use std::path::{Path, PathBuf};

use orchestrator::config::Config;
use orchestrator::router::Router;

/// Both repo and office right, per set.
const BAR: f64 = 0.85;

/// Sets written blind that the router does not clear yet, with the figure it reached:
/// a ratchet (a change that loses ground on them fails) until they reach [`BAR`].
/// The insurer's misses: a subject word that is another repo's hint ("renew" a TLS
/// certificate is not a policy renewal), a cloud bill read as the billing system's, and a
/// data deletion request read as documentation work. ("Renewal notices went out with last
/// year's premium" came right in session 23, when a keeper's claim on fixing began to
/// count by how much of its role is changing code.) The newsroom and the telecom cleared the
/// bar in session 18, when a statement's subject words stopped counting as the kind of
/// work asked for ("articles" at a publisher, "customers" of the customer app).
///
/// The day nurseries (written blind in session 24: 72.7%, 77.3% once "occupancy" read as
/// analysis, 81.8% in session 25 once an IT office stopped asking which repo the Wi-Fi is
/// in): a password reset and a staff-training question (in an engineering channel) clear
/// no bar, "the tablet goes to sleep" is read as the tablets' office's, and "two more
/// parents upset about this" in a thread about payment reminders is read as about the app
/// named for parents.
///
/// The laundry, the heating engineers and the parcel lockers cleared the bar in session 25
/// (a sharper confidence; a kind of work no office mainly does read as what a report is
/// about; who a support desk answers no longer read as its work).
const BELOW_BAR: &[(&str, f64)] = &[("insurer", 0.84)];

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
