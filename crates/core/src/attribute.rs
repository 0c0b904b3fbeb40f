//! Custom contact attributes and the workspace's attribute schema. As with
//! Intercom's data attributes, the first value an attribute receives fixes its
//! type; every later value must be of that type. Types: string, number,
//! boolean, date. A date is given as RFC 3339 text, a calendar date, or (for
//! an attribute already typed date) Unix seconds; it is stored as fixed-width
//! RFC 3339 UTC text so that it compares correctly as text.

use crate::time::Timestamp;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

pub const MAX_NAME_LEN: usize = 64;
pub const MAX_STRING_LEN: usize = 10_000;
pub const MAX_ATTRIBUTES: usize = 200;

/// Field names of the contact itself; a custom attribute may not take them.
pub const STANDARD_FIELDS: &[&str] = &[
    "id",
    "email",
    "name",
    "external_id",
    "created_at",
    "updated_at",
    "last_seen_at",
    "attributes",
    "suppression",
    "consent",
];

/// Names templates give their own meaning (`{{ first_name }}` is the first
/// word of the contact's name): an attribute with one of these names would
/// never be seen by a template, so it is refused.
/// How many attributes a workspace's schema holds unless configured otherwise.
pub const DEFAULT_MAX_SCHEMA_ATTRIBUTES: usize = 200;

pub const TEMPLATE_NAMES: &[&str] = &[
    "first_name",
    "last_name",
    "contact_id",
    "unsubscribe_url",
    "opt_in_url",
    "report_url",
    "workspace_name",
    "physical_address",
    "data",
];

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttributeName(String);

impl AttributeName {
    pub fn parse(text: &str) -> Result<Self, AttributeError> {
        let bad = |why: &'static str| AttributeError::InvalidName {
            name: text.chars().take(80).collect(),
            why,
        };
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        if text.len() > MAX_NAME_LEN {
            return Err(bad("it is longer than 64 characters"));
        }
        let mut chars = text.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad(
                "use letters, digits and underscores, starting with a letter or underscore (for example plan_name)",
            ));
        }
        if STANDARD_FIELDS.contains(&text) {
            return Err(bad("it is a standard contact field; set it at the top level of the contact, not under attributes"));
        }
        if TEMPLATE_NAMES.contains(&text) {
            return Err(bad(
                "templates give this name its own meaning (first_name and last_name come from the contact's name; the others are sendwell's links, the workspace's name and address, and transactional data): choose another name",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AttributeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttributeType {
    String,
    Number,
    Boolean,
    Date,
}

impl AttributeType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Date => "date",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "string" => Some(Self::String),
            "number" => Some(Self::Number),
            "boolean" => Some(Self::Boolean),
            "date" => Some(Self::Date),
            _ => None,
        }
    }

    fn example(self) -> &'static str {
        match self {
            Self::String => "a JSON string such as \"pro\"",
            Self::Number => "a JSON number such as 42",
            Self::Boolean => "true or false",
            Self::Date => "an RFC 3339 time such as \"2026-01-31T12:00:00Z\", a date such as \"2026-01-31\", or Unix seconds",
        }
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    String(String),
    Number(serde_json::Number),
    Boolean(bool),
    Date(Timestamp),
}

impl AttributeValue {
    pub fn kind(&self) -> AttributeType {
        match self {
            Self::String(_) => AttributeType::String,
            Self::Number(_) => AttributeType::Number,
            Self::Boolean(_) => AttributeType::Boolean,
            Self::Date(_) => AttributeType::Date,
        }
    }

    /// The stored JSON form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::String(s) => Value::String(s.clone()),
            Self::Number(n) => Value::Number(n.clone()),
            Self::Boolean(b) => Value::Bool(*b),
            Self::Date(t) => Value::String(t.to_rfc3339()),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum AttributeError {
    #[error("attribute name '{name}' is not valid: {why}")]
    InvalidName { name: String, why: &'static str },
    #[error(
        "attribute '{name}' is a {expected} attribute, but the value given is {given}; send {hint}"
    )]
    WrongType {
        name: String,
        expected: AttributeType,
        given: String,
        hint: &'static str,
    },
    #[error(
        "attribute '{name}' holds {given}; attributes hold strings, numbers, booleans or dates"
    )]
    Unsupported { name: String, given: &'static str },
    #[error("attribute '{name}' is {len} characters long; the limit is 10000")]
    TooLong { name: String, len: usize },
    #[error("a contact can have at most 200 attributes; this one would have {0}")]
    TooMany(usize),
    #[error("attribute '{name}' contains a control character such as NUL; remove it")]
    ControlCharacter { name: String },
    #[error(
        "attribute '{name}' would be new, and the workspace already has its limit of {limit} attributes: \
         use an existing attribute, or delete unused ones with DELETE /v1/attributes/{{name}}"
    )]
    SchemaFull { name: String, limit: usize },
}

