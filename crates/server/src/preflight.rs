//! Preflight: everything that decides whether a message may go, as one
//! report the API, the CLI and the console show alike. The sending gate,
//! the audience and its counts, the sender's authenticity and domain, the
//! template and a sample mail rendered as it would leave (the footer and
//! list headers the compliance renderer adds, the content screen's
//! verdict), and which attributes the template uses that part of the
//! audience lacks.

use crate::delivery::{prepare, render_off_runtime, OwnedContact, Prepared};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use sendwell_core::filter::Filter;
use sendwell_core::text::escape_html;
use sendwell_core::{gate, ContactId, MessageKind, Timestamp};
use sendwell_mail::RenderedMail;
use sendwell_screen::authenticity::{check_sender, AuthenticityProblem, SenderFacts};
use sendwell_screen::content::{AuthoredMail, ContentVerdict, Screener, Screening};
use sendwell_store::{AudienceCounts, AudienceSpec, MessageRecord, Workspace};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Finding {
    pub code: String,
    pub message: String,
}

impl Finding {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ComplianceView {
    /// `template` when the template shows it itself, `footer` when sendwell adds it.
    pub unsubscribe_link: String,
    pub physical_address: String,
    /// Checked on a sample mail rendered now.
    pub html_has_unsubscribe: bool,
    pub html_has_address: bool,
    pub text_has_unsubscribe: bool,
    pub text_has_address: bool,
    pub list_unsubscribe: bool,
    pub list_unsubscribe_post: bool,
    pub list_id: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PreflightReport {
    /// True when nothing blocks: `send` will queue the message.
    pub ready: bool,
    pub blockers: Vec<Finding>,
    pub warnings: Vec<Finding>,
    #[schema(value_type = Object)]
    pub audience: AudienceCounts,
    /// Present when the audience counts are estimates (`?estimate=true` in
    /// a large workspace): how many of the workspace's contacts the sample
    /// read. The send always counts exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience_estimated_from: Option<i64>,
    pub compliance: Option<ComplianceView>,
    pub template_warnings: Vec<Finding>,
    pub authenticity: Vec<Finding>,
    /// The content screen's verdict on a sample mail: `send`, `review`
    /// (an operator looks first) or `block`, with every rule that fired.
    #[schema(value_type = Object)]
    pub content: Option<Screening>,
}

/// What a report is for: a preflight shows everything; a send needs only
/// the blockers, so it skips the counts that only make warnings.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ReportFor {
    Preflight,
    /// A preflight shown at a glance (the console's draft page): in a large
    /// workspace its counts are estimated from a sample of the contacts.
    PreflightEstimated,
    Send,
}

impl ReportFor {
    fn shows_everything(self) -> bool {
        self != ReportFor::Send
    }

    fn estimates(self) -> bool {
        self == ReportFor::PreflightEstimated
    }
}

/// What blocks the message and what only warns, as the report is built.
#[derive(Default)]
struct Findings {
    blockers: Vec<Finding>,
    warnings: Vec<Finding>,
}

impl Findings {
    fn block(&mut self, code: &str, message: impl Into<String>) {
        self.blockers.push(Finding::new(code, message));
    }

