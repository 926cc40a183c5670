//! Expanding a job: its parameters filled in, its executor merged in, its steps expanded
//! (commands invoked, `when`/`unless` decided, `steps` parameters spliced in).

use super::*;

impl Expander<'_> {
    /// Jobs not invoked by any workflow whose parameters all have defaults, expanded under
    /// their own names (v1.1 can run a job alone); `invoked` are the names already out.
    pub(super) fn uninvoked_jobs(&mut self, invoked: &HashMap<String, usize>) -> Map {
        let mut out = Map::default();
        let jobs: Vec<(String, Def)> = self.scopes[0]
            .jobs
            .iter()
            .map(|(k, d)| (k.clone(), d.clone()))
            .collect();
        for (name, def) in jobs {
            if invoked.contains_key(&name) {
                continue;
            }
            let decls = params::declared(
                def.body.get("parameters"),
                &def.label,
                &mut Problems::default(),
            );
            if decls
                .iter()
                .any(|d| d.default.is_none() && d.kind != params::Type::Steps)
            {
                continue;
            }
            if let Some(job) = self.job(&def, None, None, None, def.body.mark) {
                out.insert(name, job);
            }
        }
        out
    }

    /// The job `def` invoked with `given` (and pre- and post-steps), in the 2.0 form.
    pub(super) fn job(
        &mut self,
        def: &Def,
        given: Option<&Map>,
        pre: Option<&Node>,
        post: Option<&Node>,
        at: Mark,
    ) -> Option<Node> {
        let body = def.body.as_map()?;
        let decls = params::declared(body.get("parameters"), &def.label, &mut self.p);
        let args = params::bind(
            &decls,
            given,
            workflows::RESERVED,
            &def.label,
            at,
            &mut self.p,
        )?;
        let mut template = body.clone();
        template.remove("parameters");
        let filled = self.filled(
            &Node::map(template, def.body.mark),
            &def.label,
            Some(&args),
            None,
        );
        let Value::Map(mut job) = filled.value else {
            return None;
        };
        if let Some(reference) = job.remove("executor") {
            let executor = self.executor(&reference, def.scope, &def.label)?;
            for e in executor.into_entries() {
                match (e.key.as_str(), job.get("environment")) {
                    ("environment", Some(own)) => {
                        let merged = merge_environment(&e.value, own);
                        job.insert("environment", merged);
                    }
                    (_, _) if job.contains(&e.key) => {}
                    _ => job.insert(e.key, e.value),
                }
            }
        }
        let mut steps = Vec::new();
        let mut stack = Vec::new();
        if let Some(pre) = pre {
            self.steps(
                pre,
                0,
                &format!("{}, pre-steps", def.label),
                &mut stack,
                &mut steps,
            );
        }
        match job.get("steps").cloned() {
            Some(list) => self.steps(&list, def.scope, &def.label, &mut stack, &mut steps),
            None => {
                // `type: no-op` and approval-like jobs have no steps; the 2.0 reader decides.
            }
        }
        if let Some(post) = post {
            self.steps(
                post,
                0,
                &format!("{}, post-steps", def.label),
                &mut stack,
                &mut steps,
            );
        }
        if job.contains("steps") || pre.is_some() || post.is_some() {
            job.insert("steps", Node::seq(steps, def.body.mark));
        }
        Some(Node::map(job, def.body.mark))
    }

    /// The executor `reference` (a name, or a mapping with `name` and arguments) names, filled
    /// in: its keys, to add to a job's.
    pub(super) fn executor(&mut self, reference: &Node, scope: usize, owner: &str) -> Option<Map> {
        let (name, given) = match &reference.value {
            Value::Scalar(s) if s.kind == crate::ci_config::node::Kind::Str => {
                (s.text.clone(), None)
            }
            Value::Map(m) => match m.get("name").and_then(Node::as_str) {
                Some(n) => (n.to_owned(), Some(m)),
                None => {
                    self.p.at(
                        reference.mark,
                        format!("{owner}: `executor` needs a `name`"),
                    );
                    return None;
                }
            },
            _ => {
                self.p.at(reference.mark, format!("{owner}: `executor` is an executor's name or a mapping with its `name` and arguments"));
                return None;
            }
        };
        let Some(def) = self
            .find(scope, Element::Executor, &name)
            .or_else(|| self.find(0, Element::Executor, &name))
        else {
            if self.in_broken_orb(scope, &name) || self.in_broken_orb(0, &name) {
                return None;
            }
            let names = self.names(scope, Element::Executor);
            self.p.at(
                reference.mark,
                format!("{owner}: executor '{name}' is not defined ({names})"),
            );
            return None;
        };
        let body = def.body.as_map()?;
        let decls = params::declared(body.get("parameters"), &def.label, &mut self.p);
        let args = params::bind(
            &decls,
            given,
            &["name"],
            &def.label,
            reference.mark,
            &mut self.p,
        )?;
        let mut template = body.clone();
        template.remove("parameters");
        template.remove("description");
        match self
            .filled(
                &Node::map(template, def.body.mark),
                &def.label,
                Some(&args),
                None,
            )
            .value
        {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Expands the steps in `list` (seen from `scope`) onto `out`: commands invoked, `when` and
    /// `unless` blocks decided, lists given by `steps` parameters spliced in.
    pub(super) fn steps(
        &mut self,
        list: &Node,
        scope: usize,
        owner: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<Node>,
    ) {
        match &list.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{owner}, step {}", i + 1);
                    self.step(item, scope, &at, stack, out);
                }
            }
            Value::Scalar(s) if s.kind == crate::ci_config::node::Kind::Null => {}
            _ => self
                .p
                .at(list.mark, format!("{owner}: `steps` must be a list")),
        }
    }

    pub(super) fn step(
        &mut self,
        item: &Node,
        scope: usize,
        at: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<Node>,
    ) {
        if !self.budget.spend(1, 0, item.mark, &mut self.p) {
            return;
        }
        match &item.value {
            // A `steps` parameter's list, spliced in.
            Value::Seq(_) => self.steps(item, scope, at, stack, out),
            Value::Scalar(s) if s.kind == crate::ci_config::node::Kind::Str => {
                if self.built_in(&s.text, scope) {
                    out.push(item.clone());
                } else {
                    self.invoke(&s.text, None, item.mark, scope, at, stack, out);
                }
            }
            Value::Map(m) if m.len() == 1 => {
                let e = m.iter().next().expect("one entry");
                match e.key.as_str() {
                    "when" | "unless" => self.conditional(e, scope, at, stack, out),
                    // `- steps: << parameters.more >>`: a list of steps, spliced in.
                    "steps" => self.steps(&e.value, scope, at, stack, out),
                    k if self.built_in(k, scope) => out.push(item.clone()),
                    name => {
                        let args = match &e.value.value {
                            Value::Map(m) => Some(m),
                            Value::Scalar(s) if s.kind == crate::ci_config::node::Kind::Null => {
                                None
                            }
                            _ => {
                                self.p.at(
                                    e.value.mark,
                                    format!(
                                        "{at}: command '{name}' takes a mapping of its parameters"
                                    ),
                                );
                                return;
                            }
                        };
                        self.invoke(name, args, e.key_mark, scope, at, stack, out);
                    }
                }
            }
            _ => self.p.at(
                item.mark,
                format!("{at}: a step is a name like `checkout` or a mapping like `run: make`"),
            ),
        }
    }

    /// Whether `name` is a built-in step here: one of [`BUILT_IN_STEPS`], or written with `-`
    /// for `_` (`save-cache`) where no command has that name.
    pub(super) fn built_in(&self, name: &str, scope: usize) -> bool {
        BUILT_IN_STEPS.contains(&name)
            || (BUILT_IN_STEPS.contains(&name.replace('-', "_").as_str())
                && self.find(scope, Element::Command, name).is_none())
    }

    /// `when: {condition, steps}` or `unless: …`.
    pub(super) fn conditional(
        &mut self,
        e: &Entry,
        scope: usize,
        at: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<Node>,
    ) {
        let (Some(condition), Some(steps)) = (e.value.get("condition"), e.value.get("steps"))
        else {
            self.p.at(
                e.key_mark,
                format!("{at}: `{}` takes a `condition` and `steps`", e.key),
            );
            return;
        };
        let holds = logic::holds(condition, at, &mut self.p, &mut self.patterns);
        if holds == (e.key == "when") {
            self.steps(steps, scope, at, stack, out);
        }
    }

    /// Expands the command `name` invoked with `given`.
    #[expect(
        clippy::too_many_arguments,
        reason = "the expansion state an invocation carries"
    )]
    pub(super) fn invoke(
        &mut self,
        name: &str,
        given: Option<&Map>,
        mark: Mark,
        scope: usize,
        at: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<Node>,
    ) {
        let Some(def) = self.find(scope, Element::Command, name) else {
            if self.in_broken_orb(scope, name) {
                return;
            }
            let names = self.names(scope, Element::Command);
            self.p.at(
                mark,
                format!(
                    "{at}: '{name}' is neither a built-in step ({}) nor a command ({names})",
                    BUILT_IN_STEPS.join(", ")
                ),
            );
            return;
        };
        if stack.contains(&def.label) {
            self.p.at(
                mark,
                format!(
                    "{at}: {} invokes itself ({} → {})",
                    def.label,
                    stack.join(" → "),
                    def.label
                ),
            );
            return;
        }
        if stack.len() >= MAX_COMMAND_DEPTH {
            self.p.at(
                mark,
                format!("{at}: commands invoke commands more than {MAX_COMMAND_DEPTH} deep"),
            );
            return;
        }
        let Some(body) = def.body.as_map() else {
            return;
        };
        for e in body.iter() {
            if !matches!(e.key.as_str(), "steps" | "parameters" | "description") {
                self.p.at(e.key_mark, format!("{}: key `{}` is not a command's (a command has description, parameters and steps)", def.label, e.key));
            }
        }
        let decls = params::declared(body.get("parameters"), &def.label, &mut self.p);
        let invoked = format!("{at}: {}", def.label);
        let Some(args) = params::bind(&decls, given, &[], &invoked, mark, &mut self.p) else {
            return;
        };
        let Some(steps) = body.get("steps") else {
            self.p
                .at(def.body.mark, format!("{} has no `steps`", def.label));
            return;
        };
        let filled = self.filled(steps, &def.label, Some(&args), None);
        stack.push(def.label.clone());
        self.steps(&filled, def.scope, &def.label, stack, out);
        stack.pop();
    }
}

