//! Leaks: scanners' reports are recorded once by their body's digest, tokens revoked as leaked
//! are remembered by digest, and both survive `migrate-store`'s copy into the other backend.

use super::run;
use circlet_core::token::{NewToken, TokenKind};
use circlet_store::Store;
use circlet_store::testkit::TestDb;
use circlet_testkit::both_backends;

both_backends!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    run = run;
    leaks_a_report_is_recorded_once,
    leaks_leaked_tokens_are_remembered_once,
);

async fn leaks_a_report_is_recorded_once(store: Store) {
    let (a, b) = ([1u8; 32], [2u8; 32]);
    let leaks = store.leaks();
    assert!(!leaks.report_seen(&a).await.unwrap());
    assert!(leaks.record_report(&a, 3, 2).await.unwrap());
    assert!(leaks.report_seen(&a).await.unwrap());
    assert!(!leaks.report_seen(&b).await.unwrap(), "another body");
    // The same report again: not recorded a second time.
    assert!(!leaks.record_report(&a, 3, 0).await.unwrap());
    assert!(leaks.record_report(&b, 0, 0).await.unwrap());
}

async fn leaks_leaked_tokens_are_remembered_once(store: Store) {
    let leaked = NewToken::generate(TokenKind::Project);
    let other = NewToken::generate(TokenKind::Project);
    let leaks = store.leaks();
    assert!(!leaks.was_leaked(&leaked.digest()).await.unwrap());
    leaks
        .remember(&leaked.digest(), TokenKind::Project)
        .await
        .unwrap();
    leaks
        .remember(&leaked.digest(), TokenKind::Project)
        .await
        .expect("remembering twice is no error");
    assert!(leaks.was_leaked(&leaked.digest()).await.unwrap());
    assert!(!leaks.was_leaked(&other.digest()).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaks_are_copied_into_the_other_backend() {
    let (from, to) = (TestDb::sqlite(), TestDb::postgres().await);
    let source = from.store().await;
    let token = NewToken::generate(TokenKind::Personal);
    source
        .leaks()
        .remember(&token.digest(), TokenKind::Personal)
        .await
        .unwrap();
    source.leaks().record_report(&[7; 32], 1, 1).await.unwrap();

    let target = Store::connect(&to.url).await.expect("connect");
    let report = source.copy_into(&target).await.expect("copy");
    assert_eq!(report.rows_in("leak_reports"), 1, "{report:?}");
    assert_eq!(report.rows_in("leaked_tokens"), 1, "{report:?}");
    assert!(target.leaks().was_leaked(&token.digest()).await.unwrap());
    assert!(target.leaks().report_seen(&[7; 32]).await.unwrap());
    // A replay after the move is still refused.
    assert!(!target.leaks().record_report(&[7; 32], 1, 0).await.unwrap());
    source.close().await;
    target.close().await;
}
