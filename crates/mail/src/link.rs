//! Signed links: every link sendwell puts in a mail (unsubscribe, opt-in,
//! click tracking, open pixel) carries a token naming the workspace, the
//! contact, the message, the purpose and, where it applies, an expiry and
//! the destination. The server acts only on a token whose HMAC checks, so a
//! recipient cannot unsubscribe someone else, and a click link redirects
//! only to the URL that was in that message: no open redirect.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sendwell_core::Timestamp;

/// What a link is for. Part of the signed data, so a token for one purpose
/// is refused for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Unsubscribe,
    OptIn,
    Click,
    Open,
    /// Confirms a workspace's team address (the address is in the URL
    /// field of the claims).
    Team,
    /// Confirms a sign-up made on a hosted form (the submission's id is
    /// in the message field of the claims).
    Subscribe,
}

impl Purpose {
    fn code(self) -> &'static str {
        match self {
            Self::Unsubscribe => "u",
            Self::OptIn => "i",
            Self::Click => "c",
            Self::Open => "o",
            Self::Team => "t",
            Self::Subscribe => "s",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        match code {
            "u" => Some(Self::Unsubscribe),
            "i" => Some(Self::OptIn),
            "c" => Some(Self::Click),
            "o" => Some(Self::Open),
            "t" => Some(Self::Team),
            "s" => Some(Self::Subscribe),
            _ => None,
        }
    }

    /// The path prefix of the link on the server.
    pub fn path(self) -> &'static str {
        match self {
            Self::Unsubscribe => "/u/",
            Self::OptIn => "/optin/",
            Self::Click => "/c/",
            Self::Open => "/o/",
            Self::Team => "/team/",
            Self::Subscribe => "/confirm/",
        }
    }
}

/// What a token says. Ids are kept as text: they were ours when signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkClaims {
    pub purpose: Purpose,
    pub workspace: String,
    pub contact: String,
    pub message: String,
    /// Seconds since the epoch after which the link no longer works.
    pub expires: Option<i64>,
    /// The destination of a click link.
    pub url: Option<String>,
}

/// Bytes of HMAC-SHA256 kept in a token: 128 bits.
const MAC_LEN: usize = 16;

/// Signs and checks link tokens with a key derived from the instance secret.
#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(..)")
    }
}

impl LinkSigner {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        sendwell_core::secret::hmac_sha256(&self.key, parts)
    }

    pub fn sign(&self, claims: &LinkClaims) -> String {
        let payload = format!(
            "1|{}|{}|{}|{}|{}|{}",
            claims.purpose.code(),
            claims.workspace,
            claims.contact,
            claims.message,
            claims.expires.unwrap_or(0),
            claims.url.as_deref().unwrap_or("")
        );
        let tag = self.mac(&[payload.as_bytes()]);
        let mut token = URL_SAFE_NO_PAD.encode(payload.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(&tag[..MAC_LEN]));
        token
    }

    /// A nonce for the form on the page behind `token`, valid until
    /// `expires` (seconds since the epoch): the confirming POST must carry
    /// it, so a POST needs the page first (no blind replays of a link
    /// that leaked, say through an image URL or a referrer).
    pub fn form_nonce(&self, token: &str, expires: i64) -> String {
        let mac = self.mac(&[
            b"form-nonce|",
            token.as_bytes(),
            b"|",
            expires.to_string().as_bytes(),
        ]);
        URL_SAFE_NO_PAD.encode(&mac[..MAC_LEN])
    }

    /// Whether `nonce` was made for `token` with `expires`, not yet past.
    pub fn check_form_nonce(&self, token: &str, expires: i64, nonce: &str, now: Timestamp) -> bool {
        if now.millis() / 1000 > expires {
            return false;
        }
        let expected = self.form_nonce(token, expires);
        sendwell_core::secret::constant_time_eq(expected.as_bytes(), nonce.as_bytes())
    }

    /// The claims of a token made by this signer for `purpose` and not yet
    /// expired at `now`; `None` for anything else, without saying why.
    pub fn verify(&self, token: &str, purpose: Purpose, now: Timestamp) -> Option<LinkClaims> {
        let (payload_b64, tag_b64) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload_b64).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag_b64).ok()?;
        if tag.len() != MAC_LEN {
            return None;
        }
        let expected = self.mac(&[&payload]);
        if !sendwell_core::secret::constant_time_eq(&expected[..MAC_LEN], &tag) {
            return None;
        }
        let text = String::from_utf8(payload).ok()?;
        let mut parts = text.splitn(7, '|');
        if parts.next()? != "1" {
            return None;
        }
        let found = Purpose::from_code(parts.next()?)?;
        if found != purpose {
            return None;
        }
        let workspace = parts.next()?.to_owned();
        let contact = parts.next()?.to_owned();
        let message = parts.next()?.to_owned();
        let expires: i64 = parts.next()?.parse().ok()?;
        let url = parts.next()?;
        let expires = (expires != 0).then_some(expires);
        if expires.is_some_and(|e| now.millis() / 1000 > e) {
            return None;
        }
        Some(LinkClaims {
            purpose,
            workspace,
            contact,
            message,
            expires,
            url: (!url.is_empty()).then(|| url.to_owned()),
        })
    }
}

