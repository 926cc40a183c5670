//! Each forge's payloads, as the forges document them (`crates/core/tests/forge_payloads/`,
//! sources in its `SOURCES.md`), read into the events circlet builds from.

use super::*;

#[test]
fn ci_skip_is_found_in_the_subject_or_body_in_any_case() {
    assert!(asks_to_skip("docs: typo [ci skip]", ""));
    assert!(asks_to_skip("docs", "more\n[SKIP CI]"));
    assert!(!asks_to_skip("skip ci", "[ci-skip]"));
}

#[test]
fn forge_names_round_trip_and_forgejo_is_gitea() {
    for f in Forge::ALL {
        assert_eq!(Forge::parse(f.as_str()).unwrap(), f);
    }
    assert_eq!(Forge::parse("forgejo").unwrap(), Forge::Gitea);
    assert!(Forge::parse("GitHub").is_err());
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/forge_payloads/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn read(forge: Forge, event: &str, name: &str) -> HookEvent {
    parse(forge, event, &fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn one_push(event: HookEvent) -> Push {
    match event {
        HookEvent::Push(mut p) if p.len() == 1 => p.remove(0),
        other => panic!("not one push: {other:?}"),
    }
}

fn pr(event: HookEvent) -> PullRequest {
    match event {
        HookEvent::PullRequest(pr) => pr,
        other => panic!("not a pull request: {other:?}"),
    }
}

const GITHUB_HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

#[test]
fn github_pushes_tags_and_deletions() {
    let p = one_push(read(Forge::GitHub, "push", "github_push"));
    assert_eq!(p.target, GitTarget::Branch("changes".into()));
    assert_eq!(p.after.as_deref(), Some(GITHUB_HEAD));
    assert_eq!(p.pusher, "Codertocat");
    let t = one_push(read(Forge::GitHub, "push", "github_push_tag"));
    assert_eq!(t.target, GitTarget::Tag("v0.0.1".into()));
    assert!(t.after.is_some());
    let d = one_push(read(Forge::GitHub, "push", "github_push_delete"));
    assert_eq!(d.target, GitTarget::Branch("changes".into()));
    assert_eq!(d.after, None);
    assert_eq!(
        read(Forge::GitHub, "ping", "github_ping"),
        HookEvent::Other("ping".into())
    );
}

#[test]
fn github_pull_requests_same_repository_and_fork() {
    let opened = pr(read(
        Forge::GitHub,
        "pull_request",
        "github_pull_request_opened",
    ));
    assert_eq!(opened.action, PrAction::Opened);
    assert_eq!(opened.number, 2);
    assert_eq!(opened.head_branch, "changes");
    assert_eq!(opened.head_sha, GITHUB_HEAD);
    assert!(!opened.fork);
    assert_eq!(
        opened.url,
        "https://github.com/Codertocat/Hello-World/pull/2"
    );
    assert_eq!(opened.author, "Codertocat");
    assert_eq!(opened.fork_ref.as_deref(), Some("refs/pull/2/head"));
    let sync = pr(read(
        Forge::GitHub,
        "pull_request",
        "github_pull_request_synchronize",
    ));
    assert_eq!(sync.action, PrAction::Updated);
    let closed = pr(read(
        Forge::GitHub,
        "pull_request",
        "github_pull_request_closed",
    ));
    assert_eq!(closed.action, PrAction::Closed);
    let fork = pr(read(
        Forge::GitHub,
        "pull_request",
        "github_pull_request_fork",
    ));
    assert!(fork.fork);
    assert_eq!(fork.number, 3);
    assert_eq!(fork.head_repo, "Hello-World");
    assert_eq!(fork.fork_ref.as_deref(), Some("refs/pull/3/head"));
}

#[test]
fn gitea_pushes_and_pull_requests() {
    let p = one_push(read(Forge::Gitea, "push", "gitea_push"));
    assert_eq!(p.target, GitTarget::Branch("master".into()));
    assert!(
        p.after
            .as_deref()
            .is_some_and(|s| s.starts_with("67b56589"))
    );
    let t = one_push(read(Forge::Gitea, "push", "gitea_push_tag"));
    assert_eq!(t.target, GitTarget::Tag("v1.0.0".into()));
    let opened = pr(read(
        Forge::Gitea,
        "pull_request",
        "gitea_pull_request_opened",
    ));
    assert_eq!(opened.action, PrAction::Opened);
    assert!(opened.fork);
    assert!(opened.head_sha.starts_with("48e773f8"));
    let sync = pr(read(
        Forge::Gitea,
        "pull_request",
        "gitea_pull_request_synchronized",
    ));
    assert_eq!(sync.action, PrAction::Updated);
    assert_eq!(sync.head_branch, "test-patch-1");
    assert!(!sync.fork);
}

#[test]
fn gitlab_pushes_tags_deletions_and_merge_requests() {
    let p = one_push(read(Forge::GitLab, "Push Hook", "gitlab_push"));
    assert_eq!(p.target, GitTarget::Branch("master".into()));
    assert!(
        p.after
            .as_deref()
            .is_some_and(|s| s.starts_with("2adc9465"))
    );
    let t = one_push(read(Forge::GitLab, "Tag Push Hook", "gitlab_tag_push"));
    assert_eq!(t.target, GitTarget::Tag("v1.0.0".into()));
    assert!(t.after.is_some());
    let d = one_push(read(Forge::GitLab, "Push Hook", "gitlab_push_delete"));
    assert_eq!(d.after, None);
    let open = pr(read(
        Forge::GitLab,
        "Merge Request Hook",
        "gitlab_merge_request_open",
    ));
    assert_eq!(open.action, PrAction::Opened);
    assert_eq!((open.number, open.fork), (1, false));
    assert_eq!(open.head_branch, "feature");
    assert_eq!(open.fork_ref.as_deref(), Some("refs/merge-requests/1/head"));
    let update = pr(read(
        Forge::GitLab,
        "Merge Request Hook",
        "gitlab_merge_request_update",
    ));
    assert_eq!(update.action, PrAction::Updated);
    let fork = pr(read(
        Forge::GitLab,
        "Merge Request Hook",
        "gitlab_merge_request_fork",
    ));
    assert!(fork.fork);
}

#[test]
fn bitbucket_pushes_and_pull_requests() {
    let p = one_push(read(Forge::Bitbucket, "repo:push", "bitbucket_push"));
    assert_eq!(p.target, GitTarget::Branch("main".into()));
    assert!(
        p.after
            .as_deref()
            .is_some_and(|s| s.starts_with("c14c1bb0"))
    );
    let t = one_push(read(Forge::Bitbucket, "repo:push", "bitbucket_push_tag"));
    assert_eq!(t.target, GitTarget::Tag("v1.6".into()));
    let created = pr(read(
        Forge::Bitbucket,
        "pullrequest:created",
        "bitbucket_pullrequest_created",
    ));
    assert_eq!(created.action, PrAction::Opened);
    assert_eq!(created.head_sha, "39f188d78e1e");
    assert_eq!(created.head_branch, "wen-emos");
    assert!(!created.fork);
    assert_eq!(created.fork_ref, None);
}

#[test]
fn a_payload_of_the_wrong_shape_or_with_hostile_names_is_refused() {
    assert!(parse(Forge::GitHub, "push", b"not json").is_err());
    assert!(parse(Forge::GitHub, "push", br#"{"after":"x"}"#).is_err());
    let hostile = br#"{"ref":"refs/heads/-x","after":"0123456789abcdef0123456789abcdef01234567"}"#;
    assert!(parse(Forge::GitHub, "push", hostile).is_err());
    let bad_sha = br#"{"ref":"refs/heads/main","after":"--upload-pack=evil"}"#;
    assert!(parse(Forge::GitHub, "push", bad_sha).is_err());
    // Events circlet does not build from are read as such, whatever their body.
    assert_eq!(
        parse(Forge::GitHub, "issues", b"{}").unwrap(),
        HookEvent::Other("issues".into())
    );
}
