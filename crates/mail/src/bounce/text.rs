//! Reading the human-readable part of a bounce: where the returned message
//! starts, which lines name a failed recipient, and the diagnostic text,
//! codes and SMTP command that belong to each.

use super::address;
use super::dsn::is_status_code;
use super::reason::SmtpCommand;
use aho_corasick::{AhoCorasick, MatchKind};
use std::sync::OnceLock;

/// Lines (trimmed of `-`, `=`, `*`, spaces, lower case) that introduce the
/// returned message.
const CUT_EXACT: &[&str] = &[
    "original message",
    "original message follows",
    "original message follows:",
    "original mail as follows",
    "original mail follows",
    "original message:",
    "the original message:",
    "the original message was:",
    "original message header",
    "original message headers",
    "original message headers:",
    "original message header follows",
    "unsent message follows",
    "message header follows",
    "returned message follows",
    "returned mail follows",
    "undelivered message follows",
    "undelivered message headers",
    "copy of original message follows",
    "message headers follow.",
    "message headers follow",
    "headers of the original message",
    "original headers",
    "original message header:",
    "the original message headers are included as attachment.",
    "forwarded message",
    "message truncated",
];

const CUT_PREFIX: &[&str] = &[
    "below this line is a copy of the message",
    "this is a copy of the message",
    "this is a copy of the headers",
    "this is a copy of your message",
    "enclosed is a copy of the message",
    "the header of the original message is following",
    "the headers of the original message",
    "original message follows",
    "start of returned message",
    "start of original message",
    "original message -----",
    "a copy of the original message below",
    "below is a copy of the original message",
    "the following is a copy of your message",
    "your message reads (in part)",
    "content-type: message/rfc822",
    "the text you sent follows",
    "here is a copy of the first part of the message",
    "here are the headers of the original message",
];

/// Where the returned message starts in a body without MIME structure
/// (byte offset), if it does.
pub(crate) fn original_start(text: &str) -> Option<usize> {
    let mut offset = 0;
    let mut seen_text = false;
    for line in text.split_inclusive('\n') {
        let raw = line.trim_end_matches('\n');
        let l = raw
            .trim()
            .trim_matches(|c: char| {
                matches!(c, '-' | '=' | '*' | '_' | ' ' | '.' | ':' | '#' | '<' | '>')
            })
            .to_ascii_lowercase();
        let l = l.trim_end_matches([':', '.']);
        if CUT_EXACT
            .iter()
            .any(|c| c.trim_end_matches([':', '.']) == l)
            || CUT_PREFIX.iter().any(|p| l.starts_with(p))
        {
            return Some(offset);
        }
        if seen_text {
            let lower = raw.to_ascii_lowercase();
            if lower.starts_with("received:")
                || lower.starts_with("return-path:")
                || lower.starts_with("dkim-signature:")
                || lower.starts_with("x-received:")
                || lower.starts_with("arc-seal:")
            {
                return Some(offset);
            }
        }
        if !raw.trim().is_empty() {
            seen_text = true;
        }
        offset += line.len();
    }
    None
}

/// How sure a line is to name a failed recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Strength {
    /// A sentence that names an address ("Your message to X ...").
    Weak,
    /// An SMTP transcript line (`RCPT TO:<X>`).
    Transcript,
    /// A line that starts with the address.
    Strong,
}

#[derive(Clone, Debug)]
pub(crate) struct Anchor {
    pub(crate) line: usize,
    pub(crate) address: String,
    pub(crate) strength: Strength,
    /// What follows the address on its line.
    pub(crate) rest: String,
}

/// Labels before an address at the start of a line.
const LINE_LABELS: &[&str] = &[
    "final-recipient:",
    "original-recipient:",
    "failed recipient:",
    "failed recipients:",
    "failed address:",
    "recipient address:",
    "recipient addresses:",
    "recipient:",
    "recipients:",
    "original recipient:",
    "invalid recipient:",
    "unknown recipient:",
    "bad recipient:",
    "address:",
    "e-mail address:",
    "email address:",
    "mail address:",
    "addressed to:",
    "rcpt to:",
    "destinataire:",
    "empfänger:",
    "an:",
    "user:",
    "mailbox:",
    "username:",
    "to address:",
    "envelope-to:",
    "x-failed-recipients:",
];