/// The links of one mail to one contact.
#[derive(Clone, Debug)]
pub struct MailLinks<'a> {
    pub signer: &'a LinkSigner,
    /// The public base URL of the server, without a trailing slash.
    pub base_url: &'a str,
    pub workspace: &'a str,
    pub contact: &'a str,
    pub message: &'a str,
    /// When the mail is made; opt-in links expire a while after.
    pub now: Timestamp,
}

/// Opt-in buttons work this long after the send.
pub const OPT_IN_LINK_DAYS: i64 = 90;

impl MailLinks<'_> {
    fn link(&self, purpose: Purpose, expires: Option<i64>, url: Option<&str>) -> String {
        let token = self.signer.sign(&LinkClaims {
            purpose,
            workspace: self.workspace.to_owned(),
            contact: self.contact.to_owned(),
            message: self.message.to_owned(),
            expires,
            url: url.map(str::to_owned),
        });
        let mut out = String::with_capacity(self.base_url.len() + token.len() + 8);
        out.push_str(self.base_url);
        out.push_str(purpose.path());
        out.push_str(&token);
        out
    }

    /// Unsubscribe links do not expire: a person may find an old mail.
    pub fn unsubscribe(&self) -> String {
        self.link(Purpose::Unsubscribe, None, None)
    }

    /// The page where the recipient reports the mail: it carries the
    /// unsubscribe token, which proves the mail was received.
    pub fn report(&self) -> String {
        let token = self.unsubscribe_token();
        let mut out = String::with_capacity(self.base_url.len() + token.len() + 8);
        out.push_str(self.base_url);
        out.push_str("/report/");
        out.push_str(&token);
        out
    }

    pub fn opt_in(&self) -> String {
        let expires = self.now.millis() / 1000 + OPT_IN_LINK_DAYS * 86_400;
        self.link(Purpose::OptIn, Some(expires), None)
    }

    pub fn click(&self, url: &str) -> String {
        self.link(Purpose::Click, None, Some(url))
    }

    pub fn open_pixel(&self) -> String {
        self.link(Purpose::Open, None, None)
    }

    /// The token part of the unsubscribe link, for a `mailto:` address.
    pub fn unsubscribe_token(&self) -> String {
        self.signer.sign(&LinkClaims {
            purpose: Purpose::Unsubscribe,
            workspace: self.workspace.to_owned(),
            contact: self.contact.to_owned(),
            message: self.message.to_owned(),
            expires: None,
            url: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(purpose: Purpose) -> LinkClaims {
        LinkClaims {
            purpose,
            workspace: "ws_A".into(),
            contact: "ct_B".into(),
            message: "msg_C".into(),
            expires: None,
            url: (purpose == Purpose::Click).then(|| "https://shop.example.com/a?b=c|d".into()),
        }
    }

    #[test]
    fn signed_tokens_verify_and_give_back_their_claims() {
        let signer = LinkSigner::new([7; 32]);
        for purpose in [
            Purpose::Unsubscribe,
            Purpose::OptIn,
            Purpose::Click,
            Purpose::Open,
        ] {
            let token = signer.sign(&claims(purpose));
            let got = signer.verify(&token, purpose, Timestamp::from_millis(0));
            assert_eq!(got, Some(claims(purpose)));
        }
    }

    #[test]
    fn any_changed_byte_makes_a_token_invalid() {
        let signer = LinkSigner::new([7; 32]);
        let token = signer.sign(&claims(Purpose::Click));
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).expect("ascii");
            if changed != token {
                assert_eq!(
                    signer.verify(&changed, Purpose::Click, Timestamp::from_millis(0)),
                    None,
                    "byte {i}"
                );
            }
        }
    }

    #[test]
    fn a_click_token_with_an_edited_url_is_refused() {
        let signer = LinkSigner::new([7; 32]);
        let token = signer.sign(&claims(Purpose::Click));
        let (payload, tag) = token.split_once('.').expect("dot");
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("utf8");
        let edited = text.replace("shop.example.com", "evil.example.net");
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(edited));
        assert_eq!(
            signer.verify(&forged, Purpose::Click, Timestamp::from_millis(0)),
            None
        );
    }

    #[test]
    fn tokens_are_refused_for_another_purpose_key_or_after_expiry() {
        let signer = LinkSigner::new([7; 32]);
        let token = signer.sign(&claims(Purpose::Unsubscribe));
        assert_eq!(
            signer.verify(&token, Purpose::OptIn, Timestamp::from_millis(0)),
            None
        );
        assert_eq!(
            LinkSigner::new([8; 32]).verify(
                &token,
                Purpose::Unsubscribe,
                Timestamp::from_millis(0)
            ),
            None
        );
        let mut expiring = claims(Purpose::OptIn);
        expiring.expires = Some(1_000);
        let token = signer.sign(&expiring);
        assert!(signer
            .verify(&token, Purpose::OptIn, Timestamp::from_millis(999_000))
            .is_some());
        assert_eq!(
            signer.verify(&token, Purpose::OptIn, Timestamp::from_millis(1_001_000)),
            None
        );
        assert_eq!(
            signer.verify("garbage", Purpose::OptIn, Timestamp::from_millis(0)),
            None
        );
        assert_eq!(
            signer.verify("", Purpose::OptIn, Timestamp::from_millis(0)),
            None
        );
    }
}
