//! Locks: someone stops production (or staging) of a service for a while — a migration
//! is running, an incident is open — with a reason and an end. A blocking lock refuses
//! the gate into its environment and deploys to it; a warning lock only shows.
//!
//! Pure: the app reads the locks in force and passes them in [`super::release::Context`];
//! this module decides what a lock request means, whether a lock is in force at an
//! instant, and which gates it concerns.

use super::actor::Actor;
use super::card::LockBanner;
use super::ids::ServiceName;
use super::release::{Environment, Rejection, RejectionCode};
use super::text::Text;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How long a lock lasts when the request names no duration.
pub const DEFAULT_LOCK_FOR: Duration = Duration::hours(4);
/// The longest lock: a longer stop belongs in the freeze calendar, not in a lock that
/// people forget.
pub const MAX_LOCK_FOR: Duration = Duration::days(7);
/// The shortest lock worth announcing.
pub const MIN_LOCK_FOR: Duration = Duration::minutes(1);
/// The longest reason kept; chat messages carry it whole.
pub const MAX_REASON_CHARS: usize = 500;

/// A lock's id (`lock_<uuid>`), distinct from release ids by its prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LockId(String);

impl LockId {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a lock does at the gate it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockMode {
    /// The gate and deploys into the environment are refused.
    Block,
    /// The card shows the lock; nothing is refused.
    Warn,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Block => "block",
            LockMode::Warn => "warn",
        }
    }

    pub fn parse(value: &str) -> Option<LockMode> {
        match value {
            "block" => Some(LockMode::Block),
            "warn" => Some(LockMode::Warn),
            _ => None,
        }
    }
}

/// How a lock ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum LockEnd {
    /// Someone lifted it.
    Unlocked { by: Actor, at: DateTime<Utc> },
    /// Its time ran out; `at` is its `until`.
    Expired { at: DateTime<Utc> },
}

impl LockEnd {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            LockEnd::Unlocked { at, .. } | LockEnd::Expired { at } => *at,
        }
    }
}

/// A lock on a service, or on one environment of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub id: LockId,
    pub service: ServiceName,
    /// `None` locks every environment of the service.
    pub environment: Option<Environment>,
    pub mode: LockMode,
    pub reason: String,
    pub by: Actor,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Set once the lock was lifted or its expiry was recorded.
    pub ended: Option<LockEnd>,
}

impl Lock {
    /// In force at `at`: started, not past its end, and not lifted before `at`.
    pub fn is_active(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.until && self.ended.as_ref().is_none_or(|end| at < end.at())
    }

    /// Whether the lock concerns deploys of `service` into `environment`.
    pub fn covers(&self, service: &ServiceName, environment: Environment) -> bool {
        &self.service == service && self.environment.is_none_or(|e| e == environment)
    }

    /// Whether the lock refuses, at `at`, the gate into `environment` of `service` and
    /// deploys there.
    pub fn blocks(&self, service: &ServiceName, environment: Environment, at: DateTime<Utc>) -> bool {
        self.mode == LockMode::Block && self.covers(service, environment) && self.is_active(at)
    }

    /// Whether the lock guards the production gate of `service` at `at`, blocking or warning.
    pub fn affects_production(&self, service: &ServiceName, at: DateTime<Utc>) -> bool {
        self.covers(service, Environment::Production) && self.is_active(at)
    }

    /// Same service and same environment (or both the whole service).
    pub fn same_scope(&self, service: &ServiceName, environment: Option<Environment>) -> bool {
        &self.service == service && self.environment == environment
    }

    /// `api production`, or `api` for the whole service.
    pub fn scope(&self) -> String {
        scope_words(&self.service, self.environment)
    }

    /// How a card shows the lock.
    pub fn banner(&self) -> LockBanner {
        LockBanner {
            service: self.service.clone(),
            environment: self.environment,
            by: self.by.display_name.clone(),
            reason: self.reason.clone(),
            until: self.until,
            warn_only: self.mode == LockMode::Warn,
        }
    }
}

