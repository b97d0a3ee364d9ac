//! Tests of the fake Slack itself: the Web API contract and Block Kit limits, messages,
//! threads, edits, ephemerals, modals, response URLs, faults and rate limits, Socket Mode,
//! and the request signature.

#[path = "common/fake_slack/mod.rs"]
mod fake_slack;

use fake_slack::contract::validate_response;
use fake_slack::{
    check_blocks, check_view, form_encode, sign, signed_headers, FakeConfig, FakeSlack, Fault, Method, SlackUser,
    Surface,
};
use futures_util::{SinkExt, StreamExt};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const RELEASES: &str = "C0RELEASES1";
const INCIDENTS: &str = "C0INCIDENT1";

fn alice() -> SlackUser {
    SlackUser::new("U0ALICE0001", "alice")
}

fn button(action_id: &str, text: &str) -> Value {
    json!({"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": "v"})
}

/// A step card as shipgate renders it: header, an item, the gate and a failure path.
fn card() -> Value {
    json!([
        {"type": "header", "text": {"type": "plain_text", "text": "Step 1 — Pre-flight (0/5)"}},
        {"type": "section", "block_id": "item-0", "text": {"type": "mrkdwn", "text": "*PRs merged*"},
         "accessory": button("sg1:r1:s0:1:i0", "Tick")},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "started by <@U0ALICE0001>"}]},
        {"type": "divider"},
        {"type": "actions", "block_id": "gate", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Approve gate"}, "style": "primary",
             "action_id": "sg1:r1:s0:1:g", "value": "gate"},
            {"type": "button", "text": {"type": "plain_text", "text": "Abort"}, "style": "danger",
             "action_id": "sg1:r1:s0:1:p0",
             "confirm": {
                "title": {"type": "plain_text", "text": "Abort the release?"},
                "text": {"type": "mrkdwn", "text": "This cannot be undone."},
                "confirm": {"type": "plain_text", "text": "Abort"},
                "deny": {"type": "plain_text", "text": "Keep going"},
                "style": "danger",
             }},
        ]},
    ])
}

/// The artifact form shipgate opens as a modal.
fn artifact_modal() -> Value {
    json!({
        "type": "modal",
        "callback_id": "sg1m:r1:s2:1:ea",
        "title": {"type": "plain_text", "text": "Artifact"},
        "submit": {"type": "plain_text", "text": "Record"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": "r1",
        "blocks": [
            {"type": "input", "block_id": "version", "label": {"type": "plain_text", "text": "Version"},
             "element": {"type": "plain_text_input", "action_id": "version"}},
            {"type": "input", "block_id": "outcome", "label": {"type": "plain_text", "text": "Outcome"},
             "element": {"type": "static_select", "action_id": "outcome", "options": [
                {"text": {"type": "plain_text", "text": "Succeeded"}, "value": "succeeded"},
                {"text": {"type": "plain_text", "text": "Failed"}, "value": "failed"},
             ]}},
        ],
    })
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn ok(&self) -> bool {
        self.body["ok"] == true
    }

    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_else(|| panic!("no error in {}", self.body))
    }

    fn messages(&self) -> Vec<String> {
        let list = self.body["response_metadata"]["messages"].as_array();
        list.into_iter().flatten().map(|m| m.as_str().expect("messages are strings").to_string()).collect()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("a JSON answer") };
    Answer { status, headers, body }
}

impl Api {
    fn new(fake: &FakeSlack) -> Self {
        Api { http: reqwest::Client::new(), base: fake.api_base(), token: fake.bot_token().to_string() }
    }

