//! Sender domains: the domains a workspace sends from. Adding one makes
//! its DKIM keys (RSA-2048 by default, Ed25519 too or instead) and shows
//! the TXT records to publish; verifying looks them up in DNS. Mail leaves
//! only from verified domains, except on the capture transport (and when
//! the operator skips the check for tests), where preflight warns.

use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use sendwell_core::WorkspaceId;
use sendwell_mail::dkim::{self, DkimAlgorithm};
use sendwell_screen::dns::{MailDomainResolver, TxtAnswer};
use sendwell_store::SenderDomain;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderDomainRequest {
    /// The domain mail is sent from (the part after @ in From), e.g. `example.com`.
    pub domain: String,
    /// `["rsa"]` (the default), `["ed25519"]`, or both: each gets its own key and record.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct DnsRecord {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub value: String,
    pub algorithm: String,
    pub selector: String,
}

#[derive(Serialize, ToSchema)]
pub struct SenderDomainView {
    pub domain: String,
    pub verified: bool,
    pub verified_at: Option<String>,
    pub checked_at: Option<String>,
    /// Publish each of these, then `POST /v1/sender-domains/{domain}/verify`.
    pub dns_records: Vec<DnsRecord>,
    #[schema(value_type = Option<Object>)]
    pub last_check: Option<serde_json::Value>,
    pub created_at: String,
    /// What mailbox providers check of the domain, looked up now: DKIM,
    /// SPF, DMARC, alignment and the bounce domain's MX, each pass, warn
    /// or fail with the record to publish (in `GET /v1/sender-domains/{domain}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<crate::domain_report::DomainReport>,
}

#[derive(Serialize, ToSchema)]
pub struct SenderDomainList {
    pub items: Vec<SenderDomainView>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, remove))
        .routes(routes!(verify))
}

/// A domain name in lower-case ASCII, or what is wrong with it.
fn parse_domain(text: &str) -> Result<String, String> {
    let d = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let hint = "give a domain such as example.com (an internationalised one in its xn-- form)";
    if d.is_empty() || d.len() > 253 || !d.contains('.') {
        return Err(format!("'{text}' is not a domain name: {hint}"));
    }
    for label in d.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "'{text}' is not a domain name (the label '{label}' is not valid): {hint}"
            ));
        }
    }
    Ok(d)
}

fn selector_for(alg: DkimAlgorithm) -> String {
    let tag = match alg {
        DkimAlgorithm::Rsa => "r",
        DkimAlgorithm::Ed25519 => "e",
    };
    format!(
        "sw{tag}{}",
        sendwell_core::secret::to_hex(&sendwell_core::secret::random_bytes::<3>())
    )
}

/// The records to publish for a stored domain.
fn records(state: &AppState, d: &SenderDomain) -> Result<Vec<DnsRecord>, ApiError> {
    let keys = state.sealer().keys(d).map_err(|e| ApiError::internal(&e))?;
    keys.iter()
        .map(|k| {
            let p = dkim::public_key_b64(k.alg, &k.pkcs8).map_err(|e| ApiError::internal(&e))?;
            Ok(DnsRecord {
                kind: "TXT".to_owned(),
                name: format!("{}._domainkey.{}", k.selector, d.domain),
                value: format!("v=DKIM1; k={}; p={p}", k.alg.as_str()),
                algorithm: k.alg.as_str().to_owned(),
                selector: k.selector.to_owned(),
            })
        })
        .collect()
}

pub(crate) fn view(state: &AppState, d: SenderDomain) -> Result<SenderDomainView, ApiError> {
    Ok(SenderDomainView {
        dns_records: records(state, &d)?,
        domain: d.domain,
        verified: d.verified_at.is_some(),
        verified_at: d.verified_at.map(|t| t.to_rfc3339()),
        checked_at: d.checked_at.map(|t| t.to_rfc3339()),
        last_check: d.last_check,
        created_at: d.created_at.to_rfc3339(),
        report: None,
    })
}

pub(crate) async fn find(
    state: &AppState,
    ws: &WorkspaceId,
    domain: &str,
) -> ApiResult<SenderDomain> {
    let d = parse_domain(domain).map_err(ApiError::not_found)?;
    state.store.sender_domain(ws, &d).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "{d} is not a sender domain of this workspace; add it with POST /v1/sender-domains."
        ))
    })
}

