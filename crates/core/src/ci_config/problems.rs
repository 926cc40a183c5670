//! The problems found in a config: each once, with where it is, at most a screenful.

use super::ConfigErrors;
use super::node::Mark;
use std::collections::HashSet;

/// The most problems listed one by one; the rest are counted. A config with more has one
/// mistake repeated, or is not a CircleCI config at all: the first screenful is what helps.
pub const MAX_LISTED: usize = 20;

/// The longest problem listed, in characters: messages quote names and values.
const MAX_CHARS: usize = 300;

/// Problems found so far.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    listed: Vec<String>,
    seen: HashSet<String>,
    /// Problems past [`MAX_LISTED`], counted only.
    unlisted: usize,
}

impl Problems {
    /// Notes `message`, about the text at `mark` when known; a message already noted is not
    /// noted again.
    pub fn at(&mut self, mark: Mark, message: impl Into<String>) {
        let mut message: String = message.into();
        if let Some((cut, _)) = message.char_indices().nth(MAX_CHARS) {
            message.truncate(cut);
            message.push('…');
        }
        if mark.known() {
            message = format!("{message} ({mark})");
        }
        if !self.seen.insert(message.clone()) {
            return;
        }
        if self.listed.len() == MAX_LISTED {
            self.unlisted += 1;
        } else {
            self.listed.push(message);
        }
    }

    /// Notes `message`, about no place in particular.
    pub fn add(&mut self, message: impl Into<String>) {
        self.at(Mark::default(), message);
    }

    /// How many problems were noted.
    pub fn count(&self) -> usize {
        self.listed.len() + self.unlisted
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The problems as the config's errors, if there are any.
    pub fn into_result(mut self) -> Result<(), ConfigErrors> {
        if self.listed.is_empty() {
            return Ok(());
        }
        if self.unlisted > 0 {
            let more = format!(
                "and {} more problem{}",
                self.unlisted,
                if self.unlisted == 1 { "" } else { "s" }
            );
            self.listed.push(more);
        }
        Err(ConfigErrors(self.listed))
    }
}