    async fn json_as(&self, method: &str, body: &Value, token: Option<&str>) -> Answer {
        let mut request = self.http.post(format!("{}/{method}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.expect("the fake answers")).await
    }

    async fn json(&self, method: &str, body: &Value) -> Answer {
        self.json_as(method, body, Some(&self.token)).await
    }

    async fn form(&self, method: &str, fields: &[(&str, &str)]) -> Answer {
        let request = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(fields.iter().copied()));
        answer(request.send().await.expect("the fake answers")).await
    }

    async fn get(&self, method: &str, query: &[(&str, &str)]) -> Answer {
        let url = format!("{}/{method}?{}", self.base, form_encode(query.iter().copied()));
        answer(self.http.get(url).bearer_auth(&self.token).send().await.expect("the fake answers")).await
    }

    async fn post_card(&self, channel: &str) -> String {
        let answer =
            self.json("chat.postMessage", &json!({"channel": channel, "text": "Step 1", "blocks": card()})).await;
        assert!(answer.ok(), "{:?}", answer.body);
        answer.body["ts"].as_str().expect("a ts").to_string()
    }
}

async fn started_with(config: FakeConfig) -> (FakeSlack, Api) {
    let fake = FakeSlack::start_with(config).await;
    fake.add_channel(RELEASES);
    fake.add_channel(INCIDENTS);
    let api = Api::new(&fake);
    (fake, api)
}

async fn started() -> (FakeSlack, Api) {
    started_with(FakeConfig::default()).await
}

fn assert_documented(method: Method, body: &Value) {
    if let Err(problems) = validate_response(method, body) {
        panic!("the fake's {} answer breaks the document: {problems:#?}\n{body}", method.name());
    }
}

fn is_ts(ts: &str) -> bool {
    let (secs, micros) = ts.split_once('.').expect("a ts has a dot");
    secs.len() == 10 && micros.len() == 6 && (secs.to_string() + micros).bytes().all(|b| b.is_ascii_digit())
}

// ----- Block Kit -----

/// The problem texts of blocks that must fail, with their JSON pointers.
fn block_problems(blocks: Value) -> Vec<String> {
    let problems = check_blocks(&blocks, Surface::Message, "/blocks");
    assert!(!problems.is_empty(), "accepted {blocks}");
    problems
}

#[test]
fn a_step_card_and_a_modal_pass_block_kit() {
    assert_eq!(check_blocks(&card(), Surface::Message, "/blocks"), Vec::<String>::new());
    assert_eq!(check_view(&artifact_modal(), "/view"), Vec::<String>::new());
}

#[test]
fn block_kit_limits_are_refused_with_the_field_pointer() {
    let cases: Vec<(Value, &str)> = vec![
        (json!([{"type": "actions", "elements": [button("a", &"x".repeat(76))]}]), "/blocks/0/elements/0/text/text"),
        (json!([{"type": "actions", "elements": [button(&"a".repeat(256), "ok")]}]), "/blocks/0/elements/0/action_id"),
        (
            json!([{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "ok"},
                "action_id": "a", "value": "v".repeat(2001)}]}]),
            "/blocks/0/elements/0/value",
        ),
        (
            json!([{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "ok"},
                "action_id": "a", "disabled": true}]}]),
            "/blocks/0/elements/0/disabled",
        ),
        (
            json!([{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "ok"},
                "action_id": "a", "style": "secondary"}]}]),
            "/blocks/0/elements/0/style",
        ),
        (
            json!([{"type": "actions", "elements": [{"type": "button", "text": {"type": "mrkdwn", "text": "ok"},
                "action_id": "a"}]}]),
            "/blocks/0/elements/0/text/type",
        ),
        (
            json!([{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "ok"},
                "action_id": "a", "confirm": {"title": {"type": "plain_text", "text": "Sure?"},
                "text": {"type": "plain_text", "text": "Really"}, "confirm": {"type": "plain_text", "text": "Yes"}}}]}]),
            "/blocks/0/elements/0/confirm/deny",
        ),
        (
            json!([{"type": "actions", "elements": [button("same", "one")]},
                   {"type": "actions", "elements": [button("same", "two")]}]),
            "/blocks/1/elements/0/action_id",
        ),
        (
            json!([{"type": "actions", "elements": (0..26).map(|i| button(&format!("b{i}"), "ok")).collect::<Vec<_>>()}]),
            "/blocks/0/elements",
        ),
        (json!([{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}}]), "/blocks/0/text/text"),
        (json!([{"type": "header", "text": {"type": "plain_text", "text": "x".repeat(151)}}]), "/blocks/0/text/text"),
        (json!([{"type": "header", "text": {"type": "mrkdwn", "text": "Step"}}]), "/blocks/0/text/type"),
        (json!([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}]), "/blocks/0/text/text"),
        (json!([{"type": "section", "txt": {"type": "mrkdwn", "text": "typo"}}]), "/blocks/0/txt"),
        (json!([{"type": "video"}]), "/blocks/0/type"),
        ((0..51).map(|_| json!({"type": "divider"})).collect::<Vec<_>>().into(), "/blocks"),
    ];
    for (blocks, pointer) in cases {
        let problems = block_problems(blocks.clone());
        let wanted = format!("[json-pointer:{pointer}]");
        assert!(
            problems.iter().any(|p| p.ends_with(&wanted)),
            "{blocks}\nwanted a problem at {pointer}: {problems:#?}"
        );
    }
}

#[test]
fn a_modal_has_its_own_limits() {
    let mut view = artifact_modal();
    view["title"]["text"] = json!("x".repeat(25));
    assert!(check_view(&view, "/view").iter().any(|p| p.ends_with("[json-pointer:/view/title/text]")));
    let mut view = artifact_modal();
    view.as_object_mut().expect("an object").remove("submit");
    assert!(check_view(&view, "/view").iter().any(|p| p.ends_with("[json-pointer:/view/submit]")));
    // 100 blocks fit a modal, not a message.
    let blocks: Vec<Value> = (0..100).map(|_| json!({"type": "divider"})).collect();
    let mut view = artifact_modal();
    view["blocks"] = json!(blocks);
    view.as_object_mut().expect("an object").remove("submit");
    assert_eq!(check_view(&view, "/view"), Vec::<String>::new());
    assert!(!check_blocks(&json!(blocks), Surface::Message, "/blocks").is_empty());
}

// ----- chat.postMessage -----

#[tokio::test]
async fn a_card_is_posted_as_json_or_form_encoded_and_kept() {
    let (fake, api) = started().await;
    let first = api.json("chat.postMessage", &json!({"channel": RELEASES, "text": "Step 1", "blocks": card()})).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.ok(), "{:?}", first.body);
    assert_documented(Method::ChatPostMessage, &first.body);
    assert_eq!(first.body["channel"], RELEASES);
    assert_eq!(first.body["message"]["blocks"], card());

    // Form-encoded, `blocks` is JSON text.
    let blocks = card().to_string();
    let second = api.form("chat.postMessage", &[("channel", RELEASES), ("text", "Step 2"), ("blocks", &blocks)]).await;
    assert!(second.ok(), "{:?}", second.body);

    let (ts1, ts2) = (first.body["ts"].as_str().unwrap(), second.body["ts"].as_str().unwrap());
    assert!(is_ts(ts1) && is_ts(ts2), "{ts1} {ts2}");
    assert!(ts1 < ts2, "timestamps increase");
    let messages = fake.messages_in(RELEASES);
    assert_eq!(messages.iter().map(|m| m.ts.as_str()).collect::<Vec<_>>(), vec![ts1, ts2]);
    assert_eq!(messages[1].blocks, Some(card()));
    assert_eq!(messages[1].text.as_deref(), Some("Step 2"));
    assert!(messages[0].action_ids().contains(&"sg1:r1:s0:1:g".to_string()));
    let recorded = fake.requests_to("chat.postMessage");
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[1].arg("blocks"), Some(&card()), "the record parses form-encoded blocks");
    assert_eq!(recorded[1].status, 200);
    fake.assert_no_problems();
}

