//! Parameters of jobs, commands and executors, and `<< … >>`: what they are declared as, the
//! values an invocation gives them, and putting those values into a definition's body.

use super::Budget;
use crate::ci_config::node::{Entry, Kind, Map, Mark, Node, Scalar, Value};
use crate::ci_config::problems::Problems;
use crate::ci_config::values::{PIPELINE_VALUES, PipelineContext};
use crate::ci_config::yaml::MAX_DEPTH;
use std::collections::BTreeMap;

/// A declared parameter's type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Type {
    String,
    Boolean,
    Integer,
    Enum(Vec<String>),
    Executor,
    Steps,
    EnvVarName,
}

impl Type {
    fn wants(&self) -> String {
        match self {
            Type::String => "a string".into(),
            Type::Boolean => "true or false".into(),
            Type::Integer => "an integer".into(),
            Type::Enum(values) => format!("one of: {}", values.join(", ")),
            Type::Executor => "an executor's name, or a mapping with its `name`".into(),
            Type::Steps => "a list of steps".into(),
            Type::EnvVarName => "an environment variable's name".into(),
        }
    }
}

/// A declared parameter.
#[derive(Debug, Clone)]
pub(crate) struct Decl {
    pub name: String,
    pub kind: Type,
    pub default: Option<Node>,
}

