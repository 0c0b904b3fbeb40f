//! Content screening: judges what the sender wrote (From display name and
//! address, Subject, the text and HTML bodies, the links, attachment types)
//! and gives a verdict `send`, `review` or `block`, a score, and every rule
//! that fired with an explanation a person understands and the snippet that
//! triggered it.
//!
//! Two layers: hand-written rule families ([`rules`]) for what must be
//! explained (scams, get-rich-quick, pyramid schemes, phishing, deceptive
//! headers, offensive and illegal content, obfuscation), and a token
//! classifier ([`model`]) trained offline on authored content only, whose
//! top tokens are its explanation. [`authored`] extracts what the sender
//! wrote from a message; delivery headers (Received, ...) are never read.

pub mod authored;
pub mod model;
pub mod rules;

pub use authored::{Attachment, AuthoredMail, Link};
pub use model::Model;

/// One rule that fired.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Hit {
    /// A stable code, `family.rule`, e.g. `advance_fee.inheritance_claim`.
    pub rule: String,
    /// What is wrong, in words a workspace admin understands, and what to change.
    pub explanation: String,
    /// The text that triggered it (at most 200 characters).
    pub snippet: String,
    /// Points towards review/block (rules add; see `Screener`).
    pub score: f32,
}

/// What to do with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentVerdict {
    Send,
    /// Held until an operator approves it.
    Review,
    Block,
}

/// The content screen's judgement of one message.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Screening {
    pub verdict: ContentVerdict,
    /// The sum of the hits' points.
    pub score: f32,
    /// Every rule that fired, the statistical one included.
    pub hits: Vec<Hit>,
    /// The classifier's probability that the mail is spam.
    pub spam_probability: f32,
    /// The tokens that pushed the classifier most, with their weights (see
    /// [`Model::score`]).
    pub top_tokens: Vec<(String, f32)>,
}

/// Combines the rules and the classifier into a verdict.
///
/// The score is the sum of the hits' points. The classifier adds the hit
/// `statistical.looks_like_spam` when its spam probability reaches
/// [`Screener::STATISTICAL_FROM`]: [`Screener::STATISTICAL_POINTS`] at that
/// probability, rising linearly to [`Screener::STATISTICAL_MAX_POINTS`] at
/// 1.0 — enough on its own for review, never for a block, which needs rules
/// worth 3 points or more to agree (or a rule that blocks by itself, see
/// [`rules::blocks`]). The classifier only ever adds points: mail that
/// merely reads unlike 2002 spam (modern phishing) is left to the rules.
///
/// The classifier learns the development corpus (2002 mail) and the modern
/// tuning sets of lures and legitimate lookalikes (`tests/tuning/`), so that
/// a password reset or an invoice of today does not read as spam merely for
/// using words 2002's legitimate mail did not. It only judges a mail with
/// at least four telling words (fewer read 94% likely from a greeting and
/// a name), and one with fewer than eight as if neutral words filled it up. The threshold was chosen by 5-fold cross-validation over both
/// (mail the model did not learn), with these figures (issue #18; at 0.90
/// and below the same sets were measured before the four-word minimum):
///
/// | from | corpus spam | ham | hard_ham | modern lures | lookalikes |
/// | --- | --- | --- | --- | --- | --- |
/// | 0.93 | 85.3% | 0.48% | 2.0% | 64.7% | 6.0% |
/// | 0.90 | 88.5% | 0.60% | 3.3% | 70.0% | 7.3% |
/// | 0.85 | 91.0% | 0.60% | 3.3% | 75.3% | 10.7% |
///
/// Below 0.93 more spam and lures are caught, but legitimate mail starts
/// to be held and grey offers blocked: a pushy sale ("LAST CHANCE TO SAVE
/// BIG!!!") goes from review to block at 0.90. 0.93 stays.
pub struct Screener;

impl Screener {
    /// A score from here holds the message for review.
    pub const REVIEW_AT: f32 = 5.0;
    /// A score from here blocks the message.
    pub const BLOCK_AT: f32 = 10.0;
    /// The spam probability from which the classifier adds its hit.
    pub const STATISTICAL_FROM: f32 = 0.93;
    /// The classifier hit's points at [`Self::STATISTICAL_FROM`].
    pub const STATISTICAL_POINTS: f32 = 5.0;
    /// The classifier hit's points at probability 1.
    pub const STATISTICAL_MAX_POINTS: f32 = 7.0;

    /// Screens a mail with the shipped classifier. `owned_domains` are the
    /// workspace's own (verified) domains: naming or linking to them is not
    /// posing as someone else.
    pub fn screen(mail: &AuthoredMail, owned_domains: &[&str]) -> Screening {
        Self::screen_with(Model::embedded(), mail, owned_domains)
    }

