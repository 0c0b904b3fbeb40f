//! (being written)
use super::OperatorSigned;
use crate::console::Reply;
use crate::state::AppState;
use axum::extract::State;
pub async fn page(_s: State<AppState>, _w: OperatorSigned) -> Reply { Err(crate::console::redirect("/")) }
