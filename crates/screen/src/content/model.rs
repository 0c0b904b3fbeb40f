//! The statistical layer: a token classifier trained offline on authored
//! content only (Subject, From display name, the visible text and link
//! texts, the registrable domains links go to, and a few shape tokens), never
//! on delivery headers.
//!
//! Each token's spam probability is a naive-Bayes estimate from the share of
//! spam and of legitimate training messages that contain it, with additive
//! smoothing towards 0.5. The most telling tokens of a message (at most 150, those at
//! least 0.1 away from 0.5) are combined with Fisher's method as in
//! SpamBayes (Robinson's chi-square combining), which stays calibrated when
//! tokens are correlated, as words of one message always are, and leaves
//! messages with mixed evidence near 0.5 instead of pushing them to 0 or 1.
//!
//! The trained model is shipped as text in `data/content_model.txt`
//! (`token<TAB>spam messages<TAB>ham messages`, after a header with the
//! totals) and parsed once on first use.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use super::authored::AuthoredMail;

/// Tokens seen in fewer training messages than this are dropped.
const MIN_MESSAGES: u32 = 3;
/// How many messages of unknown class the smoothing of a token's
/// probability counts (SpamBayes' default; 0.2 to 2 did as well in
/// cross-validation, and it beat add-one smoothing of the two rates).
const PRIOR_STRENGTH: f64 = 0.45;
/// Tokens whose probability is closer to 0.5 than this carry no weight.
const MIN_STRENGTH: f64 = 0.1;
/// At most this many tokens (the most telling) are combined per message.
const MAX_DISCRIMINATORS: usize = 150;
/// Tokens read per message: enough for any real mail, and a bound on time.
const MAX_TOKENS: usize = 2000;
/// Links whose domain is read per message.
const MAX_LINK_DOMAINS: usize = 100;
/// Words shorter or longer than this are not tokens.
const MIN_WORD_CHARS: usize = 2;
const MAX_WORD_CHARS: usize = 20;
/// Telling tokens a mail needs before the classifier judges it.
const MIN_EVIDENCE: usize = 4;
/// A mail with fewer telling tokens is judged as if neutral ones filled it
/// up to this many.
const SMOOTH_TO: usize = 8;
/// Top tokens returned with a score.
const MAX_TOP_TOKENS: usize = 10;

const HEADER: &str = "sendwell-content-model\t1";

/// The model shipped with sendwell.
const EMBEDDED: &str = include_str!("../../data/content_model.txt");

/// A trained token classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    spam_messages: u32,
    ham_messages: u32,
    tokens: HashMap<Box<str>, TokenStats, FastHash>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct TokenStats {
    spam: u32,
    ham: u32,
    /// Probability that a message with this token is spam, from the counts.
    probability: f32,
}

