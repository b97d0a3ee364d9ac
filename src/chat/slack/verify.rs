//! Slack's request signatures: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 with the app's
//! signing secret over `v0:{X-Slack-Request-Timestamp}:{raw body}`, compared in constant
//! time before anything in the body is read.

use chrono::{DateTime, Utc};
use hex::FromHex;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// How far a request's timestamp may be from now (Slack's own rule): older ones are
/// replays, newer ones lies.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// Why a request is not from Slack. Every case is answered 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing X-Slack-Signature or X-Slack-Request-Timestamp header")]
    MissingHeaders,
    #[error("the signature is not v0= and 32 bytes of hex")]
    MalformedSignature,
    #[error("the timestamp is not unix seconds")]
    MalformedTimestamp,
    #[error("the timestamp is more than {MAX_SKEW_SECONDS} s from now")]
    Stale,
    #[error("the signature does not match the body")]
    BadSignature,
}

/// Checks signatures with one app's signing secret.
#[derive(Clone)]
pub struct Verifier {
    secret: SecretString,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier([REDACTED])")
    }
}

impl Verifier {
    pub fn new(signing_secret: SecretString) -> Self {
        Self { secret: signing_secret }
    }

    pub fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
            return Err(VerifyError::MissingHeaders);
        };
        let expected = signature
            .trim()
            .strip_prefix("v0=")
            .and_then(|hex| <[u8; 32]>::from_hex(hex).ok())
            .ok_or(VerifyError::MalformedSignature)?;
        let timestamp = timestamp.trim();
        let seconds: i64 = timestamp.parse().map_err(|_| VerifyError::MalformedTimestamp)?;
        if now.timestamp().abs_diff(seconds) > MAX_SKEW_SECONDS.unsigned_abs() {
            return Err(VerifyError::Stale);
        }
        let mut mac = self.mac();
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&expected).map_err(|_| VerifyError::BadSignature)
    }

    /// The signature Slack would send for `body` at `timestamp`: for tests and load
    /// generators that play Slack.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        let bytes = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(3 + 64);
        hex.push_str("v0=");
        for byte in bytes {
            hex.push_str(&format!("{byte:02x}"));
        }
        hex
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes()).expect("HMAC accepts any key length")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Slack's own worked example ("Verifying requests from Slack"): its secret, timestamp,
    /// body and signature.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn verifier() -> Verifier {
        Verifier::new(SecretString::from(SECRET.to_owned()))
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    #[test]
    fn slacks_worked_example_verifies_and_signs_the_same() {
        let now = at(1_531_420_618 + 60);
        assert_eq!(verifier().verify(Some(SIGNATURE), Some(TIMESTAMP), BODY.as_bytes(), now), Ok(()));
        assert_eq!(verifier().sign(TIMESTAMP, BODY.as_bytes()), SIGNATURE);
    }

    #[test]
    fn anything_changed_or_missing_is_refused_with_its_reason() {
        let now = at(1_531_420_618);
        let v = verifier();
        let body = BODY.as_bytes();
        assert_eq!(v.verify(None, Some(TIMESTAMP), body, now), Err(VerifyError::MissingHeaders));
        assert_eq!(v.verify(Some(SIGNATURE), None, body, now), Err(VerifyError::MissingHeaders));
        let tampered = BODY.replace("roadrunner", "coyote");
        assert_eq!(
            v.verify(Some(SIGNATURE), Some(TIMESTAMP), tampered.as_bytes(), now),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(v.verify(Some(SIGNATURE), Some("1531420619"), body, now), Err(VerifyError::BadSignature));
        let other = Verifier::new(SecretString::from("another-secret".to_owned()));
        assert_eq!(other.verify(Some(SIGNATURE), Some(TIMESTAMP), body, now), Err(VerifyError::BadSignature));
        assert_eq!(v.verify(Some(&SIGNATURE[3..]), Some(TIMESTAMP), body, now), Err(VerifyError::MalformedSignature));
        assert_eq!(v.verify(Some("v1=abcd"), Some(TIMESTAMP), body, now), Err(VerifyError::MalformedSignature));
        assert_eq!(v.verify(Some(SIGNATURE), Some("yesterday"), body, now), Err(VerifyError::MalformedTimestamp));
    }

    #[test]
    fn a_timestamp_more_than_five_minutes_away_is_stale_either_way() {
        let v = verifier();
        let body = BODY.as_bytes();
        let signed = 1_531_420_618;
        assert_eq!(v.verify(Some(SIGNATURE), Some(TIMESTAMP), body, at(signed + 300)), Ok(()));
        assert_eq!(v.verify(Some(SIGNATURE), Some(TIMESTAMP), body, at(signed + 301)), Err(VerifyError::Stale));
        assert_eq!(v.verify(Some(SIGNATURE), Some(TIMESTAMP), body, at(signed - 301)), Err(VerifyError::Stale));
        // The farthest timestamps a header can carry are stale, not an overflow.
        for far in [i64::MIN, i64::MAX] {
            let far = far.to_string();
            assert_eq!(v.verify(Some(SIGNATURE), Some(&far), body, at(signed)), Err(VerifyError::Stale));
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        assert!(!format!("{:?}", verifier()).contains(SECRET));
    }
}
