//! `circlet admin …`: users and projects, straight into the store the server uses.

use crate::datadir;
use crate::serve::open_store;
use crate::settings::Settings;
use anyhow::{Context, anyhow, bail};
use circlet_core::{BranchName, DisplayName, Email, Login, Password, ProjectSlug, RepoUrl, Role};
use circlet_store::{NewProject, NewUser, Store};
use clap::Subcommand;
use std::io::BufRead;

/// Admin commands.
#[derive(Subcommand)]
pub enum AdminCommand {
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
}

/// `admin user …`.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; without --password-stdin a strong password is generated and printed once.
    Create {
        /// The new user's login.
        login: String,
        /// Display name [default: the login].
        #[arg(long)]
        name: Option<String>,
        /// Email address [default: LOGIN@localhost].
        #[arg(long)]
        email: Option<String>,
        /// Make the user a site admin.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: they cannot log in and their sessions end at once.
    Disable {
        /// The user's login.
        login: String,
    },
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
    if settings.database_url.starts_with("sqlite:") {
        datadir::prepare(&settings.data_dir)?;
    }
    let store = open_store(&settings).await?;
    let result = match cmd {
        AdminCommand::User(UserCommand::Create {
            login,
            name,
            email,
            admin,
            password_stdin,
        }) => create_user(&store, &login, name, email, admin, password_stdin).await,
        AdminCommand::User(UserCommand::Disable { login }) => {
            let login = Login::parse(&login)?;
            store.users().set_disabled(&login, true).await?;
            println!("disabled {login}");
            Ok(())
        }
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
    };
    store.close().await;
    result
}

async fn find_user(store: &Store, login: &str) -> anyhow::Result<circlet_store::User> {
    let login = Login::parse(login)?;
    store
        .users()
        .by_login(&login)
        .await?
        .ok_or_else(|| anyhow!("no user with login '{login}'"))
}

async fn create_user(
    store: &Store,
    login: &str,
    name: Option<String>,
    email: Option<String>,
    admin: bool,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let login = Login::parse(login)?;
    let name = DisplayName::parse(name.as_deref().unwrap_or(login.as_str()))?;
    let email = Email::parse(&email.unwrap_or_else(|| format!("{login}@localhost")))?;
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            bail!("no password on stdin");
        }
        (Password::parse(line)?, false)
    } else {
        let raw = circlet_core::secret::random_hex_secret();
        let raw = secrecy::ExposeSecret::expose_secret(&raw)[..24].to_owned();
        (Password::parse(&raw)?, true)
    };
    let shown = generated.then(|| password.expose().to_owned());
    let hash = circlet_server::auth::password::hash(password).await?;
    let user = store
        .users()
        .create(&NewUser {
            login,
            name,
            email,
            password_hash: hash,
            site_admin: admin,
        })
        .await?;
    println!(
        "created user {}{}",
        user.login,
        if admin { " (site admin)" } else { "" }
    );
    if let Some(pw) = shown {
        println!("password: {pw}");
        println!("(shown once; it is not stored in the clear)");
    }
    Ok(())
}
