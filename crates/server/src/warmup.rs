//! Warm-up (issue #19): a new workspace's bulk mail (marketing and opt-in
//! requests) is capped per UTC day, so receivers meet a new sender at a
//! volume they can judge. The cap starts at the policy's
//! `warmup_start_per_day` (1,000), is multiplied by `warmup_growth` (1.5)
//! each new day while the workspace's rates stay under the review lines,
//! stays where it is when they do not, and ends at `warmup_end_per_day`.
//! Mail over the day's cap is `deferred` with reason `warmup` to the next
//! UTC midnight, in the order it was claimed; transactional mail is never
//! capped. The operator sets the curve in the policy and lifts or sets a
//! workspace's cap (`POST /v1/operator/workspaces/{id}/warmup`).

use crate::state::AppState;
use sendwell_core::{MessageKind, Timestamp};
use sendwell_store::{DeliveryOutcome, StoreError, WarmupGrant, Workspace};

const DAY_MS: i64 = 86_400_000;

/// How many of `wanted` bulk mails of `ws` may go now.
pub async fn take(
    state: &AppState,
    ws: &Workspace,
    kind: MessageKind,
    wanted: usize,
) -> Result<WarmupGrant, StoreError> {
    let all = WarmupGrant {
        granted: wanted as u64,
        deferred_before: 0,
        cap: None,
    };
    if kind == MessageKind::Transactional || ws.warmup.cap.is_none() {
        return Ok(all);
    }
    let today = state.store.now().millis() / DAY_MS;
    // The rates are read only when a new day moves the cap on.
    let next = if ws.warmup.day < today {
        let policy = state.store.policy().await?;
        let counts = state
            .store
            .judged_counts(&ws.id, policy.window_days)
            .await?;
        let ok = policy.under_review_lines(&counts);
        Some((policy, ok))
    } else {
        None
    };
    state
        .store
        .take_warmup(&ws.id, wanted as u64, |cap| match &next {
            Some((policy, ok)) => policy.warmup_next_cap(cap, *ok),
            None => Some(cap),
        })
        .await
}

/// The outcome of the `k`-th mail of a grant that did not fit today:
/// deferred to the next UTC midnight, after those put off before it.
pub fn put_off(grant: &WarmupGrant, k: usize, now: Timestamp) -> DeliveryOutcome {
    let tomorrow = (now.millis() / DAY_MS + 1) * DAY_MS;
    let order = i64::try_from(grant.deferred_before + k as u64).unwrap_or(0);
    DeliveryOutcome::Postponed {
        reason: format!(
            "warmup: the workspace's cap of {} bulk mails today is reached; it goes out tomorrow",
            grant.cap.unwrap_or(0)
        ),
        // A millisecond apart, so tomorrow's claims keep today's order.
        until: Timestamp::from_millis(tomorrow + order.min(DAY_MS / 2)),
    }
}
