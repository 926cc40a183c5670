//! What a push or a pull request event builds, under the project's settings: CircleCI's rules
//! ("Only build pull requests", "Build forked pull requests", "Pass secrets to builds from
//! forked pull requests", "Auto-cancel redundant workflows") and circlet's one rule of its own
//! for forges that send both a push and a pull request event for one commit: a branch with an
//! open pull request is built by the pull request's events, so each commit builds once and its
//! build knows its pull request.

use super::{GitTarget, PrAction, PullRequest, Push};

/// A project's settings that decide what its webhooks build (CircleCI's "Advanced" settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildSettings {
    /// "Only build pull requests": a push to a branch other than the default one builds
    /// nothing by itself (v1.1 `build-prs-only`).
    pub build_prs_only: bool,
    /// "Auto-cancel redundant workflows": a new pipeline of a branch other than the default one
    /// cancels the branch's earlier workflows that have not finished (`autocancel-builds`).
    pub autocancel_builds: bool,
    /// "Build forked pull requests" (`build-fork-prs`).
    pub build_fork_prs: bool,
    /// "Pass secrets to builds from forked pull requests": off, a fork's jobs get no env vars,
    /// contexts, additional SSH keys or OIDC tokens (`forks-receive-secret-env-vars`).
    pub forks_receive_secrets: bool,
}

/// A pull request as circlet last heard of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPr {
    /// Its number.
    pub number: u64,
    /// Its head commit when last heard of.
    pub head_sha: String,
    /// Whether it is open.
    pub open: bool,
}

/// The pull request a pipeline builds, as its jobs and the APIs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrRef {
    /// Its number (`CIRCLE_PR_NUMBER`, v2 `vcs.review_id`).
    pub number: u64,
    /// Its page (`CIRCLE_PULL_REQUEST`, v2 `vcs.review_url`).
    pub url: String,
    /// The head repository's name (`CIRCLE_PR_REPONAME`).
    pub head_repo: String,
    /// Who opened it (`CIRCLE_PR_USERNAME`).
    pub author: String,
    /// Whether it comes from a fork.
    pub fork: bool,
}

impl PrRef {
    /// The reference to `pr`.
    pub fn of(pr: &PullRequest) -> PrRef {
        PrRef {
            number: pr.number,
            url: pr.url.clone(),
            head_repo: pr.head_repo.clone(),
            author: pr.author.clone(),
            fork: pr.fork,
        }
    }
}

/// A pipeline to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// Its branch (a fork's pull request: `pull/<number>`, as CircleCI names it) or tag.
    pub target: GitTarget,
    /// The commit.
    pub revision: String,
    /// The ref that holds the commit when it is on no branch of the repository (a fork's).
    pub fetch_ref: Option<String>,
    /// The pull request it builds.
    pub pull_request: Option<PrRef>,
    /// Keep the project's secrets from its jobs (a fork's pull request, unless allowed).
    pub withhold_secrets: bool,
    /// Build nothing when the commit says `[ci skip]` or `[skip ci]` (not for tags: a release
    /// commit marked so is still released when tagged).
    pub honour_skip: bool,
    /// Cancel the branch's earlier unfinished workflows once this pipeline exists.
    pub auto_cancel: bool,
}

/// What to do about one push or pull request event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start this pipeline.
    Build(Build),
    /// Build nothing, for this reason (shown in the deliveries list).
    Skip(String),
}

