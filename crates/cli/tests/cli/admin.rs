//! `circlet admin …` on both backends: what each command does to the store, and the one-line
//! error for each way to get it wrong.

use crate::Instance;
use circlet_core::{Login, ProjectSlug, Role};
use circlet_store::{BackendKind, Store};
use circlet_testkit::both_backends;

both_backends!(
    users_are_created_from_stdin_or_with_a_generated_password,
    bad_user_input_is_refused_in_one_line,
    users_can_be_disabled,
    the_last_site_admin_keeps_the_flag_and_stays_enabled,
    users_are_edited_and_given_new_passwords,
    projects_are_created_with_their_owner_as_admin,
    bad_project_input_is_refused_in_one_line,
    members_are_added_and_their_role_changed,
    orbs_are_published_listed_and_never_replaced,
    resource_classes_and_their_runner_tokens,
);

const PASSWORD: &str = "correct horse battery";

async fn user(store: &Store, login: &str) -> Option<circlet_store::User> {
    store
        .users()
        .by_login(&Login::parse(login).unwrap())
        .await
        .unwrap()
}

async fn project(store: &Store, slug: &str) -> Option<circlet_store::Project> {
    store
        .projects()
        .by_slug(&ProjectSlug::parse(slug).unwrap())
        .await
        .unwrap()
}

/// An installation with users `alice` and `bob`.
async fn with_alice_and_bob(kind: BackendKind) -> Instance {
    let instance = Instance::new(kind).await;
    for login in ["alice", "bob"] {
        instance
            .admin(
                &["user", "create", login, "--password-stdin"],
                Some(&format!("{PASSWORD}\n")),
            )
            .ok();
    }
    instance
}

async fn role_of(
    store: &Store,
    project: &circlet_store::Project,
    user: &circlet_store::User,
) -> Option<Role> {
    store.projects().role_of(project.id, user.id).await.unwrap()
}

fn create_widgets(instance: &Instance) -> crate::Run {
    instance.admin(
        &[
            "project",
            "create",
            "gh/acme/widgets",
            "--owner",
            "alice",
            "--repo-url",
            "file:///tmp/x",
        ],
        None,
    )
}

async fn users_are_created_from_stdin_or_with_a_generated_password(kind: BackendKind) {
    let instance = Instance::new(kind).await;

    let run = instance.admin(
        &["user", "create", "alice", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    let out = run.ok();
    assert!(out.contains("created user alice"), "{out}");
    assert!(
        !out.contains("password"),
        "a piped password is not echoed: {out}"
    );
    assert!(!run.stderr.contains(PASSWORD), "{}", run.stderr);

    let run = instance.admin(
        &[
            "user",
            "create",
            "bob",
            "--name",
            "Bob Builder",
            "--email",
            "bob@example.com",
            "--admin",
        ],
        None,
    );
    let out = run.ok();
    let shown: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("password: "))
        .collect();
    assert_eq!(shown.len(), 1, "the password is printed once: {out}");
    assert!(shown[0].len() >= 16, "a strong password: {out}");
    assert_eq!(
        out.matches(shown[0]).count(),
        1,
        "the password is printed once: {out}"
    );
    assert!(!run.stderr.contains(shown[0]), "not logged: {}", run.stderr);

    let store = instance.store().await;
    let alice = user(&store, "alice").await.expect("alice exists");
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.email, "alice@localhost");
    assert!(!alice.site_admin && !alice.disabled);
    let bob = user(&store, "bob").await.expect("bob exists");
    assert_eq!(bob.name, "Bob Builder");
    assert_eq!(bob.email, "bob@example.com");
    assert!(bob.site_admin);
    let (_, hash) = store
        .users()
        .credentials(&bob.login)
        .await
        .unwrap()
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(shown[0]));
    store.close().await;
}

async fn bad_user_input_is_refused_in_one_line(kind: BackendKind) {
    let instance = Instance::new(kind).await;
    let create = |login: &str, stdin: &str| {
        instance.admin(&["user", "create", login, "--password-stdin"], Some(stdin))
    };

    create("alice", "short\n").fails_with(&["password", "at least"]);
    create("alice", "").fails_with(&["no password on stdin"]);
    create("alice", "\n").fails_with(&["no password on stdin"]);
    create("Bad Login!", "correct horse battery\n").fails_with(&["login"]);
    create("alice", "correct horse battery\n").ok();
    create("alice", "another long password\n").fails_with(&["'alice'", "already taken"]);
    // Logins are case-insensitive.
    create("ALICE", "another long password\n").fails_with(&["'alice'", "already taken"]);
    instance
        .admin(&["user", "create", "carol", "--email", "nope"], None)
        .fails_with(&["email"]);

    let store = instance.store().await;
    assert_eq!(store.users().count().await.unwrap(), 1, "only alice exists");
    store.close().await;
}

