//! The operator's side of enforcement: the policy (thresholds, window,
//! minimum volume, circuit breaker, probation), review cases with notes,
//! reinstatement on probation and withdrawal.

use crate::error::{ApiError, ApiResult, FieldProblem};
use crate::extract::{Acting, ApiJson, ApiQuery, OperatorCaller};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use sendwell_core::reputation::{judge, Policy, Verdict};
use sendwell_core::{StateEvent, Timestamp, WorkspaceId};
use sendwell_store::ReviewCase;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_policy, put_policy))
        .routes(routes!(list_cases))
        .routes(routes!(add_note))
        .routes(routes!(reinstate))
        .routes(routes!(withdraw))
        .routes(routes!(restore))
        .routes(routes!(set_warmup))
}

#[derive(Serialize, ToSchema)]
pub struct CaseNoteView {
    pub author: String,
    pub note: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct CaseView {
    pub id: String,
    pub workspace_id: String,
    /// `open` or `closed`.
    pub state: String,
    /// Why it opened: the rates and the lines they crossed.
    pub reason: String,
    /// Rates by day, top bouncing domains, recent imports and their
    /// provenance, recent messages.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    pub resolution: Option<String>,
    pub notes: Vec<CaseNoteView>,
    pub opened_at: String,
    pub closed_at: Option<String>,
}

impl CaseView {
    pub fn from(c: ReviewCase) -> Self {
        Self {
            id: c.id,
            workspace_id: c.workspace_id.to_string(),
            state: c.state,
            reason: c.reason,
            evidence: c.evidence,
            resolution: c.resolution,
            notes: c
                .notes
                .into_iter()
                .map(|n| CaseNoteView {
                    author: n.author,
                    note: n.note,
                    created_at: n.created_at.to_rfc3339(),
                })
                .collect(),
            opened_at: c.opened_at.to_rfc3339(),
            closed_at: c.closed_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CaseList {
    pub items: Vec<CaseView>,
}

/// A workspace's standing with the reputation monitor.
#[derive(Serialize, ToSchema)]
pub struct ReputationView {
    pub window_days: u32,
    pub sends: u64,
    pub hard_bounces: u64,
    pub complaints: u64,
    pub hard_bounce_rate: f64,
    pub complaint_rate: f64,
    /// `too_few_sends`, `fine`, `review` or `suspend`.
    pub verdict: String,
    pub probation_until: Option<String>,
    pub open_case: Option<CaseView>,
}

pub(crate) async fn reputation_view(
    state: &AppState,
    ws: &WorkspaceId,
) -> ApiResult<ReputationView> {
    let policy = state.store.policy().await?;
    let counts = state.store.judged_counts(ws, policy.window_days).await?;
    let verdict = match judge(&policy, &counts, policy.min_sends) {
        Verdict::TooFew => "too_few_sends",
        Verdict::Fine => "fine",
        Verdict::Review(_) => "review",
        Verdict::Suspend(_) => "suspend",
    };
    Ok(ReputationView {
        window_days: policy.window_days,
        sends: counts.sends,
        hard_bounces: counts.hard_bounces,
        complaints: counts.complaints,
        hard_bounce_rate: counts.hard_bounce_rate(),
        complaint_rate: counts.complaint_rate(),
        verdict: verdict.to_owned(),
        probation_until: state
            .store
            .probation_until(ws)
            .await?
            .map(|t| t.to_rfc3339()),
        open_case: state.store.open_case_of(ws).await?.map(CaseView::from),
    })
}

/// The enforcement policy (operator).
#[utoipa::path(get, path = "/v1/operator/policy", tag = "operator", security(("bearer" = [])),
    responses((status = 200, description = "The policy: review_hard_bounce_rate, suspend_hard_bounce_rate, review_complaint_rate, suspend_complaint_rate, window_days, min_sends, breaker_min_deliveries, probation_days")))]
pub async fn get_policy(
    State(state): State<AppState>,
    _operator: OperatorCaller,
) -> ApiResult<Json<Policy>> {
    Ok(Json(state.store.policy().await?))
}

/// Replaces the enforcement policy (operator); fields left out keep their defaults.
#[utoipa::path(put, path = "/v1/operator/policy", tag = "operator", security(("bearer" = [])),
    responses((status = 200, description = "The policy as stored"), (status = 422, body = crate::error::Problem)))]