#[tokio::test]
async fn too_many_blocks_or_a_long_button_text_are_invalid_blocks() {
    let (fake, api) = started().await;
    let blocks: Vec<Value> =
        (0..51).map(|i| json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("item {i}")}})).collect();
    let answer = api.json("chat.postMessage", &json!({"channel": RELEASES, "text": "long", "blocks": blocks})).await;
    assert_eq!(answer.status, StatusCode::OK, "Slack answers errors with 200");
    assert_eq!(answer.error(), "invalid_blocks");
    assert_eq!(answer.messages(), vec!["[ERROR] no more than 50 items allowed [json-pointer:/blocks]".to_string()]);

    let long = json!([{"type": "actions", "elements": [button("a", &"x".repeat(76))]}]);
    let answer = api.json("chat.postMessage", &json!({"channel": RELEASES, "text": "long", "blocks": long})).await;
    assert_eq!(answer.error(), "invalid_blocks");
    assert_eq!(
        answer.messages(),
        vec!["[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]".to_string()]
    );
    assert_eq!(
        answer.body["errors"][0],
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"
    );

    assert!(fake.messages_in(RELEASES).is_empty(), "refused messages are not posted");
    let problems = fake.take_problems();
    assert_eq!(problems.len(), 2);
    assert!(problems.iter().all(|p| p.method == "chat.postMessage" && p.answered.as_deref() == Some("invalid_blocks")));
    fake.assert_no_problems();
}

#[tokio::test]
async fn unknown_missing_and_mistyped_arguments_are_invalid_arguments() {
    let (fake, api) = started().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"channel": RELEASES, "text": "hi", "thread": "1733230000.000100"}),
            "[ERROR] unknown argument `thread`",
        ),
        (json!({"text": "hi"}), "[ERROR] missing required field: channel"),
        (
            json!({"channel": RELEASES, "text": "hi", "reply_broadcast": "yes"}),
            "[ERROR] `reply_broadcast` must be a boolean",
        ),
        (
            json!({"channel": RELEASES, "text": "hi", "blocks": {"type": "divider"}}),
            "[ERROR] `blocks` must be a string",
        ),
        (json!({"channel": RELEASES, "text": "hi", "blocks": "[{\"type\""}), "[ERROR] `blocks` must be JSON text"),
        (json!({"channel": RELEASES, "text": 5}), "[ERROR] `text` must be a string"),
        (
            json!({"channel": RELEASES, "text": "hi", "token": "xoxb-in-the-body"}),
            "[ERROR] the token belongs in the Authorization header",
        ),
    ];
    for (body, wanted) in &cases {
        let answer = api.json("chat.postMessage", body).await;
        assert_eq!(answer.error(), "invalid_arguments", "{body}");
        assert!(answer.messages().iter().any(|m| m.starts_with(wanted)), "{body}: {:?}", answer.messages());
    }
    // The document lists only form encoding for usergroups.users.list.
    let answer = api.json("usergroups.users.list", &json!({"usergroup": "S0RELEASE1"})).await;
    assert_eq!(answer.error(), "invalid_arguments");
    assert!(answer.messages()[0].contains("takes no JSON body"), "{:?}", answer.messages());
    // A message needs text or blocks.
    let answer = api.json("chat.postMessage", &json!({"channel": RELEASES})).await;
    assert_eq!(answer.error(), "no_text");

    assert!(fake.messages_in(RELEASES).is_empty());
    assert_eq!(fake.take_problems().len(), cases.len() + 2);
}

#[tokio::test]
async fn blocks_without_fallback_text_are_posted_but_flagged() {
    let (fake, api) = started().await;
    let answer = api.json("chat.postMessage", &json!({"channel": RELEASES, "blocks": card()})).await;
    assert!(answer.ok(), "Slack posts it");
    let problems = fake.take_problems();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].answered, None);
    assert!(problems[0].messages[0].contains("top-level `text`"));
}

#[tokio::test]
async fn a_channel_the_bot_is_not_in_is_not_found() {
    let (fake, api) = started().await;
    let answer = api.json("chat.postMessage", &json!({"channel": "C0ELSEWHERE", "text": "hi"})).await;
    assert_eq!(answer.error(), "channel_not_found");
    fake.assert_no_problems();
}

#[tokio::test]
async fn requests_need_the_bot_token_as_bearer() {
    let (fake, api) = started().await;
    let body = json!({"channel": RELEASES, "text": "hi"});
    let none = api.json_as("chat.postMessage", &body, None).await;
    assert_eq!((none.status, none.error()), (StatusCode::OK, "not_authed"));
    let wrong = api.json_as("chat.postMessage", &body, Some("xoxb-someone-else")).await;
    assert_eq!(wrong.error(), "invalid_auth");
    let app = api.json_as("chat.postMessage", &body, Some(fake.app_token())).await;
    assert_eq!(app.error(), "not_allowed_token_type");
    assert!(fake.messages_in(RELEASES).is_empty());
    // A missing header and the wrong one of the app's own tokens are bugs; an unknown token
    // is a misconfiguration the adapter must report.
    let problems: Vec<String> = fake.take_problems().into_iter().filter_map(|p| p.answered).collect();
    assert_eq!(problems, vec!["not_authed", "not_allowed_token_type"]);
}

#[tokio::test]
async fn an_unknown_method_is_404_and_a_problem() {
    let (fake, api) = started().await;
    let answer = api.json("chat.postMesage", &json!({"channel": RELEASES, "text": "hi"})).await;
    assert_eq!((answer.status, answer.error()), (StatusCode::NOT_FOUND, "unknown_method"));
    assert_eq!(fake.take_problems()[0].method, "chat.postMesage");
}

// ----- threads, edits, ephemerals -----