async fn users_can_be_disabled(kind: BackendKind) {
    let instance = with_alice_and_bob(kind).await;
    let out = instance.admin(&["user", "disable", "alice"], None);
    assert!(out.ok().contains("disabled alice"), "{}", out.stdout);
    instance
        .admin(&["user", "disable", "nobody"], None)
        .fails_with(&["'nobody'"]);
    instance
        .admin(&["user", "disable", "Bad Login!"], None)
        .fails_with(&["login"]);

    let store = instance.store().await;
    assert!(user(&store, "alice").await.unwrap().disabled);
    assert!(!user(&store, "bob").await.unwrap().disabled);
    store.close().await;
}

async fn projects_are_created_with_their_owner_as_admin(kind: BackendKind) {
    let instance = with_alice_and_bob(kind).await;
    let out = create_widgets(&instance);
    assert!(out.ok().contains("gh/acme/widgets"), "{}", out.stdout);
    instance
        .admin(
            &[
                "project",
                "create",
                "bitbucket/acme/gadgets",
                "--owner",
                "bob",
                "--repo-url",
                "https://example.com/acme/gadgets.git",
                "--default-branch",
                "trunk",
                "--public",
            ],
            None,
        )
        .ok();

    instance
        .admin(
            &["project", "create", "gh/acme/plain", "--owner", "bob"],
            None,
        )
        .ok();

    let store = instance.store().await;
    let alice = user(&store, "alice").await.unwrap();
    let bob = user(&store, "bob").await.unwrap();
    let plain = project(&store, "gh/acme/plain").await.unwrap();
    assert_eq!(
        plain.repo_url.as_str(),
        "https://github.com/acme/plain.git",
        "without --repo-url the VCS host's URL is used"
    );

    let widgets = project(&store, "github/ACME/Widgets")
        .await
        .expect("found under any spelling");
    assert_eq!(widgets.slug.to_string(), "gh/acme/widgets");
    assert_eq!(widgets.repo_url.as_str(), "file:///tmp/x");
    assert_eq!(widgets.default_branch.as_str(), "main");
    assert!(!widgets.public);
    let projects = store.projects();
    assert_eq!(
        projects.role_of(widgets.id, alice.id).await.unwrap(),
        Some(Role::Admin)
    );
    assert_eq!(projects.role_of(widgets.id, bob.id).await.unwrap(), None);

    let gadgets = project(&store, "bb/acme/gadgets").await.unwrap();
    assert_eq!(gadgets.slug.to_string(), "bb/acme/gadgets");
    assert_eq!(gadgets.default_branch.as_str(), "trunk");
    assert!(gadgets.public);
    assert_eq!(
        projects.role_of(gadgets.id, bob.id).await.unwrap(),
        Some(Role::Admin)
    );
    store.close().await;
}

async fn bad_project_input_is_refused_in_one_line(kind: BackendKind) {
    let instance = with_alice_and_bob(kind).await;
    create_widgets(&instance).ok();
    let create = |slug: &str, owner: &str, repo_url: &str| {
        instance.admin(
            &[
                "project",
                "create",
                slug,
                "--owner",
                owner,
                "--repo-url",
                repo_url,
            ],
            None,
        )
    };
    let repo = "file:///tmp/x";

    create("gh/acme/widgets", "alice", repo).fails_with(&["gh/acme/widgets", "already exists"]);
    create("github/ACME/widgets", "bob", repo).fails_with(&["already exists"]);
    create("gh/acme", "alice", repo).fails_with(&["vcs/org/repo"]);
    create("gh/acme/widgets/extra", "alice", repo).fails_with(&["vcs/org/repo"]);
    create("svn/a/b", "alice", repo).fails_with(&["unknown VCS type 'svn'"]);
    create("gh/acme/other", "zed", repo).fails_with(&["'zed'"]);
    create("gh/acme/other", "alice", "ftp://example.com/x").fails_with(&["repository URL"]);
    create("gh/acme/other", "alice", "file://relative").fails_with(&["absolute path"]);

    let store = instance.store().await;
    let all = store.projects().list_all().await.unwrap();
    let slugs: Vec<String> = all.iter().map(|p| p.slug.to_string()).collect();
    assert_eq!(slugs, ["gh/acme/widgets"]);
    let alice = user(&store, "alice").await.unwrap();
    let bob = user(&store, "bob").await.unwrap();
    assert_eq!(
        store.projects().role_of(all[0].id, bob.id).await.unwrap(),
        None,
        "a refused duplicate must not make bob a member"
    );
    assert_eq!(
        store.projects().role_of(all[0].id, alice.id).await.unwrap(),
        Some(Role::Admin)
    );
    store.close().await;
}

