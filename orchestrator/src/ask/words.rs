//! A message as the plain-language reader sees it: lowercase words with contractions
//! expanded, each remembering the whitespace-separated piece of the original text it
//! came from (so a schedule's prompt keeps the person's spelling), and a small pattern
//! language over them for the readers' rules.

/// The words of a message.
#[derive(Debug, Clone, Default)]
pub struct Words {
    /// Lowercase words: "what's" is `what`, `is`; "maker's" is `maker`.
    pub lower: Vec<String>,
    /// For each word, the piece of the original text it came from.
    pub origin: Vec<usize>,
    /// The original text split at whitespace.
    pub pieces: Vec<String>,
    /// Whether a clause ends after each word (a comma, a semicolon, a full stop…).
    pub clause_end: Vec<bool>,
}

const CONTRACTIONS: &[(&str, &[&str])] = &[
    ("can't", &["can", "not"]),
    ("cannot", &["can", "not"]),
    // Chat shorthand, and contractions typed without their apostrophe.
    ("whats", &["what", "is"]),
    ("whos", &["who", "is"]),
    ("hows", &["how", "is"]),
    ("wheres", &["where", "is"]),
    ("thats", &["that", "is"]),
    ("theres", &["there", "is"]),
    ("dont", &["do", "not"]),
    ("doesnt", &["does", "not"]),
    ("didnt", &["did", "not"]),
    ("isnt", &["is", "not"]),
    ("arent", &["are", "not"]),
    ("cant", &["can", "not"]),
    ("wont", &["will", "not"]),
    ("youre", &["you", "are"]),
    ("theyre", &["they", "are"]),
    ("im", &["i", "am"]),
    ("ive", &["i", "have"]),
    ("u", &["you"]),
    ("ya", &["you"]),
    ("ur", &["your"]),
    ("rn", &["right", "now"]),
    ("atm", &["at", "the", "moment"]),
    // Text speak.
    ("wat", &["what"]),
    ("wats", &["what", "is"]),
    ("2day", &["today"]),
    ("2nite", &["tonight"]),
    ("2moro", &["tomorrow"]),
    ("2morrow", &["tomorrow"]),
    ("tmrw", &["tomorrow"]),
    ("tmr", &["tomorrow"]),
    ("b4", &["before"]),
    ("wk", &["week"]),
    ("wks", &["weeks"]),
    ("mnth", &["month"]),
    ("mth", &["month"]),
    ("r", &["are"]),
    ("n", &["and"]),
    ("giv", &["give"]),
    ("hav", &["have"]),
    ("plz", &["please"]),
    ("msg", &["message"]),
    ("ppl", &["people"]),
    ("thru", &["through"]),
    // Dropped g's: "what's dev doin", "anyone lookin at it".
    ("doin", &["doing"]),
    ("goin", &["going"]),
    ("lookin", &["looking"]),
    ("waitin", &["waiting"]),
    ("comin", &["coming"]),
    ("runnin", &["running"]),
    ("gettin", &["getting"]),
    ("nothin", &["nothing"]),
    ("anythin", &["anything"]),
    ("somethin", &["something"]),
    ("workin", &["working"]),
    ("talkin", &["talking"]),
    ("tryin", &["trying"]),
    ("makin", &["making"]),
    ("takin", &["taking"]),
    ("showin", &["showing"]),
    ("costin", &["costing"]),
    ("sortin", &["sorting"]),
    ("fixin", &["fixing"]),
    ("sendin", &["sending"]),
    ("spendin", &["spending"]),
    ("burnin", &["burning"]),
    ("any1", &["anyone"]),
    ("some1", &["someone"]),
    ("every1", &["everyone"]),
    ("no1", &["no", "one"]),
    ("won't", &["will", "not"]),
    ("let's", &["let", "us"]),
    ("what's", &["what", "is"]),
    ("who's", &["who", "is"]),
    ("it's", &["it", "is"]),
    ("that's", &["that", "is"]),
    ("there's", &["there", "is"]),
    ("where's", &["where", "is"]),
    ("how's", &["how", "is"]),
    ("i'm", &["i", "am"]),
    ("i've", &["i", "have"]),
    ("i'd", &["i", "would"]),
    ("i'll", &["i", "will"]),
];