#[tokio::test]
async fn replies_go_under_an_existing_parent() {
    let (fake, api) = started().await;
    let parent = api.post_card(RELEASES).await;
    let reply = api
        .json(
            "chat.postMessage",
            &json!({"channel": RELEASES, "text": "Step 2", "blocks": card(), "thread_ts": parent}),
        )
        .await;
    assert!(reply.ok(), "{:?}", reply.body);
    assert_documented(Method::ChatPostMessage, &reply.body);
    assert_eq!(reply.body["message"]["thread_ts"], parent.as_str());
    let reply_ts = reply.body["ts"].as_str().unwrap().to_string();

    let thread = fake.thread(RELEASES, &parent);
    assert_eq!(thread.len(), 1);
    assert_eq!(thread[0].ts, reply_ts);
    assert_eq!(fake.messages_in(RELEASES).len(), 1, "a reply is not a top-level message");

    let nowhere = api
        .json("chat.postMessage", &json!({"channel": RELEASES, "text": "lost", "thread_ts": "1000000000.000001"}))
        .await;
    assert_eq!(nowhere.error(), "thread_not_found");
    let other_channel =
        api.json("chat.postMessage", &json!({"channel": INCIDENTS, "text": "lost", "thread_ts": parent})).await;
    assert_eq!(other_channel.error(), "thread_not_found", "a thread lives in its channel");
    fake.assert_no_problems();

    // A reply's ts as thread_ts lands in the parent's thread, and is a mistake.
    let nested = api.json("chat.postMessage", &json!({"channel": RELEASES, "text": "x", "thread_ts": reply_ts})).await;
    assert!(nested.ok());
    assert_eq!(fake.thread(RELEASES, &parent).len(), 2);
    assert_eq!(fake.take_problems().len(), 1);

    let broadcast = api
        .json(
            "chat.postMessage",
            &json!({"channel": RELEASES, "text": "shipped", "thread_ts": parent, "reply_broadcast": true}),
        )
        .await;
    assert!(broadcast.ok());
    assert_eq!(fake.messages_in(RELEASES).len(), 2, "a broadcast reply shows in the channel too");
    fake.assert_no_problems();
}

#[tokio::test]
async fn updates_edit_the_message_and_keep_its_history() {
    let (fake, api) = started().await;
    let ts = api.post_card(RELEASES).await;
    let frozen = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "Frozen: no buttons"}}]);
    let answer = api
        .json("chat.update", &json!({"channel": RELEASES, "ts": ts, "text": "Step 1 (frozen)", "blocks": frozen}))
        .await;
    assert!(answer.ok(), "{:?}", answer.body);
    assert_documented(Method::ChatUpdate, &answer.body);
    assert_eq!(answer.body["text"], "Step 1 (frozen)");

    // Text alone keeps the blocks.
    let blocks = frozen.to_string();
    let answer = api
        .form("chat.update", &[("channel", RELEASES), ("ts", &ts), ("text", "Step 1 (thawed)"), ("blocks", &blocks)])
        .await;
    assert!(answer.ok());
    let answer = api.json("chat.update", &json!({"channel": RELEASES, "ts": ts, "text": "Step 1 (final)"})).await;
    assert!(answer.ok());

    let message = fake.message(RELEASES, &ts).expect("the message");
    assert_eq!(message.text.as_deref(), Some("Step 1 (final)"));
    assert_eq!(message.blocks, Some(frozen));
    let history: Vec<&str> = message.versions.iter().map(|v| v.via.as_str()).collect();
    assert_eq!(history, vec!["chat.postMessage", "chat.update", "chat.update", "chat.update"]);
    assert_eq!(message.versions[0].blocks, Some(card()));
    assert_eq!(fake.requests_to("chat.update").len(), 3);

    let missing = api.json("chat.update", &json!({"channel": RELEASES, "ts": "1000000000.000001", "text": "x"})).await;
    assert_eq!(missing.error(), "message_not_found");
    let theirs = fake.add_user_message(RELEASES, "U0ALICE0001", "ship it");
    let answer = api.json("chat.update", &json!({"channel": RELEASES, "ts": theirs, "text": "x"})).await;
    assert_eq!(answer.error(), "cant_update_message");
    fake.assert_no_problems();
}

#[tokio::test]
async fn ephemerals_are_kept_per_user() {
    let (fake, api) = started().await;
    fake.set_channel_members(RELEASES, &["U0ALICE0001"]);
    let answer = api
        .json(
            "chat.postEphemeral",
            &json!({"channel": RELEASES, "user": "U0ALICE0001", "text": "Only release managers may approve"}),
        )
        .await;
    assert!(answer.ok(), "{:?}", answer.body);
    assert_documented(Method::ChatPostEphemeral, &answer.body);
    let stranger =
        api.json("chat.postEphemeral", &json!({"channel": RELEASES, "user": "U0BOB000001", "text": "x"})).await;
    assert_eq!(stranger.error(), "user_not_in_channel");
    let missing_user = api.json("chat.postEphemeral", &json!({"channel": RELEASES, "text": "x"})).await;
    assert_eq!(missing_user.error(), "invalid_arguments");
    assert_eq!(fake.take_problems().len(), 1);

    let mine = fake.ephemerals_for(RELEASES, "U0ALICE0001");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].text.as_deref(), Some("Only release managers may approve"));
    assert_eq!(mine[0].message_ts, answer.body["message_ts"].as_str().unwrap());
    assert!(fake.messages_in(RELEASES).is_empty(), "an ephemeral is no channel message");
}

// ----- faults and rate limits -----

