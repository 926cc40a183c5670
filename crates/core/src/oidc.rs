//! OpenID Connect ID tokens for jobs, as CircleCI issues them (`CIRCLE_OIDC_TOKEN`,
//! `CIRCLE_OIDC_TOKEN_V2`): ES256 JWTs signed with an instance key, one issuer per
//! organization, CircleCI's claims.
//!
//! ```text
//! iss  <public-url>/oidc/org/<org-id>
//! sub  org/<org-id>/project/<project-id>/user/<user-id>                        (v1)
//!      org/<org-id>/project/<project-id>/user/<user-id>/vcs-origin/<o>/vcs-ref/<r> (v2)
//! aud  <org-id>, or what `circleci run oidc get --claims '{"aud": …}'` asks for
//! exp  iat + 1 hour
//! ```
//!
//! Signing and checking are jsonwebtoken's, on aws-lc-rs; keys are P-256 (ES256). What a key
//! is called (`kid`) is derived from its public half, so a JWKS entry names itself.

use crate::Invalid;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The signing algorithm of every key and token.
pub const ALGORITHM: &str = "ES256";

/// How long a token is good for: an hour, as CircleCI's.
pub const LIFETIME_SECS: i64 = 3600;

/// How long a rotated-out key stays published: past the last token it signed, with a margin
/// for clocks and for servers that read the rotation late.
pub const RETIRED_KEY_PUBLISHED_SECS: i64 = LIFETIME_SECS + 15 * 60;

/// Where an organization's tokens say they come from.
pub fn issuer(public_url: &str, org_id: &str) -> String {
    format!("{}/oidc/org/{org_id}", public_url.trim_end_matches('/'))
}

/// An instance signing key: a P-256 key pair, kept as PKCS#8.
pub struct SigningKey {
    kid: String,
    pkcs8: Vec<u8>,
    public: PublicKey,
    encoding: EncodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, [redacted])", self.kid)
    }
}

impl SigningKey {
    /// A new key from the OS random number generator.
    pub fn generate() -> SigningKey {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("P-256 key generation only fails without a random number generator");
        let pkcs8 = pair
            .to_pkcs8v1()
            .expect("a generated key serializes")
            .as_ref()
            .to_vec();
        SigningKey::from_pkcs8(&pkcs8).expect("a generated key reads back")
    }

    /// The key stored as `pkcs8` (a PKCS#8 P-256 private key, DER).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<SigningKey, Invalid> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|_| Invalid::new("not a PKCS#8 P-256 private key"))?;
        let public = PublicKey::from_point(pair.public_key().as_ref())?;
        Ok(SigningKey {
            kid: public.kid.clone(),
            pkcs8: pkcs8.to_vec(),
            public,
            encoding: EncodingKey::from_ec_der(pkcs8),
        })
    }

    /// The key's id, as tokens' headers and the JWKS name it.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key, PKCS#8 DER: to be sealed before it is stored.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// `claims` signed: a compact JWT.
    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("claims serialize and a P-256 key signs")
    }
}

/// A public key as a JWKS publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    kid: String,
    x: String,
    y: String,
}

impl PublicKey {
    /// From an uncompressed P-256 point (`04 ‖ x ‖ y`).
    fn from_point(point: &[u8]) -> Result<PublicKey, Invalid> {
        if point.len() != 65 || point[0] != 4 {
            return Err(Invalid::new("not an uncompressed P-256 point"));
        }
        let digest = Sha256::digest(point);
        Ok(PublicKey {
            kid: hex::encode(&digest[..16]),
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..]),
        })
    }

    /// Its id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWK: `{"kty": "EC", "crv": "P-256", "x", "y", "kid", "alg", "use"}`.
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": self.x,
            "y": self.y,
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        })
    }

    /// The key a [`PublicKey::jwk`] text describes; `None` for anything else.
    pub fn from_jwk(text: &str) -> Option<PublicKey> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let field = |k: &str| v.get(k)?.as_str().map(str::to_owned);
        if field("kty")? != "EC" || field("crv")? != "P-256" {
            return None;
        }
        let mut point = vec![4u8];
        for coordinate in [field("x")?, field("y")?] {
            let bytes = URL_SAFE_NO_PAD.decode(coordinate).ok()?;
            if bytes.len() != 32 {
                return None;
            }
            point.extend_from_slice(&bytes);
        }
        let key = PublicKey::from_point(&point).ok()?;
        (key.kid == field("kid")?).then_some(key)
    }
}

