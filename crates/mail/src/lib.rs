//! Mail, with no IO: templates compiled once per message ([`template`]),
//! rendered per contact by the compliance renderer ([`render`]) that keeps
//! the unsubscribe link and the physical address in every mail
//! ([`compliance`]), signed links ([`link`]), HTML to text ([`html_text`])
//! and MIME building ([`mime`]).

pub mod bounce;
pub mod budget;
pub mod compliance;
pub mod dkim;
pub mod html_text;
pub mod link;
pub mod mime;
pub mod render;
pub mod template;
pub mod verp;

pub use budget::{Exceeded, RenderLimits};
pub use link::{LinkClaims, LinkSigner, MailLinks, Purpose};
pub use mime::Mailbox;
pub use render::{
    render_mail, sample_render, trial_render, Envelope, Recipient, RenderError, RenderedMail,
    Sample,
};
pub use template::{
    CompileInput, CompiledTemplate, Layout, TemplateError, TemplateSource, TemplateWarning,
};
pub use verp::VerpSigner;