/// An address that starts the line (after a bullet, a label or an SMTP
/// reply code): the address and what follows it.
fn line_anchor(line: &str) -> Option<(String, String)> {
    let (l, coded) = strip_line_lead(line);
    let l = l.trim_start_matches(['"', '\'']);
    if let Some(inner) = l.strip_prefix('<') {
        return bracketed_anchor(inner, coded);
    }
    if coded {
        return None;
    }
    let found = address::find_all(l, false);
    let f = found.first()?;
    if f.start != 0 {
        return None;
    }
    let rest = &l[f.end..];
    if !ends_recipient_line(rest) {
        return None;
    }
    Some((f.address.clone(), rest.to_owned()))
}

/// The line without its bullets, Sendmail reply code and label; true when
/// it had the reply code.
fn strip_line_lead(line: &str) -> (&str, bool) {
    let mut l = line.trim();
    // A run of bullet marks before a space: "* ", "*** " (Mercury), "-- ",
    // ">>> ", "\u{2022} ", "o ".
    let marks = l.trim_start_matches(['*', '-', '+', '>', '#', '\u{2022}']);
    if marks.len() < l.len() && marks.starts_with(char::is_whitespace) {
        l = marks.trim_start();
    }
    if let Some(r) = l.strip_prefix("o ") {
        l = r.trim_start();
    }
    // Sendmail's "550 <x>... User unknown".
    let b = l.as_bytes();
    let coded = b.len() > 5
        && matches!(b[0], b'4' | b'5')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b[3] == b' '
        && b[4] == b'<';
    if coded {
        l = &l[4..];
    }
    if let Some(after) = LINE_LABELS
        .iter()
        .find_map(|label| strip_prefix_ci(l, label))
    {
        l = after.trim_start();
        if let Some(r) = strip_prefix_ci(l, "rfc822;") {
            l = r.trim_start();
        }
    }
    (l, coded)
}

/// `<x>rest` (given after the `<`): only an address fills the brackets,
/// and after a reply code only `...` follows them.
fn bracketed_anchor(inner: &str, coded: bool) -> Option<(String, String)> {
    let close = inner.find('>')?;
    let candidate = &inner[..close];
    let found = address::find_all(candidate, true);
    let f = found.first()?;
    if f.start != 0 || f.end != candidate.len() {
        return None;
    }
    let rest = inner[close + 1..].to_owned();
    if coded && !rest.starts_with("...") {
        return None;
    }
    Some((f.address.clone(), rest))
}

