//! Audience filters: which contacts a campaign or segment reaches. As with
//! Intercom's audience rules, a filter has two forms with one meaning: a JSON
//! form for programs
//! (`{"and": [{"field": "plan", "op": "in", "value": ["pro", "team"]}, ...]}`)
//! and a text form for people
//! (`plan in ("pro", "team") and last_seen_at less than 30 days ago`).
//!
//! Parsing type-checks against the workspace's [`AttributeSchema`]: a parsed
//! [`Filter`] names only fields that exist, uses only operators that apply to
//! their type and compares them only with values of that type, so the store
//! can compile it to SQL without checking again. Errors say where (a JSON
//! Pointer, or line and column) and what would have been accepted.
//!
//! Each meaning has one AST: `greater than`/`less than` on a date become
//! `after`/`before`; a one-element `and`/`or` list is its element; parentheses
//! add no node. `between` includes both bounds. `less than N days ago` means
//! later than N days before now, `more than N days ago` earlier than that.
//! The canonical forms ([`Filter::to_json`], [`Filter::to_text`]) parse back
//! to the same filter, for every filter the parsers produce.

use crate::attribute::{AttributeName, AttributeSchema, AttributeType, STANDARD_FIELDS};
use crate::text::edit_distance;
use crate::time::Timestamp;
use serde_json::Value;
use std::fmt;

pub const MAX_PREDICATES: usize = 100;
pub const MAX_DEPTH: usize = 16;
pub const MAX_IN_VALUES: usize = 1_000;
/// Values in a whole filter (each becomes a bound parameter; PostgreSQL
/// takes at most 65,535 in one statement, and the guards add their own).
pub const MAX_VALUES: usize = 10_000;
pub const MAX_TEXT_BYTES: usize = 10_000;
pub const MAX_VALUE_CHARS: usize = 1_000;
pub const MAX_DAYS: u32 = 36_500;

/// How much of the text an error quotes.
const SNIPPET_CHARS: usize = 30;

/// The contact's own fields that filters may use, in the order they are listed.
const FILTER_FIELDS: [&str; 6] = [
    "email",
    "name",
    "external_id",
    "created_at",
    "updated_at",
    "last_seen_at",
];

/// Writing `attributes.NAME` names a custom attribute explicitly; the text
/// form needs it for an attribute called `not`.
const ATTRIBUTE_PREFIX: &str = "attributes.";

const GROUP_KEYS: [&str; 3] = ["and", "or", "not"];
const CONDITION_KEYS: [&str; 3] = ["field", "op", "value"];

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Predicate(Predicate),
}

/// One condition on one field.
#[derive(Clone, Debug, PartialEq)]
pub struct Predicate {
    pub field: Field,
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    Email,
    Name,
    ExternalId,
    CreatedAt,
    UpdatedAt,
    LastSeenAt,
    /// A custom attribute with the type the schema gave it.
    Attribute(AttributeName, AttributeType),
}

impl Field {
    pub fn kind(&self) -> AttributeType {
        match self {
            Self::Email | Self::Name | Self::ExternalId => AttributeType::String,
            Self::CreatedAt | Self::UpdatedAt | Self::LastSeenAt => AttributeType::Date,
            Self::Attribute(_, kind) => *kind,
        }
    }

    /// The name as written in both forms (without any `attributes.` prefix).
    pub fn name(&self) -> &str {
        match self {
            Self::Email => "email",
            Self::Name => "name",
            Self::ExternalId => "external_id",
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::LastSeenAt => "last_seen_at",
            Self::Attribute(name, _) => name.as_str(),
        }
    }

    fn standard(name: &str) -> Option<Self> {
        match name {
            "email" => Some(Self::Email),
            "name" => Some(Self::Name),
            "external_id" => Some(Self::ExternalId),
            "created_at" => Some(Self::CreatedAt),
            "updated_at" => Some(Self::UpdatedAt),
            "last_seen_at" => Some(Self::LastSeenAt),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    HasAnyValue,
    HasNoValue,
    Is(Literal),
    IsNot(Literal),
    Contains(String),
    DoesNotContain(String),
    StartsWith(String),
    EndsWith(String),
    /// Numbers only once parsed: on a date it is [`Op::After`].
    GreaterThan(Literal),
    /// Numbers only once parsed: on a date it is [`Op::Before`].
    LessThan(Literal),
    /// Inclusive at both ends; the lower bound comes first.
    Between(Literal, Literal),
    In(Vec<Literal>),
    Before(Timestamp),
    After(Timestamp),
    MoreThanDaysAgo(u32),
    LessThanDaysAgo(u32),
}

impl Op {
    /// The op's name in the JSON form, e.g. `does_not_contain`.
    pub fn name(&self) -> &'static str {
        self.kind().json_name()
    }

    fn kind(&self) -> OpKind {
        match self {
            Self::HasAnyValue => OpKind::HasAnyValue,
            Self::HasNoValue => OpKind::HasNoValue,
            Self::Is(_) => OpKind::Is,
            Self::IsNot(_) => OpKind::IsNot,
            Self::Contains(_) => OpKind::Contains,
            Self::DoesNotContain(_) => OpKind::DoesNotContain,
            Self::StartsWith(_) => OpKind::StartsWith,
            Self::EndsWith(_) => OpKind::EndsWith,
            Self::GreaterThan(_) => OpKind::GreaterThan,
            Self::LessThan(_) => OpKind::LessThan,
            Self::Between(..) => OpKind::Between,
            Self::In(_) => OpKind::In,
            Self::Before(_) => OpKind::Before,
            Self::After(_) => OpKind::After,
            Self::MoreThanDaysAgo(_) => OpKind::MoreThanDaysAgo,
            Self::LessThanDaysAgo(_) => OpKind::LessThanDaysAgo,
        }
    }

    fn value_json(&self) -> Option<Value> {
        Some(match self {
            Self::HasAnyValue | Self::HasNoValue => return None,
            Self::Is(l) | Self::IsNot(l) | Self::GreaterThan(l) | Self::LessThan(l) => l.to_json(),
            Self::Contains(s)
            | Self::DoesNotContain(s)
            | Self::StartsWith(s)
            | Self::EndsWith(s) => Value::String(s.clone()),
            Self::Between(lo, hi) => Value::Array(vec![lo.to_json(), hi.to_json()]),
            Self::In(items) => Value::Array(items.iter().map(Literal::to_json).collect()),
            Self::Before(t) | Self::After(t) => Value::String(t.to_rfc3339()),
            Self::MoreThanDaysAgo(days) | Self::LessThanDaysAgo(days) => Value::from(*days),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    String(String),
    Number(f64),
    Boolean(bool),
    Date(Timestamp),
}

impl Literal {
    fn to_json(&self) -> Value {
        match self {
            Self::String(s) => Value::String(s.clone()),
            Self::Number(n) => number_json(*n),
            Self::Boolean(b) => Value::Bool(*b),
            Self::Date(t) => Value::String(t.to_rfc3339()),
        }
    }

    /// Whether `self` sorts after `other` (values of different types never do).
    fn greater(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Number(a), Self::Number(b)) => a > b,
            (Self::Date(a), Self::Date(b)) => a > b,
            (Self::String(a), Self::String(b)) => a > b,
            _ => false,
        }
    }
}

fn number_json(n: f64) -> Value {
    // Whole numbers print as 42 rather than 42.0; both read back as 42.0.
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({at})")]
pub struct FilterError {
    pub message: String,
    pub at: FilterLocation,
}

/// Where in the filter an error is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterLocation {
    /// A JSON Pointer (RFC 6901) to the offending part; empty for the root.
    Json { pointer: String },
    /// `offset` is in bytes; `line` and `column` count from 1, columns in
    /// characters. `snippet` is the text from that point (empty at the end).
    Text {
        offset: usize,
        line: usize,
        column: usize,
        snippet: String,
    },
}

impl fmt::Display for FilterLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json { pointer } if pointer.is_empty() => f.write_str("at the top of the filter"),
            Self::Json { pointer } => write!(f, "at {pointer}"),
            Self::Text {
                line,
                column,
                snippet,
                ..
            } if snippet.is_empty() => write!(f, "line {line}, column {column}, at the end"),
            Self::Text {
                line,
                column,
                snippet,
                ..
            } => write!(f, "line {line}, column {column}, at '{snippet}'"),
        }
    }
}

impl Filter {
    /// A JSON string is the text form, a JSON object the JSON form.
    pub fn parse(value: &Value, schema: &AttributeSchema) -> Result<Filter, FilterError> {
        match value {
            Value::String(text) => Self::parse_text(text, schema),
            Value::Object(_) => Self::parse_json(value, schema),
            other => Err(json_error(
                "",
                format!(
                    "a filter is a JSON object (the JSON form) or a string (the text form), not {}",
                    json_kind(other)
                ),
            )),
        }
    }