pub async fn put_policy(
    Acting { state, operator: _ }: Acting,
    ApiJson(policy): ApiJson<Policy>,
) -> ApiResult<Json<Policy>> {
    let problems = policy.problems();
    if let Some((_, first)) = problems.first() {
        return Err(
            ApiError::invalid(format!("The policy cannot be used: {first}.")).with_errors(
                problems
                    .iter()
                    .map(|(pointer, detail)| FieldProblem {
                        pointer: pointer.clone(),
                        detail: detail.clone(),
                    })
                    .collect(),
            ),
        );
    }
    state.store.set_policy(&policy).await?;
    Ok(Json(policy))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CaseQuery {
    /// `open` or `closed`; all when left out.
    pub state: Option<String>,
}

/// Review cases, newest first (operator).
#[utoipa::path(get, path = "/v1/operator/cases", tag = "operator", security(("bearer" = [])),
    params(CaseQuery), responses((status = 200, body = CaseList)))]
pub async fn list_cases(
    State(state): State<AppState>,
    _operator: OperatorCaller,
    ApiQuery(q): ApiQuery<CaseQuery>,
) -> ApiResult<Json<CaseList>> {
    if let Some(s) = q.state.as_deref() {
        if !matches!(s, "open" | "closed") {
            return Err(ApiError::invalid_field(
                "/state",
                format!("state is open or closed; '{s}' was given"),
            ));
        }
    }
    let items = state
        .store
        .cases(q.state.as_deref(), 200)
        .await?
        .into_iter()
        .map(CaseView::from)
        .collect();
    Ok(Json(CaseList { items }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    pub note: String,
    /// Who writes it (shown with the note), for the operator token: "operator"
    /// when left out. A person signed in to the console signs as themselves.
    #[serde(default)]
    pub author: Option<String>,
}

fn text(pointer: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid_field(
            pointer,
            format!("give 1 to {max} characters of text without control characters"),
        ));
    }
    Ok(v.to_owned())
}

/// Adds a note to a case (operator).
#[utoipa::path(post, path = "/v1/operator/cases/{id}/notes", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = NoteRequest,
    responses((status = 200, body = CaseView), (status = 404, body = crate::error::Problem)))]
