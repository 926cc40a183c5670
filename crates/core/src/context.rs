//! Contexts: an organization's shared environment variables, and who may use them. A context
//! may be restricted: to projects (the job's project must be listed) and to roles (the user who
//! started the pipeline must hold one of the listed roles, or a higher one, in the
//! organization). Within one kind any listed value admits; every kind present must admit.

use crate::{Invalid, Role};

/// The longest context name accepted, in characters.
pub const MAX_NAME_LEN: usize = 200;

/// The most contexts one job may name.
pub const MAX_PER_JOB: usize = 50;

/// Checks a context's name: 1 to [`MAX_NAME_LEN`] characters, no control characters, no
/// leading or trailing space (a config names it exactly).
pub fn check_name(name: &str) -> Result<(), Invalid> {
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME_LEN {
        return Err(Invalid::new(format!(
            "a context's name is 1 to {MAX_NAME_LEN} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid::new(
            "a context's name must not contain control characters",
        ));
    }
    if name.trim() != name {
        return Err(Invalid::new(
            "a context's name must not start or end with a space",
        ));
    }
    Ok(())
}

/// What a restriction limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RestrictionKind {
    /// The projects whose jobs may use the context (values: project ids).
    Project,
    /// The least organization role the starting user must hold (values: `read`, `write`,
    /// `admin`). circlet's own kind; CircleCI restricts to security groups instead.
    Role,
}

impl RestrictionKind {
    /// The stored name, and API v2's `restriction_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            RestrictionKind::Project => "project",
            RestrictionKind::Role => "role",
        }
    }

    /// `project` or `role`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "project" => Ok(RestrictionKind::Project),
            "role" => Ok(RestrictionKind::Role),
            _ => Err(Invalid::new(format!(
                "restriction_type must be project or role, not '{}'",
                raw.chars().take(40).collect::<String>().escape_debug()
            ))),
        }
    }
}

/// A restriction's value as stored: a project id in lower-case hyphenated form, or a role's
/// name. The error says what is wrong.
pub fn restriction_value(kind: RestrictionKind, raw: &str) -> Result<String, Invalid> {
    match kind {
        RestrictionKind::Role => Ok(Role::parse(raw)?.as_str().to_owned()),
        RestrictionKind::Project => {
            let v = raw.trim().to_ascii_lowercase();
            let shape = v.len() == 36
                && v.char_indices().all(|(i, c)| match i {
                    8 | 13 | 18 | 23 => c == '-',
                    _ => c.is_ascii_hexdigit(),
                });
            if shape {
                Ok(v)
            } else {
                Err(Invalid::new(format!(
                    "a project restriction's value is a project id (a UUID), not '{}'",
                    raw.chars().take(40).collect::<String>().escape_debug()
                )))
            }
        }
    }
}

/// Who started the pipeline whose job asks to use a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Starter {
    /// A circlet user, with their role in the organization (`None`: none any more).
    User(Option<Role>),
    /// No circlet user: a push or pull request a forge announced, or a schedule run as the
    /// system. It may use contexts no role restriction guards.
    Forge,
}

/// Why a context may not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The starting user holds no role in the organization.
    NotMember,
    /// The job's project is not among the context's projects.
    Project,
    /// The least role the context asks, which the starter does not hold.
    Role(Role),
}

/// Whether a job of project `project` (its id), started by `starter`, may use a context with
/// these `restrictions` (kind and stored value).
pub fn admits(
    restrictions: &[(RestrictionKind, &str)],
    project: &str,
    starter: Starter,
) -> Result<(), Denial> {
    if starter == Starter::User(None) {
        return Err(Denial::NotMember);
    }
    let of = |kind| {
        restrictions
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, v)| *v)
    };
    let mut projects = of(RestrictionKind::Project).peekable();
    if projects.peek().is_some() && !projects.any(|p| p.eq_ignore_ascii_case(project)) {
        return Err(Denial::Project);
    }
    // Any listed role admits its holders and those above: the weakest listed decides.
    if let Some(least) = of(RestrictionKind::Role)
        .filter_map(|v| Role::parse(v).ok())
        .min()
    {
        match starter {
            Starter::User(Some(role)) if role >= least => {}
            _ => return Err(Denial::Role(least)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: &str = "6f1e2a3b-0000-4000-8000-000000000001";
    const P2: &str = "6f1e2a3b-0000-4000-8000-000000000002";

    #[test]
    fn names_are_checked() {
        assert!(check_name("deploy-prod").is_ok());
        assert!(check_name("org-global 2").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(" lead").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_LEN)).is_ok());
        assert!(check_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn restriction_values_are_normalized_or_refused() {
        use RestrictionKind::*;
        assert_eq!(restriction_value(Role, "Write").unwrap(), "write");
        assert!(restriction_value(Role, "owner").is_err());
        assert_eq!(restriction_value(Project, &P1.to_uppercase()).unwrap(), P1);
        assert!(restriction_value(Project, "gh/acme/api").is_err());
        assert!(restriction_value(Project, &P1.replace('-', "x")).is_err());
        assert_eq!(RestrictionKind::parse("project").unwrap(), Project);
        assert!(RestrictionKind::parse("expression").is_err());
    }

    #[test]
    fn an_unrestricted_context_admits_members_and_forges_only() {
        assert_eq!(admits(&[], P1, Starter::User(Some(Role::Read))), Ok(()));
        assert_eq!(admits(&[], P1, Starter::Forge), Ok(()));
        assert_eq!(admits(&[], P1, Starter::User(None)), Err(Denial::NotMember));
    }

    #[test]
    fn project_restrictions_admit_listed_projects() {
        let r = [
            (RestrictionKind::Project, P1),
            (RestrictionKind::Project, P2),
        ];
        let admin = Starter::User(Some(Role::Admin));
        assert_eq!(admits(&r, P2, admin), Ok(()));
        assert_eq!(admits(&r, &P2.to_uppercase(), Starter::Forge), Ok(()));
        assert_eq!(
            admits(&r[..1], P2, admin),
            Err(Denial::Project),
            "even an admin's job outside the list"
        );
    }

    #[test]
    fn role_restrictions_admit_that_role_and_above_and_never_a_forge() {
        let r = [(RestrictionKind::Role, "write")];
        assert_eq!(admits(&r, P1, Starter::User(Some(Role::Write))), Ok(()));
        assert_eq!(admits(&r, P1, Starter::User(Some(Role::Admin))), Ok(()));
        assert_eq!(
            admits(&r, P1, Starter::User(Some(Role::Read))),
            Err(Denial::Role(Role::Write))
        );
        assert_eq!(
            admits(&r, P1, Starter::Forge),
            Err(Denial::Role(Role::Write))
        );
        // The weakest listed role decides.
        let two = [
            (RestrictionKind::Role, "admin"),
            (RestrictionKind::Role, "read"),
        ];
        assert_eq!(admits(&two, P1, Starter::User(Some(Role::Read))), Ok(()));
    }

    #[test]
    fn every_kind_present_must_admit() {
        let r = [
            (RestrictionKind::Project, P1),
            (RestrictionKind::Role, "admin"),
        ];
        assert_eq!(admits(&r, P1, Starter::User(Some(Role::Admin))), Ok(()));
        assert_eq!(
            admits(&r, P1, Starter::User(Some(Role::Write))),
            Err(Denial::Role(Role::Admin))
        );
        assert_eq!(
            admits(&r, P2, Starter::User(Some(Role::Admin))),
            Err(Denial::Project)
        );
    }
}