/// An environment as a mapping, if it is one: CircleCI reads a mapping, a list of `NAME=value`
/// texts or of one-entry mappings, and one `NAME=value` text alone.
pub(crate) fn environment_map(node: &Node) -> Option<Map> {
    let pair = |text: &str, mark: Mark| -> Option<Entry> {
        let (k, v) = text.split_once('=')?;
        Some(Entry {
            key: k.trim().to_owned(),
            key_mark: mark,
            value: Node::text(v, mark),
        })
    };
    match &node.value {
        Value::Map(m) => Some(m.clone()),
        Value::Seq(items) => {
            let mut out = Map::default();
            for i in items {
                match &i.value {
                    Value::Map(m) => m
                        .iter()
                        .for_each(|e| out.insert(e.key.clone(), e.value.clone())),
                    _ => {
                        let e = pair(i.as_str()?, i.mark)?;
                        out.insert(e.key, e.value);
                    }
                }
            }
            Some(out)
        }
        Value::Scalar(s) if s.kind == crate::ci_config::node::Kind::Null => Some(Map::default()),
        Value::Scalar(s) if s.kind == crate::ci_config::node::Kind::Str => {
            let e = pair(&s.text, node.mark)?;
            Some(std::iter::once(e).collect())
        }
        Value::Scalar(_) => None,
    }
}

/// An executor's environment with a job's own on top.
fn merge_environment(executor: &Node, job: &Node) -> Node {
    match (environment_map(executor), environment_map(job)) {
        (Some(mut merged), Some(own)) => {
            for e in own.into_entries() {
                merged.insert(e.key, e.value);
            }
            Node::map(merged, job.mark)
        }
        // Not an environment: left for the 2.0 reader to report.
        _ => job.clone(),
    }
}
