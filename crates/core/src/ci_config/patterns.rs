//! The regular expressions a config writes (`/…/` branch and tag filters, `matches`), each
//! compiled once per compile: a matrix or a command repeats one pattern hundreds of times, and
//! compiling a long pattern takes milliseconds.

use regex::Regex;
use std::collections::HashMap;

/// Patterns compiled so far, by their text.
#[derive(Debug, Default)]
pub(crate) struct Patterns(HashMap<String, Option<Regex>>);

impl Patterns {
    /// A regular expression that matches a whole text when `pattern` does, or `None` when
    /// `pattern` is not a valid one.
    pub(crate) fn whole(&mut self, pattern: &str) -> Option<Regex> {
        if let Some(compiled) = self.0.get(pattern) {
            return compiled.clone();
        }
        let compiled = Regex::new(&format!("^(?:{pattern})$")).ok();
        self.0.insert(pattern.to_owned(), compiled.clone());
        compiled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_texts_and_invalid_ones_are_none() {
        let mut p = Patterns::default();
        let re = p.whole("release/.*").unwrap();
        assert!(re.is_match("release/1.2"));
        assert!(!re.is_match("pre-release/1.2"), "anchored at the start");
        assert!(
            !p.whole("a|b").unwrap().is_match("ab"),
            "alternatives anchored as a group"
        );
        assert!(p.whole("(").is_none());
        assert!(p.whole("(").is_none(), "an invalid pattern stays invalid");
        assert_eq!(p.0.len(), 3);
    }
}
