//! Reading a job's steps: every built-in step of CircleCI's reference, its keys checked.

use super::Reader;
use crate::ci_config::expand::BUILT_IN_STEPS;
use crate::ci_config::node::{Kind, Mark, Node, Value};
use crate::ci_config::{RunStep, Step, When};
use std::time::Duration;

impl Reader {
    pub(super) fn step(&mut self, job_at: &str, n: usize, node: &Node) -> Option<Step> {
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

    pub(super) fn required(
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
    pub(super) fn list(
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

    pub(super) fn when(&mut self, at: &str, node: Option<&Node>) -> When {
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

    pub(super) fn run_step(&mut self, at: &str, args: &Node) -> Option<Step> {
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
pub(super) fn parse_duration(raw: &str) -> Option<Duration> {
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
