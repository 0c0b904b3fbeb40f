//! Reading an import's CSV on a blocking thread: the charset, the
//! delimiter, the header's columns, each row parsed and checked offline,
//! counted for the import's score, and handed to the writer in batches.

use super::{BATCH, MAX_ROWS};
use crate::address::{stamp, CheckView};
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use sendwell_core::text::Label;
use sendwell_core::{AttributeName, AttributeType, EmailAddress, Timestamp};
use sendwell_screen::score::ImportCounts;
use sendwell_screen::{AddressCheck, Verdict};
use sendwell_store::ContactInput;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// The reason given for a row on the operator's block list.
pub(super) const BLOCKED: &str = "blocked by the platform operator; this address is never mailed";

/// What the CSV reader hands to the writer.
pub(super) enum Parsed {
    Batch(Batch),
    /// The reader's tallies, once the file is read.
    Done(Box<Tally>),
    Fatal(ApiError),
}

#[derive(Default)]
pub(super) struct Batch {
    pub(super) ready: Vec<Ready>,
    pub(super) rejected: Vec<(u64, String, String)>,
}

impl Batch {
    /// Room for a whole batch of rows: growing the vector row by row moved
    /// every row several times and kept the allocator busy.
    fn with_capacity() -> Self {
        Self {
            ready: Vec::with_capacity(BATCH),
            rejected: Vec::new(),
        }
    }

    /// Files a counted row: ready to write (with its checks only when DNS
    /// is to be asked too), or rejected with its reason.
    fn add(&mut self, taken: Result<Ready, (u64, String, String)>, dns: bool) {
        match taken {
            Ok(mut ready) => {
                if !dns {
                    ready.check = None;
                }
                self.ready.push(ready);
            }
            Err(rejected) => self.rejected.push(rejected),
        }
    }

    /// Rows in the batch, ready or rejected.
    fn len(&self) -> usize {
        self.ready.len() + self.rejected.len()
    }

    fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.rejected.is_empty()
    }
}

/// A row that passed the offline checks, ready to be written.
pub(super) struct Ready {
    pub(super) line: u64,
    pub(super) email: String,
    /// The offline checks, kept only when DNS is to be asked as well:
    /// otherwise the reader drops them itself, which is cheaper than the
    /// writer freeing memory another thread allocated.
    pub(super) check: Option<AddressCheck>,
    pub(super) input: ContactInput,
}

pub(super) struct Row {
    pub(super) line: u64,
    pub(super) email: String,
    pub(super) outcome: Result<(AddressCheck, ContactInput), String>,
}

/// The per-row bookkeeping, kept by the reader so the writer only writes.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) counts: ImportCounts,
    pub(super) seen: HashSet<u64>,
    pub(super) seen_ext: HashSet<u64>,
    pub(super) domains: HashMap<String, u64>,
}

impl Tally {
    /// Counts a checked row; `Err` with the reason when it is not to be written.
    fn take(
        &mut self,
        row: Row,
        state: &AppState,
        traps: &sendwell_store::TrapList,
        cache: &mut sendwell_screen::address::DomainCache,
        workspace_was_empty: bool,
    ) -> Result<Ready, (u64, String, String)> {
        let counts = &mut self.counts;
        if is_trapped(&row, state, traps, cache) {
            counts.checked += 1;
            counts.trap += 1;
            return Err((row.line, row.email, BLOCKED.to_owned()));
        }
        let (check, mut input) = match row.outcome {
            Ok(ok) => ok,
            Err(reason) => {
                if reason.starts_with("invalid address") {
                    counts.checked += 1;
                    counts.invalid += 1;
                }
                return Err((row.line, row.email, reason));
            }
        };
        counts.checked += 1;
        counts.count_verdict(&check);
        self.count_repeats(&mut input, workspace_was_empty);
        if let Some(domain) = check.domain.as_deref() {
            self.count_domain(domain);
        }
        input.address = Some(stamp(&check));
        Ok(Ready {
            line: row.line,
            email: row.email,
            check: Some(check),
            input,
        })
    }

