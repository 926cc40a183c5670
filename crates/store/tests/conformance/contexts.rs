//! Conformance cases for [`circlet_store::contexts`]: contexts named once per organization,
//! their sealed variables (replaced in place, keeping when they were first set), restrictions
//! (each once), everything gone with the context, re-sealing by compare-and-set; and the
//! organization queries contexts rely on (member roles, projects).

use super::{create_project, create_user, run};
use circlet_core::context::RestrictionKind;
use circlet_core::{Role, Vcs};
use circlet_store::{Conflict, Missing, NewEnvVar, Store, StoreError};
use circlet_testkit::both_backends;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    contexts_are_named_once_per_organization,
    contexts_keep_sealed_variables_replaced_in_place,
    contexts_restrictions_are_kept_once_and_removed_by_id,
    contexts_deleting_one_takes_its_variables_and_restrictions,
    contexts_reseal_replaces_only_a_value_still_as_read,
    contexts_organizations_know_their_members_roles_and_projects,
);

fn sealed(name: &str, key_id: &str, bytes: &[u8]) -> NewEnvVar {
    NewEnvVar {
        name: name.into(),
        key_id: key_id.into(),
        sealed: bytes.to_vec(),
        masked: "xxxx1234".into(),
    }
}

async fn org(store: &Store, org: &str) -> i64 {
    store
        .organizations()
        .ensure(Vcs::GitHub, org)
        .await
        .unwrap()
        .id
}

async fn contexts_are_named_once_per_organization(store: Store) {
    let (acme, other) = (org(&store, "acme").await, org(&store, "other").await);
    let made = store.contexts().create(acme, "deploy").await.unwrap();
    assert_eq!((made.org_id, made.name.as_str()), (acme, "deploy"));
    assert!(matches!(
        store.contexts().create(acme, "deploy").await.unwrap_err(),
        StoreError::Conflict(Conflict::Context(ref n)) if n == "deploy"
    ));
    // Another organization, or another spelling, is another context.
    store.contexts().create(other, "deploy").await.unwrap();
    store.contexts().create(acme, "Deploy").await.unwrap();
    store.contexts().create(acme, "aws").await.unwrap();
    let names: Vec<String> = store
        .contexts()
        .list(acme)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Deploy", "aws", "deploy"]);
    assert_eq!(
        store.contexts().by_uuid(made.uuid).await.unwrap(),
        Some(made.clone())
    );
    assert_eq!(
        store.contexts().by_name(acme, "deploy").await.unwrap(),
        Some(made)
    );
    assert_eq!(
        store.contexts().by_name(acme, "DEPLOY").await.unwrap(),
        None
    );
}

async fn contexts_keep_sealed_variables_replaced_in_place(store: Store) {
    let acme = org(&store, "acme").await;
    let c = store.contexts().create(acme, "deploy").await.unwrap();
    let first = store
        .contexts()
        .set_var(c.id, &sealed("TOKEN", "k1", b"one"))
        .await
        .unwrap();
    store
        .contexts()
        .set_var(c.id, &sealed("A_KEY", "k1", b"a"))
        .await
        .unwrap();
    let again = store
        .contexts()
        .set_var(c.id, &sealed("TOKEN", "k2", b"two"))
        .await
        .unwrap();
    assert_eq!(again.created_at, first.created_at, "first set is kept");
    assert!(again.updated_at >= first.updated_at);
    let vars = store.contexts().vars(c.id).await.unwrap();
    let seen: Vec<(&str, &str, &[u8])> = vars
        .iter()
        .map(|v| (v.name.as_str(), v.key_id.as_str(), v.sealed.as_slice()))
        .collect();
    assert_eq!(
        seen,
        [("A_KEY", "k1", &b"a"[..]), ("TOKEN", "k2", &b"two"[..])]
    );
    assert!(store.contexts().delete_var(c.id, "TOKEN").await.unwrap());
    assert!(!store.contexts().delete_var(c.id, "TOKEN").await.unwrap());
    assert_eq!(store.contexts().vars(c.id).await.unwrap().len(), 1);
    // A context deleted meanwhile is missing, not a database failure.
    store.contexts().delete(c.id).await.unwrap();
    assert!(matches!(
        store
            .contexts()
            .set_var(c.id, &sealed("LATE", "k1", b"x"))
            .await
            .unwrap_err(),
        StoreError::NotFound(Missing::Context)
    ));
}

