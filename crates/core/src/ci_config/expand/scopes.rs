//! The elements a config and each orb it loads define (commands, executors, jobs), the orbs
//! they import, and finding an element by name (`install`, or `node/install` in an orb).

use super::*;

impl Expander<'_> {
    /// Adds a scope for the elements `top` defines (the config's, or an orb's named `origin`)
    /// and the orbs it imports; returns its index.
    pub(super) fn load_scope(
        &mut self,
        top: &Map,
        origin: &str,
        orbs: &dyn OrbSource,
        depth: usize,
    ) -> usize {
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
                        e.value = self.filled(&e.value, "`orbs`", None, None);
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
    pub(super) fn load_orb(
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
            Value::Scalar(s) if s.kind == crate::ci_config::node::Kind::Str => {
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
                let docs = match crate::ci_config::yaml::load(&published.source) {
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
    pub(super) fn find(&self, scope: usize, kind: Element, name: &str) -> Option<Def> {
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
    pub(super) fn in_broken_orb(&self, scope: usize, name: &str) -> bool {
        name.split_once('/')
            .is_some_and(|(orb, _)| self.scopes[scope].broken_orbs.contains(orb))
    }

    /// Names `scope` offers of `kind`, for messages.
    pub(super) fn names(&self, scope: usize, kind: Element) -> String {
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
}

fn in_orb(origin: &str) -> String {
    if origin.is_empty() {
        String::new()
    } else {
        format!("{origin}: ")
    }
}
