//! The router: which repo and which office a message is about.
//!
//! A cascade, cheapest first, each stage able to decide or pass on: the thread's route
//! → an explicit mention (`@office`, `repo:name`) → the offline scorer (channel bindings
//! as priors, the kind of work against office roles, the subject against repos, the
//! thread as context) → (when configured) a fast model → a picker card. Pure and
//! deterministic: no I/O, no clock, no weights.

pub mod lexicon;
pub mod model;
pub mod text;

use std::collections::{HashMap, HashSet};

use crate::config::Config;
use lexicon::{CHANGE_CONCEPTS, CODE_CONCEPTS, GENERIC_WORDS, OWNED_CONCEPTS};
use text::{LEXICON_TABLE, Tokens};

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
    Scorer,
    Model,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Route {
    pub repo: RepoChoice,
    /// `None` when Nova should ask.
    pub office: Option<String>,
    /// How sure the router is of the office, 0 to 1.
    pub confidence: f64,
    /// The likeliest offices, best first (for the picker card).
    pub alternatives: Vec<String>,
    pub stage: Stage,
}

/// The evidence behind a route, for `nova route --explain`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Explanation {
    pub concepts: Vec<(String, f32)>,
    pub offices: Vec<(String, f32)>,
    pub repos: Vec<(String, f32)>,
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
    /// Offices people picked for earlier messages in this channel, with counts.
    pub channel_picks: &'a [(String, u32)],
}

/// Scorer weights. Chosen by reasoning about evidence strength (see the module docs of
/// each term) and checked on development sets of several workspaces. Only the two that
/// say how sure to be were measured by cross-validation (tuned on half the sets, scored
/// on the other half and on sets no tuning saw; `testdata/routing/README.md`).
mod weights {
    /// What an analyst's or a writer's title lists ("complaint volumes") counts this much of other work
    /// (a quarter: 0 and 0.5 were each worse on the sets, and 0 lost an operations
    /// analyst's "failed deliveries").
    pub const ANALYSED_TOPIC: f32 = 0.25;
    /// Someone's words passed on with a request to answer them ("some kid says his hoodie
    /// never showed up, can someone get back to him") signal support this strongly.
    pub const RELAYED_FOR_AN_ANSWER: f32 = 1.5;
    /// An office bound to the message's channel: a prior that text can overrule.
    pub const OFFICE_CHANNEL: f32 = 1.5;
    /// The same, for a question that clearly asks for figures when the office does
    /// little analysis.
    pub const OFFICE_CHANNEL_OTHER_WORK: f32 = 0.75;
    /// The first word's kind of work counts this much again.
    pub const LEAD_VERB: f32 = 0.5;
    /// A repo bound to the message's channel.
    pub const REPO_CHANNEL: f32 = 1.5;
    /// Per shared content word between the message and an office's role (× idf).
    pub const ROLE_WORD: f32 = 0.5;
    /// An office serving the repo the message is about (× how sure that repo is).
    pub const SERVES_SUBJECT: f32 = 0.6;
    /// A role word that is also a repo word counts this much of a work word.
    pub const SUBJECT_ROLE_WORD: f32 = 0.3;
    /// A message about a repo's subject that names no kind of work ("the solver
    /// ignores time windows") is a request for engineering, this strongly.
    pub const DEFAULT_CODE_WORK: f32 = 0.5;
    /// Earlier thread messages count this much of the message itself.
    pub const CONTEXT: f32 = 0.5;
    /// A synonym counts this much of the word itself.
    pub const SYNONYM: f32 = 0.6;
    /// Repo-word weights by where the word stands in the repo's config. A word of the
    /// repo's name is no stronger evidence than a hint ("customer" of `customer-app` is
    /// also everyone's word for the people the business serves).
    pub const REPO_NAME_WORD: f32 = 2.0;
    pub const REPO_HINT_WORD: f32 = 2.0;
    /// A word of a multi-word hint, alone ("delivery" of "proof of delivery").
    pub const REPO_HINT_PHRASE_WORD: f32 = 1.2;
    pub const REPO_DESCRIPTION_WORD: f32 = 1.0;
    /// A generic word ("order", "page") in a repo's name or description counts this much.
    pub const GENERIC_WORD: f32 = 0.4;
    /// A multi-word hint matched as a phrase, on top of its words.
    pub const HINT_PHRASE: f32 = 1.5;
    /// The repo's full name in the text (`payments-api`, `storefront`).
    pub const REPO_NAME_MENTION: f32 = 4.0;
    /// Past picks in the channel: per doubling of the count.
    pub const PICKS: f32 = 0.5;
    /// The score of "none of them": what an office must beat to be chosen. A little
    /// over one role word's worth, so that "any update?" is not the office whose role
    /// says "supply updates".
    pub const UNKNOWN: f32 = 1.1;
    /// Softmax temperature over office scores: how far ahead of its rivals and of "none
    /// of them" the top office must be to be chosen. At 0.3, a lead of 0.2 to 0.33 of
    /// a point over one to three equal rivals clears the default bar of 0.5 (`T × ln k`);
    /// at 0.6 it took twice that, and clear requests whose right office led (a fault in
    /// an app kept by its engineer and by operations) went to a picker card on 13 of 56
    /// workspaces.
    pub const TEMPERATURE: f32 = 0.3;
    /// What a statement about a clear subject counts as a bug report (`fix`).
    pub const REPORTED_FAULT: f32 = 1.0;
    /// What a laptop or a login someone needs, kept by no repo, counts as operations'
    /// work: the most a kind of work can count, so that an IT office whose role does not
    /// list the thing ("needs a laptop" where the role says "tablets, Wi-Fi, logins")
    /// still beats "none of them" (at 1.0 it did not).
    pub const NEEDED_ESTATE: f32 = 2.0;
    /// A repo needs this much evidence to be named.
    pub const REPO_EVIDENCE: f32 = 1.5;
    /// A statement's opening words (its grammatical subject) count this much again.
    pub const SUBJECT_OPENING: f32 = 0.5;
    /// A word that signals operations this strongly names an operation ("backups",
    /// "cluster"), not only a setting where one happens ("server", "queue").
    pub const OPERATION_WORD: f32 = 0.6;
}

struct OfficeProfile {
    name: String,
    repos: Vec<usize>,
    concepts: Vec<f32>,
    /// Its work happens in a repository (engineering, operations…).
    needs_repo: bool,
    /// How much of what its role says is changing code (building and fixing), 0 to 1:
    /// all of "Software engineer: builds and fixes the EDC", little of "IT operations:
    /// servers, upgrades, patching, backups, deploys".
    changes_code: f32,
}

