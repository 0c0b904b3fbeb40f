//! The preference centre (`/p/{token}`, the token of a mail's unsubscribe
//! link): a person sees every topic of the workspace by its name and
//! description, with their current choice, and changes each. Every change
//! is an event in the consent ledger (method `preference_centre`, with the
//! page's wording, the address and user agent of the request and the
//! mail the link came in), and the workspace's webhooks hear of it.
//!
//! As on the other pages behind links, a `GET` changes nothing, and only a
//! press of the page's own button (a fresh nonce) is taken as a choice.

use super::{
    form_is_fresh, form_urlencoded, html, internal, user_agent, LinkRequest, PageResult, Target,
    OPT_IN_FORM_SECONDS,
};
use crate::state::AppState;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use sendwell_core::consent::{ConsentAction, ConsentMethod, Evidence, NewConsentEvent, Topic};
use sendwell_core::text::escape_html;
use sendwell_core::WorkspaceId;
use sendwell_mail::Purpose;
use sendwell_store::StoreError;
use std::collections::BTreeSet;

/// A topic as a person sees it.
pub(super) struct ShownTopic {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
}

/// Every topic of the workspace: the named ones, then any key used in
/// consent or bulk messages that has no name (shown as its key).
pub(super) async fn shown_topics(
    state: &AppState,
    ws: &WorkspaceId,
) -> Result<Vec<ShownTopic>, StoreError> {
    let named = state.store.topics(ws).await?;
    let mut keys: BTreeSet<String> = named.iter().map(|t| t.key.clone()).collect();
    let mut shown: Vec<ShownTopic> = named
        .into_iter()
        .map(|t| ShownTopic {
            key: t.key,
            name: t.name,
            description: t.description,
        })
        .collect();
    for key in state.store.workspace_topics(ws).await? {
        if keys.insert(key.clone()) {
            shown.push(ShownTopic {
                name: key.clone(),
                key,
                description: None,
            });
        }
    }
    Ok(shown)
}

/// The topics the contact is opted in to now, by their latest event.
async fn subscribed(state: &AppState, t: &Target) -> Result<BTreeSet<String>, StoreError> {
    let events = state
        .store
        .contact_consent_events(&t.workspace.id, &t.contact)
        .await?;
    let mut latest = std::collections::BTreeMap::new();
    for e in events {
        latest.insert(e.topic.to_string(), e.action);
    }
    Ok(latest
        .into_iter()
        .filter(|(_, a)| *a != ConsentAction::OptOut)
        .map(|(k, _)| k)
        .collect())
}

const WORDING: &str = "Chose on the preference centre";

/// Whether the contact's address is on the workspace's suppression list
/// (it unsubscribed from everything, bounced or complained): then no topic
/// brings it mail, and the page says so instead of offering choices.
async fn suppressed(state: &AppState, t: &Target) -> Result<bool, StoreError> {
    let Some(email) = state
        .store
        .contact(&t.workspace.id, &t.contact)
        .await?
        .and_then(|c| c.email)
    else {
        return Ok(true);
    };
    let Ok(address) = sendwell_core::EmailAddress::parse(&email) else {
        return Ok(true);
    };
    Ok(state
        .store
        .suppression(&t.workspace.id, &state.address_hash(&address))
        .await?
        .is_some())
}

fn no_choices(t: &Target) -> Response {
    html(
        StatusCode::OK,
        &format!("Your emails from {}", t.workspace.name),
        &format!(
            "<h1>Your emails from {}</h1>\n<p>This address gets no emails from them: it unsubscribed from everything, \
             or mail to it could not be delivered. To receive their emails again, contact them.</p>",
            escape_html(&t.workspace.name)
        ),
    )
}

pub async fn page(link: LinkRequest) -> PageResult {
    let state = &link.state;
    let t = link.admit(Purpose::Unsubscribe).await?;
    if suppressed(state, &t).await.map_err(internal)? {
        return Ok(no_choices(&t));
    }
    let topics = shown_topics(state, &t.workspace.id)
        .await
        .map_err(internal)?;
    let current = subscribed(state, &t).await.map_err(internal)?;
    let name = escape_html(&t.workspace.name);
    let expires = state.store.now().millis() / 1000 + OPT_IN_FORM_SECONDS;
    let nonce = state.links().form_nonce(&link.token, expires);
    let mut body = format!(
        "<h1>Your emails from {name}</h1>\n\
         <form method=\"post\">\n<fieldset>\n<legend>Tick what you want to receive</legend>\n"
    );
    for topic in &topics {
        let key = escape_html(&topic.key);
        let checked = if current.contains(&topic.key) {
            " checked"
        } else {
            ""
        };
        body.push_str(&format!(
            "<p><input type=\"hidden\" name=\"shown\" value=\"{key}\">\
             <label><input type=\"checkbox\" name=\"topic\" value=\"{key}\"{checked}> <strong>{}</strong></label>",
            escape_html(&topic.name)
        ));
        if let Some(d) = &topic.description {
            body.push_str(&format!("<br><small>{}</small>", escape_html(d)));
        }
        body.push_str("</p>\n");
    }
    body.push_str(&format!(
        "</fieldset>\n<input type=\"hidden\" name=\"nonce\" value=\"{nonce}\">\n\
         <input type=\"hidden\" name=\"expires\" value=\"{expires}\">\n\
         <button type=\"submit\">Save my choices</button>\n</form>\n\
         <p><a href=\"/u/{}\">Unsubscribe from everything</a></p>\n",
        escape_html(&link.token)
    ));
    Ok(html(
        StatusCode::OK,
        &format!("Your emails from {}", t.workspace.name),
        &body,
    ))
}

