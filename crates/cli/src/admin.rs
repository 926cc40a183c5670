//! `circlet admin …`: users, projects, API tokens and the audit log, straight into the store the
//! server uses. Tokens are issued and revoked through `circlet_app::tokens`, the same rules
//! (and audit entries) as the web UI. `migrate-store` (moving to another database) lives in
//! [`migrate_store`].

mod migrate_store;
mod users;

use crate::datadir;
use crate::serve::open_store;
use crate::settings::Settings;
use anyhow::{Context, anyhow, bail};
use circlet_app::AppError;
use circlet_app::tokens::{self, Actor, AskedLimits, Lifetime, TokenPolicy};
use circlet_core::runner_class::RunnerClass;
use circlet_core::slug::parse_organization;
use circlet_core::token::TokenName;
use circlet_core::{BranchName, Login, ProjectSlug, RepoUrl, Role};
use circlet_store::{AuditScope, NewProject, Store};
use clap::Subcommand;
use time::OffsetDateTime;
use uuid::Uuid;

/// Admin commands.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// Manage users.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Create and revoke API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create runner tokens (what `circlet runner --token` needs).
    #[command(subcommand, name = "runner-token")]
    RunnerToken(RunnerTokenCommand),
    /// Create and list self-hosted runner resource classes (`namespace/name`): jobs whose
    /// `resource_class` names one run only on runners whose token serves it.
    #[command(subcommand, name = "resource-class")]
    ResourceClass(ResourceClassCommand),
    /// Seal every environment variable under a new key: the old key is retired (kept for
    /// values written meanwhile by servers not yet reloaded), the new one becomes current, and
    /// every value is re-sealed. Servers pick the new key up without a restart.
    RotateEnvKey,
    /// Make a new key sign jobs' OIDC ID tokens. The old key stays in the JWKS until the last
    /// token it signed has expired (an hour and a quarter), so no verifier sees a gap. Servers
    /// sign with the new key within half a minute, without a restart.
    RotateOidcKey,
    /// Publish and list orbs in this instance's own registry (configs name them as
    /// `namespace/name@version`).
    #[command(subcommand)]
    Orb(OrbCommand),
    /// Print the audit log, newest first: time, event, actor, address, detail.
    Audit {
        /// How many entries to print.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Copy the whole database into another, empty one, e.g. from SQLite to PostgreSQL.
    ///
    /// Every user, session, project, member, API token (as its digest: the tokens keep
    /// working), token usage, pipeline, workflow, job, step, output chunk, test result, artifact
    /// record, env var (still sealed), audit entry and setting is copied with its ids unchanged.
    /// The target is migrated first and must be empty; it is written in one transaction, so a
    /// failure leaves it empty. Stop `circlet serve` first: what it writes during the copy is
    /// not copied.
    ///
    /// Only the database moves. Keep the data dir: its env.key opens the env vars, its
    /// session.key keeps people logged in, and its artifacts/ directory holds the artifact
    /// files (unless --artifacts-url names a bucket). Then start the server on the new database
    /// with the same data dir (or the same --env-key-file and --artifacts-url):
    /// `circlet --data-dir DIR --database-url TO serve`.
    #[command(name = "migrate-store")]
    MigrateStore {
        /// The database to copy: sqlite://PATH or postgres://… [default: the configured
        /// --database-url, i.e. the SQLite file in the data dir].
        #[arg(long)]
        from: Option<String>,
        /// The empty database to fill: postgres://… (or sqlite://PATH).
        #[arg(long)]
        to: String,
    },
}

/// `admin orb …`.
#[derive(Subcommand)]
pub enum OrbCommand {
    /// Publish a version of an orb: FILE is its packed YAML (what `circleci orb pack` makes;
    /// `-` reads standard input). A published version is never replaced.
    Publish {
        /// namespace/name@X.Y.Z, e.g. circleci/node@5.1.0.
        reference: String,
        /// The packed orb.
        file: std::path::PathBuf,
    },
    /// List every published orb with its newest version.
    List,
}

/// `admin token …`.
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a personal API token; only the token is printed on stdout, once.
    Create {
        /// Login of the token's owner.
        #[arg(long)]
        user: String,
        /// The token's name (1–100 characters).
        #[arg(long)]
        name: String,
        /// Make the token expire this many days from now [default: never].
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Limit the token to this project (`vcs/org/repo`, one of the user's); repeat for
        /// several [default: every project of the user].
        #[arg(long = "project", value_name = "SLUG")]
        projects: Vec<String>,
        /// Limit the token to the projects of this organization (`vcs/org`), those added later
        /// included; not with --project.
        #[arg(long, value_name = "VCS/ORG")]
        org: Option<String>,
        /// The most the token may do in any project: read, write or admin [default: the user's
        /// own role in each].
        #[arg(long, value_name = "ROLE")]
        role_ceiling: Option<String>,
    },
    /// Revoke any API token, given its id or its value; it stops working at once.
    Revoke {
        /// The token's id (a UUID) or the token itself.
        token_or_id: String,
    },
}

