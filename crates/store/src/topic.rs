//! Topics as objects: the name and description a workspace gives each
//! consent topic, shown to people on the unsubscribe page and the
//! preference centre. Consent is recorded by key; a key without a row here
//! is shown as itself.

use crate::audit;
use crate::{get_opt_str, get_str, get_ts, Result, Store};
use sendwell_core::consent::Topic;
use sendwell_core::{Timestamp, WorkspaceId};
use sqlx::any::AnyRow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicRecord {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The workspace has a topic with this key already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicExists;

const COLUMNS: &str = "key, name, description, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<TopicRecord> {
    Ok(TopicRecord {
        key: get_str(row, "key")?,
        name: get_str(row, "name")?,
        description: get_opt_str(row, "description")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

impl Store {
    pub async fn create_topic(
        &self,
        ws: &WorkspaceId,
        key: &Topic,
        name: &str,
        description: Option<&str>,
        actor: &str,
    ) -> Result<std::result::Result<TopicRecord, TopicExists>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "INSERT INTO topics (workspace_id, key, name, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (workspace_id, key) DO NOTHING",
        )
        .bind(ws.as_str().to_owned())
        .bind(key.as_str().to_owned())
        .bind(name.to_owned())
        .bind(description.map(str::to_owned))
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(Err(TopicExists));
        }
        let reason = format!("topic {key} named \"{name}\"");
        audit::record_action(&mut tx, ws, actor, "topic.create", &reason, now).await?;
        tx.commit().await?;
        Ok(Ok(TopicRecord {
            key: key.to_string(),
            name: name.to_owned(),
            description: description.map(str::to_owned),
            created_at: now,
            updated_at: now,
        }))
    }

    /// Renames or re-describes a topic; `None` when there is no such topic.
    pub async fn update_topic(
        &self,
        ws: &WorkspaceId,
        key: &Topic,
        name: &str,
        description: Option<&str>,
        actor: &str,
    ) -> Result<Option<TopicRecord>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE topics SET name = $1, description = $2, updated_at = $3 \
             WHERE workspace_id = $4 AND key = $5 RETURNING {COLUMNS}"
        ))
        .bind(name.to_owned())
        .bind(description.map(str::to_owned))
        .bind(now.millis())
        .bind(ws.as_str().to_owned())
        .bind(key.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let topic = from_row(&row)?;
        let reason = format!("topic {key} now named \"{name}\"");
        audit::record_action(&mut tx, ws, actor, "topic.update", &reason, now).await?;
        tx.commit().await?;
        Ok(Some(topic))
    }

    /// Removes a topic's name and description (the consent recorded for
    /// its key stays); false when there was none.
    pub async fn delete_topic(&self, ws: &WorkspaceId, key: &Topic, actor: &str) -> Result<bool> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let done = sqlx::query("DELETE FROM topics WHERE workspace_id = $1 AND key = $2")
            .bind(ws.as_str().to_owned())
            .bind(key.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let reason = format!("topic {key} removed (its consent records stay)");
        audit::record_action(&mut tx, ws, actor, "topic.delete", &reason, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The workspace's named topics, by key.
    pub async fn topics(&self, ws: &WorkspaceId) -> Result<Vec<TopicRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM topics WHERE workspace_id = $1 ORDER BY key"
        ))
        .bind(ws.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(from_row).collect()
    }
}
