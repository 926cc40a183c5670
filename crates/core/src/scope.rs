//! Project-token scopes and the authorization rule every project endpoint applies.
//!
//! One pure function, [`decide`], answers "may this caller do this to this project?" so the
//! whole matrix can be tested in one table (see the tests below) and every handler asks it the
//! same way.

use crate::{Invalid, Role};

/// The scope of a project API token. All scopes are read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProjectScope {
    /// "Status": build statuses (badges, cc.xml).
    Status,
    /// "Build Artifacts": the project's artifacts.
    ViewBuilds,
    /// "All": statuses, builds and artifacts.
    All,
}

impl ProjectScope {
    /// Every scope, as the UI lists them.
    pub const ALL: [ProjectScope; 3] = [
        ProjectScope::Status,
        ProjectScope::ViewBuilds,
        ProjectScope::All,
    ];

    /// Accepts the API names `status`, `view-builds`, `all`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim() {
            "status" => Ok(ProjectScope::Status),
            "view-builds" => Ok(ProjectScope::ViewBuilds),
            "all" => Ok(ProjectScope::All),
            _ => Err(Invalid::new(
                "scope must be one of: status, view-builds, all",
            )),
        }
    }

    /// The API and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectScope::Status => "status",
            ProjectScope::ViewBuilds => "view-builds",
            ProjectScope::All => "all",
        }
    }

    /// The name the UI shows.
    pub fn label(self) -> &'static str {
        match self {
            ProjectScope::Status => "Status",
            ProjectScope::ViewBuilds => "Build Artifacts",
            ProjectScope::All => "All",
        }
    }

    /// Whether a token of this scope may perform `action`.
    pub fn allows(self, action: Action) -> bool {
        use Action::*;
        match (self, action) {
            (_, Trigger | ManageEnvVars | ManageProjectTokens | ManageProject) => false,
            (ProjectScope::All, _) => true,
            (ProjectScope::Status, ReadStatus) => true,
            (ProjectScope::ViewBuilds, ReadArtifacts) => true,
            _ => false,
        }
    }
}

/// Something a caller wants to do to a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Badges and the project/branch cc.xml.
    ReadStatus,
    /// Build lists and details, step output, test results.
    ReadBuilds,
    /// Artifact lists and downloads.
    ReadArtifacts,
    /// Trigger, retry, cancel.
    Trigger,
    /// List, read, add, delete environment variables.
    ManageEnvVars,
    /// List, create, delete project API tokens.
    ManageProjectTokens,
    /// See the project itself (its page, its v2 JSON).
    ViewProject,
    /// Change the project's settings (General, badges) and members.
    ManageProject,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 8] = [
        Action::ReadStatus,
        Action::ReadBuilds,
        Action::ReadArtifacts,
        Action::Trigger,
        Action::ManageEnvVars,
        Action::ManageProjectTokens,
        Action::ViewProject,
        Action::ManageProject,
    ];

    /// The project role a user needs for this action.
    pub fn required_role(self) -> Role {
        match self {
            Action::ReadStatus
            | Action::ReadBuilds
            | Action::ReadArtifacts
            | Action::ViewProject => Role::Read,
            Action::Trigger => Role::Write,
            Action::ManageEnvVars | Action::ManageProjectTokens | Action::ManageProject => {
                Role::Admin
            }
        }
    }

    /// Whether anyone, without credentials, may do this on a public project.
    pub fn is_public_read(self) -> bool {
        self.required_role() == Role::Read
    }

    /// The name under which a token's use of this action is counted (its "request kind").
    pub fn usage_kind(self) -> &'static str {
        match self {
            Action::ReadStatus => "status",
            Action::ReadBuilds => "builds",
            Action::ReadArtifacts => "artifacts",
            Action::Trigger => "trigger",
            Action::ManageEnvVars => "env-vars",
            Action::ManageProjectTokens => "project-tokens",
            Action::ViewProject => "projects",
            Action::ManageProject => "settings",
        }
    }

    /// The action counted under the request kind `kind`, if it is a project action.
    pub fn from_usage_kind(kind: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.usage_kind() == kind)
    }
}

