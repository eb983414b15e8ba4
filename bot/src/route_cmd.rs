//! `nova route`: classify JSON-lines cases with the router, optionally scoring them.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use orchestrator::router::model::{ModelCall, ModelRouter, Outcome};
use orchestrator::router::{RouteRequest, Router};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct Case {
    pub id: String,
    pub channel: String,
    #[serde(default)]
    pub thread: Vec<String>,
    pub text: String,
    pub expect: Option<Expect>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Expect {
    pub repo: Accepted,
    pub office: Accepted,
}

/// An expected value: one answer, or a list of answers any of which is right.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Accepted {
    One(String),
    AnyOf(Vec<String>),
}

impl Accepted {
    pub fn accepts(&self, answer: &str) -> bool {
        match self {
            Self::One(one) => one == answer,
            Self::AnyOf(any) => any.iter().any(|a| a == answer),
        }
    }

    /// How the expectation reads in a confusion table.
    pub fn label(&self) -> String {
        match self {
            Self::One(one) => one.clone(),
            Self::AnyOf(any) => any.join("|"),
        }
    }
}

impl From<&str> for Accepted {
    fn from(one: &str) -> Self {
        Self::One(one.to_owned())
    }
}

#[derive(Debug, Serialize)]
pub struct Answer {
    pub id: String,
    pub repo: String,
    pub office: String,
    pub confidence: f64,
    /// With `--explain`: the evidence behind the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<orchestrator::router::Explanation>,
}

/// Routes one case offline, then through the model when one is given and the
/// offline answer is unsure; returns the model call if there was one.
pub async fn answer(
    router: &Router,
    model: Option<&ModelRouter>,
    case: &Case,
    explain: bool,
) -> (Answer, Option<ModelCall>) {
    let request = RouteRequest { channel: &case.channel, thread: &case.thread, text: &case.text, ..Default::default() };
    let mut route = router.route(&request);
    let mut call = None;
    if let Some(model) = model.filter(|m| m.should_ask(&route)) {
        let (answer, made) = model.route(&request, route).await;
        route = answer;
        call = Some(made);
    }
    let answer = Answer {
        id: case.id.clone(),
        repo: route.repo.label().to_owned(),
        office: route.office.unwrap_or_else(|| "unknown".to_owned()),
        confidence: (route.confidence * 1000.0).round() / 1000.0,
        explain: explain.then(|| router.explain(&request)),
    };
    (answer, call)
}

/// Scores answers against their cases' `expect`.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub cases: usize,
    pub repo_right: usize,
    pub office_right: usize,
    pub both_right: usize,
    /// `(expected, got)` office pairs that differed, with their counts.
    pub office_confusion: BTreeMap<(String, String), usize>,
    pub repo_confusion: BTreeMap<(String, String), usize>,
    pub model_calls: Vec<ModelCall>,
}

impl Evaluation {
    pub fn add(&mut self, expect: &Expect, answer: &Answer) {
        self.cases += 1;
        let repo = expect.repo.accepts(&answer.repo);
        let office = expect.office.accepts(&answer.office);
        self.repo_right += usize::from(repo);
        self.office_right += usize::from(office);
        self.both_right += usize::from(repo && office);
        if !office {
            *self.office_confusion.entry((expect.office.label(), answer.office.clone())).or_default() += 1;
        }
        if !repo {
            *self.repo_confusion.entry((expect.repo.label(), answer.repo.clone())).or_default() += 1;
        }
    }

    pub fn report(&self) -> String {
        let pct = |n: usize| {
            if self.cases == 0 { 0.0 } else { 100.0 * n as f64 / self.cases as f64 }
        };
        let mut out = format!(
            "cases: {}\nrepo accuracy:   {:5.1}% ({}/{})\noffice accuracy: {:5.1}% ({}/{})\nboth right:      {:5.1}% ({}/{})\n",
            self.cases,
            pct(self.repo_right),
            self.repo_right,
            self.cases,
            pct(self.office_right),
            self.office_right,
            self.cases,
            pct(self.both_right),
            self.both_right,
            self.cases
        );
        if !self.model_calls.is_empty() {
            let mut latencies: Vec<_> = self.model_calls.iter().map(|c| c.latency).collect();
            latencies.sort();
            let answered = self.model_calls.iter().filter(|c| c.outcome == Outcome::Answered).count();
            let tokens: u32 = self.model_calls.iter().map(|c| c.prompt_tokens + c.completion_tokens).sum();
            out.push_str(&format!(
                "model: asked on {}/{} cases ({:.0}%), answered {}, fell back {}, latency p50 {:?} max {:?}, {} tokens\n",
                self.model_calls.len(),
                self.cases,
                pct(self.model_calls.len()),
                answered,
                self.model_calls.len() - answered,
                latencies[latencies.len() / 2],
                latencies[latencies.len() - 1],
                tokens
            ));
        }
        for (title, confusion) in [("office", &self.office_confusion), ("repo", &self.repo_confusion)] {
            if !confusion.is_empty() {
                out.push_str(&format!("{title} confusion (expected → got):\n"));
                for ((expected, got), count) in confusion {
                    out.push_str(&format!("  {expected} → {got}: {count}\n"));
                }
            }
        }
        out
    }
}

