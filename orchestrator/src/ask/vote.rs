//! The reader's last resort: a message no rule reads, that names one office or the
//! fleet and says little besides, is read by which words it has rather than by their
//! order. Rules know phrasings; people keep finding new ones ("planner's been quiet all
//! morning, is it doing anything?", "coach → sleep pls", "how much money has grants used
//! this month?"). The few words left beside the office's name say what is asked: a
//! state, a cost, a history, a sleep or a wake.
//!
//! Fenced twice, so that work stays work: a message that gives an office something to
//! do names things to work on, and more than [`MAX_CONTENT`] such words in a question
//! (none at all in a request, or beside "everyone" or "the offices") leave it to the
//! router; and a vote is never sure,
//! so a configured model checks it, and an office's own request is never carried out on one.

use std::sync::LazyLock;

use super::words::Words;
use super::{Action, Context, Reader, Understanding, VAGUE, listed, when};
use crate::router::text::{is_stopword, stem};

/// Content words beside a named office that still leave it the message's subject.
const MAX_CONTENT: usize = 2;

/// Below [`super::UNSURE`]: a vote is weaker evidence than a rule.
const VOTED: f32 = 0.55;

/// Words that stand for the whole fleet.
const FLEET: &str = "offices agents bots assistants fleet everyone everybody";

/// The cue words, by what they ask; a phrase's words are matched as written or by stem.
/// Stems that ask about a state ("quiet", "stuck", "sleeping") count in a question; a
/// sleep or stop in a request; a deed only with a time ("since yesterday").
const CUES: &[(Cue, &str)] = &[
    (Cue::State, "do busi work stuck quiet progress asleep awak sleep idl run activ onlin aliv finish done"),
    (Cue::State, "status state up frozen hung free around silent"),
    (Cue::State, "tied up|heads down|flat out|in the middle of|getting on|get on"),
    (Cue::Money, "money cost spend spent budget dollar expens pricey bill charg cash tab"),
    (Cue::Money, "run up|set us back|racked up|rack up"),
    (Cue::Deeds, "did done chang happen ship work got touch"),
    (Cue::Deeds, "been up to|get up to|got up to"),
    (Cue::Sleep, "sleep nap rest bed snooz hibern bedtim doze"),
    (
        Cue::Sleep,
        "knock off|clock off|log off|call it a day|call it a night|go home|take a break|power down|wind down|stand down",
    ),
    (Cue::Wake, "wake awak woken rous"),
    (Cue::Wake, "fire up|power up|spin up|boot up|warm up"),
    (Cue::Ready, "onlin avail readi up"),
    (Cue::Need, "need want get bring have"),
    (Cue::Stop, "stop halt abort cancel kill quit"),
    (Cue::Stop, "knock it off|cut it out|pull the plug|call it off|drop everything|drop it"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    State,
    Money,
    Deeds,
    Sleep,
    Wake,
    Ready,
    Need,
    Stop,
}

/// The phrases of every cue, longest first, each as its words; split once.
static PHRASES: LazyLock<Vec<(Cue, Vec<&'static str>)>> = LazyLock::new(|| {
    let mut phrases: Vec<(Cue, Vec<&str>)> = CUES
        .iter()
        .flat_map(|&(cue, list)| {
            let phrases: Vec<&str> =
                if list.contains('|') { list.split('|').collect() } else { list.split(' ').collect() };
            phrases.into_iter().map(move |phrase| (cue, phrase.split(' ').collect()))
        })
        .collect();
    phrases.sort_by_key(|(_, words)| std::cmp::Reverse(words.len()));
    phrases
});

/// Stems that only say how, when or how politely.
const FILLER: &str = "\
    actual realli right now current pls pleas plz just quick kind sort bit lot all day morn afternoon \
    even tonight today yesterday week month hour minut last past sinc much mani whole whether across among \
    between wk mo yr hr hrs min mins should could would will shall must may might can";

