//! CI/CD variables: validation shapes, hidden values, scopes and lookups.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

const VARS: &str = "/api/v4/projects/acme%2Fplatform%2Fapi/variables";

#[tokio::test]
async fn create_read_update_delete() {
    let sim = start(standard()).await;
    let r = post(
        &sim,
        VARS,
        Some(ALICE_TOKEN),
        json!({"key": "DB_URL", "value": "postgres://x", "description": "db"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.body,
        json!({"variable_type": "env_var", "key": "DB_URL", "value": "postgres://x", "hidden": false, "protected": false,
               "masked": false, "raw": false, "environment_scope": "*", "description": "db"})
    );
    let r = put(
        &sim,
        &format!("{VARS}/DB_URL"),
        Some(ALICE_TOKEN),
        json!({"value": "postgres://y", "key": "IGNORED"}),
    )
    .await;
    assert_eq!(
        (r.body["key"].as_str(), r.body["value"].as_str()),
        (Some("DB_URL"), Some("postgres://y"))
    );
    assert_eq!(
        get(&sim, &format!("{VARS}/DB_URL"), Some(ALICE_TOKEN)).await.body["value"],
        "postgres://y"
    );
    let r = delete(&sim, &format!("{VARS}/DB_URL"), Some(ALICE_TOKEN)).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::NO_CONTENT, ""));
    let r = get(&sim, &format!("{VARS}/DB_URL"), Some(ALICE_TOKEN)).await;
    assert_eq!(
        (r.status, r.body),
        (
            StatusCode::NOT_FOUND,
            json!({"message": "404 Variable Not Found"})
        )
    );
}

