//! From YAML text to a [`Yaml`] tree, within bounds that a hostile config cannot push past.
//!
//! yaml-rust2's `YamlLoader` copies an anchored node at every alias that names it, so a 1 KB
//! "billion laughs" config (ten levels of ten aliases each) expands to 10¹⁰ nodes, and its
//! `Parser::load` recurses once per nesting level, as do `Clone`, `Drop` and `Hash` of the tree
//! and our own walks of it, so 5,000 nested `- ` overflow a thread's stack. This loader reads the
//! parser's events one at a time (the event parser itself keeps its state on the heap), builds
//! the same tree `YamlLoader` would, and stops at the first event that passes one of:
//!
//! - [`MAX_CONFIG_BYTES`] (1 MiB) of input, checked before parsing starts;
//! - [`MAX_DEPTH`] (64) nested sequences and mappings, an alias counting the depth of what it
//!   copies: real CircleCI configs nest fewer than 20 levels, and 64 keeps every recursive walk
//!   of the tree to tens of kilobytes of stack;
//! - [`MAX_NODES`] (250,000) nodes made, counting every node an alias copies and the copy kept
//!   of each anchored node: a line of an ordinary config makes one to three nodes, so even
//!   1 MiB of it (some 35,000 lines) stays under, and the tree takes about 25 MiB at worst;
//! - [`MAX_SCALAR_BYTES`] (4 MiB) of scalar text made, counted the same way: four times what
//!   the input alone can hold, so only copies through aliases can reach it.
//!
//! Each ends in a [`YamlError`] whose text is written for the config's author. Within these
//! bounds the tree and its text take at most about 35 MiB. The scanner costs more: it holds
//! every token of a flow collection (`[…]`, `{…}`) before the parser sends the first event,
//! about 200 bytes per byte of input at worst, so parsing 1 MiB peaks at about 200 MiB; the
//! limit on input size is what bounds it (`tests/yaml_bounds.rs` checks heap and time).
//!
//! What differs from `YamlLoader`: a duplicated key is refused with a readable message naming
//! it; a key that is not valid YAML for its tag (`!!int x`) stays a key rather than shifting the
//! mapping's keys and values by one. Merge keys (`<<: *defaults`) are not expanded: `<<` is an
//! ordinary key, and a second one in the same mapping is a duplicated key.

use super::MAX_CONFIG_BYTES;
use std::collections::HashMap;
use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};
use yaml_rust2::yaml::Hash;

/// The deepest nesting of sequences and mappings accepted.
pub const MAX_DEPTH: usize = 64;

/// The most nodes (scalars, sequences, mappings) a config may make, alias copies included.
pub const MAX_NODES: usize = 250_000;

/// The most bytes of scalar text a config may make, alias copies included.
pub const MAX_SCALAR_BYTES: usize = 4 * 1024 * 1024;

/// Why YAML text was not loaded; each reads as a sentence for the config's author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// The input is larger than [`MAX_CONFIG_BYTES`].
    #[error("config is larger than {MAX_CONFIG_BYTES} bytes")]
    TooLarge,
    /// The text is not YAML, or repeats a key.
    #[error("config is not valid YAML: {what} (line {line}, column {column})")]
    Syntax {
        /// What is wrong.
        what: String,
        /// Where, 1-based.
        line: usize,
        /// Where, 1-based.
        column: usize,
    },
    /// Sequences and mappings nest deeper than [`MAX_DEPTH`].
    #[error("config nests deeper than {MAX_DEPTH} levels (line {line})")]
    TooDeep {
        /// The line of the sequence, mapping or alias that went past the limit.
        line: usize,
    },
    /// More than [`MAX_NODES`] nodes.
    #[error("{}", too_many("nodes", MAX_NODES, *through_aliases))]
    TooManyNodes {
        /// Whether aliases made copies on the way there.
        through_aliases: bool,
    },
    /// More than [`MAX_SCALAR_BYTES`] bytes of text.
    #[error("{}", too_many("bytes of text", MAX_SCALAR_BYTES, *through_aliases))]
    TooMuchText {
        /// Whether aliases made copies on the way there.
        through_aliases: bool,
    },
}

fn too_many(what: &str, limit: usize, through_aliases: bool) -> String {
    if through_aliases {
        format!("config expands to more than {limit} {what} through its aliases (YAML anchors)")
    } else {
        format!("config has more than {limit} {what}")
    }
}

