//! From chat text to what the router compares: normalized, stemmed tokens, and the
//! work concepts they signal.

use std::collections::HashMap;
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

use super::lexicon::{LEXICON, SYNONYMS};

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Words too common to say anything about a repo or an office.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "before",
    "being", "but", "by", "can", "could", "did", "do", "doe", "does", "doing", "for", "from", "get", "go", "goe",
    "got", "had", "has", "have", "he", "her", "here", "hi", "him", "his", "how", "i", "if", "in", "into", "is", "it",
    "its", "just", "let", "like", "look", "me", "mine", "more", "most", "my", "new", "no", "not", "now", "of", "on",
    "onc", "one", "or", "our", "out", "over", "pleas", "pls", "same", "see", "she", "so", "some", "someon", "someth",
    "still", "than", "thank", "thanks", "that", "the", "their", "them", "then", "there", "these", "they", "thing",
    "this", "those", "to", "too", "two", "up", "us", "use", "use", "very", "was", "we", "were", "what", "when",
    "where", "which", "while", "who", "why", "will", "with", "would", "yes", "yet", "you", "your", "ok", "okay", "hey",
    "hello", "question", "today", "tomorrow", "week", "month", "way", "show", "take", "make", "need", "want", "give",
    "put", "keep", "say", "tell", "ask", "know", "think", "seem", "tri", "come", "anyon", "everyon", "anyth",
    "everyth", "earlier", "later", "back", "call", "find", "work", "happen", "sure", "good", "bad", "right", "wrong",
    "still",
];

/// Words whose Snowball stem is a common word's stem, given stems of their own: a
/// lexicon trigger must not fire on its everyday look-alike ("conversions" on
/// "conversation", "ads" on "added", "requirements" on "required", "monthly" on
/// "months"). Found by stemming an English word list against the lexicon.
const STEM_EXCEPTIONS: &[(&str, &str)] = &[
    ("production", "prod"),
    ("productions", "prod"),
    ("accounting", "accounting"),
    ("accountant", "accountant"),
    ("accountants", "accountant"),
    ("conversion", "conversion"),
    ("conversions", "conversion"),
    ("experiment", "experiment"),
    ("experiments", "experiment"),
    ("observability", "observability"),
    ("ads", "ads"),
    ("leads", "leads"),
    ("deals", "deals"),
    ("firing", "firing"),
    ("staging", "staging"),
    ("options", "options"),
    ("alternatives", "alternatives"),
    ("setting", "setting"),
    ("settings", "setting"),
    ("reporting", "reporting"),
    ("testing", "testing"),
    // Applying vendors' patches is operations; "patch the bug" is a fix.
    ("patching", "patching"),
    // A regatta or a TV programme, not a programmer's program.
    ("programme", "programme"),
    ("programmes", "programme"),
    // Copies of a book or a disc, not a text's copy.
    ("copies", "copies"),
    // To summarise is to write a summary: one stem for the verb and the noun.
    ("summarise", "summari"),
    ("summarize", "summari"),
    ("summarised", "summari"),
    ("summarized", "summari"),
    ("summarising", "summari"),
    ("summarizing", "summari"),
    ("daily", "daily"),
    ("weekly", "weekly"),
    ("monthly", "monthly"),
    ("quarterly", "quarterly"),
    ("expense", "expense"),
    ("expenses", "expense"),
    ("benefits", "benefits"),
    ("requirement", "requirement"),
    ("requirements", "requirement"),
    ("specification", "specification"),
    ("specifications", "specification"),
    ("proposal", "proposal"),
    ("proposals", "proposal"),
    ("exception", "exception"),
    ("exceptions", "exception"),
    ("engine", "engine"),
    ("engines", "engine"),
    ("dependency", "dependency"),
    ("dependencies", "dependency"),
    ("illustration", "illustration"),
    ("illustrations", "illustration"),
];

pub fn stem(word: &str) -> String {
    match STEM_EXCEPTIONS.iter().find(|(surface, _)| *surface == word) {
        Some((_, fixed)) => (*fixed).to_owned(),
        None => STEMMER.stem(word).into_owned(),
    }
}

