//! What shipgate says around the cards, in Slack's words: snapshots, and the mentions and
//! escapes that must hold.

use super::*;
use crate::app::notices::CardStep;
use crate::chat::slack::render::tests::{assert_valid_message, blocks, body, text};
use crate::domain::card::fixtures::*;
use crate::domain::drill::{DrillRecord, DrillStanding, Reminder};
use crate::domain::lock::{Lock, LockId};
use crate::domain::release::Environment;
use crate::domain::{Actor, Platform, ReleaseId, ServiceName};
use chrono::TimeZone;

fn wednesday_3pm() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).single().expect("a time")
}

fn said_text(message: &Value) -> &str {
    assert_valid_message(message);
    assert_eq!(blocks(message).len(), 1);
    assert_eq!(text(&message["text"]), text(&blocks(message)[0]["text"]["text"]), "the fallback is the same words");
    text(&message["text"])
}

#[test]
fn the_release_message_opens_the_thread_with_what_ships() {
    let walk = Walk::start();
    let message = release_message(&walk.release);
    assert_eq!(said_text(&message), "🚀 *api 1.4.0* · `3f9c2e1` · started by Alice · release");
    insta::assert_json_snapshot!("release_message", message);
}

#[test]
fn lines_in_the_thread_say_what_happened_and_cards_have_none() {
    let mut walk = Walk::start();
    walk.walk_to(6);
    walk.take(&carol(), "rollback", "checkout <broken> & slow");
    walk.revert_production();
    walk.tick_all(&carol());
    walk.approve(&bob());
    let release = &walk.release;
    let triage = ThreadLink {
        platform: ChatPlatform::Slack,
        id: "C100/1733151600.000200".into(),
        url: "https://example.slack.com/archives/C100/p1733151600000200".into(),
    };
    let mut fixed = Walk::start();
    fixed.ok(
        &alice(),
        crate::domain::release::Command::Retarget {
            git_sha: crate::domain::GitSha::parse("6e1f8b3").expect("a SHA"),
            version: Some(crate::domain::Version::parse("1.4.1").expect("a version")),
            reason: "the fix for the <orders> regression".into(),
        },
    );
    let lines = json!({
        "rollback_completed": thread_line(&NoticeKind::RollbackCompleted, release, None),
        "release_finished": thread_line(&NoticeKind::ReleaseFinished, release, None),
        "retargeted": thread_line(&NoticeKind::Retargeted, &fixed.release, None),
        "triage_opened": thread_line(&NoticeKind::TriageOpened, release, Some(&triage)),
    });
    for line in lines.as_object().into_iter().flat_map(|o| o.values()) {
        assert_valid_message(line);
    }
    assert!(text(&lines["triage_opened"]["text"])
        .ends_with("Work it in <https://example.slack.com/archives/C100/p1733151600000200|the release thread>."));
    insta::assert_json_snapshot!("thread_lines", lines);

    for own in [
        NoticeKind::ReleaseOpened,
        NoticeKind::Card { step: CardStep::Step(0), attempt: 1, closed: None },
        NoticeKind::RollbackStarted,
        NoticeKind::StallPing { step: 0, attempt: 1 },
        NoticeKind::Watch,
    ] {
        assert!(thread_line(&own, release, None).is_none(), "{own:?} has its own message");
    }
}

#[test]
fn a_freeze_override_line_escapes_the_reason() {
    let mut walk = Walk::hotfix();
    walk.ok(
        &alice(),
        crate::domain::release::Command::RequestFreezeOverride { reason: "EU *card* payments <fail>".into() },
    );
    let line = thread_line(&NoticeKind::FreezeOverrideRequested, &walk.release, None).expect("a line");
    assert!(said_text(&line).contains("hotfix *api 1.4.0*: EU ∗card∗ payments &lt;fail&gt;."), "{line}");
}

#[test]
fn a_triage_opens_with_the_rollback_it_starts_from_and_a_link_back() {
    let origin = TriageOrigin {
        release_id: ReleaseId::new(RELEASE_ID),
        name: "api 1.4.0".into(),
        deployed: vec!["api · version 1.4.0 · commit 3f9c2e1".into()],
        broke: vec!["error rate 5.00% > 1.00% — since 10:46 EST".into()],
        rolled_back: vec!["to version 1.3.2 · artifact sha256:0000".into()],
    };
    let back = ThreadLink {
        platform: ChatPlatform::Discord,
        id: "1300000000000000001".into(),
        url: "https://discord.com/channels/1/1300000000000000001".into(),
    };
    let linked = triage_origin(&origin, Some(&back));
    let unlinked = triage_origin(&origin, None);
    assert_valid_message(&linked);
    assert_valid_message(&unlinked);
    assert!(body(&unlinked).contains(&format!("failed release: release {RELEASE_ID}")));
    insta::assert_json_snapshot!("triage_origin", json!({ "linked": linked, "unlinked": unlinked }));
}

