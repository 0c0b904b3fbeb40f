//! Sender authenticity, checked in a message's preflight: does the mail
//! pretend to be something it is not? A subject dressed up as a reply, a
//! sender name posing as the reader's relative or friend or as a well-known
//! brand the sender is not, and a subject that shouts. Each finding is an
//! [`AuthenticityProblem`] that says what to change; none is an error.

/// What the check looks at: the visible sender and subject of one message.
#[derive(Clone, Copy, Debug)]
pub struct SenderFacts<'a> {
    pub from_name: Option<&'a str>,
    pub from_address: &'a str,
    pub subject: &'a str,
    /// The mail answers a previous one (never true for bulk mail).
    pub is_reply: bool,
    /// The workspace's own sender domains.
    pub owned_domains: &'a [&'a str],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthenticityProblem {
    /// The subject starts with a reply or forward prefix (`prefix`, as
    /// written) but the mail answers nothing.
    FakeReply {
        prefix: String,
    },
    /// The sender name (`name`) poses as a relative or friend; `matched` is
    /// the family term or phrase found, lowercased.
    PosesAsRelativeOrFriend {
        name: String,
        matched: String,
    },
    /// The sender name or address names `brand`, but the mail comes from
    /// `domain`, which is not the brand's.
    PosesAsBrand {
        brand: String,
        domain: String,
    },
    AllCapsSubject,
    /// A run of three or more `!`/`?` in the subject, as written.
    ExcessivePunctuation {
        run: String,
    },
}

impl AuthenticityProblem {
    /// Stable and machine-readable.
    pub fn code(&self) -> &'static str {
        match self {
            Self::FakeReply { .. } => "fake_reply",
            Self::PosesAsRelativeOrFriend { .. } => "poses_as_relative",
            Self::PosesAsBrand { .. } => "poses_as_brand",
            Self::AllCapsSubject => "all_caps_subject",
            Self::ExcessivePunctuation { .. } => "excessive_punctuation",
        }
    }

    /// What is wrong and what to change, for people.
    pub fn explain(&self) -> String {
        match self {
            Self::FakeReply { prefix } => format!(
                "the subject starts with \"{prefix}\", which makes the mail look like a reply to \
                 or a forward of an earlier conversation, but it answers none; remove the prefix"
            ),
            Self::PosesAsRelativeOrFriend { name, matched } => format!(
                "the sender name \"{name}\" poses as a relative or friend of the reader \
                 (\"{matched}\"); use your own name or your organisation's"
            ),
            Self::PosesAsBrand { brand, domain } => format!(
                "the sender name or address names {brand}, but the mail is sent from {domain}, \
                 which does not belong to {brand}; use your own organisation's name and address"
            ),
            Self::AllCapsSubject => "the subject is written in capital letters, which reads as \
                 shouting and looks like spam; write it in sentence case"
                .to_string(),
            Self::ExcessivePunctuation { run } => format!(
                "the subject contains \"{run}\"; use at most two exclamation or question marks \
                 in a row"
            ),
        }
    }
}

/// Every problem found, in a stable order: reply prefix, relative or friend,
/// brands, capitals, punctuation.
pub fn check_sender(facts: &SenderFacts) -> Vec<AuthenticityProblem> {
    let mut problems = Vec::new();
    if !facts.is_reply {
        if let Some(prefix) = reply_prefix(facts.subject) {
            problems.push(AuthenticityProblem::FakeReply { prefix });
        }
    }
    let from_domain = domain_of(facts.from_address);
    if let Some(name) = facts.from_name {
        if let Some(matched) = poses_as_relative(name, &from_domain, facts.owned_domains) {
            problems.push(AuthenticityProblem::PosesAsRelativeOrFriend {
                name: name.to_string(),
                matched,
            });
        }
    }
    for brand in brands_named(facts) {
        let own = std::iter::once(from_domain.as_str())
            .chain(facts.owned_domains.iter().copied())
            .filter_map(registrable_label)
            .any(|label| brand.labels.contains(&label.as_str()));
        if !own {
            problems.push(AuthenticityProblem::PosesAsBrand {
                brand: brand.name.to_string(),
                domain: from_domain.clone(),
            });
        }
    }
    if shouts(facts.subject) {
        problems.push(AuthenticityProblem::AllCapsSubject);
    }
    if let Some(run) = punctuation_run(facts.subject) {
        problems.push(AuthenticityProblem::ExcessivePunctuation { run });
    }
    problems
}

// ---------------------------------------------------------------------------
// Reply prefixes

/// Reply and forward prefixes of common mail clients in several languages,
/// lowercased: English, German (AW, WG, Antw), French (Réf, TR), Nordic (SV),
/// Finnish (VS).
const REPLY_PREFIXES: &[&str] = &[
    "re", "fwd", "fw", "aw", "wg", "antw", "réf", "tr", "sv", "vs",
];

/// Characters some senders put before a prefix to dodge a plain
/// `starts_with`: whitespace and the zero-width ones.
fn is_blank(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}')
}

