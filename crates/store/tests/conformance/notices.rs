//! Notices: made once per (token, kind, recipient) however often they are recorded; unread
//! newest first, an expiry notice only while its token exists; dismissed by their recipient
//! only; each email taken by one caller at a time and settled; pruned when old; tokens expiring
//! within a window found with their projects; all of it copied into the other backend.

use super::{create_project, create_user, new_personal_token, now_s, run};
use circlet_core::notice::{MailState, NoticeKind};
use circlet_core::scope::ProjectScope;
use circlet_core::token::{NewToken, TokenKind};
use circlet_store::testkit::TestDb;
use circlet_store::{NewNotice, NewTokenRecord, Store, TokenRecord};
use circlet_testkit::both_backends;
use time::{Duration, OffsetDateTime};

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    notices_are_made_once_per_token_kind_and_recipient,
    notices_unread_dismissed_and_gone_with_their_token,
    notices_emails_are_taken_once_and_settled,
    notices_old_ones_are_pruned_but_pending_emails_kept,
    notices_tokens_expiring_within_a_window_are_found,
);

fn notice(user_id: i64, token: &TokenRecord, kind: NoticeKind, mail: bool) -> NewNotice<'_> {
    NewNotice {
        user_id,
        token_uuid: token.uuid,
        kind,
        token_kind: token.kind,
        token_name: &token.name,
        token_last4: &token.last4,
        project_slug: "",
        expires_at: token.expires_at,
        detail: "",
        mail,
    }
}

async fn token_expiring(store: &Store, owner: i64, at: Option<OffsetDateTime>) -> TokenRecord {
    let alice = store.users().by_id(owner).await.unwrap().unwrap();
    let mut new = new_personal_token(&alice);
    new.expires_at = at;
    store.tokens().create(&new, None).await.unwrap()
}

