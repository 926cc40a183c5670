//! CircleCI 2.1's reusable config expanded to the 2.0 form that runs: orbs loaded, jobs invoked
//! with their parameters (and matrices), executors and commands filled in, `when`/`unless`
//! decided, every `<< … >>` replaced. What comes out is what `circlet config process` prints.
//!
//! Bounded for hostile input: commands nest at most [`MAX_COMMAND_DEPTH`] deep, orbs import
//! orbs at most [`MAX_ORB_DEPTH`] deep and [`MAX_ORBS`] in all, and the expanded config may
//! hold at most [`MAX_EXPANDED_NODES`] nodes and [`MAX_EXPANDED_BYTES`] bytes of text filled in:
//! past any of them, one problem says which and expansion stops.

mod logic;
mod orbs;
mod params;
mod workflows;

pub use orbs::{
    MemoryOrbs, NoOrbs, OrbRef, OrbSource, OrbVersion, PublishedOrb, VersionRange, valid_orb_name,
};

use super::node::{Entry, Map, Mark, Node, Value};
use super::problems::Problems;
use super::values::{self, ParamDecl, ParamType, ParamValue, PipelineContext};
use super::yaml::Document;
use params::{Args, Scope as Fill};
use std::collections::{BTreeMap, HashMap};

/// The deepest commands may invoke commands.
pub const MAX_COMMAND_DEPTH: usize = 32;

/// The deepest orbs may import orbs.
pub const MAX_ORB_DEPTH: usize = 8;

/// The most orbs one config may load, imports included.
pub const MAX_ORBS: usize = 64;

/// The most nodes an expanded config may hold.
pub const MAX_EXPANDED_NODES: usize = 2_000_000;

/// The most bytes of text an expanded config may hold (each command's text counts once for
/// every time it is invoked): as much as one pipeline may plan.
pub const MAX_EXPANDED_BYTES: usize = super::plan::MAX_PLANNED_BYTES;

/// Steps every job may use without defining them.
pub(crate) const BUILT_IN_STEPS: [&str; 11] = [
    "run",
    "checkout",
    "save_cache",
    "restore_cache",
    "persist_to_workspace",
    "attach_workspace",
    "add_ssh_keys",
    "store_artifacts",
    "store_test_results",
    "setup_remote_docker",
    "deploy",
];

/// What expansion may still make.
pub(crate) struct Budget {
    nodes: usize,
    bytes: usize,
    spent: bool,
}

impl Budget {
    fn new() -> Self {
        Budget {
            nodes: MAX_EXPANDED_NODES,
            bytes: MAX_EXPANDED_BYTES,
            spent: false,
        }
    }

    /// Takes `nodes` and `bytes` from what is left; `false` (and one problem) past the end.
    pub(crate) fn spend(&mut self, nodes: usize, bytes: usize, at: Mark, p: &mut Problems) -> bool {
        if self.spent {
            return false;
        }
        match (self.nodes.checked_sub(nodes), self.bytes.checked_sub(bytes)) {
            (Some(n), Some(b)) => {
                self.nodes = n;
                self.bytes = b;
                true
            }
            _ => {
                self.spent = true;
                p.at(at, format!("the config expands to more than {MAX_EXPANDED_NODES} nodes or {MAX_EXPANDED_BYTES} bytes of text (its commands, matrices or parameters repeat too much)"));
                false
            }
        }
    }
}

/// A kind of reusable element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    Command,
    Executor,
    Job,
}

impl Element {
    fn word(self) -> &'static str {
        match self {
            Element::Command => "command",
            Element::Executor => "executor",
            Element::Job => "job",
        }
    }

    fn section(self) -> &'static str {
        match self {
            Element::Command => "commands",
            Element::Executor => "executors",
            Element::Job => "jobs",
        }
    }
}

/// A command, executor or job definition and the scope its references resolve in.
#[derive(Debug, Clone)]
struct Def {
    /// Shared: a definition is looked up once per use.
    body: std::rc::Rc<Node>,
    scope: usize,
    /// How messages name it: "command 'install'", "job 'test' of orb circleci/node@5.1.0".
    label: String,
}

