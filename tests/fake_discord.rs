//! Tests of the fake Discord itself: request bodies against Discord's OpenAPI document.

mod common;

use common::fake_discord::schema::validate_request;
use common::fake_discord::{validate_interaction_response, Route};
use serde_json::{json, Value};

fn button(custom_id: &str, label: &str) -> Value {
    json!({"type": 2, "style": 1, "label": label, "custom_id": custom_id, "disabled": false})
}

fn row(buttons: Vec<Value>) -> Value {
    json!({"type": 1, "components": buttons})
}

/// A release announcement as shipgate posts it: text, buttons, an embed, no pings, a nonce.
fn announcement(nonce: &str) -> Value {
    json!({
        "content": "Release api 1.4.2 is ready to ship",
        "components": [row(vec![
            button("approve:42", "Approve"),
            json!({"type": 2, "style": 4, "label": "Reject", "custom_id": "reject:42", "disabled": true}),
        ])],
        "embeds": [{
            "title": "api 1.4.2",
            "description": "3 changes",
            "color": 5_763_719,
            "fields": [{"name": "Digest", "value": "sha256:1111", "inline": false}],
            "timestamp": "2026-01-01T12:00:00+00:00",
        }],
        "allowed_mentions": {"parse": []},
        "nonce": nonce,
        "enforce_nonce": true,
    })
}

// ----- schema -----

#[test]
fn documented_bodies_pass_the_schema() {
    let valid = [
        (Route::CreateMessage, announcement("n-1")),
        (Route::CreateMessage, json!({"content": "plain"})),
        (Route::CreateMessage, json!({"content": "int nonce", "nonce": 12345, "enforce_nonce": true})),
        (Route::EditMessage, json!({"content": "Shipped", "components": []})),
        (Route::EditMessage, json!({"components": [row(vec![button("approve:42", "Approve")])], "embeds": null})),
        (Route::CreateThreadFromMessage, json!({"name": "api 1.4.2", "auto_archive_duration": 1440})),
        (Route::CreateThread, json!({"name": "release notes", "type": 11})),
        (
            Route::InteractionCallback,
            json!({"type": 7, "data": {"content": "Approved", "components": [row(vec![button("approve:42", "Approve")])]}}),
        ),
        (Route::InteractionCallback, json!({"type": 4, "data": {"content": "Only you can see this", "flags": 64}})),
        (
            Route::InteractionCallback,
            json!({"type": 9, "data": {
                "custom_id": "reject-reason:42",
                "title": "Why reject?",
                "components": [{"type": 1, "components": [{"type": 4, "custom_id": "reason", "label": "Reason", "style": 1}]}],
            }}),
        ),
        (Route::InteractionCallback, json!({"type": 1})),
        (Route::InteractionCallback, json!({"type": 5, "data": {"flags": 64}})),
        (Route::InteractionCallback, json!({"type": 6})),
        (Route::EditOriginalResponse, json!({"content": "Done", "components": []})),
        (Route::ExecuteWebhook, json!({"content": "follow-up", "flags": 64})),
        (
            Route::BulkOverwriteGuildCommands,
            json!([{
                "name": "ship", "description": "Ship a release", "type": 1,
                "options": [{"type": 3, "name": "service", "description": "Service", "required": true}],
            }]),
        ),
        (Route::BulkOverwriteGlobalCommands, json!([])),
    ];
    for (route, body) in valid {
        if let Err(problems) = validate_request(route, &body) {
            panic!("{route:?} {body}\n{problems:#?}");
        }
    }
}

/// The problem paths (JSON pointers) and codes a body gets.
fn problems(route: Route, body: &Value) -> Vec<(String, &'static str)> {
    match validate_request(route, body) {
        Ok(()) => panic!("{route:?} accepted {body}"),
        Err(problems) => problems.into_iter().map(|p| (p.path, p.code)).collect(),
    }
}