/// Words that say when: "yesterday", "last month", "on Tuesday", "in March".
const WHEN: &[&str] = &[
    "yesterday",
    "today",
    "tonight",
    "tomorrow",
    "morning",
    "afternoon",
    "evening",
    "night",
    "overnight",
    "last",
    "this",
    "past",
    "week",
    "weeks",
    "month",
    "months",
    "year",
    "years",
    "quarter",
    "weekend",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "daily",
    "weekly",
    "monthly",
    "since",
    "ago",
];

/// [`WHEN`] as written and as stemmed ("morn", "januari"): tokens are stems.
static WHEN_WORDS: LazyLock<Vec<String>> =
    LazyLock::new(|| WHEN.iter().flat_map(|when| [(*when).to_owned(), stem(when)]).collect());

pub fn is_time_word(word: &str) -> bool {
    WHEN_WORDS.iter().any(|when| when == word)
}

/// What an IT office looks after besides repositories: networks, devices and people's
/// accounts.
const ESTATE: &[&str] = &[
    "wifi",
    "network",
    "broadband",
    "router",
    "laptop",
    "printer",
    "till",
    "phone",
    "radio",
    "headset",
    "account",
    "password",
    "vpn",
    "mailbox",
    "login",
    "tablet",
    "pc",
    "computer",
    "camera",
    "scanner",
    "tracker",
    "turnstile",
    "satellite",
    "card reader",
    "card machine",
    "card terminal",
];

/// Each estate thing as stems: one word, or two ("card reader").
static ESTATE_STEMS: LazyLock<Vec<Vec<String>>> =
    LazyLock::new(|| ESTATE.iter().map(|e| e.split(' ').map(stem).collect()).collect());

/// Where the message names things that live in no repository ("the Wi-Fi in the
/// Orangery drops out", "set up staff accounts", "card readers keep dropping off"): the
/// position of each such thing's last word.
pub fn estate_positions(all: &[String]) -> Vec<usize> {
    (0..all.len())
        .filter(|&at| ESTATE_STEMS.iter().any(|thing| all[..=at].ends_with(thing)) || a_kind_of_camera(&all[at]))
        .collect()
}

/// "webcam", "dashcam", "bodycam": a camera named by where it is.
fn a_kind_of_camera(word: &str) -> bool {
    word.len() >= 6 && word.ends_with("cam")
}

/// Whether a message names things that live in no repository.
pub fn names_the_estate(all: &[String]) -> bool {
    !estate_positions(all).is_empty()
}

/// The estate things a message says someone needs ("needs a laptop and an email
/// account", "tablets need a new login each"): their positions, within a few words after
/// "need" or "want" said of a thing ("want to reset their password in the app" asks for
/// a feature).
pub fn needed_estate(all: &[String]) -> Vec<usize> {
    let needs: Vec<usize> = (0..all.len())
        .filter(|&at| matches!(all[at].as_str(), "need" | "want") && all.get(at + 1).is_none_or(|next| next != "to"))
        .collect();
    estate_positions(all).into_iter().filter(|&at| needs.iter().any(|&need| need < at && at <= need + 7)).collect()
}

/// The estate's people's accounts: a login or a password that fails may be a fault in an
/// app's sign-in, where a printer that fails is the printer's.
static ACCOUNTS: LazyLock<[String; 4]> = LazyLock::new(|| ["account", "password", "mailbox", "login"].map(stem));

/// Where the message names a device or a network ("the printer", "card readers"), not
/// the "phone" of a phone number.
pub fn device_positions(all: &[String]) -> Vec<usize> {
    estate_positions(all)
        .into_iter()
        .filter(|&at| !ACCOUNTS.contains(&all[at]) && all.get(at + 1).is_none_or(|next| next != "number"))
        .collect()
}

/// The people a business serves, as a report names them: "customers are charged twice",
/// "members can't book". Who a fault affects, not a request to answer them.
const PEOPLE: &[&str] = &[
    "customer",
    "user",
    "client",
    "member",
    "player",
    "employee",
    "guest",
    "passenger",
    "patient",
    "tenant",
    "rider",
    "learner",
    "student",
    "resident",
    "people",
    "person",
    "shopper",
    "buyer",
    "seller",
    "subscriber",
    "visitor",
    "caller",
];

/// Verbs by which a message passes on what someone said: "a customer says …", "members
/// are asking why …".
const RELAYING: &[&str] = &["say", "said", "ask", "want", "wrote", "write", "call", "complain", "email", "messag"];