/// What `push` builds in a project whose default branch is `default_branch`; `open_pr` is the
/// open pull request (of this repository) whose head is the pushed branch, if circlet knows one.
pub fn push(
    settings: BuildSettings,
    default_branch: &str,
    push: &Push,
    open_pr: Option<&KnownPr>,
) -> Decision {
    let Some(after) = &push.after else {
        let what = match &push.target {
            GitTarget::Branch(b) => format!("branch '{b}'"),
            GitTarget::Tag(t) => format!("tag '{t}'"),
        };
        return Decision::Skip(format!("{what} was deleted"));
    };
    let branch = match &push.target {
        GitTarget::Tag(_) => {
            return Decision::Build(Build {
                target: push.target.clone(),
                revision: after.clone(),
                fetch_ref: None,
                pull_request: None,
                withhold_secrets: false,
                honour_skip: false,
                auto_cancel: false,
            });
        }
        GitTarget::Branch(b) => b,
    };
    let default = branch == default_branch;
    if !default {
        if let Some(pr) = open_pr {
            return Decision::Skip(format!(
                "branch '{branch}' has an open pull request (#{}): its pull request event builds it",
                pr.number
            ));
        }
        if settings.build_prs_only {
            return Decision::Skip(format!(
                "branch '{branch}' has no open pull request and \"Only build pull requests\" is on"
            ));
        }
    }
    Decision::Build(Build {
        target: push.target.clone(),
        revision: after.clone(),
        fetch_ref: None,
        pull_request: None,
        withhold_secrets: false,
        honour_skip: true,
        auto_cancel: settings.autocancel_builds && !default,
    })
}

