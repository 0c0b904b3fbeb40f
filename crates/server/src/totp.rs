//! Time-based one-time passwords (RFC 6238 over RFC 4226): the console's
//! optional second factor. Six digits, 30-second steps, HMAC-SHA1, as
//! every authenticator app computes them; a code is taken one step early
//! or late for clocks that drift.

use hmac::{Hmac, Mac};
use sendwell_core::secret::random_bytes;

/// Seconds a code lasts.
pub const STEP_SECONDS: i64 = 30;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends).
const SECRET_BYTES: usize = 20;

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    random_bytes::<SECRET_BYTES>().to_vec()
}

/// The six-digit code of `secret` for the step that holds `unix_seconds`.
pub fn code_at(secret: &[u8], unix_seconds: i64) -> u32 {
    hotp(secret, (unix_seconds / STEP_SECONDS).max(0) as u64)
}

fn hotp(secret: &[u8], counter: u64) -> u32 {
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    value % 1_000_000
}

/// The step `code` is good for (now, one before or one after), if any:
/// the caller refuses a step already used, so a code works once.
pub fn verify(secret: &[u8], code: &str, unix_seconds: i64) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let now = unix_seconds / STEP_SECONDS;
    [now, now - 1, now + 1].into_iter().find(|step| {
        *step >= 0
            && sendwell_core::secret::constant_time_eq(
                format!("{:06}", hotp(secret, *step as u64)).as_bytes(),
                format!("{given:06}").as_bytes(),
            )
    })
}

/// RFC 4648 base32 without padding, the form authenticator apps take.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The `otpauth://` URI an authenticator app reads (typed or scanned).
pub fn uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&digits=6&period=30",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, the last six of its eight digits.
    #[test]
    fn codes_match_the_rfc_vectors() {
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59, 287_082),
            (1_111_111_109, 81_804),
            (1_111_111_111, 50_471),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
            (20_000_000_000, 353_130),
        ] {
            assert_eq!(code_at(secret, t), code, "at {t}");
        }
    }

    #[test]
    fn a_code_is_good_one_step_either_way_and_no_further() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code = format!("{:06}", code_at(&secret, now));
        assert_eq!(verify(&secret, &code, now), Some(now / 30));
        assert!(verify(&secret, &code, now + 30).is_some());
        assert!(verify(&secret, &code, now - 30).is_some());
        assert!(verify(&secret, &code, now + 90).is_none());
        assert!(verify(&secret, "12345", now).is_none());
        assert!(verify(&secret, "abcdef", now).is_none());
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }
}