static PEOPLE_STEMS: LazyLock<Vec<String>> = LazyLock::new(|| PEOPLE.iter().map(|p| stem(p)).collect());
static RELAYING_STEMS: LazyLock<Vec<String>> = LazyLock::new(|| RELAYING.iter().map(|r| stem(r)).collect());

/// Whether a stemmed word names the people a business serves ("customers", "members").
pub fn is_people_word(word: &str) -> bool {
    PEOPLE_STEMS.iter().any(|p| p == word)
}

/// Whether the stemmed word at `at` names the people a business serves without passing
/// on what they said: "customers" in "customers are charged twice", not in "a customer
/// says she was charged twice" or "members are asking why".
pub fn names_people_affected(all: &[String], at: usize) -> bool {
    let relays = |i: usize| all.get(i).is_some_and(|w| RELAYING_STEMS.contains(w));
    let auxiliary = all.get(at + 1).is_some_and(|w| matches!(w.as_str(), "is" | "are" | "was" | "were" | "keep"));
    is_people_word(&all[at]) && !relays(at + 1) && !(auxiliary && relays(at + 2))
}

/// Whether a message opens by passing on what someone said: "a customer says her son
/// reacted to the croissant …", "a homeowner wants to know when …", "a boater on B14 says
/// he was invoiced twice". Someone named with an article, and within the next few words a
/// verb of saying: any, for the people a business serves; one only people use ("says
/// she", "wants to know", "is asking", "complained") for anyone else ("a popup says …" is
/// no person).
pub fn relays_what_someone_said(all: &[String]) -> bool {
    let Some((article, rest)) = all.split_first() else { return false };
    if !matches!(article.as_str(), "a" | "an" | "one" | "anoth" | "some") {
        return false;
    }
    let Some(who) = rest.first() else { return false };
    // Tokens are stems: "asked" is `ask`, "wants" `want`, "complained" `complain`.
    let said = |i: usize| -> bool {
        let word = |j: usize| rest.get(j).map_or("", String::as_str);
        match word(i) {
            "say" | "said" => matches!(word(i + 1), "he" | "she" | "they" | "her" | "his" | "their" | "that"),
            "want" => word(i + 1) == "to" && word(i + 2) == "know",
            "ask" | "complain" | "call" | "rang" | "email" => true,
            _ => false,
        }
    };
    let within = 1..rest.len().min(5);
    if is_people_word(who) {
        within.clone().any(|i| RELAYING_STEMS.contains(&rest[i]) || said(i))
    } else {
        within.into_iter().any(said)
    }
}

/// The words with what a question counts blanked: in "how many support tickets mention
/// the coupon field?" or "how many complaints did we get about damp?", the tickets and
/// the complaints are what is counted, not support work asked for.
pub fn without_what_is_counted(all: &[String]) -> Vec<String> {
    static COUNTING: LazyLock<[[String; 2]; 2]> =
        LazyLock::new(|| [["how", "many"].map(stem), ["number", "of"].map(stem)]);
    let mut words = all.to_vec();
    // "which engineers did the most visits in November?": the engineers are counted.
    if all.first().is_some_and(|w| w == "which")
        && let Some(counted) = words.get_mut(1)
    {
        counted.clear();
    }
    for at in 0..all.len() {
        if COUNTING.iter().any(|counting| all[at..].starts_with(counting)) {
            for word in words.iter_mut().skip(at + 2).take(2) {
                word.clear();
            }
        }
    }
    words
}

/// Whether a message asks someone to answer a person: "please reply", "get back to
/// him", "let her know", "tell them".
pub fn asks_for_a_reply(all: &[String]) -> bool {
    static REPLY: LazyLock<[String; 3]> = LazyLock::new(|| ["reply", "respond", "answer"].map(stem));
    let to_them = |at: usize| all.get(at).is_some_and(|w| matches!(w.as_str(), "him" | "her" | "them"));
    (0..all.len()).any(|at| {
        REPLY.contains(&all[at])
            || (all[at] == "back" && at > 0 && all[at - 1] == "get" && all.get(at + 1).is_some_and(|w| w == "to"))
            || (all[at] == "let" && all.iter().skip(at + 2).take(3).any(|w| w == "know"))
            || (all[at] == "tell" && to_them(at + 1))
    })
}