/// `admin runner-token …`.
#[derive(Subcommand)]
pub enum RunnerTokenCommand {
    /// Create a runner token; only the token is printed on stdout, once. Revoke it with
    /// `circlet admin token revoke`.
    Create {
        /// The runner's name (1–100 characters), shown in Admin → Runners.
        name: String,
        /// The resource class (namespace/name) this runner serves; without it, the default
        /// pool (jobs without a self-hosted resource_class).
        #[arg(long)]
        resource_class: Option<String>,
    },
}

/// `admin resource-class …`.
#[derive(Subcommand)]
pub enum ResourceClassCommand {
    /// Create a resource class.
    Create {
        /// namespace/name, e.g. acme/gpu.
        name: String,
        /// What its runners offer.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the resource classes.
    List,
}

/// `admin project …`.
#[derive(Subcommand)]
pub enum ProjectCommand {
    /// Create a project owned (as admin) by an existing user.
    Create {
        /// vcs/org/repo, e.g. gh/acme/widgets.
        slug: String,
        /// Login of the project's first admin.
        #[arg(long)]
        owner: String,
        /// Git URL the runner clones [default: https://github.com/ORG/REPO.git, or bitbucket.org].
        #[arg(long)]
        repo_url: Option<String>,
        /// Default branch.
        #[arg(long, default_value = "main")]
        default_branch: String,
        /// Let anyone read builds, badges and artifacts.
        #[arg(long)]
        public: bool,
    },
    /// Add a member to a project, or change their role.
    AddMember {
        /// vcs/org/repo.
        slug: String,
        /// The member's login.
        login: String,
        /// admin, write or read.
        #[arg(long)]
        role: String,
    },
}

/// Runs an admin command against the configured store.
pub async fn run(settings: Settings, cmd: AdminCommand) -> anyhow::Result<()> {
    // Two stores, both named by URL: the configured one only as the default source.
    if let AdminCommand::MigrateStore { from, to } = cmd {
        let from = from.unwrap_or_else(|| settings.database_url.clone());
        return migrate_store::run(&from, &to).await;
    }
    if settings.database_url.starts_with("sqlite:") {
        datadir::prepare(&settings.data_dir)?;
    }
    let store = open_store(&settings).await?;
    let result = match cmd {
        AdminCommand::User(cmd) => users::run(&store, cmd).await,
        AdminCommand::Project(ProjectCommand::Create {
            slug,
            owner,
            repo_url,
            default_branch,
            public,
        }) => {
            let owner = find_user(&store, &owner).await?;
            let slug = ProjectSlug::parse(&slug)?;
            let repo_url = match repo_url {
                Some(url) => RepoUrl::parse(&url)?,
                None => RepoUrl::default_for(&slug),
            };
            let new = NewProject {
                slug,
                repo_url,
                default_branch: BranchName::parse(&default_branch)?,
                public,
            };
            let project = store.projects().create(&new, owner.id).await?;
            println!("created project {} (admin: {})", project.slug, owner.login);
            Ok(())
        }
        AdminCommand::Project(ProjectCommand::AddMember { slug, login, role }) => {
            let slug = ProjectSlug::parse(&slug)?;
            let role = Role::parse(&role)?;
            let user = find_user(&store, &login).await?;
            let project = store
                .projects()
                .by_slug(&slug)
                .await?
                .ok_or_else(|| anyhow!("no project {slug}"))?;
            store
                .projects()
                .set_member(project.id, user.id, role)
                .await?;
            println!(
                "{} is now {} of {}",
                user.login,
                role.as_str(),
                project.slug
            );
            Ok(())
        }
        AdminCommand::Token(TokenCommand::Create {
            user,
            name,
            expires_in_days,
            projects,
            org,
            role_ceiling,
        }) => {
            let limits = asked_limits(&projects, org.as_deref(), role_ceiling.as_deref())?;
            let policy = TokenPolicy {
                max_lifetime_days: settings.max_token_lifetime_days,
                personal_cap: 500,
            };
            create_token(&store, &policy, &user, &name, expires_in_days, &limits).await
        }
        AdminCommand::Token(TokenCommand::Revoke { token_or_id }) => {
            revoke_token(&store, &token_or_id).await
        }
        AdminCommand::RunnerToken(RunnerTokenCommand::Create {
            name,
            resource_class,
        }) => {
            let name = TokenName::parse(&name, "name")?;
            let class = resource_class
                .as_deref()
                .map(RunnerClass::parse)
                .transpose()
                .map_err(|e| anyhow::anyhow!(e))?;
            let (value, record) = tokens::issue_runner(&store, &name, class.as_ref(), &cli_actor())
                .await
                .map_err(service_error)?;
            println!("{}", value.expose());
            eprintln!(
                "created runner token \"{}\" (id {}); it is shown only once",
                record.name, record.uuid
            );
            Ok(())
        }
        AdminCommand::RotateEnvKey => rotate_env_key(&store, &settings).await,
        AdminCommand::RotateOidcKey => rotate_oidc_key(&store, &settings).await,
        AdminCommand::Audit { limit } => print_audit(&store, limit).await,
        AdminCommand::Orb(OrbCommand::Publish { reference, file }) => {
            publish_orb(&store, &reference, &file).await
        }
        AdminCommand::Orb(OrbCommand::List) => list_orbs(&store).await,
        AdminCommand::ResourceClass(ResourceClassCommand::Create { name, description }) => {
            let class =
                circlet_app::runners::create_class(&store, &name, &description, &cli_actor())
                    .await
                    .map_err(service_error)?;
            eprintln!("created resource class {}", class.name);
            Ok(())
        }
        AdminCommand::ResourceClass(ResourceClassCommand::List) => {
            for c in store.runners().classes().await? {
                println!(
                    "{}\t{}\t{}",
                    c.name,
                    timestamp(&c.created_at),
                    c.description
                );
            }
            Ok(())
        }
        AdminCommand::MigrateStore { .. } => unreachable!("handled above"),
    };
    store.close().await;
    result
}

async fn rotate_oidc_key(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    let path = &settings.env_key_file;
    if !path.exists() {
        bail!(
            "no env var key at {} (OIDC keys are sealed with it): check --env-key-file (or \
             --data-dir); nothing was changed",
            path.display()
        );
    }
    let keys = circlet_app::env_vars::Keyring::from_file(path)?;
    let (new, old) = circlet_app::oidc::rotate_key(store, &keys, &cli_actor())
        .await
        .map_err(service_error)?;
    match old {
        Some(old) => println!(
            "OIDC signing key rotated: now {new} (was {old}, published until its tokens expire)"
        ),
        None => println!("OIDC signing key made: {new}"),
    }
    Ok(())
}

async fn rotate_env_key(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    let path = &settings.env_key_file;
    if !path.exists() {
        bail!(
            "no env var key at {}: check --env-key-file (or --data-dir); nothing was changed",
            path.display()
        );
    }
    // One rotation at a time: two at once could each retire a key the other just made.
    let lock_path = circlet_app::env_vars::retired_path(path).with_extension("lock");
    let _lock = RotationLock::take(&lock_path)?;
    let old = datadir::key_at(path)?;
    let retired = circlet_app::env_vars::retired_path(path);
    let mut kept = match std::fs::read_to_string(&retired) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => bail!("cannot read {}: {e}", retired.display()),
    };
    let old_hex: String = old.iter().map(|b| format!("{b:02x}")).collect();
    if !kept.lines().any(|l| l.trim() == old_hex) {
        kept.push_str(&old_hex);
        kept.push('\n');
    }
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let name = |p: &std::path::Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    // Retire first, so a server reloading between the two writes can still open every value.
    datadir::write_secret(dir, &name(&retired), &kept)?;
    let new = circlet_core::secret::random_bytes::<32>();
    let new_hex: String = new.iter().map(|b| format!("{b:02x}")).collect();
    datadir::write_secret(dir, &name(path), &new_hex)?;
    let keys = circlet_app::env_vars::Keyring::from_file(path)?;
    let n = circlet_app::env_vars::reseal_all(store, &keys).await?
        + circlet_app::env_vars::reseal_ssh_keys(store, &keys).await?
        + circlet_app::contexts::reseal_vars(store, &keys).await?
        + circlet_app::hooks::reseal_secrets(store, &keys).await?
        + circlet_app::outbound::reseal_secrets(store, &keys).await?
        + circlet_app::oidc::reseal_keys(store, &keys)
            .await
            .map_err(service_error)?;
    println!(
        "env var key rotated: now {} (was {}); re-sealed {n} value(s)",
        circlet_core::envcrypt::key_id(&new),
        circlet_core::envcrypt::key_id(&old)
    );
    Ok(())
}