/// The whole leading run of reply prefixes (`Re: Fwd:`), as written, if the
/// subject starts with one. `[tag]` groups before a prefix are part of it.
fn reply_prefix(subject: &str) -> Option<String> {
    let start = subject.len() - subject.trim_start_matches(is_blank).len();
    let mut at = start;
    let mut end = None;
    while let Some(after) = one_prefix(subject, at) {
        end = Some(after);
        at = after + (subject[after..].len() - subject[after..].trim_start_matches(is_blank).len());
    }
    end.map(|end| subject[start..end].to_string())
}

/// One prefix starting at `at` (optionally behind `[tag]` groups): the word,
/// an optional counter (`Re[2]:`, `Re(2):`, `Re^2:`), optional spaces and a
/// colon. Returns where the colon ends.
fn one_prefix(subject: &str, mut at: usize) -> Option<usize> {
    while subject[at..].starts_with('[') {
        let close = subject[at..].find(']')?;
        at += close + 1;
        at += subject[at..].len() - subject[at..].trim_start_matches(is_blank).len();
    }
    let rest = &subject[at..];
    let word_len = rest
        .char_indices()
        .find(|(_, c)| !c.is_alphabetic())
        .map_or(rest.len(), |(i, _)| i);
    let word = rest[..word_len].to_lowercase();
    if !REPLY_PREFIXES.contains(&word.as_str()) {
        return None;
    }
    let mut tail = &rest[word_len..];
    for (open, close) in [("[", "]"), ("(", ")"), ("^", "")] {
        if let Some(inner) = tail.strip_prefix(open) {
            let digits = inner.len() - inner.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0 && inner[digits..].starts_with(close) {
                tail = &inner[digits + close.len()..];
            }
            break;
        }
    }
    let tail = tail.trim_start_matches([' ', '\t']);
    let colon = tail.chars().next().filter(|c| matches!(c, ':' | '：'))?;
    Some(subject.len() - tail.len() + colon.len_utf8())
}

// ---------------------------------------------------------------------------
// Relatives and friends

/// Family and endearment terms. A company name may contain one ("Brotherhood
/// Bikes"), so they only count in short names; see [`poses_as_relative`].
const FAMILY_TERMS: &[&str] = &[
    "mom",
    "mum",
    "mommy",
    "mummy",
    "mother",
    "dad",
    "daddy",
    "father",
    "grandma",
    "grandpa",
    "granny",
    "grandmother",
    "grandfather",
    "grandad",
    "granddad",
    "nana",
    "auntie",
    "aunt",
    "uncle",
    "cousin",
    "sis",
    "sister",
    "bro",
    "brother",
    "son",
    "daughter",
    "honey",
    "babe",
    "sweetheart",
    "sweetie",
    "hubby",
    "mama",
    "papa",
    "oma",
    "opa",
    "maman",
    "mamá",
    "papá",
];

/// Phrases that claim a personal bond whatever else the name says, as word
/// sequences ("long-lost" splits into two words).
const FRIEND_PHRASES: &[&[&str]] = &[
    &["your", "friend"],
    &["a", "friend"],
    &["your", "old", "friend"],
    &["your", "buddy"],
    &["your", "pal"],
    &["bestie"],
    &["your", "bff"],
    &["your", "neighbour"],
    &["your", "neighbor"],
    &["long", "lost"],
];

/// Words that do not count towards a name's length: "Your Uncle Bob" is as
/// short as "Uncle Bob", and "Mom and Dad" as "Mom & Dad".
const NAME_FILLERS: &[&str] = &["your", "ur", "my", "and"];

/// The lowercased words of a name or address: runs of letters and digits,
/// apostrophes kept inside a word so "Mom's Kitchen" does not contain "mom".
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        let c = fold_lookalike(c);
        if c.is_alphanumeric() || (matches!(c, '\'' | '’') && !word.is_empty()) {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    for w in &mut out {
        // A trailing apostrophe ("Moms'") is punctuation, not part of the word.
        while w.ends_with(['\'', '’']) {
            w.pop();
        }
    }
    out
}

/// Cyrillic and Greek letters that look like Latin ones, folded so
/// "Pаypal" with a Cyrillic а still reads as PayPal. Other characters are
/// returned unchanged.
pub fn fold_lookalike(c: char) -> char {
    match c {
        'а' | 'А' | 'α' | 'Α' => 'a',
        'е' | 'Е' | 'ε' | 'Ε' => 'e',
        'о' | 'О' | 'ο' | 'Ο' => 'o',
        'р' | 'Р' | 'ρ' | 'Ρ' => 'p',
        'с' | 'С' => 'c',
        'х' | 'Х' | 'χ' | 'Χ' => 'x',
        'у' | 'У' => 'y',
        'і' | 'І' | 'ι' | 'Ι' => 'i',
        'ѕ' | 'Ѕ' => 's',
        'к' | 'К' | 'κ' | 'Κ' => 'k',
        'т' | 'Т' | 'τ' | 'Τ' => 't',
        'м' | 'М' => 'm',
        'н' | 'Н' | 'Η' => 'h',
        'в' | 'В' | 'β' | 'Β' => 'b',
        'ν' | 'Ν' => 'n',
        other => other,
    }
}

fn contains_sequence(words: &[String], phrase: &[&str]) -> bool {
    words
        .windows(phrase.len())
        .any(|w| w.iter().zip(phrase).all(|(a, b)| a == b))
}

