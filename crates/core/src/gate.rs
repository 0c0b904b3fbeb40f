//! The sending gate: may this workspace send now? Every blocker is listed at
//! once, each with a message that says how to clear it.

use crate::workspace::SendingState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    pub code: &'static str,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendingStatus {
    pub blockers: Vec<Blocker>,
}

impl SendingStatus {
    pub fn can_send(&self) -> bool {
        self.blockers.is_empty()
    }
}

/// What the gate looks at.
#[derive(Clone, Copy, Debug)]
pub struct GateInput {
    pub state: SendingState,
    pub has_physical_address: bool,
    pub current_guidelines: i64,
    /// The highest guidelines version an admin of the workspace accepted.
    pub accepted_guidelines: Option<i64>,
}

impl GateInput {
    /// Whether the workspace meets its own obligations (address, acceptance),
    /// whatever its state: the condition for leaving onboarding.
    pub fn obligations_met(&self) -> bool {
        self.has_physical_address && self.accepted_guidelines == Some(self.current_guidelines)
    }
}

pub fn evaluate(input: GateInput) -> SendingStatus {
    let mut blockers = Vec::new();
    if !input.has_physical_address {
        blockers.push(Blocker {
            code: "physical_address_missing",
            message: "Set the business's physical postal address (PATCH /v1/workspace with \
                      {\"physical_address\": \"...\"}); it is printed in the footer of every message."
                .to_owned(),
        });
    }
    match input.accepted_guidelines {
        Some(v) if v == input.current_guidelines => {}
        Some(v) => blockers.push(Blocker {
            code: "guidelines_outdated",
            message: format!(
                "Version {} of the sending guidelines was published after your workspace accepted \
                 version {v}. An admin must read it (GET /v1/guidelines) and accept it \
                 (POST /v1/guidelines/accept with {{\"version\": {}, \"accepted_by\": \"...\"}}).",
                input.current_guidelines, input.current_guidelines
            ),
        }),
        None => blockers.push(Blocker {
            code: "guidelines_not_accepted",
            message: format!(
                "An admin must read the sending guidelines (GET /v1/guidelines) and accept \
                 version {} (POST /v1/guidelines/accept with {{\"version\": {}, \"accepted_by\": \"...\"}}) \
                 before the first message.",
                input.current_guidelines, input.current_guidelines
            ),
        }),
    }
    match input.state {
        SendingState::Suspended => blockers.push(Blocker {
            code: "workspace_suspended",
            message:
                "Sending is suspended while the delivery team reviews this workspace's bounce \
                      and complaint rates; queued mail is held, not lost."
                    .to_owned(),
        }),
        SendingState::Withdrawn => blockers.push(Blocker {
            code: "workspace_withdrawn",
            message: "The operator has withdrawn this workspace's access to sending.".to_owned(),
        }),
        SendingState::Onboarding if blockers.is_empty() => blockers.push(Blocker {
            code: "workspace_onboarding",
            message: "The workspace has not been activated yet; accepting the guidelines again \
                      activates it."
                .to_owned(),
        }),
        _ => {}
    }
    SendingStatus { blockers }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(state: SendingState, addr: bool, accepted: Option<i64>) -> GateInput {
        GateInput {
            state,
            has_physical_address: addr,
            current_guidelines: 2,
            accepted_guidelines: accepted,
        }
    }

    fn codes(s: &SendingStatus) -> Vec<&'static str> {
        s.blockers.iter().map(|b| b.code).collect()
    }

    #[test]
    fn a_new_workspace_lists_every_blocker() {
        let s = evaluate(input(SendingState::Onboarding, false, None));
        assert!(!s.can_send());
        assert_eq!(
            codes(&s),
            ["physical_address_missing", "guidelines_not_accepted"]
        );
    }

    #[test]
    fn a_new_version_blocks_until_accepted_again() {
        let s = evaluate(input(SendingState::Active, true, Some(1)));
        assert_eq!(codes(&s), ["guidelines_outdated"]);
        assert!(s.blockers[0].message.contains("\"version\": 2"));
        assert!(evaluate(input(SendingState::Active, true, Some(2))).can_send());
    }

    #[test]
    fn suspension_blocks_even_a_compliant_workspace() {
        let s = evaluate(input(SendingState::Suspended, true, Some(2)));
        assert_eq!(codes(&s), ["workspace_suspended"]);
        let s = evaluate(input(SendingState::Withdrawn, false, Some(2)));
        assert_eq!(
            codes(&s),
            ["physical_address_missing", "workspace_withdrawn"]
        );
        assert!(evaluate(input(SendingState::Probation, true, Some(2))).can_send());
        assert!(evaluate(input(SendingState::UnderReview, true, Some(2))).can_send());
    }
}
