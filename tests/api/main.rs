//! End-to-end tests against a sendwell server spawned on port 0 with a fresh
//! database each. Every test in a module listed with `on_both!` runs twice:
//! on SQLite, and on PostgreSQL when SENDWELL_TEST_DATABASE_URL is set (each
//! test then gets its own schema in that database).
//!
//! - `workspaces`: creation, the sending gate, guidelines, audit log
//! - `keys`: API keys, roles, operator/workspace separation
//! - `contacts`: upsert, batch, attributes, pagination
//! - `consent`: the ledger, proof bundles, tamper detection
//! - `privacy`: export and erasure
//! - `isolation`: one workspace never sees another's data
//! - `bad_input`: malformed and hostile requests
//! - `addresses`: address checks, verdicts on contacts, suppression lists
//! - `imports`: CSV imports, provenance, scoring, quarantine and review
//! - `messages`: audiences, templates, the compliance renderer, signed links,
//!   unsubscribe and opt-in, sending and the capture outbox
//! - `screening`: content screening in the send path and the operator's review
//! - `delivery`: the smtp and mx transports against SMTP servers of the
//!   test's own and a real Postfix, DKIM checked by dkimpy, retries, hold,
//!   a worker killed mid-send, three workers on PostgreSQL
//! - `feedback`: bounces and complaints by SMTP, provider webhooks, reports
//! - `enforcement`: the reputation monitor, cases, probation, withdrawal,
//!   the circuit breaker
//! - `webhooks`: outgoing Standard Webhooks
//! - `cli`: the `sendwell` binary itself
//! - `promises`: advertised guarantees walked as a user would (issue #14)
//! - `fuzz`: property tests of provider webhooks, CSV imports, inbound SMTP
//! - `hardening`: attacks by co-tenants, recipients and anyone (issue #13)
//! - `schema`: the database's own rules on states (issue #15)
//! - `members`: console members, invites, sessions, CSRF (issue #16)
//! - `operators`: the operator console, its accounts and sessions (issue #17)
//! - `console`: the console's pages over HTTP, each action as the API's (issue #16)

mod support;
mod topics;

mod addresses;
mod bad_input;
mod campaigns;
mod cli;
mod consent;
mod console;
mod contacts;
mod delivery;
mod domain_report;
mod enforcement;
mod engagement;
mod feedback;
mod forms;
mod fuzz;
mod hardening;
mod imports;
mod isolation;
mod keys;
mod members;
mod messages;
mod operators;
mod privacy;
mod promises;
mod schedule;
mod schema;
mod screening;
mod webhooks;
mod workspaces;