/// The elements a config (scope 0) or an orb defines, and the orbs it imports.
#[derive(Debug, Default)]
struct ScopeDefs {
    commands: BTreeMap<String, Def>,
    executors: BTreeMap<String, Def>,
    jobs: BTreeMap<String, Def>,
    orbs: BTreeMap<String, usize>,
    /// Orbs named here that could not be loaded (each already reported): what is looked up in
    /// them is not reported again.
    broken_orbs: std::collections::BTreeSet<String>,
}

impl ScopeDefs {
    fn of(&self, kind: Element) -> &BTreeMap<String, Def> {
        match kind {
            Element::Command => &self.commands,
            Element::Executor => &self.executors,
            Element::Job => &self.jobs,
        }
    }
}

pub(crate) struct Expander<'a> {
    scopes: Vec<ScopeDefs>,
    ctx: &'a PipelineContext,
    pipeline_params: Args,
    budget: Budget,
    p: Problems,
    /// Orbs loaded, by `namespace/name@X.Y.Z`: their scope.
    loaded: HashMap<String, usize>,
    orbs_loading: Vec<String>,
}

/// The top-level keys of a 2.1 config.
const TOP_KEYS: [&str; 8] = [
    "version",
    "jobs",
    "workflows",
    "orbs",
    "commands",
    "executors",
    "parameters",
    "setup",
];

/// `doc` (a 2.1 config) expanded to the 2.0 form, or the problems found on the way.
pub(crate) fn expand(
    doc: &Document,
    ctx: &PipelineContext,
    orbs: &dyn OrbSource,
    mut p: Problems,
) -> (Option<Node>, Problems) {
    let Some(top) = doc.root.as_map() else {
        return (None, p);
    };
    for e in top.iter() {
        if !TOP_KEYS.contains(&e.key.as_str()) && !doc.anchor_keys.contains(&e.key) {
            p.at(e.key_mark, format!("unknown top-level key `{}` (a key that only holds YAML anchors is fine; the keys are {})", e.key, TOP_KEYS.join(", ")));
        }
    }
    let pipeline_params = pipeline_parameters(top.get("parameters"), ctx, &mut p);
    let mut x = Expander {
        scopes: Vec::new(),
        ctx,
        pipeline_params,
        budget: Budget::new(),
        p,
        loaded: HashMap::new(),
        orbs_loading: Vec::new(),
    };
    x.load_scope(top, "", orbs, 0);
    let mut out = Map::default();
    let mark = doc.root.mark;
    out.insert("version", Node::int(2, mark));
    if let Some(setup) = top.get("setup") {
        out.insert("setup", setup.clone());
    }
    let (jobs, workflows) = match top.get("workflows") {
        Some(w) => x.workflows(w),
        None => (x.uninvoked_jobs(&HashMap::new()), None),
    };
    out.insert("jobs", Node::map(jobs, mark));
    if let Some(w) = workflows {
        out.insert("workflows", w);
    }
    (Some(Node::map(out, mark)), x.p)
}

/// The keys a packed orb may have.
const ORB_KEYS: [&str; 8] = [
    "version",
    "description",
    "display",
    "orbs",
    "commands",
    "executors",
    "jobs",
    "examples",
];

/// Checks a packed orb (what `circleci orb pack` makes) before it is published: one YAML
/// mapping with an orb's keys, its commands, executors and jobs mappings, the orbs it imports
/// found in `orbs`.
pub fn check_orb(source: &str, orbs: &dyn OrbSource) -> Result<(), super::ConfigErrors> {
    let one = |m: String| super::ConfigErrors(vec![m]);
    let docs = super::yaml::load(source).map_err(|e| one(e.to_string()))?;
    let [doc] = docs.as_slice() else {
        return Err(one("an orb is one YAML document".into()));
    };
    let Some(top) = doc.root.as_map() else {
        return Err(one(
            "an orb is a mapping with commands, executors and jobs".into()
        ));
    };
    let mut p = Problems::default();
    for e in top.iter() {
        if !ORB_KEYS.contains(&e.key.as_str()) && !doc.anchor_keys.contains(&e.key) {
            p.at(
                e.key_mark,
                format!(
                    "`{}` is not an orb's key (they are {})",
                    e.key,
                    ORB_KEYS.join(", ")
                ),
            );
        }
    }
    let ctx = PipelineContext::default();
    let mut x = Expander {
        scopes: Vec::new(),
        ctx: &ctx,
        pipeline_params: Args::new(),
        budget: Budget::new(),
        p,
        loaded: HashMap::new(),
        orbs_loading: Vec::new(),
    };
    x.load_scope(top, "the orb", orbs, 1);
    x.p.into_result()
}

