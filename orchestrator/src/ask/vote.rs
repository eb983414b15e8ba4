//! The reader's last resort: a message no rule reads, that names one office or the
//! fleet and says little besides, is read by which words it has rather than by their
//! order. Rules know phrasings; people keep finding new ones ("planner's been quiet all
//! morning, is it doing anything?", "coach → sleep pls", "how much money has grants used
//! this month?"). The few words left beside the office's name say what is asked: a
//! state, a cost, a history, a sleep or a wake.
//!
//! Fenced twice, so that work stays work: a message that gives an office something to
//! do names things to work on, and more than [`MAX_CONTENT`] such words (none at all
//! beside "everyone" or "the offices") leave it to the router; and a vote is never sure,
//! so a configured model checks it, and an office's own request is never carried out on one.

use super::words::Words;
use super::{Action, Context, Reader, Understanding, VAGUE, listed, when};
use crate::router::text::{is_stopword, stem};

/// Content words beside a named office that still leave it the message's subject.
const MAX_CONTENT: usize = 2;

/// Below [`super::UNSURE`]: a vote is weaker evidence than a rule.
const VOTED: f32 = 0.55;

/// Words that stand for the whole fleet.
const FLEET: &str = "offices agents bots assistants fleet everyone everybody";

/// Stems that ask about a state ("quiet", "stuck", "sleeping"), in a question.
const STATE: &str = "\
    do busi work stuck quiet progress asleep awak sleep idl run activ onlin aliv finish done status state \
    up frozen hung";

/// Stems that ask what an office cost.
const MONEY: &str = "money cost spend spent budget dollar expens pricey bill charg cash";

/// Stems that ask what an office did, with a time ("since yesterday", "last week").
const DEEDS: &str = "did done chang happen ship work got";

/// Stems that send an office to sleep, said as a request.
const SLEEP: &str = "sleep nap rest bed snooz hibern bedtim";

/// Stems that wake an office: sure by themselves, or with a verb of need.
const WAKE: &str = "wake awak woken";
const READY: &str = "onlin avail readi up";
const NEED: &str = "need want get bring have";

/// Stems that only say how, when or how politely.
const FILLER: &str = "\
    actual realli right now current pls pleas plz just quick kind sort bit lot all day morn afternoon \
    even tonight today yesterday week month hour minut last past sinc much mani whole whether across among \
    between";

impl Reader {
    /// What the words beside one office (or the fleet) ask, when no rule read them.
    pub(super) fn vote(&self, words: &Words, context: &Context, text: &str) -> Option<Understanding> {
        if context.addressed.is_some() {
            return None;
        }
        let w = &words.lower;
        let mentioned = self.offices_in(w);
        let office = match mentioned.as_slice() {
            [] => None,
            [(first, _), rest @ ..] if rest.iter().all(|(o, _)| o == first) => Some(*first),
            _ => return None,
        };
        let fleet_at = w.iter().position(|word| listed(FLEET, word));
        let anchor = mentioned.first().map(|&(_, at)| at).or(fleet_at)?;

        // The clause that names it: "I need web available now, the donate page is down".
        let start = (0..anchor).rev().find(|&i| words.clause_end[i]).map_or(0, |i| i + 1);
        let end = (anchor..w.len()).find(|&i| words.clause_end[i]).map_or(w.len(), |i| i + 1);
        let office_words: Vec<usize> = mentioned
            .iter()
            .flat_map(|&(_, at)| at..at + self.office_at(w, at).map_or(1, |(_, taken)| taken))
            .collect();

        let mut tally = Tally::default();
        for i in (start..end).filter(|i| !office_words.contains(i)) {
            let word = &w[i];
            let stem = stem(word);
            let cue = |list: &str| listed(list, &stem) || listed(list, word);
            let mut counted = false;
            if cue(STATE) || (word.ends_with("ing") && i > 0 && w[i - 1] == "still") {
                tally.state = true;
                counted = true;
            }
            if cue(MONEY) || word.starts_with(['$', '£', '€']) {
                tally.money = true;
                counted = true;
            }
            if cue(DEEDS) {
                tally.deeds = true;
                counted = true;
            }
            if cue(SLEEP) || (word == "knock" && w.get(i + 1).is_some_and(|next| next == "off")) {
                tally.sleep = true;
                counted = true;
            }
            if cue(WAKE) {
                tally.wake = true;
                counted = true;
            }
            if cue(READY) {
                tally.ready = true;
                counted = true;
            }
            if cue(NEED) {
                tally.need = true;
                counted = true;
            }
            if !counted && !filler(word) {
                tally.content += 1;
            }
        }
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
        let action = if tally.money && question {
            Action::Spend { office: name, period: when::period(w) }
        } else if tally.deeds && question && when::since(w).is_some() {
            Action::Audit { office: name, since: when::since(w) }
        } else if tally.state && question {
            Action::Status { office: name }
        } else if !question && tally.sleep {
            Action::Sleep { office: name? }
        } else if !question && (tally.wake || (tally.ready && tally.need)) {
            Action::Wake { office: name? }
        } else {
            return None;
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

/// Which kinds of cue a clause has, and how many words it has that are none.
#[derive(Default)]
struct Tally {
    state: bool,
    money: bool,
    deeds: bool,
    sleep: bool,
    wake: bool,
    ready: bool,
    need: bool,
    content: usize,
}
