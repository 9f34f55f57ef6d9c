//! Stop strings, matched across token boundaries.
//!
//! Generated text arrives in pieces (one per token), and a stop string may be split over several
//! of them. [`StopMatcher`] holds back the shortest amount of text needed to decide: after each
//! push it emits everything except the longest suffix that is still a (proper) prefix of some stop
//! string. Held-back text is released as soon as it can no longer become a stop string, or by
//! [`StopMatcher::flush`] at the end of generation.
//!
//! Why holding back that suffix is enough: if a stop string were to start inside text already
//! emitted, the text from that start to the end of the buffer would have been a prefix of that stop
//! string, so it would have been held back instead.
//!
//! When several stop strings occur, the one that *starts* earliest wins. The stop string itself,
//! and anything after it, is never returned. All cuts fall on `char` boundaries (matches of valid
//! UTF-8 strings start and end on boundaries, and candidate suffixes are taken at
//! `char_indices`), so multi-byte characters are never split.

/// Watches generated text for any of a set of stop strings.
#[derive(Clone, Debug)]
pub struct StopMatcher {
    /// The non-empty stop strings.
    stops: Vec<String>,
    /// Text received but not yet emitted: always a proper prefix of some stop string (or empty)
    /// between calls.
    pending: String,
    /// Set once a stop string has been seen; later pushes return `Stop("")`.
    stopped: bool,
}

/// Outcome of [`StopMatcher::push`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopResult {
    /// No stop string yet: this text is safe to emit now (may be empty, when all of it is held
    /// back).
    Continue(String),
    /// A stop string was found: this is the remaining text before it; generation should end.
    Stop(String),
}

impl StopMatcher {
    /// Build a matcher; empty stop strings are ignored (they would match everywhere).
    pub fn new(stops: Vec<String>) -> Self {
        StopMatcher {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            pending: String::new(),
            stopped: false,
        }
    }

    /// True when there are no (non-empty) stop strings, so every push passes straight through.
    pub fn is_empty(&self) -> bool {
        self.stops.is_empty()
    }

