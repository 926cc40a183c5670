//! Projects: creating them (the creator is their admin), slugs in any spelling, listings,
//! settings.

use super::{create_project, create_user, keys, new_project, run, slug};
use circlet_core::{BranchName, RepoUrl, Role};
use circlet_store::{Conflict, Member, Project, Store, StoreError};
use circlet_testkit::both_backends;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    projects_create_makes_the_creator_admin,
    projects_duplicate_slug_is_a_conflict,
    projects_duplicate_slug_conflict_names_the_slug,
    projects_by_slug_accepts_any_spelling_and_case,
    projects_list_all_and_for_member,
    projects_update_settings,
    projects_update_settings_unknown_project_is_not_found,
);

async fn projects_create_makes_the_creator_admin(store: Store) {
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let mut input = new_project("github/Acme/Widgets");
    input.public = true;
    input.default_branch = BranchName::parse("trunk").unwrap();
    input.repo_url = RepoUrl::parse("git@github.com:Acme/Widgets.git").unwrap();
    let p = store
        .projects()
        .create(&input, alice.id)
        .await
        .expect("create project");
    assert_eq!(p.slug, slug("gh/acme/widgets"));
    assert_eq!(
        p.slug.to_string(),
        "gh/Acme/Widgets",
        "org and repo keep their spelling"
    );
    assert_eq!(p.repo_url.as_str(), "git@github.com:Acme/Widgets.git");
    assert_eq!(p.default_branch.as_str(), "trunk");
    assert!(p.public);
    assert!(!p.uuid.is_nil());

    assert_eq!(
        store.projects().role_of(p.id, alice.id).await.unwrap(),
        Some(Role::Admin)
    );
    assert_eq!(store.projects().role_of(p.id, bob.id).await.unwrap(), None);
    assert_eq!(
        store.projects().members(p.id).await.unwrap(),
        [Member {
            user: alice.clone(),
            role: Role::Admin
        }]
    );
    assert_eq!(
        store.projects().list_for_member(alice.id).await.unwrap(),
        [(p.clone(), Role::Admin)]
    );
    assert!(
        store
            .projects()
            .list_for_member(bob.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.projects().list_all().await.unwrap(), [p]);
}

async fn projects_duplicate_slug_is_a_conflict(store: Store) {
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let original = create_project(&store, "github/ACME/w", &alice).await;
    for dup in ["gh/acme/w", "github/ACME/w", "GH/Acme/W", "GitHub/acme/W"] {
        let err = store
            .projects()
            .create(&new_project(dup), bob.id)
            .await
            .expect_err(dup);
        assert!(matches!(err, StoreError::Conflict(_)), "{dup}: got {err:?}");
    }
    // The failed attempts left nothing behind: no project, no membership for bob.
    assert_eq!(
        store.projects().list_all().await.unwrap(),
        std::slice::from_ref(&original)
    );
    assert!(
        store
            .projects()
            .list_for_member(bob.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.projects().role_of(original.id, bob.id).await.unwrap(),
        None
    );
    // The same org/repo on another VCS, or another repo, is a different project.
    let on_bb = create_project(&store, "bitbucket/ACME/w", &bob).await;
    assert_eq!(on_bb.slug.to_string(), "bb/ACME/w");
    let other = create_project(&store, "gh/acme/w2", &bob).await;
    assert_eq!(
        store.projects().list_all().await.unwrap(),
        [on_bb, original, other]
    );
}

async fn projects_duplicate_slug_conflict_names_the_slug(store: Store) {
    let alice = create_user(&store, "alice").await;
    create_project(&store, "github/ACME/w", &alice).await;
    let err = store
        .projects()
        .create(&new_project("gh/acme/w"), alice.id)
        .await
        .expect_err("duplicate slug");
    match err {
        // The use cases tell the user which project collided: the conflict must say it.
        StoreError::Conflict(Conflict::Project(slug)) => assert!(
            slug.contains("gh/acme/w"),
            "the conflict names the project: {slug:?}"
        ),
        other => panic!("expected Conflict, got {other:?}"),
    }
}

async fn projects_by_slug_accepts_any_spelling_and_case(store: Store) {
    let alice = create_user(&store, "alice").await;
    let p = create_project(&store, "github/Acme/Widgets", &alice).await;
    let bb = create_project(&store, "bb/acme/widgets", &alice).await;
    for spelling in [
        "gh/Acme/Widgets",
        "github/Acme/Widgets",
        "gh/acme/widgets",
        "GITHUB/ACME/WIDGETS",
        "Gh/aCmE/wIdGeTs",
    ] {
        let found = store.projects().by_slug(&slug(spelling)).await.unwrap();
        assert_eq!(found.as_ref(), Some(&p), "{spelling}");
        let found = found.unwrap();
        assert_eq!(
            found.slug.org(),
            "Acme",
            "{spelling}: org keeps its creation spelling"
        );
        assert_eq!(found.slug.repo(), "Widgets");
    }
    for spelling in ["bitbucket/ACME/Widgets", "BB/acme/widgets"] {
        let found = store.projects().by_slug(&slug(spelling)).await.unwrap();
        assert_eq!(found.as_ref(), Some(&bb), "{spelling}");
    }
    for missing in ["gh/acme/gadgets", "gh/other/widgets", "gh/acme/widgets.git"] {
        assert_eq!(
            store.projects().by_slug(&slug(missing)).await.unwrap(),
            None,
            "{missing}"
        );
    }
}

async fn projects_list_all_and_for_member(store: Store) {
    assert!(store.projects().list_all().await.unwrap().is_empty());
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let carol = create_user(&store, "carol").await;
    // Created out of slug order, by two owners.
    let zeta = create_project(&store, "gh/zeta/app", &alice).await;
    let beta = create_project(&store, "gh/Beta/app", &bob).await;
    let alpha = create_project(&store, "github/alpha/app", &alice).await;
    let bbk = create_project(&store, "bb/zeta/app", &bob).await;

    assert_eq!(
        keys(&store.projects().list_all().await.unwrap()),
        ["bb/zeta/app", "gh/alpha/app", "gh/beta/app", "gh/zeta/app"]
    );
    assert_eq!(
        store.projects().list_for_member(alice.id).await.unwrap(),
        [(alpha.clone(), Role::Admin), (zeta.clone(), Role::Admin)]
    );
    assert_eq!(
        store.projects().list_for_member(bob.id).await.unwrap(),
        [(bbk, Role::Admin), (beta.clone(), Role::Admin)]
    );
    assert!(
        store
            .projects()
            .list_for_member(carol.id)
            .await
            .unwrap()
            .is_empty()
    );

    store
        .projects()
        .set_member(beta.id, alice.id, Role::Read)
        .await
        .unwrap();
    store
        .projects()
        .set_member(zeta.id, carol.id, Role::Write)
        .await
        .unwrap();
    assert_eq!(
        store.projects().list_for_member(alice.id).await.unwrap(),
        [
            (alpha, Role::Admin),
            (beta, Role::Read),
            (zeta.clone(), Role::Admin)
        ]
    );
    assert_eq!(
        store.projects().list_for_member(carol.id).await.unwrap(),
        [(zeta, Role::Write)]
    );
    assert_eq!(store.projects().list_all().await.unwrap().len(), 4);
}

async fn projects_update_settings(store: Store) {
    let owner = create_user(&store, "owner").await;
    let p = create_project(&store, "gh/Acme/Widgets", &owner).await;
    let other = create_project(&store, "gh/acme/gadgets", &owner).await;
    assert!(!p.public);

    let url = RepoUrl::parse("ssh://git@git.example.com/acme/widgets.git").unwrap();
    let branch = BranchName::parse("release/2024").unwrap();
    store
        .projects()
        .update_settings(p.id, &url, &branch, true)
        .await
        .unwrap();
    let updated = store
        .projects()
        .by_slug(&p.slug)
        .await
        .unwrap()
        .expect("still there");
    assert_eq!(
        updated,
        Project {
            repo_url: url.clone(),
            default_branch: branch.clone(),
            public: true,
            ..p.clone()
        }
    );
    assert_eq!(updated.slug.to_string(), "gh/Acme/Widgets");
    // The other project is untouched.
    assert_eq!(
        store.projects().by_slug(&other.slug).await.unwrap(),
        Some(other)
    );

    // And back to private.
    store
        .projects()
        .update_settings(p.id, &url, &branch, false)
        .await
        .unwrap();
    assert!(
        !store
            .projects()
            .by_slug(&p.slug)
            .await
            .unwrap()
            .unwrap()
            .public
    );
    assert_eq!(
        store.projects().role_of(p.id, owner.id).await.unwrap(),
        Some(Role::Admin)
    );
}

async fn projects_update_settings_unknown_project_is_not_found(store: Store) {
    let owner = create_user(&store, "owner").await;
    let p = create_project(&store, "gh/acme/widgets", &owner).await;
    let url = RepoUrl::parse("https://example.com/x.git").unwrap();
    let branch = BranchName::parse("dev").unwrap();
    let err = store
        .projects()
        .update_settings(p.id + 1000, &url, &branch, true)
        .await;
    assert!(matches!(err, Err(StoreError::NotFound(_))), "got {err:?}");
    assert_eq!(store.projects().by_slug(&p.slug).await.unwrap(), Some(p));
}
