//! API tokens under concurrent writes: the personal-token cap, and usage that is never lost;
//! fine-grained personal tokens' limits and the projects a token was used on.

use super::{create_project, create_user, new_personal_token, now_s, run};
use circlet_core::Role;
use circlet_core::token_limits::{LimitOrganization, LimitProject, Reach, TokenLimits};
use circlet_store::{Conflict, Store, StoreError, TokenRecord, UsageUpdate};
use circlet_testkit::both_backends;
use time::Duration;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    tokens_personal_cap_holds_when_creations_race,
    tokens_usage_is_recorded_while_others_write,
    tokens_keep_their_limits_everywhere_they_are_read,
    tokens_remember_the_projects_they_were_used_on,
);

async fn tokens_personal_cap_holds_when_creations_race(store: Store) {
    let alice = create_user(&store, "alice").await;
    let racers: Vec<_> = (0..12)
        .map(|_| {
            let (store, new) = (store.clone(), new_personal_token(&alice));
            tokio::spawn(async move { store.tokens().create(&new, Some(5)).await })
        })
        .collect();
    let mut made = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => made += 1,
            Err(StoreError::Conflict(Conflict::TokenCap(cap))) => assert_eq!(cap, 5),
            Err(e) => panic!("a creation over the cap is a conflict, not {e:?}"),
        }
    }
    assert_eq!(made, 5, "exactly the cap is created");
    let tokens = store.tokens().list_personal(alice.id).await.unwrap();
    assert_eq!(tokens.len(), 5);
}

async fn tokens_usage_is_recorded_while_others_write(store: Store) {
    let alice = create_user(&store, "alice").await;
    let used = store
        .tokens()
        .create(&new_personal_token(&alice), None)
        .await
        .unwrap();
    for round in 0..20 {
        let batch = [UsageUpdate {
            token_id: used.id,
            at: Some(now_s()),
            addresses: vec![format!("10.0.0.{round}")],
            kinds: vec![("me".into(), 1)],
            projects: vec![],
        }];
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let (store, new) = (store.clone(), new_personal_token(&alice));
                tokio::spawn(async move { store.tokens().create(&new, None).await })
            })
            .collect();
        store
            .tokens()
            .record_usage(&batch)
            .await
            .unwrap_or_else(|e| panic!("round {round}: use lost to a concurrent write: {e:?}"));
        for w in writers {
            w.await.unwrap().unwrap();
        }
    }
    let usage = store
        .tokens()
        .usage(used.id, now_s() - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].count, 20, "every round's use was written");
}

/// Every way a token is read back, for `record`'s id.
async fn read_back(store: &Store, record: &TokenRecord, owner_id: i64) -> Vec<TokenRecord> {
    let tokens = store.tokens();
    let by_uuid = tokens.by_uuid(record.uuid).await.unwrap().unwrap();
    let listed = tokens.list_personal(owner_id).await.unwrap();
    let inventory = tokens.inventory().await.unwrap();
    vec![
        by_uuid,
        listed.into_iter().find(|t| t.id == record.id).unwrap(),
        inventory
            .into_iter()
            .map(|e| e.token)
            .find(|t| t.id == record.id)
            .unwrap(),
    ]
}

async fn tokens_keep_their_limits_everywhere_they_are_read(store: Store) {
    let alice = create_user(&store, "alice").await;
    let api = create_project(&store, "gh/acme/api", &alice).await;
    let web = create_project(&store, "gh/acme/web", &alice).await;
    let acme = store
        .organizations()
        .by_name(circlet_core::Vcs::GitHub, "ACME")
        .await
        .unwrap()
        .expect("made with its first project");
    let cases = [
        TokenLimits::NONE,
        TokenLimits {
            reach: Reach::Everywhere,
            ceiling: Some(Role::Write),
        },
        TokenLimits {
            // Sorted by slug when read back.
            reach: Reach::Projects(vec![
                LimitProject {
                    id: web.id,
                    slug: web.slug.clone(),
                },
                LimitProject {
                    id: api.id,
                    slug: api.slug.clone(),
                },
            ]),
            ceiling: Some(Role::Read),
        },
        TokenLimits {
            reach: Reach::Organization(LimitOrganization {
                id: acme.id,
                vcs: acme.vcs,
                name: acme.name.clone(),
            }),
            ceiling: None,
        },
    ];
    for limits in cases {
        let mut new = new_personal_token(&alice);
        new.limits = limits.clone();
        let made = store.tokens().create(&new, None).await.unwrap();
        let mut want = limits.clone();
        if let Reach::Projects(list) = &mut want.reach {
            list.sort_by_key(|p| p.slug.key());
        }
        assert_eq!(made.limits.ceiling, want.ceiling);
        for read in read_back(&store, &made, alice.id).await {
            assert_eq!(read.limits, want, "read back as made");
        }
        let by_digest = store
            .tokens()
            .by_digest(&new.digest)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_digest.limits, want);

        // A replacement carries the limits it is given, in the same transaction.
        let mut next = new_personal_token(&alice);
        next.limits = made.limits.clone();
        let replaced = store.tokens().replace(made.uuid, &next).await.unwrap();
        for read in read_back(&store, &replaced, alice.id).await {
            assert_eq!(read.limits, want, "replaced");
        }
        assert!(store.tokens().by_uuid(made.uuid).await.unwrap().is_none());
        // Deleting takes its project list along (the foreign key cascades).
        store.tokens().delete(replaced.uuid).await.unwrap().unwrap();
        assert!(
            store
                .tokens()
                .by_uuid(replaced.uuid)
                .await
                .unwrap()
                .is_none()
        );
    }
}

async fn tokens_remember_the_projects_they_were_used_on(store: Store) {
    let alice = create_user(&store, "alice").await;
    let api = create_project(&store, "gh/acme/api", &alice).await;
    let web = create_project(&store, "gh/acme/web", &alice).await;
    let token = store
        .tokens()
        .create(&new_personal_token(&alice), None)
        .await
        .unwrap();
    let since = now_s() - Duration::hours(1);
    assert!(
        store
            .tokens()
            .projects_used(token.id, since)
            .await
            .unwrap()
            .is_empty()
    );
    let batch = |projects: Vec<i64>| UsageUpdate {
        token_id: token.id,
        at: Some(now_s()),
        addresses: vec![],
        kinds: vec![("builds".into(), 1)],
        projects,
    };
    store
        .tokens()
        .record_usage(&[batch(vec![api.id])])
        .await
        .unwrap();
    // A project id that is not there (deleted since the request) is skipped, not a lost batch.
    store
        .tokens()
        .record_usage(&[batch(vec![web.id, api.id, i64::from(i32::MAX)])])
        .await
        .unwrap();
    let mut used = store.tokens().projects_used(token.id, since).await.unwrap();
    used.sort_unstable();
    assert_eq!(used, [api.id, web.id], "each once");
    let usage = store.tokens().usage(token.id, since).await.unwrap();
    assert_eq!(
        usage[0].count, 2,
        "the kinds of the same batches were written"
    );
    assert!(
        store
            .tokens()
            .projects_used(token.id, now_s() + Duration::hours(1))
            .await
            .unwrap()
            .is_empty(),
        "only uses since the moment asked"
    );
}
