//! Routing v0: which repo and office a message is about.
//!
//! A cascade, cheapest first: the thread's earlier route, an explicit mention
//! (`@office`, `repo:name` or a repo's name), channel bindings, then a word-overlap
//! scorer over the config's descriptions, roles and hints. Pure: no I/O, no clock.

use std::collections::HashSet;

use crate::config::Config;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoChoice {
    Named(String),
    /// The office's work needs no repository.
    None,
    /// The message does not say.
    Unknown,
}

impl RepoChoice {
    /// The `nova route` spelling: a repo name, `none` or `unknown`.
    pub fn label(&self) -> &str {
        match self {
            Self::Named(name) => name,
            Self::None => "none",
            Self::Unknown => "unknown",
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Named(name) => Some(name),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Thread,
    Mention,
    Channel,
    Scorer,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Route {
    pub repo: RepoChoice,
    /// `None` when Nova should ask.
    pub office: Option<String>,
    pub confidence: f64,
    /// The best offices, most likely first (for the picker card).
    pub alternatives: Vec<String>,
    pub stage: Stage,
}

/// What the router reads about a message.
#[derive(Debug, Clone, Default)]
pub struct RouteRequest<'a> {
    pub channel: &'a str,
    /// Earlier messages of the thread, oldest first.
    pub thread: &'a [String],
    pub text: &'a str,
    /// The route the thread already has, if any.
    pub thread_office: Option<&'a str>,
    pub thread_repo: Option<&'a str>,
}

struct Profile {
    name: String,
    words: HashSet<String>,
    phrases: Vec<Vec<String>>,
    channels: Vec<String>,
    repos: Vec<String>,
}

/// The config, pre-tokenized once so that routing a message allocates little.
pub struct Router {
    repos: Vec<Profile>,
    offices: Vec<Profile>,
    min_confidence: f64,
}

impl Router {
    pub fn new(config: &Config) -> Self {
        let repos = config
            .repos
            .iter()
            .map(|r| Profile {
                name: r.name.clone(),
                words: words(&format!("{} {}", r.name, r.description)).collect(),
                phrases: r.hints.iter().map(|h| words(h).collect()).filter(|p: &Vec<String>| !p.is_empty()).collect(),
                channels: r.channels.clone(),
                repos: vec![],
            })
            .collect();
        let offices = config
            .offices
            .iter()
            .map(|o| Profile {
                name: o.name.clone(),
                words: words(&format!("{} {}", o.name, o.role)).collect(),
                phrases: vec![],
                channels: o.channels.clone(),
                repos: o.repos.clone(),
            })
            .collect();
        Self { repos, offices, min_confidence: config.router.min_confidence }
    }

    pub fn route(&self, request: &RouteRequest<'_>) -> Route {
        let text_words: Vec<String> = words(request.text).collect();
        let mentioned_office = mentioned_office(request.text, &self.offices);
        let mentioned_repo = self.mentioned_repo(request.text, &text_words);

        if let (None, Some(office)) = (&mentioned_office, request.thread_office) {
            let repo = mentioned_repo
                .clone()
                .or_else(|| request.thread_repo.map(str::to_owned))
                .map_or(RepoChoice::Unknown, RepoChoice::Named);
            let repo = self.fit_repo(office, repo);
            return Route {
                repo,
                office: Some(office.to_owned()),
                confidence: 1.0,
                alternatives: vec![],
                stage: Stage::Thread,
            };
        }

        let context: Vec<String> = request.thread.iter().flat_map(|m| words(m)).collect();
        let repo_scores: Vec<f64> = self
            .repos
            .iter()
            .map(|repo| {
                let mut score = overlap(&text_words, &repo.words) + 2.0 * phrase_hits(&text_words, &repo.phrases);
                score += 0.5 * (overlap(&context, &repo.words) + 2.0 * phrase_hits(&context, &repo.phrases));
                if repo.channels.iter().any(|c| c == request.channel) {
                    score += 1.5;
                }
                if mentioned_repo.as_deref() == Some(repo.name.as_str()) {
                    score += 10.0;
                }
                score
            })
            .collect();
        let best_repo = best(&repo_scores).filter(|&(_, s)| s >= 1.0).map(|(i, _)| self.repos[i].name.clone());

        let office_scores: Vec<f64> = self
            .offices
            .iter()
            .map(|office| {
                let mut score = overlap(&text_words, &office.words) + 0.5 * overlap(&context, &office.words);
                if office.channels.iter().any(|c| c == request.channel) {
                    score += 2.0;
                }
                if best_repo.as_ref().is_some_and(|r| office.repos.contains(r)) {
                    score += 0.25;
                }
                score
            })
            .collect();

        let mut ranked: Vec<usize> = (0..self.offices.len()).filter(|&i| office_scores[i] > 0.0).collect();
        ranked.sort_by(|&a, &b| office_scores[b].total_cmp(&office_scores[a]));
        let alternatives: Vec<String> = ranked.iter().take(3).map(|&i| self.offices[i].name.clone()).collect();

        if let Some(office) = mentioned_office {
            let repo = self.fit_repo(&office, best_repo.map_or(RepoChoice::Unknown, RepoChoice::Named));
            return Route { repo, office: Some(office), confidence: 1.0, alternatives, stage: Stage::Mention };
        }

        let top = ranked.first().map_or(0.0, |&i| office_scores[i]);
        let second = ranked.get(1).map_or(0.0, |&i| office_scores[i]);
        let confidence = if top <= 0.0 { 0.0 } else { ((top - second) / top) * (top / 1.0).min(1.0) };
        let stage = if self.offices.iter().any(|o| o.channels.iter().any(|c| c == request.channel)) {
            Stage::Channel
        } else {
            Stage::Scorer
        };
        if confidence < self.min_confidence {
            return Route { repo: RepoChoice::Unknown, office: None, confidence, alternatives, stage };
        }
        let office = self.offices[ranked[0]].name.clone();
        let repo = self.fit_repo(&office, best_repo.map_or(RepoChoice::Unknown, RepoChoice::Named));
        Route { repo, office: Some(office), confidence, alternatives, stage }
    }

    /// Keeps the repo consistent with the office: `none` for offices without repos,
    /// the only repo of a single-repo office, `unknown` for a repo it does not serve.
    fn fit_repo(&self, office: &str, repo: RepoChoice) -> RepoChoice {
        let Some(profile) = self.offices.iter().find(|o| o.name == office) else {
            return repo;
        };
        match (profile.repos.as_slice(), repo) {
            ([], _) => RepoChoice::None,
            (_, RepoChoice::Named(name)) if profile.repos.contains(&name) => RepoChoice::Named(name),
            ([only], _) => RepoChoice::Named(only.clone()),
            _ => RepoChoice::Unknown,
        }
    }

    fn mentioned_repo(&self, text: &str, text_words: &[String]) -> Option<String> {
        let lower = text.to_lowercase();
        self.repos
            .iter()
            .find(|r| lower.contains(&format!("repo:{}", r.name)))
            .or_else(|| {
                self.repos.iter().find(|r| {
                    let name_words: Vec<String> = words(&r.name).collect();
                    r.name.contains(['-', '_', '.']) && lower.contains(&r.name)
                        || name_words.len() == 1
                            && text_words.contains(&name_words[0])
                            && r.name.len() > 3
                            && lower.split(|c: char| !c.is_alphanumeric() && c != '-').any(|w| w == r.name)
                })
            })
            .map(|r| r.name.clone())
    }
}

fn mentioned_office(text: &str, offices: &[Profile]) -> Option<String> {
    text.split_whitespace()
        .filter_map(|w| w.strip_prefix('@'))
        .map(|w| w.trim_end_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .find_map(|w| offices.iter().find(|o| o.name == w).map(|o| o.name.clone()))
}

fn best(scores: &[f64]) -> Option<(usize, f64)> {
    scores.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1))
}

fn overlap(words: &[String], profile: &HashSet<String>) -> f64 {
    let unique: HashSet<&String> = words.iter().collect();
    unique.into_iter().filter(|w| profile.contains(*w)).count() as f64
}

fn phrase_hits(words: &[String], phrases: &[Vec<String>]) -> f64 {
    phrases.iter().filter(|p| words.windows(p.len()).any(|w| w == p.as_slice())).count() as f64
}

const STOPWORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "is", "are", "it", "its", "this", "that",
    "be", "can", "you", "we", "i", "me", "my", "our", "please", "someone", "some", "at", "by", "from", "as", "so",
    "do", "does", "should", "would", "could", "there", "they", "when", "what", "how", "any", "all", "not", "no", "up",
    "out", "into", "over", "same", "still", "just", "look", "update", "yes", "now", "new",
];