/// The term or phrase that makes `name` pose as a relative or friend.
fn poses_as_relative(name: &str, from_domain: &str, owned: &[&str]) -> Option<String> {
    let words = words(name);
    if let Some(phrase) = FRIEND_PHRASES
        .iter()
        .find(|phrase| contains_sequence(&words, phrase))
    {
        return Some(phrase.join(" "));
    }
    let counted: Vec<&String> = words
        .iter()
        .filter(|w| !NAME_FILLERS.contains(&w.as_str()))
        .collect();
    // "Mom" or "Uncle Bob" addresses the reader personally; in a longer name
    // ("Brotherhood Bikes and Repairs") a family word is most likely part of
    // a company name.
    if counted.is_empty() || counted.len() > 2 {
        return None;
    }
    let term = counted
        .iter()
        .find(|w| FAMILY_TERMS.contains(&w.as_str()))?;
    // "Papa John's" from papajohns.com is a company using its own name; a
    // lone "Mom" needs the whole label (momentum.example is not mom's).
    let joined: String = counted
        .iter()
        .flat_map(|w| w.chars())
        .filter(|c| c.is_alphanumeric())
        .collect();
    let own_name = std::iter::once(from_domain)
        .chain(owned.iter().copied())
        .filter_map(registrable_label)
        .map(|label| label.replace('-', ""))
        .any(|label| label == joined || (counted.len() > 1 && label.starts_with(&joined)));
    (!own_name).then(|| term.to_string())
}

// ---------------------------------------------------------------------------
// Brands

struct Brand {
    /// As people write it.
    name: &'static str,
    /// The brand as one lowercase word of letters and digits; matched against
    /// one or more adjacent words joined ("Pay Pal", "Bank of America").
    keys: &'static [&'static str],
    /// Registrable domain labels (the part before the public suffix) that
    /// belong to the brand.
    labels: &'static [&'static str],
    /// The brand is also an ordinary word or a first name; see [`Context`].
    context: Context,
}

/// How much context a brand key needs to count as naming the brand.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    /// A made-up word: anywhere in the name it means the brand.
    None,
    /// Also an ordinary word ("Apple Valley Dental", "Ups and Downs"): the
    /// brand only when the rest of the name is sender-role words ("Apple
    /// Support", "The Amazon Team", "Amazon.com").
    RoleWords,
    /// Also a first name ("Chase Thompson", chase@acme.test): as
    /// `RoleWords`, and never on its own.
    RoleWordsNotAlone,
}

const MICROSOFT: &[&str] = &[
    "microsoft",
    "outlook",
    "office",
    "office365",
    "live",
    "hotmail",
    "msn",
    "microsoftonline",
];
const META: &[&str] = &[
    "facebook",
    "facebookmail",
    "meta",
    "instagram",
    "whatsapp",
    "fb",
];
const GOOGLE: &[&str] = &["google", "gmail", "googlemail", "youtube"];

