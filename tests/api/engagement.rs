//! The engagement sunset (issue #19): once the workspace turns it on,
//! marketing leaves out contacts sent N marketing mails in D days who
//! opened and clicked none, shown as its own reason in the preview; while
//! it is off, preflight suggests it when many recipients never engage.

use crate::hardening::{captured, link_in};
use crate::support::{import_bad_and_good, TestApp};
use serde_json::{json, Value};

crate::on_both!(the_sunset_leaves_out_who_never_opens_and_is_suggested_until_on);

async fn news(app: &TestApp, key: &str) -> String {
    app.post("/v1/messages", key, crate::delivery::announcement())
        .await
        .expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

fn codes(r: &Value, list: &str) -> Vec<String> {
    r[list]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().expect("code").to_owned())
        .collect()
}

async fn the_sunset_leaves_out_who_never_opens_and_is_suggested_until_on(app: TestApp) {
    let ws = app.ready_workspace("Engaging").await;
    import_bad_and_good(&app, &ws, "unused", 0, 100).await;
    // Five newsletters; ten people open one of them.
    for round in 0..5 {
        let id = news(&app, &ws.key).await;
        app.post(&format!("/v1/messages/{id}/send"), &ws.key, json!({}))
            .await
            .expect(202);
        let mails = captured(&app, &ws.key, &id, 100).await;
        if round == 2 {
            for i in 0..10 {
                let raw = &mails[&format!("good{i}@receiver-mail.net")];
                let pixel = link_in(raw, &format!("{}/o/", app.base));
                let r = app.client.get(&pixel).send().await.expect("open");
                assert!(r.status().is_success(), "{}", r.status());
            }
        }
    }
    let sixth = news(&app, &ws.key).await;
    let preflight = format!("/v1/messages/{sixth}/preflight");
    let r = app.post(&preflight, &ws.key, json!({})).await.expect(200);
    assert!(
        codes(&r, "warnings").contains(&"low_engagement".to_owned()),
        "{r}"
    );
    assert!(r.to_string().contains("90 of the 100 recipients"), "{r}");
    assert_eq!(r["audience"]["eligible"], 100, "off: nobody left out");

    for bad in ["five", "0/90", "5/1000", "5"] {
        let e = app
            .patch("/v1/workspace", &ws.key, json!({"sunset": bad}))
            .await
            .expect(422);
        assert_eq!(e["errors"][0]["pointer"], "/sunset", "{bad}: {e}");
    }
    let on = app
        .patch("/v1/workspace", &ws.key, json!({"sunset": "5/90"}))
        .await
        .expect(200);
    assert_eq!(on["sunset"], "5/90");
    let r = app.post(&preflight, &ws.key, json!({})).await.expect(200);
    assert_eq!(r["audience"]["eligible"], 10, "{}", r["audience"]);
    assert_eq!(
        r["audience"]["excluded"]["unengaged"], 90,
        "{}",
        r["audience"]
    );
    assert!(
        !codes(&r, "warnings").contains(&"low_engagement".to_owned()),
        "{r}"
    );
    let preview = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "marketing"}),
        )
        .await
        .expect(200);
    assert_eq!(preview["excluded"]["unengaged"], 90, "{preview}");
    // Receipts and opt-in requests are not held to it.
    let t = app
        .post(
            "/v1/audiences/preview",
            &ws.key,
            json!({"kind": "transactional"}),
        )
        .await
        .expect(200);
    assert_eq!(t["excluded"]["unengaged"], 0, "{t}");
    let sent = app
        .post(&format!("/v1/messages/{sixth}/send"), &ws.key, json!({}))
        .await
        .expect(202);
    assert_eq!(sent["queued"], 10, "{sent}");
    let off = app
        .patch("/v1/workspace", &ws.key, json!({"sunset": ""}))
        .await
        .expect(200);
    assert_eq!(off["sunset"], Value::Null);
    let audit = app
        .get("/v1/workspace/audit-log", &ws.key)
        .await
        .expect(200);
    assert!(
        audit.to_string().contains("engagement sunset set to 5/90"),
        "{audit}"
    );
}
