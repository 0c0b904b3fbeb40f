//! The sending guidelines that ship with sendwell. An operator may publish
//! later versions; this text is version 1 and is installed on first start.

pub const BUNDLED_VERSION: i64 = 1;
pub const BUNDLED_TEXT: &str = include_str!("../../../guidelines/v1.md");