impl Words {
    pub fn new(text: &str) -> Self {
        let normalized = text.replace(['’', '‘'], "'").replace(['“', '”'], "\"");
        let mut words = Self::default();
        for piece in normalized.split_whitespace() {
            // "quick roll call - who's up?": a dash standing alone ends a clause.
            if matches!(piece, "-" | "–" | "—" | "--") {
                if let Some(last) = words.clause_end.last_mut() {
                    *last = true;
                }
                words.pieces.push(piece.to_owned());
                continue;
            }
            let index = words.pieces.len();
            words.pieces.push(piece.to_owned());
            // Markdown emphasis ("**docs** has been idle", as Nova writes), but not cron's
            // stars ("*/15"), which stand with no letter.
            let lower = if piece.chars().any(char::is_alphabetic) {
                piece.replace(['*', '~'], "").to_lowercase()
            } else {
                piece.to_lowercase()
            };
            for part in lower.split_inclusive(|c: char| ",;!?()[]{}\"<>`|".contains(c)) {
                let ends = part.ends_with(|c: char| ",;!?()".contains(c))
                    || (part.ends_with(['.', ':']) && !part.starts_with("http"));
                for word in split_word(part.trim_end_matches(|c: char| ",;!?()[]{}\"<>`|".contains(c))) {
                    words.lower.push(plain(word));
                    words.origin.push(index);
                    words.clause_end.push(false);
                }
                if ends && let Some(last) = words.clause_end.last_mut() {
                    *last = true;
                }
            }
        }
        words.swapped_letters_in_fleet_verbs();
        words.idioms_as_plain_words();
        words.please_to_as_please();
        words.numbers_as_digits();
        words.text_speak_numbers();
        words
    }

    /// "wkae mobile", "stpo it": a fleet verb typed with two letters swapped. None of
    /// these slips is an English word, where one letter changed often is ("make", "steep").
    fn swapped_letters_in_fleet_verbs(&mut self) {
        const VERBS: &[&str] = &["wake", "sleep", "stop", "retire", "pause", "resume", "status"];
        for word in &mut self.lower {
            if !VERBS.iter().any(|verb| verb.len() == word.len()) {
                continue;
            }
            let chars: Vec<char> = word.chars().collect();
            let swapped_from = VERBS.iter().find(|verb| {
                let verb: Vec<char> = verb.chars().collect();
                verb.len() == chars.len()
                    && verb != chars
                    && (0..chars.len() - 1).any(|at| {
                        let mut swapped = verb.clone();
                        swapped.swap(at, at + 1);
                        swapped == chars
                    })
            });
            if let Some(verb) = swapped_from {
                *word = (*verb).to_owned();
            }
        }
    }

    /// The word at `at` as it was typed (its whole piece: "STOP", "IT,").
    pub fn typed(&self, at: usize) -> &str {
        self.origin.get(at).and_then(|&piece| self.pieces.get(piece)).map_or("", String::as_str)
    }

    /// "who's heads down on what?", "a pulse check on webdev", "hard stop on this": office
    /// idioms as the words the rules spell ("busy", "status check", "stop").
    fn idioms_as_plain_words(&mut self) {
        let mut i = 0;
        while i < self.lower.len() {
            let found = IDIOMS.iter().find_map(|(said, plain)| {
                let said: Vec<&str> = said.split(' ').collect();
                let here = self.lower.get(i..i + said.len())?;
                // One clause: "heads, down" is no idiom.
                (here.iter().zip(&said).all(|(w, s)| w == s)
                    && !self.clause_end[i..i + said.len() - 1].iter().any(|&end| end))
                .then_some((said.len(), plain))
            });
            let Some((taken, plain)) = found else {
                i += 1;
                continue;
            };
            let plain: Vec<String> = plain.split(' ').map(str::to_owned).collect();
            let origin = self.origin[i];
            let ends = self.clause_end[i + taken - 1];
            self.lower.splice(i..i + taken, plain.iter().cloned());
            self.origin.splice(i..i + taken, std::iter::repeat_n(origin, plain.len()));
            self.clause_end.splice(i..i + taken, (0..plain.len()).map(|at| ends && at + 1 == plain.len()));
            i += plain.len();
        }
    }