    /// Feed newly decoded text.
    pub fn push(&mut self, text: &str) -> StopResult {
        if self.stopped {
            return StopResult::Stop(String::new());
        }
        self.pending.push_str(text);

        // A complete stop string anywhere in the buffer? The earliest start wins. (The buffer is
        // short: at most the longest stop string plus the new text.)
        let earliest = self.stops.iter().filter_map(|s| self.pending.find(s.as_str())).min();
        if let Some(at) = earliest {
            self.pending.truncate(at);
            self.stopped = true;
            return StopResult::Stop(std::mem::take(&mut self.pending));
        }

        // No match: hold back the longest suffix that could still grow into a stop string. The
        // first (leftmost) char boundary whose suffix is a prefix of a stop gives the longest one.
        let hold_from = self
            .pending
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| {
                let tail = &self.pending[i..];
                self.stops.iter().any(|s| s.starts_with(tail))
            })
            .unwrap_or(self.pending.len());
        let held = self.pending.split_off(hold_from);
        StopResult::Continue(std::mem::replace(&mut self.pending, held))
    }

    /// End of generation without a stop string: the held-back text was ordinary text after all.
    /// Returns it (empty after a stop, or if nothing was held) and leaves the buffer empty.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Push `pieces` in order; return everything emitted (plus the flush if no stop) and whether a
    /// stop string ended it.
    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let mut m = StopMatcher::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = String::new();
        for p in pieces {
            match m.push(p) {
                StopResult::Continue(t) => out += &t,
                StopResult::Stop(t) => return (out + &t, true),
            }
        }
        (out + &m.flush(), false)
    }

    #[test]
    fn stop_across_pieces() {
        assert_eq!(run(&["\n\n"], &["a", "\n", "\n", "b"]), ("a".into(), true));
        assert_eq!(run(&["STOP"], &["xxST", "O", "Pyy"]), ("xx".into(), true));
        // Step by step: the first "\n" is held, the second completes the stop.
        let mut m = StopMatcher::new(vec!["\n\n".into()]);
        assert_eq!(m.push("hi"), StopResult::Continue("hi".into()));
        assert_eq!(m.push("\n"), StopResult::Continue("".into()));
        assert_eq!(m.push("\n"), StopResult::Stop("".into()));
        assert_eq!(m.flush(), "");
        // Pushing after a stop stays stopped.
        assert_eq!(m.push("more"), StopResult::Stop("".into()));
    }

    #[test]
    fn stop_inside_one_piece_drops_the_rest() {
        assert_eq!(run(&["</s>"], &["answer</s>ignored"]), ("answer".into(), true));
        assert_eq!(run(&["</s>"], &["</s>"]), ("".into(), true));
    }

    #[test]
    fn partial_prefix_then_mismatch_releases_text() {
        let mut m = StopMatcher::new(vec!["abc".into()]);
        assert_eq!(m.push("xab"), StopResult::Continue("x".into()));
        assert_eq!(m.push("d"), StopResult::Continue("abd".into()));
        // A held prefix at the end of generation comes back from flush.
        assert_eq!(run(&["abc"], &["ab"]), ("ab".into(), false));
        // A single "\n" followed by other text is released.
        assert_eq!(run(&["\n\n"], &["a", "\n", "b", "\n"]), ("a\nb\n".into(), false));
    }

    #[test]
    fn several_candidate_starts_in_one_push() {
        // "aaab": starts at 0 and 1 are both candidates for "aab"; the one at 1 matches.
        assert_eq!(run(&["aab"], &["xaaab"]), ("xa".into(), true));
        // Across pushes: "aaa" holds back only "aa" (the longest suffix that is a prefix of "aab").
        let mut m = StopMatcher::new(vec!["aab".into()]);
        assert_eq!(m.push("xaaa"), StopResult::Continue("xa".into()));
        assert_eq!(m.push("b"), StopResult::Stop("".into()));
        // Self-overlapping stop: "abab" in "ababab..." found at the first start.
        assert_eq!(run(&["abab"], &["ab", "a", "bab"]), ("".into(), true));
    }

    #[test]
    fn several_stops_earliest_start_wins() {
        assert_eq!(run(&["world", "lo"], &["hello world"]), ("hel".into(), true));
        // Held back for the longer one while the shorter one completes later.
        assert_eq!(run(&["abcd", "bc"], &["xa", "bc"]), ("xa".into(), true));
        // Two stops sharing a prefix: hold while either could still match.
        let mut m = StopMatcher::new(vec!["END".into(), "ENOUGH".into()]);
        assert_eq!(m.push("xEN"), StopResult::Continue("x".into()));
        assert_eq!(m.push("O"), StopResult::Continue("".into()));
        assert_eq!(m.push("X"), StopResult::Continue("ENOX".into()));
    }

    #[test]
    fn unicode_is_never_split() {
        assert_eq!(run(&["é!"], &["café", "!x"]), ("caf".into(), true));
        assert_eq!(run(&["日本語"], &["日本", "人"]), ("日本人".into(), false));
        // Held-back text is whole characters; emitted text is valid at every step.
        let mut m = StopMatcher::new(vec!["🙂🙃".into()]);
        assert_eq!(m.push("a🙂"), StopResult::Continue("a".into()));
        assert_eq!(m.push("🙂"), StopResult::Continue("🙂".into()));
        assert_eq!(m.push("🙃b"), StopResult::Stop("".into()));
        // A stop that shares leading bytes (not chars) with the text must not match: 'é' (C3 A9)
        // vs 'è' (C3 A8).
        assert_eq!(run(&["è"], &["é", "é"]), ("éé".into(), false));
        let mut m = StopMatcher::new(vec!["è".into()]);
        assert_eq!(m.push("é"), StopResult::Continue("é".into()));
    }

    #[test]
    fn no_stops_passes_through() {
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
        assert_eq!(run(&[""], &["a"]), ("a".into(), false));
        assert!(StopMatcher::new(vec!["".into()]).is_empty());
        let mut m = StopMatcher::new(vec![]);
        assert_eq!(m.push("xyz"), StopResult::Continue("xyz".into()));
        assert_eq!(m.flush(), "");
    }
}