    fn warn(&mut self, code: &str, message: impl Into<String>) {
        self.warnings.push(Finding::new(code, message));
    }
}

/// What the sample mail showed: the compliance checks, the content
/// screen's verdict, the variables the template uses and its warnings.
#[derive(Default)]
struct Sample {
    compliance: Option<ComplianceView>,
    content: Option<Screening>,
    used_variables: Vec<String>,
    template_warnings: Vec<Finding>,
}

/// The preflight report of message `m`, and its audience filter parsed on
/// the way (which `send` queues with).
pub async fn report(
    state: &AppState,
    m: &MessageRecord,
    purpose: ReportFor,
) -> ApiResult<(PreflightReport, Option<Filter>)> {
    let ws = &m.workspace_id;
    let workspace = state
        .store
        .workspace(ws)
        .await?
        .ok_or_else(|| ApiError::not_found("The workspace no longer exists."))?;
    let mut findings = Findings::default();
    gate_findings(&workspace, state.store.now(), m, &mut findings);
    let schema = state.store.schema(ws).await?;
    let filter = audience_filter(state, m, &schema).await?;
    let spec = audience_of(state, m, filter.as_ref(), workspace.sunset);
    let (audience, estimated_from) = audience_counts(state, &spec, purpose).await?;
    audience_findings(m, &audience, &mut findings);
    if purpose.shows_everything() {
        engagement_findings(state, &workspace, &spec, &audience, &mut findings).await?;
    }
    let authenticity = sender_findings(state, m, &mut findings).await?;
    let sample =
        sample_findings(state, &workspace, m, &spec, &schema, purpose, &mut findings).await?;
    bulk_sender_findings(
        state,
        m,
        &audience,
        sample.compliance.as_ref(),
        &mut findings,
    )
    .await?;
    if audience.eligible > 0 && purpose.shows_everything() {
        let used = &sample.used_variables;
        attribute_gaps(
            state,
            &spec,
            &schema,
            used,
            audience.eligible,
            purpose,
            &mut findings,
        )
        .await?;
    }
    let report = PreflightReport {
        content: sample.content,
        ready: findings.blockers.is_empty(),
        blockers: findings.blockers,
        warnings: findings.warnings,
        audience,
        audience_estimated_from: estimated_from,
        compliance: sample.compliance,
        template_warnings: sample.template_warnings,
        authenticity,
    };
    Ok((report, filter))
}

/// The audience's counts, estimated when `purpose` allows and the
/// workspace is large; with how many contacts the estimate read. An
/// estimate of nobody eligible is checked exactly, since it would block.
async fn audience_counts(
    state: &AppState,
    spec: &AudienceSpec<'_>,
    purpose: ReportFor,
) -> ApiResult<(AudienceCounts, Option<i64>)> {
    if !purpose.estimates() {
        return Ok((state.store.audience_counts(spec).await?, None));
    }
    let counted = state.store.audience_counts_estimated(spec).await?;
    if counted.sampled.is_some() && counted.counts.eligible == 0 {
        return Ok((state.store.audience_counts(spec).await?, None));
    }
    Ok((counted.counts, counted.sampled))
}

/// The sending gate's blockers and reminders, and a message sent already.
fn gate_findings(workspace: &Workspace, now: Timestamp, m: &MessageRecord, f: &mut Findings) {
    let gate = gate::evaluate(workspace.gate_input(now));
    for b in gate.blockers {
        f.block(b.code, b.message);
    }
    for r in gate.reminders {
        f.warn(r.code, r.message);
    }
    if m.state.is_sent() {
        f.block(
            "already_sent",
            "This message was sent already; compose a new message to send again.",
        );
    }
}

/// The message's audience filter, parsed against the schema as it is now:
/// its own, or its saved audience's as that is now.
async fn audience_filter(
    state: &AppState,
    m: &MessageRecord,
    schema: &sendwell_core::attribute::AttributeSchema,
) -> ApiResult<Option<Filter>> {
    let Some(v) = audience_value(state, m).await? else {
        return Ok(None);
    };
    Filter::parse(&v, schema).map(Some).map_err(|e| {
        ApiError::conflict(
            "audience-no-longer-valid",
            format!("The message's audience filter no longer fits the attribute schema: {e}"),
        )
    })
}

/// The filter a message's audience is, as JSON: its own, or the one its
/// saved audience has now. A saved audience deleted since is a conflict
/// that says so.
pub(crate) async fn audience_value(
    state: &AppState,
    m: &MessageRecord,
) -> ApiResult<Option<serde_json::Value>> {
    let Some(id) = &m.audience_id else {
        return Ok(m.audience.clone());
    };
    match state.store.saved_audience(&m.workspace_id, id).await? {
        Some(saved) => Ok(Some(saved.filter)),
        None => Err(ApiError::conflict(
            "audience-deleted",
            format!(
                "The saved audience {id} this message uses was deleted: choose another audience \
                 (PUT /v1/messages/{} while it is a draft).",
                m.id
            ),
        )),
    }
}

/// Risky recipients warn; nobody eligible blocks, with what would help.
fn audience_findings(m: &MessageRecord, audience: &AudienceCounts, f: &mut Findings) {
    if audience.risky > 0 {
        f.warn(
            "risky_recipients",
            format!(
                "{} of the {} recipients have a risky address (a likely typo, a disposable domain or a role \
                 account such as info@): mail to them bounces or reaches nobody in particular more often. \
                 Compose with \"exclude_risky\": true to leave them out, or fix the addresses.",
                audience.risky, audience.eligible
            ),
        );
    }
    if audience.eligible == 0 && !m.state.is_sent() {
        let help = match m.kind {
            MessageKind::Marketing => "Marketing goes only to contacts who opted in to the topic; ask for permission first with an opt_in_request message.",
            MessageKind::OptInRequest => "Opt-in requests go only to contacts with no recorded choice who were not asked recently.",
            MessageKind::Transactional => "Check the filter and the suppression list.",
        };
        f.block(
            "no_eligible_recipients",
            format!(
                "No contact may receive this message: {} match the filter, none is eligible. {help}",
                audience.matched
            ),
        );
    }
}

/// Whether a sender that looks like this is refused rather than warned about.
fn authenticity_blocks(p: &AuthenticityProblem) -> bool {
    matches!(
        p.code(),
        "fake_reply" | "poses_as_relative" | "poses_as_brand"
    )
}

/// Who the mail says it is from: impersonation, and the sender domain's
/// verification. The authenticity findings, for the report's own list.
async fn sender_findings(
    state: &AppState,
    m: &MessageRecord,
    f: &mut Findings,
) -> ApiResult<Vec<Finding>> {
    let facts = SenderFacts {
        from_name: m.from_name.as_deref(),
        from_address: &m.from_address,
        subject: &m.subject,
        is_reply: false,
        owned_domains: &[],
    };
    let mut authenticity = Vec::new();
    for p in check_sender(&facts) {
        let finding = Finding::new(p.code(), p.explain());
        if authenticity_blocks(&p) {
            f.blockers.push(finding.clone());
        } else {
            f.warnings.push(finding.clone());
        }
        authenticity.push(finding);
    }
    let problem =
        crate::dkim_keys::sender_domain_problem(state, &m.workspace_id, &m.from_address).await?;
    if let Some((blocks, message)) = problem {
        if blocks {
            f.block("sender_domain_unverified", message);
        } else {
            f.warn("sender_domain_unverified", message);
        }
    }
    Ok(authenticity)
}

/// The sunset suggested when a workspace has none: five marketing mails
/// in 90 days, none opened or clicked.
const SUGGESTED_SUNSET: sendwell_store::Sunset = sendwell_store::Sunset { mails: 5, days: 90 };

/// A suggestion to turn the engagement sunset on, for a marketing send
/// to at least 100 people of whom a fifth or more have neither opened
/// nor clicked any of their last five marketing mails in 90 days.
async fn engagement_findings(
    state: &AppState,
    workspace: &Workspace,
    spec: &AudienceSpec<'_>,
    audience: &AudienceCounts,
    f: &mut Findings,
) -> ApiResult<()> {
    if spec.kind != MessageKind::Marketing || workspace.sunset.is_some() || audience.eligible < 100
    {
        return Ok(());
    }
    let since = Timestamp::from_millis(state.store.now().millis() - 90 * 86_400_000);
    if state
        .store
        .marketing_sent_since(&workspace.id, since)
        .await?
        == 0
    {
        return Ok(());
    }
    let with_sunset = AudienceSpec {
        sunset: Some(SUGGESTED_SUNSET),
        ..*spec
    };
    let unengaged = state
        .store
        .audience_counts(&with_sunset)
        .await?
        .excluded
        .unengaged;
    if unengaged * 5 >= audience.eligible {
        f.warn(
            "low_engagement",
            format!(
                "{unengaged} of the {} recipients were sent {} marketing mails in the last {} days and opened or clicked none. \
                 Mail that nobody opens teaches mailbox providers to file yours as spam: turn on the engagement sunset \
                 (PATCH /v1/workspace {{\"sunset\": \"{}\"}}) to leave them out, or ask them whether they still want it.",
                audience.eligible,
                SUGGESTED_SUNSET.mails,
                SUGGESTED_SUNSET.days,
                SUGGESTED_SUNSET.as_text()
            ),
        );
    }
    Ok(())
}

/// Marketing mail a workspace sends in a day above which Gmail and Yahoo
/// treat it as a bulk sender (their 2024 sender requirements).
pub const BULK_SENDER_DAILY: i64 = 5_000;
/// Gmail's complaint-rate lines for bulk senders: stay under 0.1%, never
/// reach 0.3%.
const BULK_COMPLAINT_WARN: f64 = 0.001;
const BULK_COMPLAINT_BLOCK: f64 = 0.003;

/// The bulk-sender rules, for a marketing send that takes the workspace
/// above [`BULK_SENDER_DAILY`] mails in 24 hours: DMARC published for the
/// From domain, DKIM aligned with it (a verified sender domain), one-click
/// unsubscribe, and the complaint rate under 0.3% (a warning from 0.1%).
/// On the capture transport, or when the operator skips domain
/// verification, the DNS rules warn instead of blocking, as the sender
/// domain check does.
async fn bulk_sender_findings(
    state: &AppState,
    m: &MessageRecord,
    audience: &AudienceCounts,
    compliance: Option<&ComplianceView>,
    f: &mut Findings,
) -> ApiResult<()> {
    if m.kind != MessageKind::Marketing || audience.eligible == 0 {
        return Ok(());
    }
    let Some(volume) = bulk_volume(state, m, audience).await? else {
        return Ok(());
    };
    let blocks = state.requires_verified_domain();
    let dns_rule = |f: &mut Findings, code: &str, message: String| {
        if blocks {
            f.block(code, message);
        } else {
            f.warn(code, message);
        }
    };
    let lead = format!(
        "This send takes the workspace to {volume} marketing mails in 24 hours, above the {BULK_SENDER_DAILY} at which Gmail and Yahoo apply their bulk-sender rules"
    );
    let domain = m
        .from_address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    let dmarc = crate::domain_report::dmarc_check(state, &domain).await.0;
    if dmarc.status == crate::domain_report::Status::Fail {
        let publish = dmarc
            .publish
            .map(|p| format!(" Publish {} {} \"{}\".", p.kind, p.name, p.value))
            .unwrap_or_default();
        dns_rule(
            f,
            "bulk_dmarc_missing",
            format!(
                "{lead}: the From domain must publish DMARC. {}{publish}",
                dmarc.detail
            ),
        );
    }
    if crate::dkim_keys::sender_domain_problem(state, &m.workspace_id, &m.from_address)
        .await?
        .is_some()
    {
        dns_rule(f, "bulk_not_aligned", format!(
            "{lead}: mail must pass DKIM aligned with the From domain {domain}, so {domain} must be a verified sender domain of this workspace (GET /v1/sender-domains/{domain} shows what to publish)."
        ));
    }
    if compliance.is_some_and(|c| !c.list_unsubscribe || !c.list_unsubscribe_post) {
        f.block("bulk_one_click_missing", format!(
            "{lead}: every mail must offer one-click unsubscribe (List-Unsubscribe with List-Unsubscribe-Post, RFC 8058), and the sample mail does not. Leave the headers to sendwell: a custom template must not remove them."
        ));
    }
    complaint_findings(state, m, &lead, f).await
}

/// The marketing mails of the 24 hours this send would make, when above
/// [`BULK_SENDER_DAILY`].
async fn bulk_volume(
    state: &AppState,
    m: &MessageRecord,
    audience: &AudienceCounts,
) -> ApiResult<Option<i64>> {
    let mut volume = audience.eligible;
    if volume <= BULK_SENDER_DAILY {
        let day = state.store.now().millis() - 86_400_000;
        volume += state
            .store
            .marketing_sent_since(&m.workspace_id, Timestamp::from_millis(day))
            .await?;
    }
    Ok((volume > BULK_SENDER_DAILY).then_some(volume))
}

/// The bulk-sender complaint rule: a blocker from 0.3%, a warning from 0.1%.
async fn complaint_findings(
    state: &AppState,
    m: &MessageRecord,
    lead: &str,
    f: &mut Findings,
) -> ApiResult<()> {
    let policy = state.store.policy().await?;
    let rate = state
        .store
        .judged_counts(&m.workspace_id, policy.window_days)
        .await?
        .complaint_rate();
    let shown = format!("{:.2}%", rate * 100.0);
    if rate >= BULK_COMPLAINT_BLOCK {
        f.block("bulk_complaint_rate", format!(
            "{lead}: the complaint rate must stay under 0.3%, and this workspace's is {shown} over the last {} days. Send only to people who asked recently, make unsubscribing easy, and send less often until it falls.",
            policy.window_days
        ));
    } else if rate >= BULK_COMPLAINT_WARN {
        f.warn("bulk_complaint_rate", format!(
            "{lead}: the complaint rate is {shown} over the last {} days; Gmail asks bulk senders to stay under 0.1% and never reach 0.3%.",
            policy.window_days
        ));
    }
    Ok(())
}

/// Who a stored message goes to, its filter read already.
pub(crate) fn audience_of<'a>(
    state: &AppState,
    m: &'a MessageRecord,
    filter: Option<&'a Filter>,
    sunset: Option<sendwell_store::Sunset>,
) -> AudienceSpec<'a> {
    AudienceSpec {
        workspace: &m.workspace_id,
        filter,
        kind: m.kind,
        topic: &m.topic,
        opt_in_request_interval_days: state.opt_in_request_interval_days(),
        exclude_risky: m.exclude_risky,
        sunset,
    }
}