    /// Screens a mail with the given classifier (a retrained one, or one
    /// trained on part of a corpus to measure the rest).
    pub fn screen_with(model: &Model, mail: &AuthoredMail, owned_domains: &[&str]) -> Screening {
        let mut hits = rules::check(mail, owned_domains);
        let (spam_probability, top_tokens) = model.score(mail);
        if let Some(hit) = statistical_hit(spam_probability, &top_tokens) {
            hits.push(hit);
        }
        let (score, verdict) = Self::decide(&hits);
        Screening {
            verdict,
            score,
            hits,
            spam_probability,
            top_tokens,
        }
    }

    /// The score and verdict for a set of hits.
    fn decide(hits: &[Hit]) -> (f32, ContentVerdict) {
        let score: f32 = hits.iter().map(|h| h.score).sum();
        let verdict = if hits.iter().any(|h| rules::blocks(&h.rule)) || score >= Self::BLOCK_AT {
            ContentVerdict::Block
        } else if score >= Self::REVIEW_AT {
            ContentVerdict::Review
        } else {
            ContentVerdict::Send
        };
        (score, verdict)
    }
}

/// The classifier's hit, when its probability is high enough.
fn statistical_hit(probability: f32, top_tokens: &[(String, f32)]) -> Option<Hit> {
    if probability < Screener::STATISTICAL_FROM {
        return None;
    }
    let above = (probability - Screener::STATISTICAL_FROM) / (1.0 - Screener::STATISTICAL_FROM);
    let score = Screener::STATISTICAL_POINTS
        + above.clamp(0.0, 1.0) * (Screener::STATISTICAL_MAX_POINTS - Screener::STATISTICAL_POINTS);
    let reasons: Vec<&str> = top_tokens
        .iter()
        .filter(|(_, weight)| *weight > 0.0)
        .take(6)
        .map(|(name, _)| name.as_str())
        .collect();
    let percent = (probability * 100.0).floor().min(99.0);
    let explanation = if reasons.is_empty() {
        format!(
            "The message reads like bulk spam to the statistical classifier ({percent:.0}% likely). \
             Write plainly about what you offer, without sales pressure."
        )
    } else {
        format!(
            "The message reads like bulk spam to the statistical classifier ({percent:.0}% likely), \
             mostly because of: {}. Reword these parts plainly, without sales pressure.",
            reasons.join(", ")
        )
    };
    let mut snippet = String::new();
    for name in &reasons {
        let sep = if snippet.is_empty() { "" } else { "; " };
        if snippet.chars().count() + sep.len() + name.chars().count() > 200 {
            break;
        }
        snippet.push_str(sep);
        snippet.push_str(name);
    }
    Some(Hit {
        rule: "statistical.looks_like_spam".to_string(),
        explanation,
        snippet,
        score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(rule: &str, score: f32) -> Hit {
        Hit {
            rule: rule.to_string(),
            explanation: String::new(),
            snippet: String::new(),
            score,
        }
    }

    #[test]
    fn verdict_follows_the_score_and_blocking_rules() {
        assert_eq!(Screener::decide(&[]), (0.0, ContentVerdict::Send));
        assert_eq!(
            Screener::decide(&[hit("x.a", 2.0), hit("x.b", 2.5)]).1,
            ContentVerdict::Send
        );
        assert_eq!(
            Screener::decide(&[hit("x.a", 2.0), hit("x.b", 3.0)]),
            (5.0, ContentVerdict::Review)
        );
        assert_eq!(
            Screener::decide(&[hit("x.a", 4.0), hit("x.b", 6.0)]).1,
            ContentVerdict::Block
        );
        if let Some((code, _, _)) = rules::rules().find(|(_, _, blocks)| *blocks) {
            assert_eq!(Screener::decide(&[hit(code, 0.5)]).1, ContentVerdict::Block);
        }
    }

    #[test]
    fn the_classifier_alone_reviews_but_never_blocks() {
        let top = vec![
            ("subject word \"winner\"".to_string(), 4.5),
            ("link to domain example.biz".to_string(), 3.0),
            ("word \"hello\"".to_string(), -1.0),
        ];
        assert_eq!(
            statistical_hit(Screener::STATISTICAL_FROM - 0.01, &top),
            None
        );
        let at_threshold = statistical_hit(Screener::STATISTICAL_FROM, &top).expect("a hit");
        assert_eq!(at_threshold.rule, "statistical.looks_like_spam");
        assert!((at_threshold.score - Screener::STATISTICAL_POINTS).abs() < 1e-4);
        assert!(at_threshold.score >= Screener::REVIEW_AT);
        assert!(at_threshold
            .explanation
            .contains("subject word \"winner\", link to domain example.biz"));
        assert!(!at_threshold.explanation.contains("hello"));
        assert_eq!(
            at_threshold.snippet,
            "subject word \"winner\"; link to domain example.biz"
        );
        let certain = statistical_hit(1.0, &top).expect("a hit");
        assert!((certain.score - Screener::STATISTICAL_MAX_POINTS).abs() < 1e-4);
        assert!(certain.score < Screener::BLOCK_AT);
        assert!(certain.explanation.contains("99% likely"));
        let long: Vec<(String, f32)> = (0..10)
            .map(|i| (format!("word \"{}\"", "x".repeat(40 + i)), 1.0))
            .collect();
        assert!(
            statistical_hit(0.95, &long)
                .expect("a hit")
                .snippet
                .chars()
                .count()
                <= 200
        );
    }

    fn html_mail(from_name: &str, subject: &str, html: &str) -> AuthoredMail {
        AuthoredMail::from_parts(
            Some(from_name),
            "news@shop.example",
            subject,
            "",
            Some(html),
        )
    }

    #[test]
    fn legitimate_marketing_is_sent() {
        let sale = html_mail(
            "Northwind Outdoor",
            "Our autumn sale starts Friday",
            "<p>Hi Sam,</p><p>Our autumn sale starts this Friday: 20% off tents, sleeping bags and \
             rain jackets until Sunday evening, in our shops and online.</p>\
             <p><a href=\"https://northwind.example/sale\">See the sale</a></p>\
             <p>Northwind Outdoor, 12 Harbour Street, Leeds. \
             <a href=\"https://northwind.example/u/123\">Unsubscribe</a></p>",
        );
        let webinar = html_mail(
            "Ledgerly",
            "Webinar: closing the books faster",
            "<p>Join our product team on 14 November at 16:00 CET for a 45-minute webinar on \
             month-end closing with Ledgerly: reconciliations, approvals and the new reports.</p>\
             <p><a href=\"https://ledgerly.example/webinars/close\">Register for the webinar</a></p>\
             <p>Can't make it? Register anyway and we will send you the recording.</p>\
             <p><a href=\"https://ledgerly.example/prefs\">Email preferences</a></p>",
        );
        let update = html_mail(
            "Tracklet",
            "What's new in Tracklet 3.2",
            "<h1>Tracklet 3.2</h1><ul>\
             <li><a href=\"https://tracklet.example/changelog#boards\">Boards</a> can now be shared read-only.</li>\
             <li><a href=\"https://tracklet.example/changelog#import\">Import</a> from CSV keeps your labels.</li>\
             <li><a href=\"https://tracklet.example/changelog#api\">API</a>: new webhooks for comments.</li>\
             <li><a href=\"https://docs.tracklet.example/mobile\">Mobile</a>: offline mode on Android.</li>\
             <li><a href=\"https://tracklet.example/changelog#fixes\">Fixes</a>: 14 bugs squashed.</li></ul>\
             <p>Read the <a href=\"https://tracklet.example/blog/3-2\">release post</a> or \
             <a href=\"https://tracklet.example/support\">contact support</a>.</p>\
             <p><a href=\"https://tracklet.example/unsubscribe\">Unsubscribe</a></p>",
        );
        for mail in [sale, webinar, update] {
            let screening = Screener::screen(
                &mail,
                &["northwind.example", "ledgerly.example", "tracklet.example"],
            );
            assert_eq!(
                screening.verdict,
                ContentVerdict::Send,
                "{}: {screening:?}",
                mail.subject
            );
            assert!(screening.spam_probability < Screener::STATISTICAL_FROM);
        }
    }

    #[test]
    fn get_rich_quick_spam_is_flagged_with_its_reasons() {
        let mail = AuthoredMail::from_parts(
            None,
            "promo@cash.example",
            "MAKE $5,000 A WEEK FROM HOME!!!",
            "Dear Friend, you can earn $5,000 every week from home with our proven system. \
             No experience needed, 100% guaranteed! Click here to order now and start making money \
             today. To be removed from our mailing list reply with REMOVE in the subject.",
            None,
        );
        let screening = Screener::screen(&mail, &[]);
        assert_ne!(screening.verdict, ContentVerdict::Send, "{screening:?}");
        assert!(
            screening.spam_probability >= Screener::STATISTICAL_FROM,
            "{screening:?}"
        );
        let hit = screening
            .hits
            .iter()
            .find(|h| h.rule == "statistical.looks_like_spam")
            .expect("the statistical hit");
        assert!(!hit.snippet.is_empty());
        assert!(!screening.top_tokens.is_empty() && screening.top_tokens.len() <= 10);
        assert!(
            (screening.score - screening.hits.iter().map(|h| h.score).sum::<f32>()).abs() < 1e-4
        );
    }
}