#[test]
fn a_stall_ping_mentions_the_mapped_users_and_groups_of_the_steps_owners_and_names_the_rest() {
    let mut walk = Walk::start();
    walk.walk_to(4);
    let mapping = BTreeMap::from([(
        "release-manager".to_owned(),
        vec!["S0123ABCD".to_owned(), "U0456EFGH".to_owned(), "<!channel>".to_owned()],
    )]);
    let ping = stall_ping(&walk.release, 4, &mapping);
    let said = said_text(&ping);
    assert!(
        said.starts_with("⏳ <!subteam^S0123ABCD> <@U0456EFGH>: *api 1.4.0* has had no activity on Step 5"),
        "{said}"
    );
    assert!(said.contains("for more than 2 hours"), "{said}");
    assert!(!said.contains("channel"), "a malformed id is never a mention: {said}");

    // Nothing mapped: the roles are named and nobody is mentioned.
    let ping = stall_ping(&walk.release, 5, &BTreeMap::new());
    let said = said_text(&ping);
    assert!(said.starts_with("⏳ *release-manager* *engineer*:"), "{said}");
    assert!(said.contains("Step 6 — Deploy to Production for more than 30 minutes"), "{said}");
}

#[test]
fn lock_announcements_say_who_why_until_when_and_how_it_ended() {
    let from = wednesday_3pm();
    let dana = Actor::new(Platform::Slack, "T1:U4", "Dana");
    let lock = Lock {
        id: LockId::new("lock_1"),
        service: ServiceName::new("api"),
        environment: Some(Environment::Production),
        mode: LockMode::Block,
        reason: "database migration <running>".into(),
        by: dana,
        from,
        until: from + chrono::Duration::hours(4),
        ended: None,
    };
    let new_york = chrono_tz::America::New_York;
    let say = |lock: &Lock, what| lock_message(&LockNotice { lock: lock.clone(), what }, new_york);
    assert_eq!(
        said_text(&say(&lock, LockNews::Started)),
        "🔒 *api production* locked by Dana until Wed 2 Dec 14:00 EST: database migration &lt;running&gt; — the gate \
         into production and deploys there are blocked. (lock `lock_1`)"
    );
    let warning = Lock { mode: LockMode::Warn, environment: None, ..lock.clone() };
    assert!(said_text(&say(&warning, LockNews::Started)).contains("*api (every environment)*"));
    let erin = Actor::new(Platform::Slack, "T1:U5", "Erin");
    let unlocked = Lock { ended: Some(LockEnd::Unlocked { by: erin, at: from }), ..lock.clone() };
    assert_eq!(
        said_text(&say(&unlocked, LockNews::Ended)),
        "🔓 *api production* unlocked by Erin (locked by Dana: database migration &lt;running&gt;)."
    );
    let expired = Lock { ended: Some(LockEnd::Expired { at: lock.until }), ..lock };
    assert_eq!(
        said_text(&say(&expired, LockNews::Ended)),
        "🔓 The lock on *api production* expired at Wed 2 Dec 14:00 EST (locked by Dana: database migration \
         &lt;running&gt;)."
    );
}

#[test]
fn a_drill_reminder_names_the_slack_command() {
    let at = wednesday_3pm();
    let service = ServiceName::new("api");
    let last = DrillRecord {
        release_id: ReleaseId::new("0193a5f0-0000-7000-8000-000000000001"),
        by: "Carol".into(),
        started_at: at - chrono::Duration::days(97) - chrono::Duration::minutes(14),
        completed_at: at - chrono::Duration::days(97),
    };
    let notice = DrillReminderNotice {
        standing: DrillStanding {
            service: service.clone(),
            last: Some(last),
            due_at: Some(at - chrono::Duration::days(6)),
            overdue: true,
        },
        reminder: Reminder { service, due_at: at - chrono::Duration::days(6), period: 90 },
        at,
    };
    let message = drill_reminder_message(&notice, chrono_tz::America::New_York);
    let said = said_text(&message);
    assert!(said.starts_with("⚠️ *api* is overdue for a rollback drill (due Thu 26 Nov 2026): its last rollback drill"));
    assert!(said.ends_with("run `/release drill api` to roll staging back and time it."), "{said}");
    insta::assert_json_snapshot!("drill_reminder", message);
}
