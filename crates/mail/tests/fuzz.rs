//! Property tests over the parsers of the mail crate that take input from
//! outside: bounce and complaint reports, templates (compiled and rendered
//! under their budgets), signed link tokens, VERP addresses and our
//! Message-IDs. Each must never panic, whatever it is given.
//!
//! CI runs 256 cases a property; `PROPTEST_CASES=100000` runs the budget
//! recorded in docs/BENCHMARKS.md. Bounce inputs include mutations of the
//! development corpus (`../shared/corpus/bounces`) when it is there.

use proptest::prelude::*;
use sendwell_core::Timestamp;
use sendwell_mail::template::{CompileInput, CompiledTemplate, TemplateSource};
use sendwell_mail::{
    render_mail, Envelope, LinkClaims, LinkSigner, MailLinks, Mailbox, Purpose, Recipient,
    RenderLimits, VerpSigner,
};
use std::sync::OnceLock;

fn config() -> ProptestConfig {
    ProptestConfig {
        // Failures are reported with their input; no files are written.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Up to 40 messages of the bounce corpus, the seeds of the mutations.
fn corpus() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/bounces/emails/maildir/bsd");
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read(e.path()).ok())
                    .take(40)
                    .collect()
            })
            .unwrap_or_default();
        if seeds.is_empty() {
            seeds.push(
                b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n--B\r\n\
                  Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\n\
                  Action: failed\r\nStatus: 5.1.1\r\n--B--\r\n"
                    .to_vec(),
            );
        }
        seeds
    })
}

/// A corpus message with a few bytes changed, cut, or repeated.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        0..corpus().len(),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        any::<usize>(),
        any::<bool>(),
    )
        .prop_map(|(i, edits, cut, double)| {
            let mut m = corpus()[i].clone();
            for (at, b) in edits {
                if !m.is_empty() {
                    let at = at % m.len();
                    m[at] = b;
                }
            }
            if !m.is_empty() {
                m.truncate(cut % m.len() + 1);
            }
            if double {
                let copy = m.clone();
                m.extend_from_slice(&copy);
            }
            m
        })
}

/// Text made of the characters a template's syntax is built from.
fn template_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("{{ ".to_owned()),
        Just(" }}".to_owned()),
        Just("{% ".to_owned()),
        Just(" %}".to_owned()),
        Just("for i in (1..".to_owned()),
        Just(") ".to_owned()),
        Just("endfor".to_owned()),
        Just("if ".to_owned()),
        Just("endif".to_owned()),
        Just("capture c".to_owned()),
        Just("endcapture".to_owned()),
        Just("assign s = s | append: s".to_owned()),
        Just(" | replace: 'a', s".to_owned()),
        Just(" | divided_by: -1".to_owned()),
        Just(" | plus: 9223372036854775807".to_owned()),
        Just(" | slice: 1, 9223372036854775807".to_owned()),
        Just("first_name".to_owned()),
        Just("code".to_owned()),
        Just("unsubscribe_url".to_owned()),
        Just("opt_in_button \"Yes\"".to_owned()),
        Just("<a href=\"https://x.example/".to_owned()),
        Just("\">".to_owned()),
        Just("</a>".to_owned()),
        Just("9223372036854775807".to_owned()),
        Just("-9223372036854775808".to_owned()),
        any::<String>(),
    ];
    proptest::collection::vec(pieces, 0..24).prop_map(|p| p.concat())
}

