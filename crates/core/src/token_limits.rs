//! Fine-grained personal tokens: what a personal token may be limited to (listed projects or one
//! organization, and a role ceiling), and the rule that turns its user's role in a project into
//! the token's role there. A token without limits keeps its user's full rights.
//!
//! Plain data and pure functions: the store keeps the limits with the token,
//! `circlet_app::access` applies [`TokenLimits::role_in`] on every request.

use crate::scope::Action;
use crate::{ProjectSlug, Role, Vcs};

/// A project a token is limited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitProject {
    /// The project's store id.
    pub id: i64,
    /// Its slug, for display.
    pub slug: ProjectSlug,
}

/// The organization a token is limited to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitOrganization {
    /// The organization's store id.
    pub id: i64,
    /// Its VCS.
    pub vcs: Vcs,
    /// Its name (matched ignoring ASCII case, like slugs).
    pub name: String,
}

impl LimitOrganization {
    /// Whether the project at `slug` belongs to this organization.
    pub fn holds(&self, slug: &ProjectSlug) -> bool {
        slug.vcs() == self.vcs && slug.org().eq_ignore_ascii_case(&self.name)
    }
}

/// Which projects a token reaches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Reach {
    /// Every project its user may see.
    #[default]
    Everywhere,
    /// These projects only (none, once all of them are deleted: never every project).
    Projects(Vec<LimitProject>),
    /// The projects of one organization, those of tomorrow included.
    Organization(LimitOrganization),
}

/// What a personal token is limited to. The default, no limit, is every token made before
/// fine-grained tokens existed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenLimits {
    /// The projects it reaches.
    pub reach: Reach,
    /// The most it may do in any of them, whatever its user's role.
    pub ceiling: Option<Role>,
}

impl TokenLimits {
    /// No limits: the user's full rights.
    pub const NONE: TokenLimits = TokenLimits {
        reach: Reach::Everywhere,
        ceiling: None,
    };

    /// Whether anything is limited. A limited token acts only as a project member: it carries no
    /// site-admin powers and no account-level action that could widen it.
    pub fn is_limited(&self) -> bool {
        self.ceiling.is_some() || self.reach != Reach::Everywhere
    }

    /// Whether the project `project_id` at `slug` is within reach.
    pub fn reaches(&self, project_id: i64, slug: &ProjectSlug) -> bool {
        match &self.reach {
            Reach::Everywhere => true,
            Reach::Projects(list) => list.iter().any(|p| p.id == project_id),
            Reach::Organization(org) => org.holds(slug),
        }
    }

    /// The token's role in a project where its user holds `role` (site admins: admin): the
    /// lower of `role` and the ceiling within reach, and no role at all outside it, so the token
    /// sees there only what anyone may see (a public project's reads).
    pub fn role_in(&self, role: Option<Role>, project_id: i64, slug: &ProjectSlug) -> Option<Role> {
        if !self.reaches(project_id, slug) {
            return None;
        }
        match (role, self.ceiling) {
            (Some(r), Some(c)) => Some(r.min(c)),
            (r, _) => r,
        }
    }

    /// The token's role in the organization `org_id` (its contexts), where its user holds
    /// `role`: capped by the ceiling when every project of it is within reach (no project
    /// limit, or this organization's), and none for a token limited to listed projects, since
    /// what an organization holds serves all of its projects.
    pub fn role_in_organization(&self, role: Option<Role>, org_id: i64) -> Option<Role> {
        let reached = match &self.reach {
            Reach::Everywhere => true,
            Reach::Organization(org) => org.id == org_id,
            Reach::Projects(_) => false,
        };
        if !reached {
            return None;
        }
        match (role, self.ceiling) {
            (Some(r), Some(c)) => Some(r.min(c)),
            (r, _) => r,
        }
    }

    /// Whether the organization `vcs/name` holds a project within reach, given the projects
    /// its user belongs to (by slug): what the collaborations list is cut to.
    pub fn reaches_organization(&self, vcs: Vcs, name: &str, member_of: &[ProjectSlug]) -> bool {
        let in_org = |s: &ProjectSlug| s.vcs() == vcs && s.org().eq_ignore_ascii_case(name);
        match &self.reach {
            Reach::Everywhere => member_of.iter().any(in_org),
            Reach::Projects(list) => list.iter().any(|p| in_org(&p.slug)),
            Reach::Organization(org) => org.vcs == vcs && org.name.eq_ignore_ascii_case(name),
        }
    }