impl Reader {
    /// What the words beside one office (or the fleet) ask, when no rule read them.
    pub(super) fn vote(&self, words: &Words, context: &Context, text: &str) -> Option<Understanding> {
        if context.addressed.is_some() {
            return None;
        }
        let w = &words.lower;
        // "the audience survey" names no office.
        let mentioned: Vec<(usize, usize)> =
            self.offices_in(w).into_iter().filter(|&(_, at)| !self.modifies(w, at)).collect();
        let office = match mentioned.as_slice() {
            [] => None,
            [(first, _), rest @ ..] if rest.iter().all(|(o, _)| o == first) => Some(*first),
            _ => return None,
        };
        // "could you ask writer to finish the release notes?", "send the notes over to
        // writer to finish?": work asked of the office, not a question about it.
        let asks_the_office = mentioned.iter().any(|&(_, at)| {
            let taken = self.office_at(w, at).map_or(1, |(_, taken)| taken);
            let before = at.checked_sub(1).map(|i| w[i].as_str());
            w.get(at + taken).is_some_and(|after| after == "to")
                && before.is_some_and(|before| listed("ask have get tell to", before))
        });
        if asks_the_office {
            return None;
        }
        // "nice work atlas", "good job quill!": praise for an office, nothing to act on.
        let praise =
            super::words::Pattern::new("nice|good|great|brilliant|excellent|awesome|lovely|superb work|job|one|stuff")
                .span_in(w);
        if praise.is_some() && w.len() <= 5 {
            return Some(Understanding::unknown(super::LIKELY, "praise for an office"));
        }
        let fleet_at = w.iter().position(|word| listed(FLEET, word));
        let anchor = mentioned.first().map(|&(_, at)| at).or(fleet_at)?;

        // The clause that names it: "I need web available now, the donate page is down".
        let start = (0..anchor).rev().find(|&i| words.clause_end[i]).map_or(0, |i| i + 1);
        let end = (anchor..w.len()).find(|&i| words.clause_end[i]).map_or(w.len(), |i| i + 1);
        let office_words: Vec<usize> = mentioned
            .iter()
            .flat_map(|&(_, at)| at..at + self.office_at(w, at).map_or(1, |(_, taken)| taken))
            .collect();

        let phrases = &*PHRASES;
        let tally = self.tally(words, start..end, &office_words, phrases);
        let clause_asks = words.pieces[words.origin[end - 1]].trim_end().ends_with('?');
        let question = text.trim_end().ends_with('?')
            || clause_asks
            || super::indirect_question(w)
            || w.get(start).is_some_and(|f| listed("what how who which is are has have did does do any anything", f));
        // A request may give its reason in another clause ("…, the donate page is down");
        // a question with more after it asks more ("operator awake? then ship the fix").
        let elsewhere = if question {
            (0..w.len()).filter(|i| !(start..end).contains(i) && !office_words.contains(i) && !filler(&w[*i])).count()
        } else {
            0
        };
        let limit = if office.is_some() { MAX_CONTENT } else { 0 };
        if tally.content > limit || elsewhere > 0 {
            return None;
        }

        let name = office.map(|o| self.offices[o].name.clone());
        let has = |cue: Cue| tally.cues.contains(&cue);
        // "numbers spend wk": an office and a cost, state or history with nothing else
        // asks as surely as a question mark.
        // "roster up pls" is a request, though.
        let polite = words.has_any(&["please", "pls", "plz"]);
        let question = question
            || (tally.content == 0
                && !polite
                && ![Cue::Sleep, Cue::Wake, Cue::Stop, Cue::Need].iter().any(|&c| has(c)));
        let action = if has(Cue::Money) && question {
            Action::Spend { office: name, period: when::period(w) }
        } else if question
            && when::since(w).is_some()
            // "what was tech doing from yesterday?": what it was at since then is its history.
            && (has(Cue::Deeds) || (has(Cue::State) && words.has_any(&["was", "were", "been"]) && words.has_any(&["doing", "working"])))
        {
            Action::Audit { office: name, since: when::since(w) }
        } else if has(Cue::State) && question {
            Action::Status { office: name }
        } else if question {
            return None;
        } else {
            // A request is a clause that says nothing but what to do with the office, and
            // why ("cutter needs to be awake for the 2pm edit", "socials you've earned a
            // rest, go to sleep"); a clause with more describes something ("the coach
            // status page shows classes as cancelled").
            let name = name?;
            let requested = words.clauses().find_map(|clause| {
                let tally = self.tally(words, clause, &office_words, phrases);
                let has = |cue: Cue| tally.cues.contains(&cue);
                if tally.before_a_reason > 0 {
                    None
                } else if has(Cue::Stop) {
                    Some(Action::Stop { office: Some(name.clone()) })
                } else if has(Cue::Sleep) {
                    Some(Action::Sleep { office: name.clone() })
                } else if has(Cue::Wake) || (has(Cue::Ready) && (has(Cue::Need) || polite)) {
                    Some(Action::Wake { office: name.clone() })
                } else {
                    None
                }
            });
            requested?
        };
        Some(Understanding::fleet(action, VOTED, "the words beside an office"))
    }
}

