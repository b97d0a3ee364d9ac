//! Tests of the fake Discord itself: schema checks, Discord's behaviour, rate limits,
//! faults and the gateway, including a real serenity client against it.

use crate::common;

use common::fake_discord::schema::{validate_request, validate_response};
use common::fake_discord::{
    validate_interaction_response, FakeConfig, FakeDiscord, Fault, Member, Route, RouteMatcher,
};
use futures_util::{SinkExt, StreamExt};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const CHANNEL: &str = "1300000000000000001";
const OTHER_CHANNEL: &str = "1300000000000000002";

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

struct Api {
    http: reqwest::Client,
    base: String,
    auth: String,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Api {
    fn new(fake: &FakeDiscord) -> Self {
        Api {
            http: reqwest::Client::new(),
            base: format!("{}/api/v10", fake.api_base()),
            auth: format!("Bot {}", fake.token()),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>, auth: bool) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if auth {
            request = request.header("authorization", &self.auth);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the fake answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON answer") };
        Answer { status, headers, body }
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body), true).await
    }

    async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.send(reqwest::Method::PATCH, path, Some(body), true).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None, true).await
    }
}

async fn started() -> (FakeDiscord, Api) {
    let fake = FakeDiscord::start().await;
    fake.add_text_channel(CHANNEL);
    fake.add_text_channel(OTHER_CHANNEL);
    let api = Api::new(&fake);
    (fake, api)
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer.headers.get(name).unwrap_or_else(|| panic!("header {name} missing")).to_str().expect("ASCII header")
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

#[tokio::test]
async fn an_invalid_body_gets_50035_and_is_a_violation() {
    let (fake, api) = started().await;
    let body = json!({"content": "x", "components": [row(vec![button("a", &"l".repeat(81))])]});
    let answer = api.post(&format!("/channels/{CHANNEL}/messages"), &body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["code"], 50035);
    assert_eq!(answer.body["message"], "Invalid Form Body");
    assert_eq!(
        answer.body["errors"]["components"]["0"]["components"]["0"]["label"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    assert!(fake.messages(CHANNEL).is_empty());
    let violations = fake.violations();
    assert_eq!(violations.len(), 1);
    assert!(violations[0].problems[0].contains("/components/0/components/0/label"), "{violations:?}");
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fake.assert_no_violations()))
        .expect_err("a violation fails the test");
    let text = panic.downcast_ref::<String>().expect("a formatted panic message");
    assert!(text.contains("POST /api/v10/channels/"), "{text}");
}

#[tokio::test]
async fn unknown_routes_are_404_and_violations() {
    let (fake, api) = started().await;
    let answer = api.get(&format!("/channels/{CHANNEL}/pins")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let answer = api.send(reqwest::Method::DELETE, &format!("/channels/{CHANNEL}/messages/1"), None, true).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let answer = api.post("/channels/not-a-snowflake/messages", &json!({"content": "x"})).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(fake.violations().len(), 3);
}

// ----- behaviour -----

#[tokio::test]
async fn messages_are_created_edited_and_fetched() {
    let (fake, api) = started().await;
    let created = api.post(&format!("/channels/{CHANNEL}/messages"), &announcement("n-1")).await;
    assert_eq!(created.status, StatusCode::OK);
    let id = created.body["id"].as_str().expect("an id").to_string();
    validate_response(Route::CreateMessage, 200, &created.body).expect("the fake's message fits MessageResponse");
    assert_eq!(created.body["author"]["id"], fake.config().bot_user_id);
    assert_eq!(created.body["nonce"], "n-1");
    assert_eq!(created.body["components"][0]["components"][1]["disabled"], true);

    let edited = api
        .patch(&format!("/channels/{CHANNEL}/messages/{id}"), &json!({"content": "Shipped", "components": []}))
        .await;
    assert_eq!(edited.status, StatusCode::OK);
    assert_eq!(edited.body["content"], "Shipped");
    assert_eq!(edited.body["components"], json!([]));
    assert_eq!(edited.body["embeds"][0]["title"], "api 1.4.2", "fields absent from an edit stay");
    assert!(edited.body["edited_timestamp"].is_string());

    let fetched = api.get(&format!("/channels/{CHANNEL}/messages/{id}")).await;
    assert_eq!(fetched.body, edited.body);
    assert_eq!(fake.message(CHANNEL, &id), Some(edited.body.clone()));

    let unknown = api.patch(&format!("/channels/{CHANNEL}/messages/999"), &json!({"content": "x"})).await;
    assert_eq!(
        (unknown.status, unknown.body.clone()),
        (StatusCode::NOT_FOUND, json!({"message": "Unknown Message", "code": 10008}))
    );
    let unknown = api.post("/channels/999/messages", &json!({"content": "x"})).await;
    assert_eq!((unknown.status, unknown.body["code"].clone()), (StatusCode::NOT_FOUND, json!(10003)));
    let empty = api.post(&format!("/channels/{CHANNEL}/messages"), &json!({"content": ""})).await;
    assert_eq!((empty.status, empty.body["code"].clone()), (StatusCode::BAD_REQUEST, json!(50006)));
    fake.assert_no_violations();
}

#[tokio::test]
async fn a_create_repeated_with_its_nonce_returns_the_first_message() {
    let (fake, api) = started().await;
    let first = api.post(&format!("/channels/{CHANNEL}/messages"), &announcement("release-42")).await;
    let again = api.post(&format!("/channels/{CHANNEL}/messages"), &announcement("release-42")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(fake.messages(CHANNEL).len(), 1);

    // Without enforce_nonce, or in another channel, the nonce makes no message unique.
    let mut loose = announcement("release-42");
    loose["enforce_nonce"] = json!(false);
    api.post(&format!("/channels/{CHANNEL}/messages"), &loose).await;
    api.post(&format!("/channels/{OTHER_CHANNEL}/messages"), &announcement("release-42")).await;
    assert_eq!(fake.messages(CHANNEL).len(), 2);
    assert_eq!(fake.messages(OTHER_CHANNEL).len(), 1);
    fake.assert_no_violations();
}

#[tokio::test]
async fn a_thread_starts_from_a_message_once() {
    let (fake, api) = started().await;
    let message = api.post(&format!("/channels/{CHANNEL}/messages"), &json!({"content": "api 1.4.2"})).await;
    let id = message.body["id"].as_str().expect("an id").to_string();
    let body = json!({"name": "api 1.4.2", "auto_archive_duration": 1440});
    let thread = api.post(&format!("/channels/{CHANNEL}/messages/{id}/threads"), &body).await;
    assert_eq!(thread.status, StatusCode::CREATED);
    validate_response(Route::CreateThreadFromMessage, 201, &thread.body).expect("fits ThreadResponse");
    assert_eq!(thread.body["id"], id.as_str(), "the thread's id is the message's");
    assert_eq!(thread.body["type"], 11);
    assert_eq!(thread.body["parent_id"], CHANNEL);
    assert_eq!(thread.body["thread_metadata"]["auto_archive_duration"], 1440);

    let again = api.post(&format!("/channels/{CHANNEL}/messages/{id}/threads"), &body).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body["code"], 160004);

    let reply = api.post(&format!("/channels/{id}/messages"), &json!({"content": "deploying"})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["channel_id"], id.as_str());
    assert_eq!(fake.messages(&id).len(), 1);
    assert_eq!(fake.threads()[0]["message_count"], 1);
    assert_ne!(fake.message(CHANNEL, &id).expect("starter")["flags"].as_u64().expect("flags") & 32, 0, "HAS_THREAD");

    // No thread inside a thread.
    let nested =
        api.post(&format!("/channels/{id}/messages/{}/threads", reply.body["id"].as_str().expect("id")), &body).await;
    assert_eq!(nested.body["code"], 50024);

    let private = api.post(&format!("/channels/{CHANNEL}/threads"), &json!({"name": "private"})).await;
    assert_eq!(private.status, StatusCode::CREATED);
    assert_eq!(private.body["type"], 12, "PRIVATE_THREAD by default");
    let public = api.post(&format!("/channels/{CHANNEL}/threads"), &json!({"name": "public", "type": 11})).await;
    assert_eq!(public.body["type"], 11);
    assert_eq!(fake.threads().len(), 3);
    fake.assert_no_violations();
}

#[tokio::test]
async fn command_overwrites_replace_the_list_and_keep_ids() {
    let (fake, api) = started().await;
    let app = fake.application_id().to_string();
    let guild = fake.guild_id().to_string();
    let ship = json!({"name": "ship", "description": "Ship", "type": 1, "options": [{"type": 3, "name": "service", "description": "Service", "required": true}]});
    let first = api
        .send(
            reqwest::Method::PUT,
            &format!("/applications/{app}/guilds/{guild}/commands"),
            Some(&json!([ship, {"name": "hold", "description": "Hold"}])),
            true,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    validate_response(Route::BulkOverwriteGuildCommands, 200, &first.body).expect("fits ApplicationCommandResponse");
    let second = api
        .send(reqwest::Method::PUT, &format!("/applications/{app}/guilds/{guild}/commands"), Some(&json!([ship])), true)
        .await;
    assert_eq!(second.body[0]["id"], first.body[0]["id"]);
    assert_eq!(fake.commands(&app, Some(&guild)).len(), 1);
    assert!(fake.commands(&app, None).is_empty());

    let global =
        api.send(reqwest::Method::PUT, &format!("/applications/{app}/commands"), Some(&json!([ship])), true).await;
    assert_eq!(global.status, StatusCode::OK);
    assert_eq!(fake.commands(&app, None).len(), 1);

    let other_app = api.send(reqwest::Method::PUT, "/applications/42/commands", Some(&json!([])), true).await;
    assert_eq!((other_app.status, other_app.body["code"].clone()), (StatusCode::FORBIDDEN, json!(50001)));
    fake.assert_no_violations();
}

#[tokio::test]
async fn an_interaction_is_acknowledged_once_and_then_followed_up() {
    let (fake, api) = started().await;
    let posted = api.post(&format!("/channels/{CHANNEL}/messages"), &announcement("n-1")).await;
    let message_id = posted.body["id"].as_str().expect("id").to_string();
    let member = Member::new("1400000000000000001", "alice", &["1500000000000000001"]);
    let click = fake.button_interaction(CHANNEL, &message_id, "approve:42", &member);
    fake.register_interaction(&click);
    let id = click["id"].as_str().expect("id");
    let token = click["token"].as_str().expect("token");

    let update = json!({"type": 7, "data": {"content": "Approved by alice", "components": []}});
    let path = format!("/interactions/{id}/{token}/callback");
    let first = api.send(reqwest::Method::POST, &path, Some(&update), false).await;
    assert_eq!(first.status, StatusCode::NO_CONTENT);
    let second = api.send(reqwest::Method::POST, &path, Some(&update), false).await;
    assert_eq!((second.status, second.body["code"].clone()), (StatusCode::BAD_REQUEST, json!(40060)));
    assert_eq!(fake.interaction_callbacks(id), vec![update]);
    assert_eq!(fake.message(CHANNEL, &message_id).expect("message")["content"], "Approved by alice");

    let app = fake.application_id().to_string();
    let follow_up = api
        .send(
            reqwest::Method::POST,
            &format!("/webhooks/{app}/{token}"),
            Some(&json!({"content": "Deploying", "flags": 64})),
            false,
        )
        .await;
    assert_eq!(follow_up.status, StatusCode::OK);
    assert_eq!(follow_up.body["flags"], 64);
    let original = api
        .send(
            reqwest::Method::PATCH,
            &format!("/webhooks/{app}/{token}/messages/@original"),
            Some(&json!({"content": "Shipped"})),
            false,
        )
        .await;
    assert_eq!(original.status, StatusCode::OK);
    assert_eq!(original.body["id"], message_id.as_str(), "a component's original is the clicked message");
    assert_eq!(fake.interaction_webhooks(id).len(), 2);

    let unknown =
        api.send(reqwest::Method::POST, "/interactions/1/nope/callback", Some(&json!({"type": 1})), false).await;
    assert_eq!(unknown.body["code"], 10062);
    fake.assert_no_violations();
}

#[tokio::test]
async fn a_deferred_command_response_is_completed_through_the_original() {
    let (fake, api) = started().await;
    let member = Member::new("1400000000000000001", "alice", &[]);
    let command =
        fake.command_interaction(CHANNEL, "ship", json!([{"name": "service", "type": 3, "value": "api"}]), &member);
    fake.register_interaction(&command);
    let (id, token) = (command["id"].as_str().expect("id"), command["token"].as_str().expect("token"));
    let app = fake.application_id().to_string();

    let early = api
        .send(reqwest::Method::POST, &format!("/webhooks/{app}/{token}"), Some(&json!({"content": "x"})), false)
        .await;
    assert_eq!(early.body["code"], 10015, "no follow-up before the initial response");

    let deferred = api
        .send(
            reqwest::Method::POST,
            &format!("/interactions/{id}/{token}/callback?with_response=true"),
            Some(&json!({"type": 5})),
            false,
        )
        .await;
    assert_eq!(deferred.status, StatusCode::OK);
    validate_response(Route::InteractionCallback, 200, &deferred.body).expect("fits InteractionCallbackResponse");
    assert_eq!(deferred.body["interaction"]["response_message_loading"], true);
    let loading_id = deferred.body["interaction"]["response_message_id"].as_str().expect("the loading message");
    let loading = fake.message(CHANNEL, loading_id).expect("stored");
    assert_eq!(loading["flags"].as_u64().expect("flags") & 128, 128, "LOADING");

    let done = api
        .send(
            reqwest::Method::PATCH,
            &format!("/webhooks/{app}/{token}/messages/@original"),
            Some(&json!({"content": "Release started"})),
            false,
        )
        .await;
    assert_eq!(done.body["content"], "Release started");
    assert_eq!(done.body["flags"].as_u64().expect("flags") & 128, 0, "no longer loading");
    assert_eq!(done.body["type"], 20, "a reply to a chat command");

    let wrong = fake.command_interaction(CHANNEL, "ship", json!([]), &member);
    fake.register_interaction(&wrong);
    let update = json!({"type": 7, "data": {"content": "x"}});
    let path = format!(
        "/interactions/{}/{}/callback",
        wrong["id"].as_str().expect("id"),
        wrong["token"].as_str().expect("token")
    );
    let answer = api.send(reqwest::Method::POST, &path, Some(&update), false).await;
    assert_eq!(answer.body["code"], 50035, "UPDATE_MESSAGE answers components, not commands");
    assert_eq!(fake.violations().len(), 1);
}

#[tokio::test]
async fn an_answer_given_over_http_is_applied_like_a_callback() {
    let (fake, api) = started().await;
    let posted = api.post(&format!("/channels/{CHANNEL}/messages"), &announcement("n-1")).await;
    let message_id = posted.body["id"].as_str().expect("id").to_string();
    let click =
        fake.button_interaction(CHANNEL, &message_id, "approve:42", &Member::new("1400000000000000001", "alice", &[]));
    fake.register_interaction(&click);
    let id = click["id"].as_str().expect("id");
    fake.apply_http_interaction_response(id, &json!({"type": 7, "data": {"content": "Approved", "components": []}}))
        .expect("a valid answer");
    assert_eq!(fake.message(CHANNEL, &message_id).expect("message")["content"], "Approved");
    let errors = fake.apply_http_interaction_response(id, &json!({"type": 6})).expect_err("acknowledged already");
    assert!(errors[0].contains("40060"), "{errors:?}");
}

#[tokio::test]
async fn an_initial_response_after_the_deadline_is_refused() {
    let config = FakeConfig { initial_response_deadline: Duration::from_millis(100), ..FakeConfig::default() };
    let fake = FakeDiscord::start_with(config).await;
    fake.add_text_channel(CHANNEL);
    let api = Api::new(&fake);
    let click = fake.button_interaction(
        CHANNEL,
        "1600000000000000001",
        "approve:1",
        &Member::new("1400000000000000001", "alice", &[]),
    );
    fake.register_interaction(&click);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let path = format!(
        "/interactions/{}/{}/callback",
        click["id"].as_str().expect("id"),
        click["token"].as_str().expect("token")
    );
    let late = api.send(reqwest::Method::POST, &path, Some(&json!({"type": 6})), false).await;
    assert_eq!((late.status, late.body["code"].clone()), (StatusCode::NOT_FOUND, json!(10062)));
}

#[tokio::test]
async fn the_other_endpoints_answer_like_discord() {
    let (fake, api) = started().await;
    let gateway = api.get("/gateway").await;
    assert_eq!(gateway.body, json!({"url": format!("ws://127.0.0.1:{}", fake.port())}));
    validate_response(Route::GetGateway, 200, &gateway.body).expect("fits GatewayResponse");
    let bot = api.get("/gateway/bot").await;
    validate_response(Route::GetGatewayBot, 200, &bot.body).expect("fits GatewayBotResponse");
    let me = api.get("/users/@me").await;
    validate_response(Route::GetCurrentUser, 200, &me.body).expect("fits UserPIIResponse");
    assert_eq!(me.body["bot"], true);
    fake.assert_no_violations();
}

// ----- authentication -----

#[tokio::test]
async fn requests_without_the_bot_token_get_401() {
    let (fake, api) = started().await;
    let path = format!("{}/api/v10/channels/{CHANNEL}/messages", fake.api_base());
    let missing = api.http.post(&path).json(&json!({"content": "x"})).send().await.expect("an answer");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.json::<Value>().await.expect("JSON"), json!({"message": "401: Unauthorized", "code": 0}));
    let wrong = api
        .http
        .post(&path)
        .header("authorization", "Bot nope")
        .json(&json!({"content": "x"}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let bearer = api
        .http
        .post(&path)
        .header("authorization", format!("Bearer {}", fake.token()))
        .json(&json!({"content": "x"}))
        .send()
        .await;
    assert_eq!(bearer.expect("an answer").status(), StatusCode::UNAUTHORIZED);
    assert!(fake.messages(CHANNEL).is_empty());
    assert_eq!(fake.invalid_request_count(), 3);
    // GET /gateway needs no token.
    let gateway = api.send(reqwest::Method::GET, "/gateway", None, false).await;
    assert_eq!(gateway.status, StatusCode::OK);
    assert_eq!(fake.requests()[0].headers.get("authorization"), None);
}

// ----- rate limits -----

#[tokio::test]
async fn a_bucket_answers_429_once_empty_and_refills_after_its_window() {
    let (fake, api) = started().await;
    // A window long enough that a loaded machine never lets it lapse between the first
    // requests below, which would refill the bucket early.
    fake.set_bucket_limit(Route::CreateMessage, 2, Duration::from_secs(3));
    let path = format!("/channels/{CHANNEL}/messages");
    let first = api.post(&path, &json!({"content": "1"})).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(header(&first, "x-ratelimit-limit"), "2");
    assert_eq!(header(&first, "x-ratelimit-remaining"), "1");
    let reset_after: f64 = header(&first, "x-ratelimit-reset-after").parse().expect("seconds");
    assert!(reset_after > 0.0 && reset_after <= 3.0, "{reset_after}");
    let reset: f64 = header(&first, "x-ratelimit-reset").parse().expect("epoch seconds");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs_f64();
    assert!((reset - now - reset_after).abs() < 0.5, "reset {reset} now {now}");
    let bucket = header(&first, "x-ratelimit-bucket").to_string();

    let second = api.post(&path, &json!({"content": "2"})).await;
    assert_eq!(header(&second, "x-ratelimit-remaining"), "0");
    assert_eq!(header(&second, "x-ratelimit-bucket"), bucket);

    let limited = api.post(&path, &json!({"content": "3"})).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["message"], "You are being rate limited.");
    assert_eq!(limited.body["global"], false);
    let retry_after = limited.body["retry_after"].as_f64().expect("float seconds");
    assert!(retry_after > 0.0 && retry_after <= 3.0, "{retry_after}");
    assert_eq!(header(&limited, "retry-after"), format!("{}", retry_after.ceil() as u64));
    assert_eq!(header(&limited, "x-ratelimit-scope"), "user");
    assert!(limited.headers.get("x-ratelimit-global").is_none());
    assert_eq!(fake.messages(CHANNEL).len(), 2);
    assert_eq!(fake.invalid_request_count(), 1);

    // Another channel has its own bucket; another route too.
    assert_eq!(
        api.post(&format!("/channels/{OTHER_CHANNEL}/messages"), &json!({"content": "x"})).await.status,
        StatusCode::OK
    );
    let id = first.body["id"].as_str().expect("id");
    assert_eq!(api.patch(&format!("{path}/{id}"), &json!({"content": "edited"})).await.status, StatusCode::OK);

    tokio::time::sleep(Duration::from_secs_f64(retry_after + 0.05)).await;
    let after = api.post(&path, &json!({"content": "4"})).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(header(&after, "x-ratelimit-remaining"), "1");
    fake.assert_no_violations();
}

#[tokio::test]
async fn the_global_limit_spares_interaction_endpoints() {
    let (fake, api) = started().await;
    fake.set_global_limit(3);
    for _ in 0..3 {
        assert_eq!(api.get("/users/@me").await.status, StatusCode::OK);
    }
    let limited = api.get("/gateway").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["global"], true);
    assert_eq!(header(&limited, "x-ratelimit-global"), "true");
    assert_eq!(header(&limited, "x-ratelimit-scope"), "global");

    let click = fake.button_interaction(
        CHANNEL,
        "1600000000000000001",
        "approve:1",
        &Member::new("1400000000000000001", "alice", &[]),
    );
    fake.register_interaction(&click);
    let path = format!(
        "/interactions/{}/{}/callback",
        click["id"].as_str().expect("id"),
        click["token"].as_str().expect("token")
    );
    let callback = api.send(reqwest::Method::POST, &path, Some(&json!({"type": 6})), false).await;
    assert_eq!(callback.status, StatusCode::NO_CONTENT, "callbacks are exempt from the global limit");
}

// ----- faults -----

#[tokio::test]
async fn ordered_faults_answer_then_stop() {
    let (fake, api) = started().await;
    let path = format!("/channels/{CHANNEL}/messages");
    fake.fail_next(Route::CreateMessage, Fault::ServerError(502), 2);
    fake.fail_next(
        RouteMatcher::Any,
        Fault::TooManyRequests { retry_after: Duration::from_millis(1500), global: true },
        1,
    );
    assert_eq!(api.post(&path, &json!({"content": "1"})).await.status, StatusCode::BAD_GATEWAY);
    let server_error = api.post(&path, &json!({"content": "2"})).await;
    assert_eq!(server_error.body, json!({"message": "502: Bad Gateway", "code": 0}));
    let limited = api.post(&path, &json!({"content": "3"})).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["retry_after"], 1.5);
    assert_eq!(limited.body["global"], true);
    assert_eq!(header(&limited, "retry-after"), "2");
    assert!(fake.messages(CHANNEL).is_empty(), "failed requests have no effect");
    assert_eq!(api.post(&path, &json!({"content": "4"})).await.status, StatusCode::OK);

    // A fault for one channel leaves the others alone.
    fake.fail_next(
        RouteMatcher::RouteWith(Route::CreateMessage, "channel_id", OTHER_CHANNEL.to_string()),
        Fault::ServerError(500),
        1,
    );
    assert_eq!(api.post(&path, &json!({"content": "5"})).await.status, StatusCode::OK);
    assert_eq!(
        api.post(&format!("/channels/{OTHER_CHANNEL}/messages"), &json!({"content": "6"})).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    fake.assert_no_violations();
}

#[tokio::test]
async fn a_dropped_connection_has_no_answer_and_no_effect() {
    let (fake, api) = started().await;
    fake.fail_next(Route::CreateMessage, Fault::DropConnection, 1);
    let url = format!("{}/channels/{CHANNEL}/messages", api.base);
    let dropped = api.http.post(&url).header("authorization", &api.auth).json(&json!({"content": "x"})).send().await;
    assert!(dropped.is_err(), "{dropped:?}");
    assert!(fake.messages(CHANNEL).is_empty());
    assert_eq!(fake.requests()[0].status, None);

    fake.fail_next(Route::CreateMessage, Fault::DropResponse, 1);
    let dropped = api.http.post(&url).header("authorization", &api.auth).json(&json!({"content": "y"})).send().await;
    assert!(dropped.is_err(), "{dropped:?}");
    assert_eq!(fake.messages(CHANNEL).len(), 1, "DropResponse loses the answer, not the effect");
    assert_eq!(
        api.post(&format!("/channels/{CHANNEL}/messages"), &json!({"content": "z"})).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_slow_create_retried_with_its_nonce_makes_one_message() {
    let (fake, api) = started().await;
    fake.fail_next(Route::CreateMessage, Fault::Slow(Duration::from_millis(800)), 1);
    let url = format!("{}/channels/{CHANNEL}/messages", api.base);
    let body = announcement("release-7");
    let timed_out = api
        .http
        .post(&url)
        .header("authorization", &api.auth)
        .timeout(Duration::from_millis(200))
        .json(&body)
        .send()
        .await;
    assert!(timed_out.expect_err("the client gives up").is_timeout());
    let retried = api.post(&format!("/channels/{CHANNEL}/messages"), &body).await;
    assert_eq!(retried.status, StatusCode::OK);
    assert_eq!(fake.messages(CHANNEL).len(), 1);
    assert_eq!(retried.body["id"], fake.messages(CHANNEL)[0]["id"]);
}

#[tokio::test]
async fn while_down_nothing_answers() {
    let (fake, api) = started().await;
    // A pooled connection, opened while up, must be cut too.
    assert_eq!(api.get("/gateway").await.status, StatusCode::OK);
    fake.set_down(true);
    let url = format!("{}/gateway", api.base);
    assert!(api.http.get(&url).send().await.is_err());
    assert!(reqwest::Client::new().get(&url).send().await.is_err());
    fake.set_down(false);
    assert_eq!(api.get("/gateway").await.status, StatusCode::OK);
}

// ----- gateway -----

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a gateway frame within 5 s")
            .expect("the socket is open")
            .expect("a frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            return serde_json::from_str(&text).expect("JSON frame");
        }
    }
}

async fn send_json(socket: &mut Socket, value: Value) {
    socket.send(tokio_tungstenite::tungstenite::Message::Text(value.to_string().into())).await.expect("send a frame");
}

#[tokio::test]
async fn the_gateway_says_hello_readies_acks_and_dispatches_in_sequence() {
    let (fake, _api) = started().await;
    let member = Member::new("1400000000000000001", "alice", &["1500000000000000001"]);
    // Dispatched before anyone connects: queued for the first session.
    let early = fake.button_interaction(CHANNEL, "1600000000000000001", "approve:1", &member);
    fake.dispatch_interaction(early.clone());

    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/?v=10", fake.port()))
        .await
        .expect("connect to the gateway");
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["op"], 10);
    assert_eq!(hello["d"]["heartbeat_interval"], fake.config().heartbeat_interval_ms);

    send_json(&mut socket, json!({"op": 2, "d": {"token": fake.token(), "intents": 0, "properties": {"os": "linux", "browser": "test", "device": "test"}}})).await;
    let ready = next_json(&mut socket).await;
    assert_eq!((ready["op"].clone(), ready["t"].clone(), ready["s"].clone()), (json!(0), json!("READY"), json!(1)));
    assert_eq!(ready["d"]["user"]["id"], fake.config().bot_user_id);
    assert_eq!(ready["d"]["application"]["id"], fake.application_id());
    let queued = next_json(&mut socket).await;
    assert_eq!(
        (queued["t"].clone(), queued["s"].clone(), queued["d"]["id"].clone()),
        (json!("INTERACTION_CREATE"), json!(2), early["id"].clone())
    );
    fake.wait_identified().await;
    assert_eq!(fake.gateway_sessions(), 1);

    send_json(&mut socket, json!({"op": 1, "d": 2})).await;
    assert_eq!(next_json(&mut socket).await["op"], 11);

    let later = fake.button_interaction(CHANNEL, "1600000000000000001", "reject:1", &member);
    fake.dispatch_interaction(later.clone());
    let dispatched = next_json(&mut socket).await;
    assert_eq!((dispatched["s"].clone(), dispatched["d"]["data"]["custom_id"].clone()), (json!(3), json!("reject:1")));
    assert_eq!(fake.gateway_identifies().len(), 1);

    fake.close_gateway_sessions(4000);
    let closed = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a close within 5 s");
    assert!(
        matches!(closed, Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(ref frame)))) if u16::from(frame.code) == 4000),
        "{closed:?}"
    );
}