impl OfficeProfile {
    /// Whether this kind of work is what its role says most strongly (one of them).
    fn mainly_does(&self, concept: usize) -> bool {
        self.concepts[concept] > 0.0 && self.concepts.iter().all(|&other| other <= self.concepts[concept])
    }
}

/// The config, analysed once, so that routing a message is a few hash lookups.
pub struct Router {
    repo_names: Vec<String>,
    offices: Vec<OfficeProfile>,
    /// stem → (repo, weight × idf)
    repo_words: HashMap<String, Vec<(usize, f32)>>,
    /// Stems found only in repos that some office mainly builds or fixes.
    app_words: HashSet<String>,
    /// first stem of a multi-word hint → (repo, the hint's stems)
    repo_phrases: HashMap<String, Vec<(usize, Vec<String>)>>,
    /// stem → (office, idf)
    role_words: HashMap<String, Vec<(usize, f32)>>,
    office_channels: HashMap<String, Vec<usize>>,
    repo_channels: HashMap<String, Vec<usize>>,
    min_confidence: f32,
}

/// A role's clauses without what they answer about, each with whether it had any: what
/// follows "about" ("answers boaters about berths, arrivals and invoices") names topics,
/// not kinds of work.
fn role_clauses(role: &str) -> Vec<(&str, bool)> {
    role.split(['.', ';'])
        .map(|clause| match clause.split_once(" about ") {
            Some((doing, _)) => (doing, true),
            None => (clause, false),
        })
        .collect()
}

/// What a message says of these kinds of work is operations' work: a fault in an
/// operation or a device is the operators' to mend, a laptop someone needs theirs to set up.
fn operators_work(concepts: &mut [f32], kinds: &[&str]) {
    let lexicon = &*LEXICON_TABLE;
    let Some(operate) = lexicon.concept_id("operate") else { return };
    for kind in kinds.iter().filter_map(|c| lexicon.concept_id(c)) {
        concepts[operate] += concepts[kind];
        concepts[kind] = 0.0;
    }
}

/// ln(1 + n / df): rarer words say more.
fn idf(n: usize, df: usize) -> f32 {
    (1.0 + n as f32 / df.max(1) as f32).ln()
}

