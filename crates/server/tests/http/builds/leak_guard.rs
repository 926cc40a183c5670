//! The leak guard: a live token printed by a job is revoked, masked in the stored output and
//! audited; a string that only looks like a token is left alone.

use super::{Fx, SLUG, id_of};
use crate::both_backends;
use crate::tokens::{INVALID, one_char_changed};
use circlet_store::AuditScope;
use serde_json::json;

both_backends! {
    async fn builds_leak_guard_revokes_and_masks_a_printed_token(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let (leaked, record) = fx.app.personal_token_expiring(&fx.user, None).await;
        fx.get_as(&leaked, "/api/v1.1/me").await.status_is(200);
        // Same shape, wrong checksum: not a token, so neither masked nor looked up.
        let fake = one_char_changed(&leaked, leaked.len() - 1);
        assert_ne!(fake, leaked);

        fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        let job = runner.claim_some().await;
        let id = id_of(&job);
        runner.start_step(id, 0, "print", Some("env")).await;
        runner.output(id, 0, &format!("TOKEN={leaked}\nFAKE={fake}\n")).await;
        runner.finish_step(id, 0, "success", Some(0)).await;
        runner.finish(id, "success").await;

        fx.get_as(&leaked, "/api/v1.1/me").await.is(401, INVALID);
        fx.get("/api/v1.1/me").await.status_is(200);

        let b = fx.build(1).await;
        let url = b["steps"][0]["actions"][0]["output_url"].as_str().unwrap();
        let out = fx.get(url.strip_prefix(&fx.app.url).unwrap()).await;
        let message = out.body[0]["message"].as_str().unwrap();
        assert_eq!(message, format!("TOKEN=********\nFAKE={fake}\n"));
        assert!(!out.text.contains(&leaked));

        let log = fx.app.store.audit().list(AuditScope::All, 100).await.unwrap();
        let entry = log.iter().find(|e| e.event == "token.leaked").expect("a token.leaked entry");
        assert_eq!(entry.token_uuid, Some(record.uuid));
        assert_eq!(entry.owner_id, Some(fx.user.id));
        assert_eq!(entry.project_id, Some(fx.project.id));
        assert!(entry.detail.contains(SLUG) && entry.detail.contains("#1"), "{}", entry.detail);
        assert!(!entry.detail.contains(&leaked));
        assert_eq!(log.iter().filter(|e| e.event == "token.leaked").count(), 1);

        // The owner sees a banner on the dashboard and on their tokens page; others do not.
        let owner = fx.app.logged_in("ada").await;
        for page in ["/", "/account/tokens"] {
            let html = owner.get(fx.app.at(page)).send().await.unwrap().text().await.unwrap();
            assert!(html.contains("leak-banner"), "no banner on {page}");
            assert!(html.contains("was printed in the output of build #1"), "{page}");
        }
        fx.app.user("zed", false).await;
        let other = fx.app.logged_in("zed").await;
        let html = other.get(fx.app.at("/")).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("leak-banner"));
    }

    async fn builds_leak_guard_catches_a_token_split_across_chunks(app) {
        let fx = Fx::new(app).await;
        let runner = fx.runner("r1").await;
        let (leaked, _) = fx.app.personal_token_expiring(&fx.user, None).await;
        fx.v1_trigger("main", &json!({"build_parameters": {"CIRCLE_JOB": "build"}})).await;
        let job = runner.claim_some().await;
        let id = id_of(&job);
        runner.start_step(id, 0, "print", None).await;
        let (head, tail) = leaked.split_at(31);
        runner.output(id, 0, &format!("one\nTOKEN={head}")).await;
        runner.output(id, 0, &format!("{tail}x and more\n")).await;
        runner.finish_step(id, 0, "success", Some(0)).await;
        runner.finish(id, "success").await;

        fx.get_as(&leaked, "/api/v1.1/me").await.is(401, INVALID);
        let b = fx.build(1).await;
        let url = b["steps"][0]["actions"][0]["output_url"].as_str().unwrap();
        let out = fx.get(url.strip_prefix(&fx.app.url).unwrap()).await;
        let message = out.body[0]["message"].as_str().unwrap();
        assert_eq!(message, "one\nTOKEN=********x and more\n");
        assert!(!out.text.contains(head) && !out.text.contains(tail));
    }
}
