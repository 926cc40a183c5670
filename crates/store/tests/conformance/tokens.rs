//! API tokens under concurrent writes: the personal-token cap, and usage that is never lost.

use super::{create_user, new_personal_token, now_s, run};
use circlet_store::{Conflict, Store, StoreError, UsageUpdate};
use circlet_testkit::both_backends;
use time::Duration;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    tokens_personal_cap_holds_when_creations_race,
    tokens_usage_is_recorded_while_others_write,
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
