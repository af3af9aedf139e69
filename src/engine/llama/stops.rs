//! Stop strings: generation ends before the first stop string, and no part of one is ever
//! streamed (text that could still become a stop string is held back).

#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    /// Generated text not yet released.
    held: String,
}

/// What the matcher decided after new text arrived.
#[derive(Debug, PartialEq, Eq)]
pub enum StopOutcome {
    /// Text safe to release; generation goes on.
    Continue(String),
    /// A stop string appeared: release this text and end.
    Stopped(String),
}

impl StopMatcher {
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            held: String::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> StopOutcome {
        self.held.push_str(text);
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|stop| self.held.find(stop.as_str()))
            .min()
        {
            let released = self.held[..at].to_owned();
            self.held.clear();
            return StopOutcome::Stopped(released);
        }
        // Keep the longest tail that is a prefix of some stop string.
        let keep = self
            .stops
            .iter()
            .flat_map(|stop| {
                (1..stop.len().min(self.held.len() + 1))
                    .rev()
                    .filter(|&n| stop.is_char_boundary(n) && self.held.ends_with(&stop[..n]))
                    .take(1)
            })
            .max()
            .unwrap_or(0);
        let cut = self.held.len() - keep;
        let released = self.held[..cut].to_owned();
        self.held.drain(..cut);
        StopOutcome::Continue(released)
    }

    /// At the end of generation nothing more can complete a stop string: release the rest.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_before_a_stop_string_is_released_and_the_stop_is_not() {
        let mut matcher = StopMatcher::new(vec!["</end>".into()]);
        assert_eq!(matcher.push("hello </e"), StopOutcome::Continue("hello ".into()));
        assert_eq!(matcher.push("nd> more"), StopOutcome::Stopped(String::new()));
    }

    #[test]
    fn a_false_start_is_released_later() {
        let mut matcher = StopMatcher::new(vec!["STOP".into()]);
        assert_eq!(matcher.push("ST"), StopOutcome::Continue(String::new()));
        assert_eq!(matcher.push("AR"), StopOutcome::Continue("STAR".into()));
        assert_eq!(matcher.push("S"), StopOutcome::Continue(String::new()));
        assert_eq!(matcher.finish(), "S");
    }
}