#[tokio::test]
async fn an_ordered_429_carries_retry_after_then_stops() {
    let (fake, api) = started().await;
    fake.fail_next("chat.postMessage", Fault::RateLimited { retry_after_secs: 3 }, 1);
    let body = json!({"channel": RELEASES, "text": "hi"});
    let limited = api.json("chat.postMessage", &body).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers["retry-after"], "3");
    assert_eq!(limited.body, json!({"ok": false, "error": "ratelimited"}));
    assert!(fake.messages_in(RELEASES).is_empty(), "a limited request has no effect");
    assert!(api.json("chat.postMessage", &body).await.ok());

    fake.fail_next("chat.update", Fault::error("fatal_error"), 2);
    let ts = fake.messages_in(RELEASES)[0].ts.clone();
    let update = json!({"channel": RELEASES, "ts": ts, "text": "edited"});
    assert!(api.json("chat.postMessage", &body).await.ok(), "faults apply to their method only");
    for _ in 0..2 {
        let failed = api.json("chat.update", &update).await;
        assert_eq!(
            (failed.status, failed.body.clone()),
            (StatusCode::OK, json!({"ok": false, "error": "fatal_error"}))
        );
    }
    assert!(api.json("chat.update", &update).await.ok());

    fake.fail_next("chat.postMessage", Fault::ServerError(503), 1);
    let failed = api.json("chat.postMessage", &body).await;
    assert_eq!((failed.status, failed.body), (StatusCode::SERVICE_UNAVAILABLE, Value::Null));
    let statuses: Vec<u16> = fake.requests_to("chat.postMessage").iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 200, 200, 503]);
    fake.assert_no_problems();
}

#[tokio::test]
async fn a_timeout_outlasts_the_client_and_has_no_effect() {
    let (fake, _) = started().await;
    fake.fail_next("chat.postMessage", Fault::Timeout(Duration::from_secs(2)), 1);
    let client = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let url = format!("{}/chat.postMessage", fake.api_base());
    let body = json!({"channel": RELEASES, "text": "hi"});
    let result = client.post(&url).bearer_auth(fake.bot_token()).json(&body).send().await;
    assert!(result.expect_err("the client gives up first").is_timeout());
    assert!(fake.messages_in(RELEASES).is_empty());
    let retried = client.post(&url).bearer_auth(fake.bot_token()).json(&body).send().await.expect("answered");
    assert_eq!(retried.status(), StatusCode::OK);
    assert_eq!(fake.messages_in(RELEASES).len(), 1);
    fake.assert_no_problems();
}

#[tokio::test]
async fn a_slow_post_takes_effect_though_the_client_gives_up() {
    let (fake, _) = started().await;
    fake.fail_next("chat.postMessage", Fault::Slow(Duration::from_secs(2)), 1);
    let client = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let result = client
        .post(format!("{}/chat.postMessage", fake.api_base()))
        .bearer_auth(fake.bot_token())
        .json(&json!({"channel": RELEASES, "text": "hi"}))
        .send()
        .await;
    assert!(result.expect_err("the client gives up first").is_timeout());
    assert_eq!(fake.messages_in(RELEASES).len(), 1, "the post happened");
}

#[tokio::test]
async fn the_channel_limit_allows_one_post_a_second_per_channel() {
    let (fake, api) = started().await;
    let post = |channel: &'static str| {
        let api = &api;
        async move { api.json("chat.postMessage", &json!({"channel": channel, "text": "hi"})).await }
    };
    assert!(post(RELEASES).await.ok());
    assert!(post(RELEASES).await.ok(), "off by default");
    fake.set_channel_rate_limit(true);
    assert!(post(RELEASES).await.ok());
    let limited = post(RELEASES).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers["retry-after"], "1");
    assert_eq!(limited.error(), "ratelimited");
    assert!(post(INCIDENTS).await.ok(), "each channel has its own limit");
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert!(post(RELEASES).await.ok());
    assert_eq!(fake.messages_in(RELEASES).len(), 4);
    fake.assert_no_problems();
}

// ----- modals, user groups, auth.test -----

#[tokio::test]
async fn a_trigger_opens_one_modal_before_it_expires() {
    let config = FakeConfig { trigger_lifetime: Duration::from_millis(300), ..FakeConfig::default() };
    let (fake, api) = started_with(config).await;
    let trigger = fake.issue_trigger_id("U0ALICE0001");
    let opened = api.json("views.open", &json!({"trigger_id": trigger, "view": artifact_modal()})).await;
    assert!(opened.ok(), "{:?}", opened.body);
    assert_documented(Method::ViewsOpen, &opened.body);
    let view_id = opened.body["view"]["id"].as_str().expect("a view id").to_string();
    assert_eq!(opened.body["view"]["callback_id"], "sg1m:r1:s2:1:ea");
    let views = fake.views();
    assert_eq!((views.len(), views[0].id.as_str(), views[0].user.as_str()), (1, view_id.as_str(), "U0ALICE0001"));

    let again = api.json("views.open", &json!({"trigger_id": trigger, "view": artifact_modal()})).await;
    assert_eq!(again.error(), "expired_trigger_id", "a trigger opens one view");
    let unknown = api.json("views.open", &json!({"trigger_id": "1.2.deadbeef", "view": artifact_modal()})).await;
    assert_eq!(unknown.error(), "invalid_trigger_id");
    let late = fake.issue_trigger_id("U0ALICE0001");
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Form-encoded, `view` is JSON text.
    let view = artifact_modal().to_string();
    let answer = api.form("views.open", &[("trigger_id", &late), ("view", &view)]).await;
    assert_eq!(answer.error(), "expired_trigger_id");
    fake.assert_no_problems();

    let mut bad = artifact_modal();
    bad["title"]["text"] = json!("A title longer than 24 chars");
    let fresh = fake.issue_trigger_id("U0ALICE0001");
    let answer = api.json("views.open", &json!({"trigger_id": fresh, "view": bad})).await;
    assert_eq!(answer.error(), "invalid_arguments");
    assert_eq!(answer.messages(), vec!["[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"]);
    assert_eq!(fake.take_problems().len(), 1);
    assert_eq!(fake.views().len(), 1);

    // The submission carries the inputs in view.state.values.
    let submission = fake.view_submission(&view_id, &alice(), &[("version", "1.4.2"), ("outcome", "succeeded")]);
    let payload = submission.to_json();
    assert_eq!(payload["type"], "view_submission");
    assert_eq!(payload["view"]["id"], view_id.as_str());
    assert_eq!(payload["view"]["private_metadata"], "r1");
    let values = &payload["view"]["state"]["values"];
    assert_eq!(values["version"]["version"], json!({"type": "plain_text_input", "value": "1.4.2"}));
    assert_eq!(values["outcome"]["outcome"]["selected_option"]["value"], "succeeded");
    let form = submission.to_form();
    let decoded: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes()).into_owned().collect();
    assert_eq!(decoded[0].0, "payload");
    assert_eq!(serde_json::from_str::<Value>(&decoded[0].1).unwrap(), payload);
}

