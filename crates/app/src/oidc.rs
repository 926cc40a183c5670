//! OIDC ID tokens for jobs: the instance's signing keys (made on first use, sealed at rest,
//! rotated by `circlet admin rotate-oidc-key`), the tokens a job gets in its environment, the
//! custom-audience tokens `circleci run oidc get` asks for, and what verifiers fetch (discovery
//! and the JWKS). The token format and claims are `circlet_core::oidc`'s.

use crate::env_vars::Keyring;
use crate::{App, AppError};
use circlet_core::oidc::{self, Audience, Claims, PublicKey, SigningKey, Subject};
use circlet_store::{JobRecord, NewOidcKey, OidcKeyRecord, PipelineRecord, Project, Store};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long the current key is trusted from memory before the store is asked again: a rotation
/// by another process is seen within this (the key it replaced stays published for an hour).
const KEY_CACHE: Duration = Duration::from_secs(30);

/// The name a private key is sealed under (with its `kid`).
const SEALED_AS: &str = "oidc-signing-key";

/// The current signing key, as last read.
#[derive(Default)]
pub struct CurrentKey(RwLock<Option<(Instant, Arc<SigningKey>)>>);

/// A job's two tokens: CircleCI's `CIRCLE_OIDC_TOKEN` (v1 subject) and `CIRCLE_OIDC_TOKEN_V2`.
/// No `Debug`: they are credentials, and must not reach a log line by accident.
pub struct JobTokens {
    /// With the v1 subject.
    pub v1: String,
    /// With the v2 subject.
    pub v2: String,
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn seal(keys: &Keyring, key: &SigningKey) -> (String, Vec<u8>) {
    keys.seal_for(SEALED_AS, key.kid(), &hex::encode(key.pkcs8()))
}

fn open(keys: &Keyring, record: &OidcKeyRecord) -> Result<SigningKey, AppError> {
    let clear = keys
        .open_sealed(
            SEALED_AS,
            &record.kid,
            &record.seal_key_id,
            &record.sealed_private,
        )
        .map_err(|why| AppError::internal(anyhow::anyhow!("OIDC key {} {why}", record.kid)))?;
    let der = hex::decode(clear)
        .map_err(|_| AppError::internal(anyhow::anyhow!("OIDC key {} is not hex", record.kid)))?;
    SigningKey::from_pkcs8(&der)
        .map_err(|e| AppError::internal(anyhow::anyhow!("OIDC key {}: {e}", record.kid)))
}

fn new_record<'a>(
    key: &'a SigningKey,
    jwk: &'a str,
    sealed: &'a (String, Vec<u8>),
) -> NewOidcKey<'a> {
    NewOidcKey {
        kid: key.kid(),
        algorithm: oidc::ALGORITHM,
        public_jwk: jwk,
        sealed_private: &sealed.1,
        seal_key_id: &sealed.0,
    }
}

/// Replaces the current signing key with a new one, audited as `oidc.key_rotated`; the old key
/// stays published until its last token has expired. Returns (new kid, retired kid).
pub async fn rotate_key(
    store: &Store,
    keys: &Keyring,
    actor: &crate::tokens::Actor,
) -> Result<(String, Option<String>), AppError> {
    let key = SigningKey::generate();
    let jwk = key.public().jwk().to_string();
    let sealed = seal(keys, &key);
    let forget_before =
        time::OffsetDateTime::now_utc() - time::Duration::seconds(oidc::RETIRED_KEY_PUBLISHED_SECS);
    let retired = store
        .oidc_keys()
        .rotate(&new_record(&key, &jwk, &sealed), forget_before)
        .await?;
    store
        .audit()
        .append(&circlet_store::NewAuditEntry {
            event: "oidc.key_rotated".into(),
            actor_id: actor.user_id,
            actor_login: actor.login.clone(),
            owner_id: None,
            project_id: None,
            token_uuid: None,
            address: actor.address.clone(),
            detail: format!(
                "OIDC signing key {} replaced {}",
                key.kid(),
                retired.as_deref().unwrap_or("none")
            ),
        })
        .await?;
    Ok((key.kid().to_owned(), retired))
}

