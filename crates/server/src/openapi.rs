//! The OpenAPI document, generated from the handlers' annotations.

use crate::api::{
    addresses, consent, contacts, enforcement, guidelines, health, imports, keys, messages,
    operator, provider_hooks, reports, reviews, sender_domains, suppressions, templates, webhooks,
    workspace,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sendwell",
        description = "A permission-first email sending platform. Workspace endpoints take a workspace API key, \
                       operator endpoints the operator token, both as `Authorization: Bearer`. Errors are RFC 9457 \
                       problem documents."
    ),
    paths(
        health::healthz,
        health::openapi,
        health::metrics,
        operator::create_workspace,
        operator::list_workspaces,
        operator::get_workspace,
        operator::workspace_audit_log,
        operator::publish_guidelines,
        workspace::get_workspace,
        workspace::patch_workspace,
        workspace::sending_status,
        workspace::audit_log,
        guidelines::current,
        guidelines::accept,
        guidelines::acceptances,
        keys::create,
        keys::list,
        keys::revoke,
        contacts::upsert,
        contacts::batch,
        contacts::list,
        contacts::get_one,
        contacts::erase,
        contacts::export,
        contacts::list_attributes,
        contacts::declare_attribute,
        contacts::delete_attribute,
        consent::record,
        consent::proof,
        consent::verify,
        addresses::check,
        suppressions::list,
        suppressions::add,
        suppressions::remove,
        suppressions::export_csv,
        suppressions::list_traps,
        suppressions::add_trap,
        suppressions::remove_trap,
        imports::create,
        imports::list,
        imports::get_one,
        imports::rejects,
        imports::operator_list,
        imports::operator_get,
        imports::approve,
        imports::reject,
        templates::create,
        templates::list,
        templates::show,
        templates::update,
        messages::preview,
        messages::create,
        messages::list,
        messages::show,
        messages::preflight,
        messages::send,
        messages::transactional,
        messages::outbox,
        messages::outbox_raw,
        reviews::list,
        reviews::approve,
        reviews::reject,
        sender_domains::create,
        sender_domains::list,
        sender_domains::show,
        sender_domains::remove,
        sender_domains::verify,
        enforcement::get_policy,
        enforcement::put_policy,
        enforcement::list_cases,
        enforcement::add_note,
        enforcement::reinstate,
        enforcement::withdraw,
        reports::report,
        reports::list,
        webhooks::create,
        webhooks::list,
        webhooks::remove,
        webhooks::log,
        provider_hooks::mailgun,
        provider_hooks::sendgrid,
        provider_hooks::postmark,
        provider_hooks::ses,
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