impl From<ScanError> for YamlError {
    fn from(e: ScanError) -> Self {
        let at = e.marker();
        // The scanner reads ahead and refuses 256 nested `[`/`{` before we see them open.
        if e.info() == "recursion limit exceeded" {
            return YamlError::TooDeep { line: at.line() };
        }
        YamlError::Syntax {
            what: e.info().to_owned(),
            line: at.line(),
            column: at.col() + 1,
        }
    }
}

/// Every document in `text`, each as `YamlLoader::load_from_str` would build it, or the first
/// bound passed or syntax error met.
pub fn load(text: &str) -> Result<Vec<Yaml>, YamlError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(YamlError::TooLarge);
    }
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder::default();
    // `Parser::load` would push the events to us, but it recurses once per nesting level and
    // cannot be stopped at the first bound passed; pulling them keeps both in our hands.
    loop {
        match parser.next_token()? {
            (Event::StreamEnd, _) => return Ok(builder.docs),
            (event, mark) => builder.on_event(event, mark)?,
        }
    }
}

/// What a subtree made: the costs that bounds are checked against.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    nodes: usize,
    bytes: usize,
    /// Levels of sequences and mappings: 0 for a scalar.
    height: usize,
}

impl Cost {
    fn scalar(text: &str) -> Self {
        Cost {
            nodes: 1,
            bytes: text.len(),
            height: 0,
        }
    }
}

/// A sequence or mapping whose end has not been read yet.
struct Open {
    node: Collection,
    anchor: usize,
    cost: Cost,
}

enum Collection {
    Sequence(Vec<Yaml>),
    /// A mapping, with the key read and waiting for its value (and where it was).
    Mapping(Hash, Option<(Yaml, Marker)>),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Yaml>,
    /// The sequences and mappings being read, outermost first.
    open: Vec<Open>,
    /// The current document's top node, once read.
    top: Option<Yaml>,
    /// Anchored nodes by the parser's anchor id, each with what a copy of it costs.
    anchors: HashMap<usize, (Yaml, Cost)>,
    /// Everything made so far, alias copies and anchor copies included.
    spent: Cost,
    /// Whether aliases or anchors made copies (it changes what a limit's message says).
    copied: bool,
}

impl Builder {
    fn on_event(&mut self, event: Event, mark: Marker) -> Result<(), YamlError> {
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart => {}
            Event::DocumentEnd => {
                // The parser only ends a document with every collection closed.
                self.docs.push(self.top.take().unwrap_or(Yaml::BadValue));
            }
            Event::SequenceStart(anchor, _) => {
                self.open(Collection::Sequence(Vec::new()), anchor, mark)?
            }
            Event::MappingStart(anchor, _) => {
                self.open(Collection::Mapping(Hash::new(), None), anchor, mark)?
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let open = self
                    .open
                    .pop()
                    .expect("the parser closes only what it opened");
                let node = match open.node {
                    Collection::Sequence(items) => Yaml::Array(items),
                    Collection::Mapping(entries, _) => Yaml::Hash(entries),
                };
                self.finish(node, open.cost, open.anchor, mark)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let cost = Cost::scalar(&text);
                self.spend(cost, false)?;
                self.finish(scalar(text, style, tag.as_ref()), cost, anchor, mark)?;
            }
            Event::Alias(anchor) => {
                // An alias of an anchor still being read (`&a [*a]`) is a bad value, as in
                // `YamlLoader`; the parser refuses anchors it has not seen.
                let Some(&(_, cost)) = self.anchors.get(&anchor) else {
                    return self.finish(Yaml::BadValue, Cost::scalar(""), 0, mark);
                };
                if self.open.len() + cost.height > MAX_DEPTH {
                    return Err(YamlError::TooDeep { line: mark.line() });
                }
                // Counted before it is made: the copy is what an alias bomb multiplies.
                self.spend(cost, true)?;
                let node = self.anchors[&anchor].0.clone();
                self.finish(node, cost, 0, mark)?;
            }
        }
        Ok(())
    }

    fn open(&mut self, node: Collection, anchor: usize, mark: Marker) -> Result<(), YamlError> {
        if self.open.len() + 1 > MAX_DEPTH {
            return Err(YamlError::TooDeep { line: mark.line() });
        }
        let cost = Cost {
            nodes: 1,
            bytes: 0,
            height: 1,
        };
        self.spend(cost, false)?;
        self.open.push(Open { node, anchor, cost });
        Ok(())
    }

    /// Counts `cost` against the bounds; `copy` says it is a copy made for an alias or anchor.
    fn spend(&mut self, cost: Cost, copy: bool) -> Result<(), YamlError> {
        self.copied |= copy;
        self.spent.nodes += cost.nodes;
        self.spent.bytes += cost.bytes;
        if self.spent.nodes > MAX_NODES {
            return Err(YamlError::TooManyNodes {
                through_aliases: self.copied,
            });
        }
        if self.spent.bytes > MAX_SCALAR_BYTES {
            return Err(YamlError::TooMuchText {
                through_aliases: self.copied,
            });
        }
        Ok(())
    }

    /// Keeps a copy of `node` for later aliases if it is anchored, and puts it in its place.
    fn finish(
        &mut self,
        node: Yaml,
        cost: Cost,
        anchor: usize,
        mark: Marker,
    ) -> Result<(), YamlError> {
        // The parser's anchor ids start at 1; 0 means none.
        if anchor > 0 {
            self.spend(cost, true)?;
            self.anchors.insert(anchor, (node.clone(), cost));
        }
        let Some(parent) = self.open.last_mut() else {
            self.top = Some(node);
            return Ok(());
        };
        parent.cost.nodes += cost.nodes;
        parent.cost.bytes += cost.bytes;
        parent.cost.height = parent.cost.height.max(cost.height + 1);
        match &mut parent.node {
            Collection::Sequence(items) => items.push(node),
            Collection::Mapping(_, key @ None) => *key = Some((node, mark)),
            Collection::Mapping(entries, key @ Some(_)) => {
                let (key, at) = key.take().expect("matched Some");
                insert(entries, key, node, at)?;
            }
        }
        Ok(())
    }
}

