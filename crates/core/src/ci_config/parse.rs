//! From YAML text to [`CiConfig`], collecting every error with where it is.

use super::values::{self, ParamDecl, ParamType, ParamValue, PipelineContext};
use super::{
    BranchFilter, CiConfig, ConfigErrors, ConfigVersion, Job, MAX_SCALAR_BYTES, Pattern, RunStep,
    Step, When, Workflow, WorkflowJob,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use yaml_rust2::Yaml;

const EXECUTOR_KEYS: [&str; 6] = [
    "docker",
    "machine",
    "macos",
    "resource_class",
    "executor",
    "shell",
];

/// Parses `text` for the pipeline `ctx` describes.
///
/// Bounded for hostile input: see [`super::yaml`] for the limits on the YAML itself, and
/// `<< >>` expressions may not grow the config's text past [`super::MAX_SCALAR_BYTES`] either.
pub fn parse(text: &str, ctx: &PipelineContext) -> Result<CiConfig, ConfigErrors> {
    let mut docs = super::yaml::load(text).map_err(|e| one(e.to_string()))?;
    let mut root = match docs.len() {
        1 => docs.pop().expect("one document"),
        0 => return Err(one("config is empty".into())),
        _ => return Err(one("config must be a single YAML document".into())),
    };
    let Some(top) = root.as_hash() else {
        return Err(one(
            "config must be a mapping with version, jobs and workflows".into(),
        ));
    };
    let mut p = Parser {
        errors: Vec::new(),
        unreported: 0,
        growth_left: MAX_SCALAR_BYTES,
    };
    let version = match top.get(&key("version")) {
        Some(Yaml::Integer(2)) => ConfigVersion::V2,
        Some(Yaml::Real(r)) if r == "2.0" || r == "2" => ConfigVersion::V2,
        Some(Yaml::Real(r)) if r == "2.1" => ConfigVersion::V2_1,
        Some(Yaml::String(s)) if s == "2" || s == "2.0" => ConfigVersion::V2,
        Some(Yaml::String(s)) if s == "2.1" => ConfigVersion::V2_1,
        Some(other) => {
            return Err(one(format!(
                "version {} is not supported: use 2 or 2.1",
                show(other)
            )));
        }
        None => return Err(one("config has no version: add `version: 2.1`".into())),
    };
    for (k, _) in top {
        match k.as_str() {
            Some("version" | "jobs" | "workflows") => {}
            Some("parameters") if version == ConfigVersion::V2_1 => {}
            Some("parameters") => p.err("pipeline parameters need `version: 2.1`"),
            Some(name @ ("orbs" | "commands" | "executors")) => p.err(format!(
                "`{name}` is not supported by circlet; write the steps out in each job"
            )),
            Some(name) => p.err(format!("unknown top-level key `{name}`")),
            None => p.err(format!("top-level key {} must be a string", show(k))),
        }
    }
    // 2.1: resolve parameters, then interpolate every string below jobs and workflows.
    if version == ConfigVersion::V2_1 {
        let decls = top
            .get(&key("parameters"))
            .map(|d| p.param_decls(d))
            .unwrap_or_default();
        match values::resolve(&decls, &ctx.parameters) {
            Ok(params) => {
                if let Yaml::Hash(h) = &mut root {
                    for section in ["jobs", "workflows"] {
                        if let Some(node) = h.get_mut(&key(section)) {
                            p.interpolate(node, ctx, &params);
                        }
                    }
                }
            }
            Err(errors) => errors.into_iter().for_each(|e| p.err(e)),
        }
    } else if !ctx.parameters.is_empty() {
        p.err("pipeline parameters need `version: 2.1` in the config");
    }
    let top = root.as_hash().expect("still a mapping");
    let jobs = match top.get(&key("jobs")).map(|j| (j, j.as_hash())) {
        Some((_, Some(h))) if !h.is_empty() => h
            .iter()
            .filter_map(|(name, body)| p.job(name, body))
            .collect(),
        Some(_) => {
            p.err("`jobs` must be a mapping of job names to jobs");
            Vec::new()
        }
        None => {
            p.err("config has no `jobs`");
            Vec::new()
        }
    };
    let workflows = match top.get(&key("workflows")) {
        Some(w) => p.workflows(w, &jobs),
        None if jobs.iter().any(|j| j.name == "build") => vec![Workflow {
            name: "workflow".into(),
            jobs: vec![WorkflowJob {
                job: "build".into(),
                requires: vec![],
                branches: BranchFilter::default(),
            }],
        }],
        None => {
            if !jobs.is_empty() {
                p.err("config has no `workflows` and no job named `build` to run by default");
            }
            Vec::new()
        }
    };
    if p.unreported > 0 {
        let more = format!("and {} more problems", p.unreported);
        p.errors.push(more);
    }
    if p.errors.is_empty() {
        Ok(CiConfig {
            version,
            jobs,
            workflows,
        })
    } else {
        Err(ConfigErrors(p.errors))
    }
}

fn one(message: String) -> ConfigErrors {
    ConfigErrors(vec![message])
}

fn key(s: &str) -> Yaml {
    Yaml::String(s.to_owned())
}

/// A short rendering of a YAML value for messages.
fn show(y: &Yaml) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => format!("'{}'", s.escape_debug()),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => "null".into(),
        Yaml::Array(_) => "a list".into(),
        Yaml::Hash(_) => "a mapping".into(),
        _ => "a value".into(),
    }
}