/// An address followed by ordinary prose ("x@y wrote:") is not a
/// recipient line; a colon, a bracket, "on <date>", "...", an error or
/// nothing is.
fn ends_recipient_line(rest: &str) -> bool {
    let r = rest.trim_start();
    let rl = r.to_lowercase();
    r.is_empty()
        || r.starts_with([':', '(', '[', '<', '>', '"', '\'', ',', ';'])
        || r.starts_with("...")
        || r.starts_with("- ")
        || rl.starts_with("on ")
        || rl.starts_with("delivery ")
        || rl.starts_with("failed")
        || rl.starts_with("smtp error")
        || rl.starts_with("host ")
        || rest.starts_with("  ")
        || [
            "error", "invalid", "unknown", "reject", "refused", "denied", "full", "not ",
            "no such", "quota", "exceed",
        ]
        .iter()
        .any(|w| rl.contains(w))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// `RCPT TO:<x>` in a transcript: the address and the whole line.
fn transcript_anchor(line: &str) -> Option<(String, String)> {
    let lower = line.to_ascii_lowercase();
    let p = lower.find("rcpt to:").or_else(|| lower.find("rcpt to "))?;
    let after = &line[p + 8..];
    let f = address::find_all(after, true).into_iter().next()?;
    // The address must follow right away (`<x>` or `x`).
    let before = after[..f.start].trim();
    if !(before.is_empty() || before == "<") {
        return None;
    }
    Some((f.address, line.trim().to_owned()))
}

/// Phrases after which an address in running text is a failed recipient
/// (a colon after them is ignored).
const SENTENCE_TRIGGERS: &[&str] = &[
    "delivered to",
    "deliver to",
    "deliver your message to",
    "deliver the message to",
    "deliver mail to",
    "delivering your mail to",
    "delivering your message to",
    "delivery to",
    "message to",
    "mail to",
    "email to",
    "e-mail to",
    "sent to",
    "addressed to",
    "send to",
    "sending to",
    "undeliverable to",
    "reach",
    "recipient",
    "recipients",
    "address",
    "user",
    "mailbox",
    "account",
    "destinataire",
    "failed",
    "message-id in",
    "errors",
    "error",
];

fn sentence_anchors(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in address::find_all(line, false) {
        let before = line[..f.start]
            .trim_end()
            .trim_end_matches(['<', '"', '\'', '('])
            .trim_end()
            .trim_end_matches(':')
            .to_lowercase();
        if SENTENCE_TRIGGERS.iter().any(|t| {
            before.ends_with(t)
                && (before.len() == t.len()
                    || !before.as_bytes()[before.len() - t.len() - 1].is_ascii_alphanumeric())
        }) {
            out.push((f.address, line[f.end..].to_owned()));
        }
    }
    out
}

/// One recipient as the text names it.
#[derive(Clone, Debug)]
pub(crate) struct TextRecipient {
    pub(crate) address: String,
    pub(crate) strength: Strength,
    /// The lines that belong to it, whitespace collapsed.
    pub(crate) diagnostic: String,
}

/// The recipients a notification names, and its text before the first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scan {
    pub(crate) recipients: Vec<TextRecipient>,
    /// The text before the first recipient, whitespace collapsed.
    pub(crate) preamble: String,
}

/// Removes one level of `> ` quoting when most of the text is quoted (a
/// bounce forwarded by a person).
pub(crate) fn unquote(text: &str) -> std::borrow::Cow<'_, str> {
    let mut quoted = 0;
    let mut total = 0;
    for l in text.lines() {
        if l.trim().is_empty() {
            continue;
        }
        total += 1;
        if l.starts_with("> ") || l == ">" || l.starts_with(">>>>") {
            quoted += 1;
        }
    }
    if quoted < 5 || quoted * 3 < total {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for l in text.lines() {
        let u = if let Some(r) = l.strip_prefix("> ") {
            r
        } else if l == ">" {
            ""
        } else if l.starts_with(">>>>") {
            &l[1..]
        } else {
            l
        };
        out.push_str(u);
        out.push('\n');
    }
    std::borrow::Cow::Owned(out)
}

/// Finds the failed recipients of a notification text. Addresses in
/// `exclude` (the bounce's own addresses, the original sender) are never
/// recipients when other candidates exist.
pub(crate) fn scan(text: &str, exclude: &[String]) -> Scan {
    let lines: Vec<&str> = text.lines().collect();
    let anchors = anchors_of(&lines);
    // Prefer anchors that are not excluded addresses.
    let excluded = |a: &str| exclude.iter().any(|e| address::same(e, a));
    let usable: Vec<&Anchor> = anchors.iter().filter(|a| !excluded(&a.address)).collect();
    let chosen: Vec<&Anchor> = if usable.is_empty() {
        anchors.iter().collect()
    } else {
        usable
    };
    let Some(best) = chosen.iter().map(|a| a.strength).max() else {
        return Scan {
            recipients: Vec::new(),
            preamble: collapse(&lines.join("\n")),
        };
    };
    let mut recipients = strongest_recipients(&chosen, best);
    let block_anchors: Vec<&Anchor> = chosen
        .iter()
        .copied()
        .filter(|a| a.strength == best || a.strength == Strength::Transcript)
        .filter(|a| {
            recipients
                .iter()
                .any(|r| address::same(&r.address, &a.address))
        })
        .collect();
    let first_line = block_anchors.first().map_or(lines.len(), |a| a.line);
    let preamble = collapse(&lines[..first_line.min(lines.len())].join("\n"));
    let locals: Vec<String> = recipients
        .iter()
        .map(|r| local_part(&r.address).to_ascii_lowercase())
        .collect();
    for (idx, block) in blocks(&lines, &block_anchors, &recipients) {
        // A line that names another recipient's mailbox ("550 5.1.1
        // jo... User unknown") is about that one, not this one.
        let own: Vec<&str> = block
            .lines()
            .filter(|l| names_local(l).is_none_or(|n| locals.get(idx) == Some(&n)))
            .collect();
        if let Some(r) = recipients.get_mut(idx) {
            let c = collapse(&own.join("\n"));
            if !c.is_empty() {
                if !r.diagnostic.is_empty() {
                    r.diagnostic.push(' ');
                }
                r.diagnostic.push_str(&c);
            }
        }
    }
    attach_transcript_lines(&lines, &locals, &mut recipients);
    Scan {
        recipients,
        preamble,
    }
}