/// A contact of the message's audience, for renders that show real data.
pub(crate) async fn sample_contact(
    state: &AppState,
    m: &MessageRecord,
) -> ApiResult<Option<sendwell_store::Contact>> {
    let schema = state.store.schema(&m.workspace_id).await?;
    // A saved audience deleted since: any contact will do for a render.
    let filter = match audience_value(state, m).await.ok().flatten() {
        Some(v) => Filter::parse(&v, &schema).ok(),
        None => None,
    };
    first_of_audience(state, &audience_of(state, m, filter.as_ref(), None), false).await
}

/// The first contact of an audience, if anyone may receive the message
/// (when `sampled`, the first of the sample an estimate reads).
async fn first_of_audience(
    state: &AppState,
    spec: &AudienceSpec<'_>,
    sampled: bool,
) -> ApiResult<Option<sendwell_store::Contact>> {
    let sample = if sampled {
        state.store.audience_sample_estimated(spec, 1).await?
    } else {
        state.store.audience_sample(spec, 1).await?
    };
    match sample.first().and_then(|s| ContactId::parse(&s.id).ok()) {
        Some(id) => Ok(state.store.contact(spec.workspace, &id).await?),
        None => Ok(None),
    }
}

/// The contact a sample mail is rendered for: the first of the audience,
/// or a stand-in when nobody is eligible.
async fn sample_person(
    state: &AppState,
    spec: &AudienceSpec<'_>,
    sampled: bool,
) -> ApiResult<OwnedContact> {
    let full = first_of_audience(state, spec, sampled).await?;
    Ok(match full {
        Some(c) => OwnedContact {
            id: c.id.to_string(),
            email: c
                .email
                .clone()
                .unwrap_or_else(|| "preview@sendwell.invalid".to_owned()),
            name: c.name,
            external_id: c.external_id,
            attributes: c.attributes,
        },
        None => OwnedContact {
            id: "ct_preview".to_owned(),
            email: "preview@sendwell.invalid".to_owned(),
            name: None,
            external_id: None,
            attributes: serde_json::Map::new(),
        },
    })
}

