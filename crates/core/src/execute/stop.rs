//! Stop sequences over a token stream.
//!
//! A stop sequence can arrive split across tokens ("\n" + "\n"), so text that could still be the
//! start of a stop sequence is held back until it is known not to be one. Streamed text and the
//! final output therefore never contain any part of a stop sequence.

#[derive(Debug, Clone)]
pub struct StopMatcher {
    stops: Vec<String>,
    pending: String,
    stopped: bool,
}

/// What feeding a chunk produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fed {
    /// Text that is certainly output and may be shown now.
    pub emit: String,
    /// A stop sequence was completed; nothing after it is output.
    pub stopped: bool,
}

impl StopMatcher {
    pub fn new(stops: &[String]) -> Self {
        StopMatcher {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            pending: String::new(),
            stopped: false,
        }
    }

    pub fn feed(&mut self, chunk: &str) -> Fed {
        if self.stopped {
            return Fed {
                emit: String::new(),
                stopped: true,
            };
        }
        self.pending.push_str(chunk);
        let first_stop = self
            .stops
            .iter()
            .filter_map(|stop| self.pending.find(stop.as_str()))
            .min();
        if let Some(at) = first_stop {
            self.stopped = true;
            let emit = self.pending[..at].to_string();
            self.pending.clear();
            return Fed { emit, stopped: true };
        }
        let keep = self.longest_partial_suffix();
        let split = self.pending.len() - keep;
        let emit = self.pending[..split].to_string();
        self.pending.drain(..split);
        Fed { emit, stopped: false }
    }

    /// Text held back at the end of generation is output after all.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Length in bytes of the longest suffix of `pending` that is a proper prefix of a stop.
    fn longest_partial_suffix(&self) -> usize {
        let mut best = 0;
        for stop in &self.stops {
            let max = stop.len().saturating_sub(1).min(self.pending.len());
            for len in (best + 1..=max).rev() {
                let start = self.pending.len() - len;
                if self.pending.is_char_boundary(start) && stop.starts_with(&self.pending[start..]) {
                    best = len;
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], chunks: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut matcher = StopMatcher::new(&stops);
        let mut out = String::new();
        for chunk in chunks {
            let fed = matcher.feed(chunk);
            out.push_str(&fed.emit);
            if fed.stopped {
                return (out, true);
            }
        }
        out.push_str(&matcher.finish());
        (out, false)
    }

    #[test]
    fn a_stop_split_across_chunks_is_found_and_cut() {
        assert_eq!(
            run(&["\n\n"], &["Berlin", "\n", "\nmore"]),
            ("Berlin".into(), true)
        );
    }

    #[test]
    fn held_back_text_that_is_not_a_stop_is_released() {
        assert_eq!(run(&["END"], &["a E", "N", "x"]), ("a ENx".into(), false));
    }

    #[test]
    fn the_earliest_of_several_stops_wins() {
        assert_eq!(run(&["b", "a"], &["xxab"]), ("xx".into(), true));
    }

    #[test]
    fn without_stops_everything_is_emitted_at_once() {
        let mut matcher = StopMatcher::new(&[]);
        assert_eq!(matcher.feed("héllo").emit, "héllo");
    }

    #[test]
    fn multibyte_text_near_a_partial_stop_stays_intact() {
        assert_eq!(run(&["é!"], &["caf", "é", "?"]), ("café?".into(), false));
    }
}