pub fn is_stopword(stem: &str) -> bool {
    STOPWORDS.contains(&stem)
}

/// Lowercases, expands contractions ("doesn't" → "does not") and splits into words.
pub fn words(text: &str) -> Vec<String> {
    let mut normalized = text.to_lowercase().replace(['’', '‘'], "'");
    for (from, to) in [
        ("can't", "can not"),
        ("won't", "will not"),
        ("n't", " not"),
        ("what's", "what is"),
        ("it's", "it is"),
        ("that's", "that is"),
        ("there's", "there is"),
        ("'re", " are"),
        ("'ve", " have"),
        ("'ll", " will"),
        ("'m", " am"),
        ("'d", " would"),
        ("'s", ""),
        // One word however it is spelled: "Wi-Fi" and "wifi", "e-mail" and "email".
        ("wi-fi", "wifi"),
        ("e-mail", "email"),
    ] {
        normalized = normalized.replace(from, to);
    }
    normalized.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// Words that open a question: "what is our churn", "can someone look", "is anyone on it".
const QUESTION_OPENERS: &[&str] = &[
    "what", "how", "who", "whom", "whose", "which", "when", "where", "why", "is", "are", "was", "were", "can", "could",
    "do", "does", "did", "should", "would", "will", "has", "have", "any", "anyone", "anybody",
];

/// Verbs that open a request in any trade ("raise the quota", "file the rate change",
/// "send the pack"), stemmed: a message that starts with one asks for something, it
/// does not report how something behaves. The lexicon's own triggers count as well.
const REQUEST_VERBS: &[&str] = &[
    "arrang", "ask", "assign", "book", "cancel", "chang", "check", "clean", "close", "collect", "confirm", "copi",
    "decreas", "delet", "disabl", "email", "extend", "file", "find", "finish", "get", "give", "grant", "increas",
    "invit", "lower", "mark", "move", "order", "organ", "pay", "prepar", "print", "pull", "push", "put", "rais",
    "reduc", "remind", "renam", "reset", "resend", "revok", "run", "schedul", "send", "set", "sort", "start", "stop",
    "submit", "switch", "tidi", "turn", "updat", "upload",
];

/// Words that open a noun's phrase ("the", "our", "this"): after a message's first
/// word, they show it is a verb taking an object ("publish the live blog").
const DETERMINERS: &[&str] =
    &["the", "a", "an", "our", "my", "your", "their", "this", "that", "these", "those", "all", "it", "them", "some"];

/// Whether a stemmed word opens a noun's phrase.
pub fn is_determiner(word: &str) -> bool {
    DETERMINERS.iter().any(|determiner| stem(determiner) == word)
}

/// Whether a stemmed word is one of the verbs that open a request.
pub fn is_request_verb(stem: &str) -> bool {
    REQUEST_VERBS.contains(&stem)
}

/// Whether a message's first word makes it a request: a request verb, or a word of work
/// ("fix the …", "deploy …", "write …").
pub fn opens_a_request(stem: &str) -> bool {
    is_request_verb(stem) || LEXICON_TABLE.signals_work(stem)
}

/// Stemmed tokens of a text: all of them (for phrases) and the content words.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    pub all: Vec<String>,
    pub content: Vec<String>,
    /// The text is a question (a `?`, or a question word first), not a statement.
    pub asks: bool,
}

impl Tokens {
    pub fn new(text: &str) -> Self {
        let words = words(text);
        let asks = text.contains('?') || words.first().is_some_and(|w| QUESTION_OPENERS.contains(&w.as_str()));
        Self::from_stems(words.iter().map(|w| stem(w)).collect(), asks)
    }

    /// Tokens of words already stemmed (a blank stands for a word left out).
    pub fn from_stems(all: Vec<String>, asks: bool) -> Self {
        let mut content: Vec<String> = all.iter().filter(|s| s.len() > 1 && !is_stopword(s)).cloned().collect();
        content.sort();
        content.dedup();
        Self { all, content, asks }
    }
}