/// What `pr` builds; `known` is the pull request as circlet last heard of it.
pub fn pull_request(
    settings: BuildSettings,
    default_branch: &str,
    pr: &PullRequest,
    known: Option<&KnownPr>,
) -> Decision {
    let n = pr.number;
    match pr.action {
        PrAction::Closed => return Decision::Skip(format!("pull request #{n} was closed")),
        PrAction::Other => {
            return Decision::Skip(format!("pull request #{n}: nothing to build in this event"));
        }
        PrAction::Opened | PrAction::Reopened | PrAction::Updated => {}
    }
    if let Some(k) = known
        && k.open
        && k.head_sha == pr.head_sha
    {
        return Decision::Skip(format!(
            "pull request #{n}: its head {} was already built",
            short(&pr.head_sha)
        ));
    }
    if pr.fork && !settings.build_fork_prs {
        return Decision::Skip(format!(
            "pull request #{n} comes from a fork and \"Build forked pull requests\" is off"
        ));
    }
    let (branch, fetch_ref) = if pr.fork {
        let Some(fetch_ref) = &pr.fork_ref else {
            return Decision::Skip(format!(
                "pull request #{n} comes from a fork, whose commits this forge keeps in the fork only"
            ));
        };
        (format!("pull/{n}"), Some(fetch_ref.clone()))
    } else {
        (pr.head_branch.clone(), None)
    };
    Decision::Build(Build {
        auto_cancel: settings.autocancel_builds && branch != default_branch,
        target: GitTarget::Branch(branch),
        revision: pr.head_sha.clone(),
        fetch_ref,
        pull_request: Some(PrRef::of(pr)),
        withhold_secrets: pr.fork && !settings.forks_receive_secrets,
        honour_skip: true,
    })
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn pushed(branch: &str) -> Push {
        Push {
            target: GitTarget::Branch(branch.into()),
            after: Some(SHA.into()),
            pusher: "ada".into(),
        }
    }

    fn pr(action: PrAction, fork: bool) -> PullRequest {
        PullRequest {
            action,
            number: 7,
            url: "https://forge.example/o/r/pull/7".into(),
            head_branch: "feature".into(),
            head_sha: SHA.into(),
            head_repo: "r".into(),
            fork,
            author: "bob".into(),
            sender: "bob".into(),
            fork_ref: Some("refs/pull/7/head".into()),
        }
    }

    fn built(d: Decision) -> Build {
        match d {
            Decision::Build(b) => b,
            Decision::Skip(why) => panic!("skipped: {why}"),
        }
    }

    fn skipped(d: Decision) -> String {
        match d {
            Decision::Skip(why) => why,
            Decision::Build(b) => panic!("built {b:?}"),
        }
    }

    #[test]
    fn a_branch_push_builds_its_commit_and_a_deletion_builds_nothing() {
        let b = built(push(
            BuildSettings::default(),
            "main",
            &pushed("feature"),
            None,
        ));
        assert_eq!(b.target, GitTarget::Branch("feature".into()));
        assert_eq!(b.revision, SHA);
        assert!(b.honour_skip && !b.auto_cancel && !b.withhold_secrets);
        let mut gone = pushed("feature");
        gone.after = None;
        assert_eq!(
            skipped(push(BuildSettings::default(), "main", &gone, None)),
            "branch 'feature' was deleted"
        );
    }

    #[test]
    fn a_tag_push_builds_and_ignores_ci_skip() {
        let mut tag = pushed("x");
        tag.target = GitTarget::Tag("v1.0".into());
        let b = built(push(BuildSettings::default(), "main", &tag, None));
        assert_eq!(b.target, GitTarget::Tag("v1.0".into()));
        assert!(!b.honour_skip);
    }

    #[test]
    fn only_pull_requests_still_builds_the_default_branch() {
        let s = BuildSettings {
            build_prs_only: true,
            ..Default::default()
        };
        assert!(skipped(push(s, "main", &pushed("feature"), None)).contains("Only build pull"));
        built(push(s, "main", &pushed("main"), None));
        built(pull_request(s, "main", &pr(PrAction::Opened, false), None));
    }

    #[test]
    fn a_branch_with_an_open_pull_request_is_built_by_the_pull_request() {
        let known = KnownPr {
            number: 7,
            head_sha: "f".repeat(40),
            open: true,
        };
        assert!(
            skipped(push(
                BuildSettings::default(),
                "main",
                &pushed("feature"),
                Some(&known)
            ))
            .contains("#7")
        );
        let b = built(pull_request(
            BuildSettings::default(),
            "main",
            &pr(PrAction::Updated, false),
            Some(&known),
        ));
        assert_eq!(b.target, GitTarget::Branch("feature".into()));
        assert_eq!(b.pull_request.unwrap().number, 7);
        assert_eq!(b.fetch_ref, None);
    }

    #[test]
    fn the_same_head_twice_builds_once_but_a_reopen_builds_again() {
        let mut known = KnownPr {
            number: 7,
            head_sha: SHA.into(),
            open: true,
        };
        let s = BuildSettings::default();
        assert!(
            skipped(pull_request(
                s,
                "main",
                &pr(PrAction::Updated, false),
                Some(&known)
            ))
            .contains("already built")
        );
        known.open = false;
        built(pull_request(
            s,
            "main",
            &pr(PrAction::Reopened, false),
            Some(&known),
        ));
    }

    #[test]
    fn forks_are_built_only_when_allowed_and_get_secrets_only_when_allowed() {
        let fork = pr(PrAction::Opened, true);
        assert!(
            skipped(pull_request(BuildSettings::default(), "main", &fork, None))
                .contains("Build forked pull requests")
        );
        let s = BuildSettings {
            build_fork_prs: true,
            ..Default::default()
        };
        let b = built(pull_request(s, "main", &fork, None));
        assert_eq!(b.target, GitTarget::Branch("pull/7".into()));
        assert_eq!(b.fetch_ref.as_deref(), Some("refs/pull/7/head"));
        assert!(b.withhold_secrets);
        let s = BuildSettings {
            build_fork_prs: true,
            forks_receive_secrets: true,
            ..Default::default()
        };
        assert!(!built(pull_request(s, "main", &fork, None)).withhold_secrets);
        let mut bitbucket = fork.clone();
        bitbucket.fork_ref = None;
        assert!(skipped(pull_request(s, "main", &bitbucket, None)).contains("in the fork only"));
    }

    #[test]
    fn auto_cancel_spares_the_default_branch() {
        let s = BuildSettings {
            autocancel_builds: true,
            ..Default::default()
        };
        assert!(built(push(s, "main", &pushed("feature"), None)).auto_cancel);
        assert!(!built(push(s, "main", &pushed("main"), None)).auto_cancel);
    }

    #[test]
    fn closed_and_other_actions_build_nothing() {
        for action in [PrAction::Closed, PrAction::Other] {
            skipped(pull_request(
                BuildSettings::default(),
                "main",
                &pr(action, false),
                None,
            ));
        }
    }
}