/// Lowercased, stemmed content words.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| stem(&w.to_lowercase()))
        .filter(|w| w.len() > 1 && !STOPWORDS.contains(&w.as_str()))
}

/// A light suffix stripper: enough that "fixes", "fixed" and "fixing" meet "fix".
pub fn stem(word: &str) -> String {
    for suffix in ["ing", "ies", "es", "ed", "s"] {
        if let Some(base) = word.strip_suffix(suffix)
            && base.len() >= 3
        {
            return match suffix {
                "ies" => format!("{base}y"),
                "es" if !base.ends_with(['x', 's', 'h', 'z']) => format!("{base}e"),
                _ => base.to_owned(),
            };
        }
    }
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new(&Config::demo())
    }

    fn route(channel: &str, text: &str) -> (String, String) {
        let r = router().route(&RouteRequest { channel, text, ..Default::default() });
        (r.repo.label().to_owned(), r.office.unwrap_or_else(|| "unknown".to_owned()))
    }

    #[test]
    fn stems_common_forms() {
        assert_eq!(stem("fixes"), "fix");
        assert_eq!(stem("fixed"), "fix");
        assert_eq!(stem("fixing"), "fix");
        assert_eq!(stem("queries"), "query");
        assert_eq!(stem("codes"), "code");
        assert_eq!(stem("is"), "is");
    }

    #[test]
    fn the_demo_story_routes_to_maker_on_payments() {
        assert_eq!(
            route("payments", "the coupon field rejects valid codes, please fix"),
            ("payments-api".into(), "maker".into())
        );
    }

    #[test]
    fn explicit_office_mention_wins() {
        assert_eq!(
            route("support", "@operator restart the payment workers"),
            ("payments-api".into(), "operator".into())
        );
    }

    #[test]
    fn repo_prefix_mention_names_the_repo() {
        assert_eq!(route("eng", "repo:inventory bump the dependencies").0, "inventory");
    }

    #[test]
    fn office_channel_binds_the_office() {
        assert_eq!(route("data", "top 20 products by revenue this quarter"), ("none".into(), "analyst".into()));
    }

    #[test]
    fn content_free_messages_are_unknown() {
        assert_eq!(route("general", "can someone look at this?"), ("unknown".into(), "unknown".into()));
        assert_eq!(route("random", "any update?"), ("unknown".into(), "unknown".into()));
    }

    #[test]
    fn thread_route_carries_follow_ups() {
        let r = router().route(&RouteRequest {
            channel: "general",
            text: "any update?",
            thread_office: Some("maker"),
            thread_repo: Some("mobile"),
            ..Default::default()
        });
        assert_eq!((r.repo.label(), r.office.as_deref(), r.stage), ("mobile", Some("maker"), Stage::Thread));
    }

    #[test]
    fn offices_without_repos_get_none() {
        assert_eq!(route("support", "triage this morning's tickets"), ("none".into(), "support".into()));
    }
}