/// The concept table, stemmed once.
pub struct Lexicon {
    pub concepts: Vec<String>,
    phrases: HashMap<Vec<String>, Vec<(usize, f32)>>,
    /// `(first, last, concept, weight)`: "roll * back".
    /// `first * last` triggers: the stems before and after the gap, the concept, the weight.
    gapped: Vec<(Vec<String>, Vec<String>, usize, f32)>,
    longest: usize,
    synonyms: HashMap<String, Vec<String>>,
}

pub static LEXICON_TABLE: LazyLock<Lexicon> = LazyLock::new(|| Lexicon::parse(LEXICON, SYNONYMS));

impl Lexicon {
    fn parse(lexicon: &str, synonyms: &str) -> Self {
        let mut concepts = Vec::new();
        let mut phrases: HashMap<Vec<String>, Vec<(usize, f32)>> = HashMap::new();
        let mut gapped = Vec::new();
        for line in lexicon.lines().filter(|l| !l.trim().is_empty()) {
            let (concept, triggers) = line.split_once(':').expect("lexicon lines are `concept: triggers`");
            let id = concepts.len();
            concepts.push(concept.trim().to_owned());
            for trigger in triggers.split(',') {
                let (words_part, weight) = match trigger.rsplit_once(':') {
                    Some((w, weight)) => (w, weight.trim().parse::<f32>().expect("lexicon weights are numbers")),
                    None => (trigger, 1.0),
                };
                if let Some((first, last)) = words_part.split_once('*') {
                    let stems = |part: &str| words(part).iter().map(|w| stem(w)).collect::<Vec<_>>();
                    gapped.push((stems(first), stems(last), id, weight));
                    continue;
                }
                let key: Vec<String> = words(words_part).iter().map(|w| stem(w)).collect();
                if key.is_empty() {
                    continue;
                }
                let entry = phrases.entry(key).or_default();
                match entry.iter_mut().find(|(c, _)| *c == id) {
                    Some(existing) => existing.1 = existing.1.max(weight),
                    None => entry.push((id, weight)),
                }
            }
        }
        let longest = phrases.keys().map(Vec::len).max().unwrap_or(1);
        let synonyms = synonyms
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(word, others)| (stem(word.trim()), others.split(',').map(|o| stem(o.trim())).collect()))
            .collect();
        Self { concepts, phrases, gapped, longest, synonyms }
    }

    /// How strongly the tokens signal each concept (longest phrase first; a matched
    /// phrase consumes its words). Saturates at 2 per concept.
    pub fn concepts(&self, tokens: &[String]) -> Vec<f32> {
        let mut scores = vec![0.0f32; self.concepts.len()];
        for (first, last, concept, weight) in &self.gapped {
            // One to four words between the two parts.
            let found = (0..tokens.len()).filter(|&i| tokens[i..].starts_with(first)).any(|i| {
                let after = i + first.len();
                (1..=4).any(|gap| tokens.get(after + gap..).is_some_and(|rest| rest.starts_with(last)))
            });
            if found {
                scores[*concept] += weight;
            }
        }
        let mut i = 0;
        while i < tokens.len() {
            let mut matched = 1;
            for len in (1..=self.longest.min(tokens.len() - i)).rev() {
                if let Some(hits) = self.phrases.get(&tokens[i..i + len]) {
                    for &(concept, weight) in hits {
                        scores[concept] += weight;
                    }
                    matched = len;
                    break;
                }
            }
            i += matched;
        }
        for score in &mut scores {
            *score = score.min(2.0);
        }
        scores
    }

    pub fn concept_id(&self, name: &str) -> Option<usize> {
        self.concepts.iter().position(|c| c == name)
    }

    /// Whether a stemmed word alone signals any kind of work ("fix", "deploy", "reply").
    pub fn signals_work(&self, stem: &str) -> bool {
        self.concepts(std::slice::from_ref(&stem.to_owned())).iter().any(|&c| c > 0.0)
    }

    pub fn synonyms(&self, stem: &str) -> &[String] {
        self.synonyms.get(stem).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concepts(text: &str) -> Vec<(String, f32)> {
        let lexicon = &*LEXICON_TABLE;
        let scores = lexicon.concepts(&Tokens::new(text).all);
        lexicon.concepts.iter().cloned().zip(scores).filter(|(_, s)| *s > 0.0).collect()
    }

    #[test]
    fn contractions_expand() {
        assert_eq!(
            words("It doesn't load, can't log in, it's down"),
            ["it", "does", "not", "load", "can", "not", "log", "in", "it", "is", "down"]
        );
    }

    #[test]
    fn words_whose_stems_collide_are_kept_apart() {
        assert!(concepts("reset the user accounts").iter().all(|(c, _)| c != "finance"));
        assert_eq!(concepts("the accounting team closes the books")[0].0, "finance");
        assert_eq!(concepts("the product page")[0].0, "build");
        assert_eq!(concepts("restart it in production")[0].0, "operate");
    }

    #[test]
    fn everyday_words_do_not_fire_look_alike_triggers() {
        for everyday in [
            "we had a conversation about it",
            "the item is added to the cart",
            "it depends on the config",
            "leading to confusion",
            "login is required",
            "specifically the header",
            "the proposed change",
            "except on Sundays",
            "this instance type is expensive",
            "for a few months",
            "I observed it twice",
        ] {
            let found = concepts(everyday);
            assert!(
                found
                    .iter()
                    .all(|(c, _)| !["analyze", "sales", "planning", "finance", "hr", "operate"].contains(&c.as_str())),
                "{everyday:?} → {found:?}"
            );
        }
        assert_eq!(concepts("conversion rate this quarter")[0].0, "analyze");
        assert_eq!(concepts("weekly report")[0].0, "analyze");
    }

    #[test]
    fn stems_meet_across_word_forms() {
        assert_eq!(stem("reservations"), stem("reserve"));
        assert_eq!(stem("fixes"), stem("fixing"));
        assert_eq!(stem("deploys"), stem("deployed"));
    }

    #[test]
    fn defects_are_described_without_defect_words() {
        for text in [
            "the live blog stops updating after 200 posts",
            "meter reads stopped arriving at 3am",
            "estimates are generated even when we have a real read",
            "the invoice still shows last month's tariff",
            "exports no longer include the header",
        ] {
            let fix = concepts(text).into_iter().find(|(c, _)| c == "fix").map_or(0.0, |(_, w)| w);
            assert!(fix >= 0.6, "{text}: {:?}", concepts(text));
        }
    }

    #[test]
    fn shares_and_spikes_are_questions_for_the_numbers() {
        assert_eq!(concepts("what share of prepay customers are in debt")[0], ("analyze".to_owned(), 1.2));
        assert!(concepts("trial cancellations jumped this week").iter().any(|(c, _)| c == "analyze"));
    }

    #[test]
    fn rankings_and_changes_over_time_are_questions_for_the_numbers() {
        for text in [
            "which shirts sold best after the cup run",
            "which farms' volumes dropped most since the heatwave",
            "which fishmongers ordered less this autumn than last",
            "how did cheese yield per litre change since we switched suppliers",
        ] {
            let analyze = concepts(text).into_iter().find(|(c, _)| c == "analyze").map_or(0.0, |(_, w)| w);
            assert!(analyze >= 1.0, "{text}: {:?}", concepts(text));
        }
    }

    #[test]
    fn either_side_of_a_gap_may_be_several_words() {
        assert!(
            concepts("get the tracking link fix out").iter().any(|(c, w)| c == "operate" && *w >= 1.0),
            "{:?}",
            concepts("get the tracking link fix out")
        );
        assert!(concepts("how did the weather change").iter().any(|(c, _)| c == "analyze"));
        assert!(concepts("how did the weather today").iter().all(|(c, _)| c != "analyze"));
    }

    #[test]
    fn phrases_win_over_their_words() {
        assert_eq!(concepts("site reliability engineer"), [("operate".to_owned(), 1.0)]);
        assert_eq!(concepts("draft the release notes"), [("write".to_owned(), 1.7)]);
    }

    #[test]
    fn work_kinds_are_recognised() {
        assert_eq!(concepts("roll back payments")[0].0, "operate");
        assert_eq!(concepts("how many orders last month?")[0].0, "analyze");
        assert_eq!(concepts("the cart doesn't update")[0].0, "fix");
        assert!(concepts("can someone look at this?").is_empty());
    }

    #[test]
    fn content_words_drop_stopwords_and_dedupe() {
        assert_eq!(Tokens::new("Please fix the fixes in the cart").content, ["cart", "fix"]);
    }
}