#[rustfmt::skip]
const BRANDS: &[Brand] = &[
    Brand { name: "PayPal", keys: &["paypal"], labels: &["paypal"], context: Context::None },
    Brand { name: "Apple", keys: &["apple", "icloud"], labels: &["apple", "icloud"], context: Context::RoleWords },
    Brand { name: "Google", keys: &["google"], labels: GOOGLE, context: Context::None },
    Brand { name: "Gmail", keys: &["gmail", "googlemail"], labels: GOOGLE, context: Context::None },
    Brand { name: "Microsoft", keys: &["microsoft"], labels: MICROSOFT, context: Context::None },
    Brand { name: "Outlook", keys: &["outlook", "hotmail"], labels: MICROSOFT, context: Context::RoleWords },
    Brand { name: "Office 365", keys: &["office365", "microsoft365"], labels: MICROSOFT, context: Context::None },
    Brand { name: "Amazon", keys: &["amazon"], labels: &["amazon", "amazonses"], context: Context::RoleWords },
    Brand { name: "Netflix", keys: &["netflix"], labels: &["netflix"], context: Context::None },
    Brand { name: "Facebook", keys: &["facebook"], labels: META, context: Context::None },
    Brand { name: "Meta", keys: &["meta"], labels: META, context: Context::RoleWords },
    Brand { name: "Instagram", keys: &["instagram"], labels: META, context: Context::None },
    Brand { name: "WhatsApp", keys: &["whatsapp"], labels: META, context: Context::None },
    Brand { name: "DHL", keys: &["dhl"], labels: &["dhl"], context: Context::None },
    Brand { name: "FedEx", keys: &["fedex"], labels: &["fedex"], context: Context::None },
    Brand { name: "UPS", keys: &["ups"], labels: &["ups"], context: Context::RoleWords },
    Brand { name: "USPS", keys: &["usps"], labels: &["usps"], context: Context::None },
    Brand { name: "IRS", keys: &["irs"], labels: &["irs"], context: Context::None },
    Brand { name: "HMRC", keys: &["hmrc"], labels: &["hmrc"], context: Context::None },
    Brand { name: "Bank of America", keys: &["bankofamerica"], labels: &["bankofamerica", "bofa"], context: Context::None },
    Brand { name: "Chase", keys: &["chase"], labels: &["chase", "jpmorgan", "jpmorganchase"], context: Context::RoleWordsNotAlone },
    Brand { name: "Wells Fargo", keys: &["wellsfargo"], labels: &["wellsfargo", "wf"], context: Context::None },
    Brand { name: "Citibank", keys: &["citibank"], labels: &["citibank", "citi", "citigroup"], context: Context::None },
    Brand { name: "HSBC", keys: &["hsbc"], labels: &["hsbc"], context: Context::None },
    Brand { name: "Barclays", keys: &["barclays", "barclaycard"], labels: &["barclays", "barclaycard"], context: Context::None },
    Brand { name: "Visa", keys: &["visa"], labels: &["visa"], context: Context::RoleWords },
    Brand { name: "Mastercard", keys: &["mastercard"], labels: &["mastercard"], context: Context::None },
    Brand { name: "American Express", keys: &["americanexpress", "amex"], labels: &["americanexpress", "amex", "aexp"], context: Context::None },
    Brand { name: "Coinbase", keys: &["coinbase"], labels: &["coinbase"], context: Context::None },
    Brand { name: "Binance", keys: &["binance"], labels: &["binance"], context: Context::None },
    Brand { name: "Dropbox", keys: &["dropbox"], labels: &["dropbox", "dropboxmail"], context: Context::None },
    Brand { name: "DocuSign", keys: &["docusign"], labels: &["docusign"], context: Context::None },
    Brand { name: "LinkedIn", keys: &["linkedin"], labels: &["linkedin"], context: Context::None },
    Brand { name: "Adobe", keys: &["adobe"], labels: &["adobe"], context: Context::None },
    Brand { name: "eBay", keys: &["ebay"], labels: &["ebay"], context: Context::None },
    Brand { name: "Walmart", keys: &["walmart"], labels: &["walmart"], context: Context::None },
    Brand { name: "Spotify", keys: &["spotify"], labels: &["spotify"], context: Context::None },
    Brand { name: "Steam", keys: &["steam", "steampowered"], labels: &["steampowered", "steamcommunity", "valvesoftware"], context: Context::RoleWords },
    // Services whose names phishing borrows most after the above (file
    // sharing, meetings, payments), as the phishing reports of
    // 2023-2025 list them.
    Brand { name: "OneDrive", keys: &["onedrive", "sharepoint"], labels: MICROSOFT, context: Context::None },
    Brand { name: "WeTransfer", keys: &["wetransfer"], labels: &["wetransfer"], context: Context::None },
    Brand { name: "Zoom", keys: &["zoom"], labels: &["zoom", "zoomus"], context: Context::RoleWords },
    Brand { name: "Stripe", keys: &["stripe"], labels: &["stripe"], context: Context::RoleWords },
    Brand { name: "Intuit", keys: &["intuit", "quickbooks"], labels: &["intuit", "quickbooks"], context: Context::None },
    Brand { name: "Shopify", keys: &["shopify"], labels: &["shopify", "myshopify"], context: Context::None },
    Brand { name: "Venmo", keys: &["venmo"], labels: &["venmo"], context: Context::None },
    Brand { name: "Zelle", keys: &["zelle"], labels: &["zelle", "zellepay"], context: Context::None },
];

/// The longest brand key, in bytes: joining more words than that cannot
/// match, which also bounds how many words are joined ("P.a.y.P.a.l").
const LONGEST_KEY: usize = 15;

/// Words that may stand beside a brand that is also an ordinary word without
/// making it something else: how phishing senders dress up a brand ("Apple
/// Support", "The Amazon Team", "Amazon.com", "noreply-ups").
const ROLE_WORDS: &[&str] = &[
    "the",
    "your",
    "official",
    "team",
    "support",
    "security",
    "secure",
    "account",
    "accounts",
    "billing",
    "service",
    "services",
    "customer",
    "customers",
    "care",
    "help",
    "helpdesk",
    "desk",
    "notification",
    "notifications",
    "notify",
    "alert",
    "alerts",
    "payment",
    "payments",
    "pay",
    "delivery",
    "deliveries",
    "shipping",
    "shipment",
    "tracking",
    "bank",
    "banking",
    "card",
    "cards",
    "store",
    "shop",
    "inc",
    "com",
    "net",
    "co",
    "uk",
    "de",
    "llc",
    "ltd",
    "id",
    "prime",
    "no",
    "noreply",
    "reply",
    "donotreply",
    "do",
    "not",
    "info",
    "admin",
    "verification",
    "verify",
    "online",
    "center",
    "centre",
    "rewards",
    "fraud",
    "department",
    "dept",
    "mail",
    "email",
    "message",
    "messages",
    "update",
    "updates",
    "order",
    "orders",
    "member",
    "members",
    "membership",
    "premium",
    "plus",
    "business",
    "corp",
    "corporation",
    "from",
    "at",
    "via",
    "by",
    "meeting",
    "meetings",
    "invite",
    "invites",
    "webinar",
    "payout",
    "payouts",
];