/// A scalar as text (numbers and booleans too), for commands and environment values.
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The most problems reported one by one; a hostile config could otherwise make one per node.
const MAX_ERRORS: usize = 50;

/// The longest problem reported, in characters: messages quote names and values.
const MAX_ERROR_CHARS: usize = 300;

struct Parser {
    errors: Vec<String>,
    /// Problems past [`MAX_ERRORS`], counted only.
    unreported: usize,
    /// How many more bytes `<< >>` expressions may add to the config's text.
    growth_left: usize,
}

impl Parser {
    fn err(&mut self, message: impl Into<String>) {
        if self.errors.len() == MAX_ERRORS {
            self.unreported += 1;
            return;
        }
        let mut message: String = message.into();
        if let Some((cut, _)) = message.char_indices().nth(MAX_ERROR_CHARS) {
            message.truncate(cut);
            message.push('…');
        }
        self.errors.push(message);
    }

    fn param_decls(&mut self, node: &Yaml) -> BTreeMap<String, ParamDecl> {
        let mut out = BTreeMap::new();
        let Some(h) = node.as_hash() else {
            self.err("`parameters` must be a mapping");
            return out;
        };
        for (name, decl) in h {
            let Some(name) = name.as_str() else {
                self.err("parameter names must be strings");
                continue;
            };
            let kind = match decl["type"].as_str() {
                Some("string") => ParamType::String,
                Some("boolean") => ParamType::Boolean,
                Some("integer") => ParamType::Integer,
                Some("enum") => match decl["enum"].as_vec() {
                    Some(v) => ParamType::Enum(v.iter().filter_map(scalar).collect()),
                    None => {
                        self.err(format!(
                            "parameter '{name}' of type enum needs an `enum` list"
                        ));
                        continue;
                    }
                },
                Some(other) => {
                    self.err(format!("parameter '{name}' has unsupported type '{other}': use string, boolean, integer or enum"));
                    continue;
                }
                None => {
                    self.err(format!("parameter '{name}' needs a `type`"));
                    continue;
                }
            };
            let default = match &decl["default"] {
                Yaml::BadValue => None,
                Yaml::Boolean(b) => Some(ParamValue::Bool(*b)),
                Yaml::Integer(i) => Some(ParamValue::Int(*i)),
                other => scalar(other).map(ParamValue::Str),
            };
            let decl = ParamDecl { kind, default };
            if let Some(d) = &decl.default
                && let Err(e) = decl.check(name, d)
            {
                self.err(format!("{e} (its default)"));
                continue;
            }
            out.insert(name.to_owned(), decl);
        }
        out
    }