    /// "please to add the repo …", "kindly to wake …": a request opened as in other
    /// languages ("bitte", "merci de", "por favor"), read as "please add", "kindly wake".
    /// Only where the clause opens with it: "send it please to maker" keeps its "to".
    fn please_to_as_please(&mut self) {
        let mut i = 0;
        while i + 2 < self.lower.len() {
            let opens_a_clause = i == 0 || self.clause_end[i - 1];
            if opens_a_clause && matches!(self.lower[i].as_str(), "please" | "kindly") && self.lower[i + 1] == "to" {
                self.lower.remove(i + 1);
                self.origin.remove(i + 1);
                self.clause_end.remove(i + 1);
            }
            i += 1;
        }
    }

    /// "put infrastructure 2 sleep", "waiting 4 my approval", "budget 2 500": a 2 or a 4
    /// standing for "to" or "for" between words. Not a 2 or a 4 that counts or names
    /// something ("tier 2", "pier 4 is down", "the last 2 days", "4 offices").
    fn text_speak_numbers(&mut self) {
        const TAKES_A_NUMBER: &str = "tier level top last first next every at by the a of x step phase version v \
            pier gate stand terminal floor room round bug issue ticket pr build line page day week month in on \
            than about around only just over under between and or is are was were to from with for half quarter past";
        const COUNTED: &str = "h hr hrs hour hours m min mins minute minutes d day days week weeks month months \
            am pm gb tb mb k x dollars usd offices agents bots people times runs prs bugs items o'clock";
        for i in 1..self.lower.len().saturating_sub(1) {
            // Only a 2 or a 4 typed as such: "half four" is a time.
            let typed = self.pieces[self.origin[i]].trim_matches(|c: char| !c.is_alphanumeric());
            let word = match (self.lower[i].as_str(), typed) {
                ("2", "2") => "to",
                ("4", "4") => "for",
                _ => continue,
            };
            let (previous, next) = (&self.lower[i - 1], &self.lower[i + 1]);
            let next_is_number = next.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '$');
            let counts = !previous.chars().all(char::is_alphabetic)
                || TAKES_A_NUMBER.split_whitespace().any(|w| w == previous)
                || (!next_is_number && COUNTED.split_whitespace().any(|w| w == next));
            if !counts {
                self.lower[i] = word.to_owned();
            }
        }
    }

    /// "tier four", "thirty dollars", "twenty five minutes": numbers said in words as
    /// digits, so every rule that reads an amount, a tier or a time reads them. "one"
    /// stays a word ("this one", "one office").
    fn numbers_as_digits(&mut self) {
        const UNITS: [&str; 12] =
            ["", "", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"];
        const TEENS: [&str; 8] =
            ["twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
        const TENS: [&str; 8] = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
        let single = |word: &str| -> Option<(u32, bool)> {
            if let Some(n) = UNITS.iter().position(|u| !u.is_empty() && *u == word) {
                return Some((n as u32, false));
            }
            if let Some(n) = TEENS.iter().position(|t| *t == word) {
                return Some((12 + n as u32, false));
            }
            TENS.iter().position(|t| *t == word).map(|n| (20 + 10 * n as u32, true))
        };
        // "twenty-five" is one word.
        let value = |word: &str| match word.split_once('-') {
            Some((tens, unit)) => match (single(tens), single(unit)) {
                (Some((tens, true)), Some((unit, false))) if unit < 10 => Some((tens + unit, false)),
                _ => None,
            },
            None => single(word),
        };
        let mut i = 0;
        while i < self.lower.len() {
            let Some((mut n, tens)) = value(&self.lower[i]) else {
                i += 1;
                continue;
            };
            let mut taken = 1;
            // "twenty five".
            if tens
                && !self.clause_end[i]
                && let Some((unit, false)) = self.lower.get(i + 1).and_then(|w| value(w))
                && unit < 10
            {
                n += unit;
                taken = 2;
            }
            if self.lower.get(i + taken).is_some_and(|w| w == "hundred") && !self.clause_end[i + taken - 1] {
                n *= 100;
                taken += 1;
            }
            self.lower.splice(i..i + taken, [n.to_string()]);
            self.origin.drain(i + 1..i + taken);
            let ends = self.clause_end.drain(i..i + taken).any(|end| end);
            self.clause_end.insert(i, ends);
            i += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.lower.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    pub fn has(&self, word: &str) -> bool {
        self.lower.iter().any(|w| w == word)
    }

    pub fn has_any(&self, words: &[&str]) -> bool {
        words.iter().any(|w| self.has(w))
    }

    /// Whether any word starts with one of `prefixes` (`approv` for approve, approval…).
    pub fn has_prefix(&self, prefixes: &[&str]) -> bool {
        self.lower.iter().any(|w| prefixes.iter().any(|p| w.starts_with(p)))
    }

    /// Each clause's words: "hang on, wrong plot, kill that" is three.
    pub fn clauses(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let mut start = 0;
        (0..self.len()).filter(|&i| self.clause_end[i] || i + 1 == self.len()).map(move |i| {
            let clause = start..i + 1;
            start = i + 1;
            clause
        })
    }

    /// The original text of words `range`, as the person wrote it.
    pub fn original(&self, keep: impl Fn(usize) -> bool) -> String {
        let mut pieces: Vec<usize> = Vec::new();
        for (word, &piece) in self.origin.iter().enumerate() {
            if keep(word) && pieces.last() != Some(&piece) {
                // A number said in two words ("twenty five") is one word with two pieces.
                let said_from = match (pieces.last(), word.checked_sub(1).is_some_and(&keep)) {
                    (Some(&last), true) => last + 1,
                    _ => piece,
                };
                pieces.extend(said_from..=piece);
            }
        }
        pieces.iter().map(|&p| self.pieces[p].as_str()).collect::<Vec<_>>().join(" ")
    }
}

/// Office idioms, as the words the rules spell: managers' jargon says the same things.
const IDIOMS: &[(&str, &str)] = &[
    ("heads down", "busy"),
    ("pulse check", "status check"),
    ("temperature check", "status check"),
    ("hard stop", "stop"),
    ("run rate", "spend"),
    ("burn rate", "spend"),
    ("rise and shine", "wake up"),
    // "as per my earlier message": as it said.
    ("as per", "as"),
];

/// Formal and clipped words as the rules spell them, so that every rule reads "is the
/// taxman occupied?" as it reads "is the taxman busy?", and "workin" as "working".
const PLAIN: &[(&str, &str)] = &[
    // "which AIs are running?": the offices, as people who call them AIs say it.
    ("ais", "agents"),
    ("occupied", "busy"),
    ("engaged", "busy"),
    ("preoccupied", "busy"),
    ("awaiting", "waiting"),
    ("authorisation", "approval"),
    ("authorization", "approval"),
    ("authorise", "approve"),
    ("authorize", "approve"),
    ("cease", "stop"),
    ("discontinue", "stop"),
    ("expenditure", "spend"),
    ("outlay", "spend"),
    ("presently", "now"),
    ("workin", "working"),
    ("doin", "doing"),
    ("runnin", "running"),
    ("instruct", "ask"),
    ("instructing", "asking"),
    ("instructed", "asked"),
    ("evry", "every"),
    ("nvm", "nevermind"),
    ("actioned", "did"),
    ("readout", "rundown"),
    ("read-out", "rundown"),
];

fn plain(word: String) -> String {
    let word = unheld(&word);
    match PLAIN.iter().find(|(said, _)| *said == word) {
        Some((_, plain)) => (*plain).to_owned(),
        None => retyped(&word).map_or(word, str::to_owned),
    }
}

/// The words the rules turn on most, for [`retyped`].
const CUES: &str = "stop approval approvals approve retire schedule status spend spent every called named doing \
    working yesterday sleep asleep awake what whats which help office offices cancel costing waiting";

/// A cue word typed in a hurry: two neighbouring letters swapped ("stpo", "spedn",
/// "wroking") or, from five letters, one left out ("calld", "yesterdy"). Only a word
/// that is no word the router knows, and that is one slip from exactly one cue.
fn retyped(word: &str) -> Option<&'static str> {
    use crate::router::text::{LEXICON_TABLE, is_stopword, stem};
    if word.len() < 4 || !word.chars().all(|c| c.is_ascii_lowercase()) || CUES.split_whitespace().any(|c| c == word) {
        return None;
    }
    let swapped = |cue: &str| {
        let (a, b) = (cue.as_bytes(), word.as_bytes());
        a.len() == b.len() && {
            let differ: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            matches!(differ.as_slice(), [i, j] if *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i])
        }
    };
    let missing_one = |cue: &str| {
        word.len() >= 5
            && cue.len() == word.len() + 1
            && (0..cue.len()).any(|i| cue[..i] == word[..i] && cue[i + 1..] == word[i..])
    };
    let mut near = CUES.split_whitespace().filter(|cue| swapped(cue) || missing_one(cue));
    let cue = match (near.next(), near.next()) {
        (Some(cue), None) => cue,
        _ => return None,
    };
    // Checked last, as most words are one slip from no cue at all.
    let known = stem(word);
    (!is_stopword(&known) && !LEXICON_TABLE.signals_work(&known)).then_some(cue)
}

/// "nooo", "stoppp", "pleeease": a letter held three times or more is one ("no", "stop",
/// "please"); doubled letters stay.
fn unheld(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut plain = String::with_capacity(word.len());
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|&&c| c == chars[i]).count();
        let keep = if run >= 3 && chars[i].is_alphabetic() { 1 } else { run };
        plain.extend(std::iter::repeat_n(chars[i], keep));
        i += run;
    }
    plain
}