fn render_one(html: &str, code: &str) {
    let Ok(t) = CompiledTemplate::compile(&CompileInput {
        source: &TemplateSource::custom(html),
        subject: "Hi {{ first_name }}",
        from_name: None,
        attributes: &["code".to_owned()],
    }) else {
        return;
    };
    let from = Mailbox {
        name: None,
        address: "news@acme-mail.com".to_owned(),
    };
    let env = envelope(&from);
    let mut attributes = serde_json::Map::new();
    attributes.insert(
        "code".to_owned(),
        serde_json::Value::String(code.to_owned()),
    );
    let rcpt = Recipient {
        contact_id: "ct_01J9ZK3Q4R5S6T7V8W9X0Y1Z2B",
        email: "ann@example.com",
        name: Some("Ann"),
        external_id: None,
        attributes: &attributes,
        data: None,
    };
    let signer = LinkSigner::new([3; 32]);
    let links = MailLinks {
        signer: &signer,
        base_url: "https://mail.example.com",
        workspace: env.workspace_id,
        contact: rcpt.contact_id,
        message: "msg_01J9ZK3Q4R5S6T7V8W9X0Y1Z2C",
        now: env.date,
    };
    let _ = render_mail(&t, &env, &rcpt, &links, "m@mail.example.com");
}

/// A marketing mail from `from`, tracked, with a 200 ms render budget.
fn envelope(from: &Mailbox) -> Envelope<'_> {
    let limits = RenderLimits {
        max_time: std::time::Duration::from_millis(200),
        ..RenderLimits::default()
    };
    Envelope {
        from,
        reply_to: None,
        kind: sendwell_core::MessageKind::Marketing,
        topic: "general",
        workspace_id: "ws_01J9ZK3Q4R5S6T7V8W9X0Y1Z2A",
        workspace_name: "Acme",
        physical_address: "1 Main Street",
        host: "mail.example.com",
        mailto_domain: "mail.example.com",
        track_clicks: true,
        track_opens: true,
        date: Timestamp::from_millis(1_700_000_000_000),
        limits,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn bounce_parser_never_panics_on_bytes(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = sendwell_mail::bounce::parse(&data);
    }

    #[test]
    fn bounce_parser_never_panics_on_mutated_reports(data in mutated()) {
        let _ = sendwell_mail::bounce::parse(&data);
    }

    #[test]
    fn templates_compile_and_render_within_budget_or_refuse(html in template_text(), code in prop_oneof![Just("-9223372036854775808".to_owned()), Just("3000".to_owned()), any::<String>()]) {
        render_one(&html, &code);
    }

    #[test]
    fn link_tokens_are_refused_or_read_never_panic(token in prop_oneof![any::<String>(), "[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,30}"]) {
        let signer = LinkSigner::new([9; 32]);
        for purpose in [Purpose::Unsubscribe, Purpose::OptIn, Purpose::Click, Purpose::Open] {
            let _ = signer.verify(&token, purpose, Timestamp::from_millis(0));
        }
        let _ = signer.check_form_nonce(&token, 0, &token, Timestamp::from_millis(0));
    }

    #[test]
    fn a_signed_token_reads_back_and_any_change_is_refused(contact in "[a-z0-9_]{1,30}", url in any::<String>().prop_filter("an empty URL means none", |u| !u.is_empty()), flip in any::<usize>()) {
        let signer = LinkSigner::new([9; 32]);
        let claims = LinkClaims {
            purpose: Purpose::Click,
            workspace: "ws_1".to_owned(),
            contact,
            message: "msg_1".to_owned(),
            expires: None,
            url: Some(url),
        };
        let token = signer.sign(&claims);
        let now = Timestamp::from_millis(0);
        prop_assert_eq!(signer.verify(&token, Purpose::Click, now), Some(claims));
        let mut bytes = token.clone().into_bytes();
        let at = flip % bytes.len();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).unwrap_or_default();
        if changed != token {
            prop_assert!(signer.verify(&changed, Purpose::Click, now).is_none());
        }
    }

    #[test]
    fn verp_addresses_and_message_ids_never_panic(text in any::<String>(), local in "bounces\\+[A-Za-z0-9_.]{0,60}=[0-9a-f]{0,24}") {
        let verp = VerpSigner::new([5; 32]);
        for input in [&text, &local] {
            let _ = verp.delivery_of(input);
            let _ = verp.delivery_of(&format!("{input}@bounce.example"));
            let _ = verp.delivery_of_message_id(input);
            let _ = sendwell_mail::verp::unverified_delivery_of_message_id(input);
        }
    }
}