fn local_part(address: &str) -> &str {
    address.rsplit_once('@').map_or(address, |(l, _)| l)
}

/// The mailbox a Sendmail-style reply line names by its local part:
/// `550 5.1.1 jo... User unknown` or `<jo>... User unknown` gives `jo`.
fn names_local(line: &str) -> Option<String> {
    let p = line.find("...")?;
    let word = line[..p].rsplit(char::is_whitespace).next()?;
    let word = word.trim_matches(['<', '>']);
    (!word.is_empty() && !word.contains('@') && !word.starts_with(|c: char| c.is_ascii_digit()))
        .then(|| word.to_ascii_lowercase())
}

/// When several recipients are listed and a transcript names each by its
/// local part (Sendmail, after rewriting to the local user), the line
/// about each joins that recipient's diagnostic.
fn attach_transcript_lines(lines: &[&str], locals: &[String], recipients: &mut [TextRecipient]) {
    if recipients.len() < 2 {
        return;
    }
    // Each local part's recipient, when exactly one has it (a map, so a
    // bounce listing thousands of recipients stays linear).
    let mut owner: std::collections::HashMap<&str, Option<usize>> =
        std::collections::HashMap::with_capacity(locals.len());
    for (i, l) in locals.iter().enumerate() {
        owner
            .entry(l.as_str())
            .and_modify(|o| *o = None)
            .or_insert(Some(i));
    }
    for line in lines {
        let Some(name) = names_local(line) else {
            continue;
        };
        let Some(&Some(idx)) = owner.get(name.as_str()) else {
            continue;
        };
        let c = collapse(line);
        if let Some(r) = recipients.get_mut(idx) {
            if !r.diagnostic.contains(&c) {
                if !r.diagnostic.is_empty() {
                    r.diagnostic.push(' ');
                }
                r.diagnostic.push_str(&c);
            }
        }
    }
}

/// The recipients: the addresses of the strongest kind present, each
/// once, with no diagnostic yet.
fn strongest_recipients(chosen: &[&Anchor], best: Strength) -> Vec<TextRecipient> {
    let mut recipients: Vec<TextRecipient> = Vec::new();
    for a in chosen.iter().filter(|a| a.strength == best) {
        if !recipients
            .iter()
            .any(|r| address::same(&r.address, &a.address))
        {
            recipients.push(TextRecipient {
                address: a.address.clone(),
                strength: a.strength,
                diagnostic: String::new(),
            });
        }
    }
    recipients
}

/// Every line that names an address, with how strongly: a recipient line
/// of its own, an SMTP transcript line, or a sentence.
fn anchors_of(lines: &[&str]) -> Vec<Anchor> {
    let mut anchors: Vec<Anchor> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some((a, rest)) = line_anchor(line) {
            anchors.push(Anchor {
                line: i,
                address: a,
                strength: Strength::Strong,
                rest,
            });
            continue;
        }
        if let Some((a, rest)) = transcript_anchor(line) {
            anchors.push(Anchor {
                line: i,
                address: a,
                strength: Strength::Transcript,
                rest,
            });
            continue;
        }
        for (a, _) in sentence_anchors(line) {
            if !address::is_system_address(&a) {
                // The whole sentence says what happened.
                anchors.push(Anchor {
                    line: i,
                    address: a,
                    strength: Strength::Weak,
                    rest: line.trim().to_owned(),
                });
            }
        }
    }
    anchors
}