/// One piece of text between separators, as words: punctuation trimmed, contractions
/// expanded, possessives dropped, but `$40`, `#data`, `08:30`, `fax-gateway` kept whole.
fn split_word(part: &str) -> Vec<String> {
    let word = part.trim_matches(|c: char| ".:'-".contains(c));
    if word.is_empty() {
        return vec![];
    }
    if let Some((_, expanded)) = CONTRACTIONS.iter().find(|(c, _)| *c == word) {
        return expanded.iter().map(|w| (*w).to_owned()).collect();
    }
    if let Some(stem) = word.strip_suffix("n't") {
        return vec![stem.to_owned(), "not".to_owned()];
    }
    for (suffix, expanded) in [("'re", "are"), ("'ve", "have"), ("'ll", "will"), ("'d", "would")] {
        if let Some(stem) = word.strip_suffix(suffix) {
            return vec![stem.to_owned(), expanded.to_owned()];
        }
    }
    let word = word.strip_suffix("'s").unwrap_or(word).trim_end_matches('\'');
    if word.starts_with("http") || word.contains(':') && word.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return vec![word.to_owned()];
    }
    // "mon-fri" and "fax-gateway" stay one word; a trailing slash or a stray dot does not.
    vec![word.trim_end_matches(['.', '/']).to_owned()]
}