    /// The limits in words, for the token's pages: "read on gh/acme/api, gh/acme/web",
    /// "write on every project of gh/acme", "full rights of your account".
    pub fn describe(&self) -> String {
        self.describe_as("your")
    }

    /// [`TokenLimits::describe`] for someone other than the token's user: `whose` account
    /// ("the user's").
    pub fn describe_as(&self, whose: &str) -> String {
        let what = self.ceiling.map_or("full rights", Role::as_str);
        match &self.reach {
            Reach::Everywhere if self.ceiling.is_none() => {
                format!("full rights of {whose} account")
            }
            Reach::Everywhere => format!("{what} on every project of {whose} account"),
            Reach::Projects(list) if list.is_empty() => {
                format!("{what} on no project (its projects were deleted)")
            }
            Reach::Projects(list) => {
                let slugs: Vec<String> = list.iter().map(|p| p.slug.to_string()).collect();
                format!("{what} on {}", slugs.join(", "))
            }
            Reach::Organization(org) => {
                format!(
                    "{what} on every project of {}/{}",
                    org.vcs.short(),
                    org.name
                )
            }
        }
    }
}

/// The request kinds a token may make without any project role, as a user: `/me`, the
/// collaborations list, config compilation.
const USER_READS: [&str; 3] = ["me", "collaborations", "config"];