/// Adds a sender domain and makes its DKIM keys (admin).
#[utoipa::path(post, path = "/v1/sender-domains", tag = "sender-domains", security(("bearer" = [])),
    request_body = SenderDomainRequest,
    responses((status = 201, body = SenderDomainView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    ApiJson(req): ApiJson<SenderDomainRequest>,
) -> ApiResult<(StatusCode, Json<SenderDomainView>)> {
    let ws = caller.workspace();
    let domain = parse_domain(&req.domain).map_err(|e| ApiError::invalid_field("/domain", e))?;
    let algorithms = parse_algorithms(req.algorithms.as_deref())?;
    let row = with_new_keys(&state, ws, &domain, algorithms).await?;
    if !state.store.create_sender_domain(&row).await? {
        return Err(ApiError::conflict(
            "sender-domain-exists",
            format!("{domain} is already a sender domain of this workspace; GET /v1/sender-domains/{domain} shows its records."),
        ));
    }
    super::audit(
        &state,
        &caller,
        "sender_domain.created",
        &format!("sender domain {domain} added, with its DKIM keys"),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&state, row)?)))
}

/// The DKIM algorithms asked for, each once, in the order given (RSA when
/// none is named).
fn parse_algorithms(given: Option<&[String]>) -> ApiResult<Vec<DkimAlgorithm>> {
    let default = ["rsa".to_owned()];
    let mut algorithms = Vec::new();
    for (i, a) in given.unwrap_or(&default).iter().enumerate() {
        let alg = match a.trim().to_ascii_lowercase().as_str() {
            "rsa" => DkimAlgorithm::Rsa,
            "ed25519" => DkimAlgorithm::Ed25519,
            other => {
                return Err(ApiError::invalid_field(
                    &format!("/algorithms/{i}"),
                    format!("'{other}' is not a DKIM algorithm sendwell makes keys for: use rsa (RSA-2048) or ed25519"),
                ))
            }
        };
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    if algorithms.is_empty() {
        return Err(ApiError::invalid_field(
            "/algorithms",
            "name at least one algorithm: rsa, ed25519 or both",
        ));
    }
    Ok(algorithms)
}

/// A new sender domain row with a fresh key, sealed, and a selector for
/// each algorithm.
async fn with_new_keys(
    state: &AppState,
    ws: &WorkspaceId,
    domain: &str,
    algorithms: Vec<DkimAlgorithm>,
) -> ApiResult<SenderDomain> {
    let mut row = SenderDomain {
        workspace_id: ws.clone(),
        domain: domain.to_owned(),
        rsa_selector: None,
        rsa_key: None,
        ed25519_selector: None,
        ed25519_key: None,
        verified_at: None,
        checked_at: None,
        last_check: None,
        created_at: state.store.now(),
    };
    for alg in algorithms {
        // RSA key generation takes a noticeable moment: off the async threads.
        let key = tokio::task::spawn_blocking(move || dkim::generate(alg))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(|e| ApiError::internal(&e))?;
        let sealed = state
            .sealer()
            .seal(ws, domain, alg, &key.private_pkcs8)
            .map_err(|e| ApiError::internal(&e))?;
        match alg {
            DkimAlgorithm::Rsa => {
                row.rsa_selector = Some(selector_for(alg));
                row.rsa_key = Some(sealed);
            }
            DkimAlgorithm::Ed25519 => {
                row.ed25519_selector = Some(selector_for(alg));
                row.ed25519_key = Some(sealed);
            }
        }
    }
    Ok(row)
}

#[utoipa::path(get, path = "/v1/sender-domains", tag = "sender-domains", security(("bearer" = [])),
    responses((status = 200, body = SenderDomainList)))]
pub async fn list(Ws { state, caller, .. }: Ws<can::Read>) -> ApiResult<Json<SenderDomainList>> {
    let items = state
        .store
        .sender_domains(caller.workspace())
        .await?
        .into_iter()
        .map(|d| view(&state, d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(SenderDomainList { items }))
}

#[utoipa::path(get, path = "/v1/sender-domains/{domain}", tag = "sender-domains", security(("bearer" = [])),
    params(("domain" = String, Path)),
    responses((status = 200, body = SenderDomainView), (status = 404, body = crate::error::Problem)))]
pub async fn show(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(domain): Path<String>,
) -> ApiResult<Json<SenderDomainView>> {
    let d = find(&state, caller.workspace(), &domain).await?;
    let mut shown = view(&state, d)?;
    let dkim = shown
        .dns_records
        .first()
        .map(|r| crate::domain_report::Publish {
            kind: "TXT",
            name: r.name.clone(),
            value: r.value.clone(),
        });
    shown.report =
        Some(crate::domain_report::report(&state, &shown.domain, shown.verified, dkim).await);
    Ok(Json(shown))
}