/// Fills a pattern's `OFFICE` slot at a position: the value and how many words it took.
pub type Slot<'s, S> = &'s dyn Fn(&[String], usize) -> Option<(S, usize)>;

/// A pattern over words, one element per space: a literal (`sleep`), alternatives
/// (`put|send`), a prefix (`approv…`), `*` (up to three words of anything), `?x`
/// (an optional literal), or `OFFICE` (a slot the caller's matcher fills).
pub struct Pattern<'p>(&'p str);

impl<'p> Pattern<'p> {
    /// Read as it is matched, an element at a time: a message meets hundreds of patterns,
    /// most of which fail on their first word.
    pub fn new(text: &'p str) -> Self {
        Self(text)
    }

    /// The first match anywhere in `words` of a pattern without a slot: its span.
    pub fn span_in(&self, words: &[String]) -> Option<std::ops::Range<usize>> {
        self.find(words, &|_: &[String], _| None::<((), usize)>).map(|(span, _)| span)
    }

    /// The first match anywhere in `words`: its span and what the slot matched.
    pub fn find<S: Copy>(&self, words: &[String], slot: Slot<'_, S>) -> Option<(std::ops::Range<usize>, Option<S>)> {
        (0..words.len())
            .find_map(|start| self.at(words, start, Some(self.0), None, slot).map(|(end, filled)| (start..end, filled)))
    }

