//! From config text to [`CiConfig`]: load, expand (2.1), then read the 2.0 form with every key
//! checked, collecting the problems with where they are.

use super::expand::{self, NoOrbs, OrbSource, environment_map};
use super::node::{Entry, Kind, Map, Node, Value};
use super::patterns::Patterns;
use super::problems::Problems;
use super::values::PipelineContext;
use super::{CiConfig, Compiled, ConfigErrors, ConfigVersion, Filters, Job, Workflow, WorkflowJob};
use std::collections::BTreeSet;

/// Compiles `text` for the pipeline `ctx` describes, without orbs from a registry.
pub fn parse(text: &str, ctx: &PipelineContext) -> Result<CiConfig, ConfigErrors> {
    compile(text, ctx, &NoOrbs).map(|c| c.config)
}

/// Compiles `text` for the pipeline `ctx` describes, with orbs named by reference found in
/// `orbs`: the typed config and its expanded 2.0 form.
///
/// Bounded for hostile input: see `yaml` for the limits on the YAML itself and `expand` for
/// those on what 2.1's reusable config may expand to.
pub fn compile(
    text: &str,
    ctx: &PipelineContext,
    orbs: &dyn OrbSource,
) -> Result<Compiled, ConfigErrors> {
    let one = |m: String| ConfigErrors(vec![m]);
    let mut docs = super::yaml::load(text).map_err(|e| one(e.to_string()))?;
    let doc = match docs.len() {
        1 => docs.pop().expect("one document"),
        0 => return Err(one("config is empty".into())),
        _ => return Err(one("config must be a single YAML document".into())),
    };
    let Some(top) = doc.root.as_map() else {
        return Err(one(
            "config must be a mapping with version, jobs and workflows".into(),
        ));
    };
    let version = match top.get("version") {
        Some(v) => match v.scalar_text() {
            Some("2" | "2.0") => ConfigVersion::V2,
            Some("2.1") => ConfigVersion::V2_1,
            _ => {
                let shown = v
                    .scalar_text()
                    .map_or_else(|| v.describe(), |t| t.escape_debug().to_string());
                return Err(one(format!(
                    "version {shown} is not supported: use 2 or 2.1 ({})",
                    v.mark
                )));
            }
        },
        None => return Err(one("config has no version: add `version: 2.1`".into())),
    };
    let mut p = Problems::default();
    let tree = match version {
        ConfigVersion::V2_1 => {
            let (tree, problems) = expand::expand(&doc, ctx, orbs, p);
            p = problems;
            tree
        }
        ConfigVersion::V2 => {
            v2_top_level(top, &doc.anchor_keys, &mut p);
            if !ctx.parameters.is_empty() {
                p.add("pipeline parameters need `version: 2.1` in the config");
            }
            let kept: Map = top
                .iter()
                .filter(|e| matches!(e.key.as_str(), "version" | "jobs" | "workflows"))
                .cloned()
                .collect();
            Some(Node::map(kept, doc.root.mark))
        }
    };
    // A problem found while expanding stops here: reading a half-expanded config would only
    // report its consequences.
    let tree = match (tree, p.is_empty()) {
        (Some(tree), true) => tree,
        _ => {
            return Err(p
                .into_result()
                .err()
                .unwrap_or_else(|| one("config could not be read".into())));
        }
    };
    let mut reader = Reader {
        p,
        patterns: Patterns::default(),
    };
    let config = reader.config(&tree, version);
    reader.p.into_result()?;
    Ok(Compiled {
        config,
        processed: super::node::emit(&tree),
    })
}

/// Checks a 2.0 config's top-level keys.
fn v2_top_level(top: &Map, anchor_keys: &BTreeSet<String>, p: &mut Problems) {
    for e in top.iter() {
        match e.key.as_str() {
            "version" | "jobs" | "workflows" => {}
            k if anchor_keys.contains(k) => {}
            // 2.0's webhook notifications: accepted as CircleCI accepts them; circlet's own
            // outbound webhooks are set per project.
            "notify" => {}
            k @ ("orbs" | "commands" | "executors" | "parameters" | "setup") => {
                p.at(e.key_mark, format!("`{k}` needs `version: 2.1`"))
            }
            k => p.at(
                e.key_mark,
                format!("unknown top-level key `{k}` (a key that only holds YAML anchors is fine)"),
            ),
        }
    }
}

/// Job keys that say what a job runs on.
const EXECUTOR_KEYS: [&str; 4] = ["docker", "machine", "macos", "windows"];

struct Reader {
    p: Problems,
    /// Filter patterns compiled so far.
    patterns: Patterns,
}

impl Reader {
    fn config(&mut self, tree: &Node, version: ConfigVersion) -> CiConfig {
        let setup = tree.get("setup").is_some_and(|s| s.as_bool() == Some(true));
        let jobs: Vec<Job> = match tree.get("jobs") {
            Some(node) => match node.as_map() {
                Some(m) => m.iter().filter_map(|e| self.job(e)).collect(),
                None => {
                    self.p
                        .at(node.mark, "`jobs` must be a mapping of job names to jobs");
                    Vec::new()
                }
            },
            None => {
                self.p.add("config has no `jobs`");
                Vec::new()
            }
        };
        let names: BTreeSet<&str> = tree
            .get("jobs")
            .and_then(Node::as_map)
            .map(|m| m.iter().map(|e| e.key.as_str()).collect())
            .unwrap_or_default();
        let workflows = match tree.get("workflows") {
            Some(w) => self.workflows(w, &names),
            None if names.contains("build") => vec![Workflow {
                name: "workflow".into(),
                jobs: vec![WorkflowJob {
                    name: "build".into(),
                    job: "build".into(),
                    requires: vec![],
                    filters: Filters::default(),
                    context: vec![],
                    approval: false,
                }],
                schedules: vec![],
            }],
            None => {
                if names.is_empty() {
                    self.p
                        .add("config has no jobs to run: add `jobs` and `workflows`");
                } else {
                    self.p.add(
                        "config has no `workflows` and no job named `build` to run by default",
                    );
                }
                Vec::new()
            }
        };
        CiConfig {
            version,
            setup,
            jobs,
            workflows,
        }
    }

