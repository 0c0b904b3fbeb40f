//! Hosted sign-up forms and their submissions (double opt-in). A
//! submission and its confirmation mail are written together; the
//! confirmation creates (or updates) the contact and appends the opt-in to
//! the ledger in one transaction, once.

use crate::consent::append_in_tx;
use crate::contact::{load_schema, save_new_types, BatchItemError, ContactInput};
use crate::{audit, get_opt_str, get_opt_ts, get_str, get_ts, Result, Store};
use sendwell_core::consent::{ConsentEvent, NewConsentEvent};
use sendwell_core::{ContactId, Timestamp, WorkspaceId};
use serde_json::Value;
use sqlx::any::AnyRow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormRecord {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub topic: String,
    pub fields: Vec<String>,
    pub wording: String,
    pub redirect_url: Option<String>,
    pub origins: Vec<String>,
    pub created_by: String,
    pub created_at: Timestamp,
}

/// A form as the workspace asks for it.
#[derive(Clone, Debug)]
pub struct NewForm {
    pub topic: String,
    pub fields: Vec<String>,
    pub wording: String,
    pub redirect_url: Option<String>,
    pub origins: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    pub id: String,
    pub form_id: String,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub fields: Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub submitted_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
}

/// What a confirmation did.
#[derive(Debug)]
pub enum Confirmed {
    /// The contact (created or updated) and the opt-in appended.
    Now(ContactId, Box<ConsentEvent>),
    /// Confirmed before: nothing written.
    Already,
    /// The fields do not fit the workspace's attributes (a type changed
    /// since the form was made): nothing written.
    Refused(Vec<BatchItemError>),
}

const FORM_COLUMNS: &str =
    "id, workspace_id, topic, fields, wording, redirect_url, origins, created_by, created_at";
const SUBMISSION_COLUMNS: &str =
    "id, form_id, workspace_id, email, fields, ip, user_agent, submitted_at, confirmed_at";

fn list_column(row: &AnyRow, col: &str) -> Result<Vec<String>> {
    let raw = get_str(row, col)?;
    serde_json::from_str(&raw)
        .map_err(|_| crate::StoreError::Integrity(format!("forms.{col} is not a JSON list")))
}

fn form_from(row: &AnyRow) -> Result<FormRecord> {
    Ok(FormRecord {
        id: get_str(row, "id")?,
        workspace_id: crate::get_workspace_id(row, "workspace_id")?,
        topic: get_str(row, "topic")?,
        fields: list_column(row, "fields")?,
        wording: get_str(row, "wording")?,
        redirect_url: get_opt_str(row, "redirect_url")?,
        origins: list_column(row, "origins")?,
        created_by: get_str(row, "created_by")?,
        created_at: get_ts(row, "created_at")?,
    })
}

fn submission_from(row: &AnyRow) -> Result<Submission> {
    let fields = get_str(row, "fields")?;
    Ok(Submission {
        id: get_str(row, "id")?,
        form_id: get_str(row, "form_id")?,
        workspace_id: crate::get_workspace_id(row, "workspace_id")?,
        email: get_str(row, "email")?,
        fields: serde_json::from_str(&fields).map_err(|_| {
            crate::StoreError::Integrity("form_submissions.fields is not JSON".to_owned())
        })?,
        ip: get_opt_str(row, "ip")?,
        user_agent: get_opt_str(row, "user_agent")?,
        submitted_at: get_ts(row, "submitted_at")?,
        confirmed_at: get_opt_ts(row, "confirmed_at")?,
    })
}

fn random_id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        sendwell_core::secret::to_hex(&sendwell_core::secret::random_bytes::<12>())
    )
}

impl Store {
    pub async fn create_form(
        &self,
        ws: &WorkspaceId,
        new: &NewForm,
        actor: &str,
    ) -> Result<FormRecord> {
        let now = self.now();
        let id = random_id("frm");
        let mut tx = self.write.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO forms ({FORM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(id.clone())
        .bind(ws.as_str().to_owned())
        .bind(new.topic.clone())
        .bind(Value::from(new.fields.clone()).to_string())
        .bind(new.wording.clone())
        .bind(new.redirect_url.clone())
        .bind(Value::from(new.origins.clone()).to_string())
        .bind(actor.to_owned())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        let reason = format!("sign-up form {id} for topic {}", new.topic);
        audit::record_action(&mut tx, ws, actor, "form.create", &reason, now).await?;
        tx.commit().await?;
        Ok(FormRecord {
            id,
            workspace_id: ws.clone(),
            topic: new.topic.clone(),
            fields: new.fields.clone(),
            wording: new.wording.clone(),
            redirect_url: new.redirect_url.clone(),
            origins: new.origins.clone(),
            created_by: actor.to_owned(),
            created_at: now,
        })
    }

    pub async fn forms(&self, ws: &WorkspaceId) -> Result<Vec<FormRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {FORM_COLUMNS} FROM forms WHERE workspace_id = $1 ORDER BY id"
        ))
        .bind(ws.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(form_from).collect()
    }

    /// A form by its public id, whichever workspace has it.
    pub async fn form(&self, id: &str) -> Result<Option<FormRecord>> {
        let row = sqlx::query(&format!("SELECT {FORM_COLUMNS} FROM forms WHERE id = $1"))
            .bind(id.to_owned())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(form_from).transpose()
    }