    /// Counts a repeated address, and tells the writer whether the row
    /// can only be a new contact.
    fn count_repeats(&mut self, input: &mut ContactInput, workspace_was_empty: bool) {
        let key = input
            .email
            .as_ref()
            .map(EmailAddress::key)
            .unwrap_or_default();
        let repeated_email = !self.seen.insert(key_hash(key));
        if repeated_email {
            self.counts.duplicates += 1;
        }
        let repeated_ext = input
            .external_id
            .as_deref()
            .is_some_and(|x| !self.seen_ext.insert(key_hash(x)));
        // In a workspace that was empty, only a repeat within this file can
        // match a stored contact, so the others skip the look-up.
        input.known_new = workspace_was_empty && !repeated_email && !repeated_ext;
    }

    /// Counts the rows of each domain that is not a mailbox provider.
    fn count_domain(&mut self, domain: &str) {
        if !sendwell_screen::address::is_mailbox_provider(domain) {
            match self.domains.get_mut(domain) {
                Some(n) => *n += 1,
                None => {
                    self.domains.insert(domain.to_owned(), 1);
                }
            }
        }
    }
}

/// Whether the row's address is on the operator's trap list. The list is
/// consulted first, whatever else is wrong with the row, and reported
/// without naming the list: the workspace learns that the row is blocked,
/// not which entry matched.
fn is_trapped(
    row: &Row,
    state: &AppState,
    traps: &sendwell_store::TrapList,
    cache: &mut sendwell_screen::address::DomainCache,
) -> bool {
    match &row.outcome {
        Ok((check, input)) => traps.matches(
            check.domain.as_deref().unwrap_or(""),
            input.email_hash.as_deref().unwrap_or(""),
        ),
        Err(_) if !traps.is_empty() => match EmailAddress::parse(&row.email) {
            Ok(parsed) => {
                let check = state.checker().offline_cached(&row.email, cache);
                traps.matches(
                    check.domain.as_deref().unwrap_or(parsed.domain()),
                    &state.address_hash(&parsed),
                )
            }
            Err(_) => false,
        },
        Err(_) => false,
    }
}

/// Attribute columns: name, and type once known (from the schema or the first value).
pub(super) type AttributeColumns = Vec<(String, Option<AttributeType>)>;

#[derive(Clone, Copy)]
pub(super) enum Column {
    Email,
    ExternalId,
    Name,
    /// `first_name` and `last_name` columns make up the contact's name.
    FirstName,
    LastName,
    CreatedAt,
    LastSeenAt,
    Attribute(usize),
}

pub(super) fn normalise_header(h: &str) -> String {
    h.trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .replace([' ', '-', '.'], "_")
}

pub(super) fn columns(
    headers: &csv::StringRecord,
    known: &HashMap<String, AttributeType>,
) -> Result<(Vec<Column>, AttributeColumns), ApiError> {
    let mut cols = Vec::new();
    let mut attrs: Vec<(String, Option<AttributeType>)> = Vec::new();
    let mut seen = HashSet::new();
    for h in headers {
        let name = normalise_header(h);
        let col = column_of(h, &name, known, &mut attrs)?;
        let key = column_key(col, &name);
        if !seen.insert(key.clone()) {
            return Err(ApiError::invalid_field(
                "/header",
                format!("two columns mean '{key}'; keep one"),
            ));
        }
        cols.push(col);
    }
    check_header(headers, &cols)?;
    Ok((cols, attrs))
}

/// The column a header `h` (normalised: `name`) stands for; any name that
/// is not a contact field is an attribute, added to `attrs`.
fn column_of(
    h: &str,
    name: &str,
    known: &HashMap<String, AttributeType>,
    attrs: &mut AttributeColumns,
) -> Result<Column, ApiError> {
    Ok(match name {
        "email" | "email_address" | "e_mail" | "mail" => Column::Email,
        "external_id" | "user_id" | "id" => Column::ExternalId,
        "name" | "full_name" => Column::Name,
        "first_name" | "firstname" | "given_name" => Column::FirstName,
        "last_name" | "lastname" | "surname" | "family_name" => Column::LastName,
        "created_at" | "signed_up_at" => Column::CreatedAt,
        "last_seen_at" => Column::LastSeenAt,
        other => {
            let attr = AttributeName::parse(other).map_err(|e| {
                ApiError::invalid_field(
                    "/header",
                    format!(
                        "column '{}' cannot be imported: {e}",
                        h.chars().take(80).collect::<String>()
                    ),
                )
            })?;
            attrs.push((attr.as_str().to_owned(), known.get(attr.as_str()).copied()));
            Column::Attribute(attrs.len() - 1)
        }
    })
}