impl Router {
    pub fn new(config: &Config) -> Self {
        let lexicon = &*LEXICON_TABLE;
        let repo_names: Vec<String> = config.repos.iter().map(|r| r.name.clone()).collect();
        let repo_index = |name: &str| repo_names.iter().position(|r| r == name);

        // Repo vocabulary: each stem with the best weight of the fields it appears in.
        let generic: Vec<String> = GENERIC_WORDS.iter().map(|w| text::stem(w)).collect();
        let mut per_repo: Vec<HashMap<String, f32>> = Vec::new();
        let mut repo_phrases: HashMap<String, Vec<(usize, Vec<String>)>> = HashMap::new();
        for (index, repo) in config.repos.iter().enumerate() {
            let mut vocabulary: HashMap<String, f32> = HashMap::new();
            // Hints are what the config's author chose to point at this repo: they count
            // in full. Names and descriptions are prose, where generic words count less.
            let mut add = |text: &str, weight: f32, prose: bool| {
                for word in Tokens::new(text).content {
                    let weight = if prose && generic.contains(&word) { weight * weights::GENERIC_WORD } else { weight };
                    let entry = vocabulary.entry(word).or_insert(0.0);
                    *entry = entry.max(weight);
                }
            };
            add(&repo.name.replace(['-', '_', '.'], " "), weights::REPO_NAME_WORD, true);
            add(&repo.description, weights::REPO_DESCRIPTION_WORD, true);
            for hint in &repo.hints {
                let stems = Tokens::new(hint).all;
                if stems.len() > 1 {
                    add(hint, weights::REPO_HINT_PHRASE_WORD, true);
                    repo_phrases.entry(stems[0].clone()).or_default().push((index, stems));
                } else {
                    add(hint, weights::REPO_HINT_WORD, false);
                }
            }
            per_repo.push(vocabulary);
        }
        let mut repo_words: HashMap<String, Vec<(usize, f32)>> = HashMap::new();
        let mut document_frequency: HashMap<&str, usize> = HashMap::new();
        for vocabulary in &per_repo {
            for word in vocabulary.keys() {
                *document_frequency.entry(word).or_default() += 1;
            }
        }
        for (index, vocabulary) in per_repo.iter().enumerate() {
            for (word, weight) in vocabulary {
                let weight = weight * idf(per_repo.len(), document_frequency[word.as_str()]);
                repo_words.entry(word.clone()).or_default().push((index, weight));
            }
        }

        let description_pairs: HashSet<Vec<String>> = config
            .repos
            .iter()
            .flat_map(|repo| Tokens::new(&repo.description).all.windows(2).map(<[String]>::to_vec).collect::<Vec<_>>())
            .collect();
        // Whether a repo's phrase said in a role reads, most of all, as operations.
        let operate = lexicon.concept_id("operate");
        let says_operations = |phrase: &[String]| {
            let said = lexicon.concepts(phrase);
            operate.is_some_and(|o| said[o] > 0.0 && said.iter().all(|&other| other <= said[o]))
        };
        // Offices: the kinds of work their roles describe, and their role words.
        let code: Vec<usize> = CODE_CONCEPTS.iter().filter_map(|c| lexicon.concept_id(c)).collect();
        let owned: Vec<usize> = OWNED_CONCEPTS.iter().filter_map(|c| lexicon.concept_id(c)).collect();
        let mut offices = Vec::new();
        let mut role_vocabularies: Vec<Vec<String>> = Vec::new();
        for office in &config.offices {
            let description = format!("{} {}", office.name, office.role);
            let tokens = Tokens::new(&description);
            // "Developer for the customer website": people named before a thing the
            // workspace keeps say whose thing it is, not that the office answers them.
            // "Replies to customers about late or wrong orders and invoices": what an
            // office answers about are its topics, not kinds of work it does (it neither
            // fixes the wrong orders nor keeps the invoices).
            let clauses = role_clauses(&office.role);
            let answers_about = clauses.iter().any(|(_, about)| *about);
            let mut read: Vec<String> = Vec::new();
            for (doing, about) in std::iter::once((office.name.as_str(), answers_about)).chain(clauses) {
                let tokens = Tokens::new(doing).all;
                read.push(String::new());
                // "answers people who can't collect or return parcels": what follows "who"
                // after the people it answers describes them, not its work (it fixes
                // nothing that "can't").
                let described_from = (1..tokens.len())
                    .find(|&at| matches!(tokens[at].as_str(), "who" | "whose") && text::is_people_word(&tokens[at - 1]))
                    .unwrap_or(tokens.len());
                // "builds and fixes matching, recommendations and job alerts": a repo's
                // hint phrase ("job alert") in the role is the thing worked on, not the
                // operations its words would say (alerting). (Other kinds stay: "checks
                // audit trails" is auditing, as a message about the audit trail is.)
                let in_a_hint: Vec<bool> = {
                    let mut covered = vec![false; tokens.len()];
                    // So is two words of a repo's description, together ("the monitor
                    // firmware" of "Monitor firmware: measurement, …").
                    for at in 0..tokens.len().saturating_sub(1) {
                        if description_pairs.contains(&tokens[at..at + 2]) && says_operations(&tokens[at..at + 2]) {
                            covered[at..at + 2].iter_mut().for_each(|c| *c = true);
                        }
                    }
                    for at in 0..tokens.len() {
                        for (_, phrase) in repo_phrases.get(&tokens[at]).into_iter().flatten() {
                            if tokens[at..].starts_with(phrase) && says_operations(phrase) {
                                covered[at..at + phrase.len()].iter_mut().for_each(|c| *c = true);
                            }
                        }
                    }
                    covered
                };
                read.extend((0..described_from).map(|at| {
                    if in_a_hint[at] {
                        return String::new();
                    }
                    let word = &tokens[at];
                    // Who it answers ("visitor-care answers visitor emails about …") are
                    // its audience.
                    let audience = about && text::is_people_word(word);
                    let whose = text::is_people_word(word)
                        && tokens.get(at + 1).is_some_and(|next| repo_words.contains_key(next));
                    if audience || whose { String::new() } else { word.clone() }
                }));
            }
            // "Patient support: …", "Fan support assistant: …": a title's "support" is a
            // support desk for those people, not support for a feature (the lexicon's
            // reading of the word). IT and technical support are left to their other words.
            if let Some((title, _)) = office.role.split_once(':') {
                let title = Tokens::new(title).all;
                let desk = title.iter().enumerate().any(|(at, word)| {
                    word == "support" && !(at > 0 && matches!(title[at - 1].as_str(), "it" | "technic" | "tech"))
                });
                if desk {
                    read.push(text::stem("helpdesk"));
                }
            }
            let mut said = lexicon.concepts(&read);
            // "Performance analyst: repair times, complaint volumes, satisfaction": what an
            // analyst's title lists is what it analyses, not other work it does (it answers
            // no complaints). A writer's lists what it writes: "Writer: safety alerts, the
            // monthly HSE report" neither operates alerts nor analyses figures (though its
            // "proposals" are still what sales asks of it).
            let (analyze, operate) = (lexicon.concept_id("analyze"), lexicon.concept_id("operate"));
            if let Some((title, _)) = office.role.split_once(':') {
                let titled = lexicon.concepts(&Tokens::new(title).all);
                let title_says = |kind: Option<usize>| {
                    kind.is_some_and(|kind| titled[kind] > 0.0 && titled.iter().all(|&other| other <= titled[kind]))
                };
                let damped: Vec<usize> = if title_says(analyze) {
                    (0..said.len()).filter(|&concept| Some(concept) != analyze).collect()
                } else if title_says(lexicon.concept_id("write")) {
                    [analyze, operate].into_iter().flatten().collect()
                } else {
                    Vec::new()
                };
                if !damped.is_empty() {
                    let named = lexicon.concepts(&Tokens::new(&office.name).all);
                    for (concept, said) in said.iter_mut().enumerate() {
                        if damped.contains(&concept) {
                            *said = titled[concept].max(named[concept])
                                + weights::ANALYSED_TOPIC * (*said - titled[concept].max(named[concept])).max(0.0);
                        }
                    }
                }
            }
            // Answering people about things is what a support office does, however it is
            // worded ("answers boaters about berths"), unless its role says more strongly
            // that it does something else ("Analyst: answers questions about volumes").
            if answers_about
                && let Some(support) = lexicon.concept_id("support")
                && said[support] > 0.0
                && said.iter().all(|&other| other <= said[support])
            {
                said[support] = said[support].max(1.0);
            }
            let said_in_all: f32 = said.iter().sum();
            let said_of_code: f32 = owned.iter().map(|&c| said[c]).sum();
            let concepts: Vec<f32> = said.into_iter().map(|c| c.min(1.0)).collect();
            let total: f32 = concepts.iter().sum();
            let in_code: f32 = code.iter().map(|&c| concepts[c]).sum();
            offices.push(OfficeProfile {
                name: office.name.clone(),
                repos: office.repos.iter().filter_map(|r| repo_index(r)).collect(),
                needs_repo: total == 0.0 || in_code >= 0.5 * total,
                changes_code: if said_in_all > 0.0 { said_of_code / said_in_all } else { 0.0 },
                concepts,
            });
            role_vocabularies.push(tokens.content);
        }
        let mut role_frequency: HashMap<&str, usize> = HashMap::new();
        for vocabulary in &role_vocabularies {
            for word in vocabulary {
                *role_frequency.entry(word).or_default() += 1;
            }
        }
        let mut role_words: HashMap<String, Vec<(usize, f32)>> = HashMap::new();
        for (index, vocabulary) in role_vocabularies.iter().enumerate() {
            for word in vocabulary {
                // A role word that is also a repo's subject ("patients", "deliveries")
                // says what the office's work is about, not what kind of work it is.
                let subject = if repo_words.contains_key(word) { weights::SUBJECT_ROLE_WORD } else { 1.0 };
                let weight = subject * idf(role_vocabularies.len(), role_frequency[word.as_str()]);
                role_words.entry(word.clone()).or_default().push((index, weight));
            }
        }

        let mut office_channels: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, office) in config.offices.iter().enumerate() {
            for channel in &office.channels {
                office_channels.entry(channel.clone()).or_default().push(index);
            }
        }
        let mut repo_channels: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, repo) in config.repos.iter().enumerate() {
            for channel in &repo.channels {
                repo_channels.entry(channel.clone()).or_default().push(index);
            }
        }
        // Words only of repos that offices build ("alerts" of a security team's alert
        // console): there, a word that would signal operations is what the app is about.
        let built: Vec<bool> = (0..repo_names.len())
            .map(|repo| {
                offices.iter().any(|office| {
                    office.repos.contains(&repo) && owned.iter().any(|&concept| office.mainly_does(concept))
                })
            })
            .collect();
        let app_words = repo_words
            .iter()
            .filter(|(_, repos)| repos.iter().all(|&(repo, _)| built[repo]))
            .map(|(word, _)| word.clone())
            .collect();
        Self {
            repo_names,
            offices,
            app_words,
            repo_words,
            repo_phrases,
            role_words,
            office_channels,
            repo_channels,
            min_confidence: config.router.min_confidence as f32,
        }
    }

    pub fn route(&self, request: &RouteRequest<'_>) -> Route {
        let channel = request.channel.trim_start_matches('#').to_lowercase();
        let text = Tokens::new(request.text);
        let mentioned_office = self.mentioned_office(request.text);
        let named_repo = self.named_repo(request.text);

        // The thread already has an office: follow-ups stay with it unless redirected.
        if let (None, Some(office)) = (&mentioned_office, request.thread_office)
            && let Some(index) = self.offices.iter().position(|o| o.name == office)
        {
            let repo_scores = self.repo_scores(&text, &[], &channel, named_repo);
            let repo = match (self.best_repo(&repo_scores, &self.offices[index].repos), request.thread_repo) {
                (Some(repo), _) => RepoChoice::Named(self.repo_names[repo].clone()),
                (None, Some(thread_repo)) => RepoChoice::Named(thread_repo.to_owned()),
                (None, None) => self.fallback_repo(index),
            };
            return Route {
                repo,
                office: Some(office.to_owned()),
                confidence: 1.0,
                alternatives: vec![],
                stage: Stage::Thread,
            };
        }

        let (text, context) = self.reading(request, text);
        let repo_scores = self.repo_scores(&text, &context, &channel, named_repo);
        let office_scores = self.office_scores(&text, &context, &channel, &repo_scores, request.channel_picks);

        let mut ranked: Vec<usize> = (0..self.offices.len()).collect();
        ranked.sort_by(|&a, &b| office_scores[b].total_cmp(&office_scores[a]).then(a.cmp(&b)));
        let alternatives: Vec<String> =
            ranked.iter().filter(|&&i| office_scores[i] > 0.0).take(4).map(|&i| self.offices[i].name.clone()).collect();

        if let Some(index) = mentioned_office {
            let repo = self.decide_repo(index, &repo_scores);
            let office = Some(self.offices[index].name.clone());
            return Route { repo, office, confidence: 1.0, alternatives, stage: Stage::Mention };
        }

        let confidence = self.confidence(&office_scores, &ranked);
        let Some(&top) = ranked.first().filter(|_| confidence >= self.min_confidence) else {
            let repo = match self.best_repo(&repo_scores, &(0..self.repo_names.len()).collect::<Vec<_>>()) {
                Some(repo) if repo_scores[repo] >= 2.0 * weights::REPO_EVIDENCE => {
                    RepoChoice::Named(self.repo_names[repo].clone())
                }
                _ => RepoChoice::Unknown,
            };
            return Route { repo, office: None, confidence: confidence as f64, alternatives, stage: Stage::Scorer };
        };
        let office = &self.offices[top];
        let repo = if office.needs_repo {
            // An office that keeps several repos but also networks, devices and accounts
            // asks which repo only for work on one: the Wi-Fi or a password is in none.
            match self.decide_repo(top, &repo_scores) {
                RepoChoice::Unknown if text::names_the_estate(&text.all) && !self.changes_things(&text, &context) => {
                    RepoChoice::None
                }
                // A fault in estate no repo keeps ("the printer at the Hove branch won't
                // print order of service sheets") is in none, whatever else it names.
                RepoChoice::Named(_) | RepoChoice::Unknown if self.opens_on_the_estate(&text) => RepoChoice::None,
                // So is a laptop or a login someone needs ("the new arranger in Brighton
                // needs a laptop"), whoever the repos' words say they are.
                RepoChoice::Named(_) | RepoChoice::Unknown if self.provides_estate_no_repo_keeps(&text) => {
                    RepoChoice::None
                }
                choice => choice,
            }
        } else {
            // An office that can work without a repo names one only for work that
            // changes what the repo holds, and only on clear evidence of which.
            // A fault reported in it ("search ranks sold-out listings first") is such work.
            let clear = office.repos.iter().any(|&r| repo_scores[r] >= 2.0 * weights::REPO_EVIDENCE);
            if clear && (self.changes_things(&text, &context) || self.reports_on_a_subject(&text, &repo_scores)) {
                self.decide_repo(top, &repo_scores)
            } else {
                self.fallback_repo(top)
            }
        };
        Route {
            repo,
            office: Some(self.offices[top].name.clone()),
            confidence: confidence as f64,
            alternatives,
            stage: Stage::Scorer,
        }
    }

    /// Why a message routes where it does: the work it signals and every score.
    pub fn explain(&self, request: &RouteRequest<'_>) -> Explanation {
        let channel = request.channel.trim_start_matches('#').to_lowercase();
        let (text, context) = self.reading(request, Tokens::new(request.text));
        let repo_scores = self.repo_scores(&text, &context, &channel, self.named_repo(request.text));
        let office_scores = self.office_scores(&text, &context, &channel, &repo_scores, request.channel_picks);
        let lexicon = &*LEXICON_TABLE;
        let round = |v: f32| (v * 100.0).round() / 100.0;
        let sorted = |names: &mut dyn Iterator<Item = (String, f32)>| {
            let mut all: Vec<(String, f32)> = names.filter(|(_, s)| *s > 0.0).map(|(n, s)| (n, round(s))).collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1));
            all
        };
        Explanation {
            concepts: sorted(&mut lexicon.concepts.iter().cloned().zip(lexicon.concepts(&text.all))),
            offices: sorted(&mut self.offices.iter().map(|o| o.name.clone()).zip(office_scores)),
            repos: sorted(&mut self.repo_names.iter().cloned().zip(repo_scores)),
        }
    }

    /// The message and its thread as the scorer reads them. A follow-up that names no
    /// subject of its own is about what the thread opened with. If it says nothing else
    /// either ("seeing this too, can you take it?"), the thread's first message is read
    /// as the request and the rest (this message too) as its context; if it asks for a
    /// kind of work ("still wrong today, can someone fix it?"), the two are read as one
    /// request, the follow-up first (its verb is the request's).
    fn reading(&self, request: &RouteRequest<'_>, text: Tokens) -> (Tokens, Vec<Tokens>) {
        let Some((opening, rest)) = request.thread.split_first() else {
            return (text, Vec::new());
        };
        let mut own_subject = vec![0.0f32; self.repo_names.len()];
        self.add_repo_evidence(&mut own_subject, &text, 1.0);
        if own_subject.iter().any(|&s| s >= weights::REPO_EVIDENCE) {
            return (text, request.thread.iter().map(|m| Tokens::new(m)).collect());
        }
        let context: Vec<Tokens> = rest.iter().map(|m| Tokens::new(m)).collect();
        // "third customer reporting this today", "more complaints today": more of the
        // same is no kind of work.
        let own_words: Vec<String> = (0..text.all.len())
            .map(|at| {
                let word = &text.all[at];
                let more_of_the_same = text::names_people_affected(&text.all, at)
                    || matches!(
                        word.as_str(),
                        "report" | "reporting" | "reported" | "complaint" | "complain" | "ticket"
                    );
                if more_of_the_same { String::new() } else { word.clone() }
            })
            .collect();
        if names_a_kind_of_work(&LEXICON_TABLE.concepts(&own_words)) {
            // "still showing today, can someone fix it?": the kind of work is the
            // follow-up's, what it is about the opening's; read as one request.
            (Tokens::new(&format!("{} {opening}", request.text)), context)
        } else {
            let follow_up = Tokens::from_stems(own_words, text.asks);
            let context = context.into_iter().chain(std::iter::once(follow_up)).collect();
            (Tokens::new(opening), context)
        }
    }

    fn repo_scores(&self, text: &Tokens, context: &[Tokens], channel: &str, named: Option<usize>) -> Vec<f32> {
        let mut scores = vec![0.0f32; self.repo_names.len()];
        // "can you check?", "could you check this please": a request's verb with nothing
        // to do it to names no subject, even where a hint says "DBS check".
        let verb = self
            .lead_position(text)
            .filter(|&at| text::is_request_verb(&text.all[at]) && text.content.iter().all(|c| *c == text.all[at]));
        match verb {
            Some(at) => {
                let mut all = text.all.clone();
                all[at].clear();
                self.add_repo_evidence(&mut scores, &Tokens::from_stems(all, text.asks), 1.0);
            }
            None => self.add_repo_evidence(&mut scores, text, 1.0),
        }
        // A statement's grammatical subject, the words it opens with up to its first
        // word that is not the workspace's, says what it is about ("the course editor
        // crashes when a lesson has more than 40 exercises").
        // A request verb's stem first is the subject when no object follows it
        // ("cancellations are not refunding …" at a repo whose hint is "cancellation").
        let opens_with_a_verb = self.lead_position(text).is_some_and(|at| {
            let word = &text.all[at];
            let a_subject = text::is_request_verb(word)
                && self.repo_words.contains_key(word)
                && !text.all.get(at + 1).is_some_and(|next| text::is_determiner(next));
            text::opens_a_request(word) && !a_subject
        });
        if !text.asks && !opens_with_a_verb {
            let opening: Vec<String> = text
                .all
                .iter()
                .skip_while(|w| text::is_stopword(w))
                .take_while(|w| self.repo_words.contains_key(*w) || text::is_stopword(w))
                .cloned()
                .collect();
            self.add_repo_evidence(&mut scores, &Tokens::from_stems(opening, false), weights::SUBJECT_OPENING);
        }
        for tokens in context {
            self.add_repo_evidence(&mut scores, tokens, weights::CONTEXT);
        }
        for &repo in self.repo_channels.get(channel).map_or(&[][..], Vec::as_slice) {
            scores[repo] += weights::REPO_CHANNEL;
        }
        if let Some(repo) = named {
            scores[repo] += weights::REPO_NAME_MENTION;
        }
        scores
    }

    fn add_repo_evidence(&self, scores: &mut [f32], tokens: &Tokens, factor: f32) {
        let lexicon = &*LEXICON_TABLE;
        for word in &tokens.content {
            if let Some(hits) = self.repo_words.get(word) {
                for &(repo, weight) in hits {
                    scores[repo] += factor * weight;
                }
            }
            for synonym in lexicon.synonyms(word) {
                if tokens.content.contains(synonym) {
                    continue;
                }
                for &(repo, weight) in self.repo_words.get(synonym).map_or(&[][..], Vec::as_slice) {
                    scores[repo] += factor * weights::SYNONYM * weight;
                }
            }
        }
        // A config's one word written as two ("pub/sub" for `pubsub`, "sign up" for
        // `signup`).
        for pair in tokens.all.windows(2) {
            let joined = format!("{}{}", pair[0], pair[1]);
            if !tokens.content.contains(&joined) {
                for &(repo, weight) in self.repo_words.get(&joined).map_or(&[][..], Vec::as_slice) {
                    scores[repo] += factor * weight;
                }
            }
        }
        for (i, word) in tokens.all.iter().enumerate() {
            for (repo, phrase) in self.repo_phrases.get(word).map_or(&[][..], Vec::as_slice) {
                if tokens.all[i..].starts_with(phrase) {
                    scores[*repo] += factor * weights::HINT_PHRASE;
                }
            }
        }
    }

    fn office_scores(
        &self,
        text: &Tokens,
        context: &[Tokens],
        channel: &str,
        repo_scores: &[f32],
        picks: &[(String, u32)],
    ) -> Vec<f32> {
        let lexicon = &*LEXICON_TABLE;
        let counted = text::without_what_is_counted(&text.all);
        let mut concepts = lexicon.concepts(&counted);
        let operations_said = lexicon.concept_id("operate").map(|operate| concepts[operate]);
        // An imperative's verb ("write the API docs for the quote endpoint") says what
        // kind of work is asked for; the words after it may name another's subject.
        if let Some(lead) = self.lead_word(text) {
            add_concepts(&mut concepts, std::slice::from_ref(lead), weights::LEAD_VERB);
        }
        // So does a question's opening ("how many customers used …"): it says what kind
        // of answer is wanted; the words after it name what it is about.
        if text.asks {
            add_concepts(&mut concepts, &text.all[..text.all.len().min(2)], weights::LEAD_VERB);
            if let Some(analyze) = lexicon.concept_id("analyze") {
                concepts[analyze] *= 1.5;
            }
        }
        for tokens in context {
            add_concepts(&mut concepts, &tokens.all, weights::CONTEXT);
        }
        // "a customer says her son reacted to the croissant", "a patient says his inhaler
        // never arrived, can someone reply": someone's words, passed on, ask for an
        // answer, whatever they are about ("customer" or "patient" may be the name of the
        // app they use).
        let support = lexicon.concept_id("support").filter(|_| text::relays_what_someone_said(&text.all));
        if let Some(support) = support {
            concepts[support] = concepts[support].max(1.0);
            // "… says her case arrived with two broken bottles, please reply and arrange a
            // replacement": what they said broke is what to answer them about; the work
            // asked for is the answer. So is what they said was down or wrong with their
            // certificate ("certificate" is also the operators' word for TLS).
            if text::asks_for_a_reply(&text.all) {
                for concept in OWNED_CONCEPTS.iter().chain(&["operate"]).filter_map(|c| lexicon.concept_id(c)) {
                    concepts[concept] = 0.0;
                }
                // Passed on and asked to be answered: as clear a request as support gets.
                concepts[support] = concepts[support].max(weights::RELAYED_FOR_AN_ANSWER);
            }
        }
        let strongest_repo = repo_scores.iter().copied().fold(0.0f32, f32::max);
        // In a statement about a clear subject, the subject's own words ("tickets" at a
        // ticket seller, "articles" at a publisher, "customers" of the customer app) say
        // what it is about, not what work is asked for: the kinds of work are read from
        // the other words, and a statement that names none is a bug report. Of the
        // subject's words, those of engineering kinds still count: "the CDN" points at
        // whoever operates it.
        if self.states_about_a_subject(text, repo_scores) {
            // Nor does when it happened ("were charged the wrong rate yesterday", "removed
            // last month"): in a statement that dates the fault, not a period to analyse.
            // Nor do the people it happened to ("… when customers sign in"): a report
            // names who is affected, and only passing on what they said asks for an answer.
            let asked: Vec<String> = self
                .without_subject_words(text)
                .into_iter()
                .enumerate()
                .map(|(at, w)| {
                    if text::is_time_word(&w) || text::names_people_affected(&text.all, at) { String::new() } else { w }
                })
                .collect();
            let mut asked_of_the_subject = lexicon.concepts(&asked);
            // Nor is a kind of work that is no office's main work: it is what the report is
            // about ("quotes on the website show prices without VAT" where no office is
            // mainly finance's), not work anyone here is asked for.
            for (concept, said) in asked_of_the_subject.iter_mut().enumerate() {
                if !self.offices.iter().any(|office| office.mainly_does(concept)) {
                    *said = 0.0;
                }
            }
            if let Some(support) = support {
                asked_of_the_subject[support] = asked_of_the_subject[support].max(concepts[support]);
            }
            for tokens in context {
                add_concepts(&mut asked_of_the_subject, &tokens.all, weights::CONTEXT);
            }
            let code: Vec<usize> = CODE_CONCEPTS.iter().filter_map(|c| lexicon.concept_id(c)).collect();
            for (concept, said) in concepts.iter_mut().enumerate() {
                if !code.contains(&concept) {
                    *said = asked_of_the_subject[concept];
                }
            }
            // Only where the subject is operated, though: "the triage queue shows closed
            // alerts" of an alert console its developers build is about the app's alerts.
            if let (Some(operate), Some(said)) = (lexicon.concept_id("operate"), operations_said) {
                let outside_apps: Vec<String> = counted
                    .iter()
                    .map(|w| if self.app_words.contains(w) { String::new() } else { w.clone() })
                    .collect();
                let of_apps = said - lexicon.concepts(&outside_apps)[operate];
                concepts[operate] = (concepts[operate] - of_apps.max(0.0)).max(0.0);
            }
            if !names_a_kind_of_work(&asked_of_the_subject)
                && let Some(fix) = lexicon.concept_id("fix")
            {
                concepts[fix] = concepts[fix].max(weights::REPORTED_FAULT);
            }
            // A fault of an operation ("the deploy of the route planner has been stuck
            // for an hour", "last night's backups failed") is the operators' to mend, not
            // a fault in the subject's code: what the statement is about is an operation.
            // So is a fault said in operations' words at least as much as in a defect's
            // ("the portal is down, people get a blank page").
            if let (Some(fix), Some(operate)) = (lexicon.concept_id("fix"), lexicon.concept_id("operate"))
                && (self.opens_on_an_operation(text, repo_scores)
                    || (asked_of_the_subject[operate] > 0.0 && asked_of_the_subject[operate] >= concepts[fix]))
            {
                operators_work(&mut concepts, &["fix"]);
            }
        }
        if self.opens_on_the_estate(text) {
            operators_work(&mut concepts, &["fix"]);
            // "the camera at site 3 entrance is offline": a statement that opens on a
            // device no repo keeps reports a fault of it, in whatever words.
            if !names_a_kind_of_work(&concepts)
                && let Some(operate) = lexicon.concept_id("operate")
            {
                concepts[operate] = weights::REPORTED_FAULT;
            }
        }
        // Needing a laptop or a login is asking for one to be set up, not for a feature,
        // nor a report of a fault in the repo the people who need it work on.
        // It is operations' work however it is worded ("needs a laptop" names no kind of
        // work).
        if !text::needed_estate(&text.all).is_empty() {
            operators_work(&mut concepts, OWNED_CONCEPTS);
            if self.provides_estate_no_repo_keeps(text)
                && let Some(operate) = LEXICON_TABLE.concept_id("operate")
            {
                concepts[operate] = concepts[operate].max(weights::NEEDED_ESTATE);
            }
        }
        if concepts.iter().sum::<f32>() < weights::DEFAULT_CODE_WORK && strongest_repo >= weights::REPO_EVIDENCE {
            for concept in ["build", "fix"].iter().filter_map(|c| lexicon.concept_id(c)) {
                concepts[concept] = concepts[concept].max(weights::DEFAULT_CODE_WORK);
            }
        }
        // Changing a repo's code ("fix", "build") is work for whoever keeps that repo.
        // When the subject is clear, an office takes such work in proportion to how much
        // of the subject it serves (one that serves none of it is no candidate), and the
        // subject's keepers by how strongly their roles say this kind of work, against
        // each other: "Web and app engineer" needs to say "fixes bugs" only if another
        // keeper does. Where no keeper's role says it, the keepers' roles that say the
        // other kind of code work (a "Backend engineer" who builds also fixes) take it,
        // and where none says either (an SRE office keeping the CI), the engineering
        // keepers. Operating, testing and securing cross repos and keep to the role's
        // words.
        // Per owned kind of work, what each office takes of it (only on a clear subject).
        let mut owned_shares: Vec<(usize, Vec<f32>)> = Vec::new();
        if subject_is_clear(repo_scores) {
            let keeps: Vec<f32> = self
                .offices
                .iter()
                .map(|office| office.repos.iter().map(|&r| repo_scores[r]).fold(0.0f32, f32::max) / strongest_repo)
                .collect();
            let strongest_keeper = |says: &dyn Fn(&OfficeProfile) -> f32| {
                self.offices.iter().zip(&keeps).filter(|(_, k)| **k >= 1.0).map(|(o, _)| says(o)).fold(0.0, f32::max)
            };
            let owned: Vec<usize> = OWNED_CONCEPTS.iter().filter_map(|c| lexicon.concept_id(c)).collect();
            let code_work = |office: &OfficeProfile| owned.iter().map(|&c| office.concepts[c]).fold(0.0f32, f32::max);
            for &concept in &owned {
                let this_kind = |office: &OfficeProfile| office.concepts[concept] * office.changes_code;
                let says: &dyn Fn(&OfficeProfile) -> f32 =
                    if strongest_keeper(&this_kind) > 0.0 { &this_kind } else { &code_work };
                let strongest = strongest_keeper(says);
                let share = |office: &OfficeProfile| {
                    if strongest > 0.0 {
                        (says(office) / strongest).min(1.0)
                    } else if office.needs_repo {
                        1.0
                    } else {
                        0.0
                    }
                };
                owned_shares.push((concept, self.offices.iter().zip(&keeps).map(|(o, k)| share(o) * k).collect()));
            }
        }
        let kind_of_work: Vec<f32> = self
            .offices
            .iter()
            .enumerate()
            .map(|(index, office)| {
                let taken = |concept: usize, role: f32| match owned_shares.iter().find(|(c, _)| *c == concept) {
                    Some((_, shares)) if !office.repos.is_empty() => shares[index],
                    _ => role,
                };
                office
                    .concepts
                    .iter()
                    .zip(&concepts)
                    .enumerate()
                    .map(|(c, (&role, message))| taken(c, role) * message)
                    .sum()
            })
            .collect();
        let mut scores = kind_of_work.clone();
        let mut add_role_words = |tokens: &Tokens, factor: f32| {
            for word in &tokens.content {
                for &(office, weight) in self.role_words.get(word).map_or(&[][..], Vec::as_slice) {
                    scores[office] += factor * weights::ROLE_WORD * weight;
                }
            }
        };
        add_role_words(text, 1.0);
        for tokens in context {
            add_role_words(tokens, weights::CONTEXT);
        }
        // The channel is a prior for the work people usually bring there. A question
        // that clearly asks for figures ("which accounts booked fewer jobs this month
        // than last?") where the channel's office does little analysis, next to an
        // office that does it, is brought to the channel, not to that office. (Other
        // kinds of work are not read this way: "customer" signals support as strongly,
        // and documentation asked in a developers' channel is often theirs to write.)
        let asked_elsewhere = lexicon.concept_id("analyze").filter(|&analyze| text.asks && concepts[analyze] >= 1.0);
        for &office in self.office_channels.get(channel).map_or(&[][..], Vec::as_slice) {
            let does_little_of = |concept: usize| {
                let most = self.offices.iter().map(|o| o.concepts[concept]).fold(0.0f32, f32::max);
                self.offices[office].concepts[concept] < 0.5 * most
            };
            let prior = if asked_elsewhere.is_some_and(does_little_of) {
                weights::OFFICE_CHANNEL_OTHER_WORK
            } else {
                weights::OFFICE_CHANNEL
            };
            scores[office] += prior;
        }
        let message_has_work = kind_of_work.iter().any(|&k| k > 0.0);
        if strongest_repo >= weights::REPO_EVIDENCE {
            for (index, office) in self.offices.iter().enumerate() {
                // Serving the subject counts only for offices that do this kind of work.
                if message_has_work && kind_of_work[index] == 0.0 {
                    continue;
                }
                let served = office.repos.iter().map(|&r| repo_scores[r]).fold(0.0f32, f32::max);
                scores[index] += weights::SERVES_SUBJECT * (served / strongest_repo);
            }
        }
        for (name, count) in picks {
            if let Some(index) = self.offices.iter().position(|o| &o.name == name) {
                scores[index] += weights::PICKS * (1.0 + *count as f32).log2();
            }
        }
        scores
    }

    /// Whether the message is a statement about a clear subject that asks for no kind of
    /// work ("the invoice PDF shows last month's tariff name", "miles haven't posted since
    /// the 12th"): neither a question nor a request, which is how most bug reports read.
    fn reports_on_a_subject(&self, text: &Tokens, repo_scores: &[f32]) -> bool {
        self.states_about_a_subject(text, repo_scores)
            && !names_a_kind_of_work(&LEXICON_TABLE.concepts(&self.without_subject_words(text)))
    }

    /// Whether the message states something about a clear subject: it neither asks a
    /// question nor opens with a request.
    fn states_about_a_subject(&self, text: &Tokens, repo_scores: &[f32]) -> bool {
        let requests_work = self.lead_position(text).is_some_and(|at| {
            let word = &text.all[at];
            // A subject word first is the subject ("customers on the 50GB bundle are
            // charged…", "booking fees charged twice"), unless what follows is its object
            // ("publish the live blog", "book the room").
            let subject_first = self.repo_words.contains_key(word)
                && !text.all.get(at + 1).is_some_and(|next| text::is_determiner(next));
            !subject_first && text::opens_a_request(word)
        });
        !text.asks && !requests_work && subject_is_clear(repo_scores)
    }

    /// Whether a statement's first word of substance (past articles and when it
    /// happened) is an operation or a piece of running infrastructure ("deploy",
    /// "backups", "cluster"), rather than a thing the subject's repo keeps ("alerts" of
    /// a repo of sensor gateways and the alerts they raise).
    fn opens_on_an_operation(&self, text: &Tokens, repo_scores: &[f32]) -> bool {
        let lexicon = &*LEXICON_TABLE;
        let Some(first) = text.all.iter().find(|w| !text::is_stopword(w) && !text::is_time_word(w)) else {
            return false;
        };
        let subject = (0..repo_scores.len()).max_by(|&a, &b| repo_scores[a].total_cmp(&repo_scores[b]));
        let the_subjects_own =
            self.repo_words.get(first).is_some_and(|hits| hits.iter().any(|(r, _)| Some(*r) == subject));
        let operate = lexicon.concept_id("operate");
        !the_subjects_own
            && operate.is_some_and(|c| lexicon.concepts(std::slice::from_ref(first))[c] >= weights::OPERATION_WORD)
    }

    /// Whether a statement opens on a device or a network no repo keeps ("the printer at
    /// the Hove branch won't print", "card readers in the tasting room keep dropping
    /// off"): its fault is the operators' to mend, not a fault in code.
    fn opens_on_the_estate(&self, text: &Tokens) -> bool {
        // The first two words that say what ("the studio 2 computer": a number only tells
        // which one).
        let opening: Vec<usize> = (0..text.all.len())
            .filter(|&at| {
                let word = &text.all[at];
                !text::is_stopword(word) && !text::is_time_word(word) && !word.chars().all(|c| c.is_ascii_digit())
            })
            .take(2)
            .collect();
        // "fix the printer" asks for work; "engineers' tablets won't connect" opens on the
        // people whose tablets they are, not on a verb.
        let requests_work = self.lead_position(text).is_some_and(|at| {
            let lead = &text.all[at];
            text::is_request_verb(lead)
                || (text::opens_a_request(lead) && text.all.get(at + 1).is_some_and(|next| text::is_determiner(next)))
        });
        !text.asks
            && !requests_work
            && text::device_positions(&text.all)
                .into_iter()
                .any(|at| opening.contains(&at) && !self.a_repo_keeps(&text.all[at]))
    }

    /// Whether the message asks for devices or logins for people ("needs a laptop and an
    /// email account", "tablets need a new login each") that no repo keeps.
    fn provides_estate_no_repo_keeps(&self, text: &Tokens) -> bool {
        let things = text::needed_estate(&text.all);
        // "needs a pc and accounts": a device no repo keeps is enough (the accounts may be
        // the app's word for its fans' accounts).
        let unkept = |at: &usize| !self.a_repo_keeps(&text.all[*at]);
        (!things.is_empty() && things.iter().all(unkept))
            || text::device_positions(&text.all).iter().any(|at| things.contains(at) && unkept(at))
    }

    /// Whether a repo's description or hints name this thing, or a word for it ("the
    /// resort network" keeps the Wi-Fi).
    fn a_repo_keeps(&self, word: &str) -> bool {
        self.repo_words.contains_key(word)
            || LEXICON_TABLE.synonyms(word).iter().any(|synonym| self.repo_words.contains_key(synonym.as_str()))
    }

    /// The message's words with those of the repos' names, descriptions and hints
    /// blanked (kept in place, so that no phrase forms across a gap).
    fn without_subject_words(&self, text: &Tokens) -> Vec<String> {
        text.all.iter().map(|w| if self.repo_words.contains_key(w) { String::new() } else { w.clone() }).collect()
    }

    /// The message's first word after courtesies and an office's name: its verb, when
    /// the message is an imperative.
    fn lead_word<'t>(&self, text: &'t Tokens) -> Option<&'t String> {
        self.lead_position(text).map(|at| &text.all[at])
    }

    /// Where [`Self::lead_word`] stands in the message.
    fn lead_position(&self, text: &Tokens) -> Option<usize> {
        const COURTESIES: &[&str] = &[
            "pleas", "pls", "can", "could", "would", "you", "nova", "hey", "hi", "ok", "so", "kind", "just", "also",
            "quick", "now",
        ];
        text.all.iter().position(|w| !COURTESIES.contains(&w.as_str()) && !self.offices.iter().any(|o| o.name == *w))
    }

    /// The top office's share against the next two and "none of them".
    fn confidence(&self, scores: &[f32], ranked: &[usize]) -> f32 {
        let Some(&top) = ranked.first() else { return 0.0 };
        let t = weights::TEMPERATURE;
        let rivals: f32 = ranked.iter().take(3).map(|&i| (scores[i] / t).exp()).sum();
        let total = rivals + (weights::UNKNOWN / t).exp();
        (scores[top] / t).exp() / total
    }

    /// Whether the message asks for work that changes what a repo holds, more than for
    /// answers, replies or research.
    fn changes_things(&self, text: &Tokens, context: &[Tokens]) -> bool {
        let lexicon = &*LEXICON_TABLE;
        let mut concepts = lexicon.concepts(&text.all);
        for tokens in context {
            add_concepts(&mut concepts, &tokens.all, weights::CONTEXT);
        }
        let change: f32 = CHANGE_CONCEPTS.iter().filter_map(|c| lexicon.concept_id(c)).map(|c| concepts[c]).sum();
        let other: f32 = concepts.iter().sum::<f32>() - change;
        change > 0.0 && change >= other
    }

    fn best_repo(&self, scores: &[f32], candidates: &[usize]) -> Option<usize> {
        candidates
            .iter()
            .copied()
            .filter(|&r| scores[r] >= weights::REPO_EVIDENCE)
            .max_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)))
    }

    fn decide_repo(&self, office: usize, scores: &[f32]) -> RepoChoice {
        match self.best_repo(scores, &self.offices[office].repos) {
            Some(repo) => RepoChoice::Named(self.repo_names[repo].clone()),
            None => self.fallback_repo(office),
        }
    }

    /// No repo evidence: work that needs no repo gets `none`; a one-repo office, its repo.
    fn fallback_repo(&self, office: usize) -> RepoChoice {
        let profile = &self.offices[office];
        match profile.repos.as_slice() {
            [] => RepoChoice::None,
            _ if !profile.needs_repo => RepoChoice::None,
            [only] => RepoChoice::Named(self.repo_names[*only].clone()),
            _ => RepoChoice::Unknown,
        }
    }

    /// Whether `text` names an office with `@` (it is addressed to that office).
    pub fn addresses_an_office(&self, text: &str) -> bool {
        self.mentioned_office(text).is_some()
    }

    fn mentioned_office(&self, text: &str) -> Option<usize> {
        text.split_whitespace()
            .filter_map(|w| w.strip_prefix('@'))
            .map(|w| w.trim_end_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
            .find_map(|w| self.offices.iter().position(|o| o.name == w))
    }

    /// `repo:name`, or the repo's full name as a word of the text.
    fn named_repo(&self, text: &str) -> Option<usize> {
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.' || c == ':'))
            .map(|w| w.trim_matches(|c: char| c == '.' || c == ':'))
            .collect();
        // A repo named like a common word ("it" for the IT team's repo) is named only as
        // `repo:it`: "it's broken" names no repo.
        self.repo_names
            .iter()
            .position(|name| words.iter().any(|w| w.strip_prefix("repo:") == Some(name.as_str())))
            .or_else(|| {
                self.repo_names
                    .iter()
                    .position(|name| !text::is_stopword(&text::stem(name)) && words.contains(&name.as_str()))
            })
    }
}