    /// Removes a form: its endpoint answers 404 from now on, and sign-ups
    /// made on it can no longer be confirmed (their wording went with it).
    pub async fn delete_form(&self, ws: &WorkspaceId, id: &str, actor: &str) -> Result<bool> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let done = sqlx::query("DELETE FROM forms WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str().to_owned())
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let reason = format!("sign-up form {id} removed");
        audit::record_action(&mut tx, ws, actor, "form.delete", &reason, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A new submission's id (its confirmation link names it).
    pub fn new_submission_id() -> String {
        random_id("fs")
    }

    /// Sign-ups to the workspace's forms since `since`: the daily cap.
    pub async fn workspace_submissions_since(
        &self,
        ws: &WorkspaceId,
        since: Timestamp,
    ) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM form_submissions WHERE workspace_id = $1 AND submitted_at >= $2",
        )
        .bind(ws.as_str().to_owned())
        .bind(since.millis())
        .fetch_one(&self.read)
        .await?;
        crate::get_i64(&row, "n")
    }

    /// Submissions of an address (by its lower-case key) to the
    /// workspace's forms since `since`: the per-address limit.
    pub async fn submissions_since(
        &self,
        ws: &WorkspaceId,
        email_key: &str,
        since: Timestamp,
    ) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM form_submissions \
             WHERE workspace_id = $1 AND email_key = $2 AND submitted_at >= $3",
        )
        .bind(ws.as_str().to_owned())
        .bind(email_key.to_owned())
        .bind(since.millis())
        .fetch_one(&self.read)
        .await?;
        crate::get_i64(&row, "n")
    }

    /// Records a submission and queues its confirmation mail (kind
    /// `confirmation`), both or neither.
    pub async fn record_submission(
        &self,
        submission: &Submission,
        email_key: &str,
        (subject, raw): (&str, &str),
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO form_submissions ({SUBMISSION_COLUMNS}, email_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)"
        ))
        .bind(submission.id.clone())
        .bind(submission.form_id.clone())
        .bind(submission.workspace_id.as_str().to_owned())
        .bind(submission.email.clone())
        .bind(submission.fields.to_string())
        .bind(submission.ip.clone())
        .bind(submission.user_agent.clone())
        .bind(submission.submitted_at.millis())
        .bind(email_key.to_owned())
        .execute(&mut *tx)
        .await?;
        crate::team::insert_test_mail(
            &mut tx,
            submission.workspace_id.as_str(),
            None,
            "signup_confirmation",
            &submission.email,
            (subject, raw),
            submission.submitted_at,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn submission(&self, id: &str) -> Result<Option<Submission>> {
        let row = sqlx::query(&format!(
            "SELECT {SUBMISSION_COLUMNS} FROM form_submissions WHERE id = $1"
        ))
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(submission_from).transpose()
    }

    /// Confirms a submission once: marks it confirmed, writes the contact
    /// (`input`) and appends the opt-in `event(contact)`, all or nothing.
    pub async fn confirm_submission(
        &self,
        submission: &Submission,
        input: &ContactInput,
        event: impl FnOnce(ContactId) -> NewConsentEvent,
    ) -> Result<Confirmed> {
        let ws = &submission.workspace_id;
        let now = self.now();
        let mut tx = self.write.begin().await?;
        // The write first: it takes the write lock, and a second press
        // finds the submission confirmed already.
        let claimed = sqlx::query(
            "UPDATE form_submissions SET confirmed_at = $1 WHERE id = $2 AND confirmed_at IS NULL",
        )
        .bind(now.millis())
        .bind(submission.id.clone())
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(Confirmed::Already);
        }
        let before = load_schema(&mut tx, ws).await?;
        let mut schema = before.clone();
        let items = std::slice::from_ref(input);
        let stored = self.prefetch(&mut tx, ws, items).await?;
        let planned = self.plan_upsert(ws, &mut schema, items, stored, None);
        if !planned.errors.is_empty() {
            return Ok(Confirmed::Refused(planned.errors));
        }
        if let Err(errors) = save_new_types(
            &mut tx,
            ws,
            &before,
            &schema,
            items,
            now,
            self.max_attributes,
        )
        .await?
        {
            return Ok(Confirmed::Refused(errors));
        }
        let Some(contact) = planned.outcomes.first().map(|o| o.id.clone()) else {
            return Err(crate::StoreError::Integrity(
                "a confirmed sign-up planned no contact".to_owned(),
            ));
        };
        self.apply_upsert(&mut tx, ws, planned.write).await?;
        sqlx::query("UPDATE form_submissions SET contact_id = $1 WHERE id = $2")
            .bind(contact.as_str().to_owned())
            .bind(submission.id.clone())
            .execute(&mut *tx)
            .await?;
        let Some(appended) = append_in_tx(&mut tx, ws, event(contact.clone()), now).await? else {
            return Err(crate::StoreError::Integrity(
                "the contact of a confirmed sign-up was not found".to_owned(),
            ));
        };
        tx.commit().await?;
        Ok(Confirmed::Now(contact, Box::new(appended)))
    }
}
