//! Plain-language accuracy on every workspace we have: the shared development set and
//! our own sets in other industries (testdata/orchestrate), scored by `nova ask
//! --eval`'s rules. A change that fits one workspace at the others' expense fails here.

use std::path::{Path, PathBuf};

use orchestrator::ask::{Kind, Message, Reader, Said, Speaker};
use orchestrator::config::Config;

/// Right answers (kind, action and the listed arguments), per set.
const BAR: f64 = 0.9;

/// `(cases, workspace)` per set; the shared set's workspace is the routing one.
fn sets() -> Vec<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shared = root.join("../shared");
    let mut sets = vec![(shared.join("orchestrate"), shared.join("routing/workspace.toml"))];
    let mut ours: Vec<PathBuf> = std::fs::read_dir(root.join("testdata/orchestrate"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("cases.jsonl").exists())
        .collect();
    ours.sort();
    sets.extend(ours.into_iter().map(|p| (p.clone(), p.join("workspace.toml"))));
    sets
}

#[test]
fn every_plain_language_set_clears_the_bar() {
    let mut report = String::new();
    let mut failing = Vec::new();
    for (set, workspace) in sets() {
        if !set.exists() {
            continue;
        }
        let config = Config::load(&workspace).unwrap_or_else(|e| panic!("{}: {e}", workspace.display()));
        let cases = std::fs::File::open(set.join("cases.jsonl")).unwrap();
        let evaluation =
            bot::ask_cmd::run(&Reader::new(&config), std::io::BufReader::new(cases), std::io::sink(), false).unwrap();
        report.push_str(&format!(
            "{}: {:.1}% ({} cases)\n",
            set.display(),
            100.0 * evaluation.accuracy(),
            evaluation.cases
        ));
        if evaluation.accuracy() < BAR {
            failing.push(format!("{}\n{}", set.display(), evaluation.report()));
        }
    }
    eprint!("{report}");
    assert!(failing.is_empty(), "below {:.0}%:\n{}", BAR * 100.0, failing.join("\n"));
}

/// Routing cases are messages people meant as work (or too vague to route): the
/// reader must leave them to the router, or work would be answered as a fleet request.
/// Two are fleet questions in any reading, and listed.
#[test]
fn work_in_the_routing_sets_is_never_taken_for_a_fleet_request() {
    const FLEET_QUESTIONS: &[&str] = &["hotel-16", "uni-21"]; // "is anyone looking at this?", "help"
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sets = vec![root.join("../shared/routing")];
    sets.extend(std::fs::read_dir(root.join("testdata/routing")).unwrap().map(|e| e.unwrap().path()));
    let mut taken = Vec::new();
    for set in sets.into_iter().filter(|s| s.join("cases.jsonl").exists()) {
        let reader = Reader::new(&Config::load(&set.join("workspace.toml")).unwrap());
        for line in std::fs::read_to_string(set.join("cases.jsonl")).unwrap().lines().filter(|l| !l.trim().is_empty()) {
            let case: serde_json::Value = serde_json::from_str(line).unwrap();
            let thread: Vec<Said> = case["thread"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .map(|m| Said { speaker: Speaker::Person("U1".into()), text: m.as_str().unwrap().into() })
                        .collect()
                })
                .unwrap_or_default();
            let text = case["text"].as_str().unwrap();
            let read =
                reader.understand(&Message { channel: case["channel"].as_str().unwrap(), text, thread: &thread });
            let id = case["id"].as_str().unwrap();
            if read.kind == Kind::Fleet && !FLEET_QUESTIONS.contains(&id) {
                taken.push(format!("{id}: {text:?} → {:?}", read.action));
            }
        }
    }
    assert!(taken.is_empty(), "work read as fleet requests:\n{}", taken.join("\n"));
}
