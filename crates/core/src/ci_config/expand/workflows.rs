//! Workflows: each job invocation (and each of a matrix's) expanded to a job of its own name,
//! `requires` resolved to those names, `when`/`unless` decided.

use super::{Element, Expander, logic, params::Args};
use crate::ci_config::node::{Entry, Kind, Map, Mark, Node, Value};
use std::collections::{BTreeSet, HashMap};

/// Keys of a workflow's job invocation that are not the job's parameters.
pub(super) const RESERVED: &[&str] = &[
    "requires",
    "name",
    "context",
    "filters",
    "matrix",
    "type",
    "pre-steps",
    "post-steps",
    "serial-group",
    "override-with",
];

/// The most jobs one matrix may make.
const MAX_MATRIX_JOBS: usize = 500;

/// One job of a workflow, expanded.
struct Invocation {
    /// Its name in the workflow.
    name: String,
    /// The name `requires` can use for all of a matrix's jobs (the job's name by default).
    alias: String,
    /// The key of its definition in the expanded `jobs` (none for an approval job).
    key: Option<String>,
    /// What it requires, as written (names or `name: [statuses]`), filled in.
    requires: Option<Node>,
    /// `filters`, `context`, `type`, `serial-group`: carried as they are.
    carried: Map,
    mark: Mark,
}

