//! (being written)
use super::{OperatorPosted, OperatorSigned};
use crate::console::Reply;
use crate::state::AppState;
use axum::extract::State;
pub async fn page(_s: State<AppState>, _w: OperatorSigned) -> Reply { Err(crate::console::redirect("/")) }
pub async fn save(_s: State<AppState>, _w: OperatorPosted<std::collections::HashMap<String,String>>) -> Reply { Err(crate::console::redirect("/")) }
pub async fn guidelines(_s: State<AppState>, _w: OperatorSigned) -> Reply { Err(crate::console::redirect("/")) }
pub async fn publish(_s: State<AppState>, _w: OperatorPosted<std::collections::HashMap<String,String>>) -> Reply { Err(crate::console::redirect("/")) }
