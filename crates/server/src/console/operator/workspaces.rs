//! (being written)
use super::{OperatorPosted, OperatorSigned};
use crate::console::Reply;
use crate::state::AppState;
use axum::extract::{Path, State};
pub async fn list(_s: State<AppState>, _w: OperatorSigned) -> Reply { Err(crate::console::redirect("/")) }
pub async fn show(_s: State<AppState>, _w: OperatorSigned, _p: Path<String>) -> Reply { Err(crate::console::redirect("/")) }
pub async fn reinstate(_s: State<AppState>, _p: Path<String>, _w: OperatorPosted<std::collections::HashMap<String,String>>) -> Reply { Err(crate::console::redirect("/")) }
pub async fn withdraw(_s: State<AppState>, _p: Path<String>, _w: OperatorPosted<std::collections::HashMap<String,String>>) -> Reply { Err(crate::console::redirect("/")) }
pub async fn restore(_s: State<AppState>, _p: Path<String>, _w: OperatorPosted<std::collections::HashMap<String,String>>) -> Reply { Err(crate::console::redirect("/")) }
pub async fn cases(_s: State<AppState>, _w: OperatorSigned) -> Reply { Err(crate::console::redirect("/")) }
pub async fn add_note(_s: State<AppState>, _p: Path<String>, _w: OperatorPosted<std::collections::HashMap<String,String>>) -> Reply { Err(crate::console::redirect("/")) }
