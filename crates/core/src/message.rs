//! What a message is for, which decides who may receive it, and the states
//! a message and each of its deliveries go through.

use std::fmt;

/// An enum whose variants are stored and shown by name: `ALL` in order,
/// `as_str`, `parse` and `Display`, written once for every such state.
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|k| k.as_str() == text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Compares with a stored or shown name, as tests and logs have it.
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// Where one delivery (one message to one contact) stands. The
    /// database's CHECK constraint lists the same names (migration 0012).
    DeliveryStatus {
        /// Held with its message for the operator's content review.
        Review = "review",
        /// Waiting for a worker, now or at `next_attempt_at`.
        Queued = "queued",
        /// Claimed by a worker under a lease.
        Sending = "sending",
        /// Accepted by the receiving server (or captured).
        Delivered = "delivered",
        /// Failed for now; tried again later.
        Deferred = "deferred",
        /// Refused for good by the receiving server.
        Bounced = "bounced",
        /// Given up.
        Failed = "failed",
        /// Kept while the workspace may not send.
        Held = "held",
        /// Not sent: the contact may no longer receive it.
        Skipped = "skipped",
        /// Never to be sent: the workspace's sending was withdrawn, or the
        /// workspace cancelled the message.
        Cancelled = "cancelled",
        /// Stopped with its message, which the workspace paused; queued
        /// again when it resumes it.
        Paused = "paused",
    }
);

impl MessageState {
    /// Sent: handed to the queue, whatever happened to it since.
    pub fn is_sent(self) -> bool {
        !matches!(self, Self::Draft | Self::Scheduled | Self::Held)
    }
}

impl DeliveryStatus {
    /// Still on its way: waiting, being sent or to be tried again.
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Queued | Self::Sending | Self::Deferred)
    }
}

named_enum!(
    /// Where a message stands: composed, handed to the queue, and perhaps
    /// paused or cancelled by the workspace on its way.
    MessageState {
        /// Being composed; may still be changed and checked.
        Draft = "draft",
        /// Sent: its deliveries are queued (or held for review).
        Queued = "queued",
        /// Sent, then paused: its waiting deliveries wait until resumed.
        Paused = "paused",
        /// Sent, then cancelled: what had not gone never will.
        Cancelled = "cancelled",
        /// Waiting for its `send_at`; checked again when it comes.
        Scheduled = "scheduled",
        /// Its scheduled time came and a check failed: held with the
        /// reason, to be changed and sent or scheduled again.
        Held = "held",
    }
);

named_enum!(
    /// The operator's content review of a message that screening held.
    ReviewState {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
    }
);

named_enum!(
    /// The kind of a message. Each kind carries its own guard on the
    /// audience, added by the platform whatever the workspace's filter says.
    MessageKind {
        /// News, offers, newsletters: only to contacts with a current
        /// opt-in for the message's topic.
        Marketing = "marketing",
        /// Asks for permission: only to contacts with no recorded choice
        /// for the topic, never to anyone who opted out, and not too often.
        OptInRequest = "opt_in_request",
        /// Receipts, password resets: no opt-in needed, but never to a
        /// bounced or complaining address.
        Transactional = "transactional",
    }
);

impl MessageKind {
    /// Bulk kinds carry List-Unsubscribe headers and a List-Id.
    pub fn is_bulk(self) -> bool {
        !matches!(self, Self::Transactional)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_back_from_their_names() {
        for kind in MessageKind::ALL {
            assert_eq!(MessageKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(MessageKind::parse("newsletter"), None);
        assert!(!MessageKind::Transactional.is_bulk());
        assert!(MessageKind::OptInRequest.is_bulk());
    }

    #[test]
    fn states_parse_back_from_their_names() {
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(*s));
        }
        for s in MessageState::ALL {
            assert_eq!(MessageState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(DeliveryStatus::parse("sent"), None);
        assert!(DeliveryStatus::Deferred.is_pending());
        assert!(!DeliveryStatus::Held.is_pending());
    }
}