async fn members_are_added_and_their_role_changed(kind: BackendKind) {
    let instance = with_alice_and_bob(kind).await;
    create_widgets(&instance).ok();
    let add = |slug: &str, login: &str, role: &str| {
        instance.admin(
            &["project", "add-member", slug, login, "--role", role],
            None,
        )
    };

    let out = add("gh/acme/widgets", "bob", "write");
    assert!(
        out.ok().contains("bob is now write of gh/acme/widgets"),
        "{}",
        out.stdout
    );
    let store = instance.store().await;
    let widgets = project(&store, "gh/acme/widgets").await.unwrap();
    let bob = user(&store, "bob").await.unwrap();
    assert_eq!(role_of(&store, &widgets, &bob).await, Some(Role::Write));

    // The other spelling of the slug, and any case, reach the same project.
    add("github/ACME/widgets", "bob", "READ").ok();
    assert_eq!(role_of(&store, &widgets, &bob).await, Some(Role::Read));

    add("gh/acme/widgets", "bob", "owner").fails_with(&["unknown role 'owner'"]);
    add("gh/acme/nothing", "bob", "read").fails_with(&["gh/acme/nothing"]);
    add("gh/acme/widgets", "zed", "read").fails_with(&["'zed'"]);
    add("gh/acme", "bob", "read").fails_with(&["vcs/org/repo"]);
    assert_eq!(
        role_of(&store, &widgets, &bob).await,
        Some(Role::Read),
        "failed commands change nothing"
    );
    store.close().await;
}

async fn orbs_are_published_listed_and_never_replaced(kind: BackendKind) {
    let instance = Instance::new(kind).await;
    let orb = "version: 2.1\ncommands:\n  hi:\n    steps: [{run: echo hi}]\n";
    let publish = |reference: &str, stdin: &str| {
        instance.admin(&["orb", "publish", reference, "-"], Some(stdin))
    };
    assert_eq!(
        publish("acme/tools@1.0.0", orb).ok(),
        "published acme/tools@1.0.0\n"
    );
    publish("acme/tools@1.2.0", orb).ok();
    publish("acme/tools@1.0.0", orb)
        .fails_with(&["acme/tools@1.0.0 is published already", "publish a new one"]);
    publish("acme/tools@1.1", orb).fails_with(&["publish an exact version", "acme/tools@X.Y.Z"]);
    publish("Acme/tools@1.3.0", orb).fails_with(&["not an orb reference"]);
    publish("acme/tools@1.3.0", "jobs: [oops]\n").fails_with(&[
        "acme/tools@1.3.0 is not a valid orb",
        "`jobs` must be a mapping",
    ]);
    // An orb importing one that is not published names it.
    publish(
        "acme/more@0.1.0",
        "version: 2.1\norbs: {t: acme/missing@1}\n",
    )
    .fails_with(&["orb acme/missing@1 is not published"]);
    let listed = instance.admin(&["orb", "list"], None);
    let lines: Vec<&str> = listed.ok().lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("acme/tools@1.2.0\t"), "{lines:?}");
    assert!(lines[0].ends_with("\tadmin-cli"), "{lines:?}");
    let store = instance.store().await;
    let versions = store.orbs().versions("acme", "tools").await.unwrap();
    assert_eq!(versions.len(), 2);
    store.close().await;
}

