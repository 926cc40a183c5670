//! Conformance cases for [`circlet_store::env_vars`]: set (and overwrite), list, get, delete,
//! the rotation queries, and that projects never see each other's variables.

use super::{assert_whole_second_utc, create_project, create_user, now_s, run};
use circlet_store::{NewEnvVar, Store};
use circlet_testkit::both_backends;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    env_vars_set_overwrites_and_lists_by_name,
    env_vars_get_and_delete_are_per_project,
    env_vars_rotation_finds_and_reseals_only_unchanged_rows,
);

fn var(name: &str, key: &str, sealed: &[u8]) -> NewEnvVar {
    NewEnvVar {
        name: name.into(),
        key_id: key.into(),
        sealed: sealed.to_vec(),
        masked: format!("xxxx{name}"),
    }
}

async fn env_vars_set_overwrites_and_lists_by_name(store: Store) {
    let owner = create_user(&store, "owner").await;
    let p = create_project(&store, "gh/acme/widgets", &owner).await;
    let vars = store.env_vars();
    let from = now_s();
    vars.set(p.id, &var("ZED", "k1", b"\x00\x01z"))
        .await
        .unwrap();
    let first = vars.set(p.id, &var("ALPHA", "k1", b"a1")).await.unwrap();
    assert_whole_second_utc("created_at", first.created_at, from, now_s());
    let again = vars.set(p.id, &var("ALPHA", "k2", b"a2")).await.unwrap();
    assert_eq!(again.sealed, b"a2");
    assert_eq!(again.key_id, "k2");
    let list = vars.list(p.id).await.unwrap();
    let names: Vec<&str> = list.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["ALPHA", "ZED"]);
    assert_eq!(list[1].sealed, b"\x00\x01z", "binary values round-trip");
    assert_eq!(list[0].masked, "xxxxALPHA");
}

async fn env_vars_get_and_delete_are_per_project(store: Store) {
    let owner = create_user(&store, "owner").await;
    let p = create_project(&store, "gh/acme/widgets", &owner).await;
    let q = create_project(&store, "gh/acme/gadgets", &owner).await;
    let vars = store.env_vars();
    vars.set(p.id, &var("TOKEN", "k1", b"p")).await.unwrap();
    vars.set(q.id, &var("TOKEN", "k1", b"q")).await.unwrap();
    assert_eq!(vars.get(p.id, "TOKEN").await.unwrap().unwrap().sealed, b"p");
    assert_eq!(vars.get(q.id, "TOKEN").await.unwrap().unwrap().sealed, b"q");
    assert!(
        vars.get(p.id, "token").await.unwrap().is_none(),
        "names are case-sensitive"
    );
    assert!(vars.delete(p.id, "TOKEN").await.unwrap());
    assert!(!vars.delete(p.id, "TOKEN").await.unwrap());
    assert!(vars.get(p.id, "TOKEN").await.unwrap().is_none());
    assert_eq!(
        vars.list(q.id).await.unwrap().len(),
        1,
        "the other project keeps its own"
    );
}

async fn env_vars_rotation_finds_and_reseals_only_unchanged_rows(store: Store) {
    let owner = create_user(&store, "owner").await;
    let p = create_project(&store, "gh/acme/widgets", &owner).await;
    let vars = store.env_vars();
    vars.set(p.id, &var("A", "old", b"a")).await.unwrap();
    vars.set(p.id, &var("B", "old", b"b")).await.unwrap();
    vars.set(p.id, &var("C", "new", b"c")).await.unwrap();
    let todo = vars.sealed_by_other_keys("new", 10).await.unwrap();
    let names: Vec<&str> = todo.iter().map(|(_, v)| v.name.as_str()).collect();
    assert_eq!(names, ["A", "B"]);
    assert!(todo.iter().all(|(pid, _)| *pid == p.id));
    assert_eq!(vars.sealed_by_other_keys("new", 1).await.unwrap().len(), 1);
    // B is set again (under the old key) between the rotation's read and its write: the
    // rotation must not overwrite the newer value.
    vars.set(p.id, &var("B", "old", b"b2")).await.unwrap();
    assert!(vars.reseal(p.id, &todo[0].1, "new", b"A!").await.unwrap());
    assert!(!vars.reseal(p.id, &todo[1].1, "new", b"B!").await.unwrap());
    assert_eq!(vars.get(p.id, "A").await.unwrap().unwrap().sealed, b"A!");
    assert_eq!(vars.get(p.id, "B").await.unwrap().unwrap().sealed, b"b2");
    let left = vars.sealed_by_other_keys("new", 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1.name, "B");
}
