//! Discord's request signatures: Ed25519 over `timestamp + raw body`, checked against the
//! application's public key before anything in the body is read.

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use hex::FromHex;

/// How far a request's timestamp may be from now: older ones are replays, newer ones lies.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// Why a request is not from Discord. Every case is answered 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing X-Signature-Ed25519 or X-Signature-Timestamp header")]
    MissingHeaders,
    #[error("the signature is not 64 bytes of hex")]
    MalformedSignature,
    #[error("the timestamp is not unix seconds")]
    MalformedTimestamp,
    #[error("the timestamp is more than {MAX_SKEW_SECONDS} s from now")]
    Stale,
    #[error("the signature does not match the body")]
    BadSignature,
}

/// Checks signatures with one application's public key.
#[derive(Clone, Debug)]
pub struct Verifier {
    key: VerifyingKey,
}

impl Verifier {
    /// `None` when the bytes are not a valid Ed25519 public key.
    pub fn new(public_key: &[u8; 32]) -> Option<Self> {
        VerifyingKey::from_bytes(public_key).ok().map(|key| Self { key })
    }

    pub fn verify(
        &self,
        signature_hex: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        let (Some(signature_hex), Some(timestamp)) = (signature_hex, timestamp) else {
            return Err(VerifyError::MissingHeaders);
        };
        let signature = <[u8; 64]>::from_hex(signature_hex.trim()).map_err(|_| VerifyError::MalformedSignature)?;
        let seconds: i64 = timestamp.trim().parse().map_err(|_| VerifyError::MalformedTimestamp)?;
        if now.timestamp().abs_diff(seconds) > MAX_SKEW_SECONDS.unsigned_abs() {
            return Err(VerifyError::Stale);
        }
        let mut signed = Vec::with_capacity(timestamp.len() + body.len());
        signed.extend_from_slice(timestamp.as_bytes());
        signed.extend_from_slice(body);
        self.key.verify_strict(&signed, &Signature::from_bytes(&signature)).map_err(|_| VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn keys() -> (SigningKey, Verifier) {
        let signing = SigningKey::from_bytes(&[7u8; 32]);
        let verifier = Verifier::new(&signing.verifying_key().to_bytes()).expect("valid key");
        (signing, verifier)
    }

    fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
        let mut signed = timestamp.as_bytes().to_vec();
        signed.extend_from_slice(body);
        key.sign(&signed).to_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("valid time")
    }

    #[test]
    fn a_signed_request_passes() {
        let (key, verifier) = keys();
        let body = br#"{"type":1}"#;
        let signature = sign(&key, "1800000000", body);
        assert_eq!(verifier.verify(Some(&signature), Some("1800000000"), body, now()), Ok(()));
    }

    #[test]
    fn a_changed_body_or_timestamp_fails() {
        let (key, verifier) = keys();
        let signature = sign(&key, "1800000000", br#"{"type":1}"#);
        let bad = verifier.verify(Some(&signature), Some("1800000000"), br#"{"type":2}"#, now());
        assert_eq!(bad, Err(VerifyError::BadSignature));
        let bad = verifier.verify(Some(&signature), Some("1800000001"), br#"{"type":1}"#, now());
        assert_eq!(bad, Err(VerifyError::BadSignature));
    }

    #[test]
    fn stale_missing_and_malformed_are_refused() {
        let (key, verifier) = keys();
        let body = b"{}";
        let old = sign(&key, "1799999000", body);
        assert_eq!(verifier.verify(Some(&old), Some("1799999000"), body, now()), Err(VerifyError::Stale));
        assert_eq!(verifier.verify(None, Some("1800000000"), body, now()), Err(VerifyError::MissingHeaders));
        assert_eq!(verifier.verify(Some("abc"), Some("1800000000"), body, now()), Err(VerifyError::MalformedSignature));
        let signature = sign(&key, "1800000000", body);
        assert_eq!(verifier.verify(Some(&signature), Some("soon"), body, now()), Err(VerifyError::MalformedTimestamp));
        // The farthest timestamps a header can carry are stale, not an overflow.
        for far in [i64::MIN.to_string(), i64::MAX.to_string()] {
            let signed = sign(&key, &far, body);
            assert_eq!(verifier.verify(Some(&signed), Some(&far), body, now()), Err(VerifyError::Stale));
        }
    }

    #[test]
    fn another_key_fails() {
        let (_, verifier) = keys();
        let other = SigningKey::from_bytes(&[9u8; 32]);
        let signature = sign(&other, "1800000000", b"{}");
        assert_eq!(verifier.verify(Some(&signature), Some("1800000000"), b"{}", now()), Err(VerifyError::BadSignature));
    }
}
