//! What Slack (or anyone playing Slack) sends shipgate, read as shipgate reads it, with no
//! runtime around it. The input is a request body:
//! - signed by the app's secret with a fresh timestamp it verifies, and with anything
//!   changed (a byte of the body, the timestamp, the signature, the secret) it does not; a
//!   stale timestamp is refused however well signed; headers taken from the input's first
//!   two lines never panic the verifier, nor pass it without the body's own signature;
//! - decoded as `POST /slack/commands` and `POST /slack/interactivity` decode it, and read
//!   as a Socket Mode text frame, whose acknowledgement names the envelope it answers;
//! - what the handler reads out of a command or a payload never panics: the person's name
//!   is safe to show, `/release start`'s words split into the release asked for and its
//!   flags consistently, the start form carries the command over to its submission
//!   unchanged, an `action_id` or `callback_id` that decodes is the one id of its target,
//!   and a refused form's reason goes under one of the form's own inputs.
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use serde_json::Value;
use shipgate::chat::slack::handler::{
    clicked_actions, field_at_fault, payload_user, pending_start, positional, shown_name, start_asked,
    start_options_refused, start_view, start_without_commit, submitted_values, SlashCommand,
};
use shipgate::chat::slack::socket::{ack_frame, parse_frame, Inbound};
use shipgate::chat::slack::verify::{Verifier, VerifyError, MAX_SKEW_SECONDS};
use shipgate::chat::target::{ClickTarget, ModalTarget, START_FORM_ID};
use shipgate::domain::text::MAX_DISPLAY_NAME_CHARS;
use shipgate::domain::{GitSha, ServiceName, Version};
use shipgate::http::slack::{interactivity_payload, slash_command};

/// The clock every check runs at, so that a run is the same every time.
const NOW: i64 = 1_700_000_000;
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(NOW, 0).unwrap()
}

fn verifier(secret: &str) -> Verifier {
    Verifier::new(SecretString::from(secret.to_owned()))
}

/// The same signature with its last hex digit changed.
fn altered(signature: &str) -> String {
    let mut digits: Vec<char> = signature.chars().collect();
    let at = digits.len() - 1;
    digits[at] = if digits[at] == '0' { '1' } else { '0' };
    digits.into_iter().collect()
}

fn signatures(body: &[u8]) {
    let v = verifier(SECRET);
    let now = now();
    // Anywhere within the allowed skew, either side of now.
    let skew = body.first().map_or(0, |b| i64::from(*b) * 2 * MAX_SKEW_SECONDS / 255 - MAX_SKEW_SECONDS);
    let timestamp = (NOW + skew).to_string();
    let signature = v.sign(&timestamp, body);
    assert_eq!(v.verify(Some(&signature), Some(&timestamp), body, now), Ok(()), "a body Slack signed is refused");

    let refused = |signature: &str, timestamp: &str, body: &[u8], secret: &str, why: &str| {
        assert_eq!(
            verifier(secret).verify(Some(signature), Some(timestamp), body, now),
            Err(VerifyError::BadSignature),
            "{why} still verifies"
        );
    };
    if !body.is_empty() {
        let mut changed = body.to_vec();
        let at = usize::from(body[body.len() / 2]) % body.len();
        changed[at] ^= 1 << (body[0] % 8);
        refused(&signature, &timestamp, &changed, SECRET, "a body with one bit changed");
        refused(&signature, &timestamp, &body[..body.len() - 1], SECRET, "a body cut short");
    }
    let mut longer = body.to_vec();
    longer.push(b'&');
    refused(&signature, &timestamp, &longer, SECRET, "a body with a byte added");
    let next_second = (NOW + skew + if skew < MAX_SKEW_SECONDS { 1 } else { -1 }).to_string();
    refused(&signature, &next_second, body, SECRET, "a signature under another timestamp");
    refused(&altered(&signature), &timestamp, body, SECRET, "a signature with a digit changed");
    refused(&signature, &timestamp, body, "another-signing-secret", "a signature by another secret");

    for stale in [NOW - MAX_SKEW_SECONDS - 1, NOW + MAX_SKEW_SECONDS + 1] {
        let stale = stale.to_string();
        let signature = v.sign(&stale, body);
        assert_eq!(v.verify(Some(&signature), Some(&stale), body, now), Err(VerifyError::Stale));
    }
    assert_eq!(v.verify(None, Some(&timestamp), body, now), Err(VerifyError::MissingHeaders));
    assert_eq!(v.verify(Some(&signature), None, body, now), Err(VerifyError::MissingHeaders));

    // Headers as a forger writes them: the input's first two lines, the rest the body.
    let mut lines = body.splitn(3, |b| *b == b'\n');
    if let (Some(signature), Some(timestamp), Some(rest)) = (lines.next(), lines.next(), lines.next()) {
        let signature = String::from_utf8_lossy(signature);
        let timestamp = String::from_utf8_lossy(timestamp);
        if v.verify(Some(&signature), Some(&timestamp), rest, now).is_ok() {
            let genuine = v.sign(timestamp.trim(), rest);
            assert!(
                signature.trim().eq_ignore_ascii_case(&genuine),
                "{signature:?} at {timestamp:?} verifies, but the body's signature is {genuine}"
            );
        }
    }
}