/// The text each recipient's anchors own, by recipient index. Each anchor
/// owns the lines up to the next anchor of a recipient; an anchor written
/// after its transcript ("554 <x>... Remote protocol error") also owns the
/// transcript lines before it.
fn blocks(
    lines: &[&str],
    block_anchors: &[&Anchor],
    recipients: &[TextRecipient],
) -> Vec<(usize, String)> {
    let mut pieces: Vec<(usize, String)> = Vec::new();
    let mut prev_end = 0;
    for (k, a) in block_anchors.iter().enumerate() {
        let end = block_anchors
            .iter()
            .skip(k + 1)
            .find(|b| b.line > a.line)
            .map_or(lines.len(), |b| b.line);
        let Some(idx) = recipients
            .iter()
            .position(|r| address::same(&r.address, &a.address))
        else {
            continue;
        };
        if block_anchors[..k].iter().any(|b| b.line == a.line) {
            // A second address on the same line shares its rest.
            pieces.push((idx, a.rest.clone()));
            continue;
        }
        let (block, stop) = anchor_block(lines, a, prev_end, end);
        prev_end = stop;
        pieces.push((idx, block));
    }
    pieces
}

/// The block of one anchor: its own line (with the transcript before it
/// when it is a reply line), then the lines up to `end`, or up to the
/// transcript of another host. The block, and the line it stopped at.
fn anchor_block(lines: &[&str], a: &Anchor, prev_end: usize, end: usize) -> (String, usize) {
    let mut block = String::new();
    let trimmed = lines[a.line].trim_start();
    if trimmed.starts_with(">>>") || a.strength == Strength::Transcript {
        block.push_str(trimmed);
    } else if trimmed.len() > 3 && trimmed.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
        // The transcript before it, from "while talking to" on.
        let from = (prev_end..a.line)
            .rev()
            .find(|&j| lines[j].to_ascii_lowercase().contains("while talking to"))
            .unwrap_or(a.line);
        for l in &lines[from..a.line] {
            block.push_str(l);
            block.push('\n');
        }
        block.push_str(trimmed);
    } else {
        block.push_str(a.rest.trim_start_matches(['>', '.', ':', ' ']));
    }
    let mut stop = end;
    for (j, l) in lines.iter().enumerate().take(end).skip(a.line + 1) {
        if end < lines.len() && l.to_ascii_lowercase().contains("while talking to") {
            // The transcript of another host.
            stop = j;
            break;
        }
        block.push('\n');
        block.push_str(l);
    }
    (block, stop)
}

/// Sendmail's summary of a recipient's failure, `(reason: ...)`.
pub(crate) fn reason_line(block: &str) -> &str {
    let lower = block.to_ascii_lowercase();
    let Some(p) = lower.find("(reason: ") else {
        return "";
    };
    let rest = &block[p + 9..];
    match rest.find(')') {
        Some(e) => &rest[..e],
        None => rest,
    }
}

/// Whitespace runs to one space, trimmed.
pub(crate) fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// The first enhanced status code (`5.1.1`, `#5.1.0`, `(#4.4.1)`) in `text`.
pub(crate) fn status_in(text: &str) -> Option<String> {
    for token in text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '(' | ')' | '[' | ']' | '#' | ',' | ';' | '<' | '>' | '"' | '\'' | '=' | ':'
            )
    }) {
        let t = token.trim_end_matches([':', '.']);
        let t = t
            .strip_prefix("550-")
            .or_else(|| t.strip_prefix("554-"))
            .or_else(|| t.strip_prefix("552-"))
            .or_else(|| t.strip_prefix("421-"))
            .or_else(|| t.strip_prefix("451-"))
            .or_else(|| t.strip_prefix("450-"))
            .or_else(|| t.strip_prefix("553-"))
            .or_else(|| t.strip_prefix("551-"))
            .unwrap_or(t);
        if is_status_code(t) && !t.starts_with('2') {
            // Not an IP address piece or a version number.
            return Some(t.to_owned());
        }
    }
    None
}

