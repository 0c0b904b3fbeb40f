//! The database's own rules: the states a delivery and a message may take
//! are listed in the schema (issue #15), so a write with a misspelt state
//! fails on SQLite and on PostgreSQL instead of leaving a row no query finds.

use crate::support::{opted_in, TestApp};
use sendwell_core::{DeliveryStatus, MessageState, ReviewState};

crate::on_both!(the_database_refuses_states_sendwell_does_not_know);

async fn the_database_refuses_states_sendwell_does_not_know(app: TestApp) {
    let ws = app.ready_workspace("Acme").await;
    opted_in(&app, &ws, "ann@receiver-mail.net").await;
    let message = crate::hardening::send_html(&app, &ws.key, "<p>Hello</p>").await;
    let mut db = app.raw_db().await;
    let set =
        |sql: &'static str, value: &'static str| sqlx::query(sql).bind(value).bind(message.clone());
    for known in DeliveryStatus::ALL {
        set(
            "UPDATE deliveries SET state = $1 WHERE message_id = $2",
            known.as_str(),
        )
        .execute(&mut db)
        .await
        .unwrap_or_else(|e| panic!("{known} is a delivery state: {e}"));
    }
    for wrong in ["sent", "Queued", ""] {
        let refused = set(
            "UPDATE deliveries SET state = $1 WHERE message_id = $2",
            wrong,
        )
        .execute(&mut db)
        .await
        .expect_err("an unknown delivery state is refused");
        assert!(
            refused.to_string().contains("deliveries_state_known"),
            "{wrong}: {refused}"
        );
    }
    for known in MessageState::ALL {
        set(
            "UPDATE messages SET state = $1 WHERE id = $2",
            known.as_str(),
        )
        .execute(&mut db)
        .await
        .unwrap_or_else(|e| panic!("{known} is a message state: {e}"));
    }
    let refused = set("UPDATE messages SET state = $1 WHERE id = $2", "sending")
        .execute(&mut db)
        .await
        .expect_err("an unknown message state is refused");
    assert!(
        refused.to_string().contains("messages_state_known"),
        "{refused}"
    );
    for known in ReviewState::ALL {
        set(
            "UPDATE messages SET review_state = $1 WHERE id = $2",
            known.as_str(),
        )
        .execute(&mut db)
        .await
        .unwrap_or_else(|e| panic!("{known} is a review state: {e}"));
    }
    let refused = set(
        "UPDATE messages SET review_state = $1 WHERE id = $2",
        "maybe",
    )
    .execute(&mut db)
    .await
    .expect_err("an unknown review state is refused");
    assert!(refused.to_string().contains("state_known"), "{refused}");
}
