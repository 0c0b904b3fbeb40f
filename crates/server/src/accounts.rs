//! Console accounts as a service the API and the console both call:
//! passwords (the rules, Argon2id hashing off the async threads, a bounded
//! number at once), one-time links (invites and resets) and their URLs.

use crate::state::AppState;
use sendwell_core::secret::{random_bytes, sha256_hex, to_hex};
use sendwell_core::{Role, Timestamp, WorkspaceId};
use sendwell_store::{Member, MemberError, NewToken, StoreError};

/// Invite links work this long.
pub const INVITE_DAYS: i64 = 7;
/// Reset links work this long.
pub const RESET_MINUTES: i64 = 60;
/// Fewest and most characters of a password.
pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 200;

/// Passwords so common that their length says nothing; refused whatever
/// their length. (Lists of breached passwords are far longer; these are
/// the ones that pass the length rule.)
const COMMON: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789012",
    "0987654321",
    "qwertyuiop",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "password123",
    "password1234",
    "passwordpassword",
    "iloveyou123",
    "qwerty12345",
    "qwerty123456",
    "abcdefghij",
    "abc1234567",
    "aaaaaaaaaa",
    "letmein123",
    "welcome123",
    "changeme123",
    "administrator",
];

/// A password that passed the rules; never printed.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    /// The rules, each with what to do instead: long enough, not absurdly
    /// long (it is hashed with a memory-hard function), not a well-known
    /// password and not the person's own address.
    pub fn parse(text: &str, email: &str) -> Result<Self, String> {
        let chars = text.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(format!(
                "The password must be at least {MIN_PASSWORD_CHARS} characters long; this one has {chars}. A few unrelated words make a long password that is easy to remember."
            ));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(format!(
                "The password may have at most {MAX_PASSWORD_CHARS} characters; this one has {chars}."
            ));
        }
        let lower = text.to_lowercase();
        if COMMON.contains(&lower.as_str()) || lower.chars().all(|c| lower.starts_with(c)) {
            return Err(
                "This password is one of the first that anyone guessing would try; choose another."
                    .to_owned(),
            );
        }
        if lower == email.to_lowercase() || lower == email.split('@').next().unwrap_or("") {
            return Err("The password must not be your email address; choose another.".to_owned());
        }
        Ok(Self(text.to_owned()))
    }
}

/// Hashes at most this many passwords at once: each takes 19 MiB and tens
/// of milliseconds, so a flood of sign-ins waits instead of taking every
/// core and all the memory.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

fn argon2() -> argon2::Argon2<'static> {
    // Argon2id with the parameters OWASP recommends (19 MiB, 2 passes, 1
    // lane), which are also the crate's defaults.
    argon2::Argon2::default()
}

/// The PHC string of `password`, hashed with a fresh salt.
pub async fn hash_password(password: &Password) -> Result<String, String> {
    let _permit = HASHING.acquire().await.map_err(|e| e.to_string())?;
    let secret = password.0.clone();
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(|e| e.to_string())?;
        argon2()
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// A hash of nothing anyone can type, verified when an address has no
/// account, so that a wrong address takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        use argon2::password_hash::{PasswordHasher, SaltString};
        SaltString::encode_b64(&random_bytes::<16>())
            .ok()
            .and_then(|salt| {
                argon2()
                    .hash_password(&random_bytes::<32>(), &salt)
                    .ok()
                    .map(|h| h.to_string())
            })
            .unwrap_or_default()
    })
}

/// Too many passwords are being checked to wait for a turn.
#[derive(Debug)]
pub struct Busy;

