//! The delivery team's console accounts and sessions. An operator is a
//! console account (one identity: email, password, second factor) with a
//! platform role in `operator_accounts`; operator sessions live in their
//! own table, so a workspace session never reaches an operator page.

use crate::account::{account_for_invite, account_from, insert_token, ACCOUNT_COLUMNS};
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

/// What adding an operator did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedOperator {
    pub operator: Operator,
    /// Whether the account had a password already: then no invite link
    /// was stored (it would let the link's holder replace the password).
    pub had_password: bool,
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
    /// account when there is none; a new account gets the invite `token`.
    pub async fn add_operator(
        &self,
        email: &str,
        role: OperatorRole,
        token: crate::NewToken<'_>,
        actor: &str,
    ) -> Result<AddedOperator> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let (account, had_password) = account_for_invite(&mut tx, email, now).await?;
        sqlx::query(
            "INSERT INTO operator_accounts (account_id, role, created_by, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id) DO UPDATE SET role = excluded.role",
        )
        .bind(account.as_str().to_owned())
        .bind(role.as_str())
        .bind(actor.to_owned())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        if !had_password {
            insert_token(&mut tx, &account, crate::TokenPurpose::Invite, token, now).await?;
        }
        let row = sqlx::query(&format!("{} WHERE o.account_id = $1", select_operator()))
            .bind(account.as_str().to_owned())
            .fetch_one(&mut *tx)
            .await?;
        let operator = operator_from(&row)?;
        tx.commit().await?;
        Ok(AddedOperator {
            operator,
            had_password,
        })
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

    pub async fn touch_operator_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("UPDATE operator_sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(self.now().millis())
            .bind(id_hash.to_owned())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn end_operator_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM operator_sessions WHERE id_hash = $1")
            .bind(id_hash.to_owned())
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