/// The brands the sender name or the from address's local part names, each
/// once, in table order.
fn brands_named(facts: &SenderFacts) -> Vec<&'static Brand> {
    let local = facts
        .from_address
        .rsplit_once('@')
        .map_or(facts.from_address, |(local, _)| local);
    // The sender's own domain names a brand too when a part of its name
    // is one ("zoom-us-invite.net", "stripe-payouts.co"); the brand's own
    // domains are told apart below.
    let domain = facts.from_address.rsplit_once('@').map_or("", |(_, d)| d);
    let label = registrable_label(domain).unwrap_or_default();
    let domain_words = if label.contains('-') {
        words(&label)
    } else {
        Vec::new()
    };
    // Split and join once, not once per brand: this runs for every message
    // screened.
    let texts = [
        words(facts.from_name.unwrap_or("")),
        words(local),
        domain_words,
    ];
    let runs = [
        key_runs(&texts[0]),
        key_runs(&texts[1]),
        key_runs(&texts[2]),
    ];
    // In a domain's name any other part that is a sender-role word gives
    // the context ("invite" in "zoom-us-invite"), not only the words
    // beside the brand; "us" too, as in zoom.us.
    let domain_context = |start: usize, end: usize, context: Context| {
        let role =
            |w: &str| w == "us" || (ROLE_WORDS.contains(&w) && !MENTION_FILLERS.contains(&w));
        context == Context::None
            || texts[2]
                .iter()
                .enumerate()
                .any(|(i, w)| (i < start || i >= end) && role(w))
    };
    BRANDS
        .iter()
        .filter(|brand| {
            texts
                .iter()
                .zip(&runs)
                .enumerate()
                .any(|(t, (words, runs))| {
                    runs.iter().any(|(joined, start, end)| {
                        brand.keys.contains(&joined.as_str())
                            && if t == 2 {
                                domain_context(*start, *end, brand.context)
                            } else {
                                in_context(words, *start, *end, brand.context)
                            }
                    })
                })
        })
        .collect()
}

/// Every run of adjacent words short enough to be a brand key, joined
/// ("pay" + "pal"), with where it starts and ends in `words`.
fn key_runs(words: &[String]) -> Vec<(String, usize, usize)> {
    let mut runs = Vec::new();
    for start in 0..words.len() {
        let mut joined = String::new();
        for (end, word) in words.iter().enumerate().skip(start) {
            joined.push_str(word);
            if joined.len() > LONGEST_KEY {
                break;
            }
            runs.push((joined.clone(), start, end + 1));
        }
    }
    runs
}

/// Whether the brand key found at `words[start..end]` names the brand, given
/// the words around it.
fn in_context(words: &[String], start: usize, end: usize, context: Context) -> bool {
    let is_role =
        |w: &String| ROLE_WORDS.contains(&w.as_str()) || w.chars().all(|c| c.is_ascii_digit());
    match context {
        Context::None => true,
        Context::RoleWords => words[..start].iter().chain(&words[end..]).all(is_role),
        Context::RoleWordsNotAlone => {
            words.len() > end - start && words[..start].iter().chain(&words[end..]).all(is_role)
        }
    }
}

/// The brands a free text (a subject, a sentence) names, each once, in
/// table order, as people write them ("PayPal"). A made-up brand word counts
/// anywhere; a brand that is also an ordinary word or a first name only
/// right beside a sender-role word ("your Apple ID", "Amazon account", "Chase
/// Bank"), so "apple pie" and "Chase Thompson" name none.
pub fn brands_mentioned(text: &str) -> Vec<&'static str> {
    let words = words(text);
    let runs = key_runs(&words);
    let role =
        |w: &String| ROLE_WORDS.contains(&w.as_str()) && !MENTION_FILLERS.contains(&w.as_str());
    let beside_role = |start: usize, end: usize| {
        (start > 0 && role(&words[start - 1])) || words.get(end).is_some_and(role)
    };
    BRANDS
        .iter()
        .filter(|brand| {
            runs.iter().any(|(joined, start, end)| {
                brand.keys.contains(&joined.as_str())
                    && (brand.context == Context::None || beside_role(*start, *end))
            })
        })
        .map(|brand| brand.name)
        .collect()
}

/// Role words too common beside any word to make a mention a brand's.
const MENTION_FILLERS: &[&str] = &[
    "the", "your", "at", "by", "from", "via", "no", "not", "do", "plus", "store", "shop",
];

/// The brand (as people write it) a domain belongs to, by the label before
/// its public suffix: `PayPal` for `www.paypal.co.uk`.
pub fn brand_of_domain(domain: &str) -> Option<&'static str> {
    let label = registrable_label(domain)?;
    BRANDS
        .iter()
        .find(|brand| brand.labels.contains(&label.as_str()))
        .map(|brand| brand.name)
}

/// Whether one of `domains` belongs to the brand named `brand` (a name
/// returned by [`brands_mentioned`] or [`brand_of_domain`]).
pub fn brand_owned_by(brand: &str, domains: &[&str]) -> bool {
    let Some(brand) = BRANDS.iter().find(|b| b.name == brand) else {
        return false;
    };
    domains
        .iter()
        .filter_map(|domain| registrable_label(domain))
        .any(|label| brand.labels.contains(&label.as_str()))
}

// ---------------------------------------------------------------------------
// Domains

