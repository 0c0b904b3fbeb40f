//! (being written)
use super::{OperatorPosted, OperatorSigned};
use crate::console::Reply;
use crate::state::AppState;
use axum::extract::{Path, State};
pub async fn imports(_s: State<AppState>, _w: OperatorSigned) -> Reply { Err(crate::console::redirect("/")) }
pub async fn import(_s: State<AppState>, _w: OperatorSigned, _p: Path<String>) -> Reply { Err(crate::console::redirect("/")) }
pub async fn decide_import(_s: State<AppState>, _p: Path<String>, _w: OperatorPosted<std::collections::HashMap<String,String>>) -> Reply { Err(crate::console::redirect("/")) }
pub async fn reviews(_s: State<AppState>, _w: OperatorSigned) -> Reply { Err(crate::console::redirect("/")) }
pub async fn review(_s: State<AppState>, _w: OperatorSigned, _p: Path<String>) -> Reply { Err(crate::console::redirect("/")) }
pub async fn review_mail(_s: State<AppState>, _w: OperatorSigned, _p: Path<String>) -> Reply { Err(crate::console::redirect("/")) }
pub async fn decide_review(_s: State<AppState>, _p: Path<String>, _w: OperatorPosted<std::collections::HashMap<String,String>>) -> Reply { Err(crate::console::redirect("/")) }
pub async fn reports(_s: State<AppState>, _w: OperatorSigned) -> Reply { Err(crate::console::redirect("/")) }
pub async fn handle_report(_s: State<AppState>, _p: Path<String>, _w: OperatorPosted<std::collections::HashMap<String,String>>) -> Reply { Err(crate::console::redirect("/")) }
