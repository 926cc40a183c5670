//! Jobs' OIDC ID tokens (issue 16), end to end: a real `circlet serve` runs a job that keeps
//! `$CIRCLE_OIDC_TOKEN`, `$CIRCLE_OIDC_TOKEN_V2` and a `circleci run oidc get` token as
//! artifacts, and PyJWT, an independent verifier, checks them as a cloud would: discovery
//! document, JWKS over HTTP, signature, issuer, audience. Then a tampered token, a job that has
//! ended, a key rotation (the old key's tokens still verify; a restarted server signs with the
//! new key).

use crate::Server;
use crate::builds::{Api, setup};
use crate::circleci_tool::all_output;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use circlet_store::BackendKind;
use circlet_testkit::GitRepo;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

const CONFIG: &str = r#"version: 2.1
jobs:
  deploy:
    steps:
      - run:
          name: id tokens
          command: |
            mkdir -p out
            printf '%s' "$CIRCLE_OIDC_TOKEN" > out/v1.jwt
            printf '%s' "$CIRCLE_OIDC_TOKEN_V2" > out/v2.jwt
            circleci run oidc get --claims '{"aud": "vault.example"}' > out/custom.jwt
            echo "token: $CIRCLE_OIDC_TOKEN_V2"
            if circleci run oidc get --claims '{"sub": "me"}' 2> out/refused.txt; then exit 1; fi
      - store_artifacts: {path: out}
workflows:
  main:
    jobs: [deploy]
"#;

/// What PyJWT makes of `token`, as a cloud's verifier would check it: the discovery document
/// at `discovery`, the JWKS it names (over HTTP), the algorithms it lists, its issuer, and
/// `audience`. `Ok({kid, claims})`, or PyJWT's complaint.
fn pyjwt(discovery: &str, audience: &str, token: &str) -> Result<Value, String> {
    const SCRIPT: &str = r#"
import json, sys, urllib.request
import jwt
discovery, audience = sys.argv[1], sys.argv[2]
token = sys.stdin.read().strip()
conf = json.load(urllib.request.urlopen(discovery))
key = jwt.PyJWKClient(conf["jwks_uri"], cache_keys=False).get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=conf["id_token_signing_alg_values_supported"],
                    audience=audience, issuer=conf["issuer"])
print(json.dumps({"kid": key.key_id, "claims": claims}))
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT, discovery, audience])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test installs PyJWT)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("No module named"),
        "PyJWT is missing (scripts/test installs pyjwt[crypto]): {stderr}"
    );
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("the script prints JSON"))
    } else {
        Err(stderr.lines().last().unwrap_or_default().to_owned())
    }
}

