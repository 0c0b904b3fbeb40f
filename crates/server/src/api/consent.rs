//! The consent ledger over HTTP: record a choice, read a contact's proof
//! bundle, verify the workspace's whole chain.

use super::contacts::{contact_id, not_found};
use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use sendwell_core::consent::{
    current, BrokenLink, ChainVerdict, ConsentAction, ConsentEvent, ConsentMethod, Evidence,
    NewConsentEvent, Topic,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// `opt_in`, `opt_out` or `double_opt_in_confirmed`.
    pub action: String,
    /// Defaults to `marketing`.
    pub topic: Option<String>,
    /// How you collected it: `api` or `form`. The other methods are recorded
    /// by sendwell itself.
    pub method: String,
    /// ip, user_agent, source_url, wording (what the person was shown),
    /// message_id, declaration. An opt-in needs at least one.
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Evidence>,
}

#[derive(Serialize, ToSchema)]
pub struct ConsentEventView {
    pub id: String,
    pub seq: i64,
    pub contact_id: String,
    pub action: &'static str,
    pub topic: String,
    pub method: &'static str,
    pub actor: String,
    pub occurred_at: String,
    /// `null` once the contact has been erased.
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Evidence>,
    pub evidence_erased: bool,
    pub evidence_digest: String,
    pub prev_hash: String,
    pub hash: String,
}

