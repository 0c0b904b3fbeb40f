//! The domain of sendwell, with no IO: who may send (workspaces, their sending
//! state and the guidelines gate), who may be mailed (contacts and their typed
//! attributes) and the proof that they agreed (the hash-chained consent ledger).
//!
//! Every type here parses rather than validates: an [`EmailAddress`], a
//! [`WorkspaceId`] or a [`consent::ConsentEvent`] cannot exist in an invalid
//! state. Verdicts (may this workspace send? is this chain intact?) are values,
//! not errors.

pub mod attribute;
pub mod consent;
pub mod email;
pub mod filter;
pub mod gate;
pub mod guidelines;
pub mod id;
pub mod message;
pub mod reputation;
pub mod role;
pub mod schedule;
pub mod secret;
pub mod text;
pub mod time;
pub mod workspace;

pub use attribute::{AttributeName, AttributeType, AttributeValue};
pub use email::EmailAddress;
pub use id::{
    AccountId, ApiKeyId, AudienceId, AuditId, ConsentEventId, ContactId, DeliveryId, LinkEventId,
    MessageId, OutboxId, TemplateId, WorkspaceId,
};
pub use message::{DeliveryStatus, MessageKind, MessageState, ReviewState};
pub use role::{can, OperatorRole, Permission, Role};
pub use time::{Clock, SystemClock, Timestamp};
pub use workspace::{SendingState, StateEvent};
