//! Saved audiences: a workspace's named filters. Only the filter is kept;
//! who it reaches is worked out again at each use.

use crate::audit;
use crate::{get_as, get_str, get_ts, Result, Store};
use sendwell_core::{AudienceId, Timestamp, WorkspaceId};
use sqlx::any::AnyRow;

#[derive(Clone, Debug, PartialEq)]
pub struct SavedAudience {
    pub id: AudienceId,
    pub name: String,
    /// The filter's canonical JSON.
    pub filter: serde_json::Value,
    pub filter_text: String,
    pub created_by: String,
    pub created_at: Timestamp,
}

/// An audience name taken already in the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameTaken;

const COLUMNS: &str = "id, name, filter, filter_text, created_by, created_at";

fn from_row(row: &AnyRow) -> Result<SavedAudience> {
    let filter = get_str(row, "filter")?;
    Ok(SavedAudience {
        id: get_as(row, "id", "audience id", AudienceId::parse)?,
        name: get_str(row, "name")?,
        filter: serde_json::from_str(&filter).map_err(|e| {
            crate::StoreError::Integrity(format!("a saved filter is not JSON: {e}"))
        })?,
        filter_text: get_str(row, "filter_text")?,
        created_by: get_str(row, "created_by")?,
        created_at: get_ts(row, "created_at")?,
    })
}

impl Store {
    /// Saves a filter under a name the workspace has not used yet.
    pub async fn save_audience(
        &self,
        ws: &WorkspaceId,
        name: &str,
        filter: &serde_json::Value,
        filter_text: &str,
        actor: &str,
    ) -> Result<std::result::Result<SavedAudience, NameTaken>> {
        let now = self.now();
        let id = AudienceId::generate(now);
        let mut tx = self.write.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO saved_audiences (id, workspace_id, name, filter, filter_text, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (workspace_id, name) DO NOTHING",
        )
        .bind(id.as_str().to_owned())
        .bind(ws.as_str().to_owned())
        .bind(name.to_owned())
        .bind(filter.to_string())
        .bind(filter_text.to_owned())
        .bind(actor.to_owned())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(Err(NameTaken));
        }
        let reason = format!("audience '{name}' saved: {filter_text}");
        audit::record_action(&mut tx, ws, actor, "audience.saved", &reason, now).await?;
        tx.commit().await?;
        Ok(Ok(SavedAudience {
            id,
            name: name.to_owned(),
            filter: filter.clone(),
            filter_text: filter_text.to_owned(),
            created_by: actor.to_owned(),
            created_at: now,
        }))
    }

    /// The workspace's saved audiences, by name.
    pub async fn saved_audiences(&self, ws: &WorkspaceId) -> Result<Vec<SavedAudience>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM saved_audiences WHERE workspace_id = $1 ORDER BY name, id"
        ))
        .bind(ws.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn saved_audience(
        &self,
        ws: &WorkspaceId,
        id: &AudienceId,
    ) -> Result<Option<SavedAudience>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM saved_audiences WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(ws.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Changes a saved audience's name and filter: `None` when the
    /// workspace has no such audience. Messages that use it by id read the
    /// new filter at their next check and send.
    pub async fn update_saved_audience(
        &self,
        ws: &WorkspaceId,
        id: &AudienceId,
        name: &str,
        filter: &serde_json::Value,
        filter_text: &str,
        actor: &str,
    ) -> Result<Option<std::result::Result<SavedAudience, NameTaken>>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        // The write comes first: on SQLite the transaction holds the write
        // lock from its first statement.
        let done = sqlx::query(
            "UPDATE saved_audiences SET name = $1, filter = $2, filter_text = $3 \
             WHERE workspace_id = $4 AND id = $5 AND NOT EXISTS (SELECT 1 FROM saved_audiences \
             WHERE workspace_id = $6 AND name = $7 AND id <> $8)",
        )
        .bind(name.to_owned())
        .bind(filter.to_string())
        .bind(filter_text.to_owned())
        .bind(ws.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(ws.as_str().to_owned())
        .bind(name.to_owned())
        .bind(id.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        let Some(saved) = audience_in(&mut tx, ws, id).await? else {
            return Ok(None);
        };
        if done.rows_affected() == 0 {
            return Ok(Some(Err(NameTaken)));
        }
        let reason = format!("audience '{name}' changed: {filter_text}");
        audit::record_action(&mut tx, ws, actor, "audience.changed", &reason, now).await?;
        tx.commit().await?;
        Ok(Some(Ok(saved)))
    }

    /// Deletes a saved audience; whether there was one.
    pub async fn delete_saved_audience(
        &self,
        ws: &WorkspaceId,
        id: &AudienceId,
        actor: &str,
    ) -> Result<Option<SavedAudience>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        // The write first, returning what it removed: the transaction holds
        // the write lock from its first statement.
        let row = sqlx::query(&format!(
            "DELETE FROM saved_audiences WHERE workspace_id = $1 AND id = $2 RETURNING {COLUMNS}"
        ))
        .bind(ws.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(found) = row.as_ref().map(from_row).transpose()? else {
            return Ok(None);
        };
        let reason = format!("audience '{}' deleted", found.name);
        audit::record_action(&mut tx, ws, actor, "audience.deleted", &reason, now).await?;
        tx.commit().await?;
        Ok(Some(found))
    }
}

/// A saved audience of the workspace, read inside a transaction.
async fn audience_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    id: &AudienceId,
) -> Result<Option<SavedAudience>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM saved_audiences WHERE workspace_id = $1 AND id = $2"
    ))
    .bind(ws.as_str().to_owned())
    .bind(id.as_str().to_owned())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}