#[tokio::test]
async fn user_groups_and_auth_test_answer_from_the_workspace() {
    let (fake, api) = started().await;
    fake.set_usergroup("S0RELEASE1", &["U0ALICE0001", "U0BOB000001"]);
    let members = api.get("usergroups.users.list", &[("usergroup", "S0RELEASE1")]).await;
    assert_eq!(members.body, json!({"ok": true, "users": ["U0ALICE0001", "U0BOB000001"]}));
    assert_documented(Method::UsergroupsUsersList, &members.body);
    let by_form =
        api.form("usergroups.users.list", &[("usergroup", "S0RELEASE1"), ("include_disabled", "false")]).await;
    assert!(by_form.ok());
    let unknown = api.get("usergroups.users.list", &[("usergroup", "S0NOBODY01")]).await;
    assert_eq!(unknown.error(), "no_such_subteam");

    let me = api.form("auth.test", &[]).await;
    assert!(me.ok());
    assert_documented(Method::AuthTest, &me.body);
    assert_eq!(
        (me.body["user_id"].as_str(), me.body["team_id"].as_str()),
        (Some(fake.bot_user_id()), Some(fake.team_id()))
    );
    fake.assert_no_problems();
}

// ----- response URLs and interactions -----

async fn post_response(url: &str, body: &Value) -> Answer {
    answer(reqwest::Client::new().post(url).json(body).send().await.expect("the fake answers")).await
}

#[tokio::test]
async fn a_slash_commands_response_url_takes_five_posts() {
    let (fake, _) = started().await;
    let command = fake.slash_command(RELEASES, &alice(), "/release", "start api 1.4.2");
    let fields: Vec<(String, String)> = form_urlencoded::parse(command.to_form().as_bytes()).into_owned().collect();
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap();
    assert_eq!((field("command"), field("text"), field("user_id")), ("/release", "start api 1.4.2", "U0ALICE0001"));
    assert_eq!(field("response_url"), command.response_url);

    let url = command.response_url.clone();
    let answer = post_response(&url, &json!({"text": "Only you see this"})).await;
    assert_eq!((answer.status, answer.body.clone()), (StatusCode::OK, json!({"ok": true})));
    let answer = post_response(
        &url,
        &json!({"response_type": "in_channel", "text": "Release api 1.4.2 started", "blocks": card()}),
    )
    .await;
    assert!(answer.ok());
    for _ in 0..3 {
        assert!(post_response(&url, &json!({"text": "more"})).await.ok());
    }
    let sixth = post_response(&url, &json!({"text": "one too many"})).await;
    assert_eq!((sixth.status, sixth.error()), (StatusCode::NOT_FOUND, "used_url"));

    let ephemerals = fake.ephemerals_for(RELEASES, "U0ALICE0001");
    assert_eq!(ephemerals.len(), 4);
    assert!(ephemerals.iter().all(|e| e.via == "response_url"));
    let posted = fake.messages_in(RELEASES);
    assert_eq!((posted.len(), posted[0].blocks.clone()), (1, Some(card())));
    let posts = fake.response_url_posts(&url);
    assert_eq!(posts.len(), 6);
    assert_eq!(posts[5].error.as_deref(), Some("used_url"));
    assert_eq!(fake.requests_to("response_url").len(), 6);
    let problems = fake.take_problems();
    assert_eq!(problems.iter().map(|p| p.answered.as_deref()).collect::<Vec<_>>(), vec![Some("used_url")]);

    // No original message to replace for a slash command; unknown fields are refused.
    let fresh = fake.response_url(RELEASES, "U0ALICE0001", None);
    assert_eq!(
        post_response(&fresh, &json!({"replace_original": true, "text": "x"})).await.error(),
        "invalid_arguments"
    );
    assert_eq!(post_response(&fresh, &json!({"text": "x", "ephemeral": true})).await.error(), "invalid_arguments");
    assert_eq!(fake.take_problems().len(), 2);
}

