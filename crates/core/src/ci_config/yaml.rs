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
//! What differs from `YamlLoader`: the tree is our [`Node`] (every node knows its line and
//! column, scalars keep their text); plain scalars are typed as YAML 1.1 (CircleCI's YAML) types
//! them (`yes`/`no`/`on`/`off` are booleans); merge keys (`<<: *defaults`, also a list of them)
//! are applied as YAML 1.1 defines them; a duplicated key, a list or mapping used as a key, an
//! alias of the node that contains it and a value that does not fit its tag (`!!int x`) are each
//! refused with a message naming them.

use super::MAX_CONFIG_BYTES;
use super::node::{Entry, Kind, Map, Mark, Node, Scalar, Value, plain_kind};
use std::collections::{BTreeSet, HashMap};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

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

/// One YAML document of a config.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Its top node.
    pub root: Node,
    /// Keys of the top-level mapping whose values define an anchor (`defaults: &defaults`):
    /// CircleCI ignores such keys, whatever they are called.
    pub anchor_keys: BTreeSet<String>,
}

/// Every document in `text`, or the first bound passed or syntax error met.
pub fn load(text: &str) -> Result<Vec<Document>, YamlError> {
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
    mark: Mark,
}

enum Collection {
    Sequence(Vec<Node>),
    Mapping(Pending),
}

/// A mapping being read.
#[derive(Default)]
struct Pending {
    map: Map,
    /// The keys so far: a duplicate is found in constant time (a linear search made a 450 KB
    /// mapping of 46,000 keys take seconds).
    keys: std::collections::HashSet<String>,
    /// The key read and waiting for its value.
    key: Option<PendingKey>,
    /// Merge keys met (`<<: *defaults`): where they were among the entries, and their values.
    merges: Vec<(usize, Node)>,
}

struct PendingKey {
    text: String,
    /// What makes two keys the same key: their text, but every spelling of null (nothing,
    /// `~`, `null`) is one key, as YAML reads them.
    identity: String,
    mark: Mark,
    /// A plain `<<`: YAML 1.1's merge key.
    merge: bool,
    /// How many anchors had been defined when the key was read.
    anchors_before: usize,
}

#[derive(Default)]
struct Builder {
    docs: Vec<Document>,
    /// The sequences and mappings being read, outermost first.
    open: Vec<Open>,
    /// The current document's top node, once read.
    top: Option<Node>,
    /// Top-level keys of the current document that define anchors.
    anchor_keys: BTreeSet<String>,
    /// Anchored nodes by the parser's anchor id, each with what a copy of it costs.
    anchors: HashMap<usize, (Node, Cost)>,
    /// How many anchors were defined so far.
    anchors_defined: usize,
    /// Everything made so far, alias copies and anchor copies included.
    spent: Cost,
    /// Whether aliases or anchors made copies (it changes what a limit's message says).
    copied: bool,
}

fn mark_of(m: Marker) -> Mark {
    Mark {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        column: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
    }
}

fn syntax(what: impl Into<String>, at: Mark) -> YamlError {
    YamlError::Syntax {
        what: what.into(),
        line: at.line as usize,
        column: at.column as usize,
    }
}

impl Builder {
    fn on_event(&mut self, event: Event, marker: Marker) -> Result<(), YamlError> {
        let mark = mark_of(marker);
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart => {}
            Event::DocumentEnd => {
                // The parser only ends a document with every collection closed.
                let root = self.top.take().unwrap_or_else(|| Node::null(mark));
                let anchor_keys = std::mem::take(&mut self.anchor_keys);
                self.docs.push(Document { root, anchor_keys });
            }
            Event::SequenceStart(anchor, _) => {
                self.open(Collection::Sequence(Vec::new()), anchor, mark)?
            }
            Event::MappingStart(anchor, _) => {
                self.open(Collection::Mapping(Pending::default()), anchor, mark)?
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let open = self
                    .open
                    .pop()
                    .expect("the parser closes only what it opened");
                let value = match open.node {
                    Collection::Sequence(items) => Value::Seq(items),
                    Collection::Mapping(pending) => Value::Map(merged(pending)?),
                };
                let node = Node {
                    value,
                    mark: open.mark,
                };
                self.finish(node, open.cost, open.anchor, false)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let cost = Cost::scalar(&text);
                self.spend(cost, false)?;
                let plain_merge = style == TScalarStyle::Plain && tag.is_none() && text == "<<";
                let node = Node {
                    value: Value::Scalar(scalar(text, style, tag.as_ref(), mark)?),
                    mark,
                };
                self.finish(node, cost, anchor, plain_merge)?;
            }
            Event::Alias(anchor) => {
                // The parser refuses anchors it has not seen; one still being read is not there.
                let Some(&(_, cost)) = self.anchors.get(&anchor) else {
                    return Err(syntax("an alias refers to the node that contains it", mark));
                };
                if self.open.len() + cost.height > MAX_DEPTH {
                    return Err(YamlError::TooDeep {
                        line: mark.line as usize,
                    });
                }
                // Counted before it is made: the copy is what an alias bomb multiplies.
                self.spend(cost, true)?;
                let node = self.anchors[&anchor].0.clone();
                self.finish(node, cost, 0, false)?;
            }
        }
        Ok(())
    }

    fn open(&mut self, node: Collection, anchor: usize, mark: Mark) -> Result<(), YamlError> {
        if self.open.len() + 1 > MAX_DEPTH {
            return Err(YamlError::TooDeep {
                line: mark.line as usize,
            });
        }
        let cost = Cost {
            nodes: 1,
            bytes: 0,
            height: 1,
        };
        self.spend(cost, false)?;
        self.open.push(Open {
            node,
            anchor,
            cost,
            mark,
        });
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

    /// Keeps a copy of `node` for later aliases if it is anchored, and puts it in its place;
    /// `merge_key` says it is a plain `<<`.
    fn finish(
        &mut self,
        node: Node,
        cost: Cost,
        anchor: usize,
        merge_key: bool,
    ) -> Result<(), YamlError> {
        // The parser's anchor ids start at 1; 0 means none.
        if anchor > 0 {
            self.spend(cost, true)?;
            self.anchors.insert(anchor, (node.clone(), cost));
            self.anchors_defined += 1;
        }
        let depth = self.open.len();
        let Some(parent) = self.open.last_mut() else {
            self.top = Some(node);
            return Ok(());
        };
        parent.cost.nodes += cost.nodes;
        parent.cost.bytes += cost.bytes;
        parent.cost.height = parent.cost.height.max(cost.height + 1);
        match &mut parent.node {
            Collection::Sequence(items) => items.push(node),
            Collection::Mapping(pending) => match pending.key.take() {
                None => {
                    let Value::Scalar(key) = node.value else {
                        return Err(syntax(
                            "a mapping key must be text, not a list or a mapping",
                            node.mark,
                        ));
                    };
                    pending.key = Some(PendingKey {
                        identity: if key.kind == Kind::Null {
                            "\u{0}null".to_owned()
                        } else {
                            key.text.clone()
                        },
                        text: key.text,
                        mark: node.mark,
                        merge: merge_key,
                        anchors_before: self.anchors_defined,
                    });
                }
                Some(key) if key.merge => {
                    let at = pending.map.len();
                    pending.merges.push((at, node));
                }
                Some(key) => {
                    if !pending.keys.insert(key.identity.clone()) {
                        return Err(syntax(
                            format!(
                                "key {} appears twice in one mapping",
                                Node::text(key.text, key.mark).describe()
                            ),
                            key.mark,
                        ));
                    }
                    if depth == 1 && self.anchors_defined > key.anchors_before {
                        self.anchor_keys.insert(key.text.clone());
                    }
                    pending.map.push(Entry {
                        key: key.text,
                        key_mark: key.mark,
                        value: node,
                    });
                }
            },
        }
        Ok(())
    }
}