/// Records each change the person made: an opt-in for a topic newly
/// ticked, an opt-out for one unticked, nothing for the rest.
pub async fn choose(link: LinkRequest, body: Bytes) -> PageResult {
    let state = &link.state;
    let t = link.admit(Purpose::Unsubscribe).await?;
    if !form_is_fresh(state, &link.token, &body) {
        return Err(html(
            StatusCode::FORBIDDEN,
            "Please choose again",
            "<p>This form is too old or did not come from the preferences page. Open the link in the email again and save your choices there.</p>",
        ));
    }
    if suppressed(state, &t).await.map_err(internal)? {
        return Ok(no_choices(&t));
    }
    let form = form_urlencoded(&body);
    let values = |name: &str| -> BTreeSet<String> {
        form.iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let (ticked, shown) = (values("topic"), values("shown"));
    // Only the topics the page showed: one added since is nobody's choice.
    let topics: Vec<ShownTopic> = shown_topics(state, &t.workspace.id)
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|x| shown.contains(&x.key))
        .collect();
    let current = subscribed(state, &t).await.map_err(internal)?;
    let evidence = Evidence {
        ip: Some(link.client_ip()),
        user_agent: user_agent(&link.headers),
        message_id: t.message.as_ref().map(|m| m.id.to_string()),
        wording: Some(WORDING.to_owned()),
        ..Evidence::default()
    }
    .checked()
    .unwrap_or_default();
    let actor = match &t.message {
        Some(m) => super::opt_in_actor(state, &t, m).await?,
        None => "recipient".to_owned(),
    };
    let choice = Choice {
        topics: &topics,
        ticked: &ticked,
        current: &current,
    };
    let events = choice.events(&t, &actor, &evidence);
    let recorded = state
        .store
        .append_consents(&t.workspace.id, events)
        .await
        .map_err(internal)?
        .ok_or_else(super::gone)?;
    announce(state, &t, &recorded).await;
    let chosen: Vec<String> = topics
        .iter()
        .filter(|x| ticked.contains(&x.key))
        .map(|x| format!("<li>{}</li>", escape_html(&x.name)))
        .collect();
    let list = if chosen.is_empty() {
        "<p>You will get none of these emails.</p>".to_owned()
    } else {
        format!("<p>You will get:</p>\n<ul>{}</ul>", chosen.join(""))
    };
    Ok(html(
        StatusCode::OK,
        "Choices saved",
        &format!(
            "<h1>Your choices are saved</h1>\n{list}\n<p><a href=\"/p/{}\">Change them again</a></p>",
            escape_html(&link.token)
        ),
    ))
}

/// What the person ticked on the page, against what they had.
struct Choice<'c> {
    topics: &'c [ShownTopic],
    ticked: &'c BTreeSet<String>,
    current: &'c BTreeSet<String>,
}

impl Choice<'_> {
    /// An opt-in for each topic newly ticked, an opt-out for each unticked,
    /// each with the page's evidence and the topic's name as shown.
    fn events(&self, t: &Target, actor: &str, evidence: &Evidence) -> Vec<NewConsentEvent> {
        let mut events = Vec::new();
        for topic in self.topics {
            let want = self.ticked.contains(&topic.key);
            let action = match (want, self.current.contains(&topic.key)) {
                (true, false) => ConsentAction::OptIn,
                (false, true) => ConsentAction::OptOut,
                _ => continue,
            };
            let Ok(key) = Topic::parse(&topic.key) else {
                continue;
            };
            let mut evidence = evidence.clone();
            evidence.wording = Some(format!(
                "{WORDING}: {} \"{}\"",
                if want { "ticked" } else { "unticked" },
                topic.name.chars().take(100).collect::<String>()
            ));
            events.push(NewConsentEvent {
                contact_id: t.contact.clone(),
                action,
                topic: key,
                method: ConsentMethod::PreferenceCentre,
                actor: actor.to_owned(),
                evidence,
            });
        }
        events
    }
}

/// Tells the workspace's webhooks: `opt_in` for the topics chosen,
/// `unsubscribe` for those left.
async fn announce(state: &AppState, t: &Target, events: &[sendwell_core::consent::ConsentEvent]) {
    for (kind, action) in [
        ("opt_in", ConsentAction::OptIn),
        ("unsubscribe", ConsentAction::OptOut),
    ] {
        let topics: Vec<String> = events
            .iter()
            .filter(|e| e.action == action)
            .map(|e| e.topic.to_string())
            .collect();
        if topics.is_empty() {
            continue;
        }
        let data = serde_json::json!({
            "contact_id": t.contact.as_str(),
            "message_id": t.message.as_ref().map(|m| m.id.to_string()),
            "topics": topics,
            "everything": false,
            "method": ConsentMethod::PreferenceCentre.as_str(),
        });
        crate::webhooks::emit(state, &t.workspace.id, kind, vec![data]).await;
    }
}