#[tokio::test]
async fn a_click_carries_the_button_and_its_response_url_edits_the_message() {
    let (fake, api) = started().await;
    let parent = api.post_card(RELEASES).await;
    let reply = api
        .json(
            "chat.postMessage",
            &json!({"channel": RELEASES, "text": "Step 1", "blocks": card(), "thread_ts": parent}),
        )
        .await;
    let card_ts = reply.body["ts"].as_str().unwrap().to_string();

    let click = fake.click(RELEASES, &card_ts, "sg1:r1:s0:1:g", &alice());
    let payload = click.to_json();
    assert_eq!(payload["type"], "block_actions");
    assert_eq!(payload["user"]["id"], "U0ALICE0001");
    assert_eq!(
        payload["container"],
        json!({"type": "message", "message_ts": card_ts, "channel_id": RELEASES, "is_ephemeral": false, "thread_ts": parent})
    );
    let action = &payload["actions"][0];
    assert_eq!((action["action_id"].as_str(), action["block_id"].as_str()), (Some("sg1:r1:s0:1:g"), Some("gate")));
    assert_eq!((action["value"].as_str(), action["style"].as_str()), (Some("gate"), Some("primary")));
    assert!(is_ts(action["action_ts"].as_str().unwrap()));
    assert_eq!(payload["message"]["blocks"], card());
    let second = fake.click(RELEASES, &card_ts, "sg1:r1:s0:1:g", &alice());
    assert_ne!(second.actions[0].action_ts, click.actions[0].action_ts, "each click has its own action_ts");
    // An accessory button has its section's block_id.
    assert_eq!(fake.click(RELEASES, &card_ts, "sg1:r1:s0:1:i0", &alice()).actions[0].block_id, "item-0");

    // A view opened with the click's trigger_id.
    let opened = api.json("views.open", &json!({"trigger_id": click.trigger_id, "view": artifact_modal()})).await;
    assert!(opened.ok());

    let ticked = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "Gate approved by <@U0ALICE0001>"}}]);
    let answer =
        post_response(&click.response_url, &json!({"replace_original": true, "text": "Approved", "blocks": ticked}))
            .await;
    assert!(answer.ok(), "{:?}", answer.body);
    let message = fake.message(RELEASES, &card_ts).unwrap();
    assert_eq!(message.blocks, Some(ticked));
    assert_eq!(message.versions.last().unwrap().via, "response_url");

    let answer = post_response(&click.response_url, &json!({"delete_original": true})).await;
    assert!(answer.ok());
    assert!(fake.message(RELEASES, &card_ts).unwrap().deleted);
    assert!(fake.thread(RELEASES, &parent).is_empty());
    fake.assert_no_problems();
}

