//! Reading shipgate's releases back from the fake Slack, for the end-to-end Slack tests:
//! the parent messages in the release channel, the cards in a thread by the release, step
//! and attempt they show, and signed slash commands and clicks sent to a shipgate at any
//! URL (in-process or a `shipgate serve` child).
#![allow(dead_code)]

use crate::common::fake_slack::{FakeSlack, SlackMessage};
use serde_json::Value;
use std::time::{Duration, Instant};

/// `(release id, step id, attempt)` of a card: its last context line reads
/// `release <id> · <step> · attempt <n>`.
pub fn card_key(message: &SlackMessage) -> Option<(String, String, u32)> {
    let blocks = message.blocks.as_ref()?.as_array()?;
    blocks.iter().rev().filter(|b| b["type"] == "context").find_map(|b| {
        let text = b["elements"][0]["text"].as_str()?;
        let mut parts = text.split(" · ");
        let release = parts.next()?.strip_prefix("release ")?.to_owned();
        let step = parts.next()?.to_owned();
        let attempt = parts.next()?.strip_prefix("attempt ")?.parse().ok()?;
        parts.next().is_none().then_some((release, step, attempt))
    })
}

/// The cards in the thread under `parent`, oldest first.
pub fn cards(fake: &FakeSlack, channel: &str, parent: &str) -> Vec<SlackMessage> {
    fake.thread(channel, parent).into_iter().filter(|m| !m.deleted && card_key(m).is_some()).collect()
}

/// `(step id, attempt)` of every card in the thread under `parent`, oldest first.
pub fn card_steps(fake: &FakeSlack, channel: &str, parent: &str) -> Vec<(String, u32)> {
    cards(fake, channel, parent).iter().filter_map(card_key).map(|(_, step, attempt)| (step, attempt)).collect()
}

/// The card of `step`, attempt `attempt`, in the thread under `parent`.
pub fn card(fake: &FakeSlack, channel: &str, parent: &str, step: &str, attempt: u32) -> Option<SlackMessage> {
    cards(fake, channel, parent).into_iter().find(|m| card_key(m).is_some_and(|(_, s, a)| s == step && a == attempt))
}

/// The top-level messages of `channel` that open the release `name` (`api 1.4.0`).
pub fn parents(fake: &FakeSlack, channel: &str, name: &str) -> Vec<SlackMessage> {
    let opening = format!("🚀 *{name}*");
    fake.messages_in(channel)
        .into_iter()
        .filter(|m| m.thread_ts.is_none() && !m.deleted && text(m).starts_with(&opening))
        .collect()
}

pub fn text(message: &SlackMessage) -> String {
    message.text.clone().unwrap_or_default()
}

/// Every word a message shows: its `text` and the text of its blocks.
pub fn all_text(message: &SlackMessage) -> String {
    fn collect(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                if let Some(text) = map.get("text").and_then(Value::as_str) {
                    out.push_str(text);
                    out.push('\n');
                }
                map.values().for_each(|v| collect(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut out = text(message);
    out.push('\n');
    if let Some(blocks) = &message.blocks {
        collect(blocks, &mut out);
    }
    out
}

/// The action id of the element of `card` whose id ends with `suffix` (`:i0`, `:g`).
pub fn action(card: &SlackMessage, suffix: &str) -> Option<String> {
    card.action_ids().into_iter().find(|id| id.ends_with(suffix))
}

/// The action id of a click on `card`'s release, step and attempt, for `element`
/// (`i0`, `g`): what a button showing it carries, whether the card shows it now or not.
pub fn click_id(card: &SlackMessage, element: &str) -> String {
    let any = card.action_ids().into_iter().next().expect("a live card has buttons");
    let (head, _) = any.rsplit_once(':').expect("a click id is sg1:release:step:attempt:element");
    format!("{head}:{element}")
}

/// Posts a form body to `url` (`http://127.0.0.1:PORT/slack/commands`), signed now with
/// the fake's signing secret; `None` when shipgate could not be reached.
pub async fn post_signed(http: &reqwest::Client, fake: &FakeSlack, url: &str, body: &str) -> Option<reqwest::Response> {
    let mut request = http.post(url).body(body.to_owned()).header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in fake.signed_headers(body) {
        request = request.header(name, value);
    }
    request.send().await.ok()
}

/// Polls `check` every 50 ms until it finds what it looks for; panics after `limit`,
/// naming what did not happen and the methods Slack saw.
pub async fn eventually<T>(
    fake: &FakeSlack,
    what: &str,
    limit: Duration,
    mut check: impl FnMut(&FakeSlack) -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check(fake) {
            return found;
        }
        if Instant::now() > deadline {
            let methods: Vec<String> = fake.requests().iter().map(|r| format!("{} {}", r.method, r.status)).collect();
            panic!("{what} did not happen within {limit:?}; Slack saw {methods:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
