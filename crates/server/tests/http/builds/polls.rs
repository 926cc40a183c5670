//! Polling (issue 15, item 3): a repository that cannot send webhooks is asked for its heads on
//! the project's interval, by one replica; the first poll only notes the heads, later ones
//! build new and moved branch heads and new tags as pushes, under the project's settings.

use super::Fx;
use crate::app::TestApp;
use circlet_app::Caller;
use circlet_testkit::both_backends;
use time::OffsetDateTime;

both_backends! {
    setup = TestApp::spawn;

    async fn polls_build_moved_heads_and_new_tags_once_across_replicas(app) {
        let fx = Fx::new(app).await;
        let admin = Caller::Session(fx.user.clone());
        fx.app.state.app.set_poll_interval(&admin, &fx.project.slug, Some(300)).await.unwrap();
        let other = fx.app.replica().await;
        let now = OffsetDateTime::now_utc() + time::Duration::seconds(1);

        // The first poll notes main and builds nothing.
        let first = fx.app.state.app.poll_due(now).await.unwrap();
        assert!(first.is_empty());
        assert!(fx.pipelines().await.is_empty());
        // Not due again until the interval passed.
        assert!(fx.app.state.app.poll_due(now + time::Duration::seconds(60)).await.unwrap().is_empty());

        let feature = fx.repo.commit_on("feature", &[("f", "1")], "a feature");
        fx.repo.tag("v1.0.0");
        let later = now + time::Duration::seconds(301);
        let (a, b) = tokio::join!(
            fx.app.state.app.poll_due(later),
            other.state.app.poll_due(later),
        );
        let started = a.unwrap().len() + b.unwrap().len();
        assert_eq!(started, 2, "one replica polled and built the branch and the tag");
        let made = fx.pipelines().await;
        assert_eq!(made.len(), 2);
        assert!(made.iter().any(|p| p["vcs"]["branch"] == "feature" && p["vcs"]["revision"] == feature.as_str()));
        assert!(made.iter().any(|p| p["vcs"]["tag"] == "v1.0.0"));
        assert!(made.iter().all(|p| p["trigger"]["type"] == "webhook" && p["trigger"]["actor"]["login"] == "poll"));

        // Nothing moved: nothing built.
        assert!(fx.app.state.app.poll_due(later + time::Duration::seconds(301)).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn polling_follows_the_project_s_settings_and_its_interval_is_bounded() {
    let fx = Fx::new(TestApp::spawn(circlet_store::BackendKind::Sqlite).await).await;
    let admin = Caller::Session(fx.user.clone());
    for bad in [Some(59), Some(86_401)] {
        let e = fx
            .app
            .state
            .app
            .set_poll_interval(&admin, &fx.project.slug, bad)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("1 to 1440 minutes"), "{e}");
    }
    fx.app
        .state
        .app
        .set_poll_interval(&admin, &fx.project.slug, Some(60))
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    fx.app.state.app.poll_due(now).await.unwrap();
    // Only build pull requests is on: a branch head alone builds nothing; main does.
    let caller = Caller::Session(fx.user.clone());
    let hooks = fx
        .app
        .state
        .app
        .webhooks(&caller, &fx.project.slug)
        .await
        .unwrap();
    hooks
        .set_build_settings(circlet_core::forge::decide::BuildSettings {
            build_prs_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    fx.repo.commit_on("wip", &[("w", "1")], "wip");
    let main = fx.repo.commit(&[("m", "1")], "main moves [skip ci]");
    let later = now + time::Duration::seconds(61);
    assert!(
        fx.app.state.app.poll_due(later).await.unwrap().is_empty(),
        "wip is not built, main asked to be skipped"
    );
    let main2 = fx.repo.commit(&[("m", "2")], "main again");
    let made = fx
        .app
        .state
        .app
        .poll_due(later + time::Duration::seconds(61))
        .await
        .unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].revision, main2);
    assert_ne!(main, main2);

    // A writer may not turn polling on or off; turning it off stops it.
    let writer = fx.app.user("wes", false).await;
    fx.app
        .store
        .projects()
        .set_member(fx.project.id, writer.id, circlet_core::Role::Write)
        .await
        .unwrap();
    let wes = Caller::Session(writer);
    assert!(
        fx.app
            .state
            .app
            .set_poll_interval(&wes, &fx.project.slug, None)
            .await
            .is_err()
    );
    fx.app
        .state
        .app
        .set_poll_interval(&admin, &fx.project.slug, None)
        .await
        .unwrap();
    fx.repo.commit(&[("m", "3")], "unpolled");
    assert!(
        fx.app
            .state
            .app
            .poll_due(later + time::Duration::days(1))
            .await
            .unwrap()
            .is_empty()
    );
}