/// What a job's token says, with CircleCI's claim names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The organization's issuer ([`issuer`]).
    pub iss: String,
    /// [`Subject::v1`] or [`Subject::v2`].
    pub sub: String,
    /// Who the token is for: the organization's id unless the job asked for another.
    pub aud: Audience,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// The organization's id.
    #[serde(rename = "oidc.circleci.com/org-id")]
    pub org_id: String,
    /// The project's id.
    #[serde(rename = "oidc.circleci.com/project-id")]
    pub project_id: String,
    /// The contexts the job uses.
    #[serde(rename = "oidc.circleci.com/context-ids")]
    pub context_ids: Vec<String>,
    /// The job's id (also `CIRCLE_WORKFLOW_JOB_ID`).
    #[serde(rename = "oidc.circleci.com/job-id")]
    pub job_id: String,
    /// The workflow's id.
    #[serde(rename = "oidc.circleci.com/workflow-id")]
    pub workflow_id: String,
    /// The pipeline's id.
    #[serde(rename = "oidc.circleci.com/pipeline-id")]
    pub pipeline_id: String,
    /// Where the code comes from: `github.com/org/repo`.
    #[serde(rename = "oidc.circleci.com/vcs-origin")]
    pub vcs_origin: String,
    /// What was built: `refs/heads/main`, `refs/tags/v1`.
    #[serde(rename = "oidc.circleci.com/vcs-ref")]
    pub vcs_ref: String,
    /// Whether the job is an SSH rerun (circlet has none: always false).
    #[serde(rename = "oidc.circleci.com/ssh-rerun")]
    pub ssh_rerun: bool,
}

/// `aud`: one audience, or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Audience {
    /// Every audience named.
    pub fn all(&self) -> Vec<&str> {
        match self {
            Audience::One(a) => vec![a.as_str()],
            Audience::Many(a) => a.iter().map(String::as_str).collect(),
        }
    }
}

/// The most audiences a custom token may name, and the longest one.
pub const MAX_AUDIENCES: usize = 10;
const MAX_AUDIENCE_LEN: usize = 256;

/// The claims a job may ask to change (`circleci run oidc get --claims '{…}'`): only `aud`,
/// a string or a list of strings, as CircleCI allows.
pub fn custom_audience(claims: &serde_json::Value) -> Result<Audience, Invalid> {
    let Some(map) = claims.as_object() else {
        return Err(Invalid::new(
            "claims must be a JSON object, like {\"aud\": \"my-service\"}",
        ));
    };
    if let Some(other) = map.keys().find(|k| *k != "aud") {
        return Err(Invalid::new(format!(
            "only the claim \"aud\" can be set; \"{}\" cannot",
            other.escape_debug()
        )));
    }
    let audiences: Vec<&serde_json::Value> = match map.get("aud") {
        None => return Err(Invalid::new("claims must name \"aud\"")),
        Some(serde_json::Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    };
    if audiences.is_empty() || audiences.len() > MAX_AUDIENCES {
        return Err(Invalid::new(format!(
            "\"aud\" must name 1 to {MAX_AUDIENCES} audiences"
        )));
    }
    let mut out = Vec::new();
    for a in audiences {
        match a.as_str() {
            Some(s)
                if !s.is_empty()
                    && s.len() <= MAX_AUDIENCE_LEN
                    && !s.chars().any(char::is_control) =>
            {
                out.push(s.to_owned())
            }
            _ => {
                return Err(Invalid::new(format!(
                    "each audience is a string of 1 to {MAX_AUDIENCE_LEN} characters"
                )));
            }
        }
    }
    Ok(if out.len() == 1 {
        Audience::One(out.remove(0))
    } else {
        Audience::Many(out)
    })
}

/// The ids a subject is made of.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The organization's id.
    pub org_id: &'a str,
    /// The project's id.
    pub project_id: &'a str,
    /// The id of the user who caused the job to run.
    pub user_id: &'a str,
    /// [`vcs_origin`].
    pub vcs_origin: &'a str,
    /// [`vcs_ref`].
    pub vcs_ref: &'a str,
}