/// Reads cases, writes one JSON answer per line to `out`; returns the evaluation.
pub async fn run(
    router: &Router,
    model: Option<&ModelRouter>,
    input: impl BufRead,
    mut out: impl Write,
    explain: bool,
) -> anyhow::Result<Evaluation> {
    let mut evaluation = Evaluation::default();
    for case in crate::cases::read::<Case>(input, "a routing case") {
        let case = case?;
        let (answer, call) = answer(router, model, &case, explain).await;
        evaluation.model_calls.extend(call);
        writeln!(out, "{}", serde_json::to_string(&answer)?)?;
        if let Some(expect) = &case.expect {
            evaluation.add(expect, &answer);
        }
    }
    Ok(evaluation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestrator::config::Config;

    #[tokio::test]
    async fn prints_one_answer_per_case() {
        let router = Router::new(&Config::demo());
        let input = r#"{"id":"a","channel":"payments","thread":[],"text":"refunds fail, please fix","expect":{"repo":"payments-api","office":"maker"}}
{"id":"b","channel":"general","thread":[],"text":"any update?","expect":{"repo":"unknown","office":"unknown"}}
"#;
        let mut out = Vec::new();
        let evaluation = run(&router, None, input.as_bytes(), &mut out, false).await.unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap(), @r#"
        {"id":"a","repo":"payments-api","office":"maker","confidence":0.999}
        {"id":"b","repo":"unknown","office":"unknown","confidence":0.024}
        "#);
        assert_eq!((evaluation.cases, evaluation.both_right), (2, 2));
    }

    #[tokio::test]
    async fn a_list_in_expect_accepts_any_of_its_items() {
        let router = Router::new(&Config::demo());
        let input = r#"{"id":"a","channel":"payments","thread":[],"text":"refunds fail, please fix","expect":{"repo":["payments-api","none"],"office":["operator","maker"]}}"#;
        let evaluation = run(&router, None, input.as_bytes(), std::io::sink(), false).await.unwrap();
        assert_eq!((evaluation.cases, evaluation.both_right), (1, 1));
    }

    #[tokio::test]
    async fn a_malformed_case_names_its_line() {
        let router = Router::new(&Config::demo());
        let err = run(&router, None, "\n{\"id\": 1}\n".as_bytes(), Vec::new(), false).await.unwrap_err();
        assert_eq!(err.to_string(), "input line 2: not a routing case");
    }

    #[test]
    fn report_shows_accuracy_and_confusion() {
        let mut evaluation = Evaluation::default();
        let expect = Expect { repo: "api".into(), office: "maker".into() };
        let either = Expect { repo: Accepted::AnyOf(vec!["api".into(), "none".into()]), office: "maker".into() };
        assert!(either.repo.accepts("none") && !either.repo.accepts("web"));
        evaluation.add(
            &expect,
            &Answer { id: "1".into(), repo: "api".into(), office: "maker".into(), confidence: 1.0, explain: None },
        );
        evaluation.add(
            &expect,
            &Answer {
                id: "2".into(),
                repo: "unknown".into(),
                office: "operator".into(),
                confidence: 0.6,
                explain: None,
            },
        );
        insta::assert_snapshot!(evaluation.report(), @r"
        cases: 2
        repo accuracy:    50.0% (1/2)
        office accuracy:  50.0% (1/2)
        both right:       50.0% (1/2)
        office confusion (expected → got):
          maker → operator: 1
        repo confusion (expected → got):
          api → unknown: 1
        ");
    }
}
