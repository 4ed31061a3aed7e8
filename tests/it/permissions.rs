//! Method permissions: an app limited to the products it has signed is answered what
//! production answers outside them — `40006 Insufficient Permissions`, signed, nothing changed —
//! and the request log says which method it lacks.

use serde_json::json;
use ticketgate::operations::admin;
use ticketgate::store::LogFilter;

use crate::helpers::*;

#[tokio::test]
async fn a_method_outside_the_apps_products_is_40006_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let only_query = vec![QUERY.to_string()];
    admin::set_app_methods(app.service(), A1, &only_query)
        .await
        .unwrap();

    let refused = app.use_code("u1", &code).await;
    assert_eq!(refused.code(), "40006", "{}", refused.node_text);
    assert_eq!(refused.node["msg"], "Insufficient Permissions");
    assert_eq!(refused.sub_code(), "isv.insufficient-isv-permissions");
    assert_eq!(
        refused.node["sub_msg"],
        "ISV权限不足，建议在开放平台控制台检查对应产品是否已经绑定"
    );
    assert!(refused.verified, "the refusal is signed");

    // Nothing was written: the ticket is unused, and the request id is still free.
    let queried = app.query(&code).await;
    assert_success(&queried);
    assert_eq!(queried.node["ticket_status"], "EFFECTIVE");

    // The request log says which method the app lacks.
    let filter = LogFilter {
        method: Some(USE.into()),
        ..Default::default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let entry = loop {
        let f = filter.clone();
        let rows = app
            .store()
            .read(
                ticketgate::store::op!(|tx| [f: LogFilter = f] -> Vec<(i64, String, String)> {
                    tx.read_log(&f, None, 10).await
                }),
            )
            .await
            .unwrap();
        if let Some((_, _, entry)) = rows.last() {
            break serde_json::from_str::<serde_json::Value>(entry).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no log entry");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let diagnosis = entry["diagnosis"].as_str().unwrap_or_default();
    assert!(
        diagnosis.contains("[NOT_SIGNED]") && diagnosis.contains(USE),
        "{entry}"
    );

    // Granted every method again, the same request id makes the use.
    admin::set_app_methods(app.service(), A1, &["all".to_string()])
        .await
        .unwrap();
    assert_success(&app.use_code("u1", &code).await);
}

#[tokio::test]
async fn methods_are_checked_when_they_are_set() {
    let app = TestApp::spawn().await;
    let bad = admin::set_app_methods(app.service(), A1, &["koubei.nope".to_string()]).await;
    assert!(matches!(bad, Err(admin::AdminError::Invalid(_))), "{bad:?}");
    let none =
        admin::set_app_methods(app.service(), "2021999999999999", &["all".to_string()]).await;
    assert!(
        matches!(none, Err(admin::AdminError::NotFound(_))),
        "{none:?}"
    );
    let shown = admin::show_app(app.service(), A1).await.unwrap();
    assert_eq!(shown["methods"], json!("all"));
    admin::set_app_methods(app.service(), A1, &[QUERY.to_string(), USE.to_string()])
        .await
        .unwrap();
    let shown = admin::show_app(app.service(), A1).await.unwrap();
    assert_eq!(shown["methods"], json!([QUERY, USE]));
}
