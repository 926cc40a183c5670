//! The YAML tree the config compiler works on: scalars keep the text their author wrote (and
//! the type YAML 1.1 gives it), every node knows its line and column, mapping keys are text.

use std::fmt;
use yaml_rust2::Yaml;
use yaml_rust2::yaml::Hash;

/// Where a node starts in the config text, 1-based; `0:0` for nodes the compiler made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Mark {
    /// The line.
    pub line: u32,
    /// The column.
    pub column: u32,
}

impl Mark {
    /// Whether this mark points into the text.
    pub fn known(self) -> bool {
        self.line > 0
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it holds.
    pub value: Value,
    /// Where it starts.
    pub mark: Mark,
}

/// A scalar, a sequence or a mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text, with the type YAML gives it.
    Scalar(Scalar),
    /// A list.
    Seq(Vec<Node>),
    /// A mapping, in the order its keys were written.
    Map(Map),
}

/// A scalar: the text as written (without quotes) and its YAML type.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The text.
    pub text: String,
    /// Its type.
    pub kind: Kind,
}

/// A scalar's type, as YAML 1.1 (CircleCI's YAML) reads a plain scalar; quoted ones are text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// `~`, `null` or nothing.
    Null,
    /// `true`/`false`, and YAML 1.1's `yes`/`no`/`on`/`off`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number with a fraction or exponent (the text keeps its digits: `3.10` stays `3.10`).
    Float,
    /// Anything else.
    Str,
}

/// A mapping's entries, in order; keys are unique.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    entries: Vec<Entry>,
}

/// One key and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key's text.
    pub key: String,
    /// Where the key is.
    pub key_mark: Mark,
    /// Its value.
    pub value: Node,
}

impl Map {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    /// The entry of `key`.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.key == key)
    }

    /// Sets `key`, keeping its place if it was there.
    pub fn insert(&mut self, key: impl Into<String>, value: Node) {
        self.set(Entry {
            key: key.into(),
            key_mark: value.mark,
            value,
        });
    }

    /// Sets `entry`'s key to its value, keeping the key's place (and mark) if it was there.
    pub fn set(&mut self, entry: Entry) {
        match self.entries.iter_mut().find(|e| e.key == entry.key) {
            Some(e) => e.value = entry.value,
            None => self.entries.push(entry),
        }
    }

    /// Adds an entry known not to be present.
    pub(crate) fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    /// Takes `key` out.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let at = self.entries.iter().position(|e| e.key == key)?;
        Some(self.entries.remove(at).value)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// The entries in order, values writable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.entries.iter_mut()
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, owned.
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }
}

impl FromIterator<Entry> for Map {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> Self {
        let mut map = Map::default();
        iter.into_iter().for_each(|e| map.set(e));
        map
    }
}

impl Node {
    /// A text scalar made by the compiler.
    pub fn text(text: impl Into<String>, mark: Mark) -> Node {
        Node {
            value: Value::Scalar(Scalar {
                text: text.into(),
                kind: Kind::Str,
            }),
            mark,
        }
    }

    /// A boolean scalar.
    pub fn bool(b: bool, mark: Mark) -> Node {
        Node {
            value: Value::Scalar(Scalar {
                text: b.to_string(),
                kind: Kind::Bool(b),
            }),
            mark,
        }
    }

    /// An integer scalar.
    pub fn int(i: i64, mark: Mark) -> Node {
        Node {
            value: Value::Scalar(Scalar {
                text: i.to_string(),
                kind: Kind::Int(i),
            }),
            mark,
        }
    }

    /// A null.
    pub fn null(mark: Mark) -> Node {
        Node {
            value: Value::Scalar(Scalar {
                text: String::new(),
                kind: Kind::Null,
            }),
            mark,
        }
    }

    /// A list.
    pub fn seq(items: Vec<Node>, mark: Mark) -> Node {
        Node {
            value: Value::Seq(items),
            mark,
        }
    }

    /// A mapping.
    pub fn map(map: Map, mark: Mark) -> Node {
        Node {
            value: Value::Map(map),
            mark,
        }
    }