#[utoipa::path(delete, path = "/v1/sender-domains/{domain}", tag = "sender-domains", security(("bearer" = [])),
    params(("domain" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn remove(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    Path(domain): Path<String>,
) -> ApiResult<StatusCode> {
    let d = find(&state, caller.workspace(), &domain).await?;
    state
        .store
        .delete_sender_domain(caller.workspace(), &d.domain)
        .await?;
    super::audit(
        &state,
        &caller,
        "sender_domain.deleted",
        &format!("sender domain {} and its DKIM keys deleted", d.domain),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `p=` value of a DKIM TXT record, whitespace removed.
fn p_value(record: &str) -> Option<String> {
    record.split(';').find_map(|tag| {
        let (k, v) = tag.split_once('=')?;
        (k.trim() == "p").then(|| v.chars().filter(|c| !c.is_whitespace()).collect())
    })
}

/// Looks one DKIM record up in DNS: whether it is published with the
/// right public key, and what was found, for the domain's `last_check`.
async fn check_record(state: &AppState, record: DnsRecord) -> (bool, serde_json::Value) {
    let expected = p_value(&record.value).unwrap_or_default();
    let (found, ok, problem) = match state.resolver().txt(&record.name).await {
        TxtAnswer::Records(txts) => {
            let published: Vec<String> = txts.iter().filter_map(|t| p_value(t)).collect();
            if published.contains(&expected) {
                (true, true, None)
            } else if published.is_empty() {
                (true, false, Some("a TXT record is there, but it has no p= public key".to_owned()))
            } else {
                (true, false, Some("the published public key is not this domain's key: publish the value shown".to_owned()))
            }
        }
        TxtAnswer::NotFound => (false, false, Some(format!("no TXT record at {}; publish it and try again (DNS changes can take a while to show)", record.name))),
        TxtAnswer::TempFail(e) => (false, false, Some(format!("DNS did not answer: {e}; try again later"))),
    };
    (
        ok,
        json!({
            "name": record.name,
            "algorithm": record.algorithm,
            "found": found,
            "matches": ok,
            "problem": problem,
        }),
    )
}

/// Looks the DKIM records up in DNS; the domain is verified when every
/// key's record is published with the right public key.
#[utoipa::path(post, path = "/v1/sender-domains/{domain}/verify", tag = "sender-domains", security(("bearer" = [])),
    params(("domain" = String, Path)),
    responses((status = 200, body = SenderDomainView), (status = 404, body = crate::error::Problem)))]
pub async fn verify(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    Path(domain): Path<String>,
) -> ApiResult<Json<SenderDomainView>> {
    let view = verify_domain(&state, caller.workspace(), &domain, &caller.actor()).await?;
    Ok(Json(view))
}

/// Looks a sender domain's DKIM records up in DNS and records the outcome
/// (the API's verify and the console's Verify button).
pub(crate) async fn verify_domain(
    state: &AppState,
    ws: &WorkspaceId,
    domain: &str,
    actor: &str,
) -> ApiResult<SenderDomainView> {
    let state = state.clone();
    let d = find(&state, ws, domain).await?;
    let mut results = Vec::new();
    let mut all_ok = true;
    for record in records(&state, &d)? {
        let (ok, result) = check_record(&state, record).await;
        all_ok &= ok;
        results.push(result);
    }
    let check = json!({"verified": all_ok, "records": results});
    let updated = state
        .store
        .record_domain_check(ws, &d.domain, all_ok, &check)
        .await?
        .ok_or_else(|| ApiError::not_found("The sender domain was removed meanwhile."))?;
    let reason = format!(
        "DNS records of {} checked: {}",
        d.domain,
        if all_ok { "verified" } else { "not verified" }
    );
    state
        .store
        .record_audit(ws, actor, "sender_domain.checked", &reason)
        .await?;
    view(&state, updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked_and_lower_cased() {
        assert_eq!(
            parse_domain("Mail.Example.COM.").as_deref(),
            Ok("mail.example.com")
        );
        assert!(parse_domain("localhost").is_err());
        assert!(parse_domain("exa mple.com").is_err());
        assert!(parse_domain("-bad.example.com").is_err());
        assert!(parse_domain("ex\r\nample.com").is_err());
    }

    #[test]
    fn the_public_key_is_read_from_a_record() {
        assert_eq!(
            p_value("v=DKIM1; k=rsa; p=MIIB IjAN\tBg").as_deref(),
            Some("MIIBIjANBg")
        );
        assert_eq!(p_value("v=DKIM1; k=rsa"), None);
    }
}
