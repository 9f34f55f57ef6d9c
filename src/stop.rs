//! Stop strings matched across token boundaries. Text that might be the start of a stop string is
//! held back until it is known not to be; the stop string itself is never returned.

pub struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum StopResult {
    /// Text safe to emit now (may be empty).
    Continue(String),
    /// Final text before the stop string.
    Stop(String),
}

impl StopMatcher {
    pub fn new(stops: Vec<String>) -> Self {
        StopMatcher { stops: stops.into_iter().filter(|s| !s.is_empty()).collect(), pending: String::new() }
    }

    pub fn push(&mut self, text: &str) -> StopResult {
        self.pending.push_str(text);
        if self.stops.is_empty() {
            return StopResult::Continue(std::mem::take(&mut self.pending));
        }
        // earliest complete stop string wins
        if let Some(at) = self.stops.iter().filter_map(|s| self.pending.find(s.as_str())).min() {
            let out = self.pending[..at].to_string();
            self.pending.clear();
            return StopResult::Stop(out);
        }
        // hold back the longest suffix that is a proper prefix of some stop string
        let mut keep_from = self.pending.len();
        for (i, _) in self.pending.char_indices() {
            let tail = &self.pending[i..];
            if self.stops.iter().any(|s| s.starts_with(tail)) {
                keep_from = i;
                break;
            }
        }
        let out = self.pending[..keep_from].to_string();
        self.pending.drain(..keep_from);
        StopResult::Continue(out)
    }

    /// End of generation: whatever was held back is ordinary text after all.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn partial_prefix_is_released() {
        let mut m = StopMatcher::new(vec!["abc".into()]);
        assert_eq!(m.push("xab"), StopResult::Continue("x".into()));
        assert_eq!(m.push("d"), StopResult::Continue("abd".into()));
        assert_eq!(run(&["abc"], &["ab"]), ("ab".into(), false));
    }

    #[test]
    fn several_stops_earliest_wins() {
        assert_eq!(run(&["world", "lo"], &["hello world"]), ("hel".into(), true));
    }

    #[test]
    fn unicode_is_never_split() {
        assert_eq!(run(&["é!"], &["café", "!x"]), ("caf".into(), true));
        assert_eq!(run(&["日本語"], &["日本", "人"]), ("日本人".into(), false));
    }

    #[test]
    fn no_stops_passes_through() {
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
        assert_eq!(run(&[""], &["a"]), ("a".into(), false));
    }
}