    pub fn parse_text(text: &str, schema: &AttributeSchema) -> Result<Filter, FilterError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(text_error(
                text,
                MAX_TEXT_BYTES,
                format!(
                    "the filter text is {} bytes long; the limit is {MAX_TEXT_BYTES} (use the JSON form for larger filters)",
                    text.len()
                ),
            ));
        }
        let tokens = lex(text)?;
        let mut parser = TextParser {
            text,
            tokens,
            end: Token {
                tok: Tok::End,
                at: text.len(),
            },
            pos: 0,
            schema,
            predicates: 0,
            nesting: 0,
        };
        let filter = parser.parse()?;
        match filter.too_many_values() {
            Some(message) => Err(text_error(text, 0, message)),
            None => Ok(filter),
        }
    }

    /// Why the filter has too many values, when it has.
    fn too_many_values(&self) -> Option<String> {
        let n = self.values();
        (n > MAX_VALUES).then(|| {
            format!("a filter may hold at most {MAX_VALUES} values in all; this one has {n}: split the audience, or use an attribute that marks it")
        })
    }

    /// Values in the filter: the members of `in` lists, one for any other condition.
    fn values(&self) -> usize {
        match self {
            Self::And(items) | Self::Or(items) => items.iter().map(Self::values).sum(),
            Self::Not(inner) => inner.values(),
            Self::Predicate(p) => match &p.op {
                Op::In(items) => items.len().max(1),
                _ => 1,
            },
        }
    }

    pub fn parse_json(value: &Value, schema: &AttributeSchema) -> Result<Filter, FilterError> {
        let filter = JsonReader {
            schema,
            predicates: 0,
        }
        .filter(value, "", 0)?;
        match filter.too_many_values() {
            Some(message) => Err(json_error("", message)),
            None => Ok(filter),
        }
    }

    /// The canonical JSON form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::And(items) => {
                serde_json::json!({ "and": items.iter().map(Self::to_json).collect::<Vec<_>>() })
            }
            Self::Or(items) => {
                serde_json::json!({ "or": items.iter().map(Self::to_json).collect::<Vec<_>>() })
            }
            Self::Not(inner) => serde_json::json!({ "not": inner.to_json() }),
            Self::Predicate(p) => {
                let mut map = serde_json::Map::new();
                map.insert("field".to_owned(), Value::String(p.field.name().to_owned()));
                map.insert("op".to_owned(), Value::String(p.op.name().to_owned()));
                if let Some(value) = p.op.value_json() {
                    map.insert("value".to_owned(), value);
                }
                Value::Object(map)
            }
        }
    }

    /// The canonical text form (the same as `Display`).
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// How many conditions the filter has.
    pub fn predicates(&self) -> usize {
        match self {
            Self::And(items) | Self::Or(items) => items.iter().map(Self::predicates).sum(),
            Self::Not(inner) => inner.predicates(),
            Self::Predicate(_) => 1,
        }
    }

    /// Levels of and/or/not; only called on filters the parsers bound.
    fn depth(&self) -> usize {
        match self {
            Self::And(items) | Self::Or(items) => {
                1 + items.iter().map(Self::depth).max().unwrap_or(0)
            }
            Self::Not(inner) => 1 + inner.depth(),
            Self::Predicate(_) => 0,
        }
    }

    /// Writes a child of a group: nested groups keep their parentheses, so
    /// that `a and (b and c)` reads back with the same shape.
    fn fmt_child(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::And(_) | Self::Or(_) => write!(f, "({self})"),
            _ => write!(f, "{self}"),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (items, joiner) = match self {
            Self::And(items) => (items, " and "),
            Self::Or(items) => (items, " or "),
            Self::Not(inner) => {
                f.write_str("not ")?;
                return inner.fmt_child(f);
            }
            Self::Predicate(p) => return write!(f, "{p}"),
        };
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(joiner)?;
            }
            item.fmt_child(f)?;
        }
        Ok(())
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.field.name();
        if matches!(self.field, Field::Attribute(..)) && name.eq_ignore_ascii_case("not") {
            f.write_str(ATTRIBUTE_PREFIX)?;
        }
        write!(f, "{name} {}", self.op)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HasAnyValue => f.write_str("has any value"),
            Self::HasNoValue => f.write_str("has no value"),
            Self::Is(l) => write!(f, "is {l}"),
            Self::IsNot(l) => write!(f, "is not {l}"),
            Self::Contains(s) => write!(f, "contains {}", quoted(s)),
            Self::DoesNotContain(s) => write!(f, "does not contain {}", quoted(s)),
            Self::StartsWith(s) => write!(f, "starts with {}", quoted(s)),
            Self::EndsWith(s) => write!(f, "ends with {}", quoted(s)),
            Self::GreaterThan(l) => write!(f, "greater than {l}"),
            Self::LessThan(l) => write!(f, "less than {l}"),
            Self::Between(lo, hi) => write!(f, "between {lo} and {hi}"),
            Self::In(items) => {
                f.write_str("in (")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str(")")
            }
            Self::Before(t) => write!(f, "before \"{t}\""),
            Self::After(t) => write!(f, "after \"{t}\""),
            Self::MoreThanDaysAgo(days) => write!(f, "more than {days} days ago"),
            Self::LessThanDaysAgo(days) => write!(f, "less than {days} days ago"),
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => f.write_str(&quoted(s)),
            // f64's Display is the shortest text that reads back exactly.
            Self::Number(n) => write!(f, "{n}"),
            Self::Boolean(b) => write!(f, "{b}"),
            Self::Date(t) => write!(f, "\"{t}\""),
        }
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

// ---------------------------------------------------------------------------
// Operators and the checks both forms share.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpKind {
    HasAnyValue,
    HasNoValue,
    Is,
    IsNot,
    Contains,
    DoesNotContain,
    StartsWith,
    EndsWith,
    GreaterThan,
    LessThan,
    Between,
    In,
    Before,
    After,
    MoreThanDaysAgo,
    LessThanDaysAgo,
}

impl OpKind {
    const ALL: [Self; 16] = [
        Self::HasAnyValue,
        Self::HasNoValue,
        Self::Is,
        Self::IsNot,
        Self::Contains,
        Self::DoesNotContain,
        Self::StartsWith,
        Self::EndsWith,
        Self::GreaterThan,
        Self::LessThan,
        Self::Between,
        Self::In,
        Self::Before,
        Self::After,
        Self::MoreThanDaysAgo,
        Self::LessThanDaysAgo,
    ];

    fn json_name(self) -> &'static str {
        match self {
            Self::HasAnyValue => "has_any_value",
            Self::HasNoValue => "has_no_value",
            Self::Is => "is",
            Self::IsNot => "is_not",
            Self::Contains => "contains",
            Self::DoesNotContain => "does_not_contain",
            Self::StartsWith => "starts_with",
            Self::EndsWith => "ends_with",
            Self::GreaterThan => "greater_than",
            Self::LessThan => "less_than",
            Self::Between => "between",
            Self::In => "in",
            Self::Before => "before",
            Self::After => "after",
            Self::MoreThanDaysAgo => "more_than_days_ago",
            Self::LessThanDaysAgo => "less_than_days_ago",
        }
    }

    fn text_name(self) -> &'static str {
        match self {
            Self::HasAnyValue => "has any value",
            Self::HasNoValue => "has no value",
            Self::Is => "is",
            Self::IsNot => "is not",
            Self::Contains => "contains",
            Self::DoesNotContain => "does not contain",
            Self::StartsWith => "starts with",
            Self::EndsWith => "ends with",
            Self::GreaterThan => "greater than",
            Self::LessThan => "less than",
            Self::Between => "between",
            Self::In => "in",
            Self::Before => "before",
            Self::After => "after",
            Self::MoreThanDaysAgo => "more than N days ago",
            Self::LessThanDaysAgo => "less than N days ago",
        }
    }

    fn allowed(self, kind: AttributeType) -> bool {
        use AttributeType as T;
        match self {
            Self::HasAnyValue | Self::HasNoValue | Self::Is | Self::IsNot => true,
            Self::Contains | Self::DoesNotContain | Self::StartsWith | Self::EndsWith => {
                kind == T::String
            }
            Self::GreaterThan | Self::LessThan | Self::Between => {
                matches!(kind, T::Number | T::Date)
            }
            Self::In => matches!(kind, T::String | T::Number),
            Self::Before | Self::After | Self::MoreThanDaysAgo | Self::LessThanDaysAgo => {
                kind == T::Date
            }
        }
    }
}

/// Which form an error message speaks: op names differ between them.
#[derive(Clone, Copy)]
enum Form {
    Json,
    Text,
}

impl Form {
    fn op_name(self, kind: OpKind) -> &'static str {
        match self {
            Self::Json => kind.json_name(),
            Self::Text => kind.text_name(),
        }
    }

    fn allowed_ops(self, kind: AttributeType) -> String {
        let names: Vec<&str> = OpKind::ALL
            .iter()
            .filter(|op| op.allowed(kind))
            .map(|op| self.op_name(*op))
            .collect();
        or_list(&names)
    }
}

fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn op_not_allowed(field: &Field, kind: OpKind, form: Form) -> String {
    format!(
        "'{}' is a {}, so '{}' does not apply to it; use {}",
        field.name(),
        field.kind(),
        form.op_name(kind),
        form.allowed_ops(field.kind())
    )
}

/// A value as written, before it is checked against the field's type.
#[derive(Clone, Debug)]
enum Raw {
    Str(String),
    Num {
        value: f64,
        whole: bool,
    },
    Bool(bool),
    /// Something that is never a value; says what it is.
    Other(&'static str),
}

impl Raw {
    fn describe(&self) -> &'static str {
        match self {
            Self::Str(_) => "a string",
            Self::Num { .. } => "a number",
            Self::Bool(_) => "true or false",
            Self::Other(what) => what,
        }
    }
}

/// The values an op was given: none, one, or a list.
enum Args {
    Absent,
    One(Raw),
    List(Vec<Raw>),
}

/// Where a problem with an op's values is: the condition as a whole, its
/// value, or one item of a value list.
#[derive(Clone, Copy, Debug)]
enum Spot {
    Condition,
    Value,
    Item(usize),
}

fn example(kind: AttributeType) -> &'static str {
    match kind {
        AttributeType::String => "a quoted string such as \"pro\"",
        AttributeType::Number => "a number such as 42",
        AttributeType::Boolean => "true or false",
        AttributeType::Date => "a date such as \"2026-01-31\"",
    }
}