    /// The value of `key` if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.get(key)
    }

    /// The mapping, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The list, if this is one.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar, if this is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a string scalar (not of numbers, booleans or null).
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(Scalar {
                text,
                kind: Kind::Str,
            }) => Some(text),
            _ => None,
        }
    }

    /// The text of any scalar but null: strings, numbers and booleans as written.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(Scalar {
                kind: Kind::Null, ..
            }) => None,
            Value::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Scalar(Scalar {
                kind: Kind::Bool(b),
                ..
            }) => Some(b),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.value {
            Value::Scalar(Scalar {
                kind: Kind::Int(i), ..
            }) => Some(i),
            _ => None,
        }
    }

    /// Whether this is a null.
    pub fn is_null(&self) -> bool {
        matches!(
            self.value,
            Value::Scalar(Scalar {
                kind: Kind::Null,
                ..
            })
        )
    }

    /// A short description for messages: the text of a short scalar, else what it is.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Scalar(Scalar {
                kind: Kind::Null, ..
            }) => "nothing".into(),
            Value::Scalar(s) => {
                let short: String = s.text.chars().take(60).collect();
                let cut = if short.len() < s.text.len() {
                    "…"
                } else {
                    ""
                };
                format!("'{}{cut}'", short.escape_debug())
            }
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a mapping".into(),
        }
    }

    /// The same tree as yaml-rust2 values (for emitting YAML).
    pub fn to_yaml(&self) -> Yaml {
        match &self.value {
            Value::Scalar(s) => match s.kind {
                Kind::Null => Yaml::Null,
                Kind::Bool(b) => Yaml::Boolean(b),
                Kind::Int(i) => Yaml::Integer(i),
                Kind::Float => Yaml::Real(s.text.clone()),
                Kind::Str => Yaml::String(s.text.clone()),
            },
            Value::Seq(items) => Yaml::Array(items.iter().map(Node::to_yaml).collect()),
            Value::Map(m) => {
                let mut h = Hash::new();
                for e in m.iter() {
                    h.insert(Yaml::String(e.key.clone()), e.value.to_yaml());
                }
                Yaml::Hash(h)
            }
        }
    }

    /// How many bytes of text its scalars and keys hold.
    pub fn text_bytes(&self) -> usize {
        match &self.value {
            Value::Scalar(s) => s.text.len(),
            Value::Seq(items) => items.iter().map(Node::text_bytes).sum(),
            Value::Map(m) => m.iter().map(|e| e.key.len() + e.value.text_bytes()).sum(),
        }
    }

    /// How many levels of lists and mappings this tree has (0 for a scalar).
    pub fn height(&self) -> usize {
        match &self.value {
            Value::Scalar(_) => 0,
            Value::Seq(items) => 1 + items.iter().map(Node::height).max().unwrap_or(0),
            Value::Map(m) => 1 + m.iter().map(|e| e.value.height()).max().unwrap_or(0),
        }
    }

    /// How many nodes this tree has.
    pub fn size(&self) -> usize {
        match &self.value {
            Value::Scalar(_) => 1,
            Value::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Value::Map(m) => 1 + m.iter().map(|e| 1 + e.value.size()).sum::<usize>(),
        }
    }
}

/// The type YAML 1.1 gives a plain (unquoted, untagged) scalar, as CircleCI reads it.
pub fn plain_kind(text: &str) -> Kind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
            return Kind::Bool(true);
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
            return Kind::Bool(false);
        }
        _ => {}
    }
    match Yaml::from_str(text) {
        Yaml::Integer(i) => Kind::Int(i),
        Yaml::Real(_) => Kind::Float,
        _ => Kind::Str,
    }
}

/// Emits `node` as YAML text, block style. Multi-line text is written quoted with `\n`
/// escapes: yaml-rust2's literal blocks do not keep a text's trailing blank lines, and what is
/// emitted must read back as exactly what was compiled.
pub fn emit(node: &Node) -> String {
    let mut out = String::new();
    let yaml = node.to_yaml();
    let mut emitter = yaml_rust2::YamlEmitter::new(&mut out);
    // Writing to a String cannot fail, and the tree holds no value the emitter refuses.
    let _ = emitter.dump(&yaml);
    let body = out.strip_prefix("---\n").unwrap_or(&out);
    format!("{body}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_are_typed_as_yaml_1_1_types_them() {
        assert_eq!(plain_kind("yes"), Kind::Bool(true));
        assert_eq!(plain_kind("Off"), Kind::Bool(false));
        assert_eq!(plain_kind("~"), Kind::Null);
        assert_eq!(plain_kind("12"), Kind::Int(12));
        assert_eq!(plain_kind("2.1"), Kind::Float);
        assert_eq!(plain_kind("3.10"), Kind::Float);
        assert_eq!(plain_kind("cimg/base:2024.01"), Kind::Str);
        assert_eq!(plain_kind("y"), Kind::Str);
    }

    #[test]
    fn maps_keep_order_and_replace_in_place() {
        let m = Mark::default();
        let mut map = Map::default();
        map.insert("b", Node::int(1, m));
        map.insert("a", Node::int(2, m));
        map.insert("b", Node::int(3, m));
        let keys: Vec<&str> = map.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(map.get("b").and_then(Node::as_int), Some(3));
        assert_eq!(map.remove("b").and_then(|n| n.as_int()), Some(3));
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn emitted_yaml_keeps_types_and_text() {
        let m = Mark::default();
        let mut map = Map::default();
        map.insert(
            "version",
            Node {
                value: Value::Scalar(Scalar {
                    text: "2.1".into(),
                    kind: Kind::Float,
                }),
                mark: m,
            },
        );
        map.insert("flag", Node::bool(true, m));
        map.insert("quoted", Node::text("true", m));
        map.insert("script", Node::text("echo a\necho b\n", m));
        let text = emit(&Node::map(map, m));
        assert!(
            text.starts_with("version: 2.1\nflag: true\nquoted: \"true\"\n"),
            "{text}"
        );
        assert!(text.contains("script: \"echo a\\necho b\\n\""), "{text}");
    }
}
