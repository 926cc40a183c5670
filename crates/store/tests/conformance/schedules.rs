//! Conformance cases for [`circlet_store::schedules`]: a schedule is unique per project, source
//! and name; listings page by id per source; the due ones come longest-due first; firing is a
//! compare-and-set on `next_run_at`, so of two replicas that read the same due time one fires;
//! a config's cron triggers are replaced per branch, keeping when an unchanged one is next due.

use super::{assert_whole_second_utc, create_project, create_user, now_s, run};
use circlet_store::schedules::{NewSchedule, ScheduleRecord, config_name};
use circlet_store::{Conflict, Missing, Project, Store, StoreError, User};
use circlet_testkit::both_backends;
use time::{Duration, OffsetDateTime, UtcOffset};
use uuid::Uuid;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    schedules_are_unique_per_project_source_and_name,
    schedules_update_replaces_values_and_refuses_a_taken_name,
    schedules_are_listed_per_project_and_source_by_id_and_deleted,
    schedules_due_lists_only_due_ones_longest_due_first,
    schedules_advance_moves_on_only_from_the_due_time_read,
    schedules_concurrent_advances_from_one_due_time_fire_once,
    schedules_timestamps_are_stored_as_whole_utc_seconds,
    schedules_config_schedules_are_replaced_per_branch,
);

// ---------------------------------------------------------------------------------------------
// Inputs

/// A store's owner and two projects.
async fn projects(store: &Store) -> (User, Project, Project) {
    let owner = create_user(store, "owner").await;
    let p = create_project(store, "gh/acme/widgets", &owner).await;
    let q = create_project(store, "gh/acme/gadgets", &owner).await;
    (owner, p, q)
}

/// A fixed instant plus `secs` seconds (whole seconds, UTC).
fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_900_000_000 + secs).expect("a valid time")
}

/// An API v2 schedule of `project_id` named `name`, first due at `next`.
fn api(project_id: i64, name: &str, next: Option<OffsetDateTime>) -> NewSchedule<'_> {
    NewSchedule {
        project_id,
        source: "api",
        name,
        description: "nightly build",
        timetable: r#"{"per-hour":1,"hours-of-day":[3],"days-of-week":["MON"]}"#,
        parameters: r#"{"deploy":true}"#,
        branch: Some("main"),
        tag: None,
        workflow: None,
        actor_id: None,
        actor_login: "system",
        next_run_at: next,
    }
}

async fn create(store: &Store, new: &NewSchedule<'_>) -> ScheduleRecord {
    store
        .schedules()
        .create(new)
        .await
        .unwrap_or_else(|e| panic!("create {}: {e:?}", new.name))
}

async fn by_uuid(store: &Store, s: &ScheduleRecord) -> Option<ScheduleRecord> {
    store.schedules().by_uuid(s.uuid).await.unwrap()
}

fn ids(list: &[ScheduleRecord]) -> Vec<i64> {
    list.iter().map(|s| s.id).collect()
}

