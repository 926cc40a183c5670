//! Self-hosted runner resource classes, CircleCI's `namespace/name`: a job whose
//! `resource_class` has that form runs only on runners of that class; any other value (`medium`,
//! `large`, a machine size) is a size circlet has no use for, and the job goes to the default
//! pool of runners.

/// The longest a namespace or a name may be.
pub const MAX_PART: usize = 64;

/// A valid `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunnerClass(String);

impl RunnerClass {
    /// `raw` as a class, or why it is not one: two parts joined by one `/`, each 1 to
    /// [`MAX_PART`] letters, digits, `-`, `_` or `.`.
    pub fn parse(raw: &str) -> Result<RunnerClass, String> {
        let shape = || {
            format!(
                "'{raw}' is not a resource class: write namespace/name, each part 1 to {MAX_PART} letters, digits, '-', '_' or '.'"
            )
        };
        let (ns, name) = raw.split_once('/').ok_or_else(shape)?;
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.len() <= MAX_PART
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if part_ok(ns) && part_ok(name) {
            Ok(RunnerClass(raw.to_owned()))
        } else {
            Err(shape())
        }
    }

    /// The class a job's `resource_class` asks for, if it names one (has a `/`); `Err` when it
    /// has a `/` but is not a valid class.
    pub fn of_job(resource_class: Option<&str>) -> Result<Option<RunnerClass>, String> {
        match resource_class {
            Some(rc) if rc.contains('/') => RunnerClass::parse(rc).map(Some),
            _ => Ok(None),
        }
    }

    /// The text, `namespace/name`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The namespace part.
    pub fn namespace(&self) -> &str {
        self.0.split('/').next().unwrap_or("")
    }
}

impl std::fmt::Display for RunnerClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_namespace_slash_name() {
        let c = RunnerClass::parse("acme/gpu-large").unwrap();
        assert_eq!((c.as_str(), c.namespace()), ("acme/gpu-large", "acme"));
        for bad in [
            "",
            "acme",
            "/x",
            "acme/",
            "a/b/c",
            "a b/c",
            "acme/gpu!",
            &format!("a/{}", "x".repeat(65)),
        ] {
            assert!(RunnerClass::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_a_slash_makes_a_job_need_a_class() {
        assert_eq!(RunnerClass::of_job(None), Ok(None));
        assert_eq!(RunnerClass::of_job(Some("medium")), Ok(None));
        assert_eq!(
            RunnerClass::of_job(Some("acme/linux"))
                .unwrap()
                .unwrap()
                .as_str(),
            "acme/linux"
        );
        assert!(RunnerClass::of_job(Some("acme/li nux")).is_err());
    }
}