/// What a column means, so two headers that mean the same are caught.
fn column_key(col: Column, name: &str) -> String {
    match col {
        Column::Attribute(_) => name.to_owned(),
        Column::Email => "email".into(),
        Column::ExternalId => "external_id".into(),
        Column::Name => "name".into(),
        Column::FirstName => "first_name".into(),
        Column::LastName => "last_name".into(),
        Column::CreatedAt => "created_at".into(),
        Column::LastSeenAt => "last_seen_at".into(),
    }
}

/// The header as a whole: not empty, with an email column, and one way to
/// give the name.
fn check_header(headers: &csv::StringRecord, cols: &[Column]) -> Result<(), ApiError> {
    if cols.iter().any(|c| matches!(c, Column::Name))
        && cols
            .iter()
            .any(|c| matches!(c, Column::FirstName | Column::LastName))
    {
        return Err(ApiError::invalid_field(
            "/header",
            "the CSV has a name column and first or last name columns; the name is made from either, so keep one or the other",
        ));
    }
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(ApiError::invalid_field(
            "/header",
            "the file is empty: send a CSV whose first line names the columns, one of them email",
        ));
    }
    if !cols.iter().any(|c| matches!(c, Column::Email)) {
        return Err(ApiError::invalid_field(
            "/header",
            "the CSV has no email column: the first line must name the columns, one of them email",
        ));
    }
    Ok(())
}

pub(super) fn looks_boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

pub(super) fn number(v: &str) -> Option<serde_json::Number> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if leading_zero || digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return None;
    }
    if let Ok(i) = v.parse::<i64>() {
        return Some(i.into());
    }
    v.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
}

/// The type a column takes from its first value, when the schema has none.
pub(super) fn infer(v: &str) -> AttributeType {
    if matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no"
    ) {
        AttributeType::Boolean
    } else if number(v).is_some() {
        AttributeType::Number
    } else if v.len() >= 10 && Timestamp::parse(v).is_ok() && v.as_bytes().get(4) == Some(&b'-') {
        AttributeType::Date
    } else {
        AttributeType::String
    }
}

pub(super) fn convert(column: &str, kind: AttributeType, v: &str) -> Result<Value, String> {
    match kind {
        AttributeType::String => Ok(Value::String(v.to_owned())),
        AttributeType::Number => number(v)
            .map(Value::Number)
            .ok_or_else(|| format!("column {column}: '{v}' is not a number")),
        AttributeType::Boolean => looks_boolean(v)
            .map(Value::Bool)
            .ok_or_else(|| format!("column {column}: '{v}' is not true or false")),
        AttributeType::Date => {
            if v.chars().all(|c| c.is_ascii_digit()) {
                number(v)
                    .map(Value::Number)
                    .ok_or_else(|| format!("column {column}: '{v}' is not a date"))
            } else {
                Ok(Value::String(v.to_owned()))
            }
        }
    }
}

/// Reads the CSV on a blocking thread, checking each address offline.
/// What the reader thread needs besides the file.
pub(super) struct ReaderContext {
    pub(super) state: AppState,
    pub(super) known: HashMap<String, AttributeType>,
    pub(super) traps: sendwell_store::TrapList,
    pub(super) workspace_was_empty: bool,
    /// Whether the writer asks DNS about each row's domain.
    pub(super) dns: bool,
}

/// The text encoding an upload is read with: `None` for UTF-8.
pub(super) struct Charset {
    pub(super) encoding: Option<&'static encoding_rs::Encoding>,
    /// Whether it was guessed (the file is not UTF-8 and declared nothing).
    pub(super) guessed: bool,
}