impl Expander<'_> {
    /// Every workflow expanded: the jobs they run (by key) and the 2.0 `workflows`.
    pub(super) fn workflows(&mut self, node: &Node) -> (Map, Option<Node>) {
        let mut jobs = JobsOut::default();
        let Some(map) = node.as_map() else {
            self.p.at(
                node.mark,
                "`workflows` must be a mapping of workflow names to workflows",
            );
            return (jobs.map, None);
        };
        let mut out = Map::default();
        out.insert("version", Node::int(2, node.mark));
        for e in map.iter() {
            if e.key == "version" {
                continue;
            }
            if let Some(w) = self.workflow(e, &mut jobs) {
                out.insert(e.key.clone(), w);
            }
        }
        // Invoked jobs first, in the order invoked; the others' keys differ from theirs.
        let mut all = jobs.map;
        for e in self.uninvoked_jobs(&jobs.index).into_entries() {
            all.push(e);
        }
        (all, Some(Node::map(out, node.mark)))
    }

    fn workflow(&mut self, e: &Entry, jobs: &mut JobsOut) -> Option<Node> {
        let at = format!("workflow '{}'", e.key);
        let Some(body) = e.value.as_map() else {
            self.p
                .at(e.key_mark, format!("{at} must be a mapping with `jobs`"));
            return None;
        };
        let mut out = Map::default();
        for k in body.iter() {
            match k.key.as_str() {
                "jobs" => {}
                "triggers" => {
                    let triggers = self.filled(&k.value, &at, None, None);
                    out.insert("triggers", triggers);
                }
                "when" | "unless" => {
                    let statement = self.filled(&k.value, &at, None, None);
                    let holds = logic::holds(&statement, &at, &mut self.p, &mut self.patterns);
                    if holds != (k.key == "when") {
                        return None;
                    }
                }
                other => self.p.at(k.key_mark, format!("{at}: key `{other}` is not a workflow's (a workflow has jobs, triggers, when and unless)")),
            }
        }
        let Some(list) = body
            .get("jobs")
            .and_then(Node::as_seq)
            .filter(|l| !l.is_empty())
        else {
            self.p
                .at(e.key_mark, format!("{at} needs a non-empty list of `jobs`"));
            return None;
        };
        let mut invocations = Vec::new();
        for item in list {
            self.invocations(item, &at, jobs, &mut invocations);
        }
        let mut seen = BTreeSet::new();
        for i in &invocations {
            if !seen.insert(i.name.as_str()) {
                self.p.at(
                    i.mark,
                    format!(
                        "{at} has two jobs named '{}': give one of them a different `name:`",
                        i.name
                    ),
                );
            }
        }
        let mut entries = Vec::new();
        for i in &invocations {
            let mut opts = i.carried.clone();
            if let Some(requires) = &i.requires {
                let resolved = self.requirements(requires, i, &invocations, &at);
                opts.insert("requires", resolved);
            }
            let key = i.key.clone().unwrap_or_else(|| i.name.clone());
            if key != i.name {
                opts.insert("name", Node::text(i.name.clone(), i.mark));
            }
            if opts.is_empty() {
                entries.push(Node::text(key, i.mark));
            } else {
                let mut entry = Map::default();
                entry.insert(key, Node::map(opts, i.mark));
                entries.push(Node::map(entry, i.mark));
            }
        }
        out.insert("jobs", Node::seq(entries, e.value.mark));
        Some(Node::map(out, e.value.mark))
    }

    /// The jobs one item of a workflow's `jobs` invokes (several for a matrix).
    fn invocations(
        &mut self,
        item: &Node,
        at: &str,
        jobs: &mut JobsOut,
        out: &mut Vec<Invocation>,
    ) {
        let (job, args, mark) = match &item.value {
            Value::Scalar(s) if s.kind != Kind::Null => (s.text.clone(), Map::default(), item.mark),
            Value::Map(m) if m.len() == 1 => {
                let e = m.iter().next().expect("one entry");
                match &e.value.value {
                    Value::Map(args) => (e.key.clone(), args.clone(), e.key_mark),
                    Value::Scalar(s) if s.kind == Kind::Null => {
                        (e.key.clone(), Map::default(), e.key_mark)
                    }
                    _ => {
                        self.p.at(
                            e.value.mark,
                            format!("{at}, job '{}': its settings must be a mapping", e.key),
                        );
                        return;
                    }
                }
            }
            _ => {
                self.p.at(
                    item.mark,
                    format!("{at}: each job is a name, or a mapping `name: {{requires: …}}`"),
                );
                return;
            }
        };
        let at = format!("{at}, job '{job}'");
        let mut args = args;
        let matrix = args.remove("matrix");
        let Some(matrix) = matrix else {
            let args = self.filled(&Node::map(args, mark), &at, None, None);
            if let Some(i) = self.invocation(
                &job,
                args.as_map().cloned().unwrap_or_default(),
                job.clone(),
                &at,
                mark,
                jobs,
            ) {
                out.push(i);
            }
            return;
        };
        let matrix = self.filled(&matrix, &at, None, None);
        let Some((combinations, alias)) = self.matrix(&matrix, &job, &at) else {
            return;
        };
        let template = Node::map(args, mark);
        for combination in combinations {
            let default_name = std::iter::once(job.as_str())
                .chain(
                    combination
                        .iter()
                        .map(|(_, v)| v.scalar_text().unwrap_or_default()),
                )
                .collect::<Vec<_>>()
                .join("-");
            let values: Args = combination.iter().cloned().collect();
            let filled = self.filled(&template, &at, None, Some(&values));
            let mut args = filled.as_map().cloned().unwrap_or_default();
            for (k, v) in combination {
                args.insert(k, v);
            }
            if !args.contains("name") {
                args.insert("name", Node::text(default_name, mark));
            }
            if let Some(i) = self.invocation(&job, args, alias.clone(), &at, mark, jobs) {
                out.push(i);
            }
        }
    }

    /// A matrix's combinations of parameter values, in order (the first parameter varies
    /// slowest), less those excluded; and its alias.
    fn matrix(&mut self, matrix: &Node, job: &str, at: &str) -> Option<(Vec<Combination>, String)> {
        let Some(map) = matrix.as_map() else {
            self.p.at(
                matrix.mark,
                format!("{at}: `matrix` must be a mapping with `parameters`"),
            );
            return None;
        };
        for e in map.iter() {
            if !matches!(e.key.as_str(), "parameters" | "exclude" | "alias") {
                self.p.at(e.key_mark, format!("{at}: key `{}` is not a matrix's (a matrix has parameters, exclude and alias)", e.key));
            }
        }
        let Some(parameters) = map
            .get("parameters")
            .and_then(Node::as_map)
            .filter(|m| !m.is_empty())
        else {
            self.p.at(
                matrix.mark,
                format!("{at}: `matrix` needs `parameters`, each with a list of values"),
            );
            return None;
        };
        let mut combinations: Vec<Combination> = vec![Vec::new()];
        for e in parameters.iter() {
            let values: Vec<Node> = match &e.value.value {
                Value::Seq(items) if !items.is_empty() => items.clone(),
                _ => {
                    self.p.at(
                        e.value.mark,
                        format!(
                            "{at}: matrix parameter '{}' needs a non-empty list of values",
                            e.key
                        ),
                    );
                    return None;
                }
            };
            if combinations.len() * values.len() > MAX_MATRIX_JOBS {
                self.p.at(
                    matrix.mark,
                    format!("{at}: the matrix makes more than {MAX_MATRIX_JOBS} jobs"),
                );
                return None;
            }
            combinations = combinations
                .iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push((e.key.clone(), v.clone()));
                        c
                    })
                })
                .collect();
        }
        let excluded: Vec<Map> = match map.get("exclude") {
            None => Vec::new(),
            Some(ex) => match ex.as_seq() {
                Some(items) => items.iter().filter_map(|i| i.as_map().cloned()).collect(),
                None => {
                    self.p.at(
                        ex.mark,
                        format!("{at}: matrix `exclude` must be a list of parameter values"),
                    );
                    Vec::new()
                }
            },
        };
        for ex in &excluded {
            if !combinations.iter().any(|c| excludes(ex, c)) {
                self.p.at(
                    matrix.mark,
                    format!(
                        "{at}: a matrix `exclude` entry matches no combination of its parameters"
                    ),
                );
            }
        }
        combinations.retain(|c| !excluded.iter().any(|ex| excludes(ex, c)));
        let alias = map
            .get("alias")
            .and_then(Node::scalar_text)
            .map_or_else(|| job.to_owned(), str::to_owned);
        Some((combinations, alias))
    }

    /// One invocation of `job` with `args` (already filled in).
    fn invocation(
        &mut self,
        job: &str,
        mut args: Map,
        alias: String,
        at: &str,
        mark: Mark,
        jobs: &mut JobsOut,
    ) -> Option<Invocation> {
        let name = match args.remove("name") {
            Some(n) => match n.scalar_text() {
                Some(t) => t.to_owned(),
                None => {
                    self.p.at(n.mark, format!("{at}: `name` must be text"));
                    return None;
                }
            },
            None => job.to_owned(),
        };
        let requires = args.remove("requires");
        let pre = args.remove("pre-steps");
        let post = args.remove("post-steps");
        let mut carried = Map::default();
        for k in ["filters", "context", "type", "serial-group"] {
            if let Some(v) = args.remove(k) {
                carried.insert(k, v);
            }
        }
        args.remove("override-with");
        let approval = carried.get("type").and_then(Node::scalar_text) == Some("approval")
            || self.find(0, Element::Job, job).is_some_and(|d| {
                d.body.get("type").and_then(Node::scalar_text) == Some("approval")
            });
        if approval {
            carried.insert("type", Node::text("approval", mark));
        }
        let key = if approval {
            for e in args.iter() {
                self.p.at(
                    e.key_mark,
                    format!("{at}: an approval job takes no parameters (`{}`)", e.key),
                );
            }
            None
        } else {
            let Some(def) = self.find(0, Element::Job, job) else {
                if self.in_broken_orb(0, job) {
                    return None;
                }
                let names = self.names(0, Element::Job);
                self.p.at(mark, format!("{at}: job '{job}' is not defined under `jobs` or in an orb ({names}); an approval job needs `type: approval`"));
                return None;
            };
            let body = self.job(&def, Some(&args), pre.as_ref(), post.as_ref(), mark)?;
            Some(jobs.unique_key(&name, body))
        };
        Some(Invocation {
            name,
            alias,
            key,
            requires,
            carried,
            mark,
        })
    }

    /// `requires` with each name resolved: a job's name, or a matrix's alias (all its jobs).
    fn requirements(
        &mut self,
        requires: &Node,
        of: &Invocation,
        all: &[Invocation],
        at: &str,
    ) -> Node {
        let items: Vec<Node> = match &requires.value {
            Value::Seq(items) => items.clone(),
            Value::Scalar(s) if s.kind != Kind::Null => vec![requires.clone()],
            Value::Scalar(s) if s.kind == Kind::Null => Vec::new(),
            _ => {
                self.p.at(
                    requires.mark,
                    format!(
                        "{at}, job '{}': `requires` must be a list of job names",
                        of.name
                    ),
                );
                return Node::seq(Vec::new(), requires.mark);
            }
        };
        let mut out = Vec::new();
        for item in items {
            let (name, statuses) = match &item.value {
                Value::Scalar(s) if s.kind != Kind::Null => (s.text.clone(), None),
                Value::Map(m) if m.len() == 1 => {
                    let e = m.iter().next().expect("one entry");
                    (e.key.clone(), Some(e.value.clone()))
                }
                _ => {
                    self.p.at(item.mark, format!("{at}, job '{}': each of `requires` is a job's name, or `name: [success, failed]`", of.name));
                    continue;
                }
            };
            let exact: Vec<&Invocation> = all.iter().filter(|i| i.name == name).collect();
            let matched: Vec<&Invocation> = if exact.is_empty() {
                all.iter().filter(|i| i.alias == name).collect()
            } else {
                exact
            };
            if matched.is_empty() {
                self.p.at(
                    item.mark,
                    format!(
                        "{at}, job '{}' requires '{name}', which is not a job of this workflow",
                        of.name
                    ),
                );
                continue;
            }
            for m in matched {
                if std::ptr::eq(m, of) {
                    self.p.at(
                        item.mark,
                        format!("{at}, job '{}' requires itself", of.name),
                    );
                    continue;
                }
                out.push(match &statuses {
                    None => Node::text(m.name.clone(), item.mark),
                    Some(s) => {
                        let mut entry = Map::default();
                        entry.insert(m.name.clone(), s.clone());
                        Node::map(entry, item.mark)
                    }
                });
            }
        }
        Node::seq(out, requires.mark)
    }
}

