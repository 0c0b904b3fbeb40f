//! A workspace's sending state and the transitions between them. Later parts
//! of sendwell (the reputation monitor, the operator) drive the transitions;
//! this module decides which are legal. Each applied transition is recorded in
//! the audit log by the store, with actor, time and reason.
//!
//! ```text
//! onboarding -> active <-> under_review
//! active | under_review | probation -> suspended -> probation -> active
//! any state but withdrawn -> withdrawn
//! ```

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendingState {
    /// Created; not yet accepted the guidelines or given its address.
    Onboarding,
    Active,
    /// Rates crossed the review line: still sending, watched.
    UnderReview,
    /// Rates crossed the suspend line or the operator stopped it: mail is held.
    Suspended,
    /// Reinstated for a set period; must improve or be withdrawn.
    Probation,
    /// Access withdrawn for good; queued mail is cancelled.
    Withdrawn,
}

/// What happened to a workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateEvent {
    /// The sending gate was passed for the first time.
    Activate,
    OpenReview,
    CloseReview,
    Suspend,
    ReinstateOnProbation,
    EndProbation,
    Withdraw,
    /// The operator undoes a withdrawal (a mistake): the workspace is
    /// suspended again, and reinstating it on probation is the way back.
    Restore,
}

impl StateEvent {
    pub const ALL: [StateEvent; 8] = [
        Self::Activate,
        Self::OpenReview,
        Self::CloseReview,
        Self::Suspend,
        Self::ReinstateOnProbation,
        Self::EndProbation,
        Self::Withdraw,
        Self::Restore,
    ];
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a workspace that is {from} cannot {event}")]
pub struct TransitionError {
    pub from: SendingState,
    pub event: StateEvent,
}

impl SendingState {
    pub const ALL: [SendingState; 6] = [
        Self::Onboarding,
        Self::Active,
        Self::UnderReview,
        Self::Suspended,
        Self::Probation,
        Self::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Onboarding => "onboarding",
            Self::Active => "active",
            Self::UnderReview => "under_review",
            Self::Suspended => "suspended",
            Self::Probation => "probation",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the state itself lets mail leave (the gate adds its own checks).
    pub fn allows_sending(self) -> bool {
        matches!(self, Self::Active | Self::UnderReview | Self::Probation)
    }

    /// The state after `event`, or why it cannot happen.
    pub fn apply(self, event: StateEvent) -> Result<SendingState, TransitionError> {
        use SendingState::*;
        use StateEvent::*;
        let next = match (self, event) {
            (Onboarding, Activate) => Active,
            (Active, OpenReview) => UnderReview,
            (UnderReview, CloseReview) => Active,
            (Active | UnderReview | Probation, Suspend) => Suspended,
            (Suspended, ReinstateOnProbation) => Probation,
            (Probation, EndProbation) => Active,
            (Onboarding | Active | UnderReview | Suspended | Probation, Withdraw) => Withdrawn,
            (Withdrawn, Restore) => Suspended,
            (from, event) => return Err(TransitionError { from, event }),
        };
        Ok(next)
    }
}

impl fmt::Display for SendingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for StateEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Activate => "be activated",
            Self::OpenReview => "be put under review",
            Self::CloseReview => "leave review",
            Self::Suspend => "be suspended",
            Self::ReinstateOnProbation => "be reinstated on probation",
            Self::EndProbation => "end probation",
            Self::Withdraw => "be withdrawn",
            Self::Restore => "be restored",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::SendingState::*;
    use super::StateEvent::*;
    use super::*;

    #[test]
    fn the_designed_path_is_legal() {
        let path = [
            (Activate, Active),
            (OpenReview, UnderReview),
            (Suspend, Suspended),
            (ReinstateOnProbation, Probation),
            (EndProbation, Active),
            (Suspend, Suspended),
            (ReinstateOnProbation, Probation),
            (Withdraw, Withdrawn),
        ];
        let mut state = Onboarding;
        for (event, expected) in path {
            state = state.apply(event).expect("legal");
            assert_eq!(state, expected);
        }
    }

    #[test]
    fn illegal_transitions_are_refused() {
        assert!(Onboarding.apply(Suspend).is_err());
        assert!(Active.apply(Activate).is_err());
        assert!(Suspended.apply(EndProbation).is_err());
        assert!(Active.apply(ReinstateOnProbation).is_err());
        let err = Withdrawn.apply(ReinstateOnProbation).expect_err("final");
        assert_eq!(
            err.to_string(),
            "a workspace that is withdrawn cannot be reinstated on probation"
        );
        for event in StateEvent::ALL.into_iter().filter(|e| *e != Restore) {
            assert!(Withdrawn.apply(event).is_err(), "withdrawn is final");
        }
    }

    #[test]
    fn only_some_states_send_and_names_round_trip() {
        let sending: Vec<_> = SendingState::ALL
            .into_iter()
            .filter(|s| s.allows_sending())
            .collect();
        assert_eq!(sending, vec![Active, UnderReview, Probation]);
        for s in SendingState::ALL {
            assert_eq!(SendingState::parse(s.as_str()), Some(s));
        }
    }
}