/// Works out the file's encoding: the declared one, a UTF-16 byte order
/// mark, UTF-8 if every byte of the file is, and windows-1252 (what
/// spreadsheets write on most Western systems) otherwise.
pub(super) fn detect_charset(
    file: &mut std::fs::File,
    declared: Option<&str>,
) -> Result<Charset, ApiError> {
    use std::io::{Seek, SeekFrom};
    if let Some(label) = declared {
        return declared_charset(label);
    }
    let io = |e: std::io::Error| ApiError::internal(&format!("cannot read the spool file: {e}"));
    let charset = sniff_charset(file).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(charset)
}

/// The encoding the upload declared, by its WHATWG label.
fn declared_charset(label: &str) -> Result<Charset, ApiError> {
    let encoding = encoding_rs::Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
        ApiError::invalid_field(
            "/charset",
            format!(
                "charset '{}' is not an encoding sendwell knows: use utf-8, windows-1252, iso-8859-1, utf-16le or another WHATWG label",
                label.chars().take(40).collect::<String>()
            ),
        )
    })?;
    Ok(Charset {
        encoding: (encoding != encoding_rs::UTF_8).then_some(encoding),
        guessed: false,
    })
}

/// Reads the file from where it is for a UTF-16 byte order mark, then on
/// to its end or its first byte that is not UTF-8.
fn sniff_charset(file: &mut std::fs::File) -> std::io::Result<Charset> {
    use std::io::Read;
    let mut buf = vec![0u8; 1 << 20];
    let mut carry = 0usize;
    let mut first = true;
    loop {
        let n = file.read(&mut buf[carry..])?;
        let filled = carry + n;
        if first {
            first = false;
            if let Some(encoding) = utf16_bom(&buf[..filled.min(2)]) {
                return Ok(Charset {
                    encoding: Some(encoding),
                    guessed: false,
                });
            }
        }
        if n == 0 {
            // What is left is an incomplete character at the end.
            return Ok(utf8_or_guessed(carry == 0));
        }
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => carry = 0,
            // An incomplete character at the end of this read is finished
            // by the next one.
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                buf.copy_within(valid..filled, 0);
                carry = filled - valid;
            }
            Err(_) => return Ok(utf8_or_guessed(false)),
        }
    }
}

/// The UTF-16 encoding whose byte order mark `bom` is, if it is one.
fn utf16_bom(bom: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    if bom == b"\xFF\xFE" || bom == b"\xFE\xFF" {
        Some(if bom[0] == 0xFF {
            encoding_rs::UTF_16LE
        } else {
            encoding_rs::UTF_16BE
        })
    } else {
        None
    }
}

/// UTF-8, or windows-1252 guessed for a file that is not.
fn utf8_or_guessed(utf8: bool) -> Charset {
    Charset {
        encoding: (!utf8).then_some(encoding_rs::WINDOWS_1252),
        guessed: !utf8,
    }
}

/// Reads `inner` in its encoding and gives UTF-8.
pub(super) struct Decoding<R> {
    pub(super) inner: R,
    pub(super) decoder: encoding_rs::Decoder,
    pub(super) out: Vec<u8>,
    pub(super) pos: usize,
    pub(super) done: bool,
}