/// The least-privilege hint: the narrowest scope that would have allowed every kind of request
/// a token of `scope` made (`used_kinds`, as counted by [`Action::usage_kind`]), when it is
/// narrower than `scope`. `None` when the token was not used, used something no narrower scope
/// allows, or made a request kind this rule does not know (no advice beats wrong advice).
pub fn narrower_scope(scope: ProjectScope, used_kinds: &[&str]) -> Option<ProjectScope> {
    if used_kinds.is_empty() {
        return None;
    }
    let used: Vec<Action> = used_kinds
        .iter()
        .map(|k| Action::from_usage_kind(k))
        .collect::<Option<_>>()?;
    let allows_all = |s: ProjectScope| used.iter().all(|a| s.allows(*a));
    let grants = |s: ProjectScope| Action::ALL.into_iter().filter(move |a| s.allows(*a));
    // A candidate is narrower when it grants a strict subset of what `scope` grants.
    ProjectScope::ALL.into_iter().find(|&candidate| {
        candidate != scope
            && allows_all(candidate)
            && grants(candidate).all(|a| scope.allows(a))
            && grants(scope).count() > grants(candidate).count()
    })
}

/// Who is asking, as far as one project is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// No credential.
    Anonymous,
    /// A user (browser session or personal token) with their role here, if any
    /// (site admins count as `Admin` everywhere).
    User(Option<Role>),
    /// A project token; `same_project` is false when it belongs to another project.
    ProjectToken {
        /// Its scope.
        scope: ProjectScope,
        /// Whether it was issued for this project.
        same_project: bool,
    },
}

/// The outcome of an authorization check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// 401: this needs a credential and none was given.
    LoginRequired,
    /// 404: the caller may not know the project exists (answered exactly like absence).
    NotFound,
    /// 403: the caller sees the project but may not do this.
    Forbidden,
}