/// How long a check waits for a turn before the request is refused.
const HASHING_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether `text` is the password of `hash` (`None`: no account, which
/// costs the same time and is never true); `Busy` when no turn came
/// within a few seconds, so a flood of sign-ins is refused rather than
/// queued without end.
pub async fn verify_password(text: &str, hash: Option<&str>) -> Result<bool, Busy> {
    let permit = tokio::time::timeout(HASHING_WAIT, HASHING.acquire()).await;
    let Ok(Ok(_permit)) = permit else {
        return Err(Busy);
    };
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| decoy_hash()).to_owned();
    let text = text.to_owned();
    let verified = tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        PasswordHash::new(&hash)
            .map(|parsed| argon2().verify_password(text.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    Ok(known && verified)
}

/// A new random token (64 hex digits) and the digest the store keeps.
pub fn new_token() -> (String, String) {
    let token = to_hex(&random_bytes::<32>());
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// Whether `text` could be a token at all (64 lower-case hex digits).
pub fn looks_like_token(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The address of an invite link.
pub fn invite_url(state: &AppState, token: &str) -> String {
    format!("{}/invite/{token}", state.public_url())
}

/// The address of a password reset link.
pub fn reset_url(state: &AppState, token: &str) -> String {
    format!("{}/reset/{token}", state.public_url())
}

/// When an invite made now stops working.
pub fn invite_expiry(now: Timestamp) -> Timestamp {
    Timestamp::from_millis(now.millis() + INVITE_DAYS * 86_400_000)
}

/// An invited member and the link to pass them: none when the person has
/// an account already (they sign in with it; a link that set a password
/// would let any workspace's admin take over their account).
pub struct Invited {
    pub member: Member,
    pub invite_url: Option<String>,
}

/// Invites one workspace may send in a day: each mails someone who is not
/// a member yet, from the platform's own address.
pub const INVITES_PER_DAY: u32 = 50;

/// Whether the workspace may send one more invite today (counted here).
pub fn invite_allowed(state: &AppState, ws: &WorkspaceId) -> bool {
    state.allow(
        "invites",
        ws.as_str(),
        INVITES_PER_DAY,
        std::time::Duration::from_secs(86_400),
    )
}

/// What to tell someone over the invite limit.
pub fn too_many_invites() -> String {
    format!("This workspace sent its {INVITES_PER_DAY} invites for today; send more tomorrow.")
}

/// Adds `email` to the workspace with `role` and makes their invite link.
pub async fn invite(
    state: &AppState,
    ws: &WorkspaceId,
    email: &str,
    role: Role,
    actor: &str,
) -> Result<Result<Invited, MemberError>, StoreError> {
    let (token, hash) = new_token();
    let expires_at = invite_expiry(state.store.now());
    let token_row = NewToken {
        hash: &hash,
        expires_at,
    };
    let invited = state
        .store
        .invite_member(ws, email, role, token_row, actor)
        .await?
        .map(|member| Invited {
            invite_url: (!member.active).then(|| invite_url(state, &token)),
            member,
        });
    if let Ok(invited) = &invited {
        let sign_in = format!("{}/login", state.public_url());
        let link = invited.invite_url.as_deref().unwrap_or(&sign_in);
        mail_invite_logged(state, ws, email, link, invited.invite_url.is_none()).await;
    }
    Ok(invited)
}

/// A mail of the platform's own to a person: the subject and RFC 5322 text.
fn account_mail(state: &AppState, to: &str, subject: &str, text: &str) -> Result<String, String> {
    use sendwell_mail::mime::{Mailbox, OutgoingMail};
    let from = Mailbox {
        name: Some("sendwell".to_owned()),
        address: format!("no-reply@{}", state.bounce_domain()),
    };
    let to = Mailbox {
        name: None,
        address: to.to_owned(),
    };
    let message_id = format!(
        "account.{}@{}",
        &to_hex(&random_bytes::<12>()),
        state.public_host()
    );
    let raw = OutgoingMail {
        from: &from,
        to: &to,
        reply_to: None,
        subject,
        date: state.store.now(),
        message_id: &message_id,
        headers: &[],
        text,
        html: None,
    }
    .build()
    .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

/// Mails a reset link to the account of `email`, if there is one and it
/// has not had [`RESETS_PER_HOUR`] already; silent otherwise, so the
/// answer does not tell who has an account.
pub async fn mail_reset_link(state: &AppState, email: &str) -> Result<(), String> {
    let Some(account) = state
        .store
        .account_by_email(email)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let now = state.store.now();
    let hour_ago = Timestamp::from_millis(now.millis() - 3_600_000);
    let recent = state
        .store
        .tokens_since(&account.id, sendwell_store::TokenPurpose::Reset, hour_ago)
        .await
        .map_err(|e| e.to_string())?;
    if recent >= RESETS_PER_HOUR {
        return Ok(());
    }
    let (token, hash) = new_token();
    let link = reset_url(state, &token);
    let subject = "Choose a new sendwell password";
    let text = format!(
        "Someone asked to reset the password of the sendwell account {email}.\r\n\r\n\
         To choose a new password, open this link (it works for {RESET_MINUTES} minutes, once):\r\n{link}\r\n\r\n\
         If it was not you, ignore this mail: your password stays as it is.\r\n"
    );
    let raw = account_mail(state, &account.email, subject, &text)?;
    let token_row = NewToken {
        hash: &hash,
        expires_at: Timestamp::from_millis(now.millis() + RESET_MINUTES * 60_000),
    };
    state
        .store
        .create_reset_token(&account, token_row, (subject, &raw))
        .await
        .map_err(|e| e.to_string())?;
    state.notify_queued();
    Ok(())
}

/// Mails an invite link to a new member, through the platform's own path.
pub async fn mail_invite(
    state: &AppState,
    workspace: &str,
    email: &str,
    invite_url: &str,
    has_account: bool,
) -> Result<(), String> {
    let subject = format!(
        "You are invited to {} on sendwell",
        workspace.replace(['\r', '\n'], " ")
    );
    let text = if has_account {
        format!(
            "You were added to the workspace {workspace} on sendwell.\r\n\r\n\
             Sign in as usual, with the password you already have, and choose it among your workspaces:\r\n{invite_url}\r\n"
        )
    } else {
        format!(
        "You were invited to the workspace {workspace} on sendwell, the service it sends its mail with.\r\n\r\n\
         To accept, open this link and choose a password (it works for {INVITE_DAYS} days, once):\r\n{invite_url}\r\n\r\n\
         If you did not expect this, ignore this mail.\r\n"
    )
    };
    let raw = account_mail(state, email, &subject, &text)?;
    state
        .store
        .queue_account_mail(email, (&subject, &raw))
        .await
        .map_err(|e| e.to_string())?;
    state.notify_queued();
    Ok(())
}

/// Mails an invite (or, to a person with an account, the notice that they
/// were added) naming the workspace; a mail that cannot be queued is
/// logged, not a failed invite: the link is in the inviter's answer too.
pub async fn mail_invite_logged(
    state: &AppState,
    ws: &WorkspaceId,
    email: &str,
    link: &str,
    has_account: bool,
) {
    let name = state
        .store
        .workspace(ws)
        .await
        .ok()
        .flatten()
        .map(|w| w.name);
    let name = name.as_deref().unwrap_or("a workspace");
    if let Err(e) = mail_invite(state, name, email, link, has_account).await {
        tracing::warn!(error = %e, "could not queue the invite mail");
    }
}

/// Reset links one account may be sent in an hour.
pub const RESETS_PER_HOUR: i64 = 3;

/// What a member error means to a person, with what to do.
pub fn member_error_text(e: MemberError) -> &'static str {
    match e {
        MemberError::AlreadyMember => {
            "This address is already a member of the workspace; change its role instead."
        }
        MemberError::NotFound => "There is no such member in this workspace.",
        MemberError::LastAdmin => {
            "This is the workspace's only admin member: make another member an admin first."
        }
    }
}

/// Gives `email` a role on the delivery team (`sendwell operator
/// add-user`): the operator, and the one-time setup link (7 days) that
/// sets their password and second factor together. Running it again for
/// the same person gives a new link (a lost phone) and ends their
/// operator sessions.
pub async fn add_operator(
    state: &AppState,
    email: &sendwell_core::EmailAddress,
    role: sendwell_core::OperatorRole,
    actor: &str,
) -> Result<(sendwell_store::Operator, String), StoreError> {
    let (token, hash) = new_token();
    let operator = state
        .store
        .add_operator(
            email.key(),
            role,
            NewToken {
                hash: &hash,
                expires_at: invite_expiry(state.store.now()),
            },
            actor,
        )
        .await?;
    Ok((operator, operator_setup_url(state, &token)))
}

/// The address of an operator's setup link.
pub fn operator_setup_url(state: &AppState, token: &str) -> String {
    format!("{}/operator/setup/{token}", state.public_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules_say_what_is_wrong() {
        let short = Password::parse("short", "a@example.com").expect_err("refused");
        assert!(short.contains("at least 10"), "{short}");
        let common = Password::parse("Password123", "a@example.com").expect_err("refused");
        assert!(common.contains("guessing"), "{common}");
        let same = Password::parse("alice@example.com", "alice@example.com").expect_err("refused");
        assert!(same.contains("email"), "{same}");
        let repeated = Password::parse("zzzzzzzzzzzz", "a@example.com").expect_err("refused");
        assert!(repeated.contains("guessing"), "{repeated}");
        let long = "x".repeat(150) + &"y".repeat(60);
        assert!(Password::parse(&long, "a@example.com").is_err());
        assert!(Password::parse("correct horse battery", "a@example.com").is_ok());
    }

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let password = Password::parse("correct horse battery", "a@example.com").expect("works");
        let hash = hash_password(&password).await.expect("works");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", Some(&hash))
            .await
            .expect("a turn"));
        assert!(!verify_password("correct horse battery!", Some(&hash))
            .await
            .expect("a turn"));
        assert!(!verify_password("correct horse battery", None)
            .await
            .expect("a turn"));
        assert!(!verify_password("x", Some("not a hash"))
            .await
            .expect("a turn"));
    }

    #[test]
    fn tokens_are_random_and_digested() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert!(looks_like_token(&a));
        assert_eq!(token_hash(&a), ha);
        assert!(!looks_like_token("../../etc"));
    }
}
