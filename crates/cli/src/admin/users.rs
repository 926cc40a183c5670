//! `circlet admin user …`: creating users, editing them, disabling them and setting their
//! passwords, through the same use cases (`circlet_app::accounts`) as Admin → Users.

use super::{cli_actor, find_user, service_error};
use anyhow::{Context, bail};
use circlet_app::accounts;
use circlet_core::{DisplayName, Email, Login, Password};
use circlet_store::{NewUser, Store};
use clap::Subcommand;
use std::io::BufRead;

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
    /// Disable a user: they cannot log in and their sessions end at once. The last active
    /// site admin cannot be disabled.
    Disable {
        /// The user's login.
        login: String,
    },
    /// Change a user's name, email or site-admin flag (what is not given stays). The last
    /// active site admin keeps the flag.
    Edit {
        /// The user's login.
        login: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// New email address.
        #[arg(long)]
        email: Option<String>,
        /// true or false.
        #[arg(long, value_name = "BOOL")]
        site_admin: Option<bool>,
    },
    /// Set a new password for a user, ending their sessions; without --password-stdin a strong
    /// password is generated and printed once.
    SetPassword {
        /// The user's login.
        login: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Runs one `admin user` command.
pub(super) async fn run(store: &Store, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            login,
            name,
            email,
            admin,
            password_stdin,
        } => create_user(store, &login, name, email, admin, password_stdin).await,
        UserCommand::Disable { login } => {
            let login = Login::parse(&login)?;
            accounts::set_disabled(store, &login, true, &cli_actor())
                .await
                .map_err(service_error)?;
            println!("disabled {login}");
            Ok(())
        }
        UserCommand::Edit {
            login,
            name,
            email,
            site_admin,
        } => edit_user(store, &login, name, email, site_admin).await,
        UserCommand::SetPassword {
            login,
            password_stdin,
        } => {
            let login = Login::parse(&login)?;
            let (password, shown) = new_password(password_stdin)?;
            let user = accounts::set_password(store, &login, password, &cli_actor())
                .await
                .map_err(service_error)?;
            println!(
                "set a new password for {}; their sessions ended",
                user.login
            );
            if let Some(pw) = shown {
                println!("password: {pw}");
                println!("(shown once; it is not stored in the clear)");
            }
            Ok(())
        }
    }
}

/// `admin user create`.
pub(super) async fn create_user(
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
    let (password, shown) = new_password(password_stdin)?;
    let hash = circlet_app::password::hash(password).await?;
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

/// A new password: the first line of standard input, or (without `from_stdin`) a strong one
/// generated here and returned a second time to be shown once.
pub(super) fn new_password(from_stdin: bool) -> anyhow::Result<(Password, Option<String>)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            bail!("no password on stdin");
        }
        Ok((Password::parse(line)?, None))
    } else {
        let raw = circlet_core::secret::random_hex_secret();
        let raw = secrecy::ExposeSecret::expose_secret(&raw)[..24].to_owned();
        let password = Password::parse(&raw)?;
        Ok((password, Some(raw)))
    }
}

/// `admin user edit`: through the same use case as Admin → Users, so the last-admin rule and
/// the audit entry are the same.
pub(super) async fn edit_user(
    store: &Store,
    login: &str,
    name: Option<String>,
    email: Option<String>,
    site_admin: Option<bool>,
) -> anyhow::Result<()> {
    let current = find_user(store, login).await?;
    let edit = accounts::AccountEdit {
        name: DisplayName::parse(name.as_deref().unwrap_or(&current.name))?,
        email: Email::parse(email.as_deref().unwrap_or(&current.email))?,
        site_admin: site_admin.unwrap_or(current.site_admin),
    };
    let user = accounts::edit(store, &current.login, &edit, &cli_actor())
        .await
        .map_err(service_error)?;
    println!(
        "{}: name \"{}\", email {}, {}",
        user.login,
        user.name,
        user.email,
        if user.site_admin {
            "site admin"
        } else {
            "not a site admin"
        }
    );
    Ok(())
}