/// The pipeline parameters' values: given by the trigger or defaulted, type-checked.
fn pipeline_parameters(node: Option<&Node>, ctx: &PipelineContext, p: &mut Problems) -> Args {
    let mut decls = BTreeMap::new();
    if let Some(node) = node {
        match node.as_map() {
            Some(map) => {
                for e in map.iter() {
                    if let Some(d) = pipeline_parameter(e, p) {
                        decls.insert(e.key.clone(), d);
                    }
                }
            }
            None => p.at(
                node.mark,
                "`parameters` must be a mapping of pipeline parameters",
            ),
        }
    }
    let mark = node.map_or_else(Mark::default, |n| n.mark);
    match values::resolve(&decls, &ctx.parameters) {
        Ok(values) => values
            .into_iter()
            .map(|(k, v)| {
                let node = match v {
                    ParamValue::Str(s) => Node::text(s, mark),
                    ParamValue::Bool(b) => Node::bool(b, mark),
                    ParamValue::Int(i) => Node::int(i, mark),
                };
                (k, node)
            })
            .collect(),
        Err(errors) => {
            errors.into_iter().for_each(|e| p.at(mark, e));
            Args::new()
        }
    }
}

fn pipeline_parameter(e: &Entry, p: &mut Problems) -> Option<ParamDecl> {
    let name = &e.key;
    let decl = &e.value;
    let kind = match decl.get("type").and_then(Node::as_str) {
        Some("string") => ParamType::String,
        Some("boolean") => ParamType::Boolean,
        Some("integer") => ParamType::Integer,
        Some("enum") => match decl.get("enum").and_then(Node::as_seq) {
            Some(v) => ParamType::Enum(
                v.iter()
                    .filter_map(|x| x.scalar_text().map(str::to_owned))
                    .collect(),
            ),
            None => {
                p.at(
                    e.key_mark,
                    format!("pipeline parameter '{name}' of type enum needs an `enum` list"),
                );
                return None;
            }
        },
        Some(other) => {
            p.at(e.key_mark, format!("pipeline parameter '{name}' has type '{other}'; pipeline parameters are string, boolean, integer or enum"));
            return None;
        }
        None => {
            p.at(
                e.key_mark,
                format!("pipeline parameter '{name}' needs a `type`"),
            );
            return None;
        }
    };
    let default = decl.get("default").and_then(|d| match &d.value {
        Value::Scalar(s) => Some(match s.kind {
            super::node::Kind::Bool(b) => ParamValue::Bool(b),
            super::node::Kind::Int(i) => ParamValue::Int(i),
            super::node::Kind::Null => ParamValue::Str(String::new()),
            _ => ParamValue::Str(s.text.clone()),
        }),
        _ => None,
    });
    let decl = ParamDecl { kind, default };
    if let Some(d) = &decl.default
        && let Err(err) = decl.check(name, d)
    {
        p.at(e.key_mark, format!("{err} (its default)"));
        return None;
    }
    Some(decl)
}

