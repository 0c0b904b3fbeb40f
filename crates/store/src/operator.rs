//! The delivery team's console accounts and sessions. An operator is a
//! console account (one identity: email, password, second factor) with a
//! platform role in `operator_accounts`; operator sessions live in their
//! own table, so a workspace session never reaches an operator page.

use crate::account::{account_for_invite, account_from, ACCOUNT_COLUMNS};
use crate::{get_str, get_ts, Result, Store};
use sendwell_core::{AccountId, OperatorRole, Timestamp};
use sqlx::any::AnyRow;

/// A person of the delivery team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    pub account: crate::Account,
    pub role: OperatorRole,
    pub created_by: String,
    pub created_at: Timestamp,
}

impl Operator {
    /// What audit logs name this person by.
    pub fn actor(&self) -> String {
        format!("operator:{}", self.account.email)
    }
}

/// A signed-in operator session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorSession {
    pub operator: Operator,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
}

fn operator_from(row: &AnyRow) -> Result<Operator> {
    Ok(Operator {
        account: account_from(row)?,
        role: crate::get_as(row, "role", "operator role", |r| {
            OperatorRole::parse(r).ok_or(())
        })?,
        created_by: get_str(row, "op_created_by")?,
        created_at: get_ts(row, "op_created_at")?,
    })
}

const OPERATOR_COLUMNS: &str =
    "o.role, o.created_by AS op_created_by, o.created_at AS op_created_at";

fn select_operator() -> String {
    format!(
        "SELECT {ACCOUNT_COLUMNS}, {OPERATOR_COLUMNS} \
         FROM operator_accounts o JOIN accounts a ON a.id = o.account_id"
    )
}

impl Store {
    /// Gives `email` (an address key) the platform role `role`, making its
    /// account when there is none, with the setup link `setup` (its digest
    /// and expiry): the only way to set an operator's password and second
    /// factor. Every other one-time link of the account stops working, and
    /// its operator sessions end (a person added again sets up afresh).
    pub async fn add_operator(
        &self,
        email: &str,
        role: OperatorRole,
        setup: crate::NewToken<'_>,
        actor: &str,
    ) -> Result<Operator> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let (account, _) = account_for_invite(&mut tx, email, now).await?;
        sqlx::query(
            "INSERT INTO operator_accounts (account_id, role, created_by, created_at, setup_token_hash, setup_expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (account_id) DO UPDATE SET role = excluded.role, \
             setup_token_hash = excluded.setup_token_hash, setup_expires_at = excluded.setup_expires_at",
        )
        .bind(account.as_str().to_owned())
        .bind(role.as_str())
        .bind(actor.to_owned())
        .bind(now.millis())
        .bind(setup.hash.to_owned())
        .bind(setup.expires_at.millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE account_tokens SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL",
        )
        .bind(now.millis())
        .bind(account.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM operator_sessions WHERE account_id = $1")
            .bind(account.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!("{} WHERE o.account_id = $1", select_operator()))
            .bind(account.as_str().to_owned())
            .fetch_one(&mut *tx)
            .await?;
        let operator = operator_from(&row)?;
        tx.commit().await?;
        Ok(operator)
    }