async fn resource_classes_and_their_runner_tokens(kind: BackendKind) {
    let instance = Instance::new(kind).await;
    let admin = |args: &[&str]| instance.admin(args, None);
    admin(&[
        "resource-class",
        "create",
        "acme/gpu",
        "--description",
        "GPU boxes",
    ])
    .ok();
    admin(&["resource-class", "create", "acme/gpu"]).fails_with(&["acme/gpu exists already"]);
    admin(&["resource-class", "create", "gpu"]).fails_with(&["is not a resource class"]);
    let listed = admin(&["resource-class", "list"]);
    let lines: Vec<&str> = listed.ok().lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("acme/gpu\t") && lines[0].ends_with("\tGPU boxes"),
        "{lines:?}"
    );
    let token = admin(&[
        "runner-token",
        "create",
        "gpu-1",
        "--resource-class",
        "acme/gpu",
    ]);
    assert!(token.ok().starts_with("CCIRUN_"));
    admin(&[
        "runner-token",
        "create",
        "x",
        "--resource-class",
        "acme/none",
    ])
    .fails_with(&["There is no resource class acme/none"]);
    let store = instance.store().await;
    let bound = store.runners().token_classes().await.unwrap();
    assert_eq!(bound.len(), 1);
    assert_eq!(bound[0].1, "acme/gpu");
    let log = store
        .audit()
        .list(circlet_store::AuditScope::All, 10)
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|e| e.event == "resource_class.created" && e.detail == "acme/gpu")
    );
    store.close().await;
}

/// Issue 17 item 17: the last site admin could remove their own flag (in the web UI), leaving
/// nobody to manage the instance. The rule is the use case's, shared with `admin user edit` and
/// `admin user disable`: the last active site admin keeps the flag and stays enabled.
async fn the_last_site_admin_keeps_the_flag_and_stays_enabled(kind: BackendKind) {
    let instance = with_alice_and_bob(kind).await;
    instance
        .admin(&["user", "edit", "alice", "--site-admin", "true"], None)
        .ok();
    instance
        .admin(&["user", "edit", "alice", "--site-admin", "false"], None)
        .fails_with(&["last active site admin"]);
    instance
        .admin(&["user", "disable", "alice"], None)
        .fails_with(&["last active site admin"]);
    let store = instance.store().await;
    let alice = user(&store, "alice").await.unwrap();
    assert!(alice.site_admin && !alice.disabled, "{alice:?}");

    // With a second admin, the first may go; then the second is the last.
    instance
        .admin(&["user", "edit", "bob", "--site-admin", "true"], None)
        .ok();
    let out = instance.admin(&["user", "edit", "alice", "--site-admin", "false"], None);
    assert!(out.ok().contains("not a site admin"), "{}", out.stdout);
    instance
        .admin(&["user", "disable", "bob"], None)
        .fails_with(&["last active site admin"]);
    assert!(!user(&store, "alice").await.unwrap().site_admin);
    assert!(user(&store, "bob").await.unwrap().site_admin);
    store.close().await;
}

async fn users_are_edited_and_given_new_passwords(kind: BackendKind) {
    let instance = with_alice_and_bob(kind).await;
    let out = instance.admin(
        &[
            "user",
            "edit",
            "alice",
            "--name",
            "Alice L",
            "--email",
            "a@example.com",
        ],
        None,
    );
    assert!(out.ok().contains("Alice L"), "{}", out.stdout);
    instance
        .admin(&["user", "edit", "alice", "--email", "nope"], None)
        .fails_with(&["email"]);
    instance
        .admin(&["user", "edit", "nobody", "--name", "N"], None)
        .fails_with(&["'nobody'"]);
    instance
        .admin(
            &["user", "set-password", "alice", "--password-stdin"],
            Some("short\n"),
        )
        .fails_with(&["password", "at least"]);
    let run = instance.admin(
        &["user", "set-password", "alice", "--password-stdin"],
        Some("another long password\n"),
    );
    assert!(
        run.ok().contains("set a new password for alice"),
        "{}",
        run.stdout
    );

    let store = instance.store().await;
    let alice = user(&store, "alice").await.unwrap();
    assert_eq!(
        (alice.name.as_str(), alice.email.as_str()),
        ("Alice L", "a@example.com")
    );
    let (_, phc) = store
        .users()
        .credentials(&alice.login)
        .await
        .unwrap()
        .unwrap();
    assert!(circlet_app::password::verify("another long password".into(), Some(phc)).await);
    let audit = instance.admin(&["audit"], None);
    let log = audit.ok();
    assert!(
        log.contains("user.updated") && log.contains("user.password_set"),
        "{log}"
    );
    assert!(!log.contains("another long password"), "{log}");
    store.close().await;
}