fn scope_words(service: &ServiceName, environment: Option<Environment>) -> String {
    match environment {
        Some(e) => format!("{service} {e}"),
        None => format!("{service} (every environment)"),
    }
}

/// A lock as a person asked for it, every field as typed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct LockRequest {
    pub service: String,
    pub reason: String,
    /// `30m`, `2h`, `1d`, `1h30m`; [`DEFAULT_LOCK_FOR`] when absent.
    pub duration: Option<String>,
    /// `production` or `staging`; every environment when absent.
    pub environment: Option<String>,
    pub warn: bool,
}

fn invalid(message: impl Into<String>) -> Rejection {
    Rejection::new(RejectionCode::InvalidInput, message)
}

/// Decides a lock request at `now`: the lock to record, or why not. `active` are the
/// locks in force now (any service); a second lock on the same scope is refused so that
/// one lift ends it.
pub fn decide_lock(
    request: &LockRequest,
    id: LockId,
    by: &Actor,
    now: DateTime<Utc>,
    active: &[Lock],
) -> Result<Lock, Rejection> {
    require_a_role(by, "lock a service")?;
    let service = ServiceName::parse(&request.service).map_err(invalid)?;
    let environment = request.environment.as_deref().map(parse_environment).transpose()?;
    let reason = request.reason.trim();
    if reason.is_empty() {
        return Err(Rejection::new(
            RejectionCode::NoteRequired,
            "say why: a lock needs a reason people can read, e.g. \"database migration running\"",
        ));
    }
    Text::reason_of(MAX_REASON_CHARS).check("reason", reason)?;
    let duration = match request.duration.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(text) => parse_duration(text)?,
        None => DEFAULT_LOCK_FOR,
    };
    if let Some(existing) = active.iter().find(|l| l.is_active(now) && l.same_scope(&service, environment)) {
        return Err(Rejection::new(
            RejectionCode::AlreadyLocked,
            format!(
                "{} is already locked by {} until {} ({}); unlock it first to lock it again",
                existing.scope(),
                existing.by.display_name,
                existing.until.format("%Y-%m-%d %H:%M UTC"),
                existing.reason
            ),
        ));
    }
    Ok(Lock {
        id,
        service,
        environment,
        mode: if request.warn { LockMode::Warn } else { LockMode::Block },
        reason: reason.to_owned(),
        by: by.clone(),
        from: now,
        until: now + duration,
        ended: None,
    })
}

