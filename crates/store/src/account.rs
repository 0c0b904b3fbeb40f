//! Console accounts, their memberships of workspaces, one-time links
//! (invites and password resets) and sessions. Passwords and tokens arrive
//! here already hashed: the store never sees a secret.

use crate::audit;
use crate::{get_as, get_opt_str, get_opt_ts, get_str, get_ts, get_workspace_id, Result, Store};
use sendwell_core::{AccountId, Role, Timestamp, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// One person who signs in to the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    /// The address as typed, in the form [`sendwell_core::EmailAddress::key`] gives.
    pub email: String,
    pub name: String,
    /// Argon2id, PHC string; `None` until the invite is accepted.
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub created_at: Timestamp,
    pub password_set_at: Option<Timestamp>,
}

impl Account {
    /// What audit logs name this person by.
    pub fn actor(&self) -> String {
        format!("member:{}", self.email)
    }
}

/// A member of a workspace, as its member list shows one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub account_id: AccountId,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Whether the person has set a password (accepted the invite).
    pub active: bool,
    pub created_by: String,
    pub created_at: Timestamp,
}

/// A workspace an account belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    pub role: Role,
}

/// A signed-in console session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSession {
    pub account: Account,
    pub workspace_id: Option<WorkspaceId>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
}

/// What a one-time link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    Invite,
    Reset,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Reset => "reset",
        }
    }
}

/// A one-time link about to be stored: the digest of its token and when
/// it stops working.
#[derive(Clone, Copy, Debug)]
pub struct NewToken<'a> {
    pub hash: &'a str,
    pub expires_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberError {
    /// The account is already a member of the workspace.
    AlreadyMember,
    NotFound,
    /// The change would leave the workspace without an admin member.
    LastAdmin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    Unknown,
    Used,
    Expired,
}

pub(crate) const ACCOUNT_COLUMNS: &str =
    "a.id, a.email, a.name, a.password_hash, a.totp_secret, a.created_at, a.password_set_at";

pub(crate) fn account_from(row: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: get_as(row, "id", "account id", AccountId::parse)?,
        email: get_str(row, "email")?,
        name: get_str(row, "name")?,
        password_hash: get_opt_str(row, "password_hash")?,
        totp_secret: get_opt_str(row, "totp_secret")?,
        created_at: get_ts(row, "created_at")?,
        password_set_at: get_opt_ts(row, "password_set_at")?,
    })
}

fn role_from(row: &AnyRow) -> Result<Role> {
    get_as(row, "role", "role", |r| Role::parse(r).ok_or(()))
}

fn member_from(row: &AnyRow) -> Result<Member> {
    Ok(Member {
        account_id: get_as(row, "id", "account id", AccountId::parse)?,
        email: get_str(row, "email")?,
        name: get_str(row, "name")?,
        role: role_from(row)?,
        active: get_opt_str(row, "password_hash")?.is_some(),
        created_by: get_str(row, "created_by")?,
        created_at: get_ts(row, "member_since")?,
    })
}

const SELECT_MEMBER: &str = "SELECT a.id, a.email, a.name, a.password_hash, m.role, m.created_by, \
     m.created_at AS member_since FROM members m JOIN accounts a ON a.id = m.account_id";

/// The account of `email`, made when there is none, and whether it has a
/// password already (an existing account is added, never given a link
/// that would set its password).
pub(crate) async fn account_for_invite(
    tx: &mut Transaction<'_, Any>,
    email: &str,
    now: Timestamp,
) -> Result<(AccountId, bool)> {
    let found = sqlx::query("SELECT id, password_hash FROM accounts WHERE email = $1")
        .bind(email.to_owned())
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(row) = found {
        let id = get_as(&row, "id", "account id", AccountId::parse)?;
        return Ok((id, get_opt_str(&row, "password_hash")?.is_some()));
    }
    // Two workspaces may invite the same new address at once: the second
    // insert finds the first's row.
    let id = AccountId::generate(now);
    sqlx::query(
        "INSERT INTO accounts (id, email, created_at) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING",
    )
    .bind(id.as_str().to_owned())
    .bind(email.to_owned())
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query("SELECT id, password_hash FROM accounts WHERE email = $1")
        .bind(email.to_owned())
        .fetch_one(&mut **tx)
        .await?;
    Ok((
        get_as(&row, "id", "account id", AccountId::parse)?,
        get_opt_str(&row, "password_hash")?.is_some(),
    ))
}