// ----- a real serenity client -----

mod with_serenity {
    use super::*;
    use serenity::all::{
        ClientBuilder, Context, CreateInteractionResponse, CreateInteractionResponseMessage, EventHandler,
        GatewayIntents, HttpBuilder, Interaction, Ready,
    };
    use tokio::sync::mpsc;

    struct Handler {
        events: mpsc::UnboundedSender<String>,
    }

    #[serenity::async_trait]
    impl EventHandler for Handler {
        async fn ready(&self, _ctx: Context, ready: Ready) {
            let _ = self.events.send(format!("ready {}", ready.user.name));
        }

        async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
            let Interaction::Component(click) = interaction else {
                let _ = self.events.send("unexpected interaction".to_string());
                return;
            };
            let update = CreateInteractionResponse::UpdateMessage(
                CreateInteractionResponseMessage::new()
                    .content(format!("Approved by {}", click.user.name))
                    .components(vec![]),
            );
            let outcome = match click.create_response(&ctx.http, update).await {
                Ok(()) => "answered".to_string(),
                Err(e) => format!("answer failed: {e}"),
            };
            let _ = self.events.send(format!("clicked {} {outcome}", click.data.custom_id));
        }
    }

    async fn next_event(events: &mut mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s")
            .expect("the handler lives")
    }

    #[tokio::test]
    async fn a_serenity_client_receives_a_click_and_answers_it() {
        let (fake, api) = started().await;
        let posted = api.post(&format!("/channels/{CHANNEL}/messages"), &announcement("n-1")).await;
        let message_id = posted.body["id"].as_str().expect("id").to_string();

        let http = HttpBuilder::new(fake.token()).proxy(fake.api_base()).ratelimiter_disabled(true).build();
        let (tx, mut events) = mpsc::unbounded_channel();
        let mut client = ClientBuilder::new_with_http(http, GatewayIntents::empty())
            .event_handler(Handler { events: tx })
            .await
            .expect("the client builds (GET /gateway)");
        assert_eq!(fake.requests_to(Route::GetGateway).len(), 1, "the gateway URL came from the fake");
        let shards = client.shard_manager.clone();
        let run = tokio::spawn(async move { client.start().await });

        fake.wait_identified().await;
        assert_eq!(next_event(&mut events).await, format!("ready {}", fake.config().bot_username));

        let member = Member::new("1400000000000000001", "alice", &["1500000000000000001"]);
        let click = fake.button_interaction(CHANNEL, &message_id, "approve:42", &member);
        serde_json::from_value::<Interaction>(click.clone()).expect("the fixture fits serenity's model");
        fake.dispatch_interaction(click.clone());
        assert_eq!(next_event(&mut events).await, "clicked approve:42 answered");

        let callbacks = fake.interaction_callbacks(click["id"].as_str().expect("id"));
        assert_eq!(callbacks.len(), 1);
        assert_eq!(callbacks[0]["type"], 7);
        assert_eq!(fake.message(CHANNEL, &message_id).expect("message")["content"], "Approved by alice");
        let identify = &fake.gateway_identifies()[0];
        assert!(identify["d"]["token"].as_str().expect("token").ends_with(fake.token()), "{identify}");
        fake.assert_no_violations();

        shards.shutdown_all().await;
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the client stops")
            .expect("the task joins")
            .expect("a clean stop");
    }
}