/// The template compiled against the schema and a sample mail rendered
/// from it: what blocks or warns in either, and what the sample showed.
async fn sample_findings(
    state: &AppState,
    workspace: &Workspace,
    m: &MessageRecord,
    spec: &AudienceSpec<'_>,
    schema: &sendwell_core::attribute::AttributeSchema,
    purpose: ReportFor,
    f: &mut Findings,
) -> ApiResult<Sample> {
    let names: Vec<String> = schema.iter().map(|(n, _)| n.as_str().to_owned()).collect();
    let sample = match prepare(m.clone(), &names) {
        Err(e) => {
            f.block("template_invalid", e.to_string());
            Sample::default()
        }
        Ok(prepared) => {
            render_sample(state, workspace, m, spec, prepared, purpose.estimates(), f).await?
        }
    };
    if let Some(screening) = &sample.content {
        content_findings(screening, f);
    }
    Ok(sample)
}

/// Renders a sample mail as it would leave, tracked, and as the workspace
/// wrote it, untracked, for the content screen.
async fn render_sample(
    state: &AppState,
    workspace: &Workspace,
    m: &MessageRecord,
    spec: &AudienceSpec<'_>,
    prepared: Prepared,
    sampled: bool,
    f: &mut Findings,
) -> ApiResult<Sample> {
    let mut sample = template_sample(m, &prepared, f);
    let person = sample_person(state, spec, sampled).await?;
    let untracked = person.clone();
    let message_id = format!("preflight@{}", state.public_host());
    let now = state.store.now();
    let prepared = Arc::new(prepared);
    let tracked = render_off_runtime(
        state,
        workspace,
        prepared.clone(),
        person,
        true,
        message_id.clone(),
        now,
    )
    .await;
    let mail = match tracked {
        Ok(mail) => mail,
        Err(e) => {
            f.block("template_render_failed", e.to_string());
            return Ok(sample);
        }
    };
    // The screen judges what the workspace wrote: the same mail without
    // click tracking or the open pixel.
    let plain = render_off_runtime(
        state,
        workspace,
        prepared.clone(),
        untracked,
        false,
        message_id,
        now,
    )
    .await;
    sample.content = plain.ok().map(|plain| screen_rendered(state, m, &plain));
    let address = workspace.physical_address.clone().unwrap_or_default();
    sample.compliance = Some(compliance(&mail, &prepared, &address));
    Ok(sample)
}