/// Of `active`, the locks an unlock of `service` (and `environment`, if given) lifts at
/// `now`: the lock on exactly that scope. Without an environment, the service's only lock
/// in force, whatever its scope, so `unlock api` works when one lock is on it.
pub fn to_unlock<'a>(
    service: &str,
    environment: Option<&str>,
    now: DateTime<Utc>,
    active: &'a [Lock],
) -> Result<&'a Lock, Rejection> {
    let service = ServiceName::parse(service).map_err(invalid)?;
    let environment = environment.map(str::trim).filter(|e| !e.is_empty()).map(parse_environment).transpose()?;
    let on_service: Vec<&Lock> = active.iter().filter(|l| l.service == service && l.is_active(now)).collect();
    if on_service.is_empty() {
        return Err(Rejection::new(
            RejectionCode::NotLocked,
            format!("{service} has no lock in force; nothing to unlock"),
        ));
    }
    let exact: Vec<&Lock> = on_service.iter().copied().filter(|l| l.environment == environment).collect();
    match (exact.as_slice(), environment) {
        ([one], _) => Ok(one),
        ([], None) if on_service.len() == 1 => Ok(on_service[0]),
        _ => Err(Rejection::new(
            RejectionCode::NotLocked,
            format!(
                "no single lock of {} matches; the locks in force are {} — name the environment of the one to lift",
                scope_words(&service, environment),
                on_service.iter().map(|l| format!("{} ({})", l.scope(), l.id)).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// Locks stop the whole team's deploys: only people the team gave a role may set or lift
/// them (a read-only API client may not).
fn require_a_role(actor: &Actor, to: &str) -> Result<(), Rejection> {
    if actor.roles.is_empty() {
        return Err(Rejection::new(
            RejectionCode::NotAllowed,
            format!("to {to} you need one of the team's roles (e.g. release-manager or engineer); you have none"),
        ));
    }
    Ok(())
}

/// Checks that `by` can lift `lock` at `now`.
pub fn check_unlock(lock: &Lock, by: &Actor, now: DateTime<Utc>) -> Result<(), Rejection> {
    require_a_role(by, "unlock a service")?;
    if let Some(end) = &lock.ended {
        let how = match end {
            LockEnd::Unlocked { by, at } => {
                format!("was unlocked by {} at {}", by.display_name, at.format("%H:%M UTC"))
            }
            LockEnd::Expired { at } => format!("expired at {}", at.format("%H:%M UTC")),
        };
        return Err(Rejection::new(RejectionCode::NotLocked, format!("lock {} on {} {how}", lock.id, lock.scope())));
    }
    if now >= lock.until {
        return Err(Rejection::new(
            RejectionCode::NotLocked,
            format!("lock {} on {} expired at {}", lock.id, lock.scope(), lock.until.format("%H:%M UTC")),
        ));
    }
    Ok(())
}

/// `production` or `staging`, as people type it.
pub fn parse_environment(text: &str) -> Result<Environment, Rejection> {
    match text.trim().to_ascii_lowercase().as_str() {
        "production" | "prod" => Ok(Environment::Production),
        "staging" => Ok(Environment::Staging),
        other => Err(invalid(format!(
            "environment {other:?} is not one shipgate knows; use production or staging, or leave it out to lock every environment"
        ))),
    }
}

/// A lock's duration: a number and a unit, `m` (minutes), `h` (hours) or `d` (days),
/// repeated for compound forms (`1h30m`); from 1 minute to 7 days.
pub fn parse_duration(text: &str) -> Result<Duration, Rejection> {
    let forms = "write it as a number and a unit: 30m, 2h, 1d or 1h30m (m minutes, h hours, d days), from 1m to 7d";
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    if compact.is_empty() {
        return Err(invalid(format!("the duration is empty; {forms}")));
    }
    let mut total = Duration::zero();
    let mut digits = String::new();
    for c in compact.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            'm' => Duration::minutes(1),
            'h' => Duration::hours(1),
            'd' => Duration::days(1),
            _ => return Err(invalid(format!("duration {text:?} has an unknown unit {c:?}; {forms}"))),
        };
        if digits.is_empty() {
            return Err(invalid(format!("duration {text:?} has a unit without a number; {forms}")));
        }
        // More digits than any duration within the limit needs: refused below as too long.
        let n: i32 = digits.parse().unwrap_or(i32::MAX);
        total += unit * n.min(MAX_LOCK_FOR.num_minutes() as i32 + 1);
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(invalid(format!("duration {text:?} ends without a unit; {forms}")));
    }
    if total < MIN_LOCK_FOR {
        return Err(invalid(format!("duration {text:?} is shorter than a minute; {forms}")));
    }
    if total > MAX_LOCK_FOR {
        return Err(invalid(format!(
            "duration {text:?} is longer than the 7 days a lock may last; for a longer stop add a freeze window to the calendar"
        )));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Platform;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).single().expect("a valid time")
    }

    fn dana() -> Actor {
        Actor::new(Platform::Discord, "4", "Dana").with_roles(["engineer"])
    }

    #[test]
    fn only_someone_with_a_role_may_lock_or_unlock() {
        let observer = Actor::new(Platform::Api, "observer", "observer");
        let refused = decide_lock(&request("api", "x"), LockId::new("x"), &observer, now(), &[]);
        assert_eq!(code(refused), RejectionCode::NotAllowed);
        let l = lock(&request("api", "x"));
        assert_eq!(code(check_unlock(&l, &observer, now())), RejectionCode::NotAllowed);
        assert_eq!(check_unlock(&l, &dana(), now()), Ok(()));
    }

    fn request(service: &str, reason: &str) -> LockRequest {
        LockRequest { service: service.into(), reason: reason.into(), ..LockRequest::default() }
    }

    fn lock(request: &LockRequest) -> Lock {
        decide_lock(request, LockId::new("lock_1"), &dana(), now(), &[]).expect("a valid lock")
    }

    fn code(result: Result<impl fmt::Debug, Rejection>) -> RejectionCode {
        result.expect_err("refused").code
    }

    #[test]
    fn a_lock_lasts_four_hours_unless_told_and_blocks_every_environment() {
        let l = lock(&request("api", " database migration running "));
        assert_eq!(l.until - l.from, Duration::hours(4));
        assert_eq!(l.reason, "database migration running");
        assert_eq!(l.mode, LockMode::Block);
        assert_eq!(l.environment, None);
        let api = ServiceName::new("api");
        assert!(l.blocks(&api, Environment::Production, now()));
        assert!(l.blocks(&api, Environment::Staging, now()));
        assert!(!l.blocks(&ServiceName::new("billing"), Environment::Production, now()));
    }

    #[test]
    fn a_lock_is_in_force_from_its_start_until_just_before_its_end() {
        let l = lock(&LockRequest { duration: Some("30m".into()), ..request("api", "incident") });
        assert!(!l.is_active(now() - Duration::seconds(1)));
        assert!(l.is_active(now()));
        assert!(l.is_active(now() + Duration::minutes(30) - Duration::seconds(1)));
        assert!(!l.is_active(now() + Duration::minutes(30)));
    }

    #[test]
    fn an_unlocked_lock_stops_at_its_unlock() {
        let mut l = lock(&request("api", "incident"));
        l.ended = Some(LockEnd::Unlocked { by: dana(), at: now() + Duration::minutes(5) });
        assert!(l.is_active(now() + Duration::minutes(4)));
        assert!(!l.is_active(now() + Duration::minutes(5)));
        assert_eq!(code(check_unlock(&l, &dana(), now() + Duration::minutes(6))), RejectionCode::NotLocked);
    }

    #[test]
    fn a_warning_lock_blocks_nothing_but_concerns_the_production_gate() {
        let l = lock(&LockRequest { warn: true, ..request("api", "customer demo") });
        let api = ServiceName::new("api");
        assert!(!l.blocks(&api, Environment::Production, now()));
        assert!(l.affects_production(&api, now()));
        assert!(l.banner().warn_only);
    }

    #[test]
    fn a_staging_lock_leaves_production_alone() {
        let l = lock(&LockRequest { environment: Some("Staging".into()), ..request("api", "staging rebuild") });
        let api = ServiceName::new("api");
        assert!(l.blocks(&api, Environment::Staging, now()));
        assert!(!l.blocks(&api, Environment::Production, now()));
        assert!(!l.affects_production(&api, now()));
        assert_eq!(l.scope(), "api staging");
    }

    #[test]
    fn bad_requests_say_what_was_wrong() {
        assert_eq!(
            code(decide_lock(&request("api", "  "), LockId::new("x"), &dana(), now(), &[])),
            RejectionCode::NoteRequired
        );
        let bad_service = decide_lock(&request("my api", "x"), LockId::new("x"), &dana(), now(), &[]);
        assert!(bad_service.expect_err("refused").message.contains("letters, digits"));
        let env = LockRequest { environment: Some("qa".into()), ..request("api", "x") };
        let message = decide_lock(&env, LockId::new("x"), &dana(), now(), &[]).expect_err("refused").message;
        assert!(message.contains("production or staging"), "{message}");
        let long = request("api", &"x".repeat(MAX_REASON_CHARS + 1));
        assert_eq!(code(decide_lock(&long, LockId::new("x"), &dana(), now(), &[])), RejectionCode::InvalidInput);
    }

    #[test]
    fn a_second_lock_on_the_same_scope_is_refused_but_another_scope_is_not() {
        let first = lock(&LockRequest { environment: Some("production".into()), ..request("api", "migration") });
        let again = LockRequest { environment: Some("production".into()), ..request("api", "another") };
        let refused = decide_lock(&again, LockId::new("lock_2"), &dana(), now(), std::slice::from_ref(&first));
        let message = refused.expect_err("refused").message;
        assert!(message.contains("already locked by Dana"), "{message}");
        let staging = LockRequest { environment: Some("staging".into()), ..request("api", "another") };
        assert!(decide_lock(&staging, LockId::new("lock_3"), &dana(), now(), std::slice::from_ref(&first)).is_ok());
        // Once the first lock expired, the scope is free again.
        let later = now() + Duration::hours(5);
        assert!(decide_lock(&again, LockId::new("lock_4"), &dana(), later, std::slice::from_ref(&first)).is_ok());
    }

    #[test]
    fn unlock_finds_the_one_lock_meant() {
        let production = lock(&LockRequest { environment: Some("production".into()), ..request("api", "a") });
        let mut staging = lock(&LockRequest { environment: Some("staging".into()), ..request("api", "b") });
        staging.id = LockId::new("lock_2");
        let both = [production.clone(), staging.clone()];
        assert_eq!(to_unlock("api", Some("production"), now(), &both).map(|l| &l.id), Ok(&production.id));
        assert_eq!(to_unlock("api", Some("staging"), now(), &both).map(|l| &l.id), Ok(&staging.id));
        let ambiguous = to_unlock("api", None, now(), &both).expect_err("ambiguous").message;
        assert!(ambiguous.contains("lock_1") && ambiguous.contains("lock_2"), "{ambiguous}");
        assert_eq!(to_unlock("api", None, now(), std::slice::from_ref(&staging)).map(|l| &l.id), Ok(&staging.id));
        assert_eq!(code(to_unlock("billing", None, now(), &both)), RejectionCode::NotLocked);
        assert_eq!(code(to_unlock("api", None, now() + Duration::hours(5), &both)), RejectionCode::NotLocked);
    }

    #[test]
    fn durations_in_minutes_hours_and_days() {
        assert_eq!(parse_duration("30m"), Ok(Duration::minutes(30)));
        assert_eq!(parse_duration("2h"), Ok(Duration::hours(2)));
        assert_eq!(parse_duration("1d"), Ok(Duration::days(1)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration(" 1H 30M "), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration("7d"), Ok(MAX_LOCK_FOR));
    }

    #[test]
    fn bad_durations_name_the_accepted_forms() {
        for bad in ["", "30", "h", "2w", "1.5h", "-1h", "0m", "8d", "169h", "99999999999999999999d"] {
            let message = parse_duration(bad).expect_err(bad).message;
            assert!(message.contains("30m, 2h, 1d") || message.contains("7 days"), "{bad}: {message}");
        }
        assert!(parse_duration("8d").expect_err("too long").message.contains("7 days"));
    }

    proptest! {
        #[test]
        fn every_duration_within_the_limits_parses_back(minutes in 1i64..=MAX_LOCK_FOR.num_minutes()) {
            let (d, h, m) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
            let mut text = String::new();
            for (n, unit) in [(d, 'd'), (h, 'h'), (m, 'm')] {
                if n > 0 {
                    text.push_str(&format!("{n}{unit}"));
                }
            }
            prop_assert_eq!(parse_duration(&text), Ok(Duration::minutes(minutes)));
        }

        #[test]
        fn no_text_panics_and_what_parses_is_within_the_limits(text in ".{0,12}") {
            if let Ok(d) = parse_duration(&text) {
                prop_assert!(d >= MIN_LOCK_FOR && d <= MAX_LOCK_FOR);
            }
        }

        #[test]
        fn a_lock_is_active_exactly_within_its_window(offset in -600i64..600, minutes in 1i64..300) {
            let l = lock(&LockRequest { duration: Some(format!("{minutes}m")), ..request("api", "x") });
            let at = now() + Duration::minutes(offset);
            prop_assert_eq!(l.is_active(at), offset >= 0 && offset < minutes);
        }
    }
}
