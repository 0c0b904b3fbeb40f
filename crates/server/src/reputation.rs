//! The reputation monitor and the enforcement it drives. Counts are kept
//! incrementally by the store as outcomes and feedback are recorded; after
//! each batch and each piece of feedback the workspace and the message are
//! judged against the operator's policy:
//! - past a review line: `active` → `under_review` (still sending); back
//!   under both review lines: `under_review` → `active`;
//! - past a suspend line: suspended at once (its mail is held) and a
//!   review case opens with the evidence;
//! - a message whose own deliveries, after a large enough sample, are past
//!   a suspend line is paused before the rest of it goes out;
//! - at the end of probation: under the review lines → `active`, otherwise
//!   → `withdrawn` (pending mail cancelled). Every step is in the audit log.

use crate::state::AppState;
use sendwell_core::reputation::{judge, Move, Policy, Verdict};
use sendwell_core::{MessageId, StateEvent, WorkspaceId};
use sendwell_store::StoreError;

const ACTOR: &str = "reputation-monitor";

async fn transition(
    state: &AppState,
    ws: &WorkspaceId,
    event: StateEvent,
    reason: &str,
) -> Result<bool, StoreError> {
    match state
        .store
        .transition_workspace(ws, event, ACTOR, reason)
        .await
    {
        Ok(Some(Ok(next))) => {
            tracing::warn!(workspace = %ws, state = %next, reason, "reputation monitor changed a workspace's state");
            state_changed(state, ws, next.as_str(), reason, ACTOR).await;
            Ok(true)
        }
        Ok(_) => Ok(false),
        // Another server made a change at the same moment: judged again next time.
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Tells the workspace's webhooks its sending state changed.
pub async fn state_changed(
    state: &AppState,
    ws: &WorkspaceId,
    to: &str,
    reason: &str,
    actor: &str,
) {
    crate::webhooks::emit(
        state,
        ws,
        "state_change",
        vec![serde_json::json!({"state": to, "reason": reason, "actor": actor})],
    )
    .await;
}

/// Suspends a workspace and opens its review case with the evidence.
pub async fn suspend(state: &AppState, ws: &WorkspaceId, reason: &str) -> Result<bool, StoreError> {
    if !transition(state, ws, StateEvent::Suspend, reason).await? {
        return Ok(false);
    }
    let policy = state.store.policy().await?;
    let mut evidence = state.store.case_evidence(ws, policy.window_days).await?;
    let counts = state.store.judged_counts(ws, policy.window_days).await?;
    evidence["counts"] = serde_json::json!(counts);
    evidence["hard_bounce_rate"] = serde_json::json!(counts.hard_bounce_rate());
    evidence["complaint_rate"] = serde_json::json!(counts.complaint_rate());
    state.store.open_case(ws, reason, &evidence).await?;
    Ok(true)
}

/// Judges a message (the circuit breaker) and its workspace after sends or
/// feedback, reading the policy once.
pub async fn evaluate(
    state: &AppState,
    ws: &WorkspaceId,
    msg: &MessageId,
) -> Result<(), StoreError> {
    let policy = state.store.policy().await?;
    evaluate_message(state, msg, &policy).await?;
    evaluate_workspace(state, ws, &policy).await
}

/// Judges a workspace by its counts and moves it if it must.
async fn evaluate_workspace(
    state: &AppState,
    ws: &WorkspaceId,
    policy: &Policy,
) -> Result<(), StoreError> {
    let Some(workspace) = state.store.workspace(ws).await? else {
        return Ok(());
    };
    let counts = state.store.judged_counts(ws, policy.window_days).await?;
    let verdict = judge(policy, &counts, policy.min_sends);
    let why = verdict.why();
    match verdict.move_for(workspace.state) {
        Some(Move::Suspend) => {
            suspend(state, ws, why).await?;
        }
        // On probation, crossing the suspend line again ends it: withdrawn.
        Some(Move::Withdraw) => {
            let reason = format!("crossed the suspend line again while on probation: {why}");
            if let Err(e) = withdraw(state, ws, &reason, ACTOR).await? {
                tracing::warn!(workspace = %ws, error = %e, "could not withdraw");
            }
        }
        Some(Move::OpenReview) => {
            transition(state, ws, StateEvent::OpenReview, why).await?;
        }
        Some(Move::CloseReview) => {
            transition(
                state,
                ws,
                StateEvent::CloseReview,
                "rates are back under the review lines",
            )
            .await?;
        }
        None => {}
    }
    Ok(())
}

/// The campaign circuit breaker: pauses a message whose own rates, after
/// the policy's sample, are past a suspend line.
async fn evaluate_message(
    state: &AppState,
    id: &MessageId,
    policy: &Policy,
) -> Result<bool, StoreError> {
    let counts = state.store.message_counts(id).await?;
    if let Verdict::Suspend(why) = judge(policy, &counts, policy.breaker_min_deliveries) {
        let reason = format!("the campaign circuit breaker: {why}");
        if state.store.pause_message(id, &reason).await? {
            tracing::warn!(message = %id, %reason, "message paused");
            return Ok(true);
        }
    }
    Ok(false)
}

/// Ends the probation of every workspace whose period is over.
pub async fn end_probations(state: &AppState) -> Result<(), StoreError> {
    let policy = state.store.policy().await?;
    for ws in state.store.probation_ended().await? {
        let counts = state.store.judged_counts(&ws, policy.window_days).await?;
        match judge(&policy, &counts, policy.min_sends) {
            Verdict::TooFew | Verdict::Fine => {
                if transition(
                    state,
                    &ws,
                    StateEvent::EndProbation,
                    "probation ended with rates under the review lines",
                )
                .await?
                {
                    state.store.set_probation_until(&ws, None).await?;
                }
            }
            Verdict::Review(why) | Verdict::Suspend(why) => {
                let reason = format!("probation ended and the rates did not improve: {why}");
                if let Err(why) = withdraw(state, &ws, &reason, ACTOR).await? {
                    tracing::warn!(workspace = %ws, %why, "could not withdraw at the end of probation");
                }
            }
        }
    }
    Ok(())
}

/// Why a workspace could not be withdrawn.
#[derive(Debug, thiserror::Error)]
pub enum WithdrawRefused {
    #[error("there is no such workspace")]
    NoSuchWorkspace,
    /// Its state does not allow it (already withdrawn, say).
    #[error("{0}")]
    NotFrom(sendwell_core::workspace::TransitionError),
}

/// Withdraws a workspace's sending: its pending mail is cancelled, its
/// open cases close. The data stays and can still be exported.
pub async fn withdraw(
    state: &AppState,
    ws: &WorkspaceId,
    reason: &str,
    actor: &str,
) -> Result<Result<(), WithdrawRefused>, StoreError> {
    match state
        .store
        .transition_workspace(ws, StateEvent::Withdraw, actor, reason)
        .await?
    {
        Some(Ok(_)) => state_changed(state, ws, "withdrawn", reason, actor).await,
        Some(Err(e)) => return Ok(Err(WithdrawRefused::NotFrom(e))),
        None => return Ok(Err(WithdrawRefused::NoSuchWorkspace)),
    }
    state
        .store
        .cancel_pending(
            ws,
            &format!("cancelled: the workspace's sending was withdrawn ({reason})"),
        )
        .await?;
    state.store.set_probation_until(ws, None).await?;
    state
        .store
        .close_cases(ws, &format!("withdrawn: {reason}"))
        .await?;
    Ok(Ok(()))
}
