//! What a message means once what it takes back is taken out: "don't wake editorial,
//! wake buying-insight instead", "not under web but under customer-service", "a budget of
//! 80 dollars a month, no wait, make it 100". Read before anything else, so that a
//! request said and then withdrawn is never carried out.

use super::listed;

/// Verbs of fleet requests: "don't" before one withdraws that request.
pub(super) const FLEET_VERBS: &str =
    "wake start restart sleep put stop kill retire remove delete create set add give hand move schedule turn shut";

/// Words that open a correction of the value just said: "…, no wait, make it 100".
const CORRECTIONS: &str = "no wait actually sorry rather mean";

/// One word of the message: as written, and lowercased without its trailing punctuation.
struct Piece<'t> {
    written: &'t str,
    word: String,
    /// A comma, semicolon or full stop follows it.
    ends_clause: bool,
}

/// The message as meant: withdrawn requests, negated alternatives and corrected values
/// taken out. Unchanged when it takes nothing back.
pub fn as_meant(text: &str) -> String {
    let mut pieces: Vec<Piece<'_>> = text
        .split_whitespace()
        .map(|written| Piece {
            written,
            word: written
                .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '$')
                .replace('’', "'")
                .to_lowercase(),
            ends_clause: written.ends_with([',', ';', '.']),
        })
        .collect();
    let mut corrected_value = None;
    if let Some((at, value)) = correction_at_end(&pieces) {
        pieces.truncate(at);
        corrected_value = Some(value);
    }
    let pieces = without_withdrawn(without_not_but(pieces));
    let mut kept: Vec<String> = pieces.iter().map(|p| p.written.to_owned()).collect();
    if let Some(value) = corrected_value
        && let Some(last) = pieces.iter().rposition(|p| number_in(&p.word).is_some())
    {
        let old = number_in(&pieces[last].word).unwrap_or_default();
        kept[last] = pieces[last].written.replacen(&old, &value, 1);
    }
    kept.join(" ").trim_end_matches([',', ';', ' ']).to_owned()
}

/// The digits a word holds ("80", "$80", "9am" → "80", "80", "9").
fn number_in(word: &str) -> Option<String> {
    let digits: String = word.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// "…, no wait, make it 100", "…, no, tier 4", "…, actually make it 10": where the
/// correction starts (after a clause's end) and the value it gives, when it ends the
/// message with nothing but that value.
fn correction_at_end(pieces: &[Piece<'_>]) -> Option<(usize, String)> {
    let at = (1..pieces.len()).find(|&at| {
        pieces[at - 1].ends_clause
            && listed(CORRECTIONS, &pieces[at].word)
            && (at + 1..pieces.len()).any(|i| number_in(&pieces[i].word).is_some())
    })?;
    let rest: Vec<&str> = pieces[at..].iter().map(|p| p.word.as_str()).collect();
    let mut value = None;
    for word in rest {
        match number_in(word) {
            Some(number) if value.is_none() => value = Some(number),
            Some(_) => return None,
            None if listed(CORRECTIONS, word) || listed("i make it that tier to dollars usd a month", word) => {}
            None => return None,
        }
    }
    Some((at, value?))
}

/// "not under web but under customer-service", "not X, but Y": the alternative set aside.
fn without_not_but(pieces: Vec<Piece<'_>>) -> Vec<Piece<'_>> {
    let Some(not) = pieces.iter().position(|p| p.word == "not") else { return pieces };
    let Some(but) = (not + 1..pieces.len().min(not + 5)).find(|&i| pieces[i].word == "but") else { return pieces };
    // Said in parallel ("not under web but under …") or as a clause of its own.
    let parallel = pieces.get(not + 1).zip(pieces.get(but + 1)).is_some_and(|(a, b)| a.word == b.word);
    let own_clause = not == 0 || pieces[not - 1].ends_clause;
    if !(parallel || own_clause) {
        return pieces;
    }
    pieces.into_iter().enumerate().filter(|(i, _)| !(not..=but).contains(i)).map(|(_, p)| p).collect()
}

/// "don't wake editorial, wake buying-insight instead": a fleet request said as not to be
/// done is no request, whatever else the message asks.
fn without_withdrawn(pieces: Vec<Piece<'_>>) -> Vec<Piece<'_>> {
    let mut keep = vec![true; pieces.len()];
    let mut start = 0;
    while start < pieces.len() {
        let end = (start..pieces.len()).find(|&i| pieces[i].ends_clause).map_or(pieces.len(), |i| i + 1);
        let words: Vec<&str> = pieces[start..end].iter().map(|p| p.word.as_str()).collect();
        let verb = match words.as_slice() {
            // "don't anyone stop ops": the same, said to everyone.
            ["don't" | "dont", "anyone" | "anybody", verb, ..] => Some(*verb),
            ["don't" | "dont" | "never", verb, ..] | ["do", "not", verb, ..] => Some(*verb),
            // "nobody stop ops today, it's mid-migration": a request forbidden to all.
            ["nobody" | "noone", verb, ..] | ["no", "one", verb, ..] => Some(*verb),
            _ => None,
        };
        if verb.is_some_and(|verb| listed(FLEET_VERBS, verb)) {
            keep[start..end].iter_mut().for_each(|k| *k = false);
        }
        start = end;
    }
    pieces.into_iter().zip(keep).filter(|(_, keep)| *keep).map(|(p, _)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::as_meant;

    #[test]
    fn a_corrected_value_replaces_the_one_said() {
        assert_eq!(
            as_meant("give editorial a budget of 80 dollars a month, no wait, make it 100"),
            "give editorial a budget of 100 dollars a month"
        );
        assert_eq!(as_meant("put web on tier 3, no, tier 4"), "put web on tier 4");
        assert_eq!(
            as_meant("every monday at 9 have buying-insight post last week's top sellers, actually make it 10"),
            "every monday at 10 have buying-insight post last week's top sellers"
        );
    }

    #[test]
    fn a_request_said_not_to_be_done_is_taken_out() {
        assert_eq!(as_meant("don't wake editorial, wake buying-insight instead"), "wake buying-insight instead");
        assert_eq!(as_meant("don't put the analyst to sleep"), "");
        assert_eq!(as_meant("nobody stop ops today, it's mid-migration"), "it's mid-migration");
        assert_eq!(
            as_meant("set up a new office called events-desk, not under web but under customer-service"),
            "set up a new office called events-desk, under customer-service"
        );
    }

    #[test]
    fn what_takes_nothing_back_is_unchanged() {
        for text in [
            "don't let systems go to sleep for an hour after it's idle tonight",
            "stop whatever stock-dev is doing, don't wait for it to finish",
            "yes do it, but don't deploy before Monday",
            "the export is not working but the import is",
            "no, that's not what I meant",
            "how much has editorial spent this week, not this month",
            "no worries, thanks anyway",
        ] {
            assert_eq!(as_meant(text), text);
        }
    }
}
