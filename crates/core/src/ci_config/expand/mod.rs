//! CircleCI 2.1's reusable config expanded to the 2.0 form that runs: orbs loaded, jobs invoked
//! with their parameters (and matrices), executors and commands filled in, `when`/`unless`
//! decided, every `<< … >>` replaced. What comes out is what `circlet config process` prints.
//!
//! Bounded for hostile input: commands nest at most [`MAX_COMMAND_DEPTH`] deep, orbs import
//! orbs at most [`MAX_ORB_DEPTH`] deep and [`MAX_ORBS`] in all, and the expanded config may
//! hold at most [`MAX_EXPANDED_NODES`] nodes and [`MAX_EXPANDED_BYTES`] bytes of text filled in:
//! past any of them, one problem says which and expansion stops.

mod jobs;
mod logic;
mod orbs;
mod params;
mod scopes;
mod workflows;

pub use orbs::{
    MemoryOrbs, NoOrbs, OrbRef, OrbSource, OrbVersion, PublishedOrb, VersionRange, valid_orb_name,
};

use super::node::{Entry, Map, Mark, Node, Value};
use super::patterns::Patterns;
use super::problems::Problems;
use super::values::{self, ParamDecl, ParamType, ParamValue, PipelineContext};
use super::yaml::Document;
pub(crate) use jobs::environment_map;
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
    /// `matches` patterns compiled so far.
    patterns: Patterns,
}

impl<'a> Expander<'a> {
    fn new(ctx: &'a PipelineContext, pipeline_params: Args, p: Problems) -> Self {
        Expander {
            scopes: Vec::new(),
            ctx,
            pipeline_params,
            budget: Budget::new(),
            p,
            loaded: HashMap::new(),
            orbs_loading: Vec::new(),
            patterns: Patterns::default(),
        }
    }
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
    let mut x = Expander::new(ctx, pipeline_params, p);
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
    let mut x = Expander::new(&ctx, Args::new(), p);
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
}
