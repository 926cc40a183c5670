//! Commit statuses back to the forge: where each forge's commit-status API is, what state a
//! job's state is reported as there, and the body it takes.

use super::Forge;
use crate::Invalid;
use crate::build_state::JobState;

/// The forges whose commit-status APIs circlet posts to.
pub const STATUS_FORGES: [Forge; 3] = [Forge::GitHub, Forge::Gitea, Forge::GitLab];

/// The state `forge` calls a job in `state`: GitHub and Gitea know `pending`, `success`,
/// `failure` and `error`; GitLab `pending`, `running`, `success`, `failed` and `canceled`.
pub fn commit_state(forge: Forge, state: JobState) -> &'static str {
    use JobState::*;
    match forge {
        Forge::GitLab => match state {
            Blocked | Queued | OnHold => "pending",
            Running => "running",
            Success => "success",
            Failed | Timedout | InfrastructureFail => "failed",
            _ => "canceled",
        },
        _ => match state {
            Blocked | Queued | OnHold | Running => "pending",
            Success => "success",
            Failed | Timedout => "failure",
            _ => "error",
        },
    }
}

/// What a status says in words.
pub fn description(state: JobState) -> &'static str {
    use JobState::*;
    match state {
        Blocked => "Waiting for the jobs it requires",
        Queued => "Queued",
        OnHold => "Waiting for an approval",
        Running => "Running",
        Success => "Passed",
        Failed => "Failed",
        Timedout => "Timed out",
        Canceled => "Canceled",
        InfrastructureFail => "Infrastructure failure",
        _ => "Not run",
    }
}

/// Where the status of commit `sha` of `repository` (`owner/name`) is posted: GitHub's and
/// Gitea's `…/repos/{owner}/{name}/statuses/{sha}`, GitLab's `…/projects/{id}/statuses/{sha}`
/// (the path, encoded, as the id). `api_url` is the API's base (`https://api.github.com`,
/// `https://gitea.example/api/v1`, `https://gitlab.example/api/v4`).
pub fn status_url(forge: Forge, api_url: &str, repository: &str, sha: &str) -> String {
    let base = api_url.trim_end_matches('/');
    match forge {
        Forge::GitLab => format!(
            "{base}/projects/{}/statuses/{sha}",
            repository.replace('/', "%2F")
        ),
        _ => format!("{base}/repos/{repository}/statuses/{sha}"),
    }
}

/// The JSON body of a status: `context` (GitLab: `name`), `state`, `target_url`, `description`.
pub fn status_body(forge: Forge, context: &str, state: JobState, target_url: &str) -> String {
    let key = if forge == Forge::GitLab {
        "name"
    } else {
        "context"
    };
    let mut body = serde_json::Map::new();
    body.insert("state".into(), commit_state(forge, state).into());
    body.insert(key.into(), context.into());
    body.insert("target_url".into(), target_url.into());
    body.insert("description".into(), description(state).into());
    serde_json::Value::Object(body).to_string()
}

/// The header carrying the access token, and its value.
pub fn auth_header(forge: Forge, token: &str) -> (&'static str, String) {
    match forge {
        Forge::GitHub => ("authorization", format!("Bearer {token}")),
        Forge::Gitea => ("authorization", format!("token {token}")),
        _ => ("private-token", token.to_owned()),
    }
}

/// Checks what a project admin gives as a status target: an `http(s)://` API base and an
/// `owner/name` repository (empty: the project's own).
pub fn check_target(forge: Forge, api_url: &str, repository: &str) -> Result<(), Invalid> {
    if !STATUS_FORGES.contains(&forge) {
        return Err(Invalid::new(
            "commit statuses go to GitHub, Gitea/Forgejo or GitLab",
        ));
    }
    let url = api_url.trim();
    let web = url.starts_with("https://") || url.starts_with("http://");
    if !web || url.len() > 500 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid::new(
            "the API address must be an http:// or https:// URL",
        ));
    }
    let ok_part = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let parts_ok = repository.split('/').count() >= 2 && repository.split('/').all(ok_part);
    if !repository.is_empty() && !parts_ok {
        return Err(Invalid::new(
            "the repository must be owner/name (letters, digits, -, _ and .)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_forge_gets_its_own_states_urls_and_headers() {
        assert_eq!(commit_state(Forge::GitHub, JobState::Running), "pending");
        assert_eq!(commit_state(Forge::GitHub, JobState::Failed), "failure");
        assert_eq!(commit_state(Forge::Gitea, JobState::Canceled), "error");
        assert_eq!(commit_state(Forge::GitLab, JobState::Running), "running");
        assert_eq!(commit_state(Forge::GitLab, JobState::Canceled), "canceled");
        assert_eq!(
            status_url(
                Forge::GitHub,
                "https://api.github.com/",
                "acme/widget",
                "abc"
            ),
            "https://api.github.com/repos/acme/widget/statuses/abc"
        );
        assert_eq!(
            status_url(
                Forge::GitLab,
                "https://gl.example/api/v4",
                "group/sub/widget",
                "abc"
            ),
            "https://gl.example/api/v4/projects/group%2Fsub%2Fwidget/statuses/abc"
        );
        let body: serde_json::Value = serde_json::from_str(&status_body(
            Forge::GitLab,
            "ci/circlet: build",
            JobState::Success,
            "u",
        ))
        .unwrap();
        assert_eq!(body["name"], "ci/circlet: build");
        assert_eq!(body["state"], "success");
        assert_eq!(auth_header(Forge::Gitea, "t").1, "token t");
        assert_eq!(auth_header(Forge::GitLab, "t").0, "private-token");
    }

    #[test]
    fn targets_are_checked() {
        assert!(check_target(Forge::GitHub, "https://api.github.com", "").is_ok());
        assert!(check_target(Forge::GitLab, "https://gl.example/api/v4", "a/b/c").is_ok());
        assert!(check_target(Forge::Bitbucket, "https://x", "").is_err());
        assert!(check_target(Forge::GitHub, "file:///etc", "").is_err());
        assert!(check_target(Forge::GitHub, "https://x", "../etc").is_err());
        assert!(check_target(Forge::GitHub, "https://x", "onlyname").is_err());
    }
}
