//! HTML as sendwell reads it, in one place: one tokenizer ([`token`]), one
//! entity decoder ([`entity`]) and one visibility model ([`tree`], with the
//! CSS it needs), used by the template compliance check, the plain-text
//! alternative, link tracking and the content screen alike, so what counts
//! as hidden cannot differ between them.
//!
//! No HTML crate: templates must be read with Liquid left opaque and byte
//! offsets kept (html5ever, lol_html and tl tokenize `{% if a < b %}` as
//! markup), and the rules that decide what a reader sees are ours.

mod blank;
mod css;
pub mod entity;
pub mod layout;
pub mod token;
pub mod tree;

pub use blank::has_visible_text;
pub use token::{tokenize, Attr, Syntax, Token};
pub use tree::{Frame, HiddenBy, Tree, Visibility};