    /// The operator a live setup link is for.
    pub async fn operator_setup(
        &self,
        token_hash: &str,
    ) -> Result<std::result::Result<Operator, crate::TokenError>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS}, {OPERATOR_COLUMNS}, o.setup_expires_at \
             FROM operator_accounts o JOIN accounts a ON a.id = o.account_id \
             WHERE o.setup_token_hash = $1"
        ))
        .bind(token_hash.to_owned())
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else {
            return Ok(Err(crate::TokenError::Unknown));
        };
        if crate::get_opt_ts(&row, "setup_expires_at")?.is_none_or(|t| t <= self.now()) {
            return Ok(Err(crate::TokenError::Expired));
        }
        Ok(Ok(operator_from(&row)?))
    }

    /// Uses a setup link: the password (hashed), the name when given and
    /// the second factor's secret (hex) are set together, the link is
    /// spent (once: of two at the same time, one wins), and every session
    /// and one-time link of the account ends.
    pub async fn complete_operator_setup(
        &self,
        token_hash: &str,
        password_hash: &str,
        name: Option<&str>,
        totp_secret: &str,
    ) -> Result<std::result::Result<Operator, crate::TokenError>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
            "SELECT account_id FROM operator_accounts WHERE setup_token_hash = $1 AND setup_expires_at > $2",
        )
        .bind(token_hash.to_owned())
        .bind(now.millis())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Err(crate::TokenError::Used));
        };
        let account = get_str(&row, "account_id")?;
        let spent = sqlx::query(
            "UPDATE operator_accounts SET setup_token_hash = NULL, setup_expires_at = NULL \
             WHERE account_id = $1 AND setup_token_hash = $2",
        )
        .bind(account.clone())
        .bind(token_hash.to_owned())
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Ok(Err(crate::TokenError::Used));
        }
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, password_set_at = $2, totp_secret = $3, \
             name = COALESCE($4, name) WHERE id = $5",
        )
        .bind(password_hash.to_owned())
        .bind(now.millis())
        .bind(totp_secret.to_owned())
        .bind(name.map(str::to_owned))
        .bind(account.clone())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE account_tokens SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL",
        )
        .bind(now.millis())
        .bind(account.clone())
        .execute(&mut *tx)
        .await?;
        for table in ["console_sessions", "operator_sessions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                .bind(account.clone())
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(&format!("{} WHERE o.account_id = $1", select_operator()))
            .bind(account)
            .fetch_one(&mut *tx)
            .await?;
        let operator = operator_from(&row)?;
        tx.commit().await?;
        Ok(Ok(operator))
    }

    /// Takes the platform role away from `email`; its operator sessions
    /// end. Whether it had one.
    pub async fn remove_operator(&self, email: &str) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query("SELECT id FROM accounts WHERE email = $1")
            .bind(email.to_owned())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let id = get_str(&row, "id")?;
        let done = sqlx::query("DELETE FROM operator_accounts WHERE account_id = $1")
            .bind(id.clone())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM operator_sessions WHERE account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// The operator behind an account, if it has a platform role.
    pub async fn operator(&self, account: &AccountId) -> Result<Option<Operator>> {
        let row = sqlx::query(&format!("{} WHERE o.account_id = $1", select_operator()))
            .bind(account.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(operator_from).transpose()
    }

    /// Every operator, by address.
    pub async fn operators(&self) -> Result<Vec<Operator>> {
        let rows = sqlx::query(&format!("{} ORDER BY a.email", select_operator()))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(operator_from).collect()
    }

    /// Starts an operator session (`id_hash` is the digest of the cookie).
    pub async fn create_operator_session(
        &self,
        id_hash: &str,
        account: &AccountId,
        client: &str,
    ) -> Result<()> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO operator_sessions (id_hash, account_id, created_at, last_seen_at, client) \
             VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(id_hash.to_owned())
        .bind(account.as_str().to_owned())
        .bind(now.millis())
        .bind(client.to_owned())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// A live operator session: its account must still have a role.
    pub async fn operator_session(&self, id_hash: &str) -> Result<Option<OperatorSession>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS}, {OPERATOR_COLUMNS}, s.created_at AS session_created, \
             s.last_seen_at FROM operator_sessions s \
             JOIN operator_accounts o ON o.account_id = s.account_id \
             JOIN accounts a ON a.id = s.account_id WHERE s.id_hash = $1"
        ))
        .bind(id_hash.to_owned())
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(OperatorSession {
            operator: operator_from(&row)?,
            created_at: get_ts(&row, "session_created")?,
            last_seen_at: get_ts(&row, "last_seen_at")?,
        }))
    }
}
