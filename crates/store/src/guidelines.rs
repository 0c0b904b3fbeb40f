//! Versioned sending guidelines and each workspace's acceptance of them.

use crate::audit;
use crate::workspace::{activate_if_ready, WorkspaceUpdate};
use crate::{get_i64, get_opt_str, get_str, get_ts, Result, Store, StoreError};
use sendwell_core::guidelines::{BUNDLED_TEXT, BUNDLED_VERSION};
use sendwell_core::{ApiKeyId, AuditId, Timestamp, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guidelines {
    pub version: i64,
    pub text: String,
    pub published_at: Timestamp,
    pub published_by: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    pub version: i64,
    pub accepted_by: String,
    pub api_key_id: String,
    pub ip: Option<String>,
    pub accepted_at: Timestamp,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AcceptError {
    WorkspaceNotFound,
    /// Only the current version can be accepted.
    NotCurrent {
        current: i64,
    },
}

fn from_row(row: &AnyRow) -> Result<Guidelines> {
    Ok(Guidelines {
        version: get_i64(row, "version")?,
        text: get_str(row, "text")?,
        published_at: get_ts(row, "published_at")?,
        published_by: get_str(row, "published_by")?,
    })
}

/// How an acceptance was given: with an API key, or by a member signed in
/// to the console. The store keeps the key's or the account's id.
#[derive(Clone, Copy, Debug)]
pub enum AcceptedThrough<'a> {
    Key(&'a ApiKeyId),
    Member(&'a crate::Account),
}

impl Store {
    pub(crate) async fn install_bundled_guidelines(&self) -> Result<()> {
        sqlx::query(
            "INSERT INTO guidelines (version, text, published_at, published_by) VALUES ($1, $2, $3, 'sendwell') \
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(BUNDLED_VERSION)
        .bind(BUNDLED_TEXT)
        .bind(self.now().millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn current_guidelines(&self) -> Result<Guidelines> {
        let row = sqlx::query(
            "SELECT version, text, published_at, published_by FROM guidelines ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?
        .ok_or_else(|| StoreError::Integrity("no guidelines are installed".to_owned()))?;
        from_row(&row)
    }

    /// Publishes a new version; every workspace must accept it before its next send.
    /// Publishes a new version; workspaces that accepted an earlier one
    /// send as before for `grace_days`.
    pub async fn publish_guidelines(
        &self,
        text: &str,
        actor: &str,
        grace_days: u32,
    ) -> Result<Guidelines> {
        let now = self.now();
        let grace_until = now.millis() + i64::from(grace_days) * 86_400_000;
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
            "INSERT INTO guidelines (version, text, published_at, published_by, grace_until) \
             SELECT COALESCE(MAX(version), 0) + 1, $1, $2, $3, $4 FROM guidelines RETURNING version",
        )
        .bind(text.to_owned())
        .bind(now.millis())
        .bind(actor.to_owned())
        .bind(grace_until)
        .fetch_one(&mut *tx)
        .await?;
        let version: i64 = row.try_get("version")?;
        tx.commit().await?;
        Ok(Guidelines {
            version,
            text: text.to_owned(),
            published_at: now,
            published_by: actor.to_owned(),
        })
    }

    /// Records an admin's acceptance of the current version, and activates
    /// the workspace if that was its last obligation.
    pub async fn accept_guidelines(
        &self,
        ws: &WorkspaceId,
        version: i64,
        accepted_by: &str,
        through: AcceptedThrough<'_>,
        ip: Option<&str>,
    ) -> Result<Result<WorkspaceUpdate, AcceptError>> {
        let now = self.now();
        let (actor, credential) = match through {
            AcceptedThrough::Key(key) => (format!("key:{key}"), key.as_str().to_owned()),
            AcceptedThrough::Member(account) => (account.actor(), account.id.as_str().to_owned()),
        };
        let mut tx = self.write.begin().await?;
        let exists = sqlx::query("SELECT id FROM workspaces WHERE id = $1")
            .bind(ws.as_str().to_owned())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(Err(AcceptError::WorkspaceNotFound));
        }
        let current: i64 = sqlx::query("SELECT MAX(version) AS v FROM guidelines")
            .fetch_one(&mut *tx)
            .await?
            .try_get::<Option<i64>, _>("v")?
            .unwrap_or(0);
        if version != current {
            return Ok(Err(AcceptError::NotCurrent { current }));
        }
        sqlx::query(
            "INSERT INTO guideline_acceptances (id, workspace_id, version, accepted_by, api_key_id, ip, accepted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(AuditId::generate(now).as_str().to_owned())
        .bind(ws.as_str().to_owned())
        .bind(version)
        .bind(accepted_by.to_owned())
        .bind(credential)
        .bind(ip.map(str::to_owned))
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        audit::record_action(
            &mut tx,
            ws,
            &actor,
            "guidelines.accepted",
            &format!("guidelines version {version} accepted by {accepted_by}"),
            now,
        )
        .await?;
        let update = activate_if_ready(&mut tx, ws, &actor, now).await?;
        tx.commit().await?;
        Ok(Ok(update))
    }

    pub async fn acceptances(&self, ws: &WorkspaceId) -> Result<Vec<Acceptance>> {
        let rows = sqlx::query(
            "SELECT version, accepted_by, api_key_id, ip, accepted_at FROM guideline_acceptances \
             WHERE workspace_id = $1 ORDER BY accepted_at, id",
        )
        .bind(ws.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Acceptance {
                    version: get_i64(row, "version")?,
                    accepted_by: get_str(row, "accepted_by")?,
                    api_key_id: get_str(row, "api_key_id")?,
                    ip: get_opt_str(row, "ip")?,
                    accepted_at: get_ts(row, "accepted_at")?,
                })
            })
            .collect()
    }
}