impl<R: std::io::Read> Decoding<R> {
    pub(super) fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Self {
        Self {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            out: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.out.len() {
            if self.done {
                return Ok(0);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.inner.read(&mut chunk)?;
            let last = n == 0;
            self.done = last;
            let room = self
                .decoder
                .max_utf8_buffer_length(n)
                .unwrap_or(n.saturating_mul(3).saturating_add(16));
            let mut text = String::with_capacity(room);
            let _ = self.decoder.decode_to_string(&chunk[..n], &mut text, last);
            self.out = text.into_bytes();
            self.pos = 0;
        }
        let k = buf.len().min(self.out.len() - self.pos);
        buf[..k].copy_from_slice(&self.out[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

/// The separator of the header line: a comma, or the semicolon or tab that
/// spreadsheets write in some locales, whichever the line has most of.
pub(super) fn sniff_delimiter(start: &[u8]) -> u8 {
    let line = start.split(|b| *b == b'\n').next().unwrap_or(start);
    let count = |d: u8| line.iter().filter(|b| **b == d).count();
    [b';', b'\t']
        .into_iter()
        .filter(|d| count(*d) > count(b','))
        .max_by_key(|d| count(*d))
        .unwrap_or(b',')
}

pub(super) fn read_csv(
    reader: impl std::io::Read,
    context: ReaderContext,
    out: tokio::sync::mpsc::Sender<Parsed>,
) {
    match read_all(reader, context, &out) {
        Ok(tally) => {
            let _ = out.blocking_send(Parsed::Done(Box::new(tally)));
        }
        Err(Stop::Fatal(e)) => {
            let _ = out.blocking_send(Parsed::Fatal(e));
        }
        Err(Stop::Gone) => {}
    }
}

/// Why the reader stops early: the file cannot be imported, or the writer
/// is gone (its request ended).
enum Stop {
    Fatal(ApiError),
    Gone,
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Self::Fatal(e)
    }
}

fn unreadable(e: impl std::fmt::Display) -> Stop {
    Stop::Fatal(ApiError::bad_request(format!(
        "The CSV could not be read: {e}."
    )))
}

/// Reads every row into batches for the writer; the tallies at the end.
fn read_all(
    reader: impl std::io::Read,
    context: ReaderContext,
    out: &tokio::sync::mpsc::Sender<Parsed>,
) -> Result<Tally, Stop> {
    let ReaderContext {
        state,
        known,
        traps,
        workspace_was_empty,
        dns,
    } = context;
    let mut csv = open_csv(reader)?;
    let headers = csv.headers().map_err(unreadable)?.clone();
    let (cols, mut attrs) = columns(&headers, &known)?;
    schema_has_room(&known, &attrs, state.store.max_attributes())?;
    let mut tally = Tally::default();
    let mut batch = Batch::with_capacity();
    let mut record = csv::ByteRecord::new();
    let mut domains = sendwell_screen::address::DomainCache::default();
    let mut rows = 0u64;
    while csv.read_byte_record(&mut record).map_err(unreadable)? {
        rows += 1;
        if rows > MAX_ROWS {
            return Err(too_many_rows());
        }
        let line = record.position().map_or(rows + 1, |p| p.line());
        let width = headers.len();
        let row = parse_row(
            &record,
            line,
            &cols,
            &mut attrs,
            &state,
            width,
            &mut domains,
        );
        let taken = tally.take(row, &state, &traps, &mut domains, workspace_was_empty);
        batch.add(taken, dns);
        if batch.len() >= BATCH {
            let full = std::mem::replace(&mut batch, Batch::with_capacity());
            out.blocking_send(Parsed::Batch(full))
                .map_err(|_| Stop::Gone)?;
        }
    }
    tally.counts.rows = rows;
    if !batch.is_empty() {
        out.blocking_send(Parsed::Batch(batch))
            .map_err(|_| Stop::Gone)?;
    }
    Ok(tally)
}

/// A CSV reader over `reader`, with the delimiter its header line uses.
fn open_csv<R: std::io::Read>(reader: R) -> Result<csv::Reader<std::io::BufReader<R>>, Stop> {
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, reader);
    let delimiter = sniff_delimiter(std::io::BufRead::fill_buf(&mut reader).map_err(unreadable)?);
    Ok(csv::ReaderBuilder::new()
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(reader))
}

fn too_many_rows() -> Stop {
    Stop::Fatal(ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-many-rows",
        "The file has too many rows",
        format!("An import takes at most {MAX_ROWS} rows; split the file. Nothing was imported."),
    ))
}

/// The schema's cap, before a row is read: a file with more new columns
/// than the workspace has room for is refused whole, not written in part.
fn schema_has_room(
    known: &HashMap<String, AttributeType>,
    attrs: &AttributeColumns,
    limit: usize,
) -> Result<(), ApiError> {
    let new: Vec<&str> = attrs
        .iter()
        .filter(|(_, kind)| kind.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    if known.len().saturating_add(new.len()) <= limit {
        return Ok(());
    }
    Err(ApiError::invalid_field(
        "/header",
        format!(
            "the file has {} columns that are not attributes yet, and the workspace has {} of its limit of {limit}: \
             drop the columns you do not need ({}{}), or delete unused attributes with DELETE /v1/attributes/{{name}}. Nothing was imported.",
            new.len(),
            known.len(),
            new.iter().take(5).copied().collect::<Vec<_>>().join(", "),
            if new.len() > 5 { ", ..." } else { "" }
        ),
    ))
}

pub(super) fn parse_row(
    record: &csv::ByteRecord,
    line: u64,
    cols: &[Column],
    attrs: &mut [(String, Option<AttributeType>)],
    state: &AppState,
    width: usize,
    domains: &mut sendwell_screen::address::DomainCache,
) -> Row {
    let Fields {
        email,
        mut input,
        failure,
        ..
    } = Fields::read(record, cols, attrs, width);
    if let Some(reason) = failure {
        return Row {
            line,
            email,
            outcome: Err(reason),
        };
    }
    if email.is_empty() {
        return Row {
            line,
            email,
            outcome: Err("no email address".to_owned()),
        };
    }
    let mut check = state.checker().offline_cached(&email, domains);
    let outcome = match check.parsed.take() {
        Some(parsed) if check.verdict != Verdict::Invalid => {
            input.email_hash = Some(state.address_hash(&parsed));
            input.email = Some(parsed);
            Ok((check, input))
        }
        _ => Err(check_reason(&check)),
    };
    Row {
        line,
        email,
        outcome,
    }
}

/// What a row's fields say, as they are read: the address, the contact's
/// other values, and the first problem found.
#[derive(Default)]
struct Fields<'a> {
    email: String,
    input: ContactInput,
    failure: Option<String>,
    first: Option<&'a str>,
    last: Option<&'a str>,
}

impl<'a> Fields<'a> {
    /// Every field of a row of `width` columns.
    fn read(
        record: &'a csv::ByteRecord,
        cols: &[Column],
        attrs: &mut [(String, Option<AttributeType>)],
        width: usize,
    ) -> Self {
        let mut fields = Fields::default();
        if record.len() != width {
            fields.failure = Some(format!(
                "the row has {} fields; the header has {width}",
                record.len()
            ));
        }
        for (field, col) in record.iter().zip(cols) {
            let Ok(value) = std::str::from_utf8(field) else {
                fields
                    .failure
                    .get_or_insert_with(|| "the row is not valid UTF-8".to_owned());
                continue;
            };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            if let Err(e) = fields.take(col, value, attrs) {
                fields.failure.get_or_insert(e);
            }
        }
        fields.join_names();
        fields
    }

    /// First and last names make up the name, whatever a name column said.
    fn join_names(&mut self) {
        if self.first.is_some() || self.last.is_some() {
            let name = [self.first, self.last]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            match label("name", &name) {
                Ok(name) => self.input.name = Some(name),
                Err(e) => {
                    self.failure.get_or_insert(e);
                }
            }
        }
    }

    /// One field's value, into the place its column names.
    fn take(
        &mut self,
        col: &Column,
        value: &'a str,
        attrs: &mut [(String, Option<AttributeType>)],
    ) -> Result<(), String> {
        let input = &mut self.input;
        match col {
            Column::Email => self.email = value.to_owned(),
            Column::ExternalId => {
                input.external_id = Some(label("external_id", value)?);
            }
            Column::Name => input.name = Some(label("name", value)?),
            Column::FirstName => self.first = Some(value),
            Column::LastName => self.last = Some(value),
            Column::CreatedAt => {
                input.created_at = Some(Timestamp::parse(value).map_err(|e| e.to_string())?);
            }
            Column::LastSeenAt => {
                input.last_seen_at = Some(Timestamp::parse(value).map_err(|e| e.to_string())?);
            }
            Column::Attribute(i) => {
                let (name, kind) = &mut attrs[*i];
                let kind = *kind.get_or_insert_with(|| infer(value));
                let v = convert(name, kind, value)?;
                input.attributes.insert(name.clone(), v);
            }
        }
        Ok(())
    }
}

/// A name or external id of at most 255 characters.
fn label(field: &'static str, value: &str) -> Result<String, String> {
    Label::parse(field, value, 255)
        .map(Label::into_string)
        .map_err(|e| e.to_string())
}

pub(super) fn check_reason(check: &AddressCheck) -> String {
    let view = CheckView::from(check);
    let details: Vec<String> = view
        .details
        .iter()
        .map(|d| format!("{}: {}", d.code, d.detail))
        .collect();
    format!("invalid address ({})", details.join("; "))
}

pub(super) fn key_hash(key: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}
