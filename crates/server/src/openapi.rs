//! The OpenAPI document, generated from the handlers' annotations.

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
    modifiers(&BearerAuth)
)]
pub(crate) struct ApiDoc;

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

/// The document of every route `crate::api` declares, built once.
pub fn document() -> utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(build).clone()
}

fn build() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = crate::api::documented().split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    normalise(&mut doc);
    doc
}

/// Makes the generated document valid for client generators: an
/// operationId unique by construction (utoipa takes the handler's name,
/// and many handlers are called `list` or `create`), query parameters
/// declared as query parameters (a `params(SomeQuery)` without
/// `parameter_in` comes out as `in: path`), and a summary on every
/// operation.
fn normalise(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    for (path, item) in doc.paths.paths.iter_mut() {
        let in_template: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let operations = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
            ("head", &mut item.head),
            ("options", &mut item.options),
            ("trace", &mut item.trace),
        ];
        for (method, operation) in operations {
            let Some(op) = operation.as_mut() else {
                continue;
            };
            op.operation_id = Some(operation_id(method, path));
            for p in op.parameters.iter_mut().flatten() {
                if p.parameter_in == ParameterIn::Path && !in_template.contains(&p.name.as_str()) {
                    p.parameter_in = ParameterIn::Query;
                }
            }
            if op.summary.as_deref().is_none_or(|s| s.trim().is_empty()) {
                let from_description = op
                    .description
                    .as_deref()
                    .and_then(|d| d.split(['\n', '.']).next())
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                op.summary = Some(
                    from_description.unwrap_or_else(|| format!("{} {path}", method.to_uppercase())),
                );
            }
        }
    }
}

/// `get /v1/contacts/{id}/export` is `get_contacts_id_export`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for segment in path.split('/').filter(|s| !s.is_empty() && *s != "v1") {
        id.push('_');
        id.extend(
            segment
                .trim_matches(|c| c == '{' || c == '}')
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_a_unique_id_a_summary_and_parameters_where_they_are() {
        let doc = serde_json::to_value(document()).expect("json");
        let mut ids = std::collections::HashSet::new();
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("item") {
                let id = op["operationId"].as_str().expect("operationId");
                assert!(ids.insert(id.to_owned()), "{id} twice");
                assert!(
                    op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                    "{method} {path} has no summary"
                );
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let name = p["name"].as_str().expect("name");
                    let in_path = path.contains(&format!("{{{name}}}"));
                    assert_eq!(
                        p["in"] == "path",
                        in_path,
                        "{method} {path}: parameter {name} is declared in {}",
                        p["in"]
                    );
                }
            }
        }
        assert!(ids.len() > 50);
    }
}
