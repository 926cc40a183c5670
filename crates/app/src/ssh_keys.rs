//! A project's SSH keys, CircleCI's way: checkout keys made here (`deploy-key`, `user-key`; the
//! newest is the one checkouts use, "preferred") whose public half the user adds to the
//! repository's host, and additional keys pasted for a host, for jobs' `add_ssh_keys`. Managing
//! them takes the project admin role ([`Action::ManageProject`]); the private halves are sealed
//! like env var values and never shown again. One door, [`App::ssh_keys`], for the v1.1 and v2
//! APIs (and the settings page).

use crate::{App, AppError, Caller};
use circlet_core::ProjectSlug;
use circlet_core::scope::Action;
use circlet_core::ssh_keys::{self, Fingerprints};
use circlet_store::{NewSshKey, Project, SshKeyRecord};
use secrecy::ExposeSecret;

/// What a key that is not there is called.
pub const KEY_NOT_FOUND: &str = "SSH key not found";

/// The most keys of each kind a project may hold.
pub const MAX_KEYS: usize = 100;

/// The two kinds of checkout key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutKind {
    /// A key for one repository (a GitHub deploy key).
    DeployKey,
    /// A key of the user (CircleCI's "user key", v1.1 `github-user-key`).
    UserKey,
}

impl CheckoutKind {
    /// The kind a request names: `deploy-key`, `user-key` or v1.1's `github-user-key`.
    pub fn parse(raw: &str) -> Result<CheckoutKind, AppError> {
        match raw {
            "deploy-key" => Ok(CheckoutKind::DeployKey),
            "user-key" | "github-user-key" => Ok(CheckoutKind::UserKey),
            other => Err(AppError::Invalid(format!(
                "'{other}' is not a checkout key type: deploy-key or user-key"
            ))),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutKind::DeployKey => "deploy-key",
            CheckoutKind::UserKey => "user-key",
        }
    }
}

/// What the private half is sealed for: the key's identity within its project.
pub fn sealed_name(fingerprint_sha256: &str) -> String {
    format!("ssh:{fingerprint_sha256}")
}

/// Whether `record` is a checkout key.
fn is_checkout(record: &SshKeyRecord) -> bool {
    record.kind != "additional"
}

fn fingerprints(record: &SshKeyRecord) -> Fingerprints {
    Fingerprints {
        sha256: record.fingerprint_sha256.clone(),
        md5: record.fingerprint_md5.clone(),
    }
}

impl App {
    /// The SSH keys of the project at `slug`, if `caller` may manage its settings.
    pub async fn ssh_keys(
        &self,
        caller: &Caller,
        slug: &ProjectSlug,
    ) -> Result<ProjectSshKeys<'_>, AppError> {
        let access = self.authorize(caller, slug, Action::ManageProject).await?;
        Ok(ProjectSshKeys {
            app: self,
            project: access.project,
        })
    }
}

impl App {
    /// The private halves of `project`'s keys, opened, for the server's own fetches and for a
    /// runner's job: `(record, private key)`, checkout keys newest last, then additional keys.
    /// Not a use case of any caller: only the server itself and claimed jobs get these.
    pub async fn opened_ssh_keys(
        &self,
        project: &Project,
    ) -> Result<Vec<(SshKeyRecord, secrecy::SecretString)>, AppError> {
        let uuid = project.uuid.to_string();
        let mut out = Vec::new();
        for k in self.store.ssh_keys().of_project(project.id).await? {
            let name = sealed_name(&k.fingerprint_sha256);
            match self
                .config
                .env_keys
                .open_sealed(&uuid, &name, &k.key_id, &k.sealed)
            {
                Ok(clear) => out.push((k, secrecy::SecretString::from(clear))),
                Err(why) => tracing::error!(
                    project = %project.slug,
                    "SSH key {} {why}; jobs go without it",
                    k.fingerprint_sha256
                ),
            }
        }
        Ok(out)
    }

    /// The checkout key the server and runners use for `project`'s repository: the newest one,
    /// when the repository is reached over SSH.
    pub async fn checkout_key_for(
        &self,
        project: &Project,
    ) -> Result<Option<secrecy::SecretString>, AppError> {
        if !ssh_keys::is_ssh_url(project.repo_url.as_str()) {
            return Ok(None);
        }
        Ok(self
            .opened_ssh_keys(project)
            .await?
            .into_iter()
            .rfind(|(k, _)| is_checkout(k))
            .map(|(_, private)| private))
    }
}

/// One project's SSH keys, for a caller allowed to manage them.
pub struct ProjectSshKeys<'a> {
    app: &'a App,
    /// The project.
    pub project: Project,
}

