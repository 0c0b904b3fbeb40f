//! Signs the same 3 KB mail with sendwell's DKIM signer and with mail-auth's,
//! RSA-2048 and Ed25519, writes one signed copy of each for dkimpy, and
//! prints signatures a second for each, measured in the same run.
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner as MaDkim;
use sendwell_mail::dkim::{self, DkimAlgorithm, DkimSigner};
use std::time::Instant;

fn mail() -> Vec<u8> {
    let mut body = String::new();
    while body.len() < 3000 {
        body.push_str(
            "A line of ordinary newsletter text, long enough to look like a real mail body.\r\n",
        );
    }
    format!("From: News <news@acme-mail.com>\r\nTo: Ann <ann@receiver-mail.net>\r\nSubject: News\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <x@acme-mail.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}").into_bytes()
}

fn rate(n: u32, f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    f64::from(n) / t.elapsed().as_secs_f64()
}

/// mail-auth's signature of `raw` with `key`, and its signatures a second.
fn theirs<K: mail_auth::common::crypto::SigningKey>(key: K, raw: &[u8], n: u32) -> (f64, Vec<u8>) {
    let headers = [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
    ];
    let signer = MaDkim::from_key(key)
        .domain("acme-mail.com")
        .selector("ma")
        .headers(headers);
    let mut signed = signer.sign(raw).unwrap().to_header().into_bytes();
    signed.extend_from_slice(raw);
    let rate = rate(n, &mut || {
        std::hint::black_box(signer.sign(raw).unwrap());
    });
    (rate, signed)
}

fn main() {
    let raw = mail();
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/dkim-compare".into());
    std::fs::create_dir_all(&out).unwrap();
    for alg in [DkimAlgorithm::Rsa, DkimAlgorithm::Ed25519] {
        let key = dkim::generate(alg).unwrap();
        let ours = DkimSigner::new(alg, "acme-mail.com", "sw", &key.private_pkcs8).unwrap();
        let now = sendwell_core::Timestamp::from_millis(1_796_637_600_000);
        let n = if alg == DkimAlgorithm::Rsa {
            2000
        } else {
            20000
        };
        let signed = dkim::sign(std::slice::from_ref(&ours), &raw, now).unwrap();
        std::fs::write(format!("{out}/ours-{}.eml", alg.as_str()), &signed).unwrap();
        std::fs::write(format!("{out}/{}.txt", alg.as_str()), key.dns_txt()).unwrap();
        let ours_rate = rate(n, &mut || {
            std::hint::black_box(dkim::sign(std::slice::from_ref(&ours), &raw, now).unwrap());
        });
        let (theirs_rate, theirs) = match alg {
            DkimAlgorithm::Rsa => theirs(
                RsaKey::<Sha256>::from_pkcs8_der(&key.private_pkcs8).unwrap(),
                &raw,
                n,
            ),
            _ => theirs(
                Ed25519Key::from_pkcs8_maybe_unchecked_der(&key.private_pkcs8).unwrap(),
                &raw,
                n,
            ),
        };
        std::fs::write(format!("{out}/theirs-{}.eml", alg.as_str()), &theirs).unwrap();
        // Again, so neither profits from running second.
        let ours_again = rate(n, &mut || {
            std::hint::black_box(dkim::sign(std::slice::from_ref(&ours), &raw, now).unwrap());
        });
        println!(
            "{}: sendwell {:.0}/s and {:.0}/s, mail-auth {:.0}/s, ratio {:.2}",
            alg.as_str(),
            ours_rate,
            ours_again,
            theirs_rate,
            ours_rate.max(ours_again) / theirs_rate
        );
    }
}