/// Adds one entry to a mapping; `at` is where its key was.
fn insert(entries: &mut Hash, key: Yaml, value: Yaml, at: Marker) -> Result<(), YamlError> {
    if entries.contains_key(&key) {
        return Err(YamlError::Syntax {
            what: format!("key {} appears twice in one mapping", describe(&key)),
            line: at.line(),
            column: at.col() + 1,
        });
    }
    entries.insert(key, value);
    Ok(())
}

/// A key as its author wrote it, short.
fn describe(key: &Yaml) -> String {
    match key {
        Yaml::String(s) | Yaml::Real(s) => {
            let short: String = s.chars().take(60).collect();
            format!("'{}'", short.escape_debug())
        }
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => "null".into(),
        Yaml::Array(_) => "(a sequence)".into(),
        Yaml::Hash(_) => "(a mapping)".into(),
        Yaml::Alias(_) | Yaml::BadValue => "(an invalid value)".into(),
    }
}

/// A scalar's value, typed as `YamlLoader` types it: quoted and block scalars are strings, a
/// `!!bool`, `!!int`, `!!float` or `!!null` tag forces the type, plain ones are guessed.
fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Yaml {
    if style != TScalarStyle::Plain {
        return Yaml::String(text);
    }
    let Some(tag) = tag else {
        return Yaml::from_str(&text);
    };
    if tag.handle != "tag:yaml.org,2002:" {
        return Yaml::String(text);
    }
    match tag.suffix.as_str() {
        "bool" => match text.as_str() {
            "true" | "True" | "TRUE" => Yaml::Boolean(true),
            "false" | "False" | "FALSE" => Yaml::Boolean(false),
            _ => Yaml::BadValue,
        },
        "int" => text.parse().map_or(Yaml::BadValue, Yaml::Integer),
        "float" if is_float(&text) => Yaml::Real(text),
        "float" => Yaml::BadValue,
        "null" => match text.as_str() {
            "~" | "null" => Yaml::Null,
            _ => Yaml::BadValue,
        },
        _ => Yaml::String(text),
    }
}

/// Whether `text` is a float as YAML's core schema reads one (what `YamlLoader` checks for
/// `!!float`).
fn is_float(text: &str) -> bool {
    matches!(
        text,
        ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
            | ".nan"
            | ".NaN"
            | ".NAN"
    ) || (text.bytes().any(|b| b.is_ascii_digit()) && text.parse::<f64>().is_ok())
}

#[cfg(test)]
mod tests;