impl AttributeError {
    /// The attribute the error is about, for pointing at it in responses.
    pub fn attribute(&self) -> Option<&str> {
        match self {
            Self::InvalidName { name, .. }
            | Self::WrongType { name, .. }
            | Self::Unsupported { name, .. }
            | Self::TooLong { name, .. }
            | Self::ControlCharacter { name }
            | Self::SchemaFull { name, .. } => Some(name),
            Self::TooMany(_) => None,
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string \"{}\"", s.chars().take(40).collect::<String>()),
        other => json_kind(other).to_owned(),
    }
}

/// A workspace's attribute schema: the type each attribute took on first use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttributeSchema {
    types: BTreeMap<AttributeName, AttributeType>,
}

/// One requested change to a contact's attributes.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeChange {
    Set(AttributeName, AttributeValue),
    /// A JSON `null` removes the attribute from the contact.
    Remove(AttributeName),
}

impl AttributeSchema {
    pub fn new(types: impl IntoIterator<Item = (AttributeName, AttributeType)>) -> Self {
        Self {
            types: types.into_iter().collect(),
        }
    }

    pub fn get(&self, name: &AttributeName) -> Option<AttributeType> {
        self.types.get(name).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&AttributeName, AttributeType)> {
        self.types.iter().map(|(n, t)| (n, *t))
    }

    /// Declares a type; returns whether it was new. Existing types never change.
    pub fn declare(
        &mut self,
        name: AttributeName,
        kind: AttributeType,
    ) -> Result<bool, AttributeError> {
        match self.types.get(&name) {
            Some(existing) if *existing == kind => Ok(false),
            Some(existing) => Err(AttributeError::WrongType {
                name: name.0.clone(),
                expected: *existing,
                given: format!("a declaration of type {kind}"),
                hint: existing.example(),
            }),
            None => {
                self.types.insert(name, kind);
                Ok(true)
            }
        }
    }

    /// Checks raw attributes against the schema, fixing the type of attributes
    /// seen for the first time (they are added to `self`). Reports every
    /// problem, not just the first.
    pub fn resolve(
        &mut self,
        raw: &serde_json::Map<String, Value>,
    ) -> Result<Vec<AttributeChange>, Vec<AttributeError>> {
        let mut changes = Vec::with_capacity(raw.len());
        let mut errors = Vec::new();
        for (key, value) in raw {
            match self.resolve_one(key, value) {
                Ok(change) => changes.push(change),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(errors)
        }
    }

    fn resolve_one(&mut self, key: &str, value: &Value) -> Result<AttributeChange, AttributeError> {
        let name = AttributeName::parse(key)?;
        if value.is_null() {
            return Ok(AttributeChange::Remove(name));
        }
        let typed = match self.get(&name) {
            Some(expected) => coerce(&name, expected, value)?,
            None => {
                let typed = infer(&name, value)?;
                self.types.insert(name.clone(), typed.kind());
                typed
            }
        };
        Ok(AttributeChange::Set(name, typed))
    }
}

fn check_string(name: &AttributeName, s: &str) -> Result<(), AttributeError> {
    // Line breaks and tabs are text; NUL and other control characters are not
    // (PostgreSQL cannot even store NUL in JSON).
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AttributeError::ControlCharacter {
            name: name.0.clone(),
        });
    }
    let len = s.chars().count();
    if len > MAX_STRING_LEN {
        return Err(AttributeError::TooLong {
            name: name.0.clone(),
            len,
        });
    }
    Ok(())
}

/// The type a first value gives an attribute. Strings that are RFC 3339
/// times or calendar dates make a date attribute.
fn infer(name: &AttributeName, value: &Value) -> Result<AttributeValue, AttributeError> {
    match value {
        Value::Bool(b) => Ok(AttributeValue::Boolean(*b)),
        Value::Number(n) => Ok(AttributeValue::Number(n.clone())),
        Value::String(s) => {
            check_string(name, s)?;
            match looks_like_date(s) {
                Some(t) => Ok(AttributeValue::Date(t)),
                None => Ok(AttributeValue::String(s.clone())),
            }
        }
        other => Err(AttributeError::Unsupported {
            name: name.0.clone(),
            given: json_kind(other),
        }),
    }
}

fn looks_like_date(s: &str) -> Option<Timestamp> {
    // Only the exact shapes: a string like "12" or "May" stays a string.
    let shaped = s.len() >= 10
        && s.as_bytes().get(4) == Some(&b'-')
        && s.as_bytes().get(7) == Some(&b'-')
        && s.as_bytes()[..4].iter().all(u8::is_ascii_digit);
    if shaped {
        Timestamp::parse(s).ok()
    } else {
        None
    }
}