    fn interpolate(
        &mut self,
        node: &mut Yaml,
        ctx: &PipelineContext,
        params: &BTreeMap<String, ParamValue>,
    ) {
        match node {
            Yaml::String(s) if s.contains("<<") => {
                match values::interpolate(s, ctx, params, s.len() + self.growth_left) {
                    Ok(v) => {
                        self.growth_left -= v.len().saturating_sub(s.len());
                        *s = v;
                    }
                    Err(e) => self.err(e),
                }
            }
            Yaml::Array(items) => items
                .iter_mut()
                .for_each(|i| self.interpolate(i, ctx, params)),
            Yaml::Hash(h) => h
                .iter_mut()
                .for_each(|(_, v)| self.interpolate(v, ctx, params)),
            _ => {}
        }
    }

    fn env(&mut self, node: &Yaml, at: &str) -> Vec<(String, String)> {
        match node {
            Yaml::BadValue | Yaml::Null => Vec::new(),
            Yaml::Hash(h) => h
                .iter()
                .filter_map(|(k, v)| match (k.as_str(), scalar(v)) {
                    (Some(k), Some(v)) if crate::envvar::valid_name(k) => Some((k.to_owned(), v)),
                    (Some(k), Some(_)) => {
                        self.err(format!(
                            "{at}: environment variable name '{k}' is not valid"
                        ));
                        None
                    }
                    _ => {
                        self.err(format!(
                            "{at}: environment values must be strings, numbers or booleans"
                        ));
                        None
                    }
                })
                .collect(),
            _ => {
                self.err(format!(
                    "{at}: `environment` must be a mapping of names to values"
                ));
                Vec::new()
            }
        }
    }

    fn job(&mut self, name: &Yaml, body: &Yaml) -> Option<Job> {
        let Some(name) = name.as_str() else {
            self.err("job names must be strings");
            return None;
        };
        let at = format!("job '{name}'");
        let Some(h) = body.as_hash() else {
            self.err(format!("{at} must be a mapping with `steps`"));
            return None;
        };
        let mut executor_notes = Vec::new();
        for (k, v) in h {
            match k.as_str() {
                Some("steps" | "environment" | "working_directory") => {}
                Some(ex) if EXECUTOR_KEYS.contains(&ex) => {
                    executor_notes.push(executor_note(ex, v))
                }
                Some("parallelism") if v.as_i64() == Some(1) => {}
                Some("parallelism") => {
                    self.err(format!("{at}: parallelism above 1 is not supported"))
                }
                Some(other) => self.err(format!("{at}: key `{other}` is not supported")),
                None => self.err(format!("{at}: keys must be strings")),
            }
        }
        let environment = self.env(&body["environment"], &at);
        let working_directory = match &body["working_directory"] {
            Yaml::BadValue => None,
            v => match v.as_str() {
                Some(s) => Some(s.to_owned()),
                None => {
                    self.err(format!("{at}: `working_directory` must be a string"));
                    None
                }
            },
        };
        let steps = match body["steps"].as_vec() {
            Some(list) if !list.is_empty() => list
                .iter()
                .enumerate()
                .filter_map(|(i, s)| self.step(&at, i + 1, s))
                .collect(),
            _ => {
                self.err(format!("{at} needs a non-empty list of `steps`"));
                Vec::new()
            }
        };
        Some(Job {
            name: name.to_owned(),
            environment,
            working_directory,
            executor_notes,
            steps,
        })
    }

