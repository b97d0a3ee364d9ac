//! Prometheus' answer to an instant query, as the watch decodes it: the first two bytes
//! are the HTTP status, the rest is the body. Decoding never panics; a value is always a
//! finite number (NaN and infinities are named, not passed on as readings); and every
//! reason the watch is blind is one line, at most MAX_BLIND_REASON_CHARS characters, with
//! no control or bidirectional character, since it quotes the network onto a card.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipgate::monitoring::prometheus::{QueryOutcome, MAX_BLIND_REASON_CHARS};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = u16::from_be_bytes([data[0], data[1]]) % 600;
    let outcome = QueryOutcome::from_answer(status, &data[2..]);
    match (&outcome, outcome.value(), outcome.blind_reason()) {
        (QueryOutcome::Value(_), Some(value), None) => assert!(value.is_finite(), "a value that is not finite: {value}"),
        (QueryOutcome::Value(_), _, _) => panic!("a value without its number, or with a reason: {outcome:?}"),
        (_, None, Some(reason)) => {
            assert!(!reason.is_empty(), "an empty reason for {outcome:?}");
            assert!(reason.chars().count() <= MAX_BLIND_REASON_CHARS, "reason too long: {reason:?}");
            assert!(
                !reason.chars().any(|c| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')),
                "a reason keeps a control character: {reason:?}"
            );
        }
        _ => panic!("neither a value nor a reason: {outcome:?}"),
    }
    if (200..300).contains(&status) && outcome == QueryOutcome::Empty {
        // Only a well-formed empty vector says "no data"; a 2xx with garbage is a failure.
        let body: serde_json::Value = serde_json::from_slice(&data[2..]).expect("an empty result came from JSON");
        assert_eq!(body["status"], "success", "{body}");
    }
});
