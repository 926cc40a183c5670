//! Caches and workspace layers: a key saved once per project, prefixes finding the newest, what
//! is older than the project's retention neither found nor kept, layers per workflow, usage.

use super::*;
use circlet_store::{NewCache, NewLayer, Saved};

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    caches_are_saved_once_and_found_by_prefix,
    expired_caches_and_layers_are_taken_by_retention,
);

fn cache<'a>(project_id: i64, key: &'a str, object: &'a str, build_num: i64) -> NewCache<'a> {
    NewCache {
        project_id,
        cache_key: key,
        object,
        size: 10 * build_num,
        build_num,
    }
}

async fn caches_are_saved_once_and_found_by_prefix(store: Store) {
    let fx = fx(store).await;
    let c = fx.store.caches();
    let p = fx.project.id;
    let long_ago = time::OffsetDateTime::UNIX_EPOCH;
    assert_eq!(c.retention_days(p).await.unwrap(), 15);
    let stored = |s: Saved| matches!(s, Saved::Stored { replaced: None });
    assert!(stored(
        c.record(&cache(p, "deps-main-a", "o1", 1), long_ago)
            .await
            .unwrap()
    ));
    assert_eq!(
        c.record(&cache(p, "deps-main-a", "o2", 2), long_ago)
            .await
            .unwrap(),
        Saved::Exists,
        "a saved key is never replaced"
    );
    // Keys with LIKE's wildcards are prefixes like any other.
    assert!(stored(
        c.record(&cache(p, "deps-%_x", "o3", 3), long_ago)
            .await
            .unwrap()
    ));
    assert!(stored(
        c.record(&cache(fx.other.id, "deps-main-z", "o4", 4), long_ago)
            .await
            .unwrap()
    ));

    let find = |keys: &[&str]| {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        let c = fx.store.caches();
        async move {
            c.find(p, &keys, long_ago)
                .await
                .unwrap()
                .map(|r| r.cache_key)
        }
    };
    assert_eq!(find(&["deps-main-a"]).await.as_deref(), Some("deps-main-a"));
    assert_eq!(
        find(&["nope", "deps-main-"]).await.as_deref(),
        Some("deps-main-a"),
        "the other project's is not found"
    );
    assert_eq!(find(&["deps-%"]).await.as_deref(), Some("deps-%_x"));
    assert_eq!(find(&["deps-_"]).await, None, "`_` is no wildcard");
    // The newest of several matches.
    assert!(stored(
        c.record(&cache(p, "deps-main-b", "o5", 5), long_ago)
            .await
            .unwrap()
    ));
    let newest = c
        .find(p, &["deps-main-".into()], long_ago)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newest.cache_key, "deps-main-b");
    assert_eq!(
        (newest.object.as_str(), newest.size, newest.build_num),
        ("o5", 50, 5)
    );
    assert_eq!(c.by_id(newest.id).await.unwrap().unwrap(), newest);
    assert!(c.exact(p, "deps-main-", long_ago).await.unwrap().is_none());
    assert!(c.exact(p, "deps-main-b", long_ago).await.unwrap().is_some());
    // Only what is newer than `since` is alive.
    let later = time::OffsetDateTime::now_utc() + Duration::days(1);
    assert!(c.find(p, &["deps-".into()], later).await.unwrap().is_none());
    let usage = c.usage(p).await.unwrap();
    assert_eq!((usage.caches, usage.cache_bytes), (3, 10 + 30 + 50));
}

async fn expired_caches_and_layers_are_taken_by_retention(store: Store) {
    let fx = fx(store).await;
    let c = fx.store.caches();
    let job = one_job(&fx.store, fx.project.id, "main").await;
    let long_ago = time::OffsetDateTime::UNIX_EPOCH;
    c.record(&cache(fx.project.id, "a", "cache-a", 1), long_ago)
        .await
        .unwrap();
    c.record(&cache(fx.other.id, "b", "cache-b", 1), long_ago)
        .await
        .unwrap();
    let layer = c
        .record_layer(&NewLayer {
            project_id: fx.project.id,
            workflow_id: job.workflow_id,
            job_id: job.id,
            object: "layer-1",
            size: 7,
        })
        .await
        .unwrap();
    assert_eq!(
        c.layers_of_workflow(job.workflow_id, long_ago)
            .await
            .unwrap(),
        vec![layer.clone()]
    );
    assert_eq!(c.usage(fx.project.id).await.unwrap().layer_bytes, 7);
    c.set_retention_days(fx.other.id, 30).await.unwrap();
    assert_eq!(c.retention_days(fx.other.id).await.unwrap(), 30);

    let now = time::OffsetDateTime::now_utc();
    assert!(
        c.take_expired(now, 100).await.unwrap().is_empty(),
        "nothing is old yet"
    );
    // 16 days on: the default 15-day retention has passed, the other project's 30 days not.
    let mut taken = c.take_expired(now + Duration::days(16), 100).await.unwrap();
    taken.sort();
    assert_eq!(taken, ["cache-a", "layer-1"]);
    assert!(
        c.layers_of_workflow(job.workflow_id, long_ago)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        c.take_expired(now + Duration::days(31), 1).await.unwrap(),
        ["cache-b"]
    );

    // An expired key is saved anew, replacing the old row, whose object the caller deletes.
    c.record(&cache(fx.project.id, "k", "old", 1), long_ago)
        .await
        .unwrap();
    let since = now + Duration::days(1);
    assert_eq!(
        c.record(&cache(fx.project.id, "k", "new", 2), since)
            .await
            .unwrap(),
        Saved::Stored {
            replaced: Some("old".into())
        }
    );
}
