//! The store on both backends: the workspace state machine with its audit
//! trail, migrations, and the instance-secret guard. PostgreSQL runs when
//! SENDWELL_TEST_DATABASE_URL is set, each test in a schema of its own.

use sendwell_core::secret::{random_bytes, to_hex, ApiKeyToken};
use sendwell_core::{ApiKeyId, Role, SendingState, StateEvent, SystemClock, Timestamp};
use sendwell_store::{NewKeyRow, Store, StoreError};
use std::sync::Arc;

async fn urls() -> Vec<(String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("dir");
    let mut out = vec![(
        format!("sqlite://{}", dir.path().join("t.db").display()),
        Some(dir),
    )];
    if let Some(base) = std::env::var("SENDWELL_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        sqlx::any::install_default_drivers();
        let schema = format!("s_{}", to_hex(&random_bytes::<8>()));
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
            .await
            .expect("postgres");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .expect("schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        out.push((
            format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            None,
        ));
    } else if std::env::var_os("SENDWELL_REQUIRE_POSTGRES").is_some() {
        panic!("SENDWELL_REQUIRE_POSTGRES is set but SENDWELL_TEST_DATABASE_URL is not");
    }
    out
}

async fn open(url: &str) -> Store {
    Store::open(url, Arc::new(SystemClock))
        .await
        .expect("store opens")
}

async fn new_workspace(store: &Store) -> sendwell_core::WorkspaceId {
    let token = ApiKeyToken::generate(ApiKeyId::generate(Timestamp::from_millis(1)));
    let hash = token.secret_hash();
    let ws = store
        .create_workspace(
            "Acme",
            NewKeyRow {
                id: &token.key_id,
                name: "first",
                role: Role::Admin,
                secret_hash: &hash,
            },
            None,
            "operator",
        )
        .await
        .expect("create");
    assert_eq!(ws.state, SendingState::Onboarding);
    ws.id
}

#[tokio::test]
async fn state_transitions_follow_the_machine_and_are_audited() {
    for (url, _dir) in urls().await {
        let store = open(&url).await;
        let ws = new_workspace(&store).await;
        let path = [
            (StateEvent::Activate, SendingState::Active),
            (StateEvent::OpenReview, SendingState::UnderReview),
            (StateEvent::Suspend, SendingState::Suspended),
            (StateEvent::ReinstateOnProbation, SendingState::Probation),
            (StateEvent::EndProbation, SendingState::Active),
            (StateEvent::Withdraw, SendingState::Withdrawn),
        ];
        for (event, expected) in path {
            let outcome = store
                .transition_workspace(&ws, event, "monitor", &format!("test: {event}"))
                .await
                .expect("db")
                .expect("exists");
            assert_eq!(outcome, Ok(expected), "{url}");
        }
        let refused = store
            .transition_workspace(&ws, StateEvent::ReinstateOnProbation, "operator", "try")
            .await
            .expect("db")
            .expect("exists");
        assert!(refused.is_err());
        let now = store.workspace(&ws).await.expect("db").expect("exists");
        assert_eq!(now.state, SendingState::Withdrawn);
        let log = store.audit_log(&ws, None, 100).await.expect("log");
        let changes: Vec<(Option<String>, Option<String>, String)> = log
            .iter()
            .filter(|e| e.action == "state.changed")
            .map(|e| (e.from_state.clone(), e.to_state.clone(), e.actor.clone()))
            .collect();
        assert_eq!(
            changes.len(),
            6,
            "one entry per applied transition, none for the refused one"
        );
        assert_eq!(
            changes[2],
            (
                Some("under_review".into()),
                Some("suspended".into()),
                "monitor".into()
            )
        );
        assert!(log.iter().any(|e| e.reason == "test: be suspended"));
        let unknown = sendwell_core::WorkspaceId::generate(Timestamp::from_millis(5));
        assert!(store
            .transition_workspace(&unknown, StateEvent::Suspend, "x", "y")
            .await
            .expect("db")
            .is_none());
        store.close().await;
    }
}

#[tokio::test]
async fn reopening_applies_nothing_twice_and_a_changed_migration_is_refused() {
    for (url, _dir) in urls().await {
        let store = open(&url).await;
        new_workspace(&store).await;
        store.close().await;
        let again = open(&url).await;
        assert_eq!(
            again.list_workspaces(None, 10).await.expect("list").len(),
            1
        );
        assert_eq!(again.current_guidelines().await.expect("g").version, 1);
        again.close().await;

        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("raw");
        sqlx::query("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
            .execute(&mut conn)
            .await
            .expect("tamper");
        let err = Store::open(&url, Arc::new(SystemClock))
            .await
            .expect_err("refused");
        assert!(
            matches!(err, StoreError::Migration { version: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("changed after it was applied"));
    }
}

#[tokio::test]
async fn a_database_refuses_a_second_secret() {
    for (url, _dir) in urls().await {
        let store = open(&url).await;
        store
            .check_secret_fingerprint("first")
            .await
            .expect("recorded");
        store
            .check_secret_fingerprint("first")
            .await
            .expect("same again");
        let err = store
            .check_secret_fingerprint("second")
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("SENDWELL_SECRET_KEY"));
        store.close().await;
    }
}