pub async fn add_note(
    Acting { state, operator }: Acting,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NoteRequest>,
) -> ApiResult<Json<CaseView>> {
    let note = text("/note", &req.note, 4000)?;
    // A person of the team signs with their own name; the token may say
    // whose note it is.
    let author = match &req.author {
        Some(a) if operator.actor() == OperatorCaller::TOKEN_ACTOR => text("/author", a, 200)?,
        _ => operator.actor().to_owned(),
    };
    match state.store.add_case_note(&id, &author, &note).await? {
        Some(c) => Ok(Json(CaseView::from(c))),
        None => Err(ApiError::not_found(format!(
            "There is no review case {id}."
        ))),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReinstateRequest {
    /// Days of probation; the policy's default (14) when left out.
    #[serde(default)]
    pub probation_days: Option<u32>,
    pub note: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarmupRequest {
    /// Bulk mails a day from now on; null lifts the warm-up.
    pub cap_per_day: Option<u64>,
    /// Why; kept in the workspace's audit log.
    pub note: String,
}

/// Sets or lifts a workspace's warm-up cap (operator).
#[utoipa::path(post, path = "/v1/operator/workspaces/{id}/warmup", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = WarmupRequest,
    responses((status = 200, body = super::operator::OperatorWorkspaceView), (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn set_warmup(
    Acting { state, operator }: Acting,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<WarmupRequest>,
) -> ApiResult<Json<super::operator::OperatorWorkspaceView>> {
    let ws = parse_ws(&id)?;
    let note = text("/note", &req.note, 4000)?;
    if req.cap_per_day == Some(0) {
        return Err(ApiError::invalid_field(
            "/cap_per_day",
            "a cap of 0 would stop all bulk mail: give at least 1, or null to lift the warm-up (to stop a workspace, suspend or withdraw it)",
        ));
    }
    if !state
        .store
        .set_warmup(&ws, req.cap_per_day, operator.actor(), &note)
        .await?
    {
        return Err(no_workspace(&id));
    }
    Ok(Json(workspace_answer(&state, &ws).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    pub reason: String,
}

fn parse_ws(id: &str) -> Result<WorkspaceId, ApiError> {
    WorkspaceId::parse(id).map_err(|e| ApiError::not_found(e.to_string()))
}

fn no_workspace(id: &str) -> ApiError {
    ApiError::not_found(format!("There is no workspace {id}."))
}

/// Moves the workspace (by the operator), or refuses: 404 when there is
/// no such workspace (`id` as asked for), 409 with `only` (the state it
/// must be in) when the move does not apply.
async fn transition(
    state: &AppState,
    actor: &str,
    ws: &WorkspaceId,
    id: &str,
    event: StateEvent,
    reason: &str,
    only: &str,
) -> ApiResult<()> {
    match state
        .store
        .transition_workspace(ws, event, actor, reason)
        .await?
    {
        None => Err(no_workspace(id)),
        Some(Err(e)) => Err(ApiError::conflict(
            "invalid-transition",
            format!("{e}: {only}"),
        )),
        Some(Ok(_)) => Ok(()),
    }
}

/// Reinstates a suspended workspace on probation (operator): its held mail
/// is released; at the end of probation it becomes active if its rates are
/// under the review lines, and is withdrawn otherwise.
#[utoipa::path(post, path = "/v1/operator/workspaces/{id}/reinstate", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReinstateRequest,
    responses((status = 200, body = ReputationView), (status = 409, body = crate::error::Problem)))]
pub async fn reinstate(
    Acting { state, operator }: Acting,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReinstateRequest>,
) -> ApiResult<Json<ReputationView>> {
    let ws = parse_ws(&id)?;
    let note = text("/note", &req.note, 4000)?;
    let policy = state.store.policy().await?;
    let days = req.probation_days.unwrap_or(policy.probation_days);
    if days > 365 {
        return Err(ApiError::invalid_field(
            "/probation_days",
            format!("probation is at most 365 days; {days} was given"),
        ));
    }
    let reason = format!("reinstated on probation for {days} days: {note}");
    transition(
        &state,
        operator.actor(),
        &ws,
        &id,
        StateEvent::ReinstateOnProbation,
        &reason,
        "only a suspended workspace can be reinstated.",
    )
    .await?;
    let until = Timestamp::from_millis(
        state
            .store
            .now()
            .millis()
            .saturating_add(i64::from(days) * 86_400_000),
    );
    state.store.start_probation(&ws, until).await?;
    crate::reputation::state_changed(&state, &ws, "probation", &reason, operator.actor()).await;
    state.store.close_cases(&ws, &reason).await?;
    state.notify_queued();
    Ok(Json(reputation_view(&state, &ws).await?))
}

/// The workspace as the operator sees it, after a change.
async fn workspace_answer(
    state: &AppState,
    ws: &WorkspaceId,
) -> ApiResult<super::operator::OperatorWorkspaceView> {
    let w = super::workspace::load(state, ws).await?;
    Ok(super::operator::OperatorWorkspaceView {
        reputation: reputation_view(state, ws).await?,
        workspace: super::workspace::WorkspaceView::from(&w, state.store.now()),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// Why the withdrawal is undone; kept in the audit log.
    pub reason: String,
}

/// Undoes a withdrawal (operator): the workspace is `suspended` again, with
/// the reason in its audit log; reinstating it on probation lets it send.
/// Mail cancelled by the withdrawal stays cancelled.
#[utoipa::path(post, path = "/v1/operator/workspaces/{id}/restore", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RestoreRequest,
    responses((status = 200, body = super::operator::OperatorWorkspaceView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn restore(
    Acting { state, operator }: Acting,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RestoreRequest>,
) -> ApiResult<Json<super::operator::OperatorWorkspaceView>> {
    let ws = parse_ws(&id)?;
    let reason = text("/reason", &req.reason, 4000)?;
    let reason = format!("withdrawal undone: {reason}");
    transition(
        &state,
        operator.actor(),
        &ws,
        &id,
        StateEvent::Restore,
        &reason,
        "only a withdrawn workspace can be restored.",
    )
    .await?;
    crate::reputation::state_changed(&state, &ws, "suspended", &reason, operator.actor()).await;
    Ok(Json(workspace_answer(&state, &ws).await?))
}

/// Withdraws a workspace's sending (operator): pending mail is cancelled,
/// each delivery with the reason; its data stays exportable.
#[utoipa::path(post, path = "/v1/operator/workspaces/{id}/withdraw", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = WithdrawRequest,
    responses((status = 200, body = super::operator::OperatorWorkspaceView), (status = 409, body = crate::error::Problem)))]
pub async fn withdraw(
    Acting { state, operator }: Acting,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<WithdrawRequest>,
) -> ApiResult<Json<super::operator::OperatorWorkspaceView>> {
    let ws = parse_ws(&id)?;
    let reason = text("/reason", &req.reason, 4000)?;
    match crate::reputation::withdraw(&state, &ws, &reason, operator.actor()).await? {
        Ok(()) => Ok(Json(workspace_answer(&state, &ws).await?)),
        Err(crate::reputation::WithdrawRefused::NoSuchWorkspace) => Err(no_workspace(&id)),
        Err(why) => Err(ApiError::conflict("invalid-transition", format!("{why}."))),
    }
}
