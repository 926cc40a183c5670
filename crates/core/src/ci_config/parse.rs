//! From config text to [`CiConfig`]: load, expand (2.1), then read the 2.0 form with every key
//! checked, collecting the problems with where they are.

use super::expand::{self, BUILT_IN_STEPS, NoOrbs, OrbSource, environment_map};
use super::node::{Entry, Kind, Map, Mark, Node, Value};
use super::problems::Problems;
use super::values::PipelineContext;
use super::{
    CiConfig, Compiled, ConfigErrors, ConfigVersion, Filters, Job, Pattern, RefFilter,
    RequiredStatus, Requirement, RunStep, Schedule, Step, When, Workflow, WorkflowJob,
};
use std::collections::BTreeSet;
use std::time::Duration;

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
    let mut reader = Reader { p };
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
            steps,
        })
    }

    fn step(&mut self, job_at: &str, n: usize, node: &Node) -> Option<Step> {
        let at = format!("{job_at}, step {n}");
        let null = Node::null(node.mark);
        let (kind, args) = match &node.value {
            Value::Scalar(s) if s.kind == Kind::Str => (s.text.as_str(), &null),
            Value::Map(m) if m.len() == 1 => {
                let e = m.iter().next().expect("one entry");
                (e.key.as_str(), &e.value)
            }
            _ => {
                self.p.at(
                    node.mark,
                    format!("{at}: a step is a name like `checkout` or a mapping like `run: make`"),
                );
                return None;
            }
        };
        // CircleCI also reads `save-cache` and the like as the built-in step.
        let normalized = kind.replace('-', "_");
        let kind = match normalized.as_str() {
            k if BUILT_IN_STEPS.contains(&k) => k,
            _ => kind,
        };
        let known: &[&str] = match kind {
            "checkout" => &["path", "method"],
            "run" | "deploy" => &[
                "command",
                "name",
                "environment",
                "working_directory",
                "no_output_timeout",
                "when",
                "shell",
                "background",
                "max_auto_reruns",
                "auto_rerun_delay",
            ],
            "store_artifacts" => &["path", "destination", "prefix", "name"],
            "store_test_results" => &["path", "name"],
            "save_cache" => &["key", "paths", "name", "when"],
            "restore_cache" => &["key", "keys", "name"],
            "persist_to_workspace" => &["root", "paths", "name"],
            "attach_workspace" => &["at", "name"],
            "add_ssh_keys" => &["fingerprints", "name"],
            "setup_remote_docker" => &["version", "docker_layer_caching", "name"],
            other => {
                let other = Node::text(other, node.mark).describe();
                self.p.at(node.mark, format!("{at}: {other} is not a step; the steps are checkout, run, save_cache, restore_cache, persist_to_workspace, attach_workspace, add_ssh_keys, store_artifacts, store_test_results, setup_remote_docker and deploy (commands need `version: 2.1`)"));
                return None;
            }
        };
        if let Some(m) = args.as_map() {
            for e in m.iter() {
                if !known.contains(&e.key.as_str()) {
                    self.p.at(
                        e.key_mark,
                        format!(
                            "{at}: `{}` is not a key of `{kind}` (its keys are {})",
                            e.key,
                            known.join(", ")
                        ),
                    );
                }
            }
        } else if !args.is_null() && !matches!(kind, "run" | "deploy") {
            self.p
                .at(args.mark, format!("{at}: `{kind}` takes a mapping"));
            return None;
        }
        let get = |k: &str| args.get(k);
        match kind {
            "checkout" => Some(match self.text(get("path"), &at, "path") {
                // `method` (full or blobless) only changes how much history is fetched.
                Some(path) => Step::CheckoutInto { path },
                None => Step::Checkout,
            }),
            "run" | "deploy" => self.run_step(&at, args),
            "store_artifacts" => {
                let path = self.required(&at, get("path"), "path", args.mark)?;
                // `prefix` is 1.0's word for `destination`, still read by CircleCI.
                let destination = match get("destination") {
                    Some(d) => self.text(Some(d), &at, "destination"),
                    None => self.text(get("prefix"), &at, "prefix"),
                };
                Some(Step::StoreArtifacts { path, destination })
            }
            "store_test_results" => Some(Step::StoreTestResults {
                path: self.required(&at, get("path"), "path", args.mark)?,
            }),
            "save_cache" => {
                let key = self.required(&at, get("key"), "key", args.mark)?;
                let paths = self.list(&at, get("paths"), "paths", args.mark)?;
                Some(Step::SaveCache {
                    key,
                    paths,
                    name: self.text(get("name"), &at, "name"),
                    when: self.when(&at, get("when")),
                })
            }
            "restore_cache" => {
                let mut keys = Vec::new();
                if let Some(key) = self.text(get("key"), &at, "key") {
                    keys.push(key);
                }
                if get("keys").is_some() {
                    keys.extend(self.list(&at, get("keys"), "keys", args.mark)?);
                }
                if keys.is_empty() {
                    self.p.at(
                        args.mark,
                        format!("{at}: `restore_cache` needs a `key` or a list of `keys`"),
                    );
                    return None;
                }
                Some(Step::RestoreCache {
                    keys,
                    name: self.text(get("name"), &at, "name"),
                })
            }
            "persist_to_workspace" => Some(Step::PersistToWorkspace {
                root: self.required(&at, get("root"), "root", args.mark)?,
                paths: self.list(&at, get("paths"), "paths", args.mark)?,
            }),
            "attach_workspace" => Some(Step::AttachWorkspace {
                at: self.required(&at, get("at"), "at", args.mark)?,
            }),
            "add_ssh_keys" => Some(Step::AddSshKeys {
                fingerprints: match get("fingerprints") {
                    Some(_) => self.list(&at, get("fingerprints"), "fingerprints", args.mark)?,
                    None => Vec::new(),
                },
            }),
            "setup_remote_docker" => Some(Step::SetupRemoteDocker {
                version: self.text(get("version"), &at, "version"),
            }),
            _ => None,
        }
    }

    fn required(
        &mut self,
        at: &str,
        node: Option<&Node>,
        field: &str,
        mark: Mark,
    ) -> Option<String> {
        match node.and_then(Node::scalar_text) {
            Some(s) if !s.trim().is_empty() => Some(s.to_owned()),
            _ => {
                self.p.at(
                    node.map_or(mark, |n| n.mark),
                    format!("{at}: `{field}` is required and must be text"),
                );
                None
            }
        }
    }

    /// A list of text (one text alone counts as a list of one).
    fn list(
        &mut self,
        at: &str,
        node: Option<&Node>,
        field: &str,
        mark: Mark,
    ) -> Option<Vec<String>> {
        let items: Option<Vec<String>> = match node.map(|n| &n.value) {
            Some(Value::Seq(items)) if !items.is_empty() => items
                .iter()
                .map(|i| i.scalar_text().map(str::to_owned))
                .collect(),
            Some(Value::Scalar(s)) if s.kind != Kind::Null => Some(vec![s.text.clone()]),
            _ => None,
        };
        if items.is_none() {
            self.p.at(
                node.map_or(mark, |n| n.mark),
                format!("{at}: `{field}` is required and must be a list of text"),
            );
        }
        items
    }

    fn when(&mut self, at: &str, node: Option<&Node>) -> When {
        match node.map(|n| (n, n.scalar_text())) {
            None => When::OnSuccess,
            Some((_, Some("on_success"))) => When::OnSuccess,
            Some((_, Some("on_fail"))) => When::OnFail,
            Some((_, Some("always"))) => When::Always,
            Some((n, _)) => {
                self.p.at(
                    n.mark,
                    format!(
                        "{at}: `when: {}` must be on_success, on_fail or always",
                        n.describe()
                    ),
                );
                When::OnSuccess
            }
        }
    }

    fn run_step(&mut self, at: &str, args: &Node) -> Option<Step> {
        if let Some(command) = args.scalar_text() {
            return Some(Step::Run(RunStep {
                name: default_name(command),
                command: command.to_owned(),
                environment: vec![],
                working_directory: None,
                no_output_timeout: None,
                when: When::OnSuccess,
                shell: None,
                background: false,
            }));
        }
        if args.as_map().is_none() {
            self.p.at(
                args.mark,
                format!("{at}: `run` takes a command or a mapping with `command`"),
            );
            return None;
        }
        let command = self.required(at, args.get("command"), "command", args.mark)?;
        let when = self.when(at, args.get("when"));
        let no_output_timeout = match args.get("no_output_timeout") {
            None => None,
            Some(v) => match v.scalar_text().and_then(parse_duration) {
                Some(d) => Some(d),
                None => {
                    self.p.at(
                        v.mark,
                        format!("{at}: `no_output_timeout` must look like 30s, 10m or 1h"),
                    );
                    None
                }
            },
        };
        let background = match args.get("background") {
            None => false,
            Some(b) => b.as_bool().unwrap_or_else(|| {
                self.p
                    .at(b.mark, format!("{at}: `background` must be true or false"));
                false
            }),
        };
        let environment = match args.get("environment") {
            Some(env) => self.env(env, at),
            None => Vec::new(),
        };
        Some(Step::Run(RunStep {
            name: self
                .text(args.get("name"), at, "name")
                .unwrap_or_else(|| default_name(&command)),
            environment,
            working_directory: self.text(args.get("working_directory"), at, "working_directory"),
            shell: self.text(args.get("shell"), at, "shell"),
            command,
            no_output_timeout,
            when,
            background,
        }))
    }

    fn workflows(&mut self, node: &Node, jobs: &BTreeSet<&str>) -> Vec<Workflow> {
        let Some(map) = node.as_map() else {
            self.p.at(
                node.mark,
                "`workflows` must be a mapping of workflow names to workflows",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in map.iter() {
            if e.key == "version" {
                continue;
            }
            if let Some(w) = self.workflow(e, jobs) {
                out.push(w);
            }
        }
        out
    }

    fn workflow(&mut self, e: &Entry, jobs: &BTreeSet<&str>) -> Option<Workflow> {
        let at = format!("workflow '{}'", e.key);
        let Some(body) = e.value.as_map() else {
            self.p
                .at(e.key_mark, format!("{at} must be a mapping with `jobs`"));
            return None;
        };
        for k in body.iter() {
            match k.key.as_str() {
                "jobs" | "triggers" => {}
                "when" | "unless" => self.p.at(
                    k.key_mark,
                    format!("{at}: `{}` needs `version: 2.1`", k.key),
                ),
                other => self.p.at(
                    k.key_mark,
                    format!("{at}: key `{other}` is not a workflow's"),
                ),
            }
        }
        let schedules = match body.get("triggers") {
            Some(t) => self.schedules(t, &at),
            None => Vec::new(),
        };
        let Some(list) = body
            .get("jobs")
            .and_then(Node::as_seq)
            .filter(|l| !l.is_empty())
        else {
            self.p
                .at(e.key_mark, format!("{at} needs a non-empty list of `jobs`"));
            return None;
        };
        let before = self.p.count();
        let mut entries: Vec<WorkflowJob> = Vec::new();
        for item in list {
            if let Some(j) = self.workflow_job(item, &at, jobs) {
                entries.push(j);
            }
        }
        let mut names = BTreeSet::new();
        for j in &entries {
            if !names.insert(j.name.as_str()) {
                self.p.add(format!(
                    "{at} runs two jobs named '{}': give one of them a `name:`",
                    j.name
                ));
            }
        }
        for j in &entries {
            for r in &j.requires {
                if !names.contains(r.job.as_str()) {
                    self.p.add(format!(
                        "{at}: job '{}' requires '{}', which is not a job of this workflow",
                        j.name, r.job
                    ));
                }
            }
        }
        // A cycle is only worth reporting when every requirement names a job.
        if self.p.count() == before && super::plan::requirement_order(&entries).is_none() {
            self.p.at(
                e.key_mark,
                format!("{at}: its jobs' `requires` form a cycle"),
            );
        }
        Some(Workflow {
            name: e.key.clone(),
            jobs: entries,
            schedules,
        })
    }

    fn workflow_job(
        &mut self,
        item: &Node,
        at: &str,
        jobs: &BTreeSet<&str>,
    ) -> Option<WorkflowJob> {
        let null = Node::null(item.mark);
        let (key, opts, mark) = match &item.value {
            Value::Scalar(s) if s.kind == Kind::Str => (s.text.clone(), &null, item.mark),
            Value::Map(m) if m.len() == 1 => {
                let e = m.iter().next().expect("one entry");
                (e.key.clone(), &e.value, e.key_mark)
            }
            _ => {
                self.p.at(
                    item.mark,
                    format!("{at}: each job is a name, or a mapping `name: {{requires: …}}`"),
                );
                return None;
            }
        };
        let at = format!("{at}, job '{key}'");
        if let Some(m) = opts.as_map() {
            for e in m.iter() {
                if !matches!(
                    e.key.as_str(),
                    "requires" | "filters" | "context" | "type" | "name" | "serial-group"
                ) {
                    self.p.at(e.key_mark, format!("{at}: `{}` is not a workflow job's key (job parameters need `version: 2.1`)", e.key));
                }
            }
        } else if !opts.is_null() {
            self.p
                .at(opts.mark, format!("{at}: its settings must be a mapping"));
            return None;
        }
        let approval = match opts.get("type").map(|t| (t, t.scalar_text())) {
            None | Some((_, Some("build"))) => false,
            Some((_, Some("approval"))) => true,
            Some((t, _)) => {
                self.p
                    .at(t.mark, format!("{at}: `type` must be approval or build"));
                false
            }
        };
        if !approval && !jobs.contains(key.as_str()) {
            self.p.at(
                mark,
                format!("{at}: job '{key}' is not defined under `jobs`"),
            );
            return None;
        }
        let name = self
            .text(opts.get("name"), &at, "name")
            .unwrap_or_else(|| key.clone());
        let requires = match opts.get("requires") {
            None => Vec::new(),
            Some(r) => self.requires(r, &at),
        };
        let context = match opts.get("context").map(|c| &c.value) {
            None => Vec::new(),
            Some(Value::Scalar(s)) if s.kind != Kind::Null => vec![s.text.clone()],
            Some(Value::Seq(items)) => items
                .iter()
                .filter_map(|i| i.scalar_text().map(str::to_owned))
                .collect(),
            Some(_) => {
                self.p.at(
                    mark,
                    format!("{at}: `context` must be a context's name or a list of them"),
                );
                Vec::new()
            }
        };
        let filters = match opts.get("filters") {
            None => Filters::default(),
            Some(f) => self.filters(f, &at),
        };
        Some(WorkflowJob {
            name,
            job: key,
            requires,
            filters,
            context,
            approval,
        })
    }

    fn requires(&mut self, node: &Node, at: &str) -> Vec<Requirement> {
        let items: &[Node] = match &node.value {
            Value::Seq(items) => items,
            Value::Scalar(s) if s.kind == Kind::Null => &[],
            _ => {
                self.p.at(
                    node.mark,
                    format!("{at}: `requires` must be a list of job names"),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items {
            let (job, statuses) = match &item.value {
                Value::Scalar(s) if s.kind != Kind::Null => {
                    (s.text.clone(), vec![RequiredStatus::Success])
                }
                Value::Map(m) if m.len() == 1 => {
                    let e = m.iter().next().expect("one entry");
                    let raw: Vec<&Node> = match &e.value.value {
                        Value::Seq(items) => items.iter().collect(),
                        _ => vec![&e.value],
                    };
                    let mut statuses = Vec::new();
                    for s in raw {
                        match s.scalar_text() {
                            Some("success") => statuses.push(RequiredStatus::Success),
                            Some("failed") => statuses.push(RequiredStatus::Failed),
                            Some("canceled") => statuses.push(RequiredStatus::Canceled),
                            Some("not_run") => statuses.push(RequiredStatus::NotRun),
                            _ => self.p.at(s.mark, format!("{at}: a required status is success, failed, canceled or not_run, not {}", s.describe())),
                        }
                    }
                    statuses.sort();
                    statuses.dedup();
                    (e.key.clone(), statuses)
                }
                _ => {
                    self.p.at(
                        item.mark,
                        format!(
                            "{at}: each of `requires` is a job's name, or `name: [success, failed]`"
                        ),
                    );
                    continue;
                }
            };
            out.push(Requirement { job, statuses });
        }
        out
    }

    fn filters(&mut self, node: &Node, at: &str) -> Filters {
        let Some(map) = node.as_map() else {
            self.p.at(
                node.mark,
                format!("{at}: `filters` must be a mapping with `branches` and/or `tags`"),
            );
            return Filters::default();
        };
        for e in map.iter() {
            if !matches!(e.key.as_str(), "branches" | "tags") {
                self.p.at(
                    e.key_mark,
                    format!("{at}: `filters` has `branches` and `tags`, not `{}`", e.key),
                );
            }
        }
        Filters {
            branches: map
                .get("branches")
                .map(|b| self.ref_filter(b, at, "branch"))
                .unwrap_or_default(),
            tags: map.get("tags").map(|t| self.ref_filter(t, at, "tag")),
        }
    }

    fn ref_filter(&mut self, node: &Node, at: &str, what: &str) -> RefFilter {
        let Some(map) = node.as_map() else {
            if !node.is_null() {
                self.p.at(
                    node.mark,
                    format!("{at}: {what} filters are a mapping with `only` and/or `ignore`"),
                );
            }
            return RefFilter::default();
        };
        let mut filter = RefFilter::default();
        for e in map.iter() {
            let raw: Vec<&Node> = match &e.value.value {
                Value::Seq(items) => items.iter().collect(),
                Value::Scalar(s) if s.kind == Kind::Null => Vec::new(),
                _ => vec![&e.value],
            };
            let mut patterns = Vec::new();
            for r in raw {
                let Some(text) = r.scalar_text() else {
                    self.p.at(
                        r.mark,
                        format!("{at}: {what} filter values are names or /regular expressions/"),
                    );
                    continue;
                };
                match text.strip_prefix('/').and_then(|t| t.strip_suffix('/')) {
                    Some(re) => match regex::Regex::new(&format!("^(?:{re})$")) {
                        Ok(r) => patterns.push(Pattern::Regex(r)),
                        Err(_) => self.p.at(
                            r.mark,
                            format!("{at}: {what} filter /{re}/ is not a valid regular expression"),
                        ),
                    },
                    None => patterns.push(Pattern::Exact(text.to_owned())),
                }
            }
            match e.key.as_str() {
                "only" => filter.only = patterns,
                "ignore" => filter.ignore = patterns,
                other => self.p.at(
                    e.key_mark,
                    format!("{at}: {what} filters have `only` and `ignore`, not `{other}`"),
                ),
            }
        }
        filter
    }

    fn schedules(&mut self, node: &Node, at: &str) -> Vec<Schedule> {
        let Some(items) = node.as_seq() else {
            self.p.at(
                node.mark,
                format!("{at}: `triggers` must be a list of `schedule`s"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Some(schedule) = item
                .get("schedule")
                .filter(|_| item.as_map().is_some_and(|m| m.len() == 1))
            else {
                self.p.at(
                    item.mark,
                    format!("{at}: each trigger is a `schedule` with `cron` and `filters`"),
                );
                continue;
            };
            let cron = match schedule.get("cron").and_then(Node::scalar_text) {
                Some(c) if valid_cron(c) => c.to_owned(),
                _ => {
                    self.p.at(schedule.mark, format!("{at}: a schedule needs `cron`: five fields (minute hour day month weekday, UTC)"));
                    continue;
                }
            };
            let Some(branches) = schedule.get("filters").and_then(|f| f.get("branches")) else {
                self.p.at(schedule.mark, format!("{at}: a schedule needs `filters: {{branches: {{only: …}}}}` naming the branches it runs on"));
                continue;
            };
            let branches = self.ref_filter(branches, at, "branch");
            out.push(Schedule { cron, branches });
        }
        out
    }
}

/// Whether `cron` has five fields of digits, `*`, `/`, `-`, `,` (or month and day names).
fn valid_cron(cron: &str) -> bool {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    fields.len() == 5
        && fields.iter().all(|f| {
            f.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | '-' | ','))
        })
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