fn mismatch(field: &Field, raw: &Raw) -> String {
    format!(
        "'{}' is a {}; compare it with {}, not {}",
        field.name(),
        field.kind(),
        example(field.kind()),
        raw.describe()
    )
}

fn check_text(s: &str) -> Result<(), String> {
    let len = s.chars().count();
    if len > MAX_VALUE_CHARS {
        return Err(format!(
            "this value is {len} characters long; values in a filter are limited to {MAX_VALUE_CHARS}"
        ));
    }
    // As for attribute values: line breaks and tabs are text, NUL is not.
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("this value contains a control character such as NUL; remove it".to_owned());
    }
    Ok(())
}

fn date(field: &Field, raw: Raw) -> Result<Timestamp, String> {
    match raw {
        Raw::Str(s) => {
            check_text(&s)?;
            Timestamp::parse(&s).map_err(|e| format!("'{}' is a date: {e}", field.name()))
        }
        other => Err(mismatch(field, &other)),
    }
}

fn literal(field: &Field, raw: Raw) -> Result<Literal, String> {
    match (field.kind(), raw) {
        (AttributeType::String, Raw::Str(s)) => check_text(&s).map(|()| Literal::String(s)),
        (AttributeType::Number, Raw::Num { value, .. }) => Ok(Literal::Number(value)),
        (AttributeType::Boolean, Raw::Bool(b)) => Ok(Literal::Boolean(b)),
        (AttributeType::Date, raw) => date(field, raw).map(Literal::Date),
        (_, raw) => Err(mismatch(field, &raw)),
    }
}

fn pattern(field: &Field, raw: Raw) -> Result<String, String> {
    match raw {
        Raw::Str(s) => check_text(&s).map(|()| s),
        other => Err(mismatch(field, &other)),
    }
}

fn days(raw: Raw) -> Result<u32, String> {
    match raw {
        Raw::Num { value, whole: true } if (0.0..=f64::from(MAX_DAYS)).contains(&value) => {
            Ok(value as u32)
        }
        Raw::Num { whole: true, .. } => Err(format!(
            "a number of days must be between 0 and {MAX_DAYS} (100 years)"
        )),
        other => Err(format!(
            "a number of days must be a whole number from 0 to {MAX_DAYS}, such as 30, not {}",
            if matches!(other, Raw::Num { .. }) {
                "a fraction"
            } else {
                other.describe()
            }
        )),
    }
}

fn one(args: Args, name: &str) -> Result<Raw, (Spot, String)> {
    match args {
        Args::One(raw) => Ok(raw),
        Args::List(_) => Ok(Raw::Other("a list")),
        Args::Absent => Err((Spot::Condition, format!("'{name}' needs a \"value\""))),
    }
}

fn list(args: Args, name: &str, shape: &str) -> Result<Vec<Raw>, (Spot, String)> {
    match args {
        Args::List(items) => Ok(items),
        Args::One(_) => Err((Spot::Value, format!("'{name}' takes {shape}"))),
        Args::Absent => Err((
            Spot::Condition,
            format!("'{name}' needs a \"value\": {shape}"),
        )),
    }
}

fn typed(field: &Field, items: Vec<Raw>) -> Result<Vec<Literal>, (Spot, String)> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, raw)| literal(field, raw).map_err(|m| (Spot::Item(i), m)))
        .collect()
}

/// Builds the op from its values, checking them against the field's type.
/// The op itself was already checked to apply to the field.
fn build(field: &Field, kind: OpKind, args: Args, form: Form) -> Result<Op, (Spot, String)> {
    let name = form.op_name(kind);
    let at_value = |message: String| (Spot::Value, message);
    match kind {
        OpKind::HasAnyValue | OpKind::HasNoValue => match args {
            Args::Absent if kind == OpKind::HasAnyValue => Ok(Op::HasAnyValue),
            Args::Absent => Ok(Op::HasNoValue),
            _ => Err((
                Spot::Value,
                format!("'{name}' takes no value; remove \"value\""),
            )),
        },
        OpKind::Is => Ok(Op::Is(literal(field, one(args, name)?).map_err(at_value)?)),
        OpKind::IsNot => Ok(Op::IsNot(
            literal(field, one(args, name)?).map_err(at_value)?,
        )),
        OpKind::GreaterThan => Ok(match literal(field, one(args, name)?).map_err(at_value)? {
            Literal::Date(t) => Op::After(t),
            other => Op::GreaterThan(other),
        }),
        OpKind::LessThan => Ok(match literal(field, one(args, name)?).map_err(at_value)? {
            Literal::Date(t) => Op::Before(t),
            other => Op::LessThan(other),
        }),
        OpKind::Contains => Ok(Op::Contains(
            pattern(field, one(args, name)?).map_err(at_value)?,
        )),
        OpKind::DoesNotContain => Ok(Op::DoesNotContain(
            pattern(field, one(args, name)?).map_err(at_value)?,
        )),
        OpKind::StartsWith => Ok(Op::StartsWith(
            pattern(field, one(args, name)?).map_err(at_value)?,
        )),
        OpKind::EndsWith => Ok(Op::EndsWith(
            pattern(field, one(args, name)?).map_err(at_value)?,
        )),
        OpKind::Before => Ok(Op::Before(date(field, one(args, name)?).map_err(at_value)?)),
        OpKind::After => Ok(Op::After(date(field, one(args, name)?).map_err(at_value)?)),
        OpKind::MoreThanDaysAgo => Ok(Op::MoreThanDaysAgo(
            days(one(args, name)?).map_err(at_value)?,
        )),
        OpKind::LessThanDaysAgo => Ok(Op::LessThanDaysAgo(
            days(one(args, name)?).map_err(at_value)?,
        )),
        OpKind::Between => between(field, args, name),
        OpKind::In => in_list(field, args, name),
    }
}

/// The two bounds of `between`, typed, the lower first.
fn between(field: &Field, args: Args, name: &str) -> Result<Op, (Spot, String)> {
    let shape = "two values, the lower and the upper bound, such as [1, 5]";
    let items = list(args, name, shape)?;
    if items.len() != 2 {
        return Err((
            Spot::Value,
            format!("'{name}' takes {shape}; this list has {}", items.len()),
        ));
    }
    let [lo, hi]: [Literal; 2] = typed(field, items)?
        .try_into()
        .map_err(|_| (Spot::Value, format!("'{name}' takes {shape}")))?;
    if lo.greater(&hi) {
        return Err((
            Spot::Value,
            format!("'{name}' needs the lower bound first: {lo} is greater than {hi}; swap them"),
        ));
    }
    Ok(Op::Between(lo, hi))
}

/// The values of `in`: at least one, at most [`MAX_IN_VALUES`], each typed.
fn in_list(field: &Field, args: Args, name: &str) -> Result<Op, (Spot, String)> {
    let items = list(args, name, "a list of values, such as [\"pro\", \"team\"]")?;
    if items.is_empty() {
        return Err((Spot::Value, format!("'{name}' needs at least one value")));
    }
    if items.len() > MAX_IN_VALUES {
        return Err((
            Spot::Item(MAX_IN_VALUES),
            format!(
                "'{name}' takes at most {MAX_IN_VALUES} values; this list has {}",
                items.len()
            ),
        ));
    }
    Ok(Op::In(typed(field, items)?))
}

/// The field a name refers to, or a message saying which names exist.
fn resolve_field(name: &str, schema: &AttributeSchema) -> Result<Field, String> {
    if let Some(field) = Field::standard(name) {
        return Ok(field);
    }
    let bare = name.strip_prefix(ATTRIBUTE_PREFIX).unwrap_or(name);
    if let Ok(attribute) = AttributeName::parse(bare) {
        if let Some(kind) = schema.get(&attribute) {
            return Ok(Field::Attribute(attribute, kind));
        }
    }
    let standard = or_list(&FILTER_FIELDS);
    if STANDARD_FIELDS.contains(&bare) {
        return Err(format!(
            "'{bare}' cannot be used in a filter; filter on {standard} or on an attribute"
        ));
    }
    let shown: String = name.chars().take(64).collect();
    let mut message = format!("unknown attribute '{shown}'");
    let names: Vec<&str> = schema.iter().map(|(n, _)| n.as_str()).collect();
    let candidates = FILTER_FIELDS.iter().copied().chain(names.iter().copied());
    if let Some(best) = closest(bare, candidates) {
        message.push_str(&format!("; did you mean '{best}'?"));
    } else if names.is_empty() {
        message.push_str(&format!(
            "; this workspace has no custom attributes yet, so filter on {standard}"
        ));
    } else {
        let more = names.len().saturating_sub(10);
        let listed = names
            .iter()
            .take(10)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        message.push_str(&format!("; the attributes are {listed}"));
        if more > 0 {
            message.push_str(&format!(" (and {more} more)"));
        }
        message.push_str(&format!(", and the standard fields {standard}"));
    }
    Err(message)
}

/// The candidate nearest to `word` if it is a plausible typo (at most two
/// edits, ignoring case); the first wins a tie.
fn closest<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let word = word.to_lowercase();
    let len = word.chars().count();
    if len > 80 {
        return None;
    }
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(&word, &candidate.to_lowercase());
        if distance <= 2 && distance < len && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

fn too_many_predicates() -> String {
    format!("a filter can have at most {MAX_PREDICATES} conditions; this is one more")
}

fn too_deep() -> String {
    format!("the filter is nested more than {MAX_DEPTH} levels deep; simplify it")
}

// ---------------------------------------------------------------------------
// The JSON form.

fn json_error(pointer: &str, message: String) -> FilterError {
    FilterError {
        message,
        at: FilterLocation::Json {
            pointer: pointer.to_owned(),
        },
    }
}