/// Words that say nothing about what to work on.
fn filler(word: &str) -> bool {
    let stem = stem(word);
    is_stopword(&stem)
        || listed(VAGUE, &stem)
        || listed(FILLER, &stem)
        || listed(FLEET, word)
        || word == "off"
        || !word.chars().any(char::is_alphabetic)
}

/// The cues a clause has, and how many words it has that are none.
#[derive(Default)]
struct Tally {
    cues: Vec<Cue>,
    content: usize,
    /// Content words before a reason ("… for the 2pm edit", "… because …").
    before_a_reason: usize,
}

/// Words after which a request says why or when, not what.
const REASONS: &str = "for before so because as until till since when while after";

impl Reader {
    /// The cues and content words of `clause`, the office's own words left out.
    fn tally(
        &self,
        words: &Words,
        clause: std::ops::Range<usize>,
        office_words: &[usize],
        phrases: &[(Cue, Vec<&str>)],
    ) -> Tally {
        let w = &words.lower;
        let end = clause.end;
        let mut tally = Tally::default();
        let mut reason_given = false;
        let mut i = clause.start;
        while i < end {
            if office_words.contains(&i) {
                i += 1;
                continue;
            }
            let said = |at: usize, word: &str| {
                w.get(at).filter(|_| at < end).is_some_and(|said| said == word || stem(said) == word)
            };
            // The longest phrase said here, and every cue a phrase of its length gives
            // ("up" is a state in a question and ready after "need").
            let found: Vec<&(Cue, Vec<&str>)> = phrases
                .iter()
                .filter(|(_, phrase)| phrase.iter().enumerate().all(|(k, word)| said(i + k, word)))
                .collect();
            if let Some(longest) = found.first().map(|(_, phrase)| phrase.len()) {
                tally.cues.extend(found.iter().filter(|(_, phrase)| phrase.len() == longest).map(|(cue, _)| *cue));
                i += longest;
                continue;
            }
            // "STOP pushing to the app": what is to stop comes after it, like a reason.
            let stopping = i > clause.start && w[i].ends_with("ing") && tally.cues.last() == Some(&Cue::Stop);
            reason_given |= listed(REASONS, &w[i]) || stopping;
            // "still replying …?": an office still at something.
            if w[i].ends_with("ing") && i > 0 && w[i - 1] == "still" || w[i].starts_with(['$', '£', '€']) {
                tally.cues.push(if w[i].ends_with("ing") { Cue::State } else { Cue::Money });
            } else if !filler(&w[i]) {
                tally.content += 1;
                if !reason_given {
                    tally.before_a_reason += 1;
                }
            }
            i += 1;
        }
        tally
    }
}
