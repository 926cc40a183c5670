//! Conformance cases for [`circlet_store::organizations`] and [`circlet_store::oidc_keys`]:
//! an organization per `vcs/org` made with its first project, found by name in any case and by
//! id, listed for its members; one current OIDC key, rotated in one transaction, the rotated
//! key published until forgotten, re-sealing by compare-and-set.

use super::{create_project, create_user, run};
use circlet_core::{Role, Vcs};
use circlet_store::Store;
use circlet_store::oidc_keys::NewOidcKey;
use circlet_testkit::both_backends;
use time::{Duration, OffsetDateTime};

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    oidc_an_organization_is_made_with_its_first_project_and_found_in_any_case,
    oidc_organizations_are_listed_for_their_projects_members,
    oidc_one_key_is_current_and_the_first_made_wins,
    oidc_rotation_retires_the_current_key_and_publishes_it_until_forgotten,
    oidc_reseal_replaces_only_a_key_still_as_read,
);

fn key<'a>(kid: &'a str, sealed: &'a [u8]) -> NewOidcKey<'a> {
    NewOidcKey {
        kid,
        algorithm: "ES256",
        public_jwk: "{}",
        sealed_private: sealed,
        seal_key_id: "env-1",
    }
}

async fn oidc_an_organization_is_made_with_its_first_project_and_found_in_any_case(store: Store) {
    let owner = create_user(&store, "owner").await;
    assert_eq!(
        store
            .organizations()
            .by_name(Vcs::GitHub, "acme")
            .await
            .unwrap(),
        None
    );
    create_project(&store, "gh/Acme/widgets", &owner).await;
    create_project(&store, "gh/acme/gadgets", &owner).await;
    create_project(&store, "bb/acme/widgets", &owner).await;
    let gh = store
        .organizations()
        .by_name(Vcs::GitHub, "ACME")
        .await
        .unwrap()
        .expect("made with gh/Acme/widgets");
    assert_eq!((gh.vcs, gh.name.as_str()), (Vcs::GitHub, "Acme"));
    let bb = store
        .organizations()
        .by_name(Vcs::Bitbucket, "acme")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(gh.uuid, bb.uuid, "one organization per VCS");
    assert_eq!(
        store.organizations().by_uuid(gh.uuid).await.unwrap(),
        Some(gh.clone())
    );
    // `ensure` finds what exists, and makes what does not.
    assert_eq!(
        store
            .organizations()
            .ensure(Vcs::GitHub, "acme")
            .await
            .unwrap(),
        gh
    );
    let new = store
        .organizations()
        .ensure(Vcs::GitHub, "other")
        .await
        .unwrap();
    assert_eq!(new.name, "other");
    assert_eq!(
        store
            .organizations()
            .ensure(Vcs::GitHub, "Other")
            .await
            .unwrap()
            .uuid,
        new.uuid
    );
}

async fn oidc_organizations_are_listed_for_their_projects_members(store: Store) {
    let owner = create_user(&store, "owner").await;
    let bob = create_user(&store, "bob").await;
    create_project(&store, "gh/zeta/one", &owner).await;
    let shared = create_project(&store, "gh/acme/two", &owner).await;
    create_project(&store, "gh/acme/three", &owner).await;
    let names = |orgs: Vec<circlet_store::Organization>| -> Vec<String> {
        orgs.into_iter().map(|o| o.name).collect()
    };
    assert_eq!(
        names(store.organizations().of_member(owner.id).await.unwrap()),
        ["acme", "zeta"]
    );
    assert!(
        store
            .organizations()
            .of_member(bob.id)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .projects()
        .set_member(shared.id, bob.id, Role::Read)
        .await
        .unwrap();
    assert_eq!(
        names(store.organizations().of_member(bob.id).await.unwrap()),
        ["acme"]
    );
}

async fn oidc_one_key_is_current_and_the_first_made_wins(store: Store) {
    let keys = store.oidc_keys();
    assert_eq!(keys.current().await.unwrap(), None);
    assert!(keys.create_first(&key("k1", b"one")).await.unwrap());
    assert!(!keys.create_first(&key("k2", b"two")).await.unwrap());
    let current = keys.current().await.unwrap().unwrap();
    assert_eq!(
        (current.kid.as_str(), current.sealed_private.as_slice()),
        ("k1", &b"one"[..])
    );
    assert_eq!(current.retired_at, None);
    let published = keys
        .published(OffsetDateTime::now_utc() - Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(published.len(), 1);
}

async fn oidc_rotation_retires_the_current_key_and_publishes_it_until_forgotten(store: Store) {
    let keys = store.oidc_keys();
    let long_ago = OffsetDateTime::now_utc() - Duration::hours(2);
    // Rotating with no key yet just makes one.
    assert_eq!(keys.rotate(&key("k1", b"1"), long_ago).await.unwrap(), None);
    assert_eq!(
        keys.rotate(&key("k2", b"2"), long_ago).await.unwrap(),
        Some("k1".to_owned())
    );
    assert_eq!(keys.current().await.unwrap().unwrap().kid, "k2");
    let kids = |r: Vec<circlet_store::OidcKeyRecord>| -> Vec<String> {
        r.into_iter().map(|k| k.kid).collect()
    };
    assert_eq!(kids(keys.published(long_ago).await.unwrap()), ["k2", "k1"]);
    // Published only while its retirement is recent enough.
    let soon = OffsetDateTime::now_utc() + Duration::minutes(1);
    assert_eq!(kids(keys.published(soon).await.unwrap()), ["k2"]);
    // A rotation forgets the keys retired before the bound it is given (here: both, k2 by
    // this very rotation), and keeps those retired after it.
    keys.rotate(&key("k3", b"3"), long_ago).await.unwrap();
    assert_eq!(
        kids(keys.published(long_ago).await.unwrap()),
        ["k3", "k2", "k1"]
    );
    keys.rotate(&key("k4", b"4"), soon).await.unwrap();
    assert_eq!(kids(keys.published(long_ago).await.unwrap()), ["k4"]);
    assert_eq!(
        kids(keys.sealed_by_other_keys("none").await.unwrap()),
        ["k4"]
    );
}

async fn oidc_reseal_replaces_only_a_key_still_as_read(store: Store) {
    let keys = store.oidc_keys();
    keys.create_first(&key("k1", b"old")).await.unwrap();
    let read = keys.sealed_by_other_keys("env-2").await.unwrap();
    assert_eq!(read.len(), 1);
    assert!(keys.sealed_by_other_keys("env-1").await.unwrap().is_empty());
    assert!(keys.reseal(&read[0], "env-2", b"new").await.unwrap());
    // Read before the re-seal: no longer as read.
    assert!(!keys.reseal(&read[0], "env-3", b"newer").await.unwrap());
    let current = keys.current().await.unwrap().unwrap();
    assert_eq!(
        (
            current.seal_key_id.as_str(),
            current.sealed_private.as_slice()
        ),
        ("env-2", &b"new"[..])
    );
}