#[tokio::test]
async fn validation_shapes() {
    let sim = start(standard()).await;
    let r = post(
        &sim,
        VARS,
        Some(ALICE_TOKEN),
        json!({"key": "BAD-KEY", "value": "v"}),
    )
    .await;
    assert_eq!(
        r.body,
        json!({"message": {"key": ["can contain only letters, digits and '_'."]}})
    );
    let r = post(
        &sim,
        VARS,
        Some(ALICE_TOKEN),
        json!({"key": "K".repeat(256), "value": "v"}),
    )
    .await;
    assert_eq!(
        r.body,
        json!({"message": {"key": ["is too long (maximum is 255 characters)"]}})
    );
    let r = post(
        &sim,
        VARS,
        Some(ALICE_TOKEN),
        json!({"key": "M", "value": "short", "masked": true}),
    )
    .await;
    assert_eq!(
        (r.status, r.body),
        (
            StatusCode::BAD_REQUEST,
            json!({"message": {"value": ["is invalid"]}})
        )
    );
    let r = post(
        &sim,
        VARS,
        Some(ALICE_TOKEN),
        json!({"key": "M", "value": "has space in it", "masked": true}),
    )
    .await;
    assert_eq!(r.body, json!({"message": {"value": ["is invalid"]}}));
    let r = post(
        &sim,
        VARS,
        Some(ALICE_TOKEN),
        json!({"key": "M", "value": "with$dollar!", "masked": true, "raw": true}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "raw masked values only need 8 non-space characters"
    );
    let r = post(
        &sim,
        VARS,
        Some(ALICE_TOKEN),
        json!({"key": "T", "value": "v", "variable_type": "yaml"}),
    )
    .await;
    assert_eq!(
        r.body,
        json!({"error": "variable_type does not have a valid value"})
    );
    let r = post(
        &sim,
        VARS,
        Some(ALICE_TOKEN),
        json!({"key": "  PADDED  ", "value": "v"}),
    )
    .await;
    assert_eq!(r.body["key"], "PADDED", "keys are stripped");
    let r = post(
        &sim,
        VARS,
        Some(ALICE_TOKEN),
        json!({"key": "PADDED", "value": "v"}),
    )
    .await;
    assert_eq!(
        r.body,
        json!({"message": {"key": ["(PADDED) has already been taken"]}})
    );
}

#[tokio::test]
async fn hidden_variables_read_back_null() {
    let sim = start(standard()).await;
    let r = post(
        &sim,
        VARS,
        Some(ALICE_TOKEN),
        json!({"key": "SECRET", "value": "s3cr3t-value", "masked_and_hidden": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        (
            r.body["hidden"].clone(),
            r.body["masked"].clone(),
            r.body["value"].clone()
        ),
        (json!(true), json!(true), json!(null))
    );
    let list = get(&sim, VARS, Some(ALICE_TOKEN)).await;
    assert_eq!(list.body[0]["value"], json!(null));
    assert_eq!(
        sim.state()
            .variable("acme/platform/api", "SECRET", "*")
            .unwrap()
            .value,
        "s3cr3t-value"
    );
    let r = put(
        &sim,
        &format!("{VARS}/SECRET"),
        Some(ALICE_TOKEN),
        json!({"masked": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn several_scopes_need_a_filter() {
    let sim = start(standard()).await;
    for scope in ["production", "staging"] {
        let r = post(
            &sim,
            VARS,
            Some(ALICE_TOKEN),
            json!({"key": "URL", "value": scope, "environment_scope": scope}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let conflict = json!({"message": "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'"});
    let r = get(&sim, &format!("{VARS}/URL"), Some(ALICE_TOKEN)).await;
    assert_eq!((r.status, r.body), (StatusCode::CONFLICT, conflict.clone()));
    let r = put(
        &sim,
        &format!("{VARS}/URL"),
        Some(ALICE_TOKEN),
        json!({"value": "x"}),
    )
    .await;
    assert_eq!((r.status, r.body), (StatusCode::CONFLICT, conflict.clone()));
    let r = delete(&sim, &format!("{VARS}/URL"), Some(ALICE_TOKEN)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = get(
        &sim,
        &format!("{VARS}/URL?filter%5Benvironment_scope%5D=staging"),
        Some(ALICE_TOKEN),
    )
    .await;
    assert_eq!(r.body["value"], "staging");
    let r = put(
        &sim,
        &format!("{VARS}/URL"),
        Some(ALICE_TOKEN),
        json!({"value": "p2", "filter": {"environment_scope": "production"}}),
    )
    .await;
    assert_eq!(r.body["value"], "p2");
    assert_eq!(
        delete(
            &sim,
            &format!("{VARS}/URL?filter[environment_scope]=production"),
            Some(ALICE_TOKEN)
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get(&sim, &format!("{VARS}/URL"), Some(ALICE_TOKEN)).await.body["value"],
        "staging"
    );
}

#[tokio::test]
async fn group_variables_and_roles() {
    let sim = start(standard()).await;
    let r = post(
        &sim,
        "/api/v4/groups/acme/variables",
        Some(ALICE_TOKEN),
        json!({"key": "G", "value": "v", "protected": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["protected"], true);
    let r = post(
        &sim,
        "/api/v4/groups/acme/variables",
        Some(ALICE_TOKEN),
        json!({"key": "D", "value": "v", "description": "x".repeat(256)}),
    )
    .await;
    assert_eq!(
        r.body,
        json!({"message": {"description": ["is too long (maximum is 255 characters)"]}})
    );
    let r = get(&sim, "/api/v4/projects/1/variables", Some(BOB_TOKEN)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = get(&sim, "/api/v4/groups/acme/variables", Some(ALICE_TOKEN)).await;
    assert_eq!(r.header("x-total"), Some("1"));
}

#[tokio::test]
async fn hidden_variables_keep_their_masking_and_cannot_be_hidden_later() {
    let sim = start(standard()).await;
    let r = post(
        &sim,
        VARS,
        Some(ALICE_TOKEN),
        json!({"key": "HID", "value": "hidden-value-1", "masked_and_hidden": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = put(
        &sim,
        &format!("{VARS}/HID?filter[environment_scope]=*"),
        Some(ALICE_TOKEN),
        json!({"masked": false}),
    )
    .await;
    assert_eq!(
        (r.status, r.body),
        (
            StatusCode::BAD_REQUEST,
            json!({"message": {"base": ["The visibility setting cannot be changed for masked and hidden variables."]}})
        )
    );
    // A new value with the masking unchanged is accepted, and still answered as null.
    let r = put(
        &sim,
        &format!("{VARS}/HID?filter[environment_scope]=*"),
        Some(ALICE_TOKEN),
        json!({"value": "hidden-value-2", "masked": true, "raw": true}),
    )
    .await;
    assert_eq!((r.status, r.body["value"].clone()), (StatusCode::OK, json!(null)));
    assert_eq!(
        sim.state()
            .variable("acme/platform/api", "HID", "*")
            .unwrap()
            .value,
        "hidden-value-2"
    );
    // Hiding an existing visible variable is not an update GitLab knows: it is ignored.
    post(
        &sim,
        VARS,
        Some(ALICE_TOKEN),
        json!({"key": "VIS", "value": "visible-value", "masked": true}),
    )
    .await;
    let r = put(
        &sim,
        &format!("{VARS}/VIS"),
        Some(ALICE_TOKEN),
        json!({"value": "visible-value-2", "masked_and_hidden": true}),
    )
    .await;
    assert_eq!(
        (r.status, r.body["hidden"].clone(), r.body["value"].clone()),
        (StatusCode::OK, json!(false), json!("visible-value-2"))
    );
}

#[tokio::test]
async fn group_variables_take_scopes_and_filters() {
    let sim = start(standard()).await;
    const GROUP: &str = "/api/v4/groups/acme/variables";
    for scope in ["production", "staging"] {
        let r = post(
            &sim,
            GROUP,
            Some(ALICE_TOKEN),
            json!({"key": "G", "value": scope, "environment_scope": scope}),
        )
        .await;
        assert_eq!(
            (r.status, r.body["environment_scope"].clone()),
            (StatusCode::CREATED, json!(scope))
        );
    }
    let r = delete(&sim, &format!("{GROUP}/G"), Some(ALICE_TOKEN)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = put(
        &sim,
        &format!("{GROUP}/G?filter[environment_scope]=staging"),
        Some(ALICE_TOKEN),
        json!({"value": "s2"}),
    )
    .await;
    assert_eq!(r.body["value"], "s2");
    let r = delete(
        &sim,
        &format!("{GROUP}/G?filter[environment_scope]=production"),
        Some(ALICE_TOKEN),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = get(&sim, GROUP, Some(ALICE_TOKEN)).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn counters_tell_variable_writes_from_reads() {
    let sim = start(standard()).await;
    post(&sim, VARS, Some(ALICE_TOKEN), json!({"key": "A", "value": "1"})).await;
    put(
        &sim,
        &format!("{VARS}/A"),
        Some(ALICE_TOKEN),
        json!({"value": "2"}),
    )
    .await;
    get(&sim, VARS, Some(ALICE_TOKEN)).await;
    get(&sim, &format!("{VARS}/A"), Some(ALICE_TOKEN)).await;
    delete(&sim, &format!("{VARS}/A"), Some(ALICE_TOKEN)).await;
    let counters = sim.requests();
    assert_eq!(counters.writes("/variables"), 3);
    assert_eq!(counters.matching("GET", "/variables"), 2);
}