/// The artifact at `path` of build `num`.
async fn artifact(api: &Api<'_>, num: i64, path: &str, token: &str) -> String {
    let listed = api
        .json(&format!("/api/v1.1/project/gh/acme/widget/{num}/artifacts"))
        .await;
    let url = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == path)
        .unwrap_or_else(|| panic!("no artifact {path} in {listed}"))["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = reqwest::Client::new()
        .get(url)
        .header("Circle-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// Asks the server for a custom-audience token with `presented` as the credential.
async fn exchange(server: &Server, presented: Option<&str>, claims: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(server.url("/api/oidc/job-token"))
        .json(&json!({ "claims": claims }));
    if let Some(t) = presented {
        request = request.bearer_auth(t);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Runs one pipeline; returns its build's number and its three tokens (v1, v2, custom).
async fn run_job(api: &Api<'_>, token: &str) -> (i64, [String; 3], String) {
    let n = api.trigger().await;
    let build = api.finished(n).await;
    let out = all_output(api, &build).await;
    assert_eq!(build["status"], "success", "{out}");
    let num = build["build_num"].as_i64().unwrap();
    let mut tokens = Vec::new();
    for file in ["out/v1.jwt", "out/v2.jwt", "out/custom.jwt"] {
        let t = artifact(api, num, file, token).await.trim().to_owned();
        assert_eq!(t.split('.').count(), 3, "{file} is not a JWT: {t:?}");
        tokens.push(t);
    }
    (num, tokens.try_into().unwrap(), out)
}

#[tokio::test]
async fn jobs_get_id_tokens_an_independent_verifier_accepts_across_a_key_rotation() {
    let repo = GitRepo::with_config(CONFIG);
    let (inst, token) = setup(BackendKind::Sqlite, &repo).await;
    let server = inst.serve();
    let api = Api::new(&server, &token);

    let (num, [v1, v2, custom], out) = run_job(&api, &token).await;
    // Masked like any secret.
    assert!(out.contains("token: ********"), "{out}");
    assert!(
        !out.contains(&v2) && !out.contains(&v1),
        "a token is in the output"
    );
    let refused = artifact(&api, num, "out/refused.txt", &token).await;
    assert!(
        refused.contains("only the claim \"aud\" can be set"),
        "{refused}"
    );

    let orgs = api.json("/api/v2/me/collaborations").await;
    assert_eq!(orgs.as_array().unwrap().len(), 1, "{orgs}");
    assert_eq!(orgs[0]["slug"], "gh/acme", "{orgs}");
    assert_eq!(orgs[0]["vcs-type"], "github", "{orgs}");
    let org = orgs[0]["id"].as_str().unwrap().to_owned();
    let project = api.json("/api/v2/project/gh/acme/widget").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice = api.json("/api/v2/me").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let issuer = server.url(&format!("/oidc/org/{org}"));
    let discovery = format!("{issuer}/.well-known/openid-configuration");

    let first = pyjwt(&discovery, &org, &v1).expect("v1 verifies");
    let claims = &first["claims"];
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["aud"], org.as_str());
    let sub = format!("org/{org}/project/{project}/user/{alice}");
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["oidc.circleci.com/project-id"], project.as_str());
    assert_eq!(claims["oidc.circleci.com/org-id"], org.as_str());
    assert_eq!(claims["oidc.circleci.com/vcs-ref"], "refs/heads/main");
    assert_eq!(claims["oidc.circleci.com/context-ids"], json!([]));
    assert_eq!(claims["oidc.circleci.com/ssh-rerun"], false);
    let origin = repo.url();
    let origin = origin
        .trim_start_matches("file://")
        .trim_matches('/')
        .trim_end_matches(".git");
    assert_eq!(claims["oidc.circleci.com/vcs-origin"], origin, "{claims}");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(uuid::Uuid::parse_str(claims["oidc.circleci.com/job-id"].as_str().unwrap()).is_ok());

    let second = pyjwt(&discovery, &org, &v2).expect("v2 verifies");
    assert_eq!(
        second["claims"]["sub"],
        format!("{sub}/vcs-origin/{origin}/vcs-ref/refs/heads/main").as_str()
    );
    let asked = pyjwt(&discovery, "vault.example", &custom).expect("the custom token verifies");
    assert_eq!(asked["claims"]["aud"], "vault.example");
    assert_eq!(asked["claims"]["sub"], second["claims"]["sub"]);
    let wrong_audience = pyjwt(&discovery, &org, &custom).unwrap_err();
    assert!(wrong_audience.contains("Audience"), "{wrong_audience}");

    // Tampered: the ref changed after signing.
    let mut parts: Vec<String> = v2.split('.').map(str::to_owned).collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    parts[1] = URL_SAFE_NO_PAD.encode(payload.replace("refs/heads/main", "refs/heads/prod"));
    let tampered = parts.join(".");
    let refused = pyjwt(&discovery, &org, &tampered).unwrap_err();
    assert!(
        refused.contains("Signature verification failed"),
        "{refused}"
    );

    // The server makes custom tokens for running jobs only, for their own tokens only.
    let (status, body) = exchange(&server, Some(&v2), json!({"aud": "x"})).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("not running"),
        "{body}"
    );
    let (status, body) = exchange(&server, Some(&tampered), json!({"aud": "x"})).await;
    assert_eq!(
        (status, body["message"].as_str().unwrap()),
        (401, "the token is not an ID token signed by this server")
    );
    let (status, body) = exchange(&server, None, json!({"aud": "x"})).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = exchange(&server, Some(&v2), json!({"aud": 7})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = exchange(&server, Some(&token), json!({"aud": "x"})).await;
    assert_eq!(status, 401, "an API token is no ID token: {body}");
    // An organization that does not exist has no discovery document.
    let (status, _) = api
        .get(&format!(
            "/oidc/org/{}/.well-known/openid-configuration",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(status, 404);

    // Rotation: the old key stays published, so its tokens still verify.
    let old_kid = first["kid"].as_str().unwrap().to_owned();
    let rotated = inst.admin(&["rotate-oidc-key"], None).ok().to_owned();
    assert!(rotated.contains(&format!("(was {old_kid},")), "{rotated}");
    let jwks = api
        .json(&format!("/oidc/org/{org}/.well-known/jwks-pub.json"))
        .await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert!(kids.contains(&old_kid.as_str()), "{jwks}");
    let new_kid = kids.iter().find(|k| **k != old_kid).unwrap().to_string();
    assert!(rotated.contains(&format!("now {new_kid}")), "{rotated}");
    pyjwt(&discovery, &org, &v2).expect("a token of the rotated-out key still verifies");

    // A server started after the rotation signs with the new key.
    drop(server);
    let server = inst.serve();
    let api = Api::new(&server, &token);
    let (_, [_, v2_after, _], _) = run_job(&api, &token).await;
    let discovery = server.url(&format!("/oidc/org/{org}/.well-known/openid-configuration"));
    let after = pyjwt(&discovery, &org, &v2_after).expect("the new key's token verifies");
    assert_eq!(after["kid"], new_kid.as_str());
    assert_eq!(
        after["claims"]["iss"],
        server.url(&format!("/oidc/org/{org}")).as_str()
    );
}