/// A lock file held for the length of a key rotation, removed when dropped.
struct RotationLock(std::path::PathBuf);

impl RotationLock {
    fn take(path: &std::path::Path) -> anyhow::Result<RotationLock> {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| {
                anyhow!(
                    "another rotation holds {} ({e}); if none is running, remove that file",
                    path.display()
                )
            })?;
        Ok(RotationLock(path.to_owned()))
    }
}

impl Drop for RotationLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Who the audit log names for what this command line does.
fn cli_actor() -> Actor {
    Actor {
        user_id: None,
        login: "admin-cli".into(),
        address: "local".into(),
    }
}

/// A use case's failure as the CLI's one error line (`circlet: error: …`), keeping an internal
/// failure's cause: the operator is shown what the server would only log.
fn service_error(e: AppError) -> anyhow::Error {
    match e {
        AppError::Internal(cause) => cause,
        other => anyhow!("{other}"),
    }
}

/// The limits `admin token create`'s flags ask for.
fn asked_limits(
    projects: &[String],
    org: Option<&str>,
    role_ceiling: Option<&str>,
) -> anyhow::Result<AskedLimits> {
    Ok(AskedLimits {
        projects: projects
            .iter()
            .map(|p| ProjectSlug::parse(p))
            .collect::<Result<_, _>>()?,
        organization: org.map(parse_organization).transpose()?,
        ceiling: role_ceiling.map(Role::parse).transpose()?,
    })
}