fn child(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn raw(value: &Value) -> Raw {
    match value {
        Value::String(s) => Raw::Str(s.clone()),
        Value::Number(n) => match n.as_f64() {
            Some(v) if v.is_finite() => Raw::Num {
                value: v,
                whole: n.is_i64() || n.is_u64(),
            },
            _ => Raw::Other("a number too large to use"),
        },
        Value::Bool(b) => Raw::Bool(*b),
        other => Raw::Other(json_kind(other)),
    }
}

struct JsonReader<'s> {
    schema: &'s AttributeSchema,
    predicates: usize,
}

impl JsonReader<'_> {
    /// `depth` is the number of groups around `value`.
    fn filter(&mut self, value: &Value, ptr: &str, depth: usize) -> Result<Filter, FilterError> {
        let Value::Object(map) = value else {
            return Err(json_error(
                ptr,
                format!(
                    "expected a filter object, such as {{\"field\": \"plan\", \"op\": \"is\", \"value\": \"pro\"}} or {{\"and\": [...]}}, not {}",
                    json_kind(value)
                ),
            ));
        };
        if map.is_empty() {
            return Err(json_error(
                ptr,
                "empty object: a filter is a condition {\"field\": ..., \"op\": ..., \"value\": ...} or a group {\"and\": [...]}, {\"or\": [...]} or {\"not\": ...}".to_owned(),
            ));
        }
        match GROUP_KEYS
            .iter()
            .find_map(|key| map.get(*key).map(|inner| (*key, inner)))
        {
            Some((key, inner)) => self.group(map, key, inner, ptr, depth),
            None => self.condition(map, ptr),
        }
    }

    fn group(
        &mut self,
        map: &serde_json::Map<String, Value>,
        key: &str,
        inner: &Value,
        ptr: &str,
        depth: usize,
    ) -> Result<Filter, FilterError> {
        if let Some(other) = map.keys().find(|k| k.as_str() != key) {
            let message = if GROUP_KEYS.contains(&other.as_str())
                || CONDITION_KEYS.contains(&other.as_str())
            {
                format!("an object is one group ('and', 'or' or 'not') or one condition (field, op, value); this one mixes '{key}' with '{other}', so nest one inside the other")
            } else {
                unknown_key(other, &format!("a group object has only the key '{key}'"))
            };
            return Err(json_error(&child(ptr, other), message));
        }
        if depth >= MAX_DEPTH {
            return Err(json_error(ptr, too_deep()));
        }
        let here = child(ptr, key);
        if key == "not" {
            let negated = self.filter(inner, &here, depth + 1)?;
            return Ok(Filter::Not(Box::new(negated)));
        }
        let Value::Array(items) = inner else {
            return Err(json_error(
                &here,
                format!("'{key}' takes a list of filters, such as {{\"{key}\": [{{...}}, {{...}}]}}, not {}", json_kind(inner)),
            ));
        };
        if items.is_empty() {
            let meaning = if key == "and" { "everyone" } else { "no one" };
            return Err(json_error(
                &here,
                format!("an empty '{key}' list is refused (it would match {meaning}); list at least one filter"),
            ));
        }
        let mut parsed = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.filter(item, &child(&here, &i.to_string()), depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        if parsed.len() == 1 {
            if let Some(only) = parsed.pop() {
                return Ok(only);
            }
        }
        Ok(if key == "and" {
            Filter::And(parsed)
        } else {
            Filter::Or(parsed)
        })
    }

    fn condition(
        &mut self,
        map: &serde_json::Map<String, Value>,
        ptr: &str,
    ) -> Result<Filter, FilterError> {
        if let Some(key) = map.keys().find(|k| !CONDITION_KEYS.contains(&k.as_str())) {
            return Err(json_error(
                &child(ptr, key),
                unknown_key(key, "a condition has the keys field, op and value"),
            ));
        }
        let field_ptr = child(ptr, "field");
        let op_ptr = child(ptr, "op");
        let field_name = string_member(
            map,
            "field",
            ptr,
            |other| {
                format!(
                    "'field' names a field or attribute as a string, such as \"plan\", not {}",
                    json_kind(other)
                )
            },
            "a condition needs a 'field', as in {\"field\": \"email\", \"op\": \"has_any_value\"}",
        )?;
        let op_name = string_member(
            map,
            "op",
            ptr,
            |other| format!("'op' is a string such as \"is\", not {}", json_kind(other)),
            "a condition needs an 'op', as in {\"field\": \"email\", \"op\": \"has_any_value\"}",
        )?;
        self.predicates += 1;
        if self.predicates > MAX_PREDICATES {
            return Err(json_error(ptr, too_many_predicates()));
        }
        let field =
            resolve_field(field_name, self.schema).map_err(|m| json_error(&field_ptr, m))?;
        let kind = OpKind::ALL
            .into_iter()
            .find(|k| k.json_name() == op_name)
            .ok_or_else(|| json_error(&op_ptr, unknown_op(&field, op_name)))?;
        if !kind.allowed(field.kind()) {
            return Err(json_error(
                &op_ptr,
                op_not_allowed(&field, kind, Form::Json),
            ));
        }
        let op = build(&field, kind, json_args(map), Form::Json)
            .map_err(|(spot, message)| json_error(&spot_pointer(ptr, spot), message))?;
        Ok(Filter::Predicate(Predicate { field, op }))
    }
}

/// The string under `key` of a condition at `ptr`; an error with
/// `not_string` when it is something else, with `missing` when it is absent.
fn string_member<'m>(
    map: &'m serde_json::Map<String, Value>,
    key: &str,
    ptr: &str,
    not_string: impl FnOnce(&Value) -> String,
    missing: &str,
) -> Result<&'m str, FilterError> {
    match map.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(json_error(&child(ptr, key), not_string(other))),
        None => Err(json_error(ptr, missing.to_owned())),
    }
}

/// The values under a condition's "value" key, as written.
fn json_args(map: &serde_json::Map<String, Value>) -> Args {
    match map.get("value") {
        None => Args::Absent,
        Some(Value::Array(items)) => Args::List(items.iter().map(raw).collect()),
        Some(value) => Args::One(raw(value)),
    }
}

/// The JSON Pointer of a spot in the condition at `ptr`.
fn spot_pointer(ptr: &str, spot: Spot) -> String {
    let value_ptr = child(ptr, "value");
    match spot {
        Spot::Condition => ptr.to_owned(),
        Spot::Value => value_ptr,
        Spot::Item(i) => child(&value_ptr, &i.to_string()),
    }
}

fn unknown_key(key: &str, known: &str) -> String {
    let shown: String = key.chars().take(64).collect();
    let all = CONDITION_KEYS.iter().chain(GROUP_KEYS.iter()).copied();
    match closest(key, all) {
        Some(best) => format!("unknown key '{shown}' (did you mean '{best}'?); {known}"),
        None => format!("unknown key '{shown}'; {known}"),
    }
}

fn unknown_op(field: &Field, op: &str) -> String {
    let shown: String = op.chars().take(64).collect();
    let allowed = OpKind::ALL
        .into_iter()
        .filter(|k| k.allowed(field.kind()))
        .map(OpKind::json_name);
    let hint = closest(op, allowed)
        .map(|best| format!(" (did you mean '{best}'?)"))
        .unwrap_or_default();
    format!(
        "unknown op '{shown}'{hint}; for '{}', a {}, use {}",
        field.name(),
        field.kind(),
        Form::Json.allowed_ops(field.kind())
    )
}

// ---------------------------------------------------------------------------
// The text form.

/// The char boundary at or before `offset`, its 1-based line and column.
fn line_column(text: &str, offset: usize) -> (usize, usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).unwrap_or("").chars().count() + 1;
    (offset, line, column)
}

fn locate(text: &str, offset: usize) -> FilterLocation {
    let (offset, line, column) = line_column(text, offset);
    FilterLocation::Text {
        offset,
        line,
        column,
        snippet: text
            .get(offset..)
            .unwrap_or("")
            .chars()
            .take_while(|c| *c != '\n')
            .take(SNIPPET_CHARS)
            .collect(),
    }
}

fn text_error(text: &str, offset: usize, message: String) -> FilterError {
    FilterError {
        message,
        at: locate(text, offset),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num { value: f64, whole: bool },
    Open,
    Close,
    Comma,
    End,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// Byte offset of the token's first character.
    at: usize,
}

impl Token {
    /// Whether this is the keyword `word` (keywords ignore case).
    fn is(&self, word: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(word))
    }

    fn describe(&self) -> String {
        match &self.tok {
            Tok::Word(w) => format!("'{}'", w.chars().take(40).collect::<String>()),
            Tok::Str(_) => "a quoted string".to_owned(),
            Tok::Num { .. } => "a number".to_owned(),
            Tok::Open => "'('".to_owned(),
            Tok::Close => "')'".to_owned(),
            Tok::Comma => "','".to_owned(),
            Tok::End => "the end of the filter".to_owned(),
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        let tok = match c {
            c if c.is_whitespace() => {
                chars.next();
                continue;
            }
            '(' | ')' | ',' => {
                chars.next();
                match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    _ => Tok::Comma,
                }
            }
            '"' | '\'' => quoted_string(text, at, c, &mut chars)?,
            '-' | '0'..='9' => number(text, at, &mut chars)?,
            c if c.is_ascii_alphabetic() || c == '_' => word(text, at, &mut chars),
            '=' | '<' | '>' | '!' => {
                return Err(text_error(
                    text,
                    at,
                    format!("unexpected '{c}': write comparisons in words, as in plan is \"pro\" or seats greater than 5"),
                ))
            }
            other => {
                return Err(text_error(
                    text,
                    at,
                    format!("unexpected character '{other}'; field names use letters, digits and underscores, and text values go in quotes"),
                ))
            }
        };
        tokens.push(Token { tok, at });
    }
    Ok(tokens)
}