async fn insert_token(
    tx: &mut Transaction<'_, Any>,
    account: &AccountId,
    purpose: TokenPurpose,
    token: NewToken<'_>,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO account_tokens (token_hash, account_id, purpose, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token.hash.to_owned())
    .bind(account.as_str().to_owned())
    .bind(purpose.as_str())
    .bind(now.millis())
    .bind(token.expires_at.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn member_in(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    account: &AccountId,
) -> Result<Option<Member>> {
    let row = sqlx::query(&format!(
        "{SELECT_MEMBER} WHERE m.workspace_id = $1 AND m.account_id = $2"
    ))
    .bind(ws.as_str().to_owned())
    .bind(account.as_str().to_owned())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(member_from).transpose()
}

/// Someone to add to a workspace, with the link that lets them in.
#[derive(Clone, Copy, Debug)]
pub struct Invite<'a> {
    /// In the form [`sendwell_core::EmailAddress::key`] gives.
    pub email: &'a str,
    pub role: Role,
    pub token: NewToken<'a>,
}

/// Adds a member (making the account when there is none) with an invite
/// link, inside the caller's transaction.
pub(crate) async fn insert_member(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    invite: Invite<'_>,
    actor: &str,
    now: Timestamp,
) -> Result<std::result::Result<Member, MemberError>> {
    let (account, active) = account_for_invite(tx, invite.email, now).await?;
    if member_in(tx, ws, &account).await?.is_some() {
        return Ok(Err(MemberError::AlreadyMember));
    }
    sqlx::query(
        "INSERT INTO members (workspace_id, account_id, role, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(ws.as_str().to_owned())
    .bind(account.as_str().to_owned())
    .bind(invite.role.as_str())
    .bind(actor.to_owned())
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    if !active {
        insert_token(tx, &account, TokenPurpose::Invite, invite.token, now).await?;
    }
    let reason = format!(
        "{} invited with role {}",
        invite.email,
        invite.role.as_str()
    );
    audit::record_action(tx, ws, actor, "member.invited", &reason, now).await?;
    let member = member_in(tx, ws, &account)
        .await?
        .ok_or_else(|| crate::StoreError::Integrity("invited member not found".to_owned()))?;
    Ok(Ok(member))
}

/// How many admin members the workspace has besides `account`.
async fn other_admins(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    account: &AccountId,
) -> Result<i64> {
    use sqlx::Row;
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM members WHERE workspace_id = $1 AND role = 'admin' \
         AND account_id <> $2",
    )
    .bind(ws.as_str().to_owned())
    .bind(account.as_str().to_owned())
    .fetch_one(&mut **tx)
    .await?
    .try_get("n")?)
}

/// A write transaction holding the workspace's row lock, so that two
/// admins changing each other's roles cannot both leave it without one.
const LOCK_WORKSPACE: &str = "UPDATE workspaces SET updated_at = updated_at WHERE id = $1";

/// The two kinds of console session, each in its own table: a member's
/// (one workspace at a time) and an operator's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionRealm {
    Member,
    Operator,
}

impl SessionRealm {
    fn table(self) -> &'static str {
        match self {
            Self::Member => "console_sessions",
            Self::Operator => "operator_sessions",
        }
    }
}

impl Store {
    /// Adds `email` to the workspace with `role` (making its account when
    /// it has none) and stores an invite link for it.
    pub async fn invite_member(
        &self,
        ws: &WorkspaceId,
        email: &str,
        role: Role,
        token: NewToken<'_>,
        actor: &str,
    ) -> Result<std::result::Result<Member, MemberError>> {
        let now = self.now();
        let mut tx = self.begin_locked(LOCK_WORKSPACE, ws).await?;
        let invite = Invite { email, role, token };
        let member = insert_member(&mut tx, ws, invite, actor, now).await?;
        if member.is_ok() {
            tx.commit().await?;
        }
        Ok(member)
    }