/// The first SMTP reply code (`550`, `550-`, `<<< 550`) in `text`.
pub(crate) fn replycode_in(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 3 <= b.len() {
        let d = &b[i..i + 3];
        let starts = i == 0
            || !(b[i - 1].is_ascii_alphanumeric()
                || matches!(b[i - 1], b'.' | b'-' | b':' | b'/' | b'#' | b'='));
        if starts
            && matches!(d[0], b'4' | b'5')
            && d[1].is_ascii_digit()
            && d[2].is_ascii_digit()
            && matches!(d[1], b'0'..=b'5')
        {
            let next = b.get(i + 3).copied();
            let ends = match next {
                None => true,
                Some(c) => {
                    c == b' '
                        || c == b'-'
                        || c == b'\n'
                        || c == b'\t'
                        || c == b'.' && b.get(i + 4).is_some_and(|x| *x == b' ')
                }
            };
            if ends {
                // Not a part of a status code ("5.5.0") or a number run.
                if let Ok(s) = std::str::from_utf8(d) {
                    return Some(s.to_owned());
                }
            }
        }
        i += 1;
    }
    None
}

/// What MTAs write about the command a reply answered.
const EXPLICIT: &[(&str, SmtpCommand)] = &[
    ("in reply to end of data", SmtpCommand::Data),
    ("in reply to data", SmtpCommand::Data),
    ("in reply to rcpt", SmtpCommand::Rcpt),
    ("in reply to mail", SmtpCommand::Mail),
    ("in reply to helo", SmtpCommand::Helo),
    ("in reply to ehlo", SmtpCommand::Helo),
    ("in reply to lhlo", SmtpCommand::Helo),
    ("in reply to starttls", SmtpCommand::StartTls),
    ("in reply to auth", SmtpCommand::Auth),
    ("in reply to the initial", SmtpCommand::Connect),
    ("after end of data", SmtpCommand::Data),
    ("after end of message", SmtpCommand::Data),
    ("after data", SmtpCommand::Data),
    ("after rcpt", SmtpCommand::Rcpt),
    ("after mail from", SmtpCommand::Mail),
    ("after mail", SmtpCommand::Mail),
    ("after helo", SmtpCommand::Helo),
    ("after ehlo", SmtpCommand::Helo),
    ("after starttls", SmtpCommand::StartTls),
    ("after auth", SmtpCommand::Auth),
    ("after initial connection", SmtpCommand::Connect),
    ("after pipelined", SmtpCommand::Data),
    ("did not like our final data", SmtpCommand::Data),
    ("didn't like our final data", SmtpCommand::Data),
    ("did not like our data", SmtpCommand::Data),
    ("did not like our rcpt", SmtpCommand::Rcpt),
    ("did not like our mail", SmtpCommand::Mail),
    ("does not like recipient", SmtpCommand::Rcpt),
    ("didn't like recipient", SmtpCommand::Rcpt),
    ("does not like sender", SmtpCommand::Mail),
    ("refused to talk to me", SmtpCommand::Connect),
    ("[rcpt_to]", SmtpCommand::Rcpt),
    ("[mail_from]", SmtpCommand::Mail),
    ("[data]", SmtpCommand::Data),
    ("[end_of_data]", SmtpCommand::Data),
    ("(rcpt to)", SmtpCommand::Rcpt),
    // InterScan writes its transcript the other way round.
    ("sent <<< rcpt to", SmtpCommand::Rcpt),
    ("sent <<< mail from", SmtpCommand::Mail),
    ("sent <<< data", SmtpCommand::Data),
    // Gmail's old reports name the SMTP state.
    ("(state 6)", SmtpCommand::StartTls),
    ("(state 13)", SmtpCommand::Mail),
    ("(state 14)", SmtpCommand::Rcpt),
    ("(state 18)", SmtpCommand::Data),
];