    fn step(&mut self, job_at: &str, n: usize, node: &Yaml) -> Option<Step> {
        let at = format!("{job_at}, step {n}");
        let (kind, args) = match node {
            Yaml::String(s) => (s.as_str(), &Yaml::BadValue),
            Yaml::Hash(h) if h.len() == 1 => {
                let (k, v) = h.iter().next().expect("one entry");
                match k.as_str() {
                    Some(k) => (k, v),
                    None => {
                        self.err(format!("{at}: step type must be a string"));
                        return None;
                    }
                }
            }
            _ => {
                self.err(format!(
                    "{at}: a step is a name like `checkout` or a mapping like `run: make`"
                ));
                return None;
            }
        };
        match kind {
            "checkout" => Some(Step::Checkout),
            "run" => self.run_step(&at, args),
            "store_artifacts" => {
                let path = self.required_str(&at, args, "path")?;
                let destination = args["destination"].as_str().map(str::to_owned);
                Some(Step::StoreArtifacts { path, destination })
            }
            "store_test_results" => Some(Step::StoreTestResults {
                path: self.required_str(&at, args, "path")?,
            }),
            other => {
                self.err(format!("{at}: step `{other}` is not supported by circlet (supported: checkout, run, store_artifacts, store_test_results)"));
                None
            }
        }
    }

    fn required_str(&mut self, at: &str, args: &Yaml, field: &str) -> Option<String> {
        match args[field].as_str() {
            Some(s) if !s.trim().is_empty() => Some(s.to_owned()),
            _ => {
                self.err(format!("{at}: `{field}` is required and must be a string"));
                None
            }
        }
    }

    fn run_step(&mut self, at: &str, args: &Yaml) -> Option<Step> {
        if let Some(command) = scalar(args) {
            return Some(Step::Run(RunStep {
                name: default_name(&command),
                command,
                environment: vec![],
                working_directory: None,
                no_output_timeout: None,
                when: When::OnSuccess,
            }));
        }
        let Some(h) = args.as_hash() else {
            self.err(format!(
                "{at}: `run` takes a command or a mapping with `command`"
            ));
            return None;
        };
        for (k, _) in h {
            match k.as_str() {
                Some(
                    "command" | "name" | "environment" | "working_directory" | "no_output_timeout"
                    | "when",
                ) => {}
                Some(other) => self.err(format!("{at}: run key `{other}` is not supported")),
                None => self.err(format!("{at}: keys must be strings")),
            }
        }
        let command = self.required_str(at, args, "command")?;
        let when = match args["when"].as_str() {
            None => When::OnSuccess,
            Some("on_success") => When::OnSuccess,
            Some("on_fail") => When::OnFail,
            Some("always") => When::Always,
            Some(other) => {
                self.err(format!(
                    "{at}: `when: {other}` must be on_success, on_fail or always"
                ));
                When::OnSuccess
            }
        };
        let no_output_timeout = match &args["no_output_timeout"] {
            Yaml::BadValue => None,
            v => match scalar(v).as_deref().and_then(parse_duration) {
                Some(d) => Some(d),
                None => {
                    self.err(format!(
                        "{at}: `no_output_timeout` must look like 30s, 10m or 1h"
                    ));
                    None
                }
            },
        };
        Some(Step::Run(RunStep {
            name: args["name"]
                .as_str()
                .map_or_else(|| default_name(&command), str::to_owned),
            environment: self.env(&args["environment"], at),
            working_directory: args["working_directory"].as_str().map(str::to_owned),
            command,
            no_output_timeout,
            when,
        }))
    }

    fn workflows(&mut self, node: &Yaml, jobs: &[Job]) -> Vec<Workflow> {
        let Some(h) = node.as_hash() else {
            self.err("`workflows` must be a mapping of workflow names to workflows");
            return Vec::new();
        };
        let jobs: BTreeSet<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        let mut out = Vec::new();
        for (name, body) in h {
            match name.as_str() {
                Some("version") => continue,
                Some(name) => {
                    if let Some(w) = self.workflow(name, body, &jobs) {
                        out.push(w);
                    }
                }
                None => self.err("workflow names must be strings"),
            }
        }
        if out.is_empty() && self.errors.is_empty() {
            self.err("`workflows` has no workflow");
        }
        out
    }