impl ConsentEventView {
    pub fn from(e: &ConsentEvent) -> Self {
        Self {
            id: e.id.to_string(),
            seq: e.seq,
            contact_id: e.contact_id.to_string(),
            action: e.action.as_str(),
            topic: e.topic.as_str().to_owned(),
            method: e.method.as_str(),
            actor: e.actor.clone(),
            occurred_at: e.occurred_at.to_rfc3339(),
            evidence: e.evidence.as_ref().map(|s| s.evidence.clone()),
            evidence_erased: e.evidence.is_none(),
            evidence_digest: e.evidence_digest.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BrokenLinkView {
    pub seq: i64,
    pub event_id: Option<String>,
    pub problem: String,
}

impl BrokenLinkView {
    fn from(b: &BrokenLink) -> Self {
        Self {
            seq: b.seq,
            event_id: b.event_id.as_ref().map(ToString::to_string),
            problem: b.problem.to_string(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProofVerification {
    /// Each event matches its hash and its neighbours in the chain.
    pub valid: bool,
    pub checked_events: usize,
    /// How many events the workspace's whole chain holds.
    pub chain_length: i64,
    pub problems: Vec<BrokenLinkView>,
}

#[derive(Serialize, ToSchema)]
pub struct CurrentConsentView {
    pub status: &'static str,
    pub double_opt_in: bool,
    pub since: String,
}

#[derive(Serialize, ToSchema)]
pub struct ProofBundle {
    pub contact_id: String,
    /// Current consent per topic, derived from the events below.
    pub current: BTreeMap<String, CurrentConsentView>,
    pub events: Vec<ConsentEventView>,
    pub verification: ProofVerification,
    pub generated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecordedConsent {
    pub event: ConsentEventView,
    pub current: BTreeMap<String, CurrentConsentView>,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerVerificationView {
    pub valid: bool,
    /// Events checked (up to the first broken one).
    pub events: i64,
    /// Events whose evidence was removed by an erasure (allowed).
    pub erased_events: i64,
    /// The first broken link, if any.
    pub first_broken: Option<BrokenLinkView>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(proof, record))
        .routes(routes!(verify))
}

fn current_view(events: &[ConsentEvent]) -> BTreeMap<String, CurrentConsentView> {
    current(events)
        .into_iter()
        .map(|(topic, c)| {
            (
                topic.as_str().to_owned(),
                CurrentConsentView {
                    status: c.status.as_str(),
                    double_opt_in: c.double_opt_in,
                    since: c.since.to_rfc3339(),
                },
            )
        })
        .collect()
}

/// Records a consent event for a contact (sender or admin).
#[utoipa::path(post, path = "/v1/contacts/{id}/consent", tag = "consent", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ConsentRequest,
    responses((status = 201, body = RecordedConsent), (status = 422, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn record(
    Ws { state, caller, .. }: Ws<can::RecordConsent>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ConsentRequest>,
) -> ApiResult<(StatusCode, Json<RecordedConsent>)> {
    let contact = contact_id(&id)?;
    let action = parse_action(&req.action)?;
    let method = parse_method(&req.method)?;
    let topic = match req.topic.as_deref() {
        Some(t) => Topic::parse(t).map_err(|e| ApiError::invalid_field("/topic", e.to_string()))?,
        None => Topic::marketing(),
    };
    let evidence = checked_evidence(req.evidence, action)?;
    let event = state
        .store
        .append_consent(
            caller.workspace(),
            NewConsentEvent {
                contact_id: contact,
                action,
                topic,
                method,
                actor: caller.actor(),
                evidence,
            },
        )
        .await?
        .ok_or_else(|| not_found(&id))?;
    let events = state
        .store
        .contact_consent_events(caller.workspace(), &event.contact_id)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RecordedConsent {
            event: ConsentEventView::from(&event),
            current: current_view(&events),
        }),
    ))
}

fn parse_action(text: &str) -> ApiResult<ConsentAction> {
    ConsentAction::parse(text).ok_or_else(|| {
        ApiError::invalid_field(
            "/action",
            format!("action '{text}' is not one of {}", ConsentAction::names()),
        )
    })
}

/// A method a client may claim: the others sendwell records itself.
fn parse_method(text: &str) -> ApiResult<ConsentMethod> {
    let method = ConsentMethod::parse(text).ok_or_else(|| {
        ApiError::invalid_field(
            "/method",
            format!("method '{text}' is not one of {}", ConsentMethod::names()),
        )
    })?;
    if !method.recordable_by_client() {
        return Err(ApiError::invalid_field(
            "/method",
            format!(
                "method '{method}' is recorded by sendwell itself when it sees it happen, so it cannot be \
                 claimed through the API; use 'form' for your own sign-up forms or 'api' otherwise"
            ),
        ));
    }
    Ok(method)
}

/// The evidence, checked; an opt-in must carry some.
fn checked_evidence(evidence: Option<Evidence>, action: ConsentAction) -> ApiResult<Evidence> {
    let evidence = evidence
        .unwrap_or_default()
        .checked()
        .map_err(|e| ApiError::invalid_field("/evidence", e.to_string()))?;
    if action != ConsentAction::OptOut && evidence.is_empty() {
        return Err(ApiError::invalid_field(
            "/evidence",
            "an opt-in must carry evidence that proves it: give at least one of ip, user_agent, source_url, \
             wording (the words the person was shown), message_id",
        ));
    }
    Ok(evidence)
}

/// The proof bundle of a contact's consent: every event with its evidence,
/// the current state it leads to, and the chain check of each event.
#[utoipa::path(get, path = "/v1/contacts/{id}/consent", tag = "consent", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ProofBundle), (status = 404, body = crate::error::Problem)))]
pub async fn proof(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProofBundle>> {
    let contact = contact_id(&id)?;
    if !state
        .store
        .contact_exists(caller.workspace(), &contact)
        .await?
    {
        return Err(not_found(&id));
    }
    let proof = state
        .store
        .contact_proof(caller.workspace(), &contact)
        .await?;
    Ok(Json(ProofBundle {
        contact_id: contact.to_string(),
        current: current_view(&proof.events),
        verification: ProofVerification {
            valid: proof.problems.is_empty(),
            checked_events: proof.events.len(),
            chain_length: proof.chain_length,
            problems: proof.problems.iter().map(BrokenLinkView::from).collect(),
        },
        events: proof.events.iter().map(ConsentEventView::from).collect(),
        generated_at: state.store.now().to_rfc3339(),
    }))
}

/// Verifies the workspace's whole consent chain and names the first broken link.
#[utoipa::path(get, path = "/v1/consent/verify", tag = "consent", security(("bearer" = [])),
    responses((status = 200, body = LedgerVerificationView)))]
pub async fn verify(
    Ws { state, caller, .. }: Ws<can::Read>,
) -> ApiResult<Json<LedgerVerificationView>> {
    let v = state.store.verify_ledger(caller.workspace()).await?;
    Ok(Json(verification_view(&v)))
}

pub fn verification_view(v: &sendwell_store::LedgerVerification) -> LedgerVerificationView {
    match &v.verdict {
        ChainVerdict::Intact { events } => LedgerVerificationView {
            valid: true,
            events: *events,
            erased_events: v.erased_events,
            first_broken: None,
        },
        ChainVerdict::Broken(b) => LedgerVerificationView {
            valid: false,
            events: b.seq - 1,
            erased_events: v.erased_events,
            first_broken: Some(BrokenLinkView::from(b)),
        },
    }
}