impl Subject<'_> {
    /// CircleCI's first form (`CIRCLE_OIDC_TOKEN`).
    pub fn v1(&self) -> String {
        format!(
            "org/{}/project/{}/user/{}",
            self.org_id, self.project_id, self.user_id
        )
    }

    /// CircleCI's second form (`CIRCLE_OIDC_TOKEN_V2`), which adds where the code came from.
    pub fn v2(&self) -> String {
        format!(
            "{}/vcs-origin/{}/vcs-ref/{}",
            self.v1(),
            self.vcs_origin,
            self.vcs_ref
        )
    }
}

/// Where the code comes from, as CircleCI writes it: the repository's host and path, without
/// scheme, user, port or `.git` (`github.com/acme/widgets`). A `file://` repository is its path.
pub fn vcs_origin(repo_url: &str) -> String {
    let url = repo_url.trim();
    let (host, path) = match url.split_once("://") {
        Some((_, rest)) => match rest.split_once('/') {
            Some((authority, path)) => (authority, path),
            None => (rest, ""),
        },
        // scp-like: user@host:path
        None => url.split_once(':').unwrap_or(("", url)),
    };
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    match (host.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (false, true) => host.to_ascii_lowercase(),
        (false, false) => format!("{}/{path}", host.to_ascii_lowercase()),
    }
}

/// What was built, as a full ref: `refs/tags/<tag>` for a tag, else `refs/heads/<branch>`
/// (empty when the pipeline named neither).
pub fn vcs_ref(branch: Option<&str>, tag: Option<&str>) -> String {
    match (tag, branch) {
        (Some(t), _) => format!("refs/tags/{t}"),
        (None, Some(b)) => format!("refs/heads/{b}"),
        (None, None) => String::new(),
    }
}

/// Why a presented token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a JWT, or signed by no key this instance publishes.
    #[error("the token is not an ID token signed by this server")]
    NotOurs,
    /// Signed by us, but expired (or not yet valid, or from another issuer).
    #[error("the ID token has expired")]
    Expired,
}

/// The claims of `token` if one of `keys` signed it, it has not expired and its issuer starts
/// with `issuer_prefix` (`<public-url>/oidc/org/`). The audience is not checked: the caller
/// decides what it accepts.
pub fn verify(token: &str, keys: &[PublicKey], issuer_prefix: &str) -> Result<Claims, Refused> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refused::NotOurs)?;
    if header.alg != Algorithm::ES256 {
        return Err(Refused::NotOurs);
    }
    let kid = header.kid.ok_or(Refused::NotOurs)?;
    let key = keys.iter().find(|k| k.kid == kid).ok_or(Refused::NotOurs)?;
    let decoding = DecodingKey::from_ec_components(&key.x, &key.y).map_err(|_| Refused::NotOurs)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_aud = false;
    validation.leeway = 30;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let data =
        jsonwebtoken::decode::<Claims>(token, &decoding, &validation).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => Refused::Expired,
                _ => Refused::NotOurs,
            }
        })?;
    if !data.claims.iss.starts_with(issuer_prefix) {
        return Err(Refused::NotOurs);
    }
    Ok(data.claims)
}

/// The discovery document at `<issuer>/.well-known/openid-configuration`.
pub fn discovery(issuer: &str) -> serde_json::Value {
    serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks-pub.json"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "claims_supported": [
            "iss", "sub", "aud", "iat", "exp",
            "oidc.circleci.com/org-id", "oidc.circleci.com/project-id",
            "oidc.circleci.com/context-ids", "oidc.circleci.com/job-id",
            "oidc.circleci.com/workflow-id", "oidc.circleci.com/pipeline-id",
            "oidc.circleci.com/vcs-origin", "oidc.circleci.com/vcs-ref",
            "oidc.circleci.com/ssh-rerun",
        ],
    })
}

/// The JWKS: every key whose tokens may still be alive.
pub fn jwks(keys: &[PublicKey]) -> serde_json::Value {
    serde_json::json!({ "keys": keys.iter().map(PublicKey::jwk).collect::<Vec<_>>() })
}

#[cfg(test)]
mod tests;