/// The parameters `node` (a `parameters:` mapping) declares; `owner` names whose they are.
pub(crate) fn declared(node: Option<&Node>, owner: &str, p: &mut Problems) -> Vec<Decl> {
    let Some(node) = node else {
        return Vec::new();
    };
    let Some(map) = node.as_map() else {
        if !node.is_null() {
            p.at(
                node.mark,
                format!("{owner}: `parameters` must be a mapping"),
            );
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in map.iter() {
        let name = &e.key;
        let at = e.key_mark;
        let decl = &e.value;
        let kind = match decl.get("type").and_then(Node::as_str) {
            Some("string") => Type::String,
            Some("boolean") => Type::Boolean,
            Some("integer") => Type::Integer,
            Some("executor") => Type::Executor,
            Some("steps") => Type::Steps,
            Some("env_var_name") => Type::EnvVarName,
            Some("enum") => match decl.get("enum").and_then(Node::as_seq) {
                Some(values) if !values.is_empty() => Type::Enum(
                    values
                        .iter()
                        .filter_map(|v| v.scalar_text().map(str::to_owned))
                        .collect(),
                ),
                _ => {
                    p.at(at, format!("{owner}: parameter '{name}' of type enum needs an `enum` list of its values"));
                    continue;
                }
            },
            Some(other) => {
                p.at(at, format!("{owner}: parameter '{name}' has type '{other}'; the types are string, boolean, integer, enum, executor, steps and env_var_name"));
                continue;
            }
            None => {
                p.at(at, format!("{owner}: parameter '{name}' needs a `type`"));
                continue;
            }
        };
        let default = decl.get("default").cloned();
        if let Some(d) = &default
            && let Err(e) = check(&kind, d)
        {
            p.at(
                d.mark,
                format!(
                    "{owner}: parameter '{name}' defaults to {}, but it must be {e}",
                    d.describe()
                ),
            );
            continue;
        }
        out.push(Decl {
            name: name.clone(),
            kind,
            default,
        });
    }
    out
}

/// `value` as a value of `kind`, or what it should have been.
fn check(kind: &Type, value: &Node) -> Result<Node, String> {
    let ok = match (kind, &value.value) {
        (Type::String, Value::Scalar(s)) => {
            return Ok(Node::text(
                if s.kind == Kind::Null { "" } else { &s.text },
                value.mark,
            ));
        }
        (Type::Boolean, Value::Scalar(s)) => matches!(s.kind, Kind::Bool(_)),
        (Type::Integer, Value::Scalar(s)) => matches!(s.kind, Kind::Int(_)),
        (Type::Enum(values), Value::Scalar(s)) => values.contains(&s.text),
        (Type::Executor, Value::Scalar(s)) => s.kind == Kind::Str,
        (Type::Executor, Value::Map(m)) => m.get("name").and_then(Node::as_str).is_some(),
        (Type::Steps, Value::Seq(_)) => true,
        (Type::Steps, Value::Scalar(s)) if s.kind == Kind::Null => {
            return Ok(Node::seq(Vec::new(), value.mark));
        }
        (Type::EnvVarName, Value::Scalar(s)) => {
            s.kind == Kind::Str && crate::envvar::valid_name(&s.text)
        }
        _ => false,
    };
    if ok {
        Ok(value.clone())
    } else {
        Err(kind.wants())
    }
}

/// Values given to an invocation's parameters, by name.
pub(crate) type Args = BTreeMap<String, Node>;

/// The value of every parameter in `decls` for an invocation giving `given` (keys in `skip`
/// are not parameters): given and of the right type, or defaulted. `owner` names what is
/// invoked, `at` where.
pub(crate) fn bind(
    decls: &[Decl],
    given: Option<&Map>,
    skip: &[&str],
    owner: &str,
    at: Mark,
    p: &mut Problems,
) -> Option<Args> {
    let before = p.count();
    let mut out = Args::new();
    // Given, right or wrong: a wrong value is not also "missing".
    let mut named = std::collections::BTreeSet::new();
    if let Some(given) = given {
        for e in given.iter() {
            if skip.contains(&e.key.as_str()) {
                continue;
            }
            named.insert(e.key.as_str());
            let Some(decl) = decls.iter().find(|d| d.name == e.key) else {
                let known = if decls.is_empty() {
                    "it has no parameters".to_owned()
                } else {
                    let names: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
                    format!("its parameters are {}", names.join(", "))
                };
                p.at(
                    e.key_mark,
                    format!("{owner} has no parameter '{}' ({known})", e.key),
                );
                continue;
            };
            match check(&decl.kind, &e.value) {
                Ok(v) => {
                    out.insert(e.key.clone(), v);
                }
                Err(wants) => p.at(
                    e.value.mark,
                    format!(
                        "{owner}: parameter '{}' is given {}, but it must be {wants}",
                        e.key,
                        e.value.describe()
                    ),
                ),
            }
        }
    }
    for d in decls {
        if out.contains_key(&d.name) || named.contains(d.name.as_str()) {
            continue;
        }
        match &d.default {
            Some(v) => {
                // Checked when declared.
                out.insert(
                    d.name.clone(),
                    check(&d.kind, v).unwrap_or_else(|_| v.clone()),
                );
            }
            None if d.kind == Type::Steps => {
                out.insert(d.name.clone(), Node::seq(Vec::new(), at));
            }
            None => p.at(
                at,
                format!(
                    "{owner} needs a value for its parameter '{}' (it has no default)",
                    d.name
                ),
            ),
        }
    }
    (p.count() == before).then_some(out)
}

/// What `<< … >>` can name where a body is being filled in.
pub(crate) struct Scope<'a> {
    /// What is being filled in, for messages ("job 'build'").
    pub owner: &'a str,
    /// `<< parameters.* >>`, if the body declares parameters.
    pub params: Option<&'a Args>,
    /// `<< matrix.* >>`, in a matrix job's invocation.
    pub matrix: Option<&'a Args>,
    /// The pipeline's values.
    pub pipeline: &'a PipelineContext,
    /// `<< pipeline.parameters.* >>`.
    pub pipeline_params: &'a Args,
}

impl Scope<'_> {
    /// `node` with every `<< … >>` in its text (and keys) replaced. A text that is one
    /// expression alone takes the value's own type (a list of steps, a boolean); `\<<` is a
    /// literal `<<`; a `<<` with no `>>` after it is literal text.
    pub fn fill(&self, node: &Node, budget: &mut Budget, p: &mut Problems) -> Node {
        self.fill_at(node, 0, budget, p)
    }

    /// [`Scope::fill`] of `node`, which lies `depth` levels below the top of what is filled.
    /// A value put in whole may not make the result deeper than [`MAX_DEPTH`]: commands
    /// passing values on to commands would otherwise nest them a level deeper each time, and
    /// every walk of the tree (filling, emitting, dropping it) recurses once per level.
    fn fill_at(&self, node: &Node, depth: usize, budget: &mut Budget, p: &mut Problems) -> Node {
        let bytes = match &node.value {
            Value::Scalar(s) => s.text.len(),
            _ => 0,
        };
        if !budget.spend(1, bytes, node.mark, p) {
            return Node::null(node.mark);
        }
        match &node.value {
            Value::Scalar(Scalar {
                text,
                kind: Kind::Str,
            }) if text.contains("<<") => {
                let filled = self.fill_text(text, node.mark, budget, p);
                if depth + filled.height() > MAX_DEPTH {
                    p.at(
                        node.mark,
                        format!(
                            "{}: the values passed down through parameters nest deeper than {MAX_DEPTH} levels",
                            self.owner
                        ),
                    );
                    return Node::null(node.mark);
                }
                filled
            }
            Value::Scalar(_) => node.clone(),
            Value::Seq(items) => Node::seq(
                items
                    .iter()
                    .map(|i| self.fill_at(i, depth + 1, budget, p))
                    .collect(),
                node.mark,
            ),
            Value::Map(map) => {
                let mut out = Map::default();
                for e in map.iter() {
                    let key = if e.key.contains("<<") {
                        match self.fill_text(&e.key, e.key_mark, budget, p).scalar_text() {
                            Some(k) => k.to_owned(),
                            None => continue,
                        }
                    } else {
                        e.key.clone()
                    };
                    let value = self.fill_at(&e.value, depth + 1, budget, p);
                    out.set(Entry {
                        key,
                        key_mark: e.key_mark,
                        value,
                    });
                }
                Node::map(out, node.mark)
            }
        }
    }

    fn fill_text(&self, text: &str, mark: Mark, budget: &mut Budget, p: &mut Problems) -> Node {
        let sectioned;
        let text = if text.contains("<<#") || text.contains("<<^") {
            match self.sections(text) {
                Ok(t) => {
                    sectioned = t;
                    &sectioned
                }
                Err(e) => {
                    p.at(mark, format!("{}: {e}", self.owner));
                    return Node::text(text, mark);
                }
            }
        } else {
            text
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("<<") {
            if rest[..start].ends_with('\\') {
                out.push_str(&rest[..start - 1]);
                out.push_str("<<");
                rest = &rest[start + 2..];
                continue;
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find(">>") else {
                out.push_str(&rest[..start + 2]);
                rest = after;
                continue;
            };
            let expr = after[..end].trim();
            let value = match self.lookup(expr) {
                Ok(v) => v,
                Err(e) => {
                    p.at(mark, format!("{}: {e}", self.owner));
                    return Node::text(text, mark);
                }
            };
            let tail = &after[end + 2..];
            if out.is_empty() && rest[..start].trim().is_empty() && tail.trim().is_empty() {
                // The whole text is this one expression: the value keeps its type.
                if !budget.spend(value.size(), value.text_bytes(), mark, p) {
                    return Node::null(mark);
                }
                return Node { mark, ..value };
            }
            out.push_str(&rest[..start]);
            match &value.value {
                Value::Scalar(s) if s.kind == Kind::Null => {}
                Value::Scalar(s) => {
                    if !budget.spend(0, s.text.len(), mark, p) {
                        return Node::null(mark);
                    }
                    out.push_str(&s.text);
                }
                _ => {
                    p.at(
                        mark,
                        format!(
                            "{}: `<< {expr} >>` is {} and cannot be part of a text",
                            self.owner,
                            value.describe()
                        ),
                    );
                    return Node::text(text, mark);
                }
            }
            rest = tail;
        }
        out.push_str(rest);
        Node::text(out, mark)
    }

    /// `text` with its sections decided: `<<# parameters.x >>…<</ parameters.x >>` keeps what
    /// it encloses when the value is true (not false, empty, 0 or null), `<<^ … >>` when it is
    /// not.
    fn sections(&self, text: &str) -> Result<String, String> {
        let mut out = text.to_owned();
        let mut from = 0;
        // Each pass removes one section's markers, so this ends.
        loop {
            let Some(start) = find_open_section(&out, from) else {
                return Ok(out);
            };
            let inverted = out.as_bytes()[start + 2] == b'^';
            let after = &out[start + 3..];
            let end = after.find(">>").ok_or_else(|| {
                format!(
                    "`{}` is not closed with `>>`",
                    &out[start..(start + 20).min(out.len())]
                )
            })?;
            let expr = after[..end].trim().to_owned();
            let body_start = start + 3 + end + 2;
            let close = find_close(&out[body_start..], &expr).ok_or_else(|| {
                format!(
                    "`<<{} {expr} >>` has no `<</ {expr} >>` to end it",
                    if inverted { '^' } else { '#' }
                )
            })?;
            let (close_at, close_len) = (body_start + close.0, close.1);
            let value = self.lookup(&expr)?;
            let truthy = match &value.value {
                Value::Scalar(s) => match s.kind {
                    Kind::Null => false,
                    Kind::Bool(b) => b,
                    Kind::Int(i) => i != 0,
                    _ => !s.text.is_empty(),
                },
                Value::Seq(items) => !items.is_empty(),
                Value::Map(m) => !m.is_empty(),
            };
            let body = out[body_start..close_at].to_owned();
            let kept = if truthy != inverted {
                body
            } else {
                String::new()
            };
            out.replace_range(start..close_at + close_len, &kept);
            from = start;
        }
    }

    fn lookup(&self, expr: &str) -> Result<Node, String> {
        let at = Mark::default();
        if let Some(name) = expr.strip_prefix("parameters.") {
            let Some(params) = self.params else {
                return Err(format!(
                    "`<< {expr} >>` is used outside a job, command or executor with parameters"
                ));
            };
            return params.get(name).cloned().ok_or_else(|| {
                format!("`<< {expr} >>` names a parameter '{name}' that is not declared")
            });
        }
        if let Some(name) = expr.strip_prefix("matrix.") {
            return self
                .matrix
                .and_then(|m| m.get(name))
                .cloned()
                .ok_or_else(|| format!("`<< {expr} >>` names no parameter of this job's matrix"));
        }
        if let Some(name) = expr.strip_prefix("pipeline.parameters.") {
            return self.pipeline_params.get(name).cloned().ok_or_else(|| {
                format!("`<< {expr} >>` names a pipeline parameter '{name}' that is not declared under the top-level `parameters`")
            });
        }
        if expr == "pipeline.number" {
            return Ok(Node::int(self.pipeline.number, at));
        }
        if let Some(path) = expr.strip_prefix("pipeline.") {
            return self
                .pipeline
                .value(path)
                .map(|v| Node::text(v, at))
                .ok_or_else(|| {
                    format!("`<< {expr} >>` is not a pipeline value; they are {PIPELINE_VALUES}")
                });
        }
        Err(format!(
            "`<< {expr} >>` is not a parameter, matrix or pipeline value; to write `<<` itself (as in a shell heredoc), write `\\<<`"
        ))
    }
}

/// Where the first `<<#` or `<<^` at or after `from` starts (not escaped by `\`).
fn find_open_section(text: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(i) = text.get(at..)?.find("<<") {
        let i = at + i;
        let escaped = i > 0 && text.as_bytes()[i - 1] == b'\\';
        if !escaped && matches!(text.as_bytes().get(i + 2), Some(b'#' | b'^')) {
            return Some(i);
        }
        at = i + 2;
    }
    None
}

/// Where `<</ expr >>` is in `text`, and its length.
fn find_close(text: &str, expr: &str) -> Option<(usize, usize)> {
    let mut at = 0;
    while let Some(i) = text.get(at..)?.find("<</") {
        let i = at + i;
        let rest = &text[i + 3..];
        let end = rest.find(">>")?;
        if rest[..end].trim() == expr {
            return Some((i, 3 + end + 2));
        }
        at = i + 3;
    }
    None
}