async fn notices_are_made_once_per_token_kind_and_recipient(store: Store) {
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let t = token_expiring(&store, alice.id, Some(now_s() + Duration::days(6))).await;
    let made = store
        .notices()
        .record(&notice(alice.id, &t, NoticeKind::ExpiresInAWeek, true))
        .await
        .unwrap()
        .expect("made");
    assert_eq!(made.kind, NoticeKind::ExpiresInAWeek);
    assert_eq!(made.token_kind, TokenKind::Personal);
    assert_eq!(
        (made.token_name.as_str(), made.token_last4.as_str()),
        (t.name.as_str(), t.last4.as_str())
    );
    assert_eq!(made.expires_at, t.expires_at);
    assert_eq!(made.mail_state, MailState::Pending);
    assert_eq!((made.mail_attempts, made.mail_error.as_str()), (0, ""));
    assert_eq!(made.dismissed_at, None);
    assert_eq!(
        store.notices().by_uuid(made.uuid).await.unwrap(),
        Some(made.clone())
    );
    // The same again, as another replica's sweep would: nothing new.
    for _ in 0..2 {
        assert_eq!(
            store
                .notices()
                .record(&notice(alice.id, &t, NoticeKind::ExpiresInAWeek, true))
                .await
                .unwrap(),
            None
        );
    }
    // Another kind, or another recipient, is another notice; without email it is off.
    let day = store
        .notices()
        .record(&notice(alice.id, &t, NoticeKind::ExpiresInADay, false))
        .await
        .unwrap()
        .expect("another kind");
    assert_eq!(day.mail_state, MailState::Off);
    assert!(
        store
            .notices()
            .record(&notice(bob.id, &t, NoticeKind::ExpiresInAWeek, true))
            .await
            .unwrap()
            .is_some()
    );
    // Made at once from many tasks: exactly one wins.
    let other = token_expiring(&store, alice.id, None).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, other) = (store.clone(), other.clone());
        tasks.push(tokio::spawn(async move {
            store
                .notices()
                .record(&notice(alice.id, &other, NoticeKind::Revoked, true))
                .await
                .unwrap()
                .is_some()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}

async fn notices_unread_dismissed_and_gone_with_their_token(store: Store) {
    let alice = create_user(&store, "alice").await;
    let bob = create_user(&store, "bob").await;
    let kept = token_expiring(&store, alice.id, Some(now_s() + Duration::days(6))).await;
    let deleted = token_expiring(&store, alice.id, Some(now_s() + Duration::hours(5))).await;
    let leaked = token_expiring(&store, alice.id, None).await;
    let n = store.notices();
    let week = n
        .record(&notice(alice.id, &kept, NoticeKind::ExpiresInAWeek, false))
        .await
        .unwrap()
        .unwrap();
    let day = n
        .record(&notice(
            alice.id,
            &deleted,
            NoticeKind::ExpiresInADay,
            false,
        ))
        .await
        .unwrap()
        .unwrap();
    let mut revoked = notice(alice.id, &leaked, NoticeKind::Revoked, false);
    revoked.detail = "was printed in the output of build #1 of gh/acme/widgets";
    let revoked = n.record(&revoked).await.unwrap().unwrap();
    assert_eq!(
        revoked.detail,
        "was printed in the output of build #1 of gh/acme/widgets"
    );

    let uuids = |list: Vec<circlet_store::NoticeRecord>| {
        list.into_iter().map(|r| r.uuid).collect::<Vec<_>>()
    };
    assert_eq!(
        uuids(n.unread(alice.id, 50).await.unwrap()),
        [revoked.uuid, day.uuid, week.uuid],
        "newest first"
    );
    assert_eq!(
        uuids(n.unread(alice.id, 2).await.unwrap()),
        [revoked.uuid, day.uuid]
    );
    assert!(n.unread(bob.id, 50).await.unwrap().is_empty());

    // Once their tokens are gone, expiry notices no longer show; a revocation still does.
    store.tokens().delete(deleted.uuid).await.unwrap();
    store.tokens().delete(leaked.uuid).await.unwrap();
    assert_eq!(
        uuids(n.unread(alice.id, 50).await.unwrap()),
        [revoked.uuid, week.uuid]
    );

    // Only its recipient dismisses a notice, once.
    assert!(!n.dismiss(bob.id, week.uuid).await.unwrap());
    assert!(n.dismiss(alice.id, week.uuid).await.unwrap());
    assert!(
        !n.dismiss(alice.id, week.uuid).await.unwrap(),
        "already dismissed"
    );
    assert!(!n.dismiss(alice.id, uuid::Uuid::new_v4()).await.unwrap());
    assert_eq!(uuids(n.unread(alice.id, 50).await.unwrap()), [revoked.uuid]);
    let dismissed = n.by_uuid(week.uuid).await.unwrap().unwrap();
    assert!(dismissed.dismissed_at.is_some());
}

async fn notices_emails_are_taken_once_and_settled(store: Store) {
    let alice = create_user(&store, "alice").await;
    let t = token_expiring(&store, alice.id, Some(now_s() + Duration::days(6))).await;
    let n = store.notices();
    let pending = n
        .record(&notice(alice.id, &t, NoticeKind::ExpiresInAWeek, true))
        .await
        .unwrap()
        .unwrap();
    n.record(&notice(alice.id, &t, NoticeKind::ExpiresInADay, false))
        .await
        .unwrap()
        .unwrap();
    let now = now_s();
    assert!(
        n.mail_due(now - Duration::minutes(1), 10)
            .await
            .unwrap()
            .is_empty(),
        "not due before it was made"
    );
    let due = n.mail_due(now, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.uuid).collect::<Vec<_>>(),
        [pending.uuid],
        "only pending emails"
    );

    // Two replicas race for it: one takes it, and it is not due again until the lease ends.
    let lease = now + Duration::minutes(2);
    let (a, b) = tokio::join!(n.take_mail(&due[0], lease), n.take_mail(&due[0], lease));
    assert!(a.unwrap() ^ b.unwrap(), "exactly one takes it");
    assert!(n.mail_due(now, 10).await.unwrap().is_empty());
    let retaken = n.mail_due(lease, 10).await.unwrap();
    assert_eq!(retaken.len(), 1, "due again once the lease is over");
    assert_eq!(retaken[0].mail_attempts, 1);

    // A failed attempt: pending again, due at the next sweep, with why.
    n.settle_mail(pending.id, MailState::Pending, "connection refused", now)
        .await
        .unwrap();
    let again = n.mail_due(now, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].mail_error, "connection refused");
    assert!(n.take_mail(&again[0], lease).await.unwrap());
    n.settle_mail(pending.id, MailState::Sent, "", now)
        .await
        .unwrap();
    let sent = n.by_uuid(pending.uuid).await.unwrap().unwrap();
    assert_eq!(
        (
            sent.mail_state,
            sent.mail_attempts,
            sent.mail_error.as_str()
        ),
        (MailState::Sent, 2, "")
    );
    assert!(
        n.mail_due(lease + Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A stale take (its mail_next_at moved on) fails.
    assert!(!n.take_mail(&again[0], lease).await.unwrap());
}

async fn notices_old_ones_are_pruned_but_pending_emails_kept(store: Store) {
    let alice = create_user(&store, "alice").await;
    let t = token_expiring(&store, alice.id, None).await;
    let n = store.notices();
    let off = n
        .record(&notice(alice.id, &t, NoticeKind::ExpiresInAWeek, false))
        .await
        .unwrap()
        .unwrap();
    let pending = n
        .record(&notice(alice.id, &t, NoticeKind::Revoked, true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        n.prune(now_s() - Duration::days(1)).await.unwrap(),
        0,
        "nothing old yet"
    );
    assert_eq!(n.prune(now_s() + Duration::days(1)).await.unwrap(), 1);
    assert_eq!(n.by_uuid(off.uuid).await.unwrap(), None);
    assert!(
        n.by_uuid(pending.uuid).await.unwrap().is_some(),
        "its email is still to go"
    );
}

async fn notices_tokens_expiring_within_a_window_are_found(store: Store) {
    let alice = create_user(&store, "alice").await;
    let project = create_project(&store, "gh/acme/widgets", &alice).await;
    let now = now_s();
    let soon = token_expiring(&store, alice.id, Some(now + Duration::hours(20))).await;
    let later = token_expiring(&store, alice.id, Some(now + Duration::days(6))).await;
    token_expiring(&store, alice.id, Some(now + Duration::days(30))).await;
    token_expiring(&store, alice.id, Some(now - Duration::hours(1))).await;
    token_expiring(&store, alice.id, None).await;
    let value = NewToken::generate(TokenKind::Project);
    let project_token = store
        .tokens()
        .create(
            &NewTokenRecord {
                limits: Default::default(),
                kind: TokenKind::Project,
                digest: value.digest(),
                last4: value.last4(),
                name: "deploy".into(),
                user_id: None,
                project_id: Some(project.id),
                scope: Some(ProjectScope::All),
                created_by: Some(alice.id),
                expires_at: Some(now + Duration::days(3)),
            },
            None,
        )
        .await
        .unwrap();
    let value = NewToken::generate(TokenKind::Runner);
    store
        .tokens()
        .create(
            &NewTokenRecord {
                limits: Default::default(),
                kind: TokenKind::Runner,
                digest: value.digest(),
                last4: value.last4(),
                name: "runner".into(),
                user_id: None,
                project_id: None,
                scope: None,
                created_by: None,
                expires_at: Some(now + Duration::days(2)),
            },
            None,
        )
        .await
        .unwrap();

    let found = store
        .tokens()
        .expiring(now, now + Duration::days(7))
        .await
        .unwrap();
    let names: Vec<_> = found.iter().map(|e| e.token.uuid).collect();
    assert_eq!(
        names,
        [soon.uuid, project_token.uuid, later.uuid],
        "soonest first; no runner tokens"
    );
    assert_eq!(found[1].project_slug.as_deref(), Some("gh/acme/widgets"));
    assert_eq!(found[0].user_login.as_deref(), Some("alice"));
    // The window's start is exclusive, its end inclusive.
    let edge = store
        .tokens()
        .expiring(now, now + Duration::hours(20))
        .await
        .unwrap();
    assert_eq!(
        edge.iter().map(|e| e.token.uuid).collect::<Vec<_>>(),
        [soon.uuid]
    );
    assert!(
        store
            .tokens()
            .expiring(now + Duration::hours(20), now + Duration::days(2))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_are_copied_into_the_other_backend() {
    let (from, to) = (TestDb::sqlite(), TestDb::postgres().await);
    let source = from.store().await;
    let alice = create_user(&source, "alice").await;
    let t = token_expiring(&source, alice.id, Some(now_s() + Duration::days(2))).await;
    let mut new = notice(alice.id, &t, NoticeKind::Revoked, true);
    new.project_slug = "gh/acme/widgets";
    new.detail = "was found by secret scanning";
    let made = source.notices().record(&new).await.unwrap().unwrap();
    source
        .notices()
        .settle_mail(made.id, MailState::Pending, "timed out", made.mail_next_at)
        .await
        .unwrap();
    let made = source.notices().by_uuid(made.uuid).await.unwrap().unwrap();

    let target = Store::connect(&to.url).await.expect("connect");
    let report = source.copy_into(&target).await.expect("copy");
    assert_eq!(report.rows_in("token_notices"), 1, "{report:?}");
    assert_eq!(
        target.notices().by_uuid(made.uuid).await.unwrap(),
        Some(made.clone())
    );
    assert_eq!(target.notices().unread(alice.id, 10).await.unwrap(), [made]);
    source.close().await;
    target.close().await;
}
