//! The sending gate: may this workspace send now? Every blocker is listed at
//! once, each with a message that says how to clear it.

use crate::workspace::SendingState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    pub code: &'static str,
    pub message: String,
    /// Whether it stops transactional mail too. Outdated guidelines stop
    /// bulk mail only: a receipt or a password reset still goes.
    pub blocks_transactional: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendingStatus {
    pub blockers: Vec<Blocker>,
    /// What the workspace should do soon, without being stopped yet (a new
    /// version of the guidelines within its grace period).
    pub reminders: Vec<Blocker>,
}

impl SendingStatus {
    /// Whether bulk mail (marketing, opt-in requests) may go.
    pub fn can_send(&self) -> bool {
        self.blockers.is_empty()
    }

    /// Whether transactional mail may go.
    pub fn can_send_transactional(&self) -> bool {
        !self.blockers.iter().any(|b| b.blocks_transactional)
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
    /// Until when a workspace that accepted an earlier version may send
    /// without accepting the current one.
    pub grace_until: Option<crate::Timestamp>,
    pub now: crate::Timestamp,
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
    let mut reminders = Vec::new();
    if !input.has_physical_address {
        blockers.push(physical_address_missing());
    }
    match guidelines_check(&input) {
        GuidelinesCheck::Current => {}
        GuidelinesCheck::Remind(reminder) => reminders.push(reminder),
        GuidelinesCheck::Block(blocker) => blockers.push(blocker),
    }
    let blocked_otherwise = !blockers.is_empty();
    if let Some(blocker) = state_blocker(input.state, blocked_otherwise) {
        blockers.push(blocker);
    }
    SendingStatus {
        blockers,
        reminders,
    }
}

fn physical_address_missing() -> Blocker {
    Blocker {
        code: "physical_address_missing",
        message: "Set the business's physical postal address (PATCH /v1/workspace with \
                  {\"physical_address\": \"...\"}); it is printed in the footer of every message."
            .to_owned(),
        blocks_transactional: true,
    }
}

/// Where the workspace stands on the current sending guidelines.
enum GuidelinesCheck {
    Current,
    Remind(Blocker),
    Block(Blocker),
}

fn guidelines_check(input: &GateInput) -> GuidelinesCheck {
    match input.accepted_guidelines {
        Some(v) if v == input.current_guidelines => GuidelinesCheck::Current,
        Some(v) if input.grace_until.is_some_and(|g| input.now < g) => {
            GuidelinesCheck::Remind(guidelines_update_pending(input, v))
        }
        Some(v) => GuidelinesCheck::Block(guidelines_outdated(input, v)),
        None => GuidelinesCheck::Block(guidelines_not_accepted(input)),
    }
}

fn guidelines_update_pending(input: &GateInput, accepted: i64) -> Blocker {
    Blocker {
        code: "guidelines_update_pending",
        message: format!(
            "Version {} of the sending guidelines was published after your workspace accepted \
             version {accepted}. An admin should read it (GET /v1/guidelines) and accept it \
             (POST /v1/guidelines/accept with {{\"version\": {}, \"accepted_by\": \"...\"}}) \
             by {}; until then mail goes as before, after that only transactional mail does.",
            input.current_guidelines,
            input.current_guidelines,
            input
                .grace_until
                .map(|g| g.to_rfc3339())
                .unwrap_or_default()
        ),
        blocks_transactional: false,
    }
}

fn guidelines_outdated(input: &GateInput, accepted: i64) -> Blocker {
    Blocker {
        code: "guidelines_outdated",
        message: format!(
            "Version {} of the sending guidelines was published after your workspace accepted \
             version {accepted}, and its grace period is over. An admin must read it (GET /v1/guidelines) and accept it \
             (POST /v1/guidelines/accept with {{\"version\": {}, \"accepted_by\": \"...\"}}) \
             before the next marketing mail; transactional mail still goes.",
            input.current_guidelines, input.current_guidelines
        ),
        blocks_transactional: false,
    }
}

fn guidelines_not_accepted(input: &GateInput) -> Blocker {
    Blocker {
        code: "guidelines_not_accepted",
        message: format!(
            "An admin must read the sending guidelines (GET /v1/guidelines) and accept \
             version {} (POST /v1/guidelines/accept with {{\"version\": {}, \"accepted_by\": \"...\"}}) \
             before the first message.",
            input.current_guidelines, input.current_guidelines
        ),
        blocks_transactional: true,
    }
}

/// The blocker the workspace's state adds. An onboarding workspace with other
/// blockers is told about those only: clearing them is what activates it.
fn state_blocker(state: SendingState, blocked_otherwise: bool) -> Option<Blocker> {
    match state {
        SendingState::Suspended => Some(Blocker {
            code: "workspace_suspended",
            message:
                "Sending is suspended while the delivery team reviews this workspace's bounce \
                      and complaint rates; queued mail is held, not lost."
                    .to_owned(),
            blocks_transactional: true,
        }),
        SendingState::Withdrawn => Some(Blocker {
            code: "workspace_withdrawn",
            message: "The operator has withdrawn this workspace's access to sending.".to_owned(),
            blocks_transactional: true,
        }),
        SendingState::Onboarding if !blocked_otherwise => Some(Blocker {
            code: "workspace_onboarding",
            message: "The workspace has not been activated yet; accepting the guidelines again \
                      activates it."
                .to_owned(),
            blocks_transactional: true,
        }),
        _ => None,
    }
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
            grace_until: None,
            now: crate::Timestamp::from_millis(1_000_000),
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
    fn a_new_version_within_its_grace_period_reminds_and_then_stops_bulk_mail_only() {
        let mut i = input(SendingState::Active, true, Some(1));
        i.grace_until = Some(crate::Timestamp::from_millis(2_000_000));
        let s = evaluate(i);
        assert!(s.can_send());
        assert_eq!(s.reminders[0].code, "guidelines_update_pending");
        i.now = crate::Timestamp::from_millis(2_000_000);
        let s = evaluate(i);
        assert!(!s.can_send());
        assert!(s.can_send_transactional());
        assert_eq!(codes(&s), ["guidelines_outdated"]);
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