impl Model {
    /// The model trained on the development corpus and shipped in
    /// `data/content_model.txt`; parsed on first use.
    pub fn embedded() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| {
            // The shipped file is checked by a unit test; should it ever be
            // unreadable, an empty model scores every mail 0.5 (no opinion).
            Model::from_text(EMBEDDED).unwrap_or_else(|| Model::from_counts(0, 0, Vec::new()))
        })
    }

    /// Trains a model on labelled mail (`true` for spam).
    pub fn train<'a>(examples: impl IntoIterator<Item = (&'a AuthoredMail, bool)>) -> Model {
        let mut counts: HashMap<String, (u32, u32), FastHash> = HashMap::default();
        let (mut spam_messages, mut ham_messages) = (0u32, 0u32);
        let mut seen: HashSet<String, FastHash> = HashSet::default();
        for (mail, spam) in examples {
            if spam {
                spam_messages += 1;
            } else {
                ham_messages += 1;
            }
            seen.clear();
            for_each_token(mail, |token| {
                if !seen.contains(token) {
                    seen.insert(token.to_string());
                }
            });
            for token in seen.drain() {
                let entry = counts.entry(token).or_insert((0, 0));
                if spam {
                    entry.0 += 1;
                } else {
                    entry.1 += 1;
                }
            }
        }
        let kept = counts
            .into_iter()
            .filter(|(_, (s, h))| s + h >= MIN_MESSAGES)
            .filter(|(_, (s, h))| {
                let p = token_probability(*s, *h, spam_messages, ham_messages);
                (p - 0.5).abs() >= MIN_STRENGTH
            })
            .map(|(t, (s, h))| (t, s, h))
            .collect();
        Model::from_counts(spam_messages, ham_messages, kept)
    }

    fn from_counts(
        spam_messages: u32,
        ham_messages: u32,
        tokens: Vec<(String, u32, u32)>,
    ) -> Model {
        let tokens = tokens
            .into_iter()
            .map(|(token, spam, ham)| {
                let probability = token_probability(spam, ham, spam_messages, ham_messages) as f32;
                (
                    token.into_boxed_str(),
                    TokenStats {
                        spam,
                        ham,
                        probability,
                    },
                )
            })
            .collect();
        Model {
            spam_messages,
            ham_messages,
            tokens,
        }
    }

    /// The model as text: a header, the message totals, then one
    /// `token<TAB>spam<TAB>ham` line per token, sorted.
    pub fn to_text(&self) -> String {
        let mut tokens: Vec<_> = self.tokens.iter().collect();
        tokens.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = String::with_capacity(tokens.len() * 16 + 256);
        out.push_str(
            "# sendwell content classifier: token counts from the development corpus\n\
             # (SpamAssassin public corpus 2002-2005, data PDDL-1.0, contents CC0).\n\
             # Regenerate with: sendwell screen-train --corpus ../shared/corpus/content\n\
             # Format: a header, the number of spam and legitimate training messages,\n\
             # then token<TAB>spam messages with it<TAB>legitimate messages with it.\n",
        );
        out.push_str(HEADER);
        out.push('\n');
        out.push_str(&format!(
            "messages\t{}\t{}\n",
            self.spam_messages, self.ham_messages
        ));
        for (token, stats) in tokens {
            out.push_str(token);
            out.push('\t');
            out.push_str(&stats.spam.to_string());
            out.push('\t');
            out.push_str(&stats.ham.to_string());
            out.push('\n');
        }
        out
    }

    /// Parses what [`Model::to_text`] wrote; `None` when it is not a model.
    pub fn from_text(text: &str) -> Option<Model> {
        let mut lines = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
        if lines.next()?.trim_end() != HEADER {
            return None;
        }
        let mut totals = lines.next()?.trim_end().split('\t');
        if totals.next()? != "messages" {
            return None;
        }
        let spam_messages = totals.next()?.parse().ok()?;
        let ham_messages = totals.next()?.parse().ok()?;
        let mut tokens = Vec::new();
        for line in lines {
            let mut fields = line.trim_end_matches('\r').split('\t');
            let (token, spam, ham) = (fields.next()?, fields.next()?, fields.next()?);
            if token.is_empty() || fields.next().is_some() {
                return None;
            }
            tokens.push((token.to_string(), spam.parse().ok()?, ham.parse().ok()?));
        }
        Some(Model::from_counts(spam_messages, ham_messages, tokens))
    }

    /// Number of tokens the model knows.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the model knows no token (it then scores every mail 0.5).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Probability the mail is spam, and the tokens that pushed it most
    /// (readable name, weight), at most 10: when the probability is 0.5 or
    /// more, the tokens that pushed towards spam (weight > 0), strongest
    /// first; otherwise those that pushed towards legitimate mail (weight <
    /// 0). A token's weight is its log-odds, ln(p / (1 - p)).
    pub fn score(&self, mail: &AuthoredMail) -> (f32, Vec<(String, f32)>) {
        let mut found: Vec<(&str, f32)> = Vec::with_capacity(256);
        for_each_token(mail, |token| {
            if let Some((key, stats)) = self.tokens.get_key_value(token) {
                found.push((key, stats.probability));
            }
        });
        // Each token counts once: keys are unique in the map, so their
        // addresses identify them.
        found.sort_unstable_by_key(|(key, _)| key.as_ptr() as usize);
        found.dedup_by_key(|(key, _)| key.as_ptr() as usize);
        found.retain(|(_, p)| (f64::from(*p) - 0.5).abs() >= MIN_STRENGTH);
        // The most telling first; ties broken by token so the choice is stable.
        found.sort_unstable_by(|a, b| {
            let (sa, sb) = ((a.1 - 0.5).abs(), (b.1 - 0.5).abs());
            sb.total_cmp(&sa).then_with(|| a.0.cmp(b.0))
        });
        found.truncate(MAX_DISCRIMINATORS);
        // A mail with few telling tokens says little: it is judged as if
        // neutral tokens (0.5) filled it up to SMOOTH_TO, so two or three
        // words cannot make it 94% likely ("Hello Ann / News for Ann."),
        // while a mail with many keeps its own verdict. Below MIN_EVIDENCE
        // it stays unsure.
        let probability = if found.len() < MIN_EVIDENCE {
            0.5
        } else {
            let padding = SMOOTH_TO.saturating_sub(found.len());
            combine(
                found
                    .iter()
                    .map(|(_, p)| f64::from(*p))
                    .chain(std::iter::repeat_n(0.5, padding)),
            ) as f32
        };
        let spammy = probability >= 0.5;
        let mut top: Vec<(String, f32)> = found
            .iter()
            .filter(|(_, p)| if spammy { *p > 0.5 } else { *p < 0.5 })
            .take(MAX_TOP_TOKENS)
            .map(|(token, p)| (readable(token), (p / (1.0 - p)).ln()))
            .collect();
        top.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        (probability, top)
    }
}

/// A token's spam probability: the share of spam among messages with it,
/// each class weighted by its size (so that the two classes' sizes do not
/// matter), smoothed towards 0.5 as if [`PRIOR_STRENGTH`] more messages of
/// unknown class had it (additive smoothing, as in SpamBayes). Clamped to
/// [0.01, 0.99]: no single token is ever proof.
fn token_probability(spam: u32, ham: u32, spam_messages: u32, ham_messages: u32) -> f64 {
    let spam_rate = f64::from(spam) / f64::from(spam_messages.max(1));
    let ham_rate = f64::from(ham) / f64::from(ham_messages.max(1));
    let raw = if spam_rate + ham_rate > 0.0 {
        spam_rate / (spam_rate + ham_rate)
    } else {
        0.5
    };
    let n = f64::from(spam + ham);
    ((PRIOR_STRENGTH * 0.5 + n * raw) / (PRIOR_STRENGTH + n)).clamp(0.01, 0.99)
}