/// The lowest ceiling that would have allowed every kind of request in `used_kinds` (as counted
/// by [`Action::usage_kind`], plus the user-level reads): what the narrower-scope hint suggests
/// for an unlimited personal token. `None` when nothing was used, or a kind this rule does not
/// know was (no advice beats wrong advice).
pub fn lowest_ceiling(used_kinds: &[&str]) -> Option<Role> {
    let mut needed: Option<Role> = None;
    for kind in used_kinds {
        let role = match Action::from_usage_kind(kind) {
            Some(action) => action.required_role(),
            None if USER_READS.contains(kind) => Role::Read,
            None => return None,
        };
        needed = needed.max(Some(role));
    }
    needed
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::{Admin, Read, Write};

    fn slug(s: &str) -> ProjectSlug {
        ProjectSlug::parse(s).unwrap()
    }

    fn api() -> LimitProject {
        LimitProject {
            id: 1,
            slug: slug("gh/acme/api"),
        }
    }

    fn acme() -> LimitOrganization {
        LimitOrganization {
            id: 7,
            vcs: Vcs::GitHub,
            name: "Acme".into(),
        }
    }

    /// The ceiling rule: min(role, ceiling) within reach, no role outside it.
    #[test]
    #[rustfmt::skip]
    fn the_ceiling_rule() {
        let only_api = |ceiling| TokenLimits { reach: Reach::Projects(vec![api()]), ceiling };
        let org = |ceiling| TokenLimits { reach: Reach::Organization(acme()), ceiling };
        // (limits, the user's role, the project's id and slug, the token's role)
        type Case = (TokenLimits, Option<Role>, i64, &'static str, Option<Role>);
        let cases: [Case; 14] = [
            (TokenLimits::NONE,                                   Some(Admin), 1, "gh/acme/api", Some(Admin)),
            (TokenLimits::NONE,                                   None,        1, "gh/acme/api", None),
            (TokenLimits { reach: Reach::Everywhere, ceiling: Some(Read) }, Some(Admin), 9, "gh/x/y", Some(Read)),
            (only_api(Some(Read)),                                Some(Admin), 1, "gh/acme/api", Some(Read)),
            (only_api(Some(Write)),                               Some(Admin), 1, "gh/acme/api", Some(Write)),
            (only_api(Some(Admin)),                               Some(Write), 1, "gh/acme/api", Some(Write)),
            (only_api(Some(Write)),                               Some(Read),  1, "gh/acme/api", Some(Read)),
            (only_api(None),                                      Some(Admin), 1, "gh/acme/api", Some(Admin)),
            (only_api(Some(Write)),                               None,        1, "gh/acme/api", None),
            (only_api(None),                                      Some(Admin), 2, "gh/acme/web", None),
            (org(Some(Write)),                                    Some(Admin), 2, "gh/ACME/web", Some(Write)),
            (org(None),                                           Some(Read),  3, "github/acme/new", Some(Read)),
            (org(None),                                           Some(Admin), 4, "gh/other/web", None),
            (org(None),                                           Some(Admin), 5, "bb/acme/web", None),
        ];
        for (limits, role, id, at, want) in cases {
            assert_eq!(limits.role_in(role, id, &slug(at)), want, "{limits:?} {role:?} on {at}");
        }
    }

    #[test]
    fn only_tokens_without_limits_are_unlimited() {
        assert!(!TokenLimits::NONE.is_limited());
        assert!(!TokenLimits::default().is_limited());
        let read = TokenLimits {
            reach: Reach::Everywhere,
            ceiling: Some(Admin),
        };
        assert!(
            read.is_limited(),
            "an admin ceiling still drops site-admin powers"
        );
        let none_left = TokenLimits {
            reach: Reach::Projects(vec![]),
            ceiling: None,
        };
        assert!(
            none_left.is_limited(),
            "a list emptied by deletions is not every project"
        );
        assert!(!none_left.reaches(1, &slug("gh/acme/api")));
    }

    #[test]
    fn limits_read_as_words() {
        let two = TokenLimits {
            reach: Reach::Projects(vec![
                api(),
                LimitProject {
                    id: 2,
                    slug: slug("gh/acme/web"),
                },
            ]),
            ceiling: Some(Read),
        };
        assert_eq!(two.describe(), "read on gh/acme/api, gh/acme/web");
        assert_eq!(TokenLimits::NONE.describe(), "full rights of your account");
        let org = TokenLimits {
            reach: Reach::Organization(acme()),
            ceiling: None,
        };
        assert_eq!(org.describe(), "full rights on every project of gh/Acme");
        let write = TokenLimits {
            reach: Reach::Everywhere,
            ceiling: Some(Write),
        };
        assert_eq!(write.describe(), "write on every project of your account");
        assert_eq!(
            write.describe_as("the user's"),
            "write on every project of the user's account"
        );
    }

    #[test]
    fn organizations_hold_the_ceiling_and_are_outside_project_lists() {
        let org = TokenLimits {
            reach: Reach::Organization(acme()),
            ceiling: Some(Write),
        };
        assert_eq!(org.role_in_organization(Some(Admin), 7), Some(Write));
        assert_eq!(
            org.role_in_organization(Some(Admin), 8),
            None,
            "another organization"
        );
        assert_eq!(org.role_in_organization(None, 7), None);
        let ceiling = TokenLimits {
            reach: Reach::Everywhere,
            ceiling: Some(Read),
        };
        assert_eq!(ceiling.role_in_organization(Some(Admin), 9), Some(Read));
        let only_api = TokenLimits {
            reach: Reach::Projects(vec![api()]),
            ceiling: None,
        };
        assert_eq!(only_api.role_in_organization(Some(Admin), 7), None);
        assert_eq!(
            TokenLimits::NONE.role_in_organization(Some(Write), 7),
            Some(Write)
        );
    }

    #[test]
    fn organizations_within_reach() {
        let member_of = [slug("gh/acme/api"), slug("gh/beta/x")];
        assert!(TokenLimits::NONE.reaches_organization(Vcs::GitHub, "ACME", &member_of));
        assert!(!TokenLimits::NONE.reaches_organization(Vcs::GitHub, "gamma", &member_of));
        let only_api = TokenLimits {
            reach: Reach::Projects(vec![api()]),
            ceiling: None,
        };
        assert!(only_api.reaches_organization(Vcs::GitHub, "acme", &member_of));
        assert!(!only_api.reaches_organization(Vcs::GitHub, "beta", &member_of));
        let org = TokenLimits {
            reach: Reach::Organization(acme()),
            ceiling: None,
        };
        assert!(org.reaches_organization(Vcs::GitHub, "acme", &member_of));
        assert!(!org.reaches_organization(Vcs::Bitbucket, "acme", &member_of));
    }

    #[test]
    fn the_lowest_ceiling_covers_every_kind_used() {
        let cases: [(&[&str], Option<Role>); 8] = [
            (&["status", "builds", "artifacts"], Some(Read)),
            (&["me"], Some(Read)),
            (&["builds", "trigger"], Some(Write)),
            (&["trigger", "env-vars"], Some(Admin)),
            (&["settings"], Some(Admin)),
            (&["collaborations", "config", "projects"], Some(Read)),
            (&[], None),
            (&["builds", "something-new"], None),
        ];
        for (used, want) in cases {
            assert_eq!(lowest_ceiling(used), want, "{used:?}");
        }
    }
}