/// The from address's domain, lowercased, without a trailing dot.
fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or("", |(_, domain)| domain)
        .trim()
        .trim_end_matches(['.', '>'])
        .to_lowercase()
}

/// The label before the public suffix: `paypal` for `mail.paypal.co.uk`.
fn registrable_label(domain: &str) -> Option<String> {
    let domain = domain.trim().trim_end_matches('.').to_lowercase();
    if domain.is_empty() {
        return None;
    }
    let registrable = psl::domain(domain.as_bytes())
        .and_then(|d| std::str::from_utf8(d.as_bytes()).ok())
        .map(str::to_string);
    match registrable {
        Some(registrable) => registrable.split('.').next().map(str::to_string),
        // No known suffix: the label before the last is the best guess.
        None => {
            let mut labels = domain.rsplit('.');
            let last = labels.next();
            labels.next().or(last).map(str::to_string)
        }
    }
}

// ---------------------------------------------------------------------------
// Shouting

/// At least 8 cased letters, 80% or more of them capitals. Short subjects
/// ("FAQ", "NEW") are too short to shout.
fn shouts(subject: &str) -> bool {
    let (mut letters, mut capitals) = (0usize, 0usize);
    for c in subject.chars() {
        // Only cased letters count: a Japanese subject has no capitals to use.
        if c.is_uppercase() {
            capitals += 1;
            letters += 1;
        } else if c.is_lowercase() {
            letters += 1;
        }
    }
    letters >= 8 && capitals * 5 >= letters * 4
}

fn is_exclaim_or_ask(c: char) -> bool {
    matches!(c, '!' | '?' | '！' | '？' | '‼' | '⁇' | '⁈' | '⁉')
}