/// Robinson's chi-square combining (as in SpamBayes): how unlikely the
/// tokens' probabilities are under "all ham" and under "all spam", combined
/// into one number in [0, 1]; 0.5 when there are no tokens.
fn combine(probabilities: impl Iterator<Item = f64>) -> f64 {
    let (mut ln_ham, mut ln_spam, mut n) = (0.0f64, 0.0f64, 0usize);
    for p in probabilities {
        ln_spam += (1.0 - p).ln();
        ln_ham += p.ln();
        n += 1;
    }
    if n == 0 {
        return 0.5;
    }
    let spam = 1.0 - chi2_q(-2.0 * ln_spam, 2 * n);
    let ham = 1.0 - chi2_q(-2.0 * ln_ham, 2 * n);
    ((spam - ham + 1.0) / 2.0).clamp(0.0, 1.0)
}

/// The probability that a chi-square variable with `degrees` (even) degrees
/// of freedom is at least `x2` (a finite series); in the log domain when
/// exp(-x2/2) would underflow.
fn chi2_q(x2: f64, degrees: usize) -> f64 {
    let m = x2 / 2.0;
    if m <= 0.0 {
        return 1.0;
    }
    if m < 700.0 {
        // exp(-m) is still a normal f64 and no term exceeds 1.
        let mut term = (-m).exp();
        let mut sum = term;
        for i in 1..degrees / 2 {
            term *= m / i as f64;
            sum += term;
        }
        return sum.min(1.0);
    }
    let ln_m = m.ln();
    let mut ln_term = -m;
    let mut ln_sum = ln_term;
    for i in 1..degrees / 2 {
        ln_term += ln_m - (i as f64).ln();
        let (hi, lo) = if ln_sum > ln_term {
            (ln_sum, ln_term)
        } else {
            (ln_term, ln_sum)
        };
        ln_sum = hi + (lo - hi).exp().ln_1p();
    }
    ln_sum.exp().min(1.0)
}

/// What a token means, for a person reading why a mail looks like spam.
fn readable(token: &str) -> String {
    match token {
        "*money" => return "a dollar amount".to_string(),
        "s:*money" => return "a dollar amount in the subject".to_string(),
        "*exclaim_run" => return "a run of \"!!!\"".to_string(),
        "s:*exclaim" => return "\"!\" in the subject".to_string(),
        "*caps_words" => return "many ALL-CAPS words".to_string(),
        "*shouting" => return "text mostly in ALL CAPS".to_string(),
        "s:*caps" => return "a subject in ALL CAPS".to_string(),
        "*image_only" => return "images with almost no text".to_string(),
        "*no_text" => return "almost no text".to_string(),
        "*link_ip" => return "a link to a bare IP address".to_string(),
        "n:*none" => return "no sender name".to_string(),
        "s:*none" => return "no subject".to_string(),
        _ => {}
    }
    if let Some(word) = token.strip_prefix("s:") {
        format!("subject word \"{word}\"")
    } else if let Some(word) = token.strip_prefix("n:") {
        format!("sender name word \"{word}\"")
    } else if let Some(domain) = token.strip_prefix("d:") {
        format!("link to domain {domain}")
    } else if let Some(ext) = token.strip_prefix("a:") {
        format!("attachment of type .{ext}")
    } else {
        format!("word \"{token}\"")
    }
}

/// Calls `f` with each token of the mail, in order, at most [`MAX_TOKENS`]
/// (repeats included; callers count each token once). Subject, sender name,
/// shape and domain tokens come first, so a long body never crowds them out.
pub(crate) fn for_each_token(mail: &AuthoredMail, mut f: impl FnMut(&str)) {
    let mut budget = MAX_TOKENS;
    let mut emit = |token: &str| {
        if budget > 0 {
            budget -= 1;
            f(token);
        }
    };
    let mut buf = String::with_capacity(64);
    subject_tokens(mail.subject.trim(), &mut buf, &mut emit);
    sender_name_tokens(mail.from_name.as_deref(), &mut buf, &mut emit);
    body_shape_tokens(mail, &mut buf, &mut emit);
    link_domain_tokens(mail, &mut buf, &mut emit);
    body_word_tokens(mail, &mut buf, &mut emit);
}

/// The words of the (trimmed) subject and its shape: missing, with a
/// dollar amount, with `!`, in capitals.
fn subject_tokens(subject: &str, buf: &mut String, emit: &mut impl FnMut(&str)) {
    if subject.is_empty() {
        emit("s:*none");
    }
    let subject_words = words(without_list_tag(subject), "s:", buf, |w| {
        // Reply and forward markers say nothing about the content (and a
        // false `Re:` is judged by the rules).
        if !matches!(w, "s:re" | "s:fw" | "s:fwd" | "s:aw" | "s:tr") {
            emit(w);
        }
    });
    if has_money(subject) {
        emit("s:*money");
    }
    if subject.contains('!') {
        emit("s:*exclaim");
    }
    if subject_words.letters >= 6 && subject_words.upper * 10 >= subject_words.letters * 8 {
        emit("s:*caps");
    }
}

/// The subject without a leading "[list-name]": mailing-list software adds
/// it, not the sender.
fn without_list_tag(subject: &str) -> &str {
    match subject.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((tag, rest)) if tag.len() <= 30 => rest,
        _ => subject,
    }
}

/// The words of the From display name, or that there is none.
fn sender_name_tokens(name: Option<&str>, buf: &mut String, emit: &mut impl FnMut(&str)) {
    match name.map(str::trim) {
        Some(name) if !name.is_empty() => {
            words(name, "n:", buf, &mut *emit);
        }
        _ => emit("n:*none"),
    }
}