impl ProjectSshKeys<'_> {
    async fn all(&self) -> Result<Vec<SshKeyRecord>, AppError> {
        Ok(self
            .app
            .store
            .ssh_keys()
            .of_project(self.project.id)
            .await?)
    }

    /// The checkout keys, oldest first; the last is the preferred one.
    pub async fn checkout_keys(&self) -> Result<Vec<SshKeyRecord>, AppError> {
        Ok(self.all().await?.into_iter().filter(is_checkout).collect())
    }

    /// The additional keys, oldest first.
    pub async fn additional_keys(&self) -> Result<Vec<SshKeyRecord>, AppError> {
        Ok(self
            .all()
            .await?
            .into_iter()
            .filter(|k| !is_checkout(k))
            .collect())
    }

    /// The checkout key `fingerprint` names (MD5 or SHA-256).
    pub async fn checkout_key(&self, fingerprint: &str) -> Result<SshKeyRecord, AppError> {
        self.checkout_keys()
            .await?
            .into_iter()
            .find(|k| fingerprints(k).matches(fingerprint))
            .ok_or_else(|| AppError::NotFound(KEY_NOT_FOUND.into()))
    }

    /// Makes a checkout key of `kind`; its public half is for the repository's host.
    pub async fn create_checkout_key(&self, kind: CheckoutKind) -> Result<SshKeyRecord, AppError> {
        if self.checkout_keys().await?.len() >= MAX_KEYS {
            return Err(AppError::Invalid(format!(
                "A project may hold at most {MAX_KEYS} checkout keys"
            )));
        }
        let comment = format!("circlet {} {}", kind.as_str(), self.project.slug);
        let made =
            ssh_keys::generate(&comment).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
        self.store(
            kind.as_str(),
            "",
            &made.public,
            &made.fingerprints,
            made.private.expose_secret(),
        )
        .await
    }

    /// Removes the checkout key `fingerprint` names.
    pub async fn delete_checkout_key(&self, fingerprint: &str) -> Result<(), AppError> {
        let key = self.checkout_key(fingerprint).await?;
        self.app
            .store
            .ssh_keys()
            .delete(self.project.id, key.id)
            .await?;
        Ok(())
    }

    /// Adds a pasted private key for `hostname` (empty: any host).
    pub async fn add_key(
        &self,
        hostname: &str,
        private_key: &str,
    ) -> Result<SshKeyRecord, AppError> {
        let hostname = hostname.trim();
        ssh_keys::check_hostname(hostname).map_err(AppError::Invalid)?;
        let parsed = ssh_keys::parse_private(private_key).map_err(AppError::Invalid)?;
        if self.additional_keys().await?.len() >= MAX_KEYS {
            return Err(AppError::Invalid(format!(
                "A project may hold at most {MAX_KEYS} additional SSH keys"
            )));
        }
        self.store(
            "additional",
            hostname,
            &parsed.public,
            &parsed.fingerprints,
            private_key.trim(),
        )
        .await
        .map_err(|e| match e {
            AppError::Conflict(_) => AppError::Conflict(format!(
                "This key is added for {} already",
                if hostname.is_empty() {
                    "every host"
                } else {
                    hostname
                }
            )),
            other => other,
        })
    }

    /// Removes the additional key `fingerprint` names for `hostname`.
    pub async fn delete_key(&self, fingerprint: &str, hostname: &str) -> Result<(), AppError> {
        let key = self
            .additional_keys()
            .await?
            .into_iter()
            .find(|k| k.hostname == hostname.trim() && fingerprints(k).matches(fingerprint))
            .ok_or_else(|| AppError::NotFound(KEY_NOT_FOUND.into()))?;
        self.app
            .store
            .ssh_keys()
            .delete(self.project.id, key.id)
            .await?;
        Ok(())
    }

    /// Removes the key whose store id is `id` (checkout or additional).
    pub async fn delete(&self, id: i64) -> Result<(), AppError> {
        if self
            .app
            .store
            .ssh_keys()
            .delete(self.project.id, id)
            .await?
        {
            Ok(())
        } else {
            Err(AppError::NotFound(KEY_NOT_FOUND.into()))
        }
    }

    async fn store(
        &self,
        kind: &str,
        hostname: &str,
        public: &str,
        fp: &Fingerprints,
        private: &str,
    ) -> Result<SshKeyRecord, AppError> {
        let (key_id, sealed) = self.app.config.env_keys.seal_for(
            &self.project.uuid.to_string(),
            &sealed_name(&fp.sha256),
            private,
        );
        Ok(self
            .app
            .store
            .ssh_keys()
            .add(&NewSshKey {
                project_id: self.project.id,
                kind,
                hostname,
                public_key: public,
                fingerprint_sha256: &fp.sha256,
                fingerprint_md5: &fp.md5,
                key_id: &key_id,
                sealed: &sealed,
            })
            .await?)
    }
}