fn coerce(
    name: &AttributeName,
    expected: AttributeType,
    value: &Value,
) -> Result<AttributeValue, AttributeError> {
    let wrong = || AttributeError::WrongType {
        name: name.0.clone(),
        expected,
        given: describe(value),
        hint: expected.example(),
    };
    if matches!(value, Value::Array(_) | Value::Object(_)) {
        return Err(AttributeError::Unsupported {
            name: name.0.clone(),
            given: json_kind(value),
        });
    }
    match (expected, value) {
        (AttributeType::String, Value::String(s)) => {
            check_string(name, s)?;
            Ok(AttributeValue::String(s.clone()))
        }
        (AttributeType::Number, Value::Number(n)) => Ok(AttributeValue::Number(n.clone())),
        (AttributeType::Boolean, Value::Bool(b)) => Ok(AttributeValue::Boolean(*b)),
        (AttributeType::Date, Value::String(s)) => Timestamp::parse(s)
            .map(AttributeValue::Date)
            .map_err(|_| wrong()),
        (AttributeType::Date, Value::Number(n)) => n
            .as_i64()
            .and_then(Timestamp::from_unix_seconds)
            .map(AttributeValue::Date)
            .ok_or_else(wrong),
        _ => Err(wrong()),
    }
}

/// Applies changes to a contact's stored attributes (a JSON object).
pub fn apply_changes(current: &mut serde_json::Map<String, Value>, changes: &[AttributeChange]) {
    for change in changes {
        match change {
            AttributeChange::Set(name, value) => {
                current.insert(name.0.clone(), value.to_json());
            }
            AttributeChange::Remove(name) => {
                current.remove(name.as_str());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> serde_json::Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn first_use_fixes_the_type() {
        let mut schema = AttributeSchema::default();
        let changes = schema
            .resolve(&map(
                json!({"plan": "pro", "seats": 3, "opt_in": true, "trial_ends_at": "2026-05-01"}),
            ))
            .expect("valid");
        assert_eq!(changes.len(), 4);
        let plan = AttributeName::parse("plan").expect("name");
        assert_eq!(schema.get(&plan), Some(AttributeType::String));
        let ends = AttributeName::parse("trial_ends_at").expect("name");
        assert_eq!(schema.get(&ends), Some(AttributeType::Date));

        let errs = schema
            .resolve(&map(json!({"plan": 5, "seats": "three", "opt_in": "yes"})))
            .expect_err("wrong types");
        assert_eq!(errs.len(), 3, "every problem reported: {errs:?}");
        let msg = errs[0].to_string();
        assert!(msg.contains("'opt_in' is a boolean attribute"), "{msg}");
    }

    #[test]
    fn dates_accept_rfc3339_dates_and_unix_seconds_once_typed() {
        let mut schema = AttributeSchema::default();
        schema
            .resolve(&map(json!({"renewed_at": "2026-01-01T00:00:00Z"})))
            .expect("infer");
        let changes = schema
            .resolve(&map(json!({"renewed_at": 1_767_225_600})))
            .expect("unix");
        let AttributeChange::Set(_, AttributeValue::Date(t)) = &changes[0] else {
            panic!("date expected")
        };
        assert_eq!(t.to_rfc3339(), "2026-01-01T00:00:00.000Z");
        assert!(schema.resolve(&map(json!({"renewed_at": "soon"}))).is_err());
    }

    #[test]
    fn null_removes_and_nested_values_are_refused() {
        let mut schema = AttributeSchema::default();
        let changes = schema.resolve(&map(json!({"gone": null}))).expect("null");
        assert!(matches!(changes[0], AttributeChange::Remove(_)));
        let errs = schema
            .resolve(&map(json!({"tags": ["a"]})))
            .expect_err("list");
        assert!(errs[0].to_string().contains("a list"));
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_kept() {
        let mut schema = AttributeSchema::default();
        let errs = schema
            .resolve(&map(json!({"note": "a\u{0}b"})))
            .expect_err("NUL");
        assert!(matches!(errs[0], AttributeError::ControlCharacter { .. }));
        assert!(schema
            .resolve(&map(json!({"note": "line one\nline two\ttab"})))
            .is_ok());
    }

    #[test]
    fn names_are_checked() {
        assert!(AttributeName::parse("plan_name").is_ok());
        for bad in ["", "1plan", "plan name", "email", "a-b", &"x".repeat(65)] {
            assert!(AttributeName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strings_that_merely_contain_digits_stay_strings() {
        let mut schema = AttributeSchema::default();
        schema
            .resolve(&map(json!({"zip": "12345", "code": "2026-XY"})))
            .expect("ok");
        let zip = AttributeName::parse("zip").expect("name");
        let code = AttributeName::parse("code").expect("name");
        assert_eq!(schema.get(&zip), Some(AttributeType::String));
        assert_eq!(schema.get(&code), Some(AttributeType::String));
    }
}
