//! The web console in a real browser (Chromium through chromedriver),
//! against a sendwell server spawned on port 0, pages checked with axe-core.

#[path = "../api/support.rs"]
#[allow(dead_code)]
mod support;

mod journey;
mod operator;
mod recipient;
mod smoke;
mod webdriver;
