//! Pipeline values: declared 2.1 parameters, the values a trigger gives, and `<< >>` interpolation.

use std::collections::BTreeMap;

/// A pipeline parameter's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    /// A string (also enum values).
    Str(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Str(s) => f.write_str(s),
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
        }
    }
}

/// The type of a declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamType {
    /// `type: string`.
    String,
    /// `type: boolean`.
    Boolean,
    /// `type: integer`.
    Integer,
    /// `type: enum` with its allowed values.
    Enum(Vec<String>),
}

/// A parameter declared under the config's top-level `parameters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamDecl {
    /// Its type.
    pub kind: ParamType,
    /// Its default; a parameter without one must be given by the trigger.
    pub default: Option<ParamValue>,
}

impl ParamDecl {
    /// `value` if it fits this declaration's type, else why not.
    pub fn check(&self, name: &str, value: &ParamValue) -> Result<ParamValue, String> {
        match (&self.kind, value) {
            (ParamType::String, ParamValue::Str(_))
            | (ParamType::Boolean, ParamValue::Bool(_))
            | (ParamType::Integer, ParamValue::Int(_)) => Ok(value.clone()),
            (ParamType::Enum(allowed), ParamValue::Str(s)) if allowed.contains(s) => {
                Ok(value.clone())
            }
            (ParamType::Enum(allowed), _) => Err(format!(
                "pipeline parameter '{name}' must be one of: {}",
                allowed.join(", ")
            )),
            (kind, _) => Err(format!(
                "pipeline parameter '{name}' must be {}",
                match kind {
                    ParamType::String => "a string",
                    ParamType::Boolean => "a boolean",
                    ParamType::Integer => "an integer",
                    ParamType::Enum(_) => "one of its enum values",
                }
            )),
        }
    }
}

/// What a pipeline knows when its config is read: `<< pipeline.* >>` values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineContext {
    /// The branch built, if a branch.
    pub branch: Option<String>,
    /// The tag built, if a tag.
    pub tag: Option<String>,
    /// The revision built.
    pub revision: String,
    /// The project's pipeline number.
    pub number: i64,
    /// Parameter values given by the trigger.
    pub parameters: BTreeMap<String, ParamValue>,
}

/// Every declared parameter's value: given (and type-checked) or defaulted. Unknown given
/// parameters and missing required ones are errors.
pub fn resolve(
    decls: &BTreeMap<String, ParamDecl>,
    given: &BTreeMap<String, ParamValue>,
) -> Result<BTreeMap<String, ParamValue>, Vec<String>> {
    let mut errors = Vec::new();
    let mut out = BTreeMap::new();
    for name in given.keys() {
        if !decls.contains_key(name) {
            errors.push(format!(
                "pipeline parameter '{name}' is not declared in the config"
            ));
        }
    }
    for (name, decl) in decls {
        match given.get(name).or(decl.default.as_ref()) {
            Some(v) => match decl.check(name, v) {
                Ok(v) => {
                    out.insert(name.clone(), v);
                }
                Err(e) => errors.push(e),
            },
            None => errors.push(format!(
                "pipeline parameter '{name}' has no default and was not given"
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Replaces every `<< pipeline.… >>` in `text`. Unknown expressions are errors, and so is a
/// result longer than `max_len` bytes: a long parameter used many times must not make
/// gigabytes out of a small config.
pub fn interpolate(
    text: &str,
    ctx: &PipelineContext,
    params: &BTreeMap<String, ParamValue>,
    max_len: usize,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<<") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find(">>") else {
            let quoted: String = text.chars().take(80).collect();
            return Err(format!(
                "unterminated '<<' in \"{}\"",
                quoted.escape_debug()
            ));
        };
        let expr = after[..end].trim();
        let value = match expr {
            "pipeline.git.branch" => ctx.branch.clone().unwrap_or_default(),
            "pipeline.git.tag" => ctx.tag.clone().unwrap_or_default(),
            "pipeline.git.revision" => ctx.revision.clone(),
            "pipeline.number" => ctx.number.to_string(),
            _ => match expr.strip_prefix("pipeline.parameters.") {
                Some(name) => match params.get(name) {
                    Some(v) => v.to_string(),
                    None => {
                        return Err(format!(
                            "'<< {expr} >>' names a parameter that is not declared"
                        ));
                    }
                },
                None => {
                    return Err(format!(
                        "'<< {expr} >>' is not supported; circlet knows pipeline.parameters.*, pipeline.git.branch, pipeline.git.tag, pipeline.git.revision and pipeline.number"
                    ));
                }
            },
        };
        if out.len() + value.len() > max_len {
            return Err(format!(
                "`<< >>` expressions add more than {} bytes to the config's text",
                super::MAX_SCALAR_BYTES
            ));
        }
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PipelineContext {
        PipelineContext {
            branch: Some("main".into()),
            number: 7,
            revision: "abc".into(),
            ..Default::default()
        }
    }

    #[test]
    fn expressions_are_replaced() {
        let params = BTreeMap::from([("who".to_owned(), ParamValue::Str("world".into()))]);
        let s = interpolate(
            "hi << pipeline.parameters.who >> on <<pipeline.git.branch>> #<< pipeline.number >>",
            &ctx(),
            &params,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(s, "hi world on main #7");
        assert!(
            interpolate(
                "<< pipeline.parameters.nope >>",
                &ctx(),
                &params,
                usize::MAX
            )
            .is_err()
        );
        assert!(
            interpolate("<< foo >>", &ctx(), &params, usize::MAX)
                .unwrap_err()
                .contains("not supported")
        );
        assert!(interpolate("a << b", &ctx(), &params, usize::MAX).is_err());
        assert_eq!(
            interpolate("no expressions", &ctx(), &params, usize::MAX).unwrap(),
            "no expressions"
        );
    }

    #[test]
    fn expansion_stops_at_the_length_given() {
        let params = BTreeMap::from([("x".to_owned(), ParamValue::Str("x".repeat(1000)))]);
        let text = "<< pipeline.parameters.x >>".repeat(10);
        assert_eq!(
            interpolate(&text, &ctx(), &params, 10_000).unwrap().len(),
            10_000
        );
        let e = interpolate(&text, &ctx(), &params, 9_999).unwrap_err();
        assert!(e.contains("add more than"), "{e}");
    }

    #[test]
    fn parameters_resolve_with_types_and_defaults() {
        let decls = BTreeMap::from([
            (
                "flag".to_owned(),
                ParamDecl {
                    kind: ParamType::Boolean,
                    default: Some(ParamValue::Bool(false)),
                },
            ),
            (
                "env".to_owned(),
                ParamDecl {
                    kind: ParamType::Enum(vec!["a".into(), "b".into()]),
                    default: None,
                },
            ),
        ]);
        let given = BTreeMap::from([("env".to_owned(), ParamValue::Str("b".into()))]);
        let r = resolve(&decls, &given).unwrap();
        assert_eq!(r["flag"], ParamValue::Bool(false));
        assert_eq!(r["env"], ParamValue::Str("b".into()));
        let bad = BTreeMap::from([
            ("env".to_owned(), ParamValue::Str("c".into())),
            ("x".to_owned(), ParamValue::Int(1)),
        ]);
        let errors = resolve(&decls, &bad).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(resolve(&decls, &BTreeMap::new()).unwrap_err()[0].contains("no default"));
    }
}
