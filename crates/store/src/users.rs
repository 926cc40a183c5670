//! Users: accounts, password hashes, the site-admin and disabled flags.

use crate::error::{Conflict, Missing};
use crate::generations::{Change, announcing};
use crate::{Store, StoreError, now, on_pool};
use circlet_core::{DisplayName, Email, Login};
use time::OffsetDateTime;
use uuid::Uuid;

/// A user account as stored (without its password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Store-assigned id.
    pub id: i64,
    /// Public id, shown by API v2.
    pub uuid: Uuid,
    /// Unique login, lowercase.
    pub login: Login,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Site admins have the admin role in every project and manage users.
    pub site_admin: bool,
    /// A disabled user cannot log in, and their sessions and tokens stop working at once.
    pub disabled: bool,
    /// When the account was made.
    pub created_at: OffsetDateTime,
}

/// What it takes to create a user. `password_hash` is an argon2id PHC string.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Unique login.
    pub login: Login,
    /// Display name.
    pub name: DisplayName,
    /// Email address.
    pub email: Email,
    /// argon2id PHC string, never a clear password.
    pub password_hash: String,
    /// Whether the user is a site admin.
    pub site_admin: bool,
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    uuid: Uuid,
    login: String,
    name: String,
    email: String,
    site_admin: bool,
    disabled: bool,
    created_at: OffsetDateTime,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let login = Login::parse(&r.login)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(e.0.into())))?;
        Ok(User {
            id: r.id,
            uuid: r.uuid,
            login,
            name: r.name,
            email: r.email,
            site_admin: r.site_admin,
            disabled: r.disabled,
            created_at: r.created_at,
        })
    }
}

/// The columns of [`UserRow`], for `concat!` into statements.
macro_rules! user_cols {
    () => {
        "users.id, users.uuid, users.login, users.name, users.email, users.site_admin, users.disabled, users.created_at"
    };
}
pub(crate) use user_cols;

const INSERT_USER: &str = concat!(
    "INSERT INTO users (login, name, email, password_hash, site_admin, disabled, created_at, uuid) ",
    "VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7) RETURNING ",
    user_cols!()
);

/// Use-cases on users; see [`Store::users`].
pub struct Users<'s>(pub(crate) &'s Store);