/// `admin token create`: the instance's `--max-token-lifetime-days` (in `policy`) binds it as
/// it binds the web UI and the API, so a token made here cannot outlive what the instance
/// promises its users.
async fn create_token(
    store: &Store,
    policy: &TokenPolicy,
    login: &str,
    name: &str,
    expires_in_days: Option<u32>,
    limits: &AskedLimits,
) -> anyhow::Result<()> {
    let owner = find_user(store, login).await?;
    let name = TokenName::parse(name, "name")?;
    let lifetime = expires_in_days.map_or(Lifetime::Never, Lifetime::Days);
    let expires_at =
        policy
            .expiry(lifetime, OffsetDateTime::now_utc())
            .map_err(|e| match policy.max_lifetime_days {
                Some(max) => anyhow!(
                    "{e} (--max-token-lifetime-days {max}): pass --expires-in-days with 1 to {max}"
                ),
                None => anyhow!(e),
            })?;
    let (value, record) = tokens::issue_personal(
        store,
        policy,
        &owner,
        &name,
        expires_at,
        limits,
        &cli_actor(),
    )
    .await
    .map_err(service_error)?;
    // Only the value goes to stdout, so `TOKEN=$(circlet admin token create …)` works.
    println!("{}", value.expose());
    eprintln!(
        "created personal API token \"{}\" for {} (id {}, expires {}, {}); it is shown only once",
        record.name,
        owner.login,
        record.uuid,
        record.expires_at.map_or("never".into(), |t| timestamp(&t)),
        record.limits.describe_as("the user's")
    );
    Ok(())
}

async fn revoke_token(store: &Store, token_or_id: &str) -> anyhow::Result<()> {
    let arg = token_or_id.trim();
    // The error never repeats the argument: it may be a real token.
    let token = match Uuid::parse_str(arg) {
        Ok(uuid) => store.tokens().by_uuid(uuid).await?,
        Err(_) => match circlet_core::token::check(arg) {
            Some(checked) => store.tokens().by_digest(&checked.digest).await?,
            None => bail!("that is neither an API token id nor a valid API token"),
        },
    }
    .ok_or_else(|| anyhow!("no API token with that id or value (already revoked?)"))?;
    tokens::delete(store, &token, "token.revoked", &cli_actor())
        .await
        .map_err(service_error)?;
    println!(
        "revoked {} token \"{}\" …{} (id {})",
        token.kind.as_str(),
        token.name,
        token.last4,
        token.uuid
    );
    Ok(())
}

async fn publish_orb(store: &Store, reference: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let source = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(
                std::io::stdin(),
                circlet_core::ci_config::MAX_CONFIG_BYTES as u64 + 1,
            ),
            &mut text,
        )
        .context("reading the orb from standard input")?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let record = circlet_app::orbs::publish(store, reference, &source, &cli_actor().login)
        .await
        .map_err(service_error)?;
    println!("published {}", circlet_app::orbs::reference(&record));
    Ok(())
}

async fn list_orbs(store: &Store) -> anyhow::Result<()> {
    for r in store.orbs().latest().await? {
        println!(
            "{}	{}	{}",
            circlet_app::orbs::reference(&r),
            timestamp(&r.published_at),
            r.published_by
        );
    }
    Ok(())
}

async fn print_audit(store: &Store, limit: u32) -> anyhow::Result<()> {
    let entries = store
        .audit()
        .list(AuditScope::All, i64::from(limit))
        .await?;
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    for e in entries {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            timestamp(&e.at),
            e.event,
            dash(&e.actor_login),
            dash(&e.address),
            e.detail.replace(['\n', '\t'], " ")
        );
    }
    Ok(())
}

/// `2026-11-28T04:00:12Z`.
fn timestamp(t: &OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

async fn find_user(store: &Store, login: &str) -> anyhow::Result<circlet_store::User> {
    let login = Login::parse(login)?;
    store
        .users()
        .by_login(&login)
        .await?
        .ok_or_else(|| anyhow!("no user with login '{login}'"))
}