async fn contexts_restrictions_are_kept_once_and_removed_by_id(store: Store) {
    let acme = org(&store, "acme").await;
    let c = store.contexts().create(acme, "deploy").await.unwrap();
    let p = "6f1e2a3b-0000-4000-8000-000000000001";
    let by_project = store
        .contexts()
        .restrict(c.id, RestrictionKind::Project, p)
        .await
        .unwrap();
    let by_role = store
        .contexts()
        .restrict(c.id, RestrictionKind::Role, "write")
        .await
        .unwrap();
    assert!(matches!(
        store
            .contexts()
            .restrict(c.id, RestrictionKind::Role, "write")
            .await
            .unwrap_err(),
        StoreError::Conflict(Conflict::Restriction)
    ));
    let listed = store.contexts().restrictions(c.id).await.unwrap();
    assert_eq!(listed, [by_project.clone(), by_role.clone()]);
    assert_eq!(
        (listed[0].kind, listed[0].value.as_str()),
        (RestrictionKind::Project, p)
    );
    assert!(
        store
            .contexts()
            .unrestrict(c.id, by_project.uuid)
            .await
            .unwrap()
    );
    assert!(
        !store
            .contexts()
            .unrestrict(c.id, by_project.uuid)
            .await
            .unwrap()
    );
    let other = store.contexts().create(acme, "other").await.unwrap();
    assert!(
        !store
            .contexts()
            .unrestrict(other.id, by_role.uuid)
            .await
            .unwrap(),
        "only the context's own"
    );
    assert_eq!(
        store.contexts().restrictions(c.id).await.unwrap(),
        [by_role]
    );
    store.contexts().delete(c.id).await.unwrap();
    assert!(matches!(
        store
            .contexts()
            .restrict(c.id, RestrictionKind::Role, "read")
            .await
            .unwrap_err(),
        StoreError::NotFound(Missing::Context)
    ));
}

async fn contexts_deleting_one_takes_its_variables_and_restrictions(store: Store) {
    let acme = org(&store, "acme").await;
    let c = store.contexts().create(acme, "deploy").await.unwrap();
    store
        .contexts()
        .set_var(c.id, &sealed("TOKEN", "k1", b"one"))
        .await
        .unwrap();
    store
        .contexts()
        .restrict(c.id, RestrictionKind::Role, "admin")
        .await
        .unwrap();
    assert!(store.contexts().delete(c.id).await.unwrap());
    assert!(!store.contexts().delete(c.id).await.unwrap());
    assert_eq!(store.contexts().by_uuid(c.uuid).await.unwrap(), None);
    assert!(store.contexts().vars(c.id).await.unwrap().is_empty());
    assert!(
        store
            .contexts()
            .restrictions(c.id)
            .await
            .unwrap()
            .is_empty()
    );
    // The name is free again.
    store.contexts().create(acme, "deploy").await.unwrap();
}

async fn contexts_reseal_replaces_only_a_value_still_as_read(store: Store) {
    let acme = org(&store, "acme").await;
    let c = store.contexts().create(acme, "deploy").await.unwrap();
    for name in ["A", "B"] {
        store
            .contexts()
            .set_var(c.id, &sealed(name, "old", name.as_bytes()))
            .await
            .unwrap();
    }
    store
        .contexts()
        .set_var(c.id, &sealed("C", "new", b"c"))
        .await
        .unwrap();
    let todo = store
        .contexts()
        .vars_sealed_by_other_keys("new", 10)
        .await
        .unwrap();
    let names: Vec<(&str, uuid::Uuid)> =
        todo.iter().map(|(_, u, v)| (v.name.as_str(), *u)).collect();
    assert_eq!(names, [("A", c.uuid), ("B", c.uuid)]);
    // B changes meanwhile: its re-seal is skipped.
    store
        .contexts()
        .set_var(c.id, &sealed("B", "old", b"b2"))
        .await
        .unwrap();
    assert!(
        store
            .contexts()
            .reseal_var(c.id, &todo[0].2, "new", b"A'")
            .await
            .unwrap()
    );
    assert!(
        !store
            .contexts()
            .reseal_var(c.id, &todo[1].2, "new", b"B'")
            .await
            .unwrap()
    );
    let left = store
        .contexts()
        .vars_sealed_by_other_keys("new", 10)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].2.sealed, b"b2");
}

async fn contexts_organizations_know_their_members_roles_and_projects(store: Store) {
    let owner = create_user(&store, "owner").await;
    let dev = create_user(&store, "dev").await;
    let api = create_project(&store, "gh/Acme/api", &owner).await;
    let web = create_project(&store, "gh/acme/web", &owner).await;
    create_project(&store, "gh/other/api", &owner).await;
    store
        .projects()
        .set_member(api.id, dev.id, Role::Read)
        .await
        .unwrap();
    store
        .projects()
        .set_member(web.id, dev.id, Role::Write)
        .await
        .unwrap();
    let acme = org(&store, "acme").await;
    let mut roles = store
        .organizations()
        .member_roles(acme, dev.id)
        .await
        .unwrap();
    roles.sort();
    assert_eq!(roles, [Role::Read, Role::Write]);
    let other = org(&store, "other").await;
    assert!(
        store
            .organizations()
            .member_roles(other, dev.id)
            .await
            .unwrap()
            .is_empty()
    );
    let projects = store.organizations().projects(acme).await.unwrap();
    let seen: Vec<(i64, uuid::Uuid, &str)> = projects
        .iter()
        .map(|(id, u, s)| (*id, *u, s.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (api.id, api.uuid, "gh/Acme/api"),
            (web.id, web.uuid, "gh/acme/web")
        ]
    );
    assert_eq!(
        store
            .organizations()
            .by_id(acme)
            .await
            .unwrap()
            .map(|o| o.name),
        Some("Acme".to_owned())
    );
}