impl Users<'_> {
    /// Creates a user; `Conflict` when the login is taken.
    pub async fn create(&self, new: &NewUser) -> Result<User, StoreError> {
        let row: UserRow = on_pool!(self.0, pool => {
            sqlx::query_as(INSERT_USER)
                .bind(new.login.as_str())
                .bind(new.name.as_str())
                .bind(new.email.as_str())
                .bind(&new.password_hash)
                .bind(new.site_admin)
                .bind(now())
                .bind(Uuid::new_v4())
                .fetch_all(pool)
                .await
                .and_then(crate::only)
        })
        .map_err(|e| StoreError::from(e).conflict_as(Conflict::Login(new.login.to_string())))?;
        row.try_into()
    }

    /// Creates the first user, as site admin, only if there is no user yet; `None` otherwise.
    /// Two concurrent calls never both succeed.
    pub async fn create_first_admin(&self, new: &NewUser) -> Result<Option<User>, StoreError> {
        let sql = concat!(
            "INSERT INTO users (login, name, email, password_hash, site_admin, disabled, created_at, uuid) ",
            "SELECT $1, $2, $3, $4, TRUE, FALSE, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM users) RETURNING ",
            user_cols!()
        );
        let row: Option<UserRow> = on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            if self.0.kind() == crate::BackendKind::Postgres {
                // READ COMMITTED would let two transactions both see an empty table.
                sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
            }
            let row = sqlx::query_as(sql)
                .bind(new.login.as_str())
                .bind(new.name.as_str())
                .bind(new.email.as_str())
                .bind(&new.password_hash)
                .bind(now())
                .bind(Uuid::new_v4())
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(row)
        }.await)?;
        row.map(User::try_from).transpose()
    }

    /// The user with this id.
    pub async fn by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        let sql = concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1");
        let row: Option<UserRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        row.map(User::try_from).transpose()
    }

    /// The user with this public id (API v2's).
    pub async fn by_uuid(&self, uuid: Uuid) -> Result<Option<User>, StoreError> {
        let sql = concat!("SELECT ", user_cols!(), " FROM users WHERE uuid = $1");
        let row: Option<UserRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).bind(uuid).fetch_optional(pool).await)?;
        row.map(User::try_from).transpose()
    }

    /// The user with this login.
    pub async fn by_login(&self, login: &Login) -> Result<Option<User>, StoreError> {
        Ok(self.credentials(login).await?.map(|(u, _)| u))
    }

    /// The user with this login and their password hash, for verifying a login attempt.
    pub async fn credentials(&self, login: &Login) -> Result<Option<(User, String)>, StoreError> {
        let sql = concat!(
            "SELECT ",
            user_cols!(),
            ", password_hash FROM users WHERE login = $1"
        );
        let row: Option<(UserRow, String)> = on_pool!(self.0, pool => {
            sqlx::query(sql).bind(login.as_str()).fetch_optional(pool).await?
                .map(|r| {
                    use sqlx::{FromRow, Row};
                    Ok::<_, sqlx::Error>((UserRow::from_row(&r)?, r.try_get("password_hash")?))
                })
                .transpose()
        })?;
        row.map(|(u, h)| Ok((u.try_into()?, h))).transpose()
    }

    /// Every user, by login.
    pub async fn list(&self) -> Result<Vec<User>, StoreError> {
        let sql = concat!("SELECT ", user_cols!(), " FROM users ORDER BY login");
        let rows: Vec<UserRow> =
            on_pool!(self.0, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        rows.into_iter().map(User::try_from).collect()
    }

    /// How many users exist.
    pub async fn count(&self) -> Result<i64, StoreError> {
        let n: i64 = on_pool!(self.0, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await)?;
        Ok(n)
    }

    /// Disables or re-enables a user. Disabling also ends every session of theirs. Refused
    /// (`Conflict::LastAdmin`) when it would disable the last active site admin.
    pub async fn set_disabled(&self, login: &Login, disabled: bool) -> Result<User, StoreError> {
        self.change(login, AccountChange::Disabled(disabled)).await
    }

    /// Sets a user's name, email and site-admin flag. Refused (`Conflict::LastAdmin`) when it
    /// would take the flag from the last active site admin.
    pub async fn edit(
        &self,
        login: &Login,
        name: &DisplayName,
        email: &Email,
        site_admin: bool,
    ) -> Result<User, StoreError> {
        self.change(
            login,
            AccountChange::Edit {
                name,
                email,
                site_admin,
            },
        )
        .await
    }

    /// Makes one change that could leave the instance without an active site admin. The
    /// `UPDATE` itself holds the rule (it changes nothing when the user is the last active
    /// admin and would stop being one), so the check and the write cannot be torn apart; on
    /// PostgreSQL the table is locked first, since under READ COMMITTED two admins demoting each
    /// other at once would each still count the other. Moves the auth generation: verified
    /// tokens remember their user's flags.
    async fn change(&self, login: &Login, change: AccountChange<'_>) -> Result<User, StoreError> {
        const OTHER_ADMIN: &str = "EXISTS (SELECT 1 FROM users AS other WHERE other.site_admin \
             AND NOT other.disabled AND other.login <> $1)";
        let edit_sql = format!(
            "UPDATE users SET name = $2, email = $3, site_admin = $4 WHERE login = $1 \
             AND ($4 OR NOT site_admin OR disabled OR {OTHER_ADMIN}) RETURNING {}",
            user_cols!()
        );
        let disable_sql = format!(
            "UPDATE users SET disabled = $2 WHERE login = $1 \
             AND (NOT $2 OR NOT site_admin OR disabled OR {OTHER_ADMIN}) RETURNING {}",
            user_cols!()
        );
        let postgres = self.0.kind() == crate::BackendKind::Postgres;
        let outcome: Result<UserRow, Missing> = announcing!(self.0, Change::Revocation, tx => async {
            if postgres {
                sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
            }
            let row: Option<UserRow> = match change {
                AccountChange::Edit { name, email, site_admin } => {
                    sqlx::query_as(&edit_sql).bind(login.as_str()).bind(name.as_str())
                        .bind(email.as_str()).bind(site_admin).fetch_optional(&mut *tx).await?
                }
                AccountChange::Disabled(disabled) => {
                    sqlx::query_as(&disable_sql).bind(login.as_str()).bind(disabled)
                        .fetch_optional(&mut *tx).await?
                }
            };
            let Some(row) = row else {
                let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE login = $1")
                    .bind(login.as_str()).fetch_optional(&mut *tx).await?;
                return Ok(Err(match exists {
                    Some(_) => Missing::Member,
                    None => Missing::User(login.to_string()),
                }));
            };
            if matches!(change, AccountChange::Disabled(true)) {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(row.id).execute(&mut *tx).await?;
            }
            Ok::<_, sqlx::Error>(Ok(row))
        })?;
        match outcome {
            Ok(row) => row.try_into(),
            // The user exists, so the rule refused the change.
            Err(Missing::Member) => Err(StoreError::Conflict(Conflict::LastAdmin)),
            Err(missing) => Err(StoreError::NotFound(missing)),
        }
    }

    /// Sets a user's password hash (argon2id PHC) and ends every session of theirs and every
    /// reset link they had: whoever knew the old password, or held a link, is out.
    pub async fn set_password(&self, user_id: i64, password_hash: &str) -> Result<(), StoreError> {
        let done = on_pool!(self.0, pool => async {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user_id).bind(password_hash).execute(&mut *tx).await?.rows_affected();
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM password_resets WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        }.await)?;
        if done == 0 {
            return Err(StoreError::NotFound(Missing::User(format!("#{user_id}"))));
        }
        Ok(())
    }
}

/// A change to an account that the last-admin rule applies to.
#[derive(Clone, Copy)]
enum AccountChange<'a> {
    /// New name, email and site-admin flag.
    Edit {
        name: &'a DisplayName,
        email: &'a Email,
        site_admin: bool,
    },
    /// Disabled (`true`) or enabled again.
    Disabled(bool),
}