/// The shape of the body: a dollar amount, a run of "!!!", and the types
/// of the first attachments.
fn body_shape_tokens(mail: &AuthoredMail, buf: &mut String, emit: &mut impl FnMut(&str)) {
    let text = mail.text.as_str();
    if has_money(text) {
        emit("*money");
    }
    if text.contains("!!!") {
        emit("*exclaim_run");
    }
    for attachment in mail.attachments.iter().take(10) {
        if let Some(ext) = attachment.filename.as_deref().and_then(file_extension) {
            buf.clear();
            buf.push_str("a:");
            buf.extend(ext.chars().map(|c| c.to_ascii_lowercase()));
            emit(buf);
        }
    }
}

/// The extension of a file name, when it looks like one (1 to 5 letters
/// or digits).
fn file_extension(name: &str) -> Option<&str> {
    name.rsplit_once('.').map(|(_, ext)| ext).filter(|ext| {
        (1..=5).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Where links go: HTML links, then bare URLs in the text, the first
/// [`MAX_LINK_DOMAINS`] of them.
fn link_domain_tokens(mail: &AuthoredMail, buf: &mut String, emit: &mut impl FnMut(&str)) {
    let hrefs = mail.links.iter().map(|link| link.href.as_str());
    let bare = bare_urls(&mail.text).take(MAX_LINK_DOMAINS);
    for url in hrefs.chain(bare).take(MAX_LINK_DOMAINS) {
        link_domain_token(url, buf, emit);
    }
}

/// The registrable domain a link goes to, or that it goes to a bare IP.
fn link_domain_token(url: &str, buf: &mut String, emit: &mut impl FnMut(&str)) {
    match url_host(url) {
        Some(Host::Ip) => emit("*link_ip"),
        Some(Host::Name(host)) => {
            let host = host.to_ascii_lowercase();
            if let Some(domain) = psl::domain_str(&host) {
                buf.clear();
                buf.push_str("d:");
                buf.push_str(domain);
                emit(buf);
            }
        }
        None => {}
    }
}

/// The words: the visible text, then link texts (which in an HTML-only
/// mail are part of the text already; each token counts once anyway), and
/// what their count says: little text, images instead of text, shouting.
fn body_word_tokens(mail: &AuthoredMail, buf: &mut String, emit: &mut impl FnMut(&str)) {
    let body = words(&mail.text, "", buf, &mut *emit);
    for link in mail.links.iter().take(MAX_LINK_DOMAINS) {
        words(&link.text, "", buf, &mut *emit);
    }
    if body.words < 3 {
        emit("*no_text");
    }
    if mail.images > 0 && body.words < 20 {
        emit("*image_only");
    }
    if body.caps_words >= 5 {
        emit("*caps_words");
    }
    if body.words >= 10 && body.caps_words * 4 >= body.words {
        emit("*shouting");
    }
}

/// Counts from one run of [`words`].
#[derive(Default)]
struct WordStats {
    /// Words kept (2 to 20 letters, no digits).
    words: usize,
    /// Kept words of 4 letters or more, all upper case.
    caps_words: usize,
    letters: usize,
    upper: usize,
}

/// Splits `text` into lowercase words of letters (2 to 20 characters),
/// calling `f` with each one prefixed by `prefix`. Apostrophes and invisible
/// characters inside a word are dropped (so "don't" is "dont" and a
/// zero-width space cannot split a word); words with digits, e-mail
/// addresses and URLs are skipped.
fn words(text: &str, prefix: &str, buf: &mut String, mut f: impl FnMut(&str)) -> WordStats {
    let mut stats = WordStats::default();
    let mut word = Word::default();
    buf.clear();
    buf.push_str(prefix);
    let mut skip_to_space = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(c) = char_at(text, i) {
        let at = i;
        i += c.len_utf8();
        if skip_to_space {
            skip_to_space = !c.is_whitespace();
            continue;
        }
        if word.push(c, buf, &mut stats) || dropped_inside_word(c) {
            continue;
        }
        // A separator ends the word; an e-mail address or a URL is skipped.
        let url = (c == ':' && bytes[at..].starts_with(b"://"))
            || (c == '.' && &buf[prefix.len()..] == "www");
        if c == '@' || url {
            skip_to_space = true;
        } else {
            word.finish(buf, &mut stats, &mut f);
        }
        buf.truncate(prefix.len());
        word = Word::default();
    }
    if !skip_to_space {
        word.finish(buf, &mut stats, &mut f);
    }
    stats
}

/// The character at byte `i` of `text`: ASCII is read byte by byte,
/// anything else as a char.
fn char_at(text: &str, i: usize) -> Option<char> {
    let b = *text.as_bytes().get(i)?;
    if b < 0x80 {
        Some(char::from(b))
    } else {
        text[i..].chars().next()
    }
}

/// Apostrophes and invisible characters, which do not end a word.
fn dropped_inside_word(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2019}'
            | '\u{200b}'
            | '\u{200c}'
            | '\u{200d}'
            | '\u{2060}'
            | '\u{feff}'
            | '\u{ad}'
    )
}

/// The word being read by [`words`].
#[derive(Default)]
struct Word {
    chars: usize,
    upper: usize,
    digit: bool,
}

impl Word {
    /// Adds `c` to the word (lowercased into `buf`, up to
    /// [`MAX_WORD_CHARS`]) when it is a letter or a digit; `false` for
    /// anything else.
    fn push(&mut self, c: char, buf: &mut String, stats: &mut WordStats) -> bool {
        if c.is_ascii_alphabetic() {
            self.count_letter(c.is_ascii_uppercase(), stats);
            if self.chars <= MAX_WORD_CHARS {
                buf.push(c.to_ascii_lowercase());
            }
        } else if c.is_ascii_digit() {
            self.digit = true;
            self.chars += 1;
        } else if !c.is_ascii() && c.is_alphabetic() {
            self.count_letter(c.is_uppercase(), stats);
            if self.chars <= MAX_WORD_CHARS {
                buf.extend(c.to_lowercase());
            }
        } else {
            return false;
        }
        true
    }

    fn count_letter(&mut self, upper: bool, stats: &mut WordStats) {
        self.chars += 1;
        stats.letters += 1;
        if upper {
            self.upper += 1;
            stats.upper += 1;
        }
    }

    fn finish(&self, buf: &str, stats: &mut WordStats, f: &mut impl FnMut(&str)) {
        if self.digit || !(MIN_WORD_CHARS..=MAX_WORD_CHARS).contains(&self.chars) {
            return;
        }
        stats.words += 1;
        if self.chars >= 4 && self.upper == self.chars {
            stats.caps_words += 1;
        }
        f(buf);
    }
}

/// Whether the text shows a dollar amount (`$5`, `$ 1,000`, `5$`).
fn has_money(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(p) = bytes[from..].iter().position(|&b| b == b'$') {
        let at = from + p;
        let after = bytes[at + 1..].iter().find(|&&b| b != b' ');
        let before = at.checked_sub(1).map(|i| bytes[i]);
        if after.is_some_and(u8::is_ascii_digit) || before.is_some_and(|b| b.is_ascii_digit()) {
            return true;
        }
        from = at + 1;
    }
    false
}

enum Host<'a> {
    /// A bare IPv4 or IPv6 address, or a number standing for one.
    Ip,
    Name(&'a str),
}

/// The host a URL goes to (userinfo before an `@` skipped), lowercase
/// expected; `None` for non-web links (mailto:, #...) or no host.
fn url_host(url: &str) -> Option<Host<'_>> {
    let url = url.trim();
    let lower_prefix = |p: &str| {
        url.get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p))
    };
    let rest = if lower_prefix("http://") {
        &url[7..]
    } else if lower_prefix("https://") {
        &url[8..]
    } else if lower_prefix("www.") {
        url
    } else {
        return None;
    };
    let authority_end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return Some(Host::Ip);
    }
    let host = host_port
        .split(':')
        .next()
        .unwrap_or("")
        .trim_end_matches('.');
    if host.is_empty() {
        return None;
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Some(Host::Ip);
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        || !host.contains('.')
    {
        return None;
    }
    Some(Host::Name(host))
}

