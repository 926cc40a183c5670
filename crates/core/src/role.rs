//! Project roles and how they nest.

use crate::Invalid;

/// What a member may do in a project. Roles nest: `Admin` ⊃ `Write` ⊃ `Read`,
/// so `role >= Role::Write` asks "may this member trigger builds?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// See builds, artifacts and badges.
    Read,
    /// Also trigger, retry and cancel builds.
    Write,
    /// Also manage members, tokens, env vars and settings.
    Admin,
}

impl Role {
    /// All roles, weakest first.
    pub const ALL: [Role; 3] = [Role::Read, Role::Write, Role::Admin];

    /// Accepts `read`, `write` or `admin` in any case.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            _ => Err(Invalid::new(format!(
                "unknown role '{}': use admin, write or read",
                raw.escape_debug()
            ))),
        }
    }

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// What a member with this role may do, in API v1.1's `scopes` words (the permissions
    /// CircleCI's `/projects` lists for the caller), strongest first.
    pub fn v1_scopes(self) -> &'static [&'static str] {
        match self {
            Role::Read => &["view-builds", "status"],
            Role::Write => &["trigger-builds", "view-builds", "status"],
            Role::Admin => &[
                "all",
                "write-settings",
                "read-settings",
                "trigger-builds",
                "view-builds",
                "status",
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest_and_parse() {
        assert!(Role::Admin > Role::Write && Role::Write > Role::Read);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert_eq!(Role::parse(" ADMIN ").unwrap(), Role::Admin);
        assert!(Role::parse("owner").is_err());
    }
}
