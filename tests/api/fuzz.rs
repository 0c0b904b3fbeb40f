//! Property tests of the inputs that reach a running server from outside:
//! provider webhook bodies (Mailgun and SendGrid correctly signed, so the
//! parsing behind the signature check is reached; Postmark with its URL
//! token; SES/SNS), CSV imports, and the inbound SMTP server's command
//! parser. Whatever comes in, the answer is never a 500 and the server
//! never panics (a panic in a handler would show as a 500 or a dropped
//! connection).
//!
//! CI runs 64 cases a property (`PROPTEST_CASES` sets more: the run in
//! docs/BENCHMARKS.md used 100000).

use crate::support::TestApp;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use std::sync::Arc;

const MAILGUN_KEY: &str = "key-fuzz-mailgun-0123456789";
const POSTMARK_TOKEN: &str = "postmark-fuzz-token-0123456789";

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// JSON shaped like provider events: known keys with any values.
fn event_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::from),
        prop_oneof![
            Just("bounce"),
            Just("failed"),
            Just("complained"),
            Just("spamreport"),
            Just("dropped"),
            Just("Bounce"),
            Just("SpamComplaint"),
            Just("Notification"),
            Just("permanent"),
            Just("<msg_01J9ZK3Q4R5S6T7V8W9X0Y1Z2A.ct_01J9ZK3Q4R5S6T7V8W9X0Y1Z2B@x>"),
            Just("a@b.example"),
            Just("550 5.1.1 user unknown"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("event".to_owned()),
            Just("recipient".to_owned()),
            Just("message".to_owned()),
            Just("headers".to_owned()),
            Just("message-id".to_owned()),
            Just("severity".to_owned()),
            Just("delivery-status".to_owned()),
            Just("email".to_owned()),
            Just("sg_message_id".to_owned()),
            Just("smtp-id".to_owned()),
            Just("RecordType".to_owned()),
            Just("MessageID".to_owned()),
            Just("Type".to_owned()),
            Just("Message".to_owned()),
            Just("bounceType".to_owned()),
            Just("mail".to_owned()),
            Just("Email".to_owned()),
            Just("reason".to_owned()),
            any::<String>(),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn mailgun_signed(event: Value, ts: i64) -> Value {
    use hmac::Mac;
    let token = "f1e2d3c4b5a6978877665544332211";
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(MAILGUN_KEY.as_bytes()).expect("key");
    mac.update(format!("{ts}{token}").as_bytes());
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({"signature": {"timestamp": ts.to_string(), "token": token, "signature": sig}, "event-data": event})
}

#[test]
fn provider_webhook_bodies_never_make_a_500() {
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let rt = runtime();
    let sendgrid = Arc::new(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("key"));
    let mut spki = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    spki.extend_from_slice(sendgrid.public_key().as_ref());
    let sendgrid_key = b64.encode(&spki);
    let app = rt.block_on(TestApp::spawn_with(None, |s| {
        s.delivery.providers.mailgun_signing_key = Some(MAILGUN_KEY.to_owned());
        s.delivery.providers.sendgrid_verification_key = Some(sendgrid_key.clone());
        s.delivery.providers.postmark_webhook_token = Some(POSTMARK_TOKEN.to_owned());
        s.delivery.providers.ses_topic_arns =
            vec!["arn:aws:sns:eu-west-1:123456789012:ses".to_owned()];
    }));
    let strategy = (
        event_json(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..512),
    );
    runner()
        .run(&strategy, |(event, which, raw)| {
            rt.block_on(async {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                let (path, body, headers): (String, Vec<u8>, Vec<(&str, String)>) = match which % 5
                {
                    0 => (
                        "/v1/webhooks/mailgun".to_owned(),
                        mailgun_signed(event, now).to_string().into_bytes(),
                        vec![],
                    ),
                    1 => {
                        let body = Value::Array(vec![event]).to_string();
                        let ts = now.to_string();
                        let rng = aws_lc_rs::rand::SystemRandom::new();
                        let sig = sendgrid
                            .sign(&rng, format!("{ts}{body}").as_bytes())
                            .expect("sign");
                        (
                            "/v1/webhooks/sendgrid".to_owned(),
                            body.into_bytes(),
                            vec![
                                (
                                    "X-Twilio-Email-Event-Webhook-Signature",
                                    b64.encode(sig.as_ref()),
                                ),
                                ("X-Twilio-Email-Event-Webhook-Timestamp", ts),
                            ],
                        )
                    }
                    2 => (
                        format!("/v1/webhooks/postmark?token={POSTMARK_TOKEN}"),
                        event.to_string().into_bytes(),
                        vec![],
                    ),
                    3 => (
                        "/v1/webhooks/ses".to_owned(),
                        event.to_string().into_bytes(),
                        vec![],
                    ),
                    _ => ("/v1/webhooks/mailgun".to_owned(), raw, vec![]),
                };
                let mut req = app
                    .client
                    .post(app.url(&path))
                    .header("content-type", "application/json")
                    .body(body);
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                let status = req.send().await.expect("an answer").status().as_u16();
                prop_assert!(status < 500, "{path} answered {status}");
                Ok(())
            })
        })
        .expect("no input makes a 500");
}

/// CSV-ish bytes: header words, separators, quotes, line breaks, addresses.
fn csv_bytes() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop_oneof![
        Just(b"email".to_vec()),
        Just(b"external_id".to_vec()),
        Just(b"name".to_vec()),
        Just(b"plan".to_vec()),
        Just(b"signed_up_at".to_vec()),
        Just(b",".to_vec()),
        Just(b";".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"ann@receiver-mail.net".to_vec()),
        Just(b"info@gmial.com".to_vec()),
        Just(b"2026-01-15".to_vec()),
        Just(b"true".to_vec()),
        Just(b"42".to_vec()),
        Just(vec![0xEF, 0xBB, 0xBF]),
        proptest::collection::vec(any::<u8>(), 0..16),
    ];
    proptest::collection::vec(pieces, 0..40).prop_map(|p| p.concat())
}

#[test]
fn csv_imports_never_make_a_500() {
    let rt = runtime();
    let app = rt.block_on(TestApp::spawn(None));
    let ws = rt.block_on(app.ready_workspace("Acme"));
    runner()
        .run(&csv_bytes(), |csv| {
            rt.block_on(async {
                let status = app
                    .client
                    .post(app.url("/v1/imports?source=product_users"))
                    .bearer_auth(&ws.key)
                    .header("content-type", "text/csv")
                    .body(csv)
                    .send()
                    .await
                    .expect("an answer")
                    .status()
                    .as_u16();
                prop_assert!(status < 500, "the import answered {status}");
                Ok(())
            })
        })
        .expect("no CSV makes a 500");
}

/// SMTP-ish lines: verbs, paths, parameters, and anything.
fn smtp_session() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just("EHLO mx.example".to_owned()),
        Just("HELO x".to_owned()),
        Just("MAIL FROM:<>".to_owned()),
        Just("MAIL FROM:<a@b.example> SIZE=99999999999999999999".to_owned()),
        Just("MAIL FROM:<a@b.example> BODY=8BITMIME".to_owned()),
        Just("RCPT TO:<abuse@bounces.sendwell.test>".to_owned()),
        Just("RCPT TO:<>".to_owned()),
        Just("RCPT TO:".to_owned()),
        Just("DATA".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("RSET".to_owned()),
        Just("NOOP".to_owned()),
        Just("STARTTLS".to_owned()),
        Just("VRFY x".to_owned()),
        any::<String>(),
    ];
    proptest::collection::vec(line, 0..20).prop_map(|lines| {
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"QUIT\r\n");
        out
    })
}

