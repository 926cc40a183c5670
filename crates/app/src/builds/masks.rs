//! What the server shows of a build's inputs (v1.1 build parameters, v2 pipeline parameters,
//! step names and commands) with every circlet token and every value of the project's env vars
//! masked, the way job output is (`circlet_core::mask`): a public project's builds are readable
//! by anyone, and a secret passed or named that way must not be.
//!
//! Masked when shown, not when stored: build parameters reach the job's environment in clear
//! (and a retry copies them), and a variable added later masks what came before it as well.
//! Tokens are also masked when stored where the leak guard sees them first (step names).

use crate::App;
use crate::AppError;
use circlet_core::mask::{MASK, mask_secrets};
use circlet_store::Project;
use serde_json::Value;

/// A project's secrets, ready to mask text with. `Debug` prints nothing of them.
pub struct ProjectMasks {
    /// The env var values to hide; `None` when they could not be opened, and then every value
    /// shown is masked whole.
    values: Option<Vec<String>>,
}

impl std::fmt::Debug for ProjectMasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.values {
            Some(v) => write!(f, "ProjectMasks([{} redacted])", v.len()),
            None => f.write_str("ProjectMasks(everything)"),
        }
    }
}

impl ProjectMasks {
    /// The masks of `project`: its env var values (opened with the server's keys).
    pub async fn load(app: &App, project: &Project) -> Result<ProjectMasks, AppError> {
        let values =
            crate::env_vars::values_to_mask(&app.store, &app.config.env_keys, project).await?;
        Ok(ProjectMasks { values })
    }

    /// Masks that hide circlet tokens only (a project without env vars).
    pub fn tokens_only() -> ProjectMasks {
        ProjectMasks {
            values: Some(Vec::new()),
        }
    }

    /// `text` as it may be shown.
    pub fn text(&self, text: &str) -> String {
        match &self.values {
            Some(values) => mask_secrets(text, values),
            None if text.is_empty() => String::new(),
            None => MASK.to_owned(),
        }
    }

    /// An object key (a parameter's name) as it may be shown: tokens and env var values masked,
    /// but never masked whole, so that keys stay apart and still say what they name.
    pub fn name(&self, name: &str) -> String {
        mask_secrets(name, self.values.as_deref().unwrap_or_default())
    }

    /// A JSON value (parameters) as it may be shown: every string and number masked as
    /// [`ProjectMasks::text`], every object key as [`ProjectMasks::name`].
    pub fn json(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Number(n) => {
                let shown = n.to_string();
                let masked = self.text(&shown);
                if masked == shown {
                    value.clone()
                } else {
                    Value::String(masked)
                }
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.name(k), self.json(v)))
                    .collect(),
            ),
            Value::Bool(_) | Value::Null => value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_are_masked_keys_values_and_numbers() {
        let masks = ProjectMasks {
            values: Some(vec!["hunter22".into(), "31415926".into()]),
        };
        assert_eq!(
            masks.json(&json!({"PASSWORD": "hunter22", "PIN": 31415926, "n": 7, "x_hunter22": true, "ok": "plain"})),
            json!({"PASSWORD": MASK, "PIN": MASK, "n": 7, "x_********": true, "ok": "plain"})
        );
        let unknown = ProjectMasks { values: None };
        assert_eq!(
            unknown.json(&json!({"A": "anything", "B": "", "C": false})),
            json!({"A": MASK, "B": "", "C": false})
        );
        assert_eq!(unknown.name("deploy"), "deploy");
        assert_eq!(ProjectMasks::tokens_only().text("hunter22"), "hunter22");
    }
}