/// URLs written in plain text (`http://`, `https://`, `www.`), up to the
/// next space or bracket.
fn bare_urls(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let url_at = move |start: usize| {
        let candidate = &text[start..];
        let end = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | ')' | ']'))
            .unwrap_or(candidate.len());
        &candidate[..end]
    };
    let with_scheme = text.match_indices("://").filter_map(move |(at, _)| {
        let start = if at >= 5 && bytes[at - 5..at].eq_ignore_ascii_case(b"https") {
            at - 5
        } else if at >= 4 && bytes[at - 4..at].eq_ignore_ascii_case(b"http") {
            at - 4
        } else {
            return None;
        };
        Some(url_at(start))
    });
    let bare_www = text.match_indices("www.").filter_map(move |(at, _)| {
        // Not the host of a URL with a scheme (counted above), nor inside a word.
        let before = at.checked_sub(1).map(|i| bytes[i]);
        if before
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'@' | b'-'))
        {
            return None;
        }
        Some(url_at(at))
    });
    with_scheme.chain(bare_www)
}

/// A fast, deterministic hash for the token table (FxHash): its keys are
/// fixed by training, so nobody can pick colliding ones.
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

type FastHash = BuildHasherDefault<FxHasher>;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// One labelled message of a corpus directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledFile {
    /// Relative to the corpus directory.
    pub file: String,
    pub spam: bool,
    /// The corpus group (`easy_ham`, `hard_ham`, `spam`...), empty if none.
    pub group: String,
}

