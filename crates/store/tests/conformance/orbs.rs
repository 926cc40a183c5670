//! Conformance cases for [`circlet_store::orbs`]: publishing versions, refusing a version twice,
//! versions newest first, each orb's newest version, a version's source.

use super::{now_s, run};
use circlet_store::{Conflict, NewOrb, Store, StoreError};
use circlet_testkit::both_backends;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    orbs_publish_once_and_list_newest_first,
);

fn orb<'a>(ns: &'a str, name: &'a str, v: (i64, i64, i64), source: &'a str) -> NewOrb<'a> {
    NewOrb {
        namespace: ns,
        name,
        version: v,
        source,
        digest: "d1",
        published_by: "admin-cli",
    }
}

async fn orbs_publish_once_and_list_newest_first(store: Store) {
    let orbs = store.orbs();
    let from = now_s();
    let first = orbs
        .publish(&orb("acme", "node", (1, 2, 3), "version: 2.1\n"))
        .await
        .unwrap();
    assert_eq!((first.major, first.minor, first.patch), (1, 2, 3));
    assert!(first.published_at >= from);
    // Versions compare as numbers, not text: 1.10.0 is newer than 1.9.9.
    orbs.publish(&orb("acme", "node", (1, 10, 0), "ten"))
        .await
        .unwrap();
    orbs.publish(&orb("acme", "node", (1, 9, 9), "nine"))
        .await
        .unwrap();
    orbs.publish(&orb("acme", "go", (0, 1, 0), "go"))
        .await
        .unwrap();
    let again = orbs.publish(&orb("acme", "node", (1, 2, 3), "other")).await;
    assert!(
        matches!(&again, Err(StoreError::Conflict(Conflict::OrbVersion(v))) if v == "acme/node@1.2.3"),
        "{again:?}"
    );
    let versions: Vec<(i64, i64, i64)> = orbs
        .versions("acme", "node")
        .await
        .unwrap()
        .iter()
        .map(|r| (r.major, r.minor, r.patch))
        .collect();
    assert_eq!(versions, [(1, 10, 0), (1, 9, 9), (1, 2, 3)]);
    assert!(orbs.versions("acme", "nope").await.unwrap().is_empty());
    let latest: Vec<(String, i64)> = orbs
        .latest()
        .await
        .unwrap()
        .iter()
        .map(|r| (r.name.clone(), r.minor))
        .collect();
    assert_eq!(latest, [("go".to_owned(), 1), ("node".to_owned(), 10)]);
    assert_eq!(
        orbs.source("acme", "node", (1, 2, 3))
            .await
            .unwrap()
            .as_deref(),
        Some("version: 2.1\n"),
        "the first publication stands"
    );
    assert_eq!(orbs.source("acme", "node", (2, 0, 0)).await.unwrap(), None);
}
