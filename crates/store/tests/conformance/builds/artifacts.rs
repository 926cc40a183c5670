//! Artifacts of jobs: recording (and replacing) uploads, listing, paging, sizes, the latest per
//! branch, and rows that go with their job.

use super::*;
use circlet_core::artifact_path::ArtifactPath;
use circlet_store::NewArtifact;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    artifacts_record_list_and_get,
    artifacts_reupload_replaces_the_row_and_its_size,
    artifacts_pages_and_sizes_are_per_job,
    artifacts_latest_per_branch_skips_jobs_without_artifacts,
    artifacts_of_an_unknown_job_are_refused,
);

fn art(job_id: i64, path: &str, size: i64) -> NewArtifact {
    NewArtifact {
        job_id,
        node_index: 0,
        path: ArtifactPath::parse(path).unwrap(),
        size,
        content_type: "text/plain".into(),
        sha256: format!("{size:064x}"),
        store_etag: Some(format!("etag-{size}")),
    }
}

async fn artifacts_record_list_and_get(store: Store) {
    let from = now_s();
    let fx = fx(store).await;
    let job = one_job(&fx.store, fx.project.id, "main").await;
    let a = fx.store.artifacts();
    assert!(a.of_job(job.id).await.unwrap().is_empty());
    for (path, size) in [("z.txt", 1), ("a/b/c.log", 20), ("a/b.txt", 300)] {
        a.record(&art(job.id, path, size)).await.unwrap();
    }
    let all = a.of_job(job.id).await.unwrap();
    let paths: Vec<&str> = all.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["a/b.txt", "a/b/c.log", "z.txt"], "sorted by path");
    let one = a
        .get(job.id, 0, &ArtifactPath::parse("a/b/c.log").unwrap())
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(one.size, 20);
    assert_eq!(one.job_id, job.id);
    assert_eq!(one.node_index, 0);
    assert_eq!(one.content_type, "text/plain");
    assert_eq!(one.sha256, format!("{:064x}", 20));
    assert_eq!(one.store_etag.as_deref(), Some("etag-20"));
    assert_whole_second_utc("artifact.created_at", one.created_at, from, now_s());
    assert!(
        a.get(job.id, 1, &one.path).await.unwrap().is_none(),
        "another node"
    );
    assert!(
        a.get(job.id, 0, &ArtifactPath::parse("a/b").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

async fn artifacts_reupload_replaces_the_row_and_its_size(store: Store) {
    let fx = fx(store).await;
    let job = one_job(&fx.store, fx.project.id, "main").await;
    let a = fx.store.artifacts();
    a.record(&art(job.id, "out.bin", 10)).await.unwrap();
    let mut again = art(job.id, "out.bin", 7);
    again.store_etag = None;
    let second = a.record(&again).await.unwrap();
    assert_eq!(second.size, 7);
    assert_eq!(second.store_etag, None);
    let all = a.of_job(job.id).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].size, 7);
    assert_eq!(a.bytes_of_job(job.id, None).await.unwrap(), 7);
}

async fn artifacts_pages_and_sizes_are_per_job(store: Store) {
    let fx = fx(store).await;
    let job = one_job(&fx.store, fx.project.id, "main").await;
    let other = one_job(&fx.store, fx.other.id, "main").await;
    let a = fx.store.artifacts();
    for i in 0..5 {
        a.record(&art(job.id, &format!("f{i}"), 1000 + i))
            .await
            .unwrap();
    }
    a.record(&art(other.id, "f0", 5_000_000_000)).await.unwrap();
    assert_eq!(
        a.bytes_of_job(job.id, None).await.unwrap(),
        1000 + 1001 + 1002 + 1003 + 1004
    );
    assert_eq!(
        a.bytes_of_job(job.id, Some(&ArtifactPath::parse("f4").unwrap()))
            .await
            .unwrap(),
        1000 + 1001 + 1002 + 1003
    );
    assert_eq!(
        a.bytes_of_job(other.id, None).await.unwrap(),
        5_000_000_000,
        "sizes beyond 32 bits"
    );
    let first = a.page_of_job(job.id, None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let second = a.page_of_job(job.id, Some(first[1].id), 2).await.unwrap();
    let third = a.page_of_job(job.id, Some(second[1].id), 2).await.unwrap();
    let names: Vec<&str> = first
        .iter()
        .chain(&second)
        .chain(&third)
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(names, ["f0", "f1", "f2", "f3", "f4"]);
    assert!(
        a.page_of_job(job.id, Some(third[0].id), 2)
            .await
            .unwrap()
            .is_empty()
    );
    let none = one_job(&fx.store, fx.project.id, "main").await;
    assert_eq!(a.bytes_of_job(none.id, None).await.unwrap(), 0);
}

async fn artifacts_latest_per_branch_skips_jobs_without_artifacts(store: Store) {
    let fx = fx(store).await;
    let a = fx.store.artifacts();
    let p = fx.project.id;
    let main1 = one_job(&fx.store, p, "main").await;
    let feature = one_job(&fx.store, p, "feature").await;
    let main2 = one_job(&fx.store, p, "main").await;
    let _main3_without = one_job(&fx.store, p, "main").await;
    let _bare_branch = one_job(&fx.store, p, "bare").await;
    let elsewhere = one_job(&fx.store, fx.other.id, "main").await;
    for j in [&main1, &feature, &main2, &elsewhere] {
        a.record(&art(j.id, "x", 1)).await.unwrap();
    }
    let latest = a.latest_per_branch(p, 10).await.unwrap();
    assert_eq!(
        latest,
        vec![
            ("main".to_owned(), main2.build_num),
            ("feature".to_owned(), feature.build_num)
        ]
    );
    assert_eq!(a.latest_per_branch(p, 1).await.unwrap().len(), 1);
}

async fn artifacts_of_an_unknown_job_are_refused(store: Store) {
    let fx = fx(store).await;
    let e = fx
        .store
        .artifacts()
        .record(&art(987_654, "x", 1))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
}
