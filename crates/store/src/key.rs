//! API keys: stored as a digest of their secret, looked up by id on every
//! request, revoked rather than deleted so the audit trail keeps them.

use crate::audit;
use crate::{get_as, get_opt_ts, get_str, get_ts, get_workspace_id, Result, Store};
use sendwell_core::{ApiKeyId, Role, Timestamp, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

/// A key about to be stored.
pub struct NewKeyRow<'a> {
    pub id: &'a ApiKeyId,
    pub name: &'a str,
    pub role: Role,
    pub secret_hash: &'a str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// Who made it (an actor as the audit log names it); unknown for keys
    /// made before this was recorded.
    pub created_by: Option<String>,
}

/// What authentication needs: the record and the digest to compare with.
#[derive(Clone, Debug)]
pub struct AuthKey {
    pub record: ApiKeyRecord,
    pub secret_hash: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RevokeError {
    NotFound,
    AlreadyRevoked,
    /// Revoking it would leave the workspace without an admin key.
    LastAdmin,
}

const SELECT_KEY: &str =
    "SELECT id, workspace_id, name, role, secret_hash, created_at, last_used_at, revoked_at, \
     created_by FROM api_keys";

fn from_row(row: &AnyRow) -> Result<AuthKey> {
    Ok(AuthKey {
        record: ApiKeyRecord {
            id: get_as(row, "id", "key id", ApiKeyId::parse)?,
            workspace_id: get_workspace_id(row, "workspace_id")?,
            name: get_str(row, "name")?,
            role: get_as(row, "role", "role", |r| Role::parse(r).ok_or(()))?,
            created_at: get_ts(row, "created_at")?,
            last_used_at: get_opt_ts(row, "last_used_at")?,
            revoked_at: get_opt_ts(row, "revoked_at")?,
            created_by: crate::get_opt_str(row, "created_by")?,
        },
        secret_hash: get_str(row, "secret_hash")?,
    })
}

pub(crate) async fn insert_key(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    key: NewKeyRow<'_>,
    actor: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, workspace_id, name, role, secret_hash, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(key.id.as_str().to_owned())
    .bind(ws.as_str().to_owned())
    .bind(key.name.to_owned())
    .bind(key.role.as_str())
    .bind(key.secret_hash.to_owned())
    .bind(now.millis())
    .bind(actor.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How many keys of the workspace other than `id` are live admin keys.
async fn other_admin_keys(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    id: &ApiKeyId,
) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM api_keys WHERE workspace_id = $1 AND role = 'admin' \
         AND revoked_at IS NULL AND id <> $2",
    )
    .bind(ws.as_str().to_owned())
    .bind(id.as_str().to_owned())
    .fetch_one(&mut **tx)
    .await?
    .try_get("n")?)
}

/// How stale `last_used_at` may get before a request refreshes it; keeps
/// authentication from writing on every request.
const TOUCH_INTERVAL_MS: i64 = 60_000;

impl Store {
    pub async fn create_api_key(
        &self,
        ws: &WorkspaceId,
        key: NewKeyRow<'_>,
        actor: &str,
    ) -> Result<ApiKeyRecord> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let reason = format!(
            "API key {} '{}' created with role {}",
            key.id,
            key.name,
            key.role.as_str()
        );
        let id = key.id.clone();
        insert_key(&mut tx, ws, key, actor, now).await?;
        audit::record_action(&mut tx, ws, actor, "api_key.created", &reason, now).await?;
        tx.commit().await?;
        self.api_key(ws, &id)
            .await?
            .ok_or_else(|| crate::StoreError::Integrity("created key not found".to_owned()))
    }

    pub async fn api_key(&self, ws: &WorkspaceId, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query(&format!("{SELECT_KEY} WHERE workspace_id = $1 AND id = $2"))
            .bind(ws.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.write)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?.map(|k| k.record))
    }

    pub async fn list_api_keys(&self, ws: &WorkspaceId) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(&format!("{SELECT_KEY} WHERE workspace_id = $1 ORDER BY id"))
            .bind(ws.as_str().to_owned())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| from_row(r).map(|k| k.record)).collect()
    }

    /// The key for authentication, revoked or not (the caller decides).
    pub async fn key_for_auth(&self, id: &ApiKeyId) -> Result<Option<AuthKey>> {
        let row = sqlx::query(&format!("{SELECT_KEY} WHERE id = $1"))
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Records use of a key, at most once a minute.
    pub async fn touch_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let now = self.now();
        let stale = key
            .last_used_at
            .is_none_or(|t| now.millis() - t.millis() > TOUCH_INTERVAL_MS);
        if stale {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now.millis())
                .bind(key.id.as_str().to_owned())
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    pub async fn revoke_api_key(
        &self,
        ws: &WorkspaceId,
        id: &ApiKeyId,
        actor: &str,
    ) -> Result<Result<ApiKeyRecord, RevokeError>> {
        let now = self.now();
        // Serialises revocations per workspace (a row lock on PostgreSQL), so
        // two admins revoking each other's keys cannot both succeed.
        let mut tx = self
            .begin_locked(
                "UPDATE workspaces SET updated_at = updated_at WHERE id = $1",
                ws,
            )
            .await?;
        let row = sqlx::query(&format!("{SELECT_KEY} WHERE workspace_id = $1 AND id = $2"))
            .bind(ws.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(key) = row.as_ref().map(from_row).transpose()? else {
            return Ok(Err(RevokeError::NotFound));
        };
        if key.record.revoked_at.is_some() {
            return Ok(Err(RevokeError::AlreadyRevoked));
        }
        if key.record.role == Role::Admin && other_admin_keys(&mut tx, ws, id).await? == 0 {
            return Ok(Err(RevokeError::LastAdmin));
        }
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now.millis())
            .bind(id.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        audit::record_action(
            &mut tx,
            ws,
            actor,
            "api_key.revoked",
            &format!("API key {} '{}' revoked", id, key.record.name),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(ApiKeyRecord {
            revoked_at: Some(now),
            ..key.record
        }))
    }
}