    fn workflow(&mut self, name: &str, body: &Yaml, jobs: &BTreeSet<&str>) -> Option<Workflow> {
        let at = format!("workflow '{name}'");
        if let Some(h) = body.as_hash() {
            for (k, _) in h {
                if k.as_str() != Some("jobs") {
                    self.err(format!("{at}: key `{}` is not supported", show(k)));
                }
            }
        }
        let Some(list) = body["jobs"].as_vec().filter(|l| !l.is_empty()) else {
            self.err(format!("{at} needs a non-empty list of `jobs`"));
            return None;
        };
        let mut entries = Vec::new();
        for item in list {
            let (job, opts) = match item {
                Yaml::String(s) => (s.clone(), &Yaml::BadValue),
                Yaml::Hash(h) if h.len() == 1 => {
                    let (k, v) = h.iter().next().expect("one entry");
                    (k.as_str().unwrap_or_default().to_owned(), v)
                }
                _ => {
                    self.err(format!(
                        "{at}: each job is a name or a mapping `name: {{requires: …}}`"
                    ));
                    continue;
                }
            };
            if !jobs.contains(job.as_str()) {
                self.err(format!("{at}: job '{job}' is not defined under `jobs`"));
                continue;
            }
            if let Some(h) = opts.as_hash() {
                for (k, _) in h {
                    if !matches!(k.as_str(), Some("requires" | "filters" | "context")) {
                        self.err(format!(
                            "{at}, job '{job}': key {} is not supported",
                            show(k)
                        ));
                    }
                }
            }
            let requires = match &opts["requires"] {
                Yaml::BadValue => vec![],
                Yaml::Array(r) => r
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
                _ => {
                    self.err(format!(
                        "{at}, job '{job}': `requires` must be a list of job names"
                    ));
                    vec![]
                }
            };
            let branches =
                self.branch_filter(&format!("{at}, job '{job}'"), &opts["filters"]["branches"]);
            entries.push(WorkflowJob {
                job,
                requires,
                branches,
            });
        }
        let names: BTreeSet<&str> = entries.iter().map(|e| e.job.as_str()).collect();
        if names.len() != entries.len() {
            self.err(format!("{at} lists a job twice"));
        }
        for e in &entries {
            for r in &e.requires {
                if !names.contains(r.as_str()) {
                    self.err(format!(
                        "{at}: job '{}' requires '{r}', which is not in this workflow",
                        e.job
                    ));
                }
            }
        }
        if super::plan::requirement_order(&entries).is_none() {
            self.err(format!("{at}: `requires` form a cycle"));
        }
        Some(Workflow {
            name: name.to_owned(),
            jobs: entries,
        })
    }

    fn branch_filter(&mut self, at: &str, node: &Yaml) -> BranchFilter {
        let mut list = |field: &str| -> Vec<Pattern> {
            let raw: Vec<String> = match &node[field] {
                Yaml::BadValue => return vec![],
                Yaml::Array(a) => a.iter().filter_map(scalar).collect(),
                v => scalar(v).into_iter().collect(),
            };
            raw.into_iter()
                .filter_map(|p| match p.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
                    Some(re) => match regex::Regex::new(&format!("^(?:{re})$")) {
                        Ok(r) => Some(Pattern::Regex(r)),
                        Err(_) => {
                            self.err(format!("{at}: branch filter /{re}/ is not a valid regular expression"));
                            None
                        }
                    },
                    None => Some(Pattern::Exact(p)),
                })
                .collect()
        };
        let only = list("only");
        let ignore = list("ignore");
        BranchFilter { only, ignore }
    }
}

fn executor_note(key: &str, v: &Yaml) -> String {
    let what = match v {
        Yaml::Array(items) => items
            .iter()
            .filter_map(|i| i["image"].as_str())
            .collect::<Vec<_>>()
            .join(", "),
        other => scalar(other).unwrap_or_else(|| "(settings)".into()),
    };
    format!("{key}: {what}")
}

fn default_name(command: &str) -> String {
    let first = command
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("run")
        .trim();
    first.chars().take(80).collect()
}

/// `30s`, `10m`, `1h`, `1h30m`, or a bare number of seconds.
fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in raw.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n: u64 = num.parse().ok()?;
            num.clear();
            total += n * match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                _ => return None,
            };
        }
    }
    (num.is_empty() && total > 0).then(|| Duration::from_secs(total))
}

#[cfg(test)]
mod tests;