#[test]
fn bodies_beyond_discords_limits_fail_with_the_field_path() {
    let long_label = "x".repeat(81);
    assert_eq!(
        problems(Route::CreateMessage, &json!({"components": [row(vec![button("a", &long_label)])]})),
        vec![("/components/0/components/0/label".to_string(), "BASE_TYPE_MAX_LENGTH")]
    );
    assert_eq!(
        problems(Route::CreateMessage, &json!({"components": [row(vec![button(&"c".repeat(101), "ok")])]})),
        vec![("/components/0/components/0/custom_id".to_string(), "BASE_TYPE_MAX_LENGTH")]
    );
    assert_eq!(
        problems(Route::CreateMessage, &json!({"components": [row(vec![button("", "ok")])]})),
        vec![("/components/0/components/0/custom_id".to_string(), "BASE_TYPE_MIN_LENGTH")]
    );
    // Six action rows: the schema allows 40 top-level components (Components V2); the
    // documented limit for a classic message is 5.
    let rows: Vec<Value> = (0..6).map(|i| row(vec![button(&format!("b{i}"), "ok")])).collect();
    assert_eq!(
        problems(Route::CreateMessage, &json!({"components": rows})),
        vec![("/components".to_string(), "BASE_TYPE_MAX_LENGTH")]
    );
    let six_buttons: Vec<Value> = (0..6).map(|i| button(&format!("b{i}"), "ok")).collect();
    assert_eq!(
        problems(Route::CreateMessage, &json!({"components": [row(six_buttons)]})),
        vec![("/components/0/components".to_string(), "BASE_TYPE_MAX_LENGTH")]
    );
    assert_eq!(
        problems(Route::CreateMessage, &json!({"components": [row(vec![json!({"type": 99, "custom_id": "x"})])]})),
        vec![("/components/0/components/0".to_string(), "UNION_TYPE_CHOICES")]
    );
    assert_eq!(
        problems(Route::CreateMessage, &json!({"content": 5})),
        vec![("/content".to_string(), "BASE_TYPE_BAD_TYPE")]
    );
    assert_eq!(
        problems(
            Route::CreateMessage,
            &json!({"components": [row(vec![json!({"type": 2, "style": "primary", "custom_id": "a"})])]})
        ),
        vec![("/components/0/components/0/style".to_string(), "BASE_TYPE_BAD_TYPE")]
    );
    // The schema allows 4000 characters on message create; the documented limit is 2000.
    assert_eq!(
        problems(Route::CreateMessage, &json!({"content": "x".repeat(2001)})),
        vec![("/content".to_string(), "BASE_TYPE_MAX_LENGTH")]
    );
    assert_eq!(
        problems(Route::CreateMessage, &json!({"content": "x", "nonce": "n".repeat(26)})),
        vec![("/nonce".to_string(), "BASE_TYPE_MAX_LENGTH")]
    );
    assert_eq!(
        problems(Route::CreateMessage, &json!({"components": [row(vec![button("same", "a"), button("same", "b")])]})),
        vec![("/components/0/components/1/custom_id".to_string(), "COMPONENT_CUSTOM_ID_DUPLICATED")]
    );
    assert_eq!(
        problems(Route::CreateThreadFromMessage, &json!({"name": "t", "auto_archive_duration": 1441})),
        vec![("/auto_archive_duration".to_string(), "BASE_TYPE_CHOICES")]
    );
    assert_eq!(problems(Route::CreateThreadFromMessage, &json!({})), vec![("/name".to_string(), "BASE_TYPE_REQUIRED")]);
    assert_eq!(
        problems(
            Route::CreateMessage,
            &json!({"embeds": [{"description": "d".repeat(4000)}, {"description": "d".repeat(2001)}]})
        ),
        vec![("/embeds".to_string(), "MAX_EMBED_SIZE_EXCEEDED")]
    );
}

#[test]
fn interaction_responses_are_checked_against_the_callback_schema() {
    validate_interaction_response(&json!({"type": 1})).expect("PONG");
    validate_interaction_response(&json!({"type": 4, "data": {"content": "hi", "flags": 64}})).expect("message");
    let errors = validate_interaction_response(&json!({"type": 4, "data": {"content": "x".repeat(2001)}}))
        .expect_err("content over 2000");
    assert_eq!(errors.len(), 1, "schema and documented limit agree, one error: {errors:?}");
    assert!(errors[0].starts_with("/data/content:"), "{errors:?}");
    let errors = validate_interaction_response(&json!({"type": 3})).expect_err("no callback type 3");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let errors = validate_interaction_response(
        &json!({"type": 7, "data": {"components": [row(vec![button("a", &"l".repeat(81))])]}}),
    )
    .expect_err("label over 80");
    assert!(errors.iter().any(|e| e.starts_with("/data/components/0/components/0/label:")), "{errors:?}");
    let modal_rows: Vec<Value> = (0..6)
        .map(
            |i| json!({"type": 1, "components": [{"type": 4, "custom_id": format!("f{i}"), "style": 1, "label": "L"}]}),
        )
        .collect();
    let errors = validate_interaction_response(
        &json!({"type": 9, "data": {"custom_id": "m", "title": "T", "components": modal_rows}}),
    )
    .expect_err("six modal rows");
    assert!(errors.iter().any(|e| e.starts_with("/data/components:")), "{errors:?}");
    validate_interaction_response(
        &json!({"type": 4, "data": {"components": [{"type": 10, "content": "v2"}], "flags": 32768}}),
    )
    .expect("a Components V2 message may hold other top-level components");
}