    /// Matches the elements left (`rest`, `None` when there are none) at `words[i..]`.
    fn at<S: Copy>(
        &self,
        words: &[String],
        i: usize,
        rest: Option<&'p str>,
        filled: Option<S>,
        slot: Slot<'_, S>,
    ) -> Option<(usize, Option<S>)> {
        let Some(rest) = rest else { return Some((i, filled)) };
        let (element, next) = match rest.split_once(' ') {
            Some((element, next)) => (element, Some(next)),
            None => (rest, None),
        };
        match element {
            "*" => (0..=3).find_map(|gap| {
                (i + gap <= words.len()).then(|| self.at(words, i + gap, next, filled, slot)).flatten()
            }),
            "OFFICE" => {
                let (value, taken) = slot(words, i)?;
                self.at(words, i + taken, next, Some(value), slot)
            }
            optional if optional.starts_with('?') => {
                let literal = &optional[1..];
                if words.get(i).is_some_and(|w| literal_matches(literal, w))
                    && let Some(found) = self.at(words, i + 1, next, filled, slot)
                {
                    return Some(found);
                }
                self.at(words, i, next, filled, slot)
            }
            literal => {
                let word = words.get(i)?;
                if literal_matches(literal, word) {
                    return self.at(words, i + 1, next, filled, slot);
                }
                // "what can I actually ask you?": an aside inside a phrase is passed over.
                let inside = rest.len() < self.0.len();
                (inside && ASIDES.contains(&word.as_str()))
                    .then(|| self.at(words, i + 1, Some(rest), filled, slot))
                    .flatten()
            }
        }
    }
}

/// Adverbs people put inside a phrase without changing what it asks.
const ASIDES: &[&str] = &[
    "actually",
    "really",
    "just",
    "even",
    "exactly",
    "currently",
    "kindly",
    "maybe",
    "possibly",
    "quickly",
    "probably",
    "perhaps",
    "certainly",
    "surely",
    "definitely",
    "also",
];

fn literal_matches(literal: &str, word: &str) -> bool {
    let first = word.as_bytes().first();
    literal.split('|').any(|alt| {
        let prefix = alt.strip_suffix('…');
        // Every way to match (the same word, a prefix, an ending added) starts the word
        // with the alternative's first letter: a cheap test that passes over most.
        let lead = prefix.unwrap_or(alt).as_bytes().first();
        if lead.is_some() && lead != first {
            return false;
        }
        match prefix {
            Some(prefix) => word.starts_with(prefix),
            None => alt == word || inflected(alt, word),
        }
    })
}

/// Whether `word` is `base` with a regular ending: "sunsetting" and "sunsets" are
/// "sunset", "retiring" is "retire". Not the past ("approved", "stopped"): what was done
/// is history or a statement, not the request the pattern reads.
fn inflected(base: &str, word: &str) -> bool {
    if base.len() < 3 || !base.chars().all(|c| c.is_ascii_lowercase()) {
        return false;
    }
    if word.strip_prefix(base).is_some_and(|rest| matches!(rest, "s" | "es" | "ing")) {
        return true;
    }
    // A final e dropped ("retiring"), or a final consonant doubled ("stopping").
    let dropped = base.strip_suffix('e').and_then(|stem| word.strip_prefix(stem)).is_some_and(|rest| rest == "ing");
    let last = base.chars().last().unwrap_or('e');
    let doubled = !"aeiouwy".contains(last)
        && word.strip_prefix(base).and_then(|rest| rest.strip_prefix(last)).is_some_and(|rest| rest == "ing");
    dropped || doubled
}