/// Re-seals every OIDC private key not under the env keyring's current key; how many.
pub async fn reseal_keys(store: &Store, keys: &Keyring) -> Result<usize, AppError> {
    let mut done = 0;
    for record in store
        .oidc_keys()
        .sealed_by_other_keys(&keys.current_id())
        .await?
    {
        let key = open(keys, &record)?;
        let (seal_key_id, sealed) = seal(keys, &key);
        if store
            .oidc_keys()
            .reseal(&record, &seal_key_id, &sealed)
            .await?
        {
            done += 1;
        }
    }
    Ok(done)
}

impl App {
    /// The key that signs now: from memory, else the store, else made (once across servers).
    async fn oidc_key(&self) -> Result<Arc<SigningKey>, AppError> {
        if let Some((at, key)) = &*self.oidc_current.0.read().expect("lock")
            && at.elapsed() < KEY_CACHE
        {
            return Ok(key.clone());
        }
        let keys = &self.config.env_keys;
        let record = match self.store.oidc_keys().current().await? {
            Some(r) => r,
            None => {
                let key = SigningKey::generate();
                let jwk = key.public().jwk().to_string();
                let sealed = seal(keys, &key);
                // Another server may make the first key at the same moment; theirs or ours
                // wins, and both then read the winner.
                self.store
                    .oidc_keys()
                    .create_first(&new_record(&key, &jwk, &sealed))
                    .await?;
                self.store.oidc_keys().current().await?.ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!("no current OIDC key after making one"))
                })?
            }
        };
        let key = Arc::new(open(keys, &record)?);
        *self.oidc_current.0.write().expect("lock") = Some((Instant::now(), key.clone()));
        Ok(key)
    }

    /// The public keys whose tokens may still be alive: what the JWKS publishes.
    pub async fn oidc_public_keys(&self) -> Result<Vec<PublicKey>, AppError> {
        // Made on first use: a JWKS fetched before any job ran still names the key that will sign.
        self.oidc_key().await?;
        let since = time::OffsetDateTime::now_utc()
            - time::Duration::seconds(oidc::RETIRED_KEY_PUBLISHED_SECS);
        Ok(self
            .store
            .oidc_keys()
            .published(since)
            .await?
            .iter()
            .filter_map(|r| PublicKey::from_jwk(&r.public_jwk))
            .collect())
    }

    /// The issuer of organization `org_uuid`'s tokens, if that organization exists.
    pub async fn oidc_issuer(&self, org_uuid: Uuid) -> Result<String, AppError> {
        let org = self
            .store
            .organizations()
            .by_uuid(org_uuid)
            .await?
            .ok_or(AppError::NotFound("Organization not found".into()))?;
        Ok(oidc::issuer(&self.config.public_url, &org.uuid.to_string()))
    }

    /// The ids of the contexts `job` names that exist in `org`, as its tokens list them.
    async fn job_context_ids(
        &self,
        org: &circlet_store::organizations::Organization,
        job: &JobRecord,
    ) -> Result<Vec<String>, AppError> {
        let names = serde_json::from_str::<circlet_core::ci_config::Job>(&job.spec)
            .map(|j| j.contexts)
            .unwrap_or_default();
        let mut ids = Vec::new();
        for name in names {
            if let Some(c) = self.store.contexts().by_name(org.id, &name).await? {
                ids.push(c.uuid.to_string());
            }
        }
        Ok(ids)
    }

    /// The claims of a token for `job` of `pipeline` in `project` (subject left empty), and the
    /// id of the user who caused the job.
    async fn job_claims(
        &self,
        project: &Project,
        job: &JobRecord,
        pipeline: &PipelineRecord,
    ) -> Result<(Claims, String), AppError> {
        let org = self
            .store
            .organizations()
            .ensure(project.slug.vcs(), project.slug.org())
            .await?;
        let org_id = org.uuid.to_string();
        // The user who caused the job; one known only by a forge's login (a push from someone
        // without an account) gets a stable id made from that login.
        let user_id = match circlet_core::Login::parse(&pipeline.actor_login) {
            Ok(login) => match self.store.users().by_login(&login).await? {
                Some(u) => u.uuid,
                None => actor_uuid(&pipeline.actor_login),
            },
            Err(_) => actor_uuid(&pipeline.actor_login),
        };
        let workflow = self
            .store
            .builds()
            .workflow_by_id(job.workflow_id)
            .await?
            .map(|w| w.uuid.to_string())
            .unwrap_or_default();
        let origin = oidc::vcs_origin(project.repo_url.as_str());
        let vcs_ref = oidc::vcs_ref(job.branch.as_deref(), job.tag.as_deref());
        let iat = now_secs();
        let claims = Claims {
            iss: oidc::issuer(&self.config.public_url, &org_id),
            sub: String::new(),
            aud: Audience::One(org_id.clone()),
            iat,
            exp: iat + oidc::LIFETIME_SECS,
            org_id: org_id.clone(),
            project_id: project.uuid.to_string(),
            context_ids: self.job_context_ids(&org, job).await?,
            job_id: job.uuid.to_string(),
            workflow_id: workflow,
            pipeline_id: pipeline.uuid.to_string(),
            vcs_origin: origin,
            vcs_ref,
            ssh_rerun: false,
        };
        Ok((claims, user_id.to_string()))
    }

    /// The two ID tokens a job gets in its environment.
    pub async fn job_oidc_tokens(
        &self,
        project: &Project,
        job: &JobRecord,
        pipeline: &PipelineRecord,
    ) -> Result<JobTokens, AppError> {
        let (mut claims, user_id) = self.job_claims(project, job, pipeline).await?;
        let key = self.oidc_key().await?;
        let subject = Subject {
            org_id: &claims.org_id,
            project_id: &claims.project_id,
            user_id: &user_id,
            vcs_origin: &claims.vcs_origin,
            vcs_ref: &claims.vcs_ref,
        };
        let (v1, v2) = (subject.v1(), subject.v2());
        claims.sub = v1;
        let v1 = key.sign(&claims);
        claims.sub = v2;
        let v2 = key.sign(&claims);
        Ok(JobTokens { v1, v2 })
    }

    /// A token like `presented` (one of a running job's own) for the audience `claims` asks
    /// for (`circleci run oidc get --claims '{"aud": …}'`).
    pub async fn custom_oidc_token(
        &self,
        presented: &str,
        claims: &serde_json::Value,
    ) -> Result<String, AppError> {
        let audience = oidc::custom_audience(claims).map_err(|e| AppError::Invalid(e.0))?;
        let prefix = format!("{}/oidc/org/", self.config.public_url);
        let published = self.oidc_public_keys().await?;
        let mut base = oidc::verify(presented, &published, &prefix)
            .map_err(|e| AppError::Unauthenticated(e.to_string()))?;
        let job = match Uuid::parse_str(&base.job_id) {
            Ok(id) => self.store.builds().job_by_uuid(id).await?,
            Err(_) => None,
        };
        match job {
            Some(j) if j.state == circlet_core::build_state::JobState::Running => {}
            _ => {
                return Err(AppError::Unauthenticated(
                    "the job this ID token was issued to is not running".into(),
                ));
            }
        }
        let iat = now_secs();
        base.aud = audience;
        base.iat = iat;
        base.exp = iat + oidc::LIFETIME_SECS;
        Ok(self.oidc_key().await?.sign(&base))
    }
}

/// The stable id of an actor known only by login: a UUID (v5) of it.
fn actor_uuid(login: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("circlet actor {login}").as_bytes(),
    )
}
