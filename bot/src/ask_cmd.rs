//! `nova ask`: read JSON-lines cases with the plain-language reader and print one
//! answer each; with `--eval`, score them by the rules of
//! `../shared/orchestrate/README.md` (a list in `expect` accepts any of its items).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use orchestrator::ask::{Message, Reader, Said, Speaker, Understanding};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
pub struct Case {
    pub id: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub thread: Vec<ThreadEntry>,
    pub text: String,
    pub expect: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct ThreadEntry {
    pub author: String,
    pub text: String,
}

/// Reads one case.
pub fn answer(reader: &Reader, case: &Case) -> Understanding {
    let thread: Vec<Said> =
        case.thread.iter().map(|e| Said { speaker: Speaker::parse(&e.author), text: e.text.clone() }).collect();
    reader.understand(&Message { channel: &case.channel, text: &case.text, thread: &thread })
}

/// Arguments compared as free text: any non-empty string is right.
const FREE_TEXT: &[&str] = &["role", "prompt", "description"];

fn alternatives(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn same(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == got,
    }
}

fn value_right(key: &str, want: &Value, got: Option<&Value>) -> bool {
    if FREE_TEXT.contains(&key) {
        return got.and_then(Value::as_str).is_some_and(|s| !s.trim().is_empty());
    }
    if key == "changes" {
        let (Some(want), Some(Value::Object(got))) = (want.as_object(), got) else { return false };
        return want.iter().all(|(k, w)| value_right(k, w, got.get(k)));
    }
    alternatives(want).into_iter().any(|w| match w {
        Value::Null => got.is_none_or(Value::is_null),
        w => got.is_some_and(|g| same(w, g)),
    })
}

/// Whether `answer` is right for `expect`, by the contract's rules.
pub fn right(expect: &Value, answer: &Value) -> bool {
    let kind_right = alternatives(&expect["kind"]).iter().any(|k| **k == answer["kind"]);
    if !kind_right {
        return false;
    }
    if answer["kind"] != "fleet" {
        return true;
    }
    if !alternatives(&expect["action"]).iter().any(|a| **a == answer["action"]) {
        return false;
    }
    let empty = serde_json::Map::new();
    let args = answer["args"].as_object().unwrap_or(&empty);
    expect["args"].as_object().unwrap_or(&empty).iter().all(|(k, w)| value_right(k, w, args.get(k)))
}

/// Accuracy overall, per expected kind and per expected action.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub cases: usize,
    pub right: usize,
    /// label → (right, cases)
    pub by_kind: BTreeMap<String, (usize, usize)>,
    pub by_action: BTreeMap<String, (usize, usize)>,
    pub wrong: Vec<String>,
    /// Answers the reader was unsure of (a model would be asked).
    pub unsure: usize,
}

impl Evaluation {
    pub fn add(&mut self, id: &str, expect: &Value, answer: &Value, unsure: bool) {
        let ok = right(expect, answer);
        self.cases += 1;
        self.right += usize::from(ok);
        self.unsure += usize::from(unsure);
        let label = |v: &Value| alternatives(v).first().and_then(|v| v.as_str()).unwrap_or("-").to_owned();
        let tally = |map: &mut BTreeMap<String, (usize, usize)>, key: String| {
            let entry = map.entry(key).or_default();
            entry.0 += usize::from(ok);
            entry.1 += 1;
        };
        tally(&mut self.by_kind, label(&expect["kind"]));
        if label(&expect["kind"]) == "fleet" {
            tally(&mut self.by_action, label(&expect["action"]));
        }
        if !ok {
            self.wrong.push(id.to_owned());
        }
    }

    pub fn accuracy(&self) -> f64 {
        if self.cases == 0 { 0.0 } else { self.right as f64 / self.cases as f64 }
    }

    pub fn report(&self) -> String {
        let pct = |(right, cases): (usize, usize)| 100.0 * right as f64 / cases.max(1) as f64;
        let mut out = format!(
            "cases: {}\naccuracy: {:5.1}% ({}/{})\nunsure (a model would be asked): {} ({:.0}%)\n",
            self.cases,
            100.0 * self.accuracy(),
            self.right,
            self.cases,
            self.unsure,
            pct((self.unsure, self.cases))
        );
        for (title, map) in [("kind", &self.by_kind), ("action", &self.by_action)] {
            out.push_str(&format!("by {title}:\n"));
            for (label, &(right, cases)) in map {
                out.push_str(&format!("  {label:<14} {:5.1}% ({right}/{cases})\n", pct((right, cases))));
            }
        }
        if !self.wrong.is_empty() {
            out.push_str(&format!("wrong: {}\n", self.wrong.join(", ")));
        }
        out
    }
}