#[test]
fn inbound_smtp_sessions_never_crash_the_server() {
    use sendwell_server::smtp::server::{InboundLimits, InboundServer, Recipients};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = runtime();
    let all: Recipients = Arc::new(|to: &str| {
        if to.ends_with("@bounces.sendwell.test") {
            Ok(())
        } else {
            Err((550, "5.1.1 no".to_owned()))
        }
    });
    let limits = InboundLimits {
        command_timeout: std::time::Duration::from_secs(2),
        data_timeout: std::time::Duration::from_secs(2),
        max_per_ip: 1000,
        ..InboundLimits::default()
    };
    let (server, mut rx) = rt
        .block_on(InboundServer::start(
            "127.0.0.1:0".parse().expect("addr"),
            "bounces.sendwell.test",
            limits,
            all,
            None,
        ))
        .expect("starts");
    rt.spawn(async move { while rx.recv().await.is_some() {} });
    let addr = server.addr();
    runner()
        .run(&smtp_session(), |session| {
            rt.block_on(async {
                let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let _ = conn.write_all(&session).await;
                let _ = conn.shutdown().await;
                let mut answer = Vec::new();
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    conn.read_to_end(&mut answer),
                )
                .await;
                let text = String::from_utf8_lossy(&answer);
                prop_assert!(text.starts_with("220 "), "greeted: {text}");
                Ok(())
            })
        })
        .expect("no session crashes the server");
    // Still serving after all of that.
    rt.block_on(async {
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut greeting = [0u8; 3];
        conn.read_exact(&mut greeting).await.expect("greeting");
        assert_eq!(&greeting, b"220");
    });
}
