//! Screening, with no IO: address checks ([`address`]), the DNS facts they
//! need and a TTL cache for them ([`dns`]), and the list-quality score of an
//! import ([`score`]). DNS answers are passed in, so every check is
//! deterministic in tests.

pub mod address;
pub mod authenticity;
pub mod content;
pub mod dns;
pub mod score;

pub use address::{AddressCheck, Checker, Reason, Verdict};
pub use dns::{DomainMail, MailDomainResolver, Resolved};
