use super::*;

fn claims(now: i64) -> Claims {
    Claims {
        iss: "http://ci.test/oidc/org/o-1".into(),
        sub: "org/o-1/project/p-1/user/u-1".into(),
        aud: Audience::One("o-1".into()),
        iat: now,
        exp: now + LIFETIME_SECS,
        org_id: "o-1".into(),
        project_id: "p-1".into(),
        context_ids: vec![],
        job_id: "j-1".into(),
        workflow_id: "w-1".into(),
        pipeline_id: "pl-1".into(),
        vcs_origin: "github.com/acme/widgets".into(),
        vcs_ref: "refs/heads/main".into(),
        ssh_rerun: false,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const PREFIX: &str = "http://ci.test/oidc/org/";

#[test]
fn a_signed_token_verifies_with_its_public_key_and_keeps_its_claims() {
    let key = SigningKey::generate();
    let c = claims(now());
    let token = key.sign(&c);
    assert_eq!(token.split('.').count(), 3);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(key.kid()));
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(verify(&token, &[key.public().clone()], PREFIX), Ok(c));
}

#[test]
fn a_key_reads_back_from_its_pkcs8_and_its_jwk() {
    let key = SigningKey::generate();
    let again = SigningKey::from_pkcs8(key.pkcs8()).unwrap();
    assert_eq!(again.kid(), key.kid());
    let jwk = key.public().jwk().to_string();
    assert_eq!(PublicKey::from_jwk(&jwk).as_ref(), Some(key.public()));
    // A JWK whose kid is not its key's is not taken.
    let lying = jwk.replace(key.kid(), "0000");
    assert_eq!(PublicKey::from_jwk(&lying), None);
    assert!(SigningKey::from_pkcs8(b"not a key").is_err());
    assert_ne!(SigningKey::generate().kid(), key.kid());
}

#[test]
fn tampered_foreign_expired_and_misissued_tokens_are_refused() {
    let key = SigningKey::generate();
    let other = SigningKey::generate();
    let keys = [key.public().clone()];
    let token = key.sign(&claims(now()));

    // The payload changed after signing: `aud` swapped for another organization.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    parts[1] = URL_SAFE_NO_PAD.encode(payload.replace("\"aud\":\"o-1\"", "\"aud\":\"o-2\""));
    assert_ne!(parts.join("."), token);
    assert_eq!(
        verify(&parts.join("."), &keys, PREFIX),
        Err(Refused::NotOurs)
    );

    // Signed by a key this instance does not publish.
    assert_eq!(
        verify(&other.sign(&claims(now())), &keys, PREFIX),
        Err(Refused::NotOurs)
    );
    // Expired two hours ago.
    let old = key.sign(&claims(now() - 3 * LIFETIME_SECS));
    assert_eq!(verify(&old, &keys, PREFIX), Err(Refused::Expired));
    // Another issuer.
    let mut elsewhere = claims(now());
    elsewhere.iss = "http://evil.test/oidc/org/o-1".into();
    assert_eq!(
        verify(&key.sign(&elsewhere), &keys, PREFIX),
        Err(Refused::NotOurs)
    );
    for junk in ["", "a.b.c", "not-a-jwt", "eyJ.eyJ.x"] {
        assert_eq!(verify(junk, &keys, PREFIX), Err(Refused::NotOurs), "{junk}");
    }
}

#[test]
fn only_aud_can_be_asked_for() {
    let ok = |v: serde_json::Value| custom_audience(&v);
    assert_eq!(
        ok(serde_json::json!({"aud": "vault"})),
        Ok(Audience::One("vault".into()))
    );
    assert_eq!(
        ok(serde_json::json!({"aud": ["a", "b"]})),
        Ok(Audience::Many(vec!["a".into(), "b".into()]))
    );
    for (bad, says) in [
        (serde_json::json!("vault"), "JSON object"),
        (serde_json::json!({}), "must name \"aud\""),
        (
            serde_json::json!({"aud": "x", "sub": "me"}),
            "\"sub\" cannot",
        ),
        (serde_json::json!({"aud": ""}), "1 to 256"),
        (serde_json::json!({"aud": 7}), "1 to 256"),
        (serde_json::json!({"aud": []}), "1 to 10"),
        (serde_json::json!({"aud": vec!["a"; 11]}), "1 to 10"),
        (serde_json::json!({"aud": "x".repeat(257)}), "1 to 256"),
        (serde_json::json!({"aud": "a\nb"}), "1 to 256"),
    ] {
        let e = ok(bad.clone()).unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn subjects_origins_and_refs_read_as_circleci_writes_them() {
    let s = Subject {
        org_id: "o",
        project_id: "p",
        user_id: "u",
        vcs_origin: "github.com/acme/w",
        vcs_ref: "refs/heads/main",
    };
    assert_eq!(s.v1(), "org/o/project/p/user/u");
    assert_eq!(
        s.v2(),
        "org/o/project/p/user/u/vcs-origin/github.com/acme/w/vcs-ref/refs/heads/main"
    );
    for (url, origin) in [
        (
            "https://github.com/acme/widgets.git",
            "github.com/acme/widgets",
        ),
        ("https://GitHub.com/acme/widgets", "github.com/acme/widgets"),
        (
            "ssh://git@git.example.test:2222/acme/w.git",
            "git.example.test/acme/w",
        ),
        ("git@github.com:acme/widgets.git", "github.com/acme/widgets"),
        ("file:///srv/git/widgets.git", "srv/git/widgets"),
    ] {
        assert_eq!(vcs_origin(url), origin, "{url}");
    }
    assert_eq!(vcs_ref(Some("main"), None), "refs/heads/main");
    assert_eq!(vcs_ref(Some("main"), Some("v1")), "refs/tags/v1");
    assert_eq!(vcs_ref(None, None), "");
}

#[test]
fn discovery_names_the_issuer_and_its_jwks() {
    let d = discovery("http://ci.test/oidc/org/o-1");
    assert_eq!(d["issuer"], "http://ci.test/oidc/org/o-1");
    assert_eq!(
        d["jwks_uri"],
        "http://ci.test/oidc/org/o-1/.well-known/jwks-pub.json"
    );
    assert_eq!(d["id_token_signing_alg_values_supported"][0], "ES256");
    assert_eq!(
        issuer("http://ci.test/", "o-1"),
        "http://ci.test/oidc/org/o-1"
    );
    let key = SigningKey::generate();
    let set = jwks(&[key.public().clone()]);
    assert_eq!(set["keys"][0]["kid"], key.kid());
    assert_eq!(set["keys"][0]["crv"], "P-256");
}