/// The characters `lex` has yet to read, with their byte offsets.
type Chars<'t> = std::iter::Peekable<std::str::CharIndices<'t>>;

/// Reads a string opened by the quote `quote` at `at`, up to its closing
/// quote, undoing the escapes.
fn quoted_string(
    text: &str,
    at: usize,
    quote: char,
    chars: &mut Chars<'_>,
) -> Result<Tok, FilterError> {
    let unterminated = || {
        text_error(
            text,
            at,
            format!("unterminated string: add the closing {quote}"),
        )
    };
    chars.next();
    let mut value = String::new();
    loop {
        match chars.next() {
            None => return Err(unterminated()),
            Some((_, q)) if q == quote => break,
            Some((escape_at, '\\')) => match chars.next() {
                Some((_, e @ ('"' | '\'' | '\\'))) => value.push(e),
                Some((_, e)) => {
                    return Err(text_error(
                        text,
                        escape_at,
                        format!("unknown escape '\\{e}' in a string; the escapes are \\\", \\' and \\\\, and other characters are written as they are"),
                    ))
                }
                None => return Err(unterminated()),
            },
            Some((_, other)) => value.push(other),
        }
    }
    Ok(Tok::Str(value))
}

/// Reads a word (a keyword or a field name) starting at `at`.
fn word(text: &str, at: usize, chars: &mut Chars<'_>) -> Tok {
    let mut end = at;
    while let Some(&(i, w)) = chars.peek() {
        if !is_word_char(w) {
            break;
        }
        end = i + w.len_utf8();
        chars.next();
    }
    Tok::Word(text.get(at..end).unwrap_or("").to_owned())
}

/// Reads `-?digits(.digits)?([eE][+-]?digits)?` starting at `start`.
fn number(text: &str, start: usize, chars: &mut Chars<'_>) -> Result<Tok, FilterError> {
    let bytes = text.as_bytes();
    let digit_at = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let mut end = start;
    if bytes.get(end) == Some(&b'-') {
        end += 1;
    }
    if !digit_at(end) {
        return Err(text_error(
            text,
            start,
            "'-' must be followed by a number, as in -1.5".to_owned(),
        ));
    }
    while digit_at(end) {
        end += 1;
    }
    let mut whole = true;
    if bytes.get(end) == Some(&b'.') && digit_at(end + 1) {
        whole = false;
        end += 1;
        while digit_at(end) {
            end += 1;
        }
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
        if digit_at(end + 1 + sign) {
            whole = false;
            end += 1 + sign;
            while digit_at(end) {
                end += 1;
            }
        }
    }
    while chars.peek().is_some_and(|&(i, _)| i < end) {
        chars.next();
    }
    let written = text.get(start..end).unwrap_or("");
    match written.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Tok::Num { value, whole }),
        _ => Err(text_error(
            text,
            start,
            format!("the number {written} is too large"),
        )),
    }
}

struct TextParser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    end: Token,
    pos: usize,
    schema: &'a AttributeSchema,
    predicates: usize,
    /// Parentheses and `not`s currently open; bounds the recursion.
    nesting: usize,
}