fn assert_showable(name: &str, user_id: &str) {
    assert!(name.chars().count() <= MAX_DISPLAY_NAME_CHARS, "display name too long: {name:?}");
    assert!(
        !name.chars().any(|c| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')),
        "display name {name:?} (user {user_id:?}) keeps a control character"
    );
}

/// `/release start`'s words after `start`, read as the handler reads them.
fn start_words(command: &SlashCommand, words: &[&str]) {
    let refused = start_options_refused(words);
    let asked = start_asked(words);
    let plain = positional(words);
    let typed = [&asked.service, &asked.version, &asked.sha];
    for (i, word) in typed.into_iter().enumerate() {
        assert_eq!(word.as_deref(), plain.get(i).copied(), "{words:?}: word {i} of the release asked for");
    }
    assert!(plain.iter().all(|w| !w.starts_with("--")), "{words:?}: a flag read as {plain:?}");
    assert_eq!(asked.hotfix, words.contains(&"--hotfix"), "{words:?}");
    if refused.is_none() {
        for (i, word) in words.iter().enumerate().filter(|(_, w)| w.starts_with("--")) {
            assert!(matches!(*word, "--hotfix" | "--playbook"), "{words:?}: {word} let through");
            if *word == "--playbook" {
                let name = words.get(i + 1).copied();
                assert!(name.is_some_and(|n| !n.starts_with("--")), "{words:?}: --playbook without a name");
            }
        }
        if words.contains(&"--playbook") {
            let playbook = asked.playbook.as_deref().expect("a playbook named");
            assert!(!playbook.starts_with("--"), "{words:?}: a flag read as the playbook's name");
        }
    }

    match start_without_commit(command) {
        Some(typed) => {
            assert!(refused.is_none() && !command.trigger_id.is_empty() && asked.sha.is_none(), "{command:?}");
            let view = start_view(command, typed);
            assert_eq!(view["callback_id"], START_FORM_ID);
            let pending = pending_start(&view).expect("the start form reads back what it carries");
            assert_eq!(
                (pending.channel.as_str(), pending.hotfix, pending.playbook.as_deref(), pending.response_url.as_str()),
                (command.channel_id.as_str(), asked.hotfix, asked.playbook.as_deref(), command.response_url.as_str()),
            );
            // A pre-filled value longer than its field would fail the whole view.
            for block in view["blocks"].as_array().into_iter().flatten() {
                let element = &block["element"];
                if let Some(initial) = element["initial_value"].as_str() {
                    let max = element["max_length"].as_u64().expect("a field's max_length") as usize;
                    assert!(initial.encode_utf16().count() <= max, "{initial:?} over {max}");
                }
            }
            submitted_start(&view);
        }
        None => assert!(
            refused.is_some() || command.trigger_id.is_empty() || asked.sha.is_some(),
            "{command:?}: no form opened for a start without its commit"
        ),
    }
}

/// A slash command, over HTTP or Socket Mode.
fn command(command: &SlashCommand) {
    assert_showable(&shown_name(&command.user_id, &command.user_name), &command.user_id);
    let mut words = command.text.split_whitespace();
    let sub = words.next().unwrap_or("").to_ascii_lowercase();
    let rest: Vec<&str> = words.collect();
    if command.command.trim_start_matches('/') == "release" && sub == "start" {
        start_words(command, &rest);
    } else {
        assert!(start_without_commit(command).is_none(), "{command:?} opens the start form");
    }
}

/// A start form sent back: what its fields are checked with never panics.
fn submitted_start(view: &Value) {
    let _ = pending_start(view);
    let values = submitted_values(view);
    for value in values.values() {
        let value = value.trim();
        let _ = (ServiceName::parse(value), Version::parse(value), GitSha::parse(value));
    }
}

/// An interactivity payload, over HTTP or Socket Mode.
fn interactive(payload: &Value) {
    if let Some((user_id, name)) = payload_user(payload) {
        assert!(!user_id.is_empty());
        assert_showable(&shown_name(user_id, name), user_id);
    }
    for (action_id, _) in clicked_actions(payload) {
        if let Ok(click) = ClickTarget::decode(action_id) {
            assert_eq!(click.encode().as_deref(), Ok(action_id), "{action_id:?} decodes to {click:?}");
        }
    }
    let view = &payload["view"];
    let callback_id = view["callback_id"].as_str().unwrap_or_default();
    if callback_id == START_FORM_ID {
        submitted_start(view);
    } else if let Ok(modal) = ModalTarget::decode(callback_id) {
        assert_eq!(modal.encode().as_deref(), Ok(callback_id), "{callback_id:?} decodes to {modal:?}");
    }
    let values = submitted_values(view);
    let inputs: Vec<&str> = view["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|block| block["type"] == "input")
        .filter_map(|block| block["block_id"].as_str())
        .collect();
    // A refusal quoting each value in turn, and one quoting none.
    let reasons = values.values().map(|v| format!("{:?} is refused.", v.trim())).chain(["Refused.".to_owned()]);
    for reason in reasons {
        let field = field_at_fault(view, &values, &reason);
        assert!(
            inputs.contains(&field.as_str()) || values.contains_key(&field) || field == "reason",
            "the reason goes under {field:?}, which the form does not have"
        );
        if !inputs.is_empty() {
            assert!(inputs.contains(&field.as_str()), "the reason goes under {field:?}, not one of {inputs:?}");
        }
    }
}

fn socket_frame(text: &str) {
    let Ok(Inbound::Envelope(envelope, _retry_reason)) = parse_frame(text) else { return };
    let frame: Value = serde_json::from_str(text).expect("a frame read is JSON");
    assert_eq!(envelope.kind.as_str(), frame["type"].as_str().unwrap_or_default());
    let answer = Some(serde_json::json!({ "response_action": "clear" }));
    for (payload, accepts) in [(None, true), (answer.clone(), false), (answer, envelope.accepts_response_payload)] {
        let ack: Value =
            serde_json::from_str(&ack_frame(&envelope.id, payload.clone(), accepts)).expect("an ack is JSON");
        assert_eq!(ack["envelope_id"].as_str(), Some(envelope.id.as_str()), "the ack names another envelope");
        assert_eq!(ack.get("payload").is_some(), payload.is_some() && accepts);
    }
    match envelope.kind.as_str() {
        "slash_commands" => {
            if let Ok(mut slash) = serde_json::from_value::<SlashCommand>(envelope.payload) {
                if slash.trigger_id.is_empty() {
                    slash.trigger_id = envelope.id;
                }
                command(&slash);
            }
        }
        "interactive" => interactive(&envelope.payload),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    signatures(data);
    if let Ok(slash) = slash_command(data) {
        command(&slash);
    }
    if let Ok(payload) = interactivity_payload(data) {
        interactive(&payload);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        socket_frame(text);
    }
});
