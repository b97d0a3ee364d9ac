//! Signing requests as Slack does, for tests that post to shipgate's Slack endpoints.
//!
//! `X-Slack-Signature: v0=` + hex(HMAC-SHA256(signing secret, `v0:{timestamp}:{raw body}`)),
//! with the timestamp in `X-Slack-Request-Timestamp` (Unix seconds).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt::Write;

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// `v0=<hex>` for a body sent at `timestamp` (Unix seconds, as text).
pub fn sign(secret: &str, timestamp: &str, body: impl AsRef<[u8]>) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body.as_ref());
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(3 + 2 * digest.len());
    out.push_str("v0=");
    for byte in digest {
        write!(out, "{byte:02x}").expect("writing to a String cannot fail");
    }
    out
}

/// The two headers Slack sends with a request signed at `timestamp` (Unix seconds).
pub fn signed_headers(secret: &str, timestamp: i64, body: impl AsRef<[u8]>) -> [(&'static str, String); 2] {
    let ts = timestamp.to_string();
    let signature = sign(secret, &ts, body);
    [(TIMESTAMP_HEADER, ts), (SIGNATURE_HEADER, signature)]
}