#[tokio::test]
async fn a_response_url_expires() {
    let config = FakeConfig { response_url_lifetime: Duration::from_millis(200), ..FakeConfig::default() };
    let (fake, _) = started_with(config).await;
    let url = fake.response_url(RELEASES, "U0ALICE0001", None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answer = post_response(&url, &json!({"text": "too late"})).await;
    assert_eq!((answer.status, answer.error()), (StatusCode::NOT_FOUND, "expired_url"));
    assert!(fake.ephemerals().is_empty());
    fake.assert_no_problems();
}

// ----- Socket Mode -----

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_socket(fake: &FakeSlack, api: &Api) -> Socket {
    let opened = api.json_as("apps.connections.open", &json!({}), Some(fake.app_token())).await;
    assert!(opened.ok(), "{:?}", opened.body);
    let url = opened.body["url"].as_str().expect("a url");
    assert!(url.starts_with(&format!("ws://127.0.0.1:{}/socket?ticket=", fake.port())), "{url}");
    let (socket, _) = tokio_tungstenite::connect_async(url).await.expect("connect to the fake's Socket Mode");
    socket
}

/// The next text frame, or `None` once the server closed the connection.
async fn next_frame(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a frame within 5 s");
        match message {
            Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).expect("a JSON frame")),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

async fn frame(socket: &mut Socket) -> Value {
    next_frame(socket).await.expect("the connection is open")
}

async fn ack(socket: &mut Socket, ack: Value) {
    socket.send(Message::Text(ack.to_string().into())).await.expect("send the ack");
}

#[tokio::test]
async fn socket_mode_says_hello_delivers_envelopes_and_records_acks() {
    let (fake, api) = started().await;
    // The app-level token only; the bot token is the wrong kind.
    let with_bot = api.json("apps.connections.open", &json!({})).await;
    assert_eq!(with_bot.error(), "not_allowed_token_type");
    let url = format!("{}/apps.connections.open", fake.api_base());
    let by_get = answer(api.http.get(url).bearer_auth(fake.app_token()).send().await.expect("answered")).await;
    assert_eq!(by_get.error(), "invalid_arguments", "Socket Mode's URL is asked for with POST");
    assert_eq!(fake.take_problems().len(), 2);

    let mut socket = open_socket(&fake, &api).await;
    let hello = frame(&mut socket).await;
    assert_eq!((hello["type"].as_str(), hello["num_connections"].as_u64()), (Some("hello"), Some(1)));
    assert_eq!(hello["connection_info"]["app_id"], fake.config().app_id.as_str());

    let command = fake.slash_command(RELEASES, &alice(), "/release", "status");
    let id = fake.push_slash_command(&command);
    let envelope = frame(&mut socket).await;
    assert_eq!(envelope["envelope_id"], id.as_str());
    assert_eq!(envelope["type"], "slash_commands");
    assert_eq!(envelope["accepts_response_payload"], true);
    assert_eq!(envelope["retry_attempt"], 0);
    assert_eq!(envelope["payload"]["command"], "/release");
    assert_eq!(envelope["payload"]["response_url"], command.response_url.as_str());

    ack(
        &mut socket,
        json!({"envelope_id": id, "payload": {"response_type": "ephemeral", "text": "No release running"}}),
    )
    .await;
    let acked = fake.wait_ack(&id, Duration::from_secs(5)).await;
    assert_eq!(acked.payload, Some(json!({"response_type": "ephemeral", "text": "No release running"})));
    assert_eq!(acked.connection, 1);

    let click_id = fake.push_interactive(json!({"type": "block_actions", "actions": []}));
    let envelope = frame(&mut socket).await;
    assert_eq!(
        (envelope["type"].as_str(), envelope["accepts_response_payload"].as_bool()),
        (Some("interactive"), Some(false))
    );
    ack(&mut socket, json!({"envelope_id": click_id})).await;
    assert_eq!(fake.wait_ack(&click_id, Duration::from_secs(5)).await.payload, None);
    fake.assert_no_problems();

    // A payload where none is accepted, and an ack for nothing, break the protocol.
    let other = fake.push_interactive(json!({"type": "block_actions", "actions": []}));
    frame(&mut socket).await;
    ack(&mut socket, json!({"envelope_id": other, "payload": {"text": "no"}})).await;
    ack(&mut socket, json!({"envelope_id": "not-an-envelope"})).await;
    fake.wait_ack("not-an-envelope", Duration::from_secs(5)).await;
    assert_eq!(fake.take_problems().len(), 2);
}

#[tokio::test]
async fn a_socket_url_is_used_once() {
    let (fake, api) = started().await;
    let opened = api.json_as("apps.connections.open", &json!({}), Some(fake.app_token())).await;
    let url = opened.body["url"].as_str().unwrap().to_string();
    let (_socket, _) = tokio_tungstenite::connect_async(&url).await.expect("the first connection");
    let again = tokio_tungstenite::connect_async(&url).await;
    assert!(again.is_err(), "a used URL is refused");
    assert_eq!(fake.take_problems().len(), 1);
}

#[tokio::test]
async fn an_unacknowledged_envelope_is_sent_again_then_given_up() {
    let config =
        FakeConfig { socket_ack_timeout: Duration::from_millis(400), socket_max_retries: 2, ..FakeConfig::default() };
    let (fake, api) = started_with(config).await;
    // Pushed before any connection: it waits for one.
    let id = fake.push_interactive(json!({"type": "block_actions", "actions": []}));
    let mut socket = open_socket(&fake, &api).await;
    assert_eq!(frame(&mut socket).await["type"], "hello");
    let first = frame(&mut socket).await;
    assert_eq!((first["envelope_id"].as_str(), first["retry_attempt"].as_u64()), (Some(id.as_str()), Some(0)));
    let second = frame(&mut socket).await;
    assert_eq!((second["retry_attempt"].as_u64(), second["retry_reason"].as_str()), (Some(1), Some("timeout")));
    ack(&mut socket, json!({"envelope_id": id})).await;
    fake.wait_ack(&id, Duration::from_secs(5)).await;

    let never = fake.push_interactive(json!({"type": "block_actions", "actions": []}));
    let attempts: Vec<u64> = [frame(&mut socket).await, frame(&mut socket).await, frame(&mut socket).await]
        .iter()
        .map(|f| f["retry_attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, vec![0, 1, 2]);
    // Past the last attempt's ack timeout.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(fake.given_up_envelopes(), vec![never.clone()]);
    let deliveries: Vec<(String, u32)> =
        fake.deliveries().into_iter().map(|d| (d.envelope_id, d.retry_attempt)).collect();
    assert_eq!(deliveries, vec![(id.clone(), 0), (id, 1), (never.clone(), 0), (never.clone(), 1), (never, 2)]);
    fake.assert_no_problems();
}

#[tokio::test]
async fn a_disconnect_sends_the_client_to_a_new_connection() {
    let config = FakeConfig { socket_disconnect_grace: Duration::from_millis(300), ..FakeConfig::default() };
    let (fake, api) = started_with(config).await;
    let mut old = open_socket(&fake, &api).await;
    frame(&mut old).await;
    fake.wait_socket_hellos(1, Duration::from_secs(5)).await;

    fake.socket_disconnect("refresh_requested");
    let disconnect = frame(&mut old).await;
    assert_eq!(
        (disconnect["type"].as_str(), disconnect["reason"].as_str()),
        (Some("disconnect"), Some("refresh_requested"))
    );
    // Envelopes wait for the new connection, not the one told to go.
    let id = fake.push_interactive(json!({"type": "block_actions", "actions": []}));

    let mut new = open_socket(&fake, &api).await;
    assert_eq!(frame(&mut new).await["type"], "hello");
    fake.wait_socket_hellos(2, Duration::from_secs(5)).await;
    assert_eq!(fake.requests_to("apps.connections.open").len(), 2);
    let envelope = frame(&mut new).await;
    assert_eq!(envelope["envelope_id"], id.as_str());
    ack(&mut new, json!({"envelope_id": id})).await;
    assert_eq!(fake.wait_ack(&id, Duration::from_secs(5)).await.connection, 2);

    assert_eq!(next_frame(&mut old).await, None, "the old connection is closed after the grace period");
    fake.drop_socket_connections();
    assert_eq!(next_frame(&mut new).await, None);
    fake.assert_no_problems();
}

// ----- signatures -----

#[test]
fn the_signature_is_slacks() {
    // Slack's documented example ("Verifying requests from Slack"): this secret, timestamp
    // and slash-command body sign to the value below. python3's hmac module computes the
    // same: hmac.new(secret, b"v0:" + ts + b":" + body, hashlib.sha256).hexdigest().
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V\
                &channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=\
                &response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN\
                &trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(sign(secret, "1531420618", body), "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503");
    // An interaction body, computed once with python3's hmac as above.
    let payload = "payload=%7B%22type%22%3A%22block_actions%22%7D";
    assert_eq!(
        sign("shipgate-test-secret", "1733230000", payload),
        "v0=88ecab9f756ad7609977fc4890b1f58f83df08936a550517653213cdf376ef90"
    );
    let [(ts_name, ts), (sig_name, sig)] = signed_headers("shipgate-test-secret", 1_733_230_000, payload);
    assert_eq!((ts_name, ts.as_str()), ("x-slack-request-timestamp", "1733230000"));
    assert_eq!(
        (sig_name, sig.as_str()),
        ("x-slack-signature", "v0=88ecab9f756ad7609977fc4890b1f58f83df08936a550517653213cdf376ef90")
    );
    assert_ne!(sign("shipgate-test-secret", "1733230001", payload), sig, "the timestamp is signed");
}