    fn env(&mut self, node: &Node, at: &str) -> Vec<(String, String)> {
        let Some(map) = environment_map(node) else {
            self.p.at(node.mark, format!("{at}: `environment` must be a mapping of names to values (or a list of NAME=value)"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in map.iter() {
            if !crate::envvar::valid_name(&e.key) {
                self.p.at(
                    e.key_mark,
                    format!("{at}: environment variable name '{}' is not valid", e.key),
                );
                continue;
            }
            match &e.value.value {
                Value::Scalar(s) => {
                    let text = if s.kind == Kind::Null { "" } else { &s.text };
                    out.push((e.key.clone(), text.to_owned()));
                }
                _ => self.p.at(
                    e.value.mark,
                    format!(
                        "{at}: environment variable '{}' must be text, a number or a boolean",
                        e.key
                    ),
                ),
            }
        }
        out
    }

    fn text(&mut self, node: Option<&Node>, at: &str, field: &str) -> Option<String> {
        let node = node?;
        match node.scalar_text() {
            Some(s) => Some(s.to_owned()),
            None if node.is_null() => None,
            None => {
                self.p
                    .at(node.mark, format!("{at}: `{field}` must be text"));
                None
            }
        }
    }

    fn job(&mut self, e: &Entry) -> Option<Job> {
        let name = &e.key;
        let at = format!("job '{name}'");
        let Some(body) = e.value.as_map() else {
            self.p
                .at(e.key_mark, format!("{at} must be a mapping with `steps`"));
            return None;
        };
        let mut executor_notes = Vec::new();
        for k in body.iter() {
            match k.key.as_str() {
                "steps" | "environment" | "working_directory" | "parallelism"
                | "resource_class" | "shell" | "description" | "circleci_ip_ranges" | "type" => {}
                ex if EXECUTOR_KEYS.contains(&ex) => {
                    executor_notes.push(executor_note(ex, &k.value))
                }
                "executor" | "parameters" => self.p.at(
                    k.key_mark,
                    format!("{at}: `{}` needs `version: 2.1`", k.key),
                ),
                other => self
                    .p
                    .at(k.key_mark, format!("{at}: key `{other}` is not a job's")),
            }
        }
        let environment = match body.get("environment") {
            Some(env) => self.env(env, &at),
            None => Vec::new(),
        };
        let working_directory = self.text(body.get("working_directory"), &at, "working_directory");
        let resource_class = self.text(body.get("resource_class"), &at, "resource_class");
        if let (Some(node), Err(e)) = (
            body.get("resource_class"),
            crate::runner_class::RunnerClass::of_job(resource_class.as_deref()),
        ) {
            self.p.at(node.mark, format!("{at}: `resource_class`: {e}"));
        }
        let shell = self.text(body.get("shell"), &at, "shell");
        let parallelism = match body.get("parallelism") {
            None => 1,
            Some(n) => match n.as_int().or_else(|| n.scalar_text()?.parse().ok()) {
                Some(i) if (1..=256).contains(&i) => i as u32,
                _ => {
                    self.p.at(
                        n.mark,
                        format!("{at}: `parallelism` must be a whole number from 1 to 256"),
                    );
                    1
                }
            },
        };
        if let Some(flag) = body.get("circleci_ip_ranges")
            && flag.as_bool().is_none()
        {
            self.p.at(
                flag.mark,
                format!("{at}: `circleci_ip_ranges` must be true or false"),
            );
        }
        // `type: no-op` runs nothing and succeeds; `type: approval` waits for an approval.
        let stepless = match body.get("type").map(|t| (t, t.scalar_text())) {
            None | Some((_, Some("build"))) => false,
            Some((_, Some("no-op" | "approval"))) => true,
            Some((t, _)) => {
                self.p.at(
                    t.mark,
                    format!("{at}: `type` must be build, no-op or approval"),
                );
                false
            }
        };
        let steps = match body.get("steps").map(|s| (s, s.as_seq())) {
            None if stepless => Vec::new(),
            Some((_, Some(list))) if !list.is_empty() => list
                .iter()
                .enumerate()
                .filter_map(|(i, s)| self.step(&at, i + 1, s))
                .collect(),
            Some((node, _)) => {
                self.p
                    .at(node.mark, format!("{at} needs a non-empty list of `steps`"));
                Vec::new()
            }
            None => {
                self.p.at(
                    e.key_mark,
                    format!("{at} needs a non-empty list of `steps`"),
                );
                Vec::new()
            }
        };
        Some(Job {
            name: name.clone(),
            environment,
            working_directory,
            executor_notes,
            parallelism,
            resource_class,
            shell,
            contexts: Vec::new(),
            steps,
        })
    }
}

fn executor_note(key: &str, v: &Node) -> String {
    let what = match &v.value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| i.get("image").and_then(Node::scalar_text))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Map(m) => m
            .get("image")
            .and_then(Node::scalar_text)
            .map_or_else(|| "(settings)".to_owned(), str::to_owned),
        _ => v
            .scalar_text()
            .map_or_else(|| "(settings)".to_owned(), str::to_owned),
    };
    format!("{key}: {what}")
}

#[cfg(test)]
use steps::parse_duration;

mod steps;
mod workflows;

#[cfg(test)]
mod tests;
