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

/// What a pipeline knows when its config is read: the `<< pipeline.* >>` values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineContext {
    /// `pipeline.id`: the pipeline's id.
    pub id: String,
    /// `pipeline.git.branch`: the branch built, if a branch.
    pub branch: Option<String>,
    /// `pipeline.git.tag`: the tag built, if a tag.
    pub tag: Option<String>,
    /// `pipeline.git.revision`: the revision built.
    pub revision: String,
    /// `pipeline.git.base_revision`: the revision built before on this branch, if known.
    pub base_revision: Option<String>,
    /// `pipeline.number`: the project's pipeline number.
    pub number: i64,
    /// `pipeline.project.git_url`: where the project's repository is.
    pub project_git_url: String,
    /// `pipeline.project.type`: the forge (`github`, `bitbucket`, `gitlab`, …).
    pub project_type: String,
    /// `pipeline.project.slug`: the project's slug (`gh/acme/widget`).
    pub project_slug: String,
    /// `pipeline.trigger_source`: what started it (`api`, `webhook`, `scheduled_pipeline`).
    pub trigger_source: String,
    /// `pipeline.schedule.name` and `pipeline.schedule.id`, for a scheduled pipeline.
    pub schedule: Option<(String, String)>,
    /// `pipeline.trigger_parameters.*`, by their dotted names after `trigger_parameters.`.
    pub trigger_parameters: BTreeMap<String, String>,
    /// Parameter values given by the trigger.
    pub parameters: BTreeMap<String, ParamValue>,
}

impl PipelineContext {
    /// The value of `pipeline.<path>` but for parameters, or `None` when there is no such
    /// value. Values a pipeline lacks (a tag on a branch build) are empty text, as in CircleCI.
    pub fn value(&self, path: &str) -> Option<String> {
        let text = |o: &Option<String>| o.clone().unwrap_or_default();
        Some(match path {
            "id" => self.id.clone(),
            "number" => self.number.to_string(),
            "git.branch" => text(&self.branch),
            "git.tag" => text(&self.tag),
            "git.revision" => self.revision.clone(),
            "git.base_revision" => text(&self.base_revision),
            "project.git_url" => self.project_git_url.clone(),
            "project.type" => self.project_type.clone(),
            "project.slug" => self.project_slug.clone(),
            "trigger_source" => self.trigger_source.clone(),
            "schedule.name" => self
                .schedule
                .as_ref()
                .map(|s| s.0.clone())
                .unwrap_or_default(),
            "schedule.id" => self
                .schedule
                .as_ref()
                .map(|s| s.1.clone())
                .unwrap_or_default(),
            _ => {
                let name = path.strip_prefix("trigger_parameters.")?;
                self.trigger_parameters
                    .get(name)
                    .cloned()
                    .unwrap_or_default()
            }
        })
    }
}

/// The `pipeline.*` values CircleCI documents, for messages.
pub const PIPELINE_VALUES: &str = "pipeline.id, pipeline.number, pipeline.project.git_url, pipeline.project.type, pipeline.project.slug, pipeline.git.branch, pipeline.git.tag, pipeline.git.revision, pipeline.git.base_revision, pipeline.trigger_source, pipeline.schedule.name, pipeline.schedule.id, pipeline.trigger_parameters.* and pipeline.parameters.*";

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

#[cfg(test)]
mod tests {
    use super::*;

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