/// Damerau–Levenshtein distance, for misspelled office names ("opertor").
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_what_matters() {
        let words = Words::new("What's maker's plan? Bump liveops' tier to 4, $40/month at 08:30 for fax-gateway.");
        assert_eq!(
            words.lower,
            [
                "what",
                "is",
                "maker",
                "plan",
                "bump",
                "liveops",
                "tier",
                "to",
                "4",
                "$40/month",
                "at",
                "08:30",
                "for",
                "fax-gateway"
            ]
        );
        assert_eq!(words.original(|i| i >= 10), "at 08:30 for fax-gateway.");
    }

    #[test]
    fn formal_and_clipped_words_read_plain() {
        assert_eq!(
            Words::new("Is taxman occupied, or still workin?").lower,
            ["is", "taxman", "busy", "or", "still", "working"]
        );
        assert_eq!(Words::new("Is taxman occupied?").original(|_| true), "Is taxman occupied?");
        assert_eq!(Words::new("nooo stoppp pleeease, all good").lower, ["no", "stop", "please", "all", "good"]);
        let said = Words::new("tier four, thirty dollars, twenty five minutes, two hundred, this one");
        assert_eq!(said.lower, ["tier", "4", "30", "dollars", "25", "minutes", "200", "this", "one"]);
        assert_eq!(said.clause_end, [false, true, false, true, false, true, true, false, false]);
        assert_eq!(said.original(|i| (4..6).contains(&i)), "twenty five minutes,");
        assert_eq!(Words::new("every twenty-five minutes").lower, ["every", "25", "minutes"]);
    }

    #[test]
    fn clauses_end_at_commas_and_stops() {
        let words = Words::new("hang on, wrong plot. kill that");
        assert_eq!(words.clauses().collect::<Vec<_>>(), [0..2, 2..4, 4..6]);
        assert_eq!(Words::new("stop").clauses().count(), 1);
        assert_eq!(Words::new("quick roll call - who's up?").clauses().count(), 2);
    }

    #[test]
    fn markdown_emphasis_goes_but_cron_stars_stay() {
        assert_eq!(Words::new("**docs** has been ~~idle~~.").lower, ["docs", "has", "been", "idle"]);
        assert_eq!(Words::new("every */15 * * * 1-5").lower, ["every", "*/15", "*", "*", "*", "1-5"]);
    }

    #[test]
    fn patterns_match_with_gaps_options_and_slots() {
        let words = Words::new("please put the analyst to sleep now");
        let slot = |w: &[String], i: usize| (w[i] == "analyst").then_some(("analyst", 1));
        let (span, office) = Pattern::new("put ?the OFFICE * sleep|bed").find(&words.lower, &slot).unwrap();
        assert_eq!((span, office), (1..6, Some("analyst")));
        assert!(Pattern::new("put OFFICE to sleep").find(&words.lower, &slot).is_none());
        assert!(Pattern::new("approv…").find(&Words::new("any approvals?").lower, &slot).is_some());
    }

    #[test]
    fn a_pattern_takes_regular_endings_and_passes_over_asides() {
        let slot = |_: &[String], _: usize| None::<((), usize)>;
        let matches = |pattern: &str, text: &str| Pattern::new(pattern).find(&Words::new(text).lower, &slot).is_some();
        assert!(matches("we are sunset", "we are sunsetting"));
        assert!(matches("retire it", "retiring it"));
        assert!(matches("stop it", "stopping it"));
        assert!(!matches("approve it", "approved it"), "the past is not the request");
        assert!(matches("hook up", "hooks up"));
        assert!(matches("what can i ask you", "what can I actually ask you"));
        assert!(!matches("stop it", "stopper it"));
        assert!(!matches("is it", "isis it"), "short words are matched as written");
        assert!(!matches("actually stop", "stop"), "an aside the pattern asks for is not passed over");
    }

    #[test]
    fn alternatives_match_whole_words_prefixes_and_endings_only() {
        assert!(literal_matches("put|send", "send"));
        assert!(literal_matches("approv…|okay", "approving"));
        assert!(literal_matches("…", "anything"), "an empty prefix takes every word");
        assert!(literal_matches("stop|halt", "halting"));
        assert!(!literal_matches("stop|halt", "shalt"), "a word that only contains one is not it");
        assert!(!literal_matches("put|send", "resend"));
        assert!(!literal_matches("put|send", ""));
    }

    #[test]
    fn misspellings_are_near() {
        assert_eq!(edit_distance("opertor", "operator"), 1);
        assert_eq!(edit_distance("anaylst", "analyst"), 1);
        assert_eq!(edit_distance("writer", "waiter"), 1);
    }

    #[test]
    fn a_two_or_four_between_words_is_to_or_for_unless_it_counts() {
        assert_eq!(Words::new("put dev 2 sleep").lower, ["put", "dev", "to", "sleep"]);
        assert_eq!(Words::new("waiting 4 my approval").lower, ["waiting", "for", "my", "approval"]);
        assert_eq!(Words::new("budget 2 500").lower, ["budget", "to", "500"]);
        assert_eq!(Words::new("pier 4 is down").lower, ["pier", "4", "is", "down"]);
        assert_eq!(Words::new("keep it up 2 hours").lower, ["keep", "it", "up", "2", "hours"]);
        assert_eq!(Words::new("please to add the repo").lower, ["please", "add", "the", "repo"]);
        assert_eq!(Words::new("ok, kindly to wake tech").lower, ["ok", "kindly", "wake", "tech"]);
        assert_eq!(Words::new("send it please to maker").lower, ["send", "it", "please", "to", "maker"]);
    }
}