/// Whether one repo is clearly what the message is about: strong evidence for it, or a
/// hint's worth and twice any other's (a hint that another repo's description mentions
/// in passing: "matchmaking" of the game services, beside "matchmaking screens"). A word
/// of one description alone ("free" of "free tickets") makes no subject clear.
fn subject_is_clear(repo_scores: &[f32]) -> bool {
    let (mut strongest, mut runner_up) = (0.0f32, 0.0f32);
    for &score in repo_scores {
        if score > strongest {
            runner_up = strongest;
            strongest = score;
        } else if score > runner_up {
            runner_up = score;
        }
    }
    strongest >= 2.0 * weights::REPO_EVIDENCE || (strongest >= weights::REPO_HINT_WORD && strongest >= 2.0 * runner_up)
}

/// Whether some kind of work is signalled clearly, not only in passing.
fn names_a_kind_of_work(concepts: &[f32]) -> bool {
    concepts.iter().any(|&c| c >= 1.0)
}

/// Adds the kinds of work `tokens` signal, scaled by `factor`, to `concepts`.
fn add_concepts(concepts: &mut [f32], tokens: &[String], factor: f32) {
    for (total, extra) in concepts.iter_mut().zip(LEXICON_TABLE.concepts(tokens)) {
        *total += factor * extra;
    }
}

#[cfg(test)]
mod tests;
