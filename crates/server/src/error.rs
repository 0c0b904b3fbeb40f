//! Errors as API clients see them: RFC 9457 problem details with a message a
//! person can act on. Internal causes are logged once, with a reference the
//! client also gets, and never shown.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sendwell_core::secret::{random_bytes, to_hex};
use serde::Serialize;

/// One problem with one part of the request, located by a JSON Pointer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    /// JSON Pointer (RFC 6901) into the request body, e.g. `/contacts/3/email`.
    pub pointer: String,
    pub detail: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<FieldProblem>,
    blockers: Vec<BlockerView>,
}

/// Something that stops a send, with how to clear it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BlockerView {
    pub code: String,
    pub message: String,
}

/// The problem document (RFC 9457).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// What stops a send (an extension member, RFC 9457 section 3.2).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blockers: Vec<BlockerView>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            blockers: Vec::new(),
        }
    }

    /// What blocks, for a refusal that lists blockers.
    pub fn blockers(&self) -> &[BlockerView] {
        &self.blockers
    }

    pub fn with_blockers(mut self, blockers: Vec<BlockerView>) -> Self {
        self.blockers = blockers;
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldProblem>) -> Self {
        self.errors = errors;
        self
    }

    /// What went wrong and what to do, as a person reads it.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The problems located in the request, each with its JSON Pointer.
    pub fn field_errors(&self) -> &[FieldProblem] {
        &self.errors
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "The request is malformed",
            detail,
        )
    }

    /// Well-formed input that breaks a rule (a wrong type, a bad address).
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
            "The request has invalid values",
            detail,
        )
    }

    pub fn invalid_field(pointer: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::invalid(detail.clone()).with_errors(vec![FieldProblem {
            pointer: pointer.to_owned(),
            detail,
        }])
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            code,
            "The request conflicts with the current state",
            detail,
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication is required",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
    }

    /// An unexpected failure: logged here, once, and hidden from the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let reference = to_hex(&random_bytes::<6>());
        tracing::error!(reference = %reference, error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            format!("The server could not complete the request; the server log has the details under reference {reference}."),
        )
    }

    fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:sendwell:problem:{}", self.code),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
            blockers: self.blockers.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<sendwell_store::StoreError> for ApiError {
    fn from(e: sendwell_store::StoreError) -> Self {
        match e {
            sendwell_store::StoreError::Conflict(message) => {
                Self::conflict("concurrent-change", message)
            }
            other => Self::internal(&other),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