/// What the compiled template itself tells: the variables it uses, its
/// warnings, and a missing opt-in button that blocks an opt-in request.
fn template_sample(m: &MessageRecord, prepared: &Prepared, f: &mut Findings) -> Sample {
    if m.kind == MessageKind::OptInRequest && prepared.template.opt_in_wording.is_none() {
        f.block(
            "opt_in_button_missing",
            "An opt-in request needs the button the person presses to agree: \
             add {% opt_in_button \"Yes, send me the newsletter\" %} to the body.",
        );
    }
    Sample {
        used_variables: prepared.template.variables().to_vec(),
        template_warnings: prepared
            .template
            .warnings
            .iter()
            .map(|w| Finding::new(w.code, w.message.clone()))
            .collect(),
        ..Sample::default()
    }
}

/// Where the unsubscribe link and the address are, and whether the list
/// headers are there, as the renderer made the mail.
fn compliance(mail: &RenderedMail, prepared: &Prepared, address: &str) -> ComplianceView {
    let has = |name: &str| {
        mail.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let html_has_address = address.is_empty()
        || mail
            .html
            .contains(&escape_html(address).replace('\n', "<br>"))
        || mail.html.contains(&escape_html(address));
    let places = prepared.template.places;
    let placed = |by_template: bool| if by_template { "template" } else { "footer" }.to_owned();
    ComplianceView {
        unsubscribe_link: placed(places.html_unsubscribe),
        physical_address: placed(places.html_address),
        html_has_unsubscribe: mail.html.contains(&mail.unsubscribe_url),
        html_has_address,
        text_has_unsubscribe: mail.text.contains(&mail.unsubscribe_url),
        text_has_address: mail.text.contains(address),
        list_unsubscribe: has("List-Unsubscribe"),
        list_unsubscribe_post: has("List-Unsubscribe-Post"),
        list_id: has("List-Id"),
    }
}

/// A blocking screen verdict blocks with every rule that fired; a review
/// verdict warns that an operator looks first.
fn content_findings(screening: &Screening, f: &mut Findings) {
    match screening.verdict {
        ContentVerdict::Block => {
            for hit in &screening.hits {
                f.block(
                    &format!("content.{}", hit.rule),
                    format!("{} (\"{}\")", hit.explanation, hit.snippet),
                );
            }
            if screening.hits.is_empty() {
                f.block("content_blocked", "The content screen blocks this message.");
            }
        }
        ContentVerdict::Review => {
            let why = screening
                .hits
                .iter()
                .map(|h| h.explanation.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            f.warn(
                "content_review",
                format!(
                    "The content screen asks an operator to review this message before it goes out (score {:.1}): {why}",
                    screening.score
                ),
            );
        }
        ContentVerdict::Send => {}
    }
}

/// A used attribute that part of the audience lacks renders empty for them
/// ("Hi ,"): says for how many, so the sender adds a fallback. One count
/// per used attribute, at most 20.
async fn attribute_gaps(
    state: &AppState,
    spec: &AudienceSpec<'_>,
    schema: &sendwell_core::attribute::AttributeSchema,
    used_variables: &[String],
    eligible: i64,
    purpose: ReportFor,
    f: &mut Findings,
) -> ApiResult<()> {
    for name in used_variables.iter().take(20) {
        let field = match name.as_str() {
            "first_name" | "last_name" | "name" => "name",
            "external_id" => "external_id",
            other if schema.iter().any(|(n, _)| n.as_str() == other) => other,
            _ => continue,
        };
        let Ok(missing) = Filter::parse_text(&format!("{field} has no value"), schema) else {
            continue;
        };
        let combined = match spec.filter {
            Some(filter) => Filter::And(vec![filter.clone(), missing]),
            None => missing,
        };
        let lacking_spec = AudienceSpec {
            filter: Some(&combined),
            ..*spec
        };
        let (lacking, estimated) = if purpose.estimates() {
            let c = state.store.audience_counts_estimated(&lacking_spec).await?;
            (c.counts.eligible, c.sampled.is_some())
        } else {
            (
                state.store.audience_counts(&lacking_spec).await?.eligible,
                false,
            )
        };
        let about = if estimated { "about " } else { "" };
        if lacking > 0 {
            f.warn(
                "attribute_empty",
                format!(
                    "{{{{ {name} }}}} is empty for {about}{lacking} of the {eligible} recipients, so their mail shows nothing there; \
                     give it a fallback, such as {{{{ {name} | fallback: \"there\" }}}}"
                ),
            );
        }
    }
    Ok(())
}

/// Screens what the workspace wrote in a rendered mail (rendered
/// untracked): never what sendwell added, so the footer sendwell adds
/// (the workspace's name and address, "Unsubscribe", "Report this email")
/// is taken out first, and sendwell's own links in what is left (an
/// unsubscribe link the template places, opt-in buttons) are not the
/// workspace's links either: a server reached by IP address in development
/// does not look like a phishing link.
pub(crate) fn screen_rendered(
    state: &AppState,
    m: &MessageRecord,
    mail: &RenderedMail,
) -> Screening {
    const OWN: &str = "https://sendwell.invalid";
    let base = state.public_url();
    let (text, html) = mail.authored();
    let text = text.replace(base, OWN);
    let html = html.replace(base, OWN);
    let mut mail = AuthoredMail::from_parts(
        m.from_name.as_deref(),
        &m.from_address,
        &mail.subject,
        &text,
        Some(&html),
    );
    mail.links.retain(|l| !l.href.starts_with(OWN));
    let own = m
        .from_address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("");
    Screener::screen(&mail, &[own, "sendwell.invalid"])
}