/// One value for each of a matrix's parameters, in the order they are written.
type Combination = Vec<(String, Node)>;

/// Whether `exclude` (parameter values) names the combination `c`.
fn excludes(exclude: &Map, c: &Combination) -> bool {
    exclude.iter().all(|e| {
        c.iter().any(|(k, v)| {
            *k == e.key && v.as_map().is_none() && v.scalar_text() == e.value.scalar_text()
        })
    })
}

/// The expanded jobs, by key, with an index (a config may invoke thousands).
#[derive(Default)]
struct JobsOut {
    map: Map,
    index: HashMap<String, usize>,
}

impl JobsOut {
    /// A key for the expanded job `body` named `name`: the name itself, unless another
    /// invocation already took it with a different body (`name-2`, …).
    fn unique_key(&mut self, name: &str, body: Node) -> String {
        let mut key = name.to_owned();
        let mut n = 1;
        loop {
            match self.index.get(&key) {
                None => {
                    self.index.insert(key.clone(), self.map.len());
                    self.map.push(Entry {
                        key: key.clone(),
                        key_mark: body.mark,
                        value: body,
                    });
                    return key;
                }
                Some(&at) if self.map.iter().nth(at).is_some_and(|e| e.value == body) => {
                    return key;
                }
                Some(_) => {
                    n += 1;
                    key = format!("{name}-{n}");
                }
            }
        }
    }
}