impl TextParser<'_> {
    fn err(&self, offset: usize, message: String) -> FilterError {
        text_error(self.text, offset, message)
    }

    fn expected(&self, token: &Token, what: &str) -> FilterError {
        self.err(
            token.at,
            format!("expected {what}, found {}", token.describe()),
        )
    }

    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&self.end)
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        self.tokens.get(self.pos + ahead).unwrap_or(&self.end)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn expect_word(&mut self, word: &str, after: &str) -> Result<(), FilterError> {
        let token = self.next();
        if token.is(word) {
            Ok(())
        } else {
            Err(self.expected(&token, &format!("'{word}' after '{after}'")))
        }
    }

    fn parse(&mut self) -> Result<Filter, FilterError> {
        if self.tokens.is_empty() {
            return Err(self.err(
                0,
                "the filter is empty; write a condition such as email has any value".to_owned(),
            ));
        }
        let filter = self.or_expr()?;
        let token = self.peek();
        match token.tok {
            Tok::End => Ok(filter),
            Tok::Close => Err(self.err(
                token.at,
                "unexpected ')': there is no '(' for it to close".to_owned(),
            )),
            _ => Err(self.expected(token, "'and', 'or' or the end of the filter")),
        }
    }

    /// Rejects a group nested too deeply.
    fn checked(&self, node: Filter, at: usize) -> Result<Filter, FilterError> {
        if node.depth() > MAX_DEPTH {
            Err(self.err(at, too_deep()))
        } else {
            Ok(node)
        }
    }

    fn or_expr(&mut self) -> Result<Filter, FilterError> {
        let at = self.peek().at;
        let mut items = vec![self.and_expr()?];
        while self.peek().is("or") {
            self.next();
            items.push(self.and_expr()?);
        }
        self.combine(items, Filter::Or, at)
    }

    fn and_expr(&mut self) -> Result<Filter, FilterError> {
        let at = self.peek().at;
        let mut items = vec![self.unary()?];
        while self.peek().is("and") {
            self.next();
            items.push(self.unary()?);
        }
        self.combine(items, Filter::And, at)
    }

    fn combine(
        &self,
        mut items: Vec<Filter>,
        make: fn(Vec<Filter>) -> Filter,
        at: usize,
    ) -> Result<Filter, FilterError> {
        if items.len() == 1 {
            if let Some(only) = items.pop() {
                return Ok(only);
            }
        }
        self.checked(make(items), at)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        let open = self.peek().clone();
        let negation = open.is("not");
        if !negation && open.tok != Tok::Open {
            return self.predicate();
        }
        if self.nesting >= MAX_DEPTH {
            return Err(self.err(open.at, too_deep()));
        }
        self.next();
        self.nesting += 1;
        let result = if negation {
            self.unary()
                .and_then(|inner| self.checked(Filter::Not(Box::new(inner)), open.at))
        } else {
            self.or_expr().and_then(|inner| {
                let close = self.next();
                if close.tok == Tok::Close {
                    Ok(inner)
                } else {
                    let (_, line, column) = line_column(self.text, open.at);
                    Err(self.expected(
                        &close,
                        &format!(
                            "'and', 'or' or ')' to close the '(' at line {line}, column {column}"
                        ),
                    ))
                }
            })
        };
        self.nesting -= 1;
        result
    }

    fn predicate(&mut self) -> Result<Filter, FilterError> {
        let token = self.next();
        let Tok::Word(name) = &token.tok else {
            return Err(self.expected(
                &token,
                "a condition such as email has any value, 'not' or '('",
            ));
        };
        self.predicates += 1;
        if self.predicates > MAX_PREDICATES {
            return Err(self.err(token.at, too_many_predicates()));
        }
        let field = resolve_field(name, self.schema).map_err(|message| {
            if token.is("and") || token.is("or") {
                self.expected(&token, "a condition")
            } else {
                self.err(token.at, message)
            }
        })?;
        let (kind, op_at) = self.op_kind(&field)?;
        if !kind.allowed(field.kind()) {
            return Err(self.err(op_at, op_not_allowed(&field, kind, Form::Text)));
        }
        let value_at = self.peek().at;
        let mut items = Vec::new();
        let args = self.args(kind, &mut items)?;
        let op = build(&field, kind, args, Form::Text).map_err(|(spot, message)| {
            let at = match spot {
                Spot::Condition => op_at,
                Spot::Value => value_at,
                Spot::Item(i) => items.get(i).copied().unwrap_or(value_at),
            };
            self.err(at, message)
        })?;
        Ok(Filter::Predicate(Predicate { field, op }))
    }

    /// Whether `N days ago` follows, which makes `less than` a date op.
    fn days_ahead(&self) -> bool {
        matches!(self.peek().tok, Tok::Num { .. })
            && (self.peek_at(1).is("days") || self.peek_at(1).is("day"))
    }

    /// Reads the operator's keywords; returns it and where it starts.
    fn op_kind(&mut self, field: &Field) -> Result<(OpKind, usize), FilterError> {
        let token = self.next();
        let word = match &token.tok {
            Tok::Word(w) => w.to_ascii_lowercase(),
            _ => String::new(),
        };
        let kind = match word.as_str() {
            "has" => self.has_value()?,
            "is" if self.peek().is("not") => {
                self.next();
                OpKind::IsNot
            }
            "is" => OpKind::Is,
            "contains" => OpKind::Contains,
            "does" => self.does_not_contain()?,
            "starts" => self.then_word("with", "starts", OpKind::StartsWith)?,
            "ends" => self.then_word("with", "ends", OpKind::EndsWith)?,
            "greater" => self.then_word("than", "greater", OpKind::GreaterThan)?,
            "less" => self.less_than()?,
            "more" => self.more_than_days_ago()?,
            "between" => OpKind::Between,
            "in" => OpKind::In,
            "before" => OpKind::Before,
            "after" => OpKind::After,
            _ => {
                return Err(self.expected(
                    &token,
                    &format!(
                        "a condition after '{}', a {}: {}",
                        field.name(),
                        field.kind(),
                        Form::Text.allowed_ops(field.kind())
                    ),
                ))
            }
        };
        Ok((kind, token.at))
    }

    /// `word` must follow `after`; then the op is `kind`.
    fn then_word(&mut self, word: &str, after: &str, kind: OpKind) -> Result<OpKind, FilterError> {
        self.expect_word(word, after)?;
        Ok(kind)
    }

    /// The rest of `has any value` or `has no value`, after `has`.
    fn has_value(&mut self) -> Result<OpKind, FilterError> {
        let next = self.next();
        let kind = if next.is("any") {
            OpKind::HasAnyValue
        } else if next.is("no") {
            OpKind::HasNoValue
        } else {
            return Err(self.expected(&next, "'any value' or 'no value' after 'has'"));
        };
        let after = if kind == OpKind::HasAnyValue {
            "has any"
        } else {
            "has no"
        };
        self.expect_word("value", after)?;
        Ok(kind)
    }

    /// The rest of `does not contain`, after `does`.
    fn does_not_contain(&mut self) -> Result<OpKind, FilterError> {
        self.expect_word("not", "does")?;
        let next = self.next();
        if !(next.is("contain") || next.is("contains")) {
            return Err(self.expected(&next, "'contain' after 'does not'"));
        }
        Ok(OpKind::DoesNotContain)
    }

    /// After `less`: `less than N days ago` on a date, else `less than`.
    fn less_than(&mut self) -> Result<OpKind, FilterError> {
        self.expect_word("than", "less")?;
        Ok(if self.days_ahead() {
            OpKind::LessThanDaysAgo
        } else {
            OpKind::LessThan
        })
    }

    /// After `more`: only `more than N days ago` (numbers use `greater than`).
    fn more_than_days_ago(&mut self) -> Result<OpKind, FilterError> {
        self.expect_word("than", "more")?;
        if !self.days_ahead() {
            return Err(self.expected(
                self.peek(),
                "a number of days after 'more than', as in more than 30 days ago (to compare numbers, use greater than)",
            ));
        }
        Ok(OpKind::MoreThanDaysAgo)
    }

    /// Reads the values the op takes; records where each one starts.
    fn args(&mut self, kind: OpKind, items: &mut Vec<usize>) -> Result<Args, FilterError> {
        let name = kind.text_name();
        let any_value =
            format!("a value after '{name}' (a quoted string, a number, true or false)");
        Ok(match kind {
            OpKind::HasAnyValue | OpKind::HasNoValue => Args::Absent,
            OpKind::Is | OpKind::IsNot | OpKind::GreaterThan | OpKind::LessThan => {
                Args::One(self.value(&any_value, items)?)
            }
            OpKind::Contains | OpKind::DoesNotContain | OpKind::StartsWith | OpKind::EndsWith => {
                Args::One(self.value(&format!("a quoted string after '{name}'"), items)?)
            }
            OpKind::Before | OpKind::After => Args::One(self.value(
                &format!("a quoted date after '{name}', such as \"2026-01-31\""),
                items,
            )?),
            OpKind::MoreThanDaysAgo | OpKind::LessThanDaysAgo => {
                // days_ahead() saw the number and `days`; `ago` must follow.
                let count = self.value("a number of days", items)?;
                let unit = self.next();
                self.expect_word("ago", if unit.is("day") { "day" } else { "days" })?;
                Args::One(count)
            }
            OpKind::Between => self.between_bounds(&any_value, items)?,
            OpKind::In => self.in_values(items)?,
        })
    }

    /// `LO and HI`, after `between`.
    fn between_bounds(
        &mut self,
        any_value: &str,
        items: &mut Vec<usize>,
    ) -> Result<Args, FilterError> {
        let lo = self.value(any_value, items)?;
        let and = self.next();
        if !and.is("and") {
            return Err(self.expected(&and, "'and' between the two bounds, as in between 1 and 5"));
        }
        let hi = self.value(
            "a value after 'and' (a quoted string, a number, true or false)",
            items,
        )?;
        Ok(Args::List(vec![lo, hi]))
    }

    /// `(V, V, ...)` after `in`; `()` is read as an empty list, which `build` refuses.
    fn in_values(&mut self, items: &mut Vec<usize>) -> Result<Args, FilterError> {
        let open = self.next();
        if open.tok != Tok::Open {
            return Err(self.expected(&open, "'(' after 'in', as in plan in (\"pro\", \"team\")"));
        }
        let mut values = Vec::new();
        if self.peek().tok == Tok::Close {
            self.next();
            return Ok(Args::List(values));
        }
        loop {
            values.push(self.value(
                "a value in the 'in' list (a quoted string or a number)",
                items,
            )?);
            let separator = self.next();
            match separator.tok {
                Tok::Comma => {}
                Tok::Close => break,
                _ => return Err(self.expected(&separator, "',' or ')' in the 'in' list")),
            }
        }
        Ok(Args::List(values))
    }

    fn value(&mut self, expected: &str, items: &mut Vec<usize>) -> Result<Raw, FilterError> {
        let token = self.next();
        let raw = match &token.tok {
            Tok::Str(s) => Raw::Str(s.clone()),
            Tok::Num { value, whole } => Raw::Num {
                value: *value,
                whole: *whole,
            },
            _ if token.is("true") => Raw::Bool(true),
            _ if token.is("false") => Raw::Bool(false),
            Tok::Word(w) => {
                let shown: String = w.chars().take(40).collect();
                return Err(self.err(
                    token.at,
                    format!("expected {expected}, found '{shown}'; put text in quotes, as in \"{shown}\""),
                ));
            }
            _ => return Err(self.expected(&token, expected)),
        };
        items.push(token.at);
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> AttributeSchema {
        AttributeSchema::new(
            [
                ("plan", AttributeType::String),
                ("opt_in", AttributeType::Boolean),
                ("seats", AttributeType::Number),
                ("trial_ends_at", AttributeType::Date),
            ]
            .map(|(name, kind)| (AttributeName::parse(name).expect("name"), kind)),
        )
    }

    fn attr(name: &str) -> Field {
        let name = AttributeName::parse(name).expect("name");
        let kind = schema().get(&name).expect("in the schema");
        Field::Attribute(name, kind)
    }

    fn pred(field: Field, op: Op) -> Filter {
        Filter::Predicate(Predicate { field, op })
    }

    fn date(text: &str) -> Timestamp {
        Timestamp::parse(text).expect("date")
    }

    fn text(s: &str) -> Filter {
        Filter::parse_text(s, &schema()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn from_json(v: Value) -> Filter {
        Filter::parse_json(&v, &schema()).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    fn text_err(s: &str) -> FilterError {
        Filter::parse_text(s, &schema()).expect_err(s)
    }

    fn json_err(v: Value) -> FilterError {
        Filter::parse_json(&v, &schema()).expect_err("refused")
    }

    /// (offset, line, column) of a text error.
    fn spot(e: &FilterError) -> (usize, usize, usize) {
        match &e.at {
            FilterLocation::Text {
                offset,
                line,
                column,
                ..
            } => (*offset, *line, *column),
            other => panic!("not a text location: {other:?}"),
        }
    }

    fn pointer(e: &FilterError) -> &str {
        match &e.at {
            FilterLocation::Json { pointer } => pointer,
            other => panic!("not a JSON location: {other:?}"),
        }
    }

    fn is_plan(value: &str) -> Filter {
        pred(attr("plan"), Op::Is(Literal::String(value.to_owned())))
    }

    #[test]
    fn the_example_sentence_parses_to_the_expected_ast() {
        let f = text("email has any value and opt_in is true and plan in (\"pro\", \"team\") and last_seen_at less than 30 days ago");
        assert_eq!(
            f,
            Filter::And(vec![
                pred(Field::Email, Op::HasAnyValue),
                pred(attr("opt_in"), Op::Is(Literal::Boolean(true))),
                pred(
                    attr("plan"),
                    Op::In(vec![
                        Literal::String("pro".into()),
                        Literal::String("team".into())
                    ])
                ),
                pred(Field::LastSeenAt, Op::LessThanDaysAgo(30)),
            ])
        );
        assert_eq!(f.predicates(), 4);
    }

    #[test]
    fn text_and_json_forms_mean_the_same() {
        let pairs = [
            (
                "plan in (\"pro\", \"team\")",
                json!({"field": "plan", "op": "in", "value": ["pro", "team"]}),
            ),
            (
                "not (seats between 1 and 5 or opt_in is not false)",
                json!({"not": {"or": [
                    {"field": "seats", "op": "between", "value": [1, 5]},
                    {"field": "opt_in", "op": "is_not", "value": false}
                ]}}),
            ),
            (
                "created_at after \"2026-01-31\" and name does not contain \"test\" and email ends with \"@example.com\"",
                json!({"and": [
                    {"field": "created_at", "op": "after", "value": "2026-01-31"},
                    {"field": "name", "op": "does_not_contain", "value": "test"},
                    {"field": "email", "op": "ends_with", "value": "@example.com"}
                ]}),
            ),
            (
                "trial_ends_at greater than \"2026-01-01\" or updated_at more than 7 days ago or external_id has no value",
                json!({"or": [
                    {"field": "trial_ends_at", "op": "greater_than", "value": "2026-01-01T00:00:00Z"},
                    {"field": "updated_at", "op": "more_than_days_ago", "value": 7},
                    {"field": "external_id", "op": "has_no_value"}
                ]}),
            ),
            // A one-element list is its element.
            (
                "seats less than -1.5",
                json!({"and": [{"field": "seats", "op": "less_than", "value": -1.5}]}),
            ),
        ];
        for (t, j) in pairs {
            assert_eq!(text(t), from_json(j.clone()), "{t} vs {j}");
            assert_eq!(
                Filter::parse(&Value::String(t.into()), &schema()),
                Ok(text(t))
            );
            assert_eq!(Filter::parse(&j, &schema()), Ok(text(t)));
        }
        // greater/less than on a date are after/before.
        assert_eq!(
            text("trial_ends_at less than \"2026-01-01\""),
            pred(attr("trial_ends_at"), Op::Before(date("2026-01-01")))
        );
    }

    #[test]
    fn canonical_forms_round_trip() {
        let filters = [
            "email has any value and opt_in is true and plan in (\"pro\", \"team\") and last_seen_at less than 30 days ago",
            "plan is \"say \\\"hi\\\" \\\\ o'k\" or name starts with 'it\\'s'",
            "not not email has no value",
            "(plan is \"a\" or plan is \"b\") and (seats greater than 2.25 or seats is 0)",
            "plan is \"a\" and (plan is \"b\" and plan is \"c\")",
            "not (created_at between \"2026-01-01\" and \"2026-02-01T10:30:00+02:00\") or updated_at before \"2025-12-31\"",
            "seats in (1, 2.5, -3, 1000000000000) and seats is not 7 and last_seen_at more than 0 days ago",
            "trial_ends_at is \"2026-05-01\" and trial_ends_at is not \"2026-05-02\" and name contains \"a\nb\"",
        ];
        for t in filters {
            let f = text(t);
            let canonical = f.to_text();
            assert_eq!(text(&canonical), f, "{t} -> {canonical}");
            assert_eq!(from_json(f.to_json()), f, "{t} -> {}", f.to_json());
            // Canonical forms are fixed points.
            assert_eq!(text(&canonical).to_text(), canonical);
        }
        assert_eq!(
            text("seats is 5 AND (trial_ends_at GREATER THAN '2026-01-01' Or opt_in is FALSE)")
                .to_text(),
            "seats is 5 and (trial_ends_at after \"2026-01-01T00:00:00.000Z\" or opt_in is false)"
        );
        assert_eq!(
            text("seats between 1 and 5").to_json(),
            json!({"field": "seats", "op": "between", "value": [1, 5]})
        );
    }

    #[test]
    fn an_attribute_named_not_round_trips() {
        let mut schema = schema();
        schema
            .declare(
                AttributeName::parse("not").expect("name"),
                AttributeType::String,
            )
            .expect("declare");
        let f = Filter::parse_text("not attributes.not is \"x\"", &schema).expect("parses");
        let field = Field::Attribute(
            AttributeName::parse("not").expect("name"),
            AttributeType::String,
        );
        assert_eq!(
            f,
            Filter::Not(Box::new(pred(field, Op::Is(Literal::String("x".into())))))
        );
        assert_eq!(f.to_text(), "not attributes.not is \"x\"");
        assert_eq!(Filter::parse_text(&f.to_text(), &schema), Ok(f.clone()));
        assert_eq!(Filter::parse_json(&f.to_json(), &schema), Ok(f));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            text("plan is \"a\" or plan is \"b\" and plan is \"c\""),
            Filter::Or(vec![
                is_plan("a"),
                Filter::And(vec![is_plan("b"), is_plan("c")])
            ])
        );
        assert_eq!(
            text("plan is \"a\" and plan is \"b\" or plan is \"c\""),
            Filter::Or(vec![
                Filter::And(vec![is_plan("a"), is_plan("b")]),
                is_plan("c")
            ])
        );
    }

    #[test]
    fn not_and_parentheses() {
        // `not` applies to the next condition only.
        assert_eq!(
            text("not plan is \"a\" and plan is \"b\""),
            Filter::And(vec![Filter::Not(Box::new(is_plan("a"))), is_plan("b")])
        );
        assert_eq!(
            text("not (plan is \"a\" or plan is \"b\")"),
            Filter::Not(Box::new(Filter::Or(vec![is_plan("a"), is_plan("b")])))
        );
        assert_eq!(
            text("(plan is \"a\" or plan is \"b\") and plan is \"c\""),
            Filter::And(vec![
                Filter::Or(vec![is_plan("a"), is_plan("b")]),
                is_plan("c")
            ])
        );
        // Parentheses add no node.
        assert_eq!(text("((plan is \"a\"))"), is_plan("a"));
        let e = text_err("(plan is \"a\" or plan is \"b\"");
        assert!(
            e.message
                .contains("')' to close the '(' at line 1, column 1"),
            "{e}"
        );
        let e = text_err("plan is \"a\")");
        assert!(e.message.contains("no '('"), "{e}");
        assert_eq!(spot(&e), (11, 1, 12));
    }

    #[test]
    fn between_takes_its_own_and() {
        assert_eq!(
            text("seats between 1 and 5 and opt_in is true"),
            Filter::And(vec![
                pred(
                    attr("seats"),
                    Op::Between(Literal::Number(1.0), Literal::Number(5.0))
                ),
                pred(attr("opt_in"), Op::Is(Literal::Boolean(true))),
            ])
        );
        let e = text_err("seats between 1 or 5");
        assert!(
            e.message.contains("expected 'and' between the two bounds"),
            "{e}"
        );
        assert_eq!(spot(&e).2, 17);
        let e = text_err("seats between 5 and 1");
        assert!(e.message.contains("lower bound first"), "{e}");
        assert_eq!(spot(&e).2, 15);
        let e = json_err(json!({"field": "seats", "op": "between", "value": [1]}));
        assert_eq!(pointer(&e), "/value");
        assert!(e.message.contains("two values"), "{e}");
    }

    #[test]
    fn days_ago_is_told_apart_from_less_than_a_number() {
        assert_eq!(
            text("last_seen_at less than 30 days ago"),
            pred(Field::LastSeenAt, Op::LessThanDaysAgo(30))
        );
        assert_eq!(
            text("last_seen_at less than 1 DAY AGO"),
            pred(Field::LastSeenAt, Op::LessThanDaysAgo(1))
        );
        assert_eq!(
            text("seats less than 5"),
            pred(attr("seats"), Op::LessThan(Literal::Number(5.0)))
        );
        assert_eq!(
            text("seats less than 5 or last_seen_at more than 90 days ago"),
            Filter::Or(vec![
                pred(attr("seats"), Op::LessThan(Literal::Number(5.0))),
                pred(Field::LastSeenAt, Op::MoreThanDaysAgo(90)),
            ])
        );
        let e = text_err("last_seen_at less than 30 days");
        assert!(e.message.contains("expected 'ago' after 'days'"), "{e}");
        let e = text_err("seats more than 5");
        assert!(e.message.contains("use greater than"), "{e}");
        let e = text_err("seats less than 5 days ago");
        assert!(
            e.message.contains("'less than N days ago' does not apply"),
            "{e}"
        );
        let e = text_err("last_seen_at less than 1.5 days ago");
        assert!(e.message.contains("whole number"), "{e}");
        assert_eq!(spot(&e).2, 24);
    }

    #[test]
    fn unknown_attribute_suggests_or_lists_names() {
        let e = text_err("email has any value and plna is \"pro\"");
        assert_eq!(e.message, "unknown attribute 'plna'; did you mean 'plan'?");
        assert_eq!(spot(&e), (24, 1, 25));
        let e = json_err(json!({"or": [{"field": "emial", "op": "has_any_value"}]}));
        assert_eq!(pointer(&e), "/or/0/field");
        assert!(e.message.ends_with("did you mean 'email'?"), "{e}");
        let e = text_err("zzzzzz is \"x\"");
        assert!(
            e.message
                .contains("the attributes are opt_in, plan, seats, trial_ends_at"),
            "{e}"
        );
        assert!(e.message.contains("last_seen_at"), "{e}");
        // Only ten attributes are listed.
        let many = AttributeSchema::new((0..15).map(|i| {
            (
                AttributeName::parse(&format!("attr_{i:02}")).expect("name"),
                AttributeType::String,
            )
        }));
        let e = Filter::parse_text("zzzzzz is \"x\"", &many).expect_err("unknown");
        assert!(e.message.contains("attr_09 (and 5 more)"), "{e}");
        assert!(!e.message.contains("attr_10"), "{e}");
        let e = text_err("consent is \"x\"");
        assert!(
            e.message.contains("'consent' cannot be used in a filter"),
            "{e}"
        );
    }

    #[test]
    fn date_compared_with_a_number_points_at_the_value() {
        let e = text_err("last_seen_at less than 5");
        assert_eq!(
            e.message,
            "'last_seen_at' is a date; compare it with a date such as \"2026-01-31\", not a number"
        );
        assert_eq!(spot(&e), (23, 1, 24));
        let e = json_err(json!({"and": [
            {"field": "email", "op": "has_any_value"},
            {"field": "last_seen_at", "op": "after", "value": 1_767_225_600}
        ]}));
        assert_eq!(pointer(&e), "/and/1/value");
        assert!(e.message.contains("not a number"), "{e}");
        let e = text_err("created_at before \"soon\"");
        assert!(e.message.contains("'soon' is not a date"), "{e}");
        assert_eq!(spot(&e).2, 19);
        let e = text_err("plan in (\"pro\", 5)");
        assert_eq!(spot(&e).2, 17);
        assert!(e.message.contains("'plan' is a string"), "{e}");
        let e = json_err(json!({"field": "plan", "op": "in", "value": ["pro", 5]}));
        assert_eq!(pointer(&e), "/value/1");
        let e = json_err(json!({"field": "seats", "op": "is", "value": "5"}));
        assert_eq!(pointer(&e), "/value");
        assert!(
            e.message.contains("a number such as 42, not a string"),
            "{e}"
        );
    }

    #[test]
    fn op_not_allowed_for_the_type_names_the_allowed_ones() {
        let e = text_err("opt_in contains \"x\"");
        assert_eq!(
            e.message,
            "'opt_in' is a boolean, so 'contains' does not apply to it; use has any value, has no value, is or is not"
        );
        assert_eq!(spot(&e), (7, 1, 8));
        let e = json_err(json!({"not": {"field": "plan", "op": "greater_than", "value": 1}}));
        assert_eq!(pointer(&e), "/not/op");
        assert!(e.message.contains("'plan' is a string"), "{e}");
        assert!(e.message.contains("starts_with"), "{e}");
        let e = json_err(json!({"field": "plan", "op": "equals", "value": "x"}));
        assert_eq!(pointer(&e), "/op");
        assert!(e.message.contains("unknown op 'equals'"), "{e}");
        let e = json_err(json!({"field": "plan", "op": "starts with", "value": "x"}));
        assert!(e.message.contains("did you mean 'starts_with'?"), "{e}");
        let e = text_err("plan equals \"x\"");
        assert!(
            e.message
                .contains("expected a condition after 'plan', a string"),
            "{e}"
        );
        assert_eq!(spot(&e).2, 6);
    }

    #[test]
    fn unterminated_string_points_at_the_opening_quote() {
        let e = text_err("plan is \"pro\" or name is \"bob");
        assert!(e.message.starts_with("unterminated string"), "{e}");
        assert_eq!(spot(&e), (25, 1, 26));
        let e = text_err("plan is \"a\\x\"");
        assert!(e.message.contains("unknown escape '\\x'"), "{e}");
        assert_eq!(spot(&e).2, 11);
    }

    #[test]
    fn locations_count_lines_and_characters() {
        // Offsets are bytes, columns characters: "ë" is two bytes.
        let e = text_err("name is \"Zoë\" and plna is \"x\"");
        assert_eq!(spot(&e), (19, 1, 19));
        let e = text_err("email has any value\nand plän is \"x\"");
        assert_eq!(spot(&e), (26, 2, 7));
        let FilterLocation::Text { snippet, .. } = &e.at else {
            panic!("text location")
        };
        assert_eq!(snippet, "än is \"x\"");
        assert!(e.to_string().contains("line 2, column 7"), "{e}");
    }

    #[test]
    fn trailing_garbage_and_missing_values_say_what_was_expected() {
        let e = text_err("email has any value plan");
        assert_eq!(
            e.message,
            "expected 'and', 'or' or the end of the filter, found 'plan'"
        );
        assert_eq!(spot(&e), (20, 1, 21));
        let e = text_err("plan is");
        assert_eq!(
            e.message,
            "expected a value after 'is' (a quoted string, a number, true or false), found the end of the filter"
        );
        assert_eq!(spot(&e), (7, 1, 8));
        let e = text_err("plan is pro");
        assert!(e.message.contains("put text in quotes"), "{e}");
        let e = text_err("plan = \"pro\"");
        assert!(e.message.contains("write comparisons in words"), "{e}");
        let e = text_err("email has any value and");
        assert!(e.message.starts_with("expected a condition"), "{e}");
        let e = text_err("   ");
        assert!(e.message.contains("the filter is empty"), "{e}");
        let e = text_err("plan in ()");
        assert!(e.message.contains("at least one value"), "{e}");
    }

    #[test]
    fn json_shape_errors_carry_pointers() {
        let e = json_err(json!({"or": [{"and": []}]}));
        assert_eq!(pointer(&e), "/or/0/and");
        assert!(e.message.contains("empty 'and' list"), "{e}");
        let e = json_err(json!({"and": [
            {"field": "plan", "op": "is", "value": "x", "vlaue": "y"}
        ]}));
        assert_eq!(pointer(&e), "/and/0/vlaue");
        assert!(
            e.message
                .contains("unknown key 'vlaue' (did you mean 'value'?)"),
            "{e}"
        );
        let e = json_err(json!({"and": [{"field": "plan", "op": "has_any_value"}], "a/b": 1}));
        assert_eq!(pointer(&e), "/a~1b");
        let e = json_err(json!({"and": [], "field": "plan"}));
        assert!(e.message.contains("mixes 'and' with 'field'"), "{e}");
        let e = json_err(json!({"field": "plan", "op": "has_any_value", "value": "x"}));
        assert_eq!(pointer(&e), "/value");
        assert!(e.message.contains("takes no value"), "{e}");
        let e = json_err(json!({"not": {"field": "plan", "op": "is"}}));
        assert_eq!(pointer(&e), "/not");
        assert!(e.message.contains("needs a \"value\""), "{e}");
        let e = json_err(json!({"or": [{"op": "is", "value": "x"}]}));
        assert_eq!(pointer(&e), "/or/0");
        assert!(e.message.contains("needs a 'field'"), "{e}");
        let e =
            json_err(json!({"field": "last_seen_at", "op": "less_than_days_ago", "value": 36_501}));
        assert_eq!(pointer(&e), "/value");
        let e = Filter::parse(&json!(5), &schema()).expect_err("number");
        assert_eq!(pointer(&e), "");
        assert!(e.to_string().contains("at the top of the filter"), "{e}");
    }

    #[test]
    fn condition_count_is_limited() {
        // 100 conditions pass, 101 do not, in both forms.
        let conditions = |n: usize| vec!["seats is 1"; n].join(" or ");
        assert_eq!(text(&conditions(100)).predicates(), 100);
        let e = text_err(&conditions(101));
        assert!(e.message.contains("at most 100 conditions"), "{e}");
        assert_eq!(spot(&e).0, 100 * "seats is 1 or ".len());
        let list =
            |n: usize| json!({"or": vec![json!({"field": "seats", "op": "is", "value": 1}); n]});
        assert_eq!(from_json(list(100)).predicates(), 100);
        assert_eq!(pointer(&json_err(list(101))), "/or/100");
    }

    #[test]
    fn nesting_depth_is_limited() {
        // Depth 16 passes, 17 does not.
        let nested = |n: usize| format!("{}email has any value", "not ".repeat(n));
        assert_eq!(text(&nested(16)).to_text(), nested(16));
        assert!(text_err(&nested(17))
            .message
            .contains("more than 16 levels"));
        let parens = |n: usize| format!("{}email has any value{}", "(".repeat(n), ")".repeat(n));
        assert!(Filter::parse_text(&parens(16), &schema()).is_ok());
        let e = text_err(&parens(17));
        assert_eq!(spot(&e).0, 16);
        // Groups count even without parentheses: 16 levels of `(` under a
        // top-level `and` make 17 levels of and.
        let grouped = |n: usize| {
            let innermost = "email has any value and email has any value".to_owned();
            (0..n).fold(innermost, |inner, _| {
                format!("email has any value and ({inner})")
            })
        };
        let f = text(&grouped(15));
        assert_eq!(from_json(f.to_json()), f);
        assert_eq!(text(&f.to_text()), f);
        let e = text_err(&grouped(16));
        assert!(e.message.contains("more than 16 levels"), "{e}");
        assert_eq!(spot(&e).0, 0);
        let mut deep = json!({"field": "email", "op": "has_any_value"});
        for _ in 0..16 {
            deep = json!({"not": deep});
        }
        assert_eq!(from_json(deep.clone()).to_text(), nested(16));
        let e = json_err(json!({"not": deep}));
        assert!(e.message.contains("more than 16 levels"), "{e}");
        assert_eq!(pointer(&e), "/not".repeat(16));
    }

    #[test]
    fn value_counts_are_limited() {
        // In lists: 1,000 values.
        let values = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let f = text(&format!("seats in ({})", values(1000)));
        assert!(
            matches!(&f, Filter::Predicate(Predicate { op: Op::In(v), .. }) if v.len() == 1000)
        );
        let e = text_err(&format!("seats in ({})", values(1001)));
        assert!(e.message.contains("at most 1000 values"), "{e}");
        assert_eq!(spot(&e).0, "seats in (".len() + values(1000).len() + 1);
        // Regression: 100 lists of 1,000 values were 100,000 parameters, and
        // PostgreSQL refused the statement with a 500.
        let many: Vec<serde_json::Value> = (0..11)
            .map(|_| json!({"field": "seats", "op": "in", "value": vec![1; 1000]}))
            .collect();
        let e = json_err(json!({ "or": many }));
        assert!(e.message.contains("at most 10000 values"), "{}", e.message);
        let e = json_err(json!({"field": "seats", "op": "in", "value": vec![1; 1001]}));
        assert_eq!(pointer(&e), "/value/1000");
    }

    #[test]
    fn sizes_and_day_counts_are_limited() {
        // Text size: 10,000 bytes.
        let padded = |n: usize| format!("email has any value{}", " ".repeat(n - 19));
        assert!(Filter::parse_text(&padded(10_000), &schema()).is_ok());
        let e = text_err(&padded(10_001));
        assert!(e.message.contains("10001 bytes"), "{e}");

        // Strings: 1,000 characters.
        let long = |n: usize| format!("plan is \"{}\"", "é".repeat(n));
        assert!(Filter::parse_text(&long(1000), &schema()).is_ok());
        let e = text_err(&long(1001));
        assert!(e.message.contains("1001 characters"), "{e}");
        assert_eq!(spot(&e).2, 9);
        let e = json_err(json!({"field": "plan", "op": "contains", "value": "a\u{0}b"}));
        assert!(e.message.contains("control character"), "{e}");

        // Days: at most 36,500.
        assert!(Filter::parse_text("created_at more than 36500 days ago", &schema()).is_ok());
        assert!(text_err("created_at more than 36501 days ago")
            .message
            .contains("between 0 and 36500"));
    }

    #[test]
    fn fields_know_their_names_and_types() {
        assert_eq!(Field::ExternalId.kind(), AttributeType::String);
        assert_eq!(Field::UpdatedAt.kind(), AttributeType::Date);
        assert_eq!(Field::UpdatedAt.name(), "updated_at");
        assert_eq!(attr("seats").kind(), AttributeType::Number);
        assert_eq!(attr("seats").name(), "seats");
        assert_eq!(Op::DoesNotContain("x".into()).name(), "does_not_contain");
        assert_eq!(
            text("attributes.plan is \"x\""),
            text("plan is \"x\""),
            "the attributes. prefix names the same attribute"
        );
    }
}
