//! What a message is for, which decides who may receive it.

use std::fmt;

/// The kind of a message. Each kind carries its own guard on the audience,
/// added by the platform whatever the workspace's filter says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// News, offers, newsletters: only to contacts with a current opt-in
    /// for the message's topic.
    Marketing,
    /// Asks for permission: only to contacts with no recorded choice for
    /// the topic, never to anyone who opted out, and not too often.
    OptInRequest,
    /// Receipts, password resets: no opt-in needed, but never to a bounced
    /// or complaining address.
    Transactional,
}

impl MessageKind {
    pub const ALL: &'static [MessageKind] =
        &[Self::Marketing, Self::OptInRequest, Self::Transactional];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marketing => "marketing",
            Self::OptInRequest => "opt_in_request",
            Self::Transactional => "transactional",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == text)
    }

    /// Bulk kinds carry List-Unsubscribe headers and a List-Id.
    pub fn is_bulk(self) -> bool {
        !matches!(self, Self::Transactional)
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
}