/// The first run of three or more exclamation or question marks (a `‼`
/// counts as one mark: three of those are still a run of three).
fn punctuation_run(subject: &str) -> Option<String> {
    let mut run_start = None;
    let mut count = 0;
    for (i, c) in subject
        .char_indices()
        .chain(std::iter::once((subject.len(), ' ')))
    {
        if is_exclaim_or_ask(c) {
            run_start.get_or_insert(i);
            count += 1;
        } else if let Some(start) = run_start.take() {
            if count >= 3 {
                return Some(subject[start..i].to_string());
            }
            count = 0;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(name: Option<&'a str>, address: &'a str, subject: &'a str) -> SenderFacts<'a> {
        SenderFacts {
            from_name: name,
            from_address: address,
            subject,
            is_reply: false,
            owned_domains: &["acme.test"],
        }
    }

    fn codes(facts: &SenderFacts) -> Vec<&'static str> {
        check_sender(facts).iter().map(|p| p.code()).collect()
    }

    fn subject_problems(subject: &str) -> Vec<AuthenticityProblem> {
        check_sender(&facts(Some("Acme News"), "news@acme.test", subject))
    }

    fn name_problems(name: &str, address: &str) -> Vec<AuthenticityProblem> {
        check_sender(&facts(Some(name), address, "Our spring collection is here"))
    }

    #[test]
    fn honest_sender_has_no_problems() {
        assert!(subject_problems("Your March invoice from Acme").is_empty());
        assert!(name_problems("Acme Support", "help@acme.test").is_empty());
    }

    #[test]
    fn reply_prefixes_on_new_mail_are_fake_replies() {
        for (subject, prefix) in [
            ("Re: your order", "Re:"),
            ("RE: your order", "RE:"),
            ("  Fwd: invoice", "Fwd:"),
            ("FW: invoice", "FW:"),
            ("Fw: invoice", "Fw:"),
            ("AW: Ihre Bestellung", "AW:"),
            ("WG: Rechnung", "WG:"),
            ("Antw: uw bestelling", "Antw:"),
            ("Réf: votre commande", "Réf:"),
            ("TR: facture", "TR:"),
            ("SV: din beställning", "SV:"),
            ("VS: tilauksesi", "VS:"),
            ("Re : spacing", "Re :"),
            ("Re: Re: stacked", "Re: Re:"),
            ("RE:FWD: tight", "RE:FWD:"),
            ("Re[2]: counted", "Re[2]:"),
            ("[Acme] Re: tagged", "[Acme] Re:"),
            ("\u{200b}Re: hidden space", "Re:"),
        ] {
            assert_eq!(
                subject_problems(subject),
                vec![AuthenticityProblem::FakeReply {
                    prefix: prefix.to_string()
                }],
                "{subject}"
            );
        }
    }

    #[test]
    fn reply_prefix_on_a_real_reply_is_fine() {
        let mut reply = facts(None, "anna@acme.test", "Re: your question");
        reply.is_reply = true;
        assert!(check_sender(&reply).is_empty());
    }

    #[test]
    fn words_that_begin_like_prefixes_are_not_replies() {
        for subject in [
            "Re-launch of our shop",
            "Regarding your account",
            "Revenue report: March",
            "Trends: what is new",
            "Svelte: a new guide",
            "[Acme] Weekly: news",
            "Fwd this to a friend",
        ] {
            assert!(subject_problems(subject).is_empty(), "{subject}");
        }
    }

    #[test]
    fn family_names_pose_as_relatives() {
        for (name, matched) in [
            ("Mom", "mom"),
            ("MUM", "mum"),
            ("Uncle Bob", "uncle"),
            ("Your Mom", "mom"),
            ("your uncle Bob", "uncle"),
            ("Mom & Dad", "mom"),
            ("Oma", "oma"),
            ("Mamá", "mamá"),
            ("Honey", "honey"),
        ] {
            assert_eq!(
                name_problems(name, "news@acme.test"),
                vec![AuthenticityProblem::PosesAsRelativeOrFriend {
                    name: name.to_string(),
                    matched: matched.to_string(),
                }],
                "{name}"
            );
        }
    }

    #[test]
    fn friend_phrases_pose_as_friends_in_any_name() {
        for (name, matched) in [
            ("Your friend Anna from Acme Shoes and Boots", "your friend"),
            ("A friend", "a friend"),
            ("your old friend at Acme", "your old friend"),
            ("Your BUDDY", "your buddy"),
            ("Acme Bestie Club Newsletter", "bestie"),
            ("Your neighbour Tom", "your neighbour"),
            ("Your Neighbor", "your neighbor"),
            ("Long-lost cousin of the family Acme", "long lost"),
        ] {
            assert_eq!(
                codes(&facts(Some(name), "news@acme.test", "Hello")),
                vec!["poses_as_relative"],
                "{name}"
            );
            let problems = name_problems(name, "news@acme.test");
            assert!(
                matches!(&problems[0], AuthenticityProblem::PosesAsRelativeOrFriend { matched: m, .. } if m == matched),
                "{name}: {problems:?}"
            );
        }
    }

    #[test]
    fn company_names_with_family_words_are_not_relatives() {
        for name in [
            "Momentum",
            "Papaya Republic",
            "Brotherhood Bikes and Repairs",
            "Brother Bikes and Repairs",
            "Big Brother Fan Club",
            "Mom and Pop Shop",
            "Mom's Kitchen",
            "Sons of Acme Hardware Store",
            "Your friends at Acme",
            "Friends of the Earth",
            "Grandmama",
        ] {
            assert!(name_problems(name, "news@acme.test").is_empty(), "{name}");
        }
    }

    #[test]
    fn family_word_that_is_the_senders_domain_is_its_own_name() {
        assert!(name_problems("Papa John's", "deals@papajohns.com").is_empty());
        assert_eq!(
            codes(&facts(Some("Papa John's"), "deals@acme.test", "Hi")),
            vec!["poses_as_relative"]
        );
    }

    #[test]
    fn a_sender_domain_built_on_a_brand_poses_as_it() {
        for address in [
            "meetings@zoom-us-invite.net",
            "notifications@stripe-payouts.co",
            "noreply@wetransfer-files.co",
            "tom@onedrive-meetingnotes.com",
        ] {
            assert_eq!(
                codes(&facts(None, address, "Hello")),
                vec!["poses_as_brand"],
                "{address}"
            );
        }
        // The brand's own domain, a word that merely contains a brand, and
        // an ordinary word that is a brand without a role word beside it.
        for address in [
            "no-reply@zoom.us",
            "hello@pinstripe-tailors.com",
            "shop@zoom-lens-rentals.com",
            "team@stripe.com",
        ] {
            assert!(
                codes(&facts(None, address, "Hello")).is_empty(),
                "{address}"
            );
        }
    }

    #[test]
    fn brand_names_on_other_domains_pose_as_brands() {
        for (name, brand) in [
            ("PayPal", "PayPal"),
            ("Pay Pal", "PayPal"),
            ("PAYPAL Support", "PayPal"),
            ("P.a.y.P.a.l", "PayPal"),
            ("Amazon.com", "Amazon"),
            ("The Amazon Team", "Amazon"),
            ("Apple Support", "Apple"),
            ("Bank of America", "Bank of America"),
            ("BankOfAmerica Alerts", "Bank of America"),
            ("Office 365 Admin", "Office 365"),
            ("Chase Bank", "Chase"),
            ("DHL Express Tracking", "DHL"),
            ("Netflix", "Netflix"),
            ("Google Workspace Billing", "Google"),
            ("\u{420}ayPal", "PayPal"),
        ] {
            assert_eq!(
                name_problems(name, "news@sender.example.com"),
                vec![AuthenticityProblem::PosesAsBrand {
                    brand: brand.to_string(),
                    domain: "sender.example.com".to_string(),
                }],
                "{name}"
            );
        }
    }

    #[test]
    fn brand_in_the_address_local_part_poses_as_brand() {
        assert_eq!(
            codes(&facts(
                Some("Security Team"),
                "paypal-security@acme.test",
                "Hi"
            )),
            vec!["poses_as_brand"]
        );
        assert_eq!(
            codes(&facts(None, "noreply.amazon@acme.test", "Hi")),
            vec!["poses_as_brand"]
        );
    }

    #[test]
    fn brand_on_its_own_domain_is_genuine() {
        assert!(name_problems("PayPal", "service@paypal.com").is_empty());
        assert!(name_problems("PayPal", "service@mail.paypal.co.uk").is_empty());
        assert!(name_problems("Gmail Team", "noreply@google.com").is_empty());
        assert!(name_problems("HMRC", "noreply@hmrc.gov.uk").is_empty());
        // A workspace that owns the brand's domain may send from a vendor's.
        let owned = facts(Some("PayPal"), "news@esp.example.com", "Hi");
        let owned = SenderFacts {
            owned_domains: &["paypal.com"],
            ..owned
        };
        assert!(check_sender(&owned).is_empty());
    }

    #[test]
    fn lookalike_domains_do_not_own_the_brand() {
        assert_eq!(
            codes(&facts(
                Some("PayPal"),
                "service@paypal.com.evil.example",
                "Hi"
            )),
            vec!["poses_as_brand"]
        );
        assert_eq!(
            codes(&facts(Some("PayPal"), "service@paypal-secure.com", "Hi")),
            vec!["poses_as_brand"]
        );
    }

    #[test]
    fn ordinary_words_and_first_names_are_not_brands() {
        for name in [
            "Apple Valley Dental",
            "Chase Thompson",
            "Chase",
            "Ups and Downs Yoga",
            "Steam Cleaning Pros",
            "Market Outlook Weekly",
            "Amazon Watch",
            "Metadata Labs",
            "Steamboat Tours",
            "Visage Studio",
        ] {
            assert!(name_problems(name, "news@acme.test").is_empty(), "{name}");
        }
        assert!(check_sender(&facts(None, "chase@acme.test", "Hi")).is_empty());
    }

    #[test]
    fn brands_mentioned_in_free_text() {
        assert_eq!(
            brands_mentioned("Your PayPal account is limited"),
            vec!["PayPal"]
        );
        assert_eq!(brands_mentioned("Confirm your Apple ID"), vec!["Apple"]);
        assert_eq!(brands_mentioned("Chase Bank alert"), vec!["Chase"]);
        for text in [
            "Apple pie recipes for the autumn",
            "The apple harvest is in",
            "Chase Thompson joins the team",
            "Ups and downs of the market",
        ] {
            assert!(brands_mentioned(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn domains_of_brands() {
        assert_eq!(brand_of_domain("www.paypal.co.uk"), Some("PayPal"));
        assert_eq!(brand_of_domain("accounts.google.com"), Some("Google"));
        assert_eq!(brand_of_domain("paypal.com.evil.example"), None);
        assert_eq!(brand_of_domain("acme.test"), None);
        assert!(brand_owned_by("PayPal", &["acme.test", "mail.paypal.com"]));
        assert!(!brand_owned_by("PayPal", &["paypal-secure.com"]));
        assert!(!brand_owned_by("Nobody", &["paypal.com"]));
    }

    #[test]
    fn capital_subjects_shout() {
        assert_eq!(
            subject_problems("HUGE SALE TODAY ONLY"),
            vec![AuthenticityProblem::AllCapsSubject]
        );
        assert_eq!(subject_problems("BIG SALE: 50% off everything"), vec![]);
        // 8 letters, 7 capitals: 87%.
        assert_eq!(
            subject_problems("LAST CALl"),
            vec![AuthenticityProblem::AllCapsSubject]
        );
    }

    #[test]
    fn short_or_mostly_lowercase_subjects_do_not_shout() {
        for subject in [
            "FAQ",
            "NEW SALE",
            "Your NASA photo of the day",
            "Update from the IRS desk",
            "新商品のお知らせ",
        ] {
            assert!(!shouts(subject), "{subject}");
        }
    }

    #[test]
    fn three_exclamation_or_question_marks_are_excessive() {
        for (subject, run) in [
            ("Act now!!!", "!!!"),
            ("Really???", "???"),
            ("What?!? Free", "?!?"),
            ("Wow!! and then!!!!", "!!!!"),
            ("Sale！！！", "！！！"),
        ] {
            assert_eq!(
                subject_problems(subject),
                vec![AuthenticityProblem::ExcessivePunctuation {
                    run: run.to_string()
                }],
                "{subject}"
            );
        }
        for subject in ["Act now!", "Really?!", "Why? Because! Yes?"] {
            assert!(subject_problems(subject).is_empty(), "{subject}");
        }
    }

    #[test]
    fn problems_explain_what_to_change_and_have_stable_codes() {
        let problems = check_sender(&SenderFacts {
            from_name: Some("PayPal"),
            from_address: "mom@evil.example",
            subject: "RE: YOUR ACCOUNT IS LOCKED!!!",
            is_reply: false,
            owned_domains: &[],
        });
        assert_eq!(
            problems.iter().map(|p| p.code()).collect::<Vec<_>>(),
            vec![
                "fake_reply",
                "poses_as_brand",
                "all_caps_subject",
                "excessive_punctuation"
            ]
        );
        let relative = AuthenticityProblem::PosesAsRelativeOrFriend {
            name: "Mom".to_string(),
            matched: "mom".to_string(),
        };
        assert_eq!(relative.code(), "poses_as_relative");
        assert!(relative.explain().contains("\"Mom\""));
        assert!(
            problems[0].explain().contains("\"RE:\"")
                && problems[0].explain().contains("remove the prefix")
        );
        assert!(
            problems[1].explain().contains("PayPal")
                && problems[1].explain().contains("evil.example")
        );
        assert!(problems[2].explain().contains("sentence case"));
        assert!(problems[3].explain().contains("\"!!!\""));
    }
}