impl Expander<'_> {
    /// `node` with its `<< … >>` filled in for `owner`.
    fn filled(
        &mut self,
        node: &Node,
        owner: &str,
        params: Option<&Args>,
        matrix: Option<&Args>,
    ) -> Node {
        let fill = Fill {
            owner,
            params,
            matrix,
            pipeline: self.ctx,
            pipeline_params: &self.pipeline_params,
        };
        fill.fill(node, &mut self.budget, &mut self.p)
    }

    /// Adds a scope for the elements `top` defines (the config's, or an orb's named `origin`)
    /// and the orbs it imports; returns its index.
    fn load_scope(&mut self, top: &Map, origin: &str, orbs: &dyn OrbSource, depth: usize) -> usize {
        let id = self.scopes.len();
        self.scopes.push(ScopeDefs::default());
        let mut defs = ScopeDefs::default();
        for kind in [Element::Command, Element::Executor, Element::Job] {
            let Some(section) = top.get(kind.section()) else {
                continue;
            };
            let Some(map) = section.as_map() else {
                if !section.is_null() {
                    self.p.at(
                        section.mark,
                        format!(
                            "{}`{}` must be a mapping of names to {} definitions",
                            in_orb(origin),
                            kind.section(),
                            kind.word()
                        ),
                    );
                }
                continue;
            };
            let target = match kind {
                Element::Command => &mut defs.commands,
                Element::Executor => &mut defs.executors,
                Element::Job => &mut defs.jobs,
            };
            for e in map.iter() {
                let label = if origin.is_empty() {
                    format!("{} '{}'", kind.word(), e.key)
                } else {
                    format!("{} '{}' of {origin}", kind.word(), e.key)
                };
                if e.value.as_map().is_none() {
                    self.p.at(e.key_mark, format!("{label} must be a mapping"));
                    continue;
                }
                target.insert(
                    e.key.clone(),
                    Def {
                        body: std::rc::Rc::new(e.value.clone()),
                        scope: id,
                        label,
                    },
                );
            }
        }
        if let Some(section) = top.get("orbs") {
            // Orb versions may come from pipeline parameters (`circleci/node@<< pipeline.parameters.v >>`);
            // an inline orb's own `<< parameters.* >>` are its elements'.
            let mut section = section.clone();
            if origin.is_empty()
                && let Value::Map(map) = &mut section.value
            {
                for e in map.iter_mut() {
                    if e.value.as_scalar().is_some() {
                        let filled = {
                            let fill = Fill {
                                owner: "`orbs`",
                                params: None,
                                matrix: None,
                                pipeline: self.ctx,
                                pipeline_params: &self.pipeline_params,
                            };
                            fill.fill(&e.value, &mut self.budget, &mut self.p)
                        };
                        e.value = filled;
                    }
                }
            }
            let section = &section;
            match section.as_map() {
                Some(map) => {
                    for e in map.iter() {
                        match self.load_orb(e, origin, orbs, depth) {
                            Some(orb) => {
                                defs.orbs.insert(e.key.clone(), orb);
                            }
                            None => {
                                defs.broken_orbs.insert(e.key.clone());
                            }
                        }
                    }
                }
                None if section.is_null() => {}
                None => self.p.at(
                    section.mark,
                    format!(
                        "{}`orbs` must be a mapping of names to orbs",
                        in_orb(origin)
                    ),
                ),
            }
        }
        self.scopes[id] = defs;
        id
    }

    /// Loads the orb `e` names (inline, or from `orbs` by reference).
    fn load_orb(
        &mut self,
        e: &Entry,
        origin: &str,
        orbs: &dyn OrbSource,
        depth: usize,
    ) -> Option<usize> {
        if depth >= MAX_ORB_DEPTH {
            self.p.at(
                e.key_mark,
                format!(
                    "{}orbs import orbs more than {MAX_ORB_DEPTH} deep",
                    in_orb(origin)
                ),
            );
            return None;
        }
        if self.loaded.len() + self.orbs_loading.len() >= MAX_ORBS {
            self.p.at(
                e.key_mark,
                format!("the config loads more than {MAX_ORBS} orbs"),
            );
            return None;
        }
        match &e.value.value {
            Value::Map(inline) => {
                let name = format!("orb '{}' (inline)", e.key);
                Some(self.load_scope(inline, &name, orbs, depth + 1))
            }
            Value::Scalar(s) if s.kind == super::node::Kind::Str => {
                let reference: OrbRef = match s.text.parse() {
                    Ok(r) => r,
                    Err(err) => {
                        self.p.at(
                            e.value.mark,
                            format!("{}orb '{}': {err}", in_orb(origin), e.key),
                        );
                        return None;
                    }
                };
                let published = match orbs.find(&reference) {
                    Ok(Some(published)) => published,
                    Ok(None) => {
                        self.p.at(e.value.mark, format!(
                            "orb {reference} is not published in this circlet; publish it with `circlet admin orb publish {}@X.Y.Z orb.yml` (orb.yml: the orb's packed YAML, as `circleci orb pack` makes it)",
                            reference.full_name()
                        ));
                        return None;
                    }
                    Err(err) => {
                        self.p.at(
                            e.value.mark,
                            format!("orb {reference} could not be read: {err}"),
                        );
                        return None;
                    }
                };
                let key = format!("{}@{}", reference.full_name(), published.version);
                if let Some(&id) = self.loaded.get(&key) {
                    return Some(id);
                }
                if self.orbs_loading.contains(&key) {
                    self.p.at(e.value.mark, format!("orb {key} imports itself"));
                    return None;
                }
                let docs = match super::yaml::load(&published.source) {
                    Ok(docs) => docs,
                    Err(err) => {
                        self.p
                            .at(e.value.mark, format!("orb {key} is not valid: {err}"));
                        return None;
                    }
                };
                let Some(top) = docs
                    .first()
                    .and_then(|d| d.root.as_map())
                    .filter(|_| docs.len() == 1)
                else {
                    self.p.at(
                        e.value.mark,
                        format!("orb {key} is not valid: it must be one YAML mapping"),
                    );
                    return None;
                };
                self.orbs_loading.push(key.clone());
                let id = self.load_scope(top, &format!("orb {key}"), orbs, depth + 1);
                self.orbs_loading.pop();
                self.loaded.insert(key, id);
                Some(id)
            }
            _ => {
                self.p.at(e.value.mark, format!("{}orb '{}' must be a reference like `circleci/node@5.1` or an inline orb (a mapping)", in_orb(origin), e.key));
                None
            }
        }
    }

    /// The definition `name` (`install`, or `node/install` in an imported orb) names, seen
    /// from `scope`.
    fn find(&self, scope: usize, kind: Element, name: &str) -> Option<Def> {
        let defs = &self.scopes[scope];
        match name.split_once('/') {
            None => defs.of(kind).get(name).cloned(),
            Some((orb, element)) => {
                let &orb = defs.orbs.get(orb)?;
                self.scopes[orb].of(kind).get(element).cloned()
            }
        }
    }

    /// Whether `name` is in an orb that could not be loaded (so its absence was reported).
    fn in_broken_orb(&self, scope: usize, name: &str) -> bool {
        name.split_once('/')
            .is_some_and(|(orb, _)| self.scopes[scope].broken_orbs.contains(orb))
    }

    /// Names `scope` offers of `kind`, for messages.
    fn names(&self, scope: usize, kind: Element) -> String {
        let defs = &self.scopes[scope];
        let mut names: Vec<String> = defs.of(kind).keys().cloned().collect();
        for (alias, &orb) in &defs.orbs {
            names.extend(
                self.scopes[orb]
                    .of(kind)
                    .keys()
                    .map(|k| format!("{alias}/{k}")),
            );
        }
        if names.is_empty() {
            "none are defined".into()
        } else {
            let shown: Vec<String> = names.iter().take(12).cloned().collect();
            let more = if names.len() > 12 { ", …" } else { "" };
            format!("defined: {}{more}", shown.join(", "))
        }
    }

    /// Jobs not invoked by any workflow whose parameters all have defaults, expanded under
    /// their own names (v1.1 can run a job alone); `invoked` are the names already out.
    fn uninvoked_jobs(&mut self, invoked: &HashMap<String, usize>) -> Map {
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
    fn job(
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
    fn executor(&mut self, reference: &Node, scope: usize, owner: &str) -> Option<Map> {
        let (name, given) = match &reference.value {
            Value::Scalar(s) if s.kind == super::node::Kind::Str => (s.text.clone(), None),
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
    fn steps(
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
            Value::Scalar(s) if s.kind == super::node::Kind::Null => {}
            _ => self
                .p
                .at(list.mark, format!("{owner}: `steps` must be a list")),
        }
    }

    fn step(
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
            Value::Scalar(s) if s.kind == super::node::Kind::Str => {
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
                            Value::Scalar(s) if s.kind == super::node::Kind::Null => None,
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
    fn built_in(&self, name: &str, scope: usize) -> bool {
        BUILT_IN_STEPS.contains(&name)
            || (BUILT_IN_STEPS.contains(&name.replace('-', "_").as_str())
                && self.find(scope, Element::Command, name).is_none())
    }

    /// `when: {condition, steps}` or `unless: …`.
    fn conditional(
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
        let holds = logic::holds(condition, at, &mut self.p);
        if holds == (e.key == "when") {
            self.steps(steps, scope, at, stack, out);
        }
    }

    /// Expands the command `name` invoked with `given`.
    #[allow(clippy::too_many_arguments)]
    fn invoke(
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

fn in_orb(origin: &str) -> String {
    if origin.is_empty() {
        String::new()
    } else {
        format!("{origin}: ")
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
        Value::Scalar(s) if s.kind == super::node::Kind::Null => Some(Map::default()),
        Value::Scalar(s) if s.kind == super::node::Kind::Str => {
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
