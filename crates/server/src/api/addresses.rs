//! `POST /v1/addresses/check`: the address checks over HTTP.

use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, Ws};
use crate::state::AppState;
use axum::Json;
use sendwell_screen::{AddressCheck, Verdict};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub const MAX_ADDRESSES: usize = 1000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// 1 to 1000 addresses.
    pub addresses: Vec<String>,
    /// Skip the DNS checks.
    #[serde(default)]
    pub offline: bool,
}

pub use crate::address::{CheckView, ReasonView};

#[derive(Serialize, ToSchema)]
pub struct CheckResponse {
    pub results: Vec<CheckView>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check))
}

/// Runs the checks for one address: offline, then DNS (cached per domain)
/// unless `offline`, then the operator's trap list.
pub(crate) async fn check_one(
    state: &AppState,
    address: &str,
    offline: bool,
    traps: &sendwell_store::TrapList,
) -> AddressCheck {
    let mut check = state.checker().offline(address);
    if !offline && check.verdict != Verdict::Invalid {
        if let Some(domain) = check.domain.clone() {
            let resolved =
                sendwell_screen::MailDomainResolver::resolve(state.resolver(), &domain).await;
            check = check.with_dns(&resolved.answer);
        }
    }
    flag_trap(state, &mut check, traps);
    check
}

/// Marks an address on the operator's trap list: invalid, never mailed.
pub(crate) fn flag_trap(
    state: &AppState,
    check: &mut AddressCheck,
    traps: &sendwell_store::TrapList,
) {
    // The hash is of the address as the contact stores it (EmailAddress::key).
    if let (Some(domain), Some(parsed)) = (&check.domain, &check.parsed) {
        if traps.matches(domain, &state.address_hash(parsed)) {
            // Named as blocked, not as a trap: the list stays the operator's.
            check.reasons.push(sendwell_screen::Reason {
                code: "blocked",
                detail: "the platform operator blocks this address; it is never mailed".to_owned(),
            });
            check.verdict = Verdict::Invalid;
        }
    }
}

/// Checks addresses: syntax, domain, DNS, disposable, role, typo, trap list.
#[utoipa::path(post, path = "/v1/addresses/check", tag = "addresses", security(("bearer" = [])),
    request_body = CheckRequest, responses((status = 200, body = CheckResponse), (status = 422, body = crate::error::Problem)))]
pub async fn check(
    Ws {
        state, caller: _, ..
    }: Ws<can::Read>,
    ApiJson(req): ApiJson<CheckRequest>,
) -> ApiResult<Json<CheckResponse>> {
    let n = req.addresses.len();
    if n == 0 || n > MAX_ADDRESSES {
        return Err(ApiError::invalid_field(
            "/addresses",
            format!("send 1 to {MAX_ADDRESSES} addresses; this request has {n}"),
        ));
    }
    let traps = state.store.trap_list().await?;
    let mut results = Vec::with_capacity(n);
    for a in &req.addresses {
        results.push(CheckView::from(
            &check_one(&state, a, req.offline, &traps).await,
        ));
    }
    Ok(Json(CheckResponse { results }))
}