/// A mapping with its merge keys applied, as YAML 1.1 defines them: each `<<` names a mapping
/// or a list of mappings whose entries are added where the `<<` was written, unless the mapping
/// has the key itself or an earlier merge added it.
fn merged(pending: Pending) -> Result<Map, YamlError> {
    if pending.merges.is_empty() {
        return Ok(pending.map);
    }
    let explicit = pending.map;
    let mut sources: Vec<(usize, Vec<Entry>)> = Vec::new();
    for (at, node) in pending.merges {
        let mark = node.mark;
        let maps = match node.value {
            Value::Map(m) => vec![m],
            Value::Seq(items) => items
                .into_iter()
                .map(|i| match i.value {
                    Value::Map(m) => Ok(m),
                    _ => Err(()),
                })
                .collect::<Result<Vec<_>, ()>>()
                .map_err(|()| merge_error(mark))?,
            Value::Scalar(_) => return Err(merge_error(mark)),
        };
        sources.push((at, maps.into_iter().flat_map(Map::into_entries).collect()));
    }
    let mut out = Map::default();
    let mut seen: std::collections::HashSet<String> =
        explicit.iter().map(|e| e.key.clone()).collect();
    let mut sources = sources.into_iter().peekable();
    let mut add_merged_at =
        |i: usize, out: &mut Map, seen: &mut std::collections::HashSet<String>| {
            while let Some((_, entries)) = sources.next_if(|(at, _)| *at <= i) {
                for e in entries {
                    if seen.insert(e.key.clone()) {
                        out.push(e);
                    }
                }
            }
        };
    for (i, e) in explicit.into_entries().into_iter().enumerate() {
        add_merged_at(i, &mut out, &mut seen);
        out.push(e);
    }
    add_merged_at(usize::MAX, &mut out, &mut seen);
    Ok(out)
}

fn merge_error(mark: Mark) -> YamlError {
    syntax(
        "a merge key (`<<`) takes a mapping or a list of mappings, like `<<: *defaults`",
        mark,
    )
}

/// A scalar's text and type: quoted and block scalars are text (whatever their tag, as
/// `YamlLoader` has it), a `!!bool`, `!!int`, `!!float`, `!!null` or `!!str` tag forces the type (a value that does not fit it is an error), plain
/// ones are typed as YAML 1.1 types them.
fn scalar(
    text: String,
    style: TScalarStyle,
    tag: Option<&Tag>,
    mark: Mark,
) -> Result<Scalar, YamlError> {
    let kind = match tag {
        _ if style != TScalarStyle::Plain => Kind::Str,
        None => plain_kind(&text),
        Some(tag) if tag.handle != "tag:yaml.org,2002:" => Kind::Str,
        Some(tag) => {
            let kind = match tag.suffix.as_str() {
                "bool" => match text.as_str() {
                    "true" | "True" | "TRUE" => Some(Kind::Bool(true)),
                    "false" | "False" | "FALSE" => Some(Kind::Bool(false)),
                    _ => None,
                },
                "int" => text.parse().ok().map(Kind::Int),
                "float" => is_float(&text).then_some(Kind::Float),
                "null" => matches!(text.as_str(), "~" | "null" | "").then_some(Kind::Null),
                _ => Some(Kind::Str),
            };
            kind.ok_or_else(|| {
                syntax(
                    format!(
                        "{} is not a valid !!{}",
                        Node::text(text.clone(), mark).describe(),
                        tag.suffix
                    ),
                    mark,
                )
            })?
        }
    };
    Ok(Scalar { text, kind })
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