/// May `asker` perform `action` on a project that is `public` or not? A credential never has
/// less than no credential: what anyone may read of a public project, every token may read too
/// (a `status` token reads a public project's builds, a `view-builds` token its badge).
pub fn decide(asker: Asker, public: bool, action: Action) -> Decision {
    let sees = match asker {
        Asker::Anonymous => public,
        Asker::User(role) => role.is_some() || public,
        Asker::ProjectToken { same_project, .. } => same_project || public,
    };
    if !sees {
        return Decision::NotFound;
    }
    let anyone_may = public && action.is_public_read();
    let allowed = anyone_may
        || match asker {
            Asker::Anonymous => action.is_public_read(),
            Asker::User(Some(role)) => role >= action.required_role(),
            Asker::User(None) => action.is_public_read(),
            Asker::ProjectToken {
                scope,
                same_project: true,
            } => scope.allows(action),
            Asker::ProjectToken {
                same_project: false,
                ..
            } => action.is_public_read(),
        };
    match (allowed, asker) {
        (true, _) => Decision::Allow,
        (false, Asker::Anonymous) => Decision::LoginRequired,
        (false, _) => Decision::Forbidden,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use Decision::*;

    #[test]
    fn scopes_parse_and_label() {
        for s in ProjectScope::ALL {
            assert_eq!(ProjectScope::parse(s.as_str()).unwrap(), s);
        }
        assert_eq!(ProjectScope::ViewBuilds.label(), "Build Artifacts");
        assert!(ProjectScope::parse("admin").is_err());
    }

    /// The matrix, row by row, on a private project.
    #[test]
    #[rustfmt::skip]
    fn the_authorization_matrix_on_a_private_project() {
        let status = Asker::ProjectToken { scope: ProjectScope::Status, same_project: true };
        let artifacts = Asker::ProjectToken { scope: ProjectScope::ViewBuilds, same_project: true };
        let all = Asker::ProjectToken { scope: ProjectScope::All, same_project: true };
        let reader = Asker::User(Some(Role::Read));
        let writer = Asker::User(Some(Role::Write));
        let admin = Asker::User(Some(Role::Admin));
        let rows: [(Action, [Decision; 7]); 8] = [
            //            reader   writer  admin   all        view-builds status     none
            (ReadStatus, [Allow, Allow, Allow, Allow, Forbidden, Allow, NotFound]),
            (ReadBuilds, [Allow, Allow, Allow, Allow, Forbidden, Forbidden, NotFound]),
            (ReadArtifacts, [Allow, Allow, Allow, Allow, Allow, Forbidden, NotFound]),
            (Trigger, [Forbidden, Allow, Allow, Forbidden, Forbidden, Forbidden, NotFound]),
            (ManageEnvVars, [Forbidden, Forbidden, Allow, Forbidden, Forbidden, Forbidden, NotFound]),
            (ManageProjectTokens, [Forbidden, Forbidden, Allow, Forbidden, Forbidden, Forbidden, NotFound]),
            (ViewProject, [Allow, Allow, Allow, Allow, Forbidden, Forbidden, NotFound]),
            (ManageProject, [Forbidden, Forbidden, Allow, Forbidden, Forbidden, Forbidden, NotFound]),
        ];
        let askers = [reader, writer, admin, all, artifacts, status, Asker::Anonymous];
        for (action, expected) in rows {
            for (asker, want) in askers.iter().zip(expected) {
                assert_eq!(decide(*asker, false, action), want, "{action:?} by {asker:?}");
            }
        }
    }

    #[test]
    fn usage_kinds_name_actions_one_to_one() {
        for a in Action::ALL {
            assert_eq!(Action::from_usage_kind(a.usage_kind()), Some(a));
        }
        assert_eq!(Action::from_usage_kind("me"), None);
    }

    #[test]
    fn the_least_privilege_hint() {
        use ProjectScope::{All, Status, ViewBuilds};
        let cases: [(ProjectScope, &[&str], Option<ProjectScope>); 11] = [
            (All, &["status"], Some(Status)),
            (All, &["artifacts"], Some(ViewBuilds)),
            (All, &["status", "status"], Some(Status)),
            (All, &["status", "artifacts"], None),
            (All, &["builds"], None),
            (All, &["status", "builds"], None),
            (All, &[], None),
            (All, &["something-new"], None),
            (Status, &["status"], None),
            (ViewBuilds, &["artifacts"], None),
            (ViewBuilds, &[], None),
        ];
        for (scope, used, want) in cases {
            assert_eq!(narrower_scope(scope, used), want, "{scope:?} used {used:?}");
        }
    }

    #[test]
    fn outsiders_see_private_projects_as_absent() {
        for action in Action::ALL {
            assert_eq!(decide(Asker::User(None), false, action), NotFound);
            let other = Asker::ProjectToken {
                scope: ProjectScope::All,
                same_project: false,
            };
            assert_eq!(decide(other, false, action), NotFound);
        }
    }

    #[test]
    fn a_token_never_has_less_than_anonymous_access() {
        for action in Action::ALL {
            let anon = decide(Asker::Anonymous, true, action) == Allow;
            for scope in ProjectScope::ALL {
                for same_project in [true, false] {
                    let token = Asker::ProjectToken {
                        scope,
                        same_project,
                    };
                    if anon {
                        assert_eq!(
                            decide(token, true, action),
                            Allow,
                            "{action:?} by {token:?}"
                        );
                    }
                }
            }
        }
        let status = Asker::ProjectToken {
            scope: ProjectScope::Status,
            same_project: true,
        };
        assert_eq!(decide(status, true, ReadBuilds), Allow);
        assert_eq!(decide(status, false, ReadBuilds), Forbidden);
    }

    #[test]
    fn public_projects_are_readable_by_anyone_and_writable_by_nobody_new() {
        for action in Action::ALL {
            let anon = decide(Asker::Anonymous, true, action);
            let outsider = decide(Asker::User(None), true, action);
            if action.is_public_read() {
                assert_eq!((anon, outsider), (Allow, Allow), "{action:?}");
            } else {
                assert_eq!((anon, outsider), (LoginRequired, Forbidden), "{action:?}");
            }
        }
    }
}
