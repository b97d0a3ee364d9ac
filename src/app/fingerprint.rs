//! What a request asked, reduced to a fingerprint kept with its first answer: a later
//! request under the same id is answered with that answer only if it asks the same, and
//! is refused with `idempotency_key_reused` otherwise (a client that reused a key by
//! mistake must not have its second request silently dropped).
//!
//! Why these parts: the fingerprint is taken of the engine's input, not of the bytes an
//! edge received, so the rule holds for every edge alike. It covers what was asked (the
//! command or the start as requested, the release it targets) and who asked (platform and
//! user id). It leaves out what may differ between honest retries of one logical request:
//! JSON spacing and key order (the body is parsed first), the actor's display name and
//! roles (read afresh on every request), the `If-Match` precondition, and for a start the
//! playbook's contents (a config reload between retries changes them, not the request).

use super::StartRelease;
use crate::domain::lock::LockRequest;
use crate::domain::release::{Command, Rejection, RejectionCode};
use crate::domain::{Actor, Platform, ReleaseId, RequestId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The parts of a request that make it the request it is.
#[derive(Serialize)]
#[serde(tag = "asked", rename_all = "snake_case")]
enum Asked<'a> {
    Start { platform: Platform, user_id: &'a str, start: &'a StartRelease },
    Command { platform: Platform, user_id: &'a str, release: &'a ReleaseId, command: &'a Command },
    Lock { platform: Platform, user_id: &'a str, lock: &'a LockRequest },
}

/// The fingerprint of starting a release with `start`.
pub(crate) fn of_start(start: &StartRelease, actor: &Actor) -> anyhow::Result<String> {
    digest(&Asked::Start { platform: actor.platform, user_id: &actor.user_id, start })
}

/// The fingerprint of `command` on release `release`.
pub(crate) fn of_command(release: &ReleaseId, command: &Command, actor: &Actor) -> anyhow::Result<String> {
    digest(&Asked::Command { platform: actor.platform, user_id: &actor.user_id, release, command })
}

/// The fingerprint of asking for the lock `lock` (as typed: its duration, not its end).
pub(crate) fn of_lock(lock: &LockRequest, actor: &Actor) -> anyhow::Result<String> {
    digest(&Asked::Lock { platform: actor.platform, user_id: &actor.user_id, lock })
}

/// SHA-256 of the parts' JSON, in hex. The parts hold no maps and no floats, so their JSON
/// is one text per value: the same request always gives the same fingerprint.
fn digest(asked: &Asked<'_>) -> anyhow::Result<String> {
    let json = serde_json::to_vec(asked).map_err(|e| anyhow::anyhow!("fingerprinting a request: {e}"))?;
    Ok(Sha256::digest(&json).iter().fold(String::with_capacity(64), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    }))
}

/// Whether an answer stored with `stored` may be given to a request that asked `asked`.
/// An answer stored before fingerprints were kept (`None`) is given to any repeat, as it
/// was then: an upgrade must not start refusing honest retries.
pub(crate) fn check(request_id: &RequestId, stored: Option<&str>, asked: &str) -> Result<(), Rejection> {
    match stored {
        Some(stored) if stored != asked => Err(reused(request_id)),
        _ => Ok(()),
    }
}

/// The refusal of a request whose id already answered a different request.
pub(crate) fn reused(request_id: &RequestId) -> Rejection {
    Rejection::new(
        RejectionCode::IdempotencyKeyReused,
        format!(
            "the idempotency key {request_id} already answered a different request; \
             nothing was done: send this request under a fresh key"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::release::TestResult;

    fn ci() -> Actor {
        Actor::new(Platform::Api, "ci", "CI")
    }

    fn results(passed: u32, failed: u32) -> Command {
        let json = serde_json::json!({ "suite": "unit", "passed": passed, "failed": failed });
        Command::RecordTestResult(serde_json::from_value::<TestResult>(json).expect("a test result"))
    }

    #[test]
    fn the_same_command_gives_the_same_fingerprint() {
        let release = ReleaseId::new("r1");
        let fingerprint = |command: &Command| of_command(&release, command, &ci()).expect("a fingerprint");
        assert_eq!(fingerprint(&results(420, 0)), fingerprint(&results(420, 0)));
    }

    #[test]
    fn another_body_release_or_asker_gives_another_fingerprint() {
        let release = ReleaseId::new("r1");
        let fingerprint = |release: &ReleaseId, command: &Command, actor: &Actor| {
            of_command(release, command, actor).expect("a fingerprint")
        };
        let first = fingerprint(&release, &results(0, 3), &ci());
        assert_ne!(first, fingerprint(&release, &results(420, 0), &ci()));
        assert_ne!(first, fingerprint(&ReleaseId::new("r2"), &results(0, 3), &ci()));
        assert_ne!(first, fingerprint(&release, &results(0, 3), &Actor::new(Platform::Api, "deployer", "CI")));
    }

    #[test]
    fn display_name_and_roles_are_not_part_of_the_request() {
        let release = ReleaseId::new("r1");
        let renamed = Actor::new(Platform::Api, "ci", "Continuous Integration")
            .with_roles([crate::domain::RoleName::new("engineer")]);
        assert_eq!(
            of_command(&release, &results(1, 0), &ci()).expect("a fingerprint"),
            of_command(&release, &results(1, 0), &renamed).expect("a fingerprint")
        );
    }

    #[test]
    fn answers_stored_without_a_fingerprint_replay_to_any_repeat() {
        let id = RequestId::new("api:ci:POST /x:k1");
        assert!(check(&id, None, "abc").is_ok());
        assert!(check(&id, Some("abc"), "abc").is_ok());
        let refused = check(&id, Some("abc"), "def").expect_err("another request");
        assert_eq!(refused.code, RejectionCode::IdempotencyKeyReused);
        assert!(refused.message.contains("k1"), "{}", refused.message);
    }
}