/// The SMTP command a diagnostic says failed.
pub(crate) fn command_in(text: &str) -> Option<SmtpCommand> {
    static AC: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    let ac = AC.get_or_init(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(EXPLICIT.iter().map(|(p, _)| *p))
            .ok()
    });
    if let Some(m) = ac.as_ref().and_then(|ac| ac.find(text)) {
        if let Some((_, c)) = EXPLICIT.get(m.pattern().as_usize()) {
            return Some(*c);
        }
    }
    if !text.contains(">>>") {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    // A transcript: the last command sent before the first error reply.
    let mut last: Option<SmtpCommand> = None;
    for line in lower.split(['\n']) {
        let l = line.trim();
        if let Some(cmd) = l.strip_prefix(">>>") {
            last = command_word(cmd.trim());
        } else if let Some(reply) = l.strip_prefix("<<<") {
            let r = reply.trim_start();
            if (r.starts_with('4') || r.starts_with('5')) && last.is_some() {
                return last;
            }
        }
    }
    // Collapsed transcripts (">>> DATA <<< 550 ...") on one line.
    if let Some(p) = lower.find(">>>") {
        let after = lower[p + 3..].trim_start();
        if let Some(c) = command_word(after) {
            if lower[p..].contains("<<< 5") || lower[p..].contains("<<< 4") {
                // The last >>> before the first error reply.
                let upto = lower[p..]
                    .find("<<< 5")
                    .or_else(|| lower[p..].find("<<< 4"))
                    .map_or(lower.len(), |q| p + q);
                let seg = &lower[p..upto];
                let last_cmd = seg
                    .rmatch_indices(">>>")
                    .next()
                    .and_then(|(q, _)| command_word(seg[q + 3..].trim_start()));
                return last_cmd.or(Some(c));
            }
        }
    }
    None
}

fn command_word(s: &str) -> Option<SmtpCommand> {
    let s = s.trim_start();
    if s.starts_with("rcpt") {
        Some(SmtpCommand::Rcpt)
    } else if s.starts_with("mail") {
        Some(SmtpCommand::Mail)
    } else if s.starts_with("data")
        || s.starts_with('.')
        || s.starts_with("(body)")
        || s.starts_with("bdat")
    {
        Some(SmtpCommand::Data)
    } else if s.starts_with("ehlo") || s.starts_with("helo") || s.starts_with("lhlo") {
        Some(SmtpCommand::Helo)
    } else if s.starts_with("starttls") {
        Some(SmtpCommand::StartTls)
    } else if s.starts_with("auth") {
        Some(SmtpCommand::Auth)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_blocks() {
        let text = "The following address(es) failed:\n\n  a@x.example\n    SMTP error from remote mail server after RCPT TO:<a@x.example>:\n    host mx [192.0.2.1]: 550 5.1.1 unknown\n\n<b@y.example>: host mx said: 552 5.2.2 full (in reply to RCPT TO command)\n";
        let s = scan(text, &[]);
        assert_eq!(s.recipients.len(), 2);
        assert!(s.recipients[0].diagnostic.contains("550 5.1.1"));
        assert_eq!(
            status_in(&s.recipients[1].diagnostic).as_deref(),
            Some("5.2.2")
        );
        assert_eq!(
            replycode_in(&s.recipients[1].diagnostic).as_deref(),
            Some("552")
        );
        assert_eq!(
            command_in(&s.recipients[0].diagnostic),
            Some(SmtpCommand::Rcpt)
        );
        assert_eq!(
            command_in(">>> DATA\n<<< 550 Unknown user"),
            Some(SmtpCommand::Data)
        );
    }

    #[test]
    fn finds_the_returned_message() {
        let t =
            "oops\n\n--- Below this line is a copy of the message.\n\nReturn-Path: <a@b.example>\n";
        assert_eq!(original_start(t), Some(6));
    }
}
