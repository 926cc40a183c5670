//! Project members: adding them and changing their role, removing them, and where a user stands
//! in an organization (the projects and admin roles they hold there); which projects they follow.

use super::{create_project, create_user, run};
use circlet_core::{Role, Vcs};
use circlet_store::{Member, OrgStanding, Store, StoreError};
use circlet_testkit::both_backends;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    projects_set_member_inserts_and_changes_role,
    projects_org_standing_counts_projects_and_admin_roles,
    projects_remove_member,
    follows_record_each_users_choice_per_project,
);

async fn projects_set_member_inserts_and_changes_role(store: Store) {
    let owner = create_user(&store, "owner").await;
    let zed = create_user(&store, "zed").await;
    let amy = create_user(&store, "amy").await;
    let p = create_project(&store, "gh/acme/widgets", &owner).await;
    let q = create_project(&store, "gh/acme/gadgets", &owner).await;

    store
        .projects()
        .set_member(p.id, zed.id, Role::Write)
        .await
        .unwrap();
    store
        .projects()
        .set_member(p.id, amy.id, Role::Read)
        .await
        .unwrap();
    assert_eq!(
        store.projects().role_of(p.id, zed.id).await.unwrap(),
        Some(Role::Write)
    );
    assert_eq!(
        store.projects().role_of(p.id, amy.id).await.unwrap(),
        Some(Role::Read)
    );
    // Membership is per project.
    assert_eq!(store.projects().role_of(q.id, zed.id).await.unwrap(), None);
    assert_eq!(
        store.projects().members(p.id).await.unwrap(),
        [
            Member {
                user: amy.clone(),
                role: Role::Read
            },
            Member {
                user: owner.clone(),
                role: Role::Admin
            },
            Member {
                user: zed.clone(),
                role: Role::Write
            },
        ]
    );

    // Setting again changes the role instead of adding a second membership.
    store
        .projects()
        .set_member(p.id, zed.id, Role::Admin)
        .await
        .unwrap();
    store
        .projects()
        .set_member(p.id, owner.id, Role::Read)
        .await
        .unwrap();
    assert_eq!(
        store.projects().role_of(p.id, zed.id).await.unwrap(),
        Some(Role::Admin)
    );
    assert_eq!(
        store.projects().role_of(p.id, owner.id).await.unwrap(),
        Some(Role::Read)
    );
    assert_eq!(
        store.projects().members(p.id).await.unwrap(),
        [
            Member {
                user: amy,
                role: Role::Read
            },
            Member {
                user: owner.clone(),
                role: Role::Read
            },
            Member {
                user: zed.clone(),
                role: Role::Admin
            },
        ]
    );
    assert_eq!(
        store.projects().members(q.id).await.unwrap(),
        [Member {
            user: owner,
            role: Role::Admin
        }]
    );
    assert_eq!(
        store.projects().list_for_member(zed.id).await.unwrap(),
        [(p, Role::Admin)]
    );
}

async fn projects_org_standing_counts_projects_and_admin_roles(store: Store) {
    let owner = create_user(&store, "owner").await;
    let bob = create_user(&store, "bob").await;
    let standing = |org: &'static str, vcs: Vcs, user: i64| {
        let store = &store;
        async move { store.projects().org_standing(vcs, org, user).await.unwrap() }
    };
    let none = OrgStanding {
        projects: 0,
        admin_of: 0,
    };
    assert_eq!(standing("acme", Vcs::GitHub, bob.id).await, none);
    let p = create_project(&store, "gh/Acme/widgets", &owner).await;
    create_project(&store, "gh/acme/gadgets", &owner).await;
    create_project(&store, "bb/acme/tools", &owner).await;
    create_project(&store, "gh/acme-two/x", &owner).await;
    assert_eq!(
        standing("ACME", Vcs::GitHub, owner.id).await,
        OrgStanding {
            projects: 2,
            admin_of: 2
        }
    );
    assert_eq!(
        standing("acme", Vcs::GitHub, bob.id).await,
        OrgStanding {
            projects: 2,
            admin_of: 0
        }
    );
    assert_eq!(
        standing("acme", Vcs::Bitbucket, bob.id).await,
        OrgStanding {
            projects: 1,
            admin_of: 0
        }
    );
    store
        .projects()
        .set_member(p.id, bob.id, Role::Write)
        .await
        .unwrap();
    assert_eq!(
        standing("acme", Vcs::GitHub, bob.id).await.admin_of,
        0,
        "only admins count"
    );
    store
        .projects()
        .set_member(p.id, bob.id, Role::Admin)
        .await
        .unwrap();
    assert_eq!(
        standing("acme", Vcs::GitHub, bob.id).await,
        OrgStanding {
            projects: 2,
            admin_of: 1
        }
    );
    assert_eq!(
        standing("acm", Vcs::GitHub, bob.id).await,
        none,
        "no prefix matching"
    );
}