    /// A new invite link for a member who has not yet accepted one (the
    /// first expired or was lost).
    pub async fn reinvite_member(
        &self,
        ws: &WorkspaceId,
        account: &AccountId,
        token: NewToken<'_>,
        actor: &str,
    ) -> Result<std::result::Result<Member, MemberError>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let Some(member) = member_in(&mut tx, ws, account).await? else {
            return Ok(Err(MemberError::NotFound));
        };
        insert_token(&mut tx, account, TokenPurpose::Invite, token, now).await?;
        let reason = format!("a new invite link for {}", member.email);
        audit::record_action(&mut tx, ws, actor, "member.reinvited", &reason, now).await?;
        tx.commit().await?;
        Ok(Ok(member))
    }

    pub async fn list_members(&self, ws: &WorkspaceId) -> Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "{SELECT_MEMBER} WHERE m.workspace_id = $1 ORDER BY a.email"
        ))
        .bind(ws.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(member_from).collect()
    }

    pub async fn member(&self, ws: &WorkspaceId, account: &AccountId) -> Result<Option<Member>> {
        let row = sqlx::query(&format!(
            "{SELECT_MEMBER} WHERE m.workspace_id = $1 AND m.account_id = $2"
        ))
        .bind(ws.as_str().to_owned())
        .bind(account.as_str().to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(member_from).transpose()
    }

    /// Changes a member's role; the last admin stays an admin.
    pub async fn set_member_role(
        &self,
        ws: &WorkspaceId,
        account: &AccountId,
        role: Role,
        actor: &str,
    ) -> Result<std::result::Result<Member, MemberError>> {
        let now = self.now();
        let mut tx = self.begin_locked(LOCK_WORKSPACE, ws).await?;
        let Some(member) = member_in(&mut tx, ws, account).await? else {
            return Ok(Err(MemberError::NotFound));
        };
        if member.role == Role::Admin
            && role != Role::Admin
            && other_admins(&mut tx, ws, account).await? == 0
        {
            return Ok(Err(MemberError::LastAdmin));
        }
        sqlx::query("UPDATE members SET role = $1 WHERE workspace_id = $2 AND account_id = $3")
            .bind(role.as_str())
            .bind(ws.as_str().to_owned())
            .bind(account.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        let reason = format!(
            "{} changed from {} to {}",
            member.email,
            member.role.as_str(),
            role.as_str()
        );
        audit::record_action(&mut tx, ws, actor, "member.role_changed", &reason, now).await?;
        tx.commit().await?;
        Ok(Ok(Member { role, ..member }))
    }

    /// Removes a member from the workspace and ends their sessions in it;
    /// the last admin cannot be removed.
    pub async fn remove_member(
        &self,
        ws: &WorkspaceId,
        account: &AccountId,
        actor: &str,
    ) -> Result<std::result::Result<Member, MemberError>> {
        let now = self.now();
        let mut tx = self.begin_locked(LOCK_WORKSPACE, ws).await?;
        let Some(member) = member_in(&mut tx, ws, account).await? else {
            return Ok(Err(MemberError::NotFound));
        };
        if member.role == Role::Admin && other_admins(&mut tx, ws, account).await? == 0 {
            return Ok(Err(MemberError::LastAdmin));
        }
        for statement in [
            "DELETE FROM console_sessions WHERE workspace_id = $1 AND account_id = $2",
            "DELETE FROM members WHERE workspace_id = $1 AND account_id = $2",
        ] {
            sqlx::query(statement)
                .bind(ws.as_str().to_owned())
                .bind(account.as_str().to_owned())
                .execute(&mut *tx)
                .await?;
        }
        let reason = format!("{} removed (was {})", member.email, member.role.as_str());
        audit::record_action(&mut tx, ws, actor, "member.removed", &reason, now).await?;
        tx.commit().await?;
        Ok(Ok(member))
    }

    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.email = $1"
        ))
        .bind(email.to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(account_from).transpose()
    }

    pub async fn account(&self, id: &AccountId) -> Result<Option<Account>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"
        ))
        .bind(id.as_str().to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(account_from).transpose()
    }

    /// Turns the account's second factor on (with its secret, hex) or off,
    /// noted in the audit log of each of its workspaces.
    pub async fn set_totp_secret(&self, account: &Account, secret: Option<&str>) -> Result<()> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        sqlx::query("UPDATE accounts SET totp_secret = $1 WHERE id = $2")
            .bind(secret.map(str::to_owned))
            .bind(account.id.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        let (action, reason) = match secret {
            Some(_) => ("member.second_factor_on", "turned two-step sign-in on"),
            None => ("member.second_factor_off", "turned two-step sign-in off"),
        };
        for ws in memberships_in(&mut tx, &account.id).await? {
            let reason = format!("{} {reason}", account.email);
            audit::record_action(&mut tx, &ws, &account.actor(), action, &reason, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The account a live one-time link is for.
    pub async fn token_account(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
    ) -> Result<std::result::Result<Account, TokenError>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS}, t.expires_at AS token_expires, t.used_at AS token_used \
             FROM account_tokens t JOIN accounts a ON a.id = t.account_id \
             WHERE t.token_hash = $1 AND t.purpose = $2"
        ))
        .bind(token_hash.to_owned())
        .bind(purpose.as_str())
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else {
            return Ok(Err(TokenError::Unknown));
        };
        if get_opt_ts(&row, "token_used")?.is_some() {
            return Ok(Err(TokenError::Used));
        }
        if get_ts(&row, "token_expires")? <= self.now() {
            return Ok(Err(TokenError::Expired));
        }
        Ok(Ok(account_from(&row)?))
    }

    /// Uses a one-time link to set the account's password (and name, when
    /// given): the link is spent, every other link of the account with it,
    /// and every session of the account ends.
    pub async fn redeem_token(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        password_hash: &str,
        name: Option<&str>,
    ) -> Result<std::result::Result<Account, TokenError>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
            "SELECT account_id, expires_at, used_at FROM account_tokens \
             WHERE token_hash = $1 AND purpose = $2",
        )
        .bind(token_hash.to_owned())
        .bind(purpose.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Err(TokenError::Unknown));
        };
        if get_opt_ts(&row, "used_at")?.is_some() {
            return Ok(Err(TokenError::Used));
        }
        if get_ts(&row, "expires_at")? <= now {
            return Ok(Err(TokenError::Expired));
        }
        let account = get_as(&row, "account_id", "account id", AccountId::parse)?;
        if purpose == TokenPurpose::Invite {
            let has_password = sqlx::query("SELECT password_hash FROM accounts WHERE id = $1")
                .bind(account.as_str().to_owned())
                .fetch_one(&mut *tx)
                .await?;
            if get_opt_str(&has_password, "password_hash")?.is_some() {
                return Ok(Err(TokenError::Used));
            }
        }
        let spent = sqlx::query(
            "UPDATE account_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        )
        .bind(now.millis())
        .bind(token_hash.to_owned())
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            // Another request spent it between the read and the write.
            return Ok(Err(TokenError::Used));
        }
        // The account's other links stop working with it.
        sqlx::query(
            "UPDATE account_tokens SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL",
        )
        .bind(now.millis())
        .bind(account.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, password_set_at = $2, \
             name = COALESCE($3, name) WHERE id = $4",
        )
        .bind(password_hash.to_owned())
        .bind(now.millis())
        .bind(name.map(str::to_owned))
        .bind(account.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        for table in ["console_sessions", "operator_sessions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                .bind(account.as_str().to_owned())
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"
        ))
        .bind(account.as_str().to_owned())
        .fetch_one(&mut *tx)
        .await?;
        let account = account_from(&row)?;
        let action = match purpose {
            TokenPurpose::Invite => "member.joined",
            TokenPurpose::Reset => "member.password_reset",
        };
        for m in memberships_in(&mut tx, &account.id).await? {
            let reason = format!("{} set a password", account.email);
            audit::record_action(&mut tx, &m, &account.actor(), action, &reason, now).await?;
        }
        tx.commit().await?;
        Ok(Ok(account))
    }

    /// Stores a password-reset link for an account and queues the mail
    /// that carries it (`(subject, raw)`) on the platform's own path; no
    /// workspace sees that mail.
    pub async fn create_reset_token(
        &self,
        account: &Account,
        token: NewToken<'_>,
        mail: (&str, &str),
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        insert_token(&mut tx, &account.id, TokenPurpose::Reset, token, now).await?;
        crate::team::insert_test_mail(&mut tx, "", None, "account", &account.email, mail, now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queues a mail of the platform's own to a console account (an
    /// invite), which no workspace sees.
    pub async fn queue_account_mail(&self, to: &str, mail: (&str, &str)) -> Result<()> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        crate::team::insert_test_mail(&mut tx, "", None, "account", to, mail, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many links of `purpose` the account was given since `since`.
    pub async fn tokens_since(
        &self,
        account: &AccountId,
        purpose: TokenPurpose,
        since: Timestamp,
    ) -> Result<i64> {
        use sqlx::Row;
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM account_tokens WHERE account_id = $1 AND purpose = $2 \
             AND created_at >= $3",
        )
        .bind(account.as_str().to_owned())
        .bind(purpose.as_str())
        .bind(since.millis())
        .fetch_one(&self.read)
        .await?
        .try_get("n")?)
    }

    /// The workspaces an account belongs to, by name.
    pub async fn memberships(&self, account: &AccountId) -> Result<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT m.workspace_id, w.name, m.role FROM members m \
             JOIN workspaces w ON w.id = m.workspace_id WHERE m.account_id = $1 ORDER BY w.name, w.id",
        )
        .bind(account.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Membership {
                    workspace_id: get_workspace_id(row, "workspace_id")?,
                    workspace_name: get_str(row, "name")?,
                    role: role_from(row)?,
                })
            })
            .collect()
    }

    /// Starts a session (`id_hash` is the digest of the cookie's value).
    pub async fn create_session(
        &self,
        id_hash: &str,
        account: &Account,
        ws: Option<&WorkspaceId>,
        client: &str,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, account_id, workspace_id, created_at, last_seen_at, client) \
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(id_hash.to_owned())
        .bind(account.id.as_str().to_owned())
        .bind(ws.map(|w| w.as_str().to_owned()))
        .bind(now.millis())
        .bind(client.to_owned())
        .execute(&mut *tx)
        .await?;
        if let Some(ws) = ws {
            let reason = format!("{} signed in from {client}", account.email);
            audit::record_action(
                &mut tx,
                ws,
                &account.actor(),
                "member.signed_in",
                &reason,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn console_session(&self, id_hash: &str) -> Result<Option<ConsoleSession>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS}, s.workspace_id AS session_workspace, \
             s.created_at AS session_created, s.last_seen_at \
             FROM console_sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id_hash = $1"
        ))
        .bind(id_hash.to_owned())
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let workspace_id = get_opt_str(&row, "session_workspace")?
            .map(|w| {
                WorkspaceId::parse(&w).map_err(|e| crate::StoreError::Integrity(e.to_string()))
            })
            .transpose()?;
        Ok(Some(ConsoleSession {
            account: account_from(&row)?,
            workspace_id,
            created_at: get_ts(&row, "session_created")?,
            last_seen_at: get_ts(&row, "last_seen_at")?,
        }))
    }

    /// Notes that a session of `realm` was used now.
    pub async fn touch_session(&self, realm: SessionRealm, id_hash: &str) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE {} SET last_seen_at = $1 WHERE id_hash = $2",
            realm.table()
        ))
        .bind(self.now().millis())
        .bind(id_hash.to_owned())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Moves a session to another of its account's workspaces.
    pub async fn switch_session_workspace(&self, id_hash: &str, ws: &WorkspaceId) -> Result<()> {
        sqlx::query("UPDATE console_sessions SET workspace_id = $1 WHERE id_hash = $2")
            .bind(ws.as_str().to_owned())
            .bind(id_hash.to_owned())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn end_session(&self, realm: SessionRealm, id_hash: &str) -> Result<()> {
        sqlx::query(&format!("DELETE FROM {} WHERE id_hash = $1", realm.table()))
            .bind(id_hash.to_owned())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Drops one-time links spent or expired before `before`; how many.
    pub async fn prune_account_tokens(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM account_tokens WHERE expires_at < $1 OR used_at < $1")
            .bind(before.millis())
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    /// Drops sessions idle since `idle_before` or started before
    /// `started_before`; how many.
    pub async fn expire_sessions(
        &self,
        idle_before: Timestamp,
        started_before: Timestamp,
    ) -> Result<u64> {
        let mut dropped = 0;
        for table in ["console_sessions", "operator_sessions"] {
            let done = sqlx::query(&format!(
                "DELETE FROM {table} WHERE last_seen_at < $1 OR created_at < $2"
            ))
            .bind(idle_before.millis())
            .bind(started_before.millis())
            .execute(&self.write)
            .await?;
            dropped += done.rows_affected();
        }
        Ok(dropped)
    }
}

async fn memberships_in(
    tx: &mut Transaction<'_, Any>,
    account: &AccountId,
) -> Result<Vec<WorkspaceId>> {
    let rows = sqlx::query("SELECT workspace_id FROM members WHERE account_id = $1")
        .bind(account.as_str().to_owned())
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|r| get_workspace_id(r, "workspace_id"))
        .collect()
}
