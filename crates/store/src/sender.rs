//! Sender domains: the domains a workspace sends from, with their DKIM
//! keys. The keys arrive here already encrypted; the store never sees them
//! in the clear.

use crate::{get_opt_str, get_opt_ts, get_str, get_ts, Result, Store};
use sendwell_core::{Timestamp, WorkspaceId};
use serde_json::Value;
use sqlx::any::AnyRow;

/// A sender domain as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct SenderDomain {
    pub workspace_id: WorkspaceId,
    /// Lower-case ASCII (punycode) form.
    pub domain: String,
    pub rsa_selector: Option<String>,
    /// The encrypted PKCS#8 private key.
    pub rsa_key: Option<String>,
    pub ed25519_selector: Option<String>,
    pub ed25519_key: Option<String>,
    pub verified_at: Option<Timestamp>,
    pub checked_at: Option<Timestamp>,
    /// What the last DNS check found.
    pub last_check: Option<Value>,
    pub created_at: Timestamp,
}

const COLUMNS: &str =
    "workspace_id, domain, rsa_selector, rsa_key, ed25519_selector, ed25519_key, \
     verified_at, checked_at, last_check, created_at";

fn domain_from(row: &AnyRow) -> Result<SenderDomain> {
    Ok(SenderDomain {
        workspace_id: crate::get_workspace_id(row, "workspace_id")?,
        domain: get_str(row, "domain")?,
        rsa_selector: get_opt_str(row, "rsa_selector")?,
        rsa_key: get_opt_str(row, "rsa_key")?,
        ed25519_selector: get_opt_str(row, "ed25519_selector")?,
        ed25519_key: get_opt_str(row, "ed25519_key")?,
        verified_at: get_opt_ts(row, "verified_at")?,
        checked_at: get_opt_ts(row, "checked_at")?,
        last_check: get_opt_str(row, "last_check")?.and_then(|t| serde_json::from_str(&t).ok()),
        created_at: get_ts(row, "created_at")?,
    })
}

impl Store {
    /// Adds a sender domain; `false` when the workspace already has it.
    pub async fn create_sender_domain(&self, d: &SenderDomain) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO sender_domains (workspace_id, domain, rsa_selector, rsa_key, ed25519_selector, \
             ed25519_key, verified_at, checked_at, last_check, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL, $7) ON CONFLICT DO NOTHING",
        )
        .bind(d.workspace_id.as_str().to_owned())
        .bind(d.domain.clone())
        .bind(d.rsa_selector.clone())
        .bind(d.rsa_key.clone())
        .bind(d.ed25519_selector.clone())
        .bind(d.ed25519_key.clone())
        .bind(d.created_at.millis())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn sender_domains(&self, ws: &WorkspaceId) -> Result<Vec<SenderDomain>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sender_domains WHERE workspace_id = $1 ORDER BY domain"
        ))
        .bind(ws.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(domain_from).collect()
    }

    pub async fn sender_domain(
        &self,
        ws: &WorkspaceId,
        domain: &str,
    ) -> Result<Option<SenderDomain>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sender_domains WHERE workspace_id = $1 AND domain = $2"
        ))
        .bind(ws.as_str().to_owned())
        .bind(domain.to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(domain_from).transpose()
    }

    /// Keeps the result of a DNS check; a domain stays verified once it
    /// was (a later failed check is shown, but does not stop sending).
    pub async fn record_domain_check(
        &self,
        ws: &WorkspaceId,
        domain: &str,
        verified: bool,
        check: &Value,
    ) -> Result<Option<SenderDomain>> {
        let now = self.now();
        sqlx::query(
            "UPDATE sender_domains SET checked_at = $1, last_check = $2, \
             verified_at = CASE WHEN $3 = 1 THEN COALESCE(verified_at, $4) ELSE verified_at END \
             WHERE workspace_id = $5 AND domain = $6",
        )
        .bind(now.millis())
        .bind(check.to_string())
        .bind(i64::from(verified))
        .bind(now.millis())
        .bind(ws.as_str().to_owned())
        .bind(domain.to_owned())
        .execute(&self.write)
        .await?;
        self.sender_domain(ws, domain).await
    }

    pub async fn delete_sender_domain(&self, ws: &WorkspaceId, domain: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM sender_domains WHERE workspace_id = $1 AND domain = $2")
                .bind(ws.as_str().to_owned())
                .bind(domain.to_owned())
                .execute(&self.write)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}