async fn projects_remove_member(store: Store) {
    let owner = create_user(&store, "owner").await;
    let bob = create_user(&store, "bob").await;
    let p = create_project(&store, "gh/acme/widgets", &owner).await;
    let q = create_project(&store, "gh/acme/gadgets", &owner).await;
    store
        .projects()
        .set_member(p.id, bob.id, Role::Write)
        .await
        .unwrap();
    store
        .projects()
        .set_member(q.id, bob.id, Role::Read)
        .await
        .unwrap();

    store
        .projects()
        .remove_member(p.id, bob.id)
        .await
        .expect("remove bob from p");
    assert_eq!(store.projects().role_of(p.id, bob.id).await.unwrap(), None);
    assert_eq!(
        store.projects().members(p.id).await.unwrap(),
        [Member {
            user: owner.clone(),
            role: Role::Admin
        }]
    );
    // Only that one membership went.
    assert_eq!(
        store.projects().role_of(q.id, bob.id).await.unwrap(),
        Some(Role::Read)
    );
    assert_eq!(
        store.projects().list_for_member(bob.id).await.unwrap(),
        [(q.clone(), Role::Read)]
    );

    let again = store.projects().remove_member(p.id, bob.id).await;
    assert!(
        matches!(again, Err(StoreError::NotFound(_))),
        "got {again:?}"
    );
    let stranger = create_user(&store, "stranger").await;
    let never = store.projects().remove_member(q.id, stranger.id).await;
    assert!(
        matches!(never, Err(StoreError::NotFound(_))),
        "got {never:?}"
    );
    let no_project = store
        .projects()
        .remove_member(p.id.max(q.id) + 1000, owner.id)
        .await;
    assert!(
        matches!(no_project, Err(StoreError::NotFound(_))),
        "got {no_project:?}"
    );

    // A removed member can be added back.
    store
        .projects()
        .set_member(p.id, bob.id, Role::Read)
        .await
        .unwrap();
    assert_eq!(
        store.projects().role_of(p.id, bob.id).await.unwrap(),
        Some(Role::Read)
    );
}

async fn follows_record_each_users_choice_per_project(store: Store) {
    let owner = create_user(&store, "owner").await;
    let amy = create_user(&store, "amy").await;
    let p = create_project(&store, "gh/acme/widgets", &owner).await;
    let q = create_project(&store, "gh/acme/gadgets", &owner).await;
    let follows = store.follows();
    assert!(follows.choices_of(amy.id).await.unwrap().is_empty());
    follows.set(amy.id, q.id, true).await.unwrap();
    follows.set(amy.id, p.id, false).await.unwrap();
    follows.set(owner.id, p.id, true).await.unwrap();
    let mut want = vec![(p.id, false), (q.id, true)];
    want.sort();
    assert_eq!(follows.choices_of(amy.id).await.unwrap(), want);
    // A second choice replaces the first.
    follows.set(amy.id, q.id, false).await.unwrap();
    let choices = follows.choices_of(amy.id).await.unwrap();
    assert!(
        choices.contains(&(q.id, false)) && choices.len() == 2,
        "{choices:?}"
    );
    assert_eq!(follows.choices_of(owner.id).await.unwrap(), [(p.id, true)]);
    // The user's public id finds them.
    assert_eq!(
        store.users().by_uuid(amy.uuid).await.unwrap().as_ref(),
        Some(&amy)
    );
    assert_eq!(
        store.users().by_uuid(uuid::Uuid::new_v4()).await.unwrap(),
        None
    );
}