/// Parses a corpus's `labels.jsonl`: one JSON object per line with string
/// fields `file`, `label` (`ham` or `spam`) and optionally `group`.
pub fn parse_labels(jsonl: &str) -> Result<Vec<LabelledFile>, String> {
    let mut out = Vec::new();
    for (i, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let field = |name: &str| json_string_field(line, name);
        let file = field("file").ok_or_else(|| format!("line {}: no \"file\"", i + 1))?;
        let spam = match field("label").as_deref() {
            Some("spam") => true,
            Some("ham") => false,
            _ => return Err(format!("line {}: \"label\" is neither ham nor spam", i + 1)),
        };
        if file.contains("..") || file.starts_with('/') {
            return Err(format!(
                "line {}: file {file:?} is outside the corpus",
                i + 1
            ));
        }
        out.push(LabelledFile {
            file,
            spam,
            group: field("group").unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The string value of `"name": "..."` in a flat JSON object (escapes
/// decoded); enough for label files, which hold only strings.
fn json_string_field(line: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\"");
    let mut from = 0;
    while let Some(p) = line[from..].find(&key) {
        let after_key = from + p + key.len();
        let rest = line[after_key..].trim_start();
        if let Some(value) = rest.strip_prefix(':') {
            let value = value.trim_start().strip_prefix('"')?;
            let mut out = String::new();
            let mut chars = value.chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => return Some(out),
                    '\\' => match chars.next()? {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'u' => {
                            let hex: String = chars.by_ref().take(4).collect();
                            out.push(
                                char::from_u32(u32::from_str_radix(&hex, 16).ok()?)
                                    .unwrap_or('\u{fffd}'),
                            );
                        }
                        other => out.push(other),
                    },
                    c => out.push(c),
                }
            }
            return None;
        }
        from = after_key;
    }
    None
}

/// Trains a model on a corpus directory laid out like
/// `../shared/corpus/content`: `labels.jsonl` (see [`parse_labels`]) and
/// the `.eml` files it names. Returns the model and the number of messages
/// it was trained on (files that are not messages are skipped).
pub fn train_from_dir(dir: &std::path::Path) -> std::io::Result<(Model, usize)> {
    train_with_modern(dir, &[])
}

/// The mails of a labelled corpus directory (labels.jsonl and the files it
/// names), each with whether it is spam.
fn labelled_mails(dir: &std::path::Path) -> std::io::Result<Vec<(AuthoredMail, bool)>> {
    use std::io::{Error, ErrorKind};
    let labels_path = dir.join("labels.jsonl");
    let labels = std::fs::read_to_string(&labels_path)
        .map_err(|e| Error::new(e.kind(), format!("{}: {e}", labels_path.display())))?;
    let labels = parse_labels(&labels).map_err(|e| {
        Error::new(
            ErrorKind::InvalidData,
            format!("{}: {e}", labels_path.display()),
        )
    })?;
    let mut mails = Vec::with_capacity(labels.len());
    for label in &labels {
        let path = dir.join(&label.file);
        let bytes = std::fs::read(&path)
            .map_err(|e| Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if let Some(mail) = AuthoredMail::from_eml(&bytes) {
            mails.push((mail, label.spam));
        }
    }
    Ok(mails)
}

/// One mail of a set written as JSON lines (`id`, `family`, `from_name`,
/// `from_address`, `subject`, `text`, `html`), as the lure and lookalike
/// sets of `tests/tuning/` and `tests/heldout/` are.
pub struct WrittenMail {
    pub id: String,
    pub family: String,
    /// The domain of the From address: the sender's own.
    pub own_domain: String,
    pub mail: AuthoredMail,
}

/// The mails of a JSON-lines set; a line that is not a JSON object with a
/// From address is an error naming its line.
pub fn read_written_set(text: &str) -> Result<Vec<WrittenMail>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
        let from = s("from_address");
        let Some((_, own)) = from.rsplit_once('@') else {
            return Err(format!("line {}: no from_address", i + 1));
        };
        out.push(WrittenMail {
            id: s("id"),
            family: s("family"),
            own_domain: own.to_owned(),
            mail: AuthoredMail::from_parts(
                v.get("from_name").and_then(|x| x.as_str()),
                &from,
                &s("subject"),
                &s("text"),
                v.get("html").and_then(|x| x.as_str()),
            ),
        });
    }
    Ok(out)
}

/// The mails of written sets, each with whether it is spam: every
/// directory in `dirs` holds `lures.jsonl` (spam) and `lookalikes.jsonl`
/// (legitimate).
pub fn read_modern_sets(dirs: &[std::path::PathBuf]) -> std::io::Result<Vec<(AuthoredMail, bool)>> {
    use std::io::{Error, ErrorKind};
    let mut mails = Vec::new();
    for m in dirs {
        for (file, spam) in [("lures.jsonl", true), ("lookalikes.jsonl", false)] {
            let path = m.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let set = read_written_set(&text).map_err(|e| {
                Error::new(ErrorKind::InvalidData, format!("{}: {e}", path.display()))
            })?;
            mails.extend(set.into_iter().map(|w| (w.mail, spam)));
        }
    }
    Ok(mails)
}

/// Trains on a labelled corpus directory (see [`train_from_dir`]) and on
/// written sets: each directory in `modern` holds `lures.jsonl` (spam)
/// and `lookalikes.jsonl` (legitimate). Answers the model and how many
/// messages it learnt from.
pub fn train_with_modern(
    dir: &std::path::Path,
    modern: &[std::path::PathBuf],
) -> std::io::Result<(Model, usize)> {
    let mut mails = labelled_mails(dir)?;
    mails.extend(read_modern_sets(modern)?);
    let model = Model::train(mails.iter().map(|(mail, spam)| (mail, *spam)));
    Ok((model, mails.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(subject: &str, from_name: Option<&str>, text: &str) -> AuthoredMail {
        AuthoredMail::from_parts(from_name, "sender@example.com", subject, text, None)
    }

    fn tokens(mail: &AuthoredMail) -> Vec<String> {
        let mut out = Vec::new();
        for_each_token(mail, |t| out.push(t.to_string()));
        out
    }

    #[test]
    fn embedded_model_loads() {
        let model = Model::embedded();
        assert!(model.len() > 1000, "only {} tokens", model.len());
        assert!(model.spam_messages > 500 && model.ham_messages > 500);
        assert_eq!(Model::from_text(EMBEDDED).as_ref(), Some(model));
    }

    #[test]
    fn tokens_are_prefixed_lowercase_words() {
        let mail = mail(
            "[list] Re: WIN a FREE prize!",
            Some("Lucky Winner"),
            "Dear friend, don't wait: v\u{200b}isit http://promo.example.co.uk/a/b?c=1 or \
             www.other.example today. Write to me@example.org. a b2b x 42 supercalifragilisticexpialidocious",
        );
        let found = tokens(&mail);
        for expected in [
            "s:win",
            "s:free",
            "s:prize",
            "s:*exclaim",
            "n:lucky",
            "n:winner",
            "d:example.co.uk",
            "d:other.example",
            "dear",
            "friend",
            "dont",
            "wait",
            "visit",
            "today",
            "write",
            "to",
        ] {
            assert!(
                found.iter().any(|t| t == expected),
                "{expected} missing from {found:?}"
            );
        }
        for absent in [
            "s:re", "s:list", "promo", "http", "me", "example", "org", "a", "b2b", "x", "42",
            "s:*caps",
        ] {
            assert!(!found.iter().any(|t| t == absent), "{absent} in {found:?}");
        }
        assert!(
            !found.iter().any(|t| t.starts_with("supercal")),
            "{found:?}"
        );
    }

    #[test]
    fn shape_tokens_describe_the_mail() {
        let shouting = mail(
            "MAKE MONEY FAST",
            None,
            "EARN $5,000 EVERY WEEK FROM HOME!!! CALL NOW TODAY ONLY FOR YOU FRIEND",
        );
        let found = tokens(&shouting);
        for expected in [
            "s:*caps",
            "n:*none",
            "*money",
            "*exclaim_run",
            "*caps_words",
            "*shouting",
        ] {
            assert!(
                found.iter().any(|t| t == expected),
                "{expected} missing from {found:?}"
            );
        }
        let mut image = AuthoredMail::from_parts(
            Some("Shop"),
            "a@example.com",
            "",
            "",
            Some("<a href=\"http://203.0.113.9/x\"><img src=x.png></a>"),
        );
        image.attachments.push(crate::content::Attachment {
            filename: Some("Invoice.PDF.EXE".to_string()),
            content_type: "application/octet-stream".to_string(),
        });
        let found = tokens(&image);
        for expected in ["s:*none", "*link_ip", "*no_text", "*image_only", "a:exe"] {
            assert!(
                found.iter().any(|t| t == expected),
                "{expected} missing from {found:?}"
            );
        }
    }

    #[test]
    fn tokens_per_message_are_capped() {
        let text = "word ".repeat(10_000);
        assert_eq!(tokens(&mail("s", Some("n"), &text)).len(), MAX_TOKENS);
    }

    #[test]
    fn url_hosts() {
        let host = |url| match url_host(url) {
            Some(Host::Name(h)) => h.to_string(),
            Some(Host::Ip) => "ip".to_string(),
            None => "-".to_string(),
        };
        assert_eq!(host("https://Shop.Example.com/x"), "Shop.Example.com");
        assert_eq!(
            host("http://paypal.com@evil.example:8080/login"),
            "evil.example"
        );
        assert_eq!(host("http://192.0.2.1/"), "ip");
        assert_eq!(host("http://3232235777/"), "ip");
        assert_eq!(host("http://[2001:db8::1]/"), "ip");
        assert_eq!(host("www.example.net"), "www.example.net");
        assert_eq!(host("mailto:a@example.com"), "-");
        assert_eq!(host("#top"), "-");
        assert_eq!(host("http://localhost/"), "-");
        let urls: Vec<&str> =
            bare_urls("see https://a.example/x), www.b.example and http://c.example").collect();
        assert_eq!(
            urls,
            vec!["https://a.example/x", "http://c.example", "www.b.example"]
        );
    }

    fn toy_corpus() -> Vec<(AuthoredMail, bool)> {
        let mut corpus = Vec::new();
        for i in 0..20 {
            corpus.push((
                mail(
                    "Claim your free prize",
                    None,
                    &format!("Winner! Claim your free cash prize today, click here {i}. Guaranteed money."),
                ),
                true,
            ));
            corpus.push((
                mail(
                    "Meeting notes",
                    Some("Alice Martin"),
                    &format!("Hi team, the notes from the meeting {i} are attached. The build passes today."),
                ),
                false,
            ));
        }
        corpus
    }

    #[test]
    fn a_trained_model_separates_and_explains() {
        let corpus = toy_corpus();
        let model = Model::train(corpus.iter().map(|(m, s)| (m, *s)));
        assert_eq!((model.spam_messages, model.ham_messages), (20, 20));
        let (p, top) = model.score(&mail(
            "Free prize inside",
            None,
            "Claim your cash now, winner",
        ));
        assert!(p > 0.95, "{p}");
        assert!(!top.is_empty() && top.len() <= MAX_TOP_TOKENS);
        assert!(top.iter().all(|(_, w)| *w > 0.0));
        assert!(
            top.iter().any(|(name, _)| name == "subject word \"prize\""),
            "{top:?}"
        );
        assert!(
            top.iter().any(|(name, _)| name == "word \"cash\""),
            "{top:?}"
        );
        assert!(
            top.iter().any(|(name, _)| name == "no sender name"),
            "{top:?}"
        );
        let (p, top) = model.score(&mail(
            "Meeting notes",
            Some("Alice"),
            "The build notes are attached",
        ));
        assert!(p < 0.05, "{p}");
        assert!(top.iter().all(|(_, w)| *w < 0.0));
        // Nothing known: no opinion.
        let (p, top) = model.score(&mail("zzz", Some("qqq"), "lorem ipsum"));
        assert!((p - 0.5).abs() < 0.2, "{p}");
        assert!(top.len() <= MAX_TOP_TOKENS);
        let empty = Model::train(std::iter::empty());
        assert_eq!(empty.score(&corpus[0].0).0, 0.5);
    }

    #[test]
    fn rare_and_neutral_tokens_are_pruned() {
        let corpus = toy_corpus();
        let model = Model::train(corpus.iter().map(|(m, s)| (m, *s)));
        // Seen in two messages only.
        let mut rare = toy_corpus();
        rare.truncate(2);
        assert!(model.tokens.contains_key("prize"));
        // In every message of both classes: no evidence.
        assert!(!model.tokens.contains_key("today"));
        let rare_model = Model::train(rare.iter().map(|(m, s)| (m, *s)));
        assert!(rare_model.is_empty());
    }

    #[test]
    fn text_round_trip() {
        let corpus = toy_corpus();
        let model = Model::train(corpus.iter().map(|(m, s)| (m, *s)));
        let text = model.to_text();
        assert!(text.starts_with("# sendwell content classifier"));
        assert!(text.contains("sendwell screen-train --corpus ../shared/corpus/content"));
        assert_eq!(Model::from_text(&text), Some(model));
        for bad in [
            "",
            "messages\t1\t1\n",
            "sendwell-content-model\t2\nmessages\t1\t1\n",
            "sendwell-content-model\t1\nmessages\t1\n",
            "sendwell-content-model\t1\nmessages\t1\t1\nword\t1\n",
            "sendwell-content-model\t1\nmessages\t1\t1\nword\tx\t1\n",
        ] {
            assert_eq!(Model::from_text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn combining() {
        assert_eq!(combine(std::iter::empty()), 0.5);
        assert!(combine([0.99; 150].into_iter()) > 0.999);
        assert!(combine([0.01; 150].into_iter()) < 0.001);
        let mixed = combine([0.99, 0.01, 0.99, 0.01].into_iter());
        assert!((mixed - 0.5).abs() < 0.01, "{mixed}");
        // The series and the log-domain sum agree.
        assert!((chi2_q(10.0, 10) - 0.440_493).abs() < 1e-5);
        assert!(chi2_q(1500.0, 300) < 1e-100);
    }

    #[test]
    fn token_probabilities_weigh_class_sizes() {
        // In 10% of 100 spam and 10% of 1000 ham: no evidence either way.
        assert!((token_probability(10, 100, 100, 1000) - 0.5).abs() < 1e-9);
        assert!(token_probability(50, 0, 100, 1000) > 0.98);
        assert!(token_probability(0, 50, 100, 1000) < 0.02);
        // A token seen once is pulled towards 0.5.
        assert!(token_probability(1, 0, 100, 100) < 0.85);
        assert!(token_probability(20, 0, 100, 100) > 0.98);
    }

    #[test]
    fn labels_parse() {
        let labels = parse_labels(
            "{\"file\": \"emails/a.eml\", \"label\": \"spam\", \"group\": \"spam_2\"}\n\n\
             {\"label\":\"ham\",\"file\":\"emails/b\\u0041.eml\"}\n",
        )
        .expect("labels");
        assert_eq!(
            labels,
            vec![
                LabelledFile {
                    file: "emails/a.eml".to_string(),
                    spam: true,
                    group: "spam_2".to_string(),
                },
                LabelledFile {
                    file: "emails/bA.eml".to_string(),
                    spam: false,
                    group: String::new(),
                },
            ]
        );
        assert!(parse_labels("{\"file\": \"a\", \"label\": \"maybe\"}").is_err());
        assert!(parse_labels("{\"label\": \"ham\"}").is_err());
        assert!(parse_labels("{\"file\": \"../etc/passwd\", \"label\": \"ham\"}").is_err());
    }

    #[test]
    fn train_from_dir_reads_a_corpus() {
        let dir = std::env::temp_dir().join(format!("sendwell-model-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("m")).expect("temp dir");
        let mut labels = String::new();
        for (i, (spam, body)) in [
            (true, "Win cash now, claim prize today"),
            (false, "Notes from the meeting"),
        ]
        .iter()
        .cycle()
        .take(8)
        .enumerate()
        {
            let name = format!("m/{i}.eml");
            std::fs::write(
                dir.join(&name),
                format!("From: a@example.com\r\nSubject: s\r\n\r\n{body}\r\n"),
            )
            .expect("write");
            let label = if *spam { "spam" } else { "ham" };
            labels.push_str(&format!(
                "{{\"file\": \"{name}\", \"label\": \"{label}\"}}\n"
            ));
        }
        std::fs::write(dir.join("labels.jsonl"), labels).expect("write");
        let (model, n) = train_from_dir(&dir).expect("trained");
        assert_eq!(n, 8);
        assert!(model.score(&mail("s", None, "win cash now, claim prize")).0 > 0.9);
        // Too few telling words to judge: unsure, whatever they are.
        assert_eq!(model.score(&mail("s", None, "win cash")).0, 0.5);
        assert!(train_from_dir(&dir.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
