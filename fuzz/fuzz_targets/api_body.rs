//! The CI API's JSON bodies, decoded and checked as the handlers do, with no request or
//! store around them. The first byte picks the route, the rest is the body. Decoding
//! never panics; a command whose text passes the check carries no control character
//! (other than line breaks and tabs) and no bidirectional override in any field, and it
//! survives the JSON round trip it takes into the event log unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shipgate::domain::release::{Artifact, Command, DeploymentReport, TestResult};
use shipgate::domain::{FailurePathId, StepId};
use shipgate::http::api::{NoteBody, ReasonBody, RejectBody, RetargetBody, StartBody};

const ID_FIELDS: [&str; 2] = ["step", "path"];

fn is_unsafe(c: char) -> bool {
    let control = (c.is_control() && c != '\n' && c != '\t') || c == '\u{2028}' || c == '\u{2029}';
    control || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn assert_clean(value: &Value, at: &str) {
    match value {
        Value::String(text) => {
            if let Some(c) = text.chars().find(|&c| is_unsafe(c)) {
                panic!("{at} was accepted with U+{:04X}: {text:?}", u32::from(c));
            }
        }
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| assert_clean(v, &format!("{at}[{i}]"))),
        // Step and failure-path ids are not free text: they are matched against the
        // playbook, and one it does not have is refused there.
        Value::Object(fields) => fields
            .iter()
            .filter(|(k, _)| !ID_FIELDS.contains(&k.as_str()))
            .for_each(|(k, v)| assert_clean(v, &format!("{at}.{k}"))),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

fn command(route: u8, body: &[u8]) -> Option<Command> {
    let step = || StepId::new("deploy-production");
    Some(match route % 9 {
        0 => decode::<NoteBody>(body)?.into_command(step(), FailurePathId::new("retry")),
        1 => decode::<RejectBody>(body)?.into_command(step()),
        2 => Command::RecordTestResult(decode::<TestResult>(body)?),
        3 => Command::RecordArtifact(decode::<Artifact>(body)?),
        4 => Command::RecordDeployment(decode::<DeploymentReport>(body)?),
        5 => Command::RequestFreezeOverride { reason: decode::<ReasonBody>(body)?.reason },
        6 => Command::TriggerRollback { reason: decode::<ReasonBody>(body)?.reason },
        7 => decode::<RetargetBody>(body)?.into_command().ok()?,
        _ => {
            let Ok(start) = decode::<StartBody>(body)?.into_start() else { return None };
            let fields = [start.service.as_str(), start.version.as_str(), start.git_sha.as_str()];
            for field in fields {
                assert!(!field.is_empty() && !field.chars().any(is_unsafe), "a start was accepted with {field:?}");
            }
            return None;
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&route, body)) = data.split_first() else { return };
    let Some(command) = command(route, body) else { return };
    if command.check_text().is_err() {
        return;
    }
    let value = serde_json::to_value(&command).expect("a command serialises");
    assert_clean(&value, "body");
    let back: Command = serde_json::from_value(value).expect("a serialised command reads back");
    assert_eq!(back, command, "the JSON round trip changed the command");
});