/// Reads cases, writes one JSON answer per line to `out`; returns the evaluation. With
/// `explain`, each answer also says which rule decided it and how sure it is (the
/// contract's fields come first, so a reader of the contract ignores the rest).
pub fn run(reader: &Reader, input: impl BufRead, mut out: impl Write, explain: bool) -> anyhow::Result<Evaluation> {
    let mut evaluation = Evaluation::default();
    for case in crate::cases::read::<Case>(input, "a case") {
        let case = case?;
        let understanding = answer(reader, &case);
        let printed = understanding.to_json();
        // The id first, then the contract's fields in its order, for people reading.
        let explained = if explain {
            format!(
                ",\"rule\":{},\"confidence\":{}",
                Value::from(understanding.rule),
                Value::from((f64::from(understanding.confidence) * 1000.0).round() / 1000.0)
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "{{\"id\":{},\"kind\":{},\"action\":{},\"args\":{}{explained}}}",
            Value::from(case.id.as_str()),
            printed["kind"],
            printed["action"],
            printed["args"]
        )?;
        if let Some(expect) = &case.expect {
            evaluation.add(&case.id, expect, &printed, understanding.confidence < orchestrator::ask::UNSURE);
        }
    }
    Ok(evaluation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestrator::config::Config;
    use serde_json::json;

    #[test]
    fn scoring_follows_the_contract() {
        let expect = json!({"kind": "fleet", "action": "schedule", "args": {
            "office": "analyst", "every": ["monday 09:00", "0 9 * * 1"], "prompt": "post signups"}});
        let answer = json!({"kind": "fleet", "action": "schedule", "args": {
            "office": "analyst", "every": "0 9 * * 1", "prompt": "anything"}});
        assert!(right(&expect, &answer));
        let wrong_every = json!({"kind": "fleet", "action": "schedule", "args": {
            "office": "analyst", "every": "daily 09:00", "prompt": "x"}});
        assert!(!right(&expect, &wrong_every));
        let null_office = json!({"kind": "fleet", "action": "status", "args": {"office": null}});
        assert!(right(&null_office, &json!({"kind": "fleet", "action": "status", "args": {}})));
        assert!(!right(&null_office, &json!({"kind": "fleet", "action": "status", "args": {"office": "maker"}})));
        let budget =
            json!({"kind": "fleet", "action": "update_office", "args": {"office": "a", "changes": {"budget_usd": 40}}});
        assert!(right(
            &budget,
            &json!({"kind": "fleet", "action": "update_office", "args": {"office": "a", "changes": {"budget_usd": 40.0, "tier": 2}}})
        ));
        let work = json!({"kind": ["work", "unknown"], "action": null, "args": {}});
        assert!(right(&work, &json!({"kind": "unknown", "action": null, "args": {}})));
    }

    #[test]
    fn prints_one_answer_per_case_and_scores_them() {
        let reader = Reader::new(&Config::demo());
        let input = r#"{"id":"a","channel":"ops","author":"U1","thread":[],"text":"sleep analyst","expect":{"kind":"fleet","action":"sleep","args":{"office":"analyst"}}}
{"id":"b","channel":"general","author":"U1","thread":[],"text":"hmm","expect":{"kind":"work","action":null,"args":{}}}
"#;
        let mut out = Vec::new();
        let evaluation = run(&reader, input.as_bytes(), &mut out, false).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap(), @r#"
        {"id":"a","kind":"fleet","action":"sleep","args":{"office":"analyst"}}
        {"id":"b","kind":"unknown","action":null,"args":{}}
        "#);
        insta::assert_snapshot!(evaluation.report(), @r#"
        cases: 2
        accuracy:  50.0% (1/2)
        unsure (a model would be asked): 0 (0%)
        by kind:
          fleet          100.0% (1/1)
          work             0.0% (0/1)
        by action:
          sleep          100.0% (1/1)
        wrong: b
        "#);
    }

    #[test]
    fn explain_adds_the_deciding_rule_after_the_contracts_fields() {
        let reader = Reader::new(&Config::demo());
        let input = r#"{"id":"a","channel":"ops","author":"U1","thread":[],"text":"sleep analyst"}
{"id":"b","channel":"general","author":"U1","thread":[],"text":"hmm"}
"#;
        let mut out = Vec::new();
        run(&reader, input.as_bytes(), &mut out, true).unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap(), @r#"
        {"id":"a","kind":"fleet","action":"sleep","args":{"office":"analyst"},"rule":"sleep","confidence":0.9}
        {"id":"b","kind":"unknown","action":null,"args":{},"rule":"says nothing to act on","confidence":0.7}
        "#);
    }

    #[test]
    fn a_malformed_case_names_its_line() {
        let reader = Reader::new(&Config::demo());
        let err = run(&reader, "\n{\"id\": 1}\n".as_bytes(), Vec::new(), false).unwrap_err();
        assert_eq!(err.to_string(), "input line 2: not a case");
    }
}
