//! Reading workflows: their jobs, `requires` (with the ends they accept), filters, contexts,
//! approvals and scheduled triggers.

use super::Reader;
use crate::ci_config::node::{Entry, Kind, Node, Value};
use crate::ci_config::{
    Filters, Pattern, RefFilter, RequiredStatus, Requirement, Schedule, Workflow, WorkflowJob,
};
use std::collections::BTreeSet;

impl Reader {
    pub(super) fn workflows(&mut self, node: &Node, jobs: &BTreeSet<&str>) -> Vec<Workflow> {
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

    pub(super) fn workflow(&mut self, e: &Entry, jobs: &BTreeSet<&str>) -> Option<Workflow> {
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
        if self.p.count() == before && crate::ci_config::plan::requirement_order(&entries).is_none()
        {
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

    pub(super) fn workflow_job(
        &mut self,
        item: &Node,
        at: &str,
        jobs: &BTreeSet<&str>,
    ) -> Option<WorkflowJob> {
        let null = Node::null(item.mark);
        let (key, opts, mark) = match &item.value {
            Value::Scalar(s) if s.kind != Kind::Null => (s.text.clone(), &null, item.mark),
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
        if context.len() > crate::context::MAX_PER_JOB {
            self.p.at(
                mark,
                format!(
                    "{at}: `context` names {} contexts; a job may use at most {}",
                    context.len(),
                    crate::context::MAX_PER_JOB
                ),
            );
        }
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

    pub(super) fn requires(&mut self, node: &Node, at: &str) -> Vec<Requirement> {
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

    pub(super) fn filters(&mut self, node: &Node, at: &str) -> Filters {
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

    pub(super) fn ref_filter(&mut self, node: &Node, at: &str, what: &str) -> RefFilter {
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
                    Some(re) => match self.patterns.whole(re) {
                        Some(r) => patterns.push(Pattern::Regex(r)),
                        None => self.p.at(
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

    pub(super) fn schedules(&mut self, node: &Node, at: &str) -> Vec<Schedule> {
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
                Some(c) if crate::schedule::Calendar::cron(c).is_ok() => c.to_owned(),
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