fn names(list: &[ScheduleRecord]) -> Vec<&str> {
    list.iter().map(|s| s.name.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Creating, updating, listing, deleting

async fn schedules_are_unique_per_project_source_and_name(store: Store) {
    let (owner, p, q) = projects(&store).await;
    let from = now_s();
    let mut new = api(p.id, "nightly", Some(at(60)));
    new.tag = Some("v1.0");
    new.actor_id = Some(owner.id);
    new.actor_login = "owner";
    let made = create(&store, &new).await;
    assert_eq!(made.project_id, p.id);
    assert_eq!(
        (
            made.source.as_str(),
            made.name.as_str(),
            made.description.as_str(),
            made.timetable.as_str(),
            made.parameters.as_str(),
        ),
        (
            "api",
            "nightly",
            "nightly build",
            new.timetable,
            r#"{"deploy":true}"#
        )
    );
    assert_eq!(
        (
            made.branch.as_deref(),
            made.tag.as_deref(),
            made.workflow.as_deref()
        ),
        (Some("main"), Some("v1.0"), None)
    );
    assert_eq!(
        (made.actor_id, made.actor_login.as_str()),
        (Some(owner.id), "owner")
    );
    assert_eq!((made.next_run_at, made.last_run_at), (Some(at(60)), None));
    assert_whole_second_utc("created_at", made.created_at, from, now_s());
    assert_eq!(made.updated_at, made.created_at);
    assert_eq!(by_uuid(&store, &made).await, Some(made.clone()));
    assert_eq!(
        store.schedules().by_uuid(Uuid::new_v4()).await.unwrap(),
        None
    );

    // The same name again in the project and source, whatever else differs.
    let mut again = api(p.id, "nightly", None);
    again.description = "another";
    let err = store.schedules().create(&again).await;
    assert!(
        matches!(err, Err(StoreError::Conflict(Conflict::Duplicate))),
        "got {err:?}"
    );
    // Names are compared exactly; other sources and projects have names of their own.
    let upper = create(&store, &api(p.id, "Nightly", None)).await;
    let config = create(
        &store,
        &NewSchedule {
            source: "config",
            workflow: Some("build"),
            ..api(p.id, "nightly", None)
        },
    )
    .await;
    let elsewhere = create(&store, &api(q.id, "nightly", None)).await;
    let all = [made.id, upper.id, config.id, elsewhere.id];
    assert!(all.windows(2).all(|w| w[0] < w[1]), "ids grow: {all:?}");
    let uuids: std::collections::BTreeSet<Uuid> =
        [made.uuid, upper.uuid, config.uuid, elsewhere.uuid]
            .into_iter()
            .collect();
    assert_eq!(uuids.len(), 4);
    assert_eq!(config.workflow.as_deref(), Some("build"));
    // The refused creation left nothing behind.
    let listed = store
        .schedules()
        .of_project(p.id, "api", 0, 100)
        .await
        .unwrap();
    assert_eq!(listed, [made, upper]);
    // A source is `api` or `config`.
    let bad = store
        .schedules()
        .create(&NewSchedule {
            source: "cron",
            ..api(p.id, "bad", None)
        })
        .await;
    assert!(bad.is_err(), "an unknown source is refused: {bad:?}");
}

async fn schedules_update_replaces_values_and_refuses_a_taken_name(store: Store) {
    let (owner, p, q) = projects(&store).await;
    let first = create(&store, &api(p.id, "first", Some(at(0)))).await;
    let second = create(&store, &api(p.id, "second", Some(at(10)))).await;
    let theirs = create(&store, &api(q.id, "renamed", None)).await;

    let from = now_s();
    let new = NewSchedule {
        // Neither the project nor the source changes by an update.
        project_id: q.id,
        source: "config",
        name: "renamed",
        description: "weekly",
        timetable: r#"{"per-hour":2}"#,
        parameters: "{}",
        branch: None,
        tag: Some("v2"),
        workflow: None,
        actor_id: Some(owner.id),
        actor_login: "owner",
        next_run_at: Some(at(3600)),
    };
    let updated = store.schedules().update(first.id, &new).await.unwrap();
    assert_whole_second_utc("updated_at", updated.updated_at, from, now_s());
    let expected = ScheduleRecord {
        name: "renamed".into(),
        description: "weekly".into(),
        timetable: r#"{"per-hour":2}"#.into(),
        parameters: "{}".into(),
        branch: None,
        tag: Some("v2".into()),
        actor_id: Some(owner.id),
        actor_login: "owner".into(),
        next_run_at: Some(at(3600)),
        updated_at: updated.updated_at,
        ..first.clone()
    };
    assert_eq!(updated, expected);
    assert_eq!(by_uuid(&store, &first).await, Some(expected.clone()));

    // The name of another schedule of the project is taken; the other project's is not.
    let taken = NewSchedule {
        name: "second",
        ..api(p.id, "second", None)
    };
    let err = store.schedules().update(first.id, &taken).await;
    assert!(
        matches!(err, Err(StoreError::Conflict(Conflict::Duplicate))),
        "got {err:?}"
    );
    assert_eq!(by_uuid(&store, &first).await, Some(expected.clone()));
    assert_eq!(by_uuid(&store, &second).await, Some(second.clone()));
    assert_eq!(by_uuid(&store, &theirs).await, Some(theirs));

    // Keeping its own name is no conflict.
    let same = store
        .schedules()
        .update(second.id, &api(p.id, "second", None))
        .await
        .unwrap();
    assert_eq!((same.id, same.next_run_at), (second.id, None));

    let gone = store
        .schedules()
        .update(second.id + 1000, &api(p.id, "x", None))
        .await;
    assert!(
        matches!(gone, Err(StoreError::NotFound(Missing::Schedule))),
        "got {gone:?}"
    );
    assert!(store.schedules().delete(second.id).await.unwrap());
    let deleted = store
        .schedules()
        .update(second.id, &api(p.id, "second", None))
        .await;
    assert!(
        matches!(deleted, Err(StoreError::NotFound(Missing::Schedule))),
        "got {deleted:?}"
    );
}

async fn schedules_are_listed_per_project_and_source_by_id_and_deleted(store: Store) {
    let (_, p, q) = projects(&store).await;
    let mut made = Vec::new();
    for i in 0..5 {
        let name = format!("api-{i}");
        made.push(create(&store, &api(p.id, &name, None)).await);
        // Config schedules and another project's interleave with them.
        let config = NewSchedule {
            source: "config",
            ..api(p.id, &name, None)
        };
        create(&store, &config).await;
        create(&store, &api(q.id, &name, None)).await;
    }
    let schedules = store.schedules();
    let page = schedules.of_project(p.id, "api", 0, 2).await.unwrap();
    assert_eq!(page, made[..2]);
    let page = schedules
        .of_project(p.id, "api", page[1].id, 2)
        .await
        .unwrap();
    assert_eq!(page, made[2..4]);
    let page = schedules
        .of_project(p.id, "api", page[1].id, 2)
        .await
        .unwrap();
    assert_eq!(page, made[4..]);
    assert!(
        schedules
            .of_project(p.id, "api", made[4].id, 2)
            .await
            .unwrap()
            .is_empty()
    );
    let all = schedules.of_project(p.id, "api", 0, 100).await.unwrap();
    assert_eq!(all, made);
    let config = schedules.of_project(p.id, "config", 0, 100).await.unwrap();
    assert_eq!(
        names(&config),
        ["api-0", "api-1", "api-2", "api-3", "api-4"]
    );
    assert!(
        config
            .iter()
            .all(|s| s.source == "config" && s.project_id == p.id)
    );
    assert!(config.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    let theirs = schedules.of_project(q.id, "api", 0, 100).await.unwrap();
    assert_eq!(theirs.len(), 5);
    assert!(theirs.iter().all(|s| s.project_id == q.id));
    assert!(
        schedules
            .of_project(q.id, "config", 0, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // Deleting removes one schedule, once.
    assert!(schedules.delete(made[2].id).await.unwrap());
    assert!(!schedules.delete(made[2].id).await.unwrap());
    assert_eq!(by_uuid(&store, &made[2]).await, None);
    let left = schedules.of_project(p.id, "api", 0, 100).await.unwrap();
    assert_eq!(ids(&left), [made[0].id, made[1].id, made[3].id, made[4].id]);
    assert_eq!(
        schedules.of_project(p.id, "config", 0, 100).await.unwrap(),
        config
    );
    assert_eq!(
        schedules.of_project(q.id, "api", 0, 100).await.unwrap(),
        theirs
    );
}

// ---------------------------------------------------------------------------------------------
// Firing

async fn schedules_due_lists_only_due_ones_longest_due_first(store: Store) {
    let (_, p, q) = projects(&store).await;
    let later = create(&store, &api(p.id, "later", Some(at(1)))).await;
    let now = create(&store, &api(p.id, "now", Some(at(0)))).await;
    let never = create(&store, &api(p.id, "never", None)).await;
    let oldest = create(&store, &api(q.id, "oldest", Some(at(-120)))).await;
    let old = create(&store, &api(p.id, "old", Some(at(-60)))).await;
    // Due at the same time as `old`, made after it.
    let tie = create(&store, &api(q.id, "tie", Some(at(-60)))).await;

    let schedules = store.schedules();
    let due = schedules.due(at(0), 100).await.unwrap();
    assert_eq!(ids(&due), [oldest.id, old.id, tie.id, now.id]);
    assert_eq!(due[0], oldest, "the whole record");
    assert_eq!(
        ids(&schedules.due(at(0), 2).await.unwrap()),
        [oldest.id, old.id]
    );
    assert!(schedules.due(at(-121), 100).await.unwrap().is_empty());
    assert_eq!(
        ids(&schedules.due(at(-60), 100).await.unwrap()),
        [oldest.id, old.id, tie.id]
    );
    let far = schedules.due(at(86_400 * 365), 100).await.unwrap();
    assert_eq!(ids(&far), [oldest.id, old.id, tie.id, now.id, later.id]);
    assert!(
        !ids(&far).contains(&never.id),
        "a schedule without a next run never is due"
    );
    // Moved on, a schedule is due no longer.
    assert!(
        schedules
            .advance(old.id, at(-60), Some(at(3600)), Some(at(-60)))
            .await
            .unwrap()
    );
    assert_eq!(
        ids(&schedules.due(at(0), 100).await.unwrap()),
        [oldest.id, tie.id, now.id]
    );
}

async fn schedules_advance_moves_on_only_from_the_due_time_read(store: Store) {
    let (_, p, _) = projects(&store).await;
    let s = create(&store, &api(p.id, "hourly", Some(at(0)))).await;
    let schedules = store.schedules();

    // Not the due time it has.
    assert!(
        !schedules
            .advance(s.id, at(1), Some(at(3600)), Some(at(0)))
            .await
            .unwrap()
    );
    assert_eq!(by_uuid(&store, &s).await, Some(s.clone()));
    // Fired: moved on, its last run noted.
    assert!(
        schedules
            .advance(s.id, at(0), Some(at(3600)), Some(at(5)))
            .await
            .unwrap()
    );
    let fired = by_uuid(&store, &s).await.unwrap();
    assert_eq!(
        (fired.next_run_at, fired.last_run_at),
        (Some(at(3600)), Some(at(5)))
    );
    assert_eq!(
        ScheduleRecord {
            next_run_at: s.next_run_at,
            last_run_at: s.last_run_at,
            ..fired.clone()
        },
        s,
        "only the run times change"
    );
    // A replica that read the old due time is too late.
    assert!(
        !schedules
            .advance(s.id, at(0), Some(at(3600)), Some(at(6)))
            .await
            .unwrap()
    );
    assert_eq!(by_uuid(&store, &s).await, Some(fired));
    // A missed run moves on without a last run: the last one stays.
    assert!(
        schedules
            .advance(s.id, at(3600), Some(at(7200)), None)
            .await
            .unwrap()
    );
    let skipped = by_uuid(&store, &s).await.unwrap();
    assert_eq!(
        (skipped.next_run_at, skipped.last_run_at),
        (Some(at(7200)), Some(at(5)))
    );
    // The last run: it never fires again.
    assert!(
        schedules
            .advance(s.id, at(7200), None, Some(at(7200)))
            .await
            .unwrap()
    );
    let done = by_uuid(&store, &s).await.unwrap();
    assert_eq!((done.next_run_at, done.last_run_at), (None, Some(at(7200))));
    assert!(
        schedules
            .due(at(86_400 * 365), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !schedules
            .advance(s.id, at(7200), Some(at(9000)), None)
            .await
            .unwrap()
    );
    // Nothing to advance.
    assert!(
        !schedules
            .advance(s.id + 1000, at(0), Some(at(1)), None)
            .await
            .unwrap()
    );
}

async fn schedules_concurrent_advances_from_one_due_time_fire_once(store: Store) {
    let (_, p, _) = projects(&store).await;
    let s = create(&store, &api(p.id, "racy", Some(at(0)))).await;
    let schedules = store.schedules();
    for round in 0..10 {
        let due = at(round * 60);
        let next = Some(at((round + 1) * 60));
        let (a, b, c) = tokio::join!(
            schedules.advance(s.id, due, next, Some(due)),
            schedules.advance(s.id, due, next, Some(due)),
            schedules.advance(s.id, due, next, Some(due)),
        );
        let won = [a.unwrap(), b.unwrap(), c.unwrap()];
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: exactly one replica fires: {won:?}"
        );
        let now = by_uuid(&store, &s).await.unwrap();
        assert_eq!((now.next_run_at, now.last_run_at), (next, Some(due)));
    }
}

async fn schedules_timestamps_are_stored_as_whole_utc_seconds(store: Store) {
    let (_, p, _) = projects(&store).await;
    // Half a second past at(0), written at UTC+02:00.
    let fraction =
        (at(0) + Duration::milliseconds(500)).to_offset(UtcOffset::from_hms(2, 0, 0).unwrap());
    let made = create(&store, &api(p.id, "fraction", Some(fraction))).await;
    assert_eq!(made.next_run_at, Some(at(0)));
    let read = by_uuid(&store, &made).await.unwrap();
    let next = read.next_run_at.unwrap();
    assert_eq!(next, at(0));
    assert_eq!(next.offset(), UtcOffset::UTC);
    assert_eq!(next.nanosecond(), 0);
    // Due from the whole second on, however precise the clock asking.
    let schedules = store.schedules();
    assert!(
        schedules
            .due(at(0) - Duration::milliseconds(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(ids(&schedules.due(fraction, 10).await.unwrap()), [made.id]);
    assert_eq!(
        ids(&schedules
            .due(at(0) + Duration::milliseconds(999), 10)
            .await
            .unwrap()),
        [made.id]
    );
    // The due time as read moves it on; the one it was given, with its fraction, too.
    let (fired_next, fired_at) = (
        at(60) + Duration::milliseconds(250),
        at(1) + Duration::milliseconds(900),
    );
    assert!(
        schedules
            .advance(made.id, next, Some(fired_next), Some(fired_at))
            .await
            .unwrap()
    );
    let fired = by_uuid(&store, &made).await.unwrap();
    assert_eq!(
        (fired.next_run_at, fired.last_run_at),
        (Some(at(60)), Some(at(1)))
    );
    assert!(
        schedules
            .advance(made.id, fired_next, Some(at(120)), None)
            .await
            .unwrap()
    );
    // Updated with a fraction: stored without it.
    let mut new = api(p.id, "fraction", Some(fraction));
    new.next_run_at = Some(at(500) + Duration::milliseconds(999));
    let updated = store.schedules().update(made.id, &new).await.unwrap();
    assert_eq!(updated.next_run_at, Some(at(500)));
    assert_eq!(
        by_uuid(&store, &made).await.unwrap().next_run_at,
        Some(at(500))
    );
}

// ---------------------------------------------------------------------------------------------
// A config's cron triggers

async fn schedules_config_schedules_are_replaced_per_branch(store: Store) {
    let (_, p, q) = projects(&store).await;
    let schedules = store.schedules();
    let entry = |workflow: &str, cron: &str, next: i64| {
        (workflow.to_owned(), cron.to_owned(), Some(at(next)))
    };
    // An API schedule on the branch, and another project's config schedules of the same branch.
    let api_one = create(
        &store,
        &api(
            p.id,
            &config_name("main", "build", "0 * * * *"),
            Some(at(0)),
        ),
    )
    .await;
    schedules
        .set_config_schedules(q.id, "main", &[entry("build", "0 * * * *", 0)], "system")
        .await
        .unwrap();
    let theirs = schedules.of_project(q.id, "config", 0, 100).await.unwrap();
    assert_eq!(theirs.len(), 1);

    let from = now_s();
    schedules
        .set_config_schedules(
            p.id,
            "main",
            &[
                entry("build", "0 * * * *", 3600),
                entry("deploy", "0 0 * * *", 86_400),
            ],
            "alice",
        )
        .await
        .unwrap();
    schedules
        .set_config_schedules(p.id, "dev", &[entry("build", "*/5 * * * *", 300)], "bob")
        .await
        .unwrap();
    let made = schedules.of_project(p.id, "config", 0, 100).await.unwrap();
    assert_eq!(
        names(&made),
        [
            "main:build:0 * * * *",
            "main:deploy:0 0 * * *",
            "dev:build:*/5 * * * *"
        ]
    );
    let build = made[0].clone();
    assert_eq!(build.name, config_name("main", "build", "0 * * * *"));
    assert_eq!(
        (
            build.project_id,
            build.source.as_str(),
            build.description.as_str(),
            build.timetable.as_str(),
            build.parameters.as_str(),
        ),
        (p.id, "config", "", "0 * * * *", "{}")
    );
    assert_eq!(
        (
            build.branch.as_deref(),
            build.tag.as_deref(),
            build.workflow.as_deref(),
            build.actor_id,
            build.actor_login.as_str(),
        ),
        (Some("main"), None, Some("build"), None, "alice")
    );
    assert_eq!(
        (build.next_run_at, build.last_run_at),
        (Some(at(3600)), None)
    );
    assert_whole_second_utc("created_at", build.created_at, from, now_s());
    assert_eq!(made[2].actor_login, "bob");
    assert_eq!(made[2].next_run_at, Some(at(300)));
    assert_eq!(by_uuid(&store, &build).await, Some(build.clone()));

    // It fires; then the branch's next pipeline has `build` unchanged, `deploy` gone and
    // `test` new.
    assert!(
        schedules
            .advance(build.id, at(3600), Some(at(7200)), Some(at(3600)))
            .await
            .unwrap()
    );
    let fired = by_uuid(&store, &build).await.unwrap();
    schedules
        .set_config_schedules(
            p.id,
            "main",
            &[
                entry("build", "0 * * * *", 99_999),
                entry("test", "30 * * * *", 1800),
            ],
            "carol",
        )
        .await
        .unwrap();
    let now = schedules.of_project(p.id, "config", 0, 100).await.unwrap();
    assert_eq!(
        names(&now),
        [
            "main:build:0 * * * *",
            "dev:build:*/5 * * * *",
            "main:test:30 * * * *"
        ]
    );
    assert_eq!(
        now[0], fired,
        "an unchanged schedule keeps its row and its next run"
    );
    assert_eq!(now[1], made[2], "another branch's are left alone");
    assert_eq!(
        (
            now[2].workflow.as_deref(),
            now[2].next_run_at,
            now[2].actor_login.as_str()
        ),
        (Some("test"), Some(at(1800)), "carol")
    );
    assert_eq!(
        by_uuid(&store, &made[1]).await,
        None,
        "a dropped one is gone"
    );

    // A changed cron is a schedule of its own: the old one goes.
    schedules
        .set_config_schedules(p.id, "main", &[entry("build", "15 * * * *", 900)], "carol")
        .await
        .unwrap();
    let changed = schedules.of_project(p.id, "config", 0, 100).await.unwrap();
    assert_eq!(
        names(&changed),
        ["dev:build:*/5 * * * *", "main:build:15 * * * *"]
    );
    assert_eq!(changed[1].next_run_at, Some(at(900)));
    assert!(changed[1].id > now[2].id);

    // No triggers left on the branch: its schedules go, the rest stay.
    schedules
        .set_config_schedules(p.id, "main", &[], "carol")
        .await
        .unwrap();
    assert_eq!(
        schedules.of_project(p.id, "config", 0, 100).await.unwrap(),
        [made[2].clone()]
    );
    assert_eq!(
        schedules.of_project(p.id, "api", 0, 100).await.unwrap(),
        [api_one],
        "API schedules are never replaced by a config's"
    );
    assert_eq!(
        schedules.of_project(q.id, "config", 0, 100).await.unwrap(),
        theirs
    );
}
