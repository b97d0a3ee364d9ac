//! Rollback drills in Discord (HTTP mode), end to end: `/release drill` opens a drill
//! against staging pointed at the artifact staging ran before, its card is ticked through
//! to completion and the time it took is recorded; `/release drills` and the API list it;
//! the next release's first card shows it; a service with no drill for a quarter gets one
//! reminder in the release channel per week. Shipgate's real router and runtime against
//! the stateful fake Discord, which checks every request against Discord's OpenAPI document.

use crate::common;

use chrono::Duration as ChronoDuration;
use common::discord_bot::*;
use common::fake_discord::Member;
use serde_json::{json, Value};
use shipgate::app::playbooks::Playbooks;
use shipgate::app::{App, AppParts};
use shipgate::domain::drill::DrillPolicy;
use shipgate::domain::freeze::NoFreeze;
use shipgate::domain::release::Policy;
use std::collections::HashMap;
use std::sync::Arc;

/// Two releases of `service` deployed to staging through the API: 1.3.0 with `OLD_DIGEST`,
/// then 1.4.0 with `DIGEST`, which staging runs now.
async fn two_staging_deploys(bot: &Bot, service: &str) {
    for (version, digest) in [("1.3.0", OLD_DIGEST), ("1.4.0", DIGEST)] {
        let body = json!({"service": service, "version": version, "git_sha": "3f9c2e1"});
        let (status, started) = bot.api("POST", "/releases", CI_TOKEN, Some(body)).await;
        assert_eq!(status, 201, "{started}");
        let id = started["id"].as_str().expect("id").to_owned();
        bot.api_to_smoke_gate(&id, version, digest).await;
    }
}

async fn drill(bot: &Bot, service: &str, member: &Member) -> Value {
    let options = json!([{"name": "service", "type": 3, "value": service}]);
    bot.command(RELEASE_CHANNEL, "release", "drill", options, member).await
}

async fn drills(bot: &Bot) -> String {
    ephemeral_text(&bot.command(RELEASE_CHANNEL, "release", "drills", json!([]), &alice()).await)
}

/// The reminders posted in the release channel (not in any thread).
fn reminders(bot: &Bot) -> Vec<String> {
    bot.fake
        .messages(RELEASE_CHANNEL)
        .into_iter()
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .filter(|text| text.contains("overdue for a rollback drill"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_rolls_staging_back_is_timed_listed_shown_at_the_next_start_and_reminded_when_overdue() {
    let bot = Bot::start().await;
    two_staging_deploys(&bot, "api").await;
    let before = drills(&bot).await;
    assert!(before.contains("**api** — no rollback drill yet; next due by"), "{before}");

    // The drill: its thread is named for the revert target, the artifact before staging's.
    let answer = drill(&bot, "api", &alice()).await;
    assert_eq!(answer["type"], 5, "{answer}");
    let thread = bot
        .eventually("the drill's thread", |fake| {
            fake.threads()
                .into_iter()
                .find(|t| t["name"] == "api 1.3.0")
                .and_then(|t| t["id"].as_str().map(str::to_owned))
        })
        .await;
    let card = bot.card(&thread, "rollback-staging", 1).await;
    let text = body_text(&card);
    assert!(text.contains("Staging reverted to the previous artifact"), "{text}");
    assert!(text.contains("api has had no rollback drill"), "{text}");
    let id = release_of(&card).expect("the card names its drill");
    // A drill never holds production and is listed as a drill.
    let list = ephemeral_text(&bot.command(RELEASE_CHANNEL, "release", "list", json!([]), &alice()).await);
    assert!(list.contains("rollback drill (staging)"), "{list}");

    // Fourteen minutes of rolling back, then the boxes: the last tick completes it.
    bot.clock.advance(ChronoDuration::minutes(14));
    bot.tick_all(&id).await;
    let drill_release = bot.release(&id).await;
    assert_eq!(drill_release["status"], "completed", "{drill_release}");
    assert_eq!(drill_release["playbook"], "rollback-drill", "{drill_release}");

    let (status, listed) = bot.api("GET", "/drills", CI_TOKEN, None).await;
    assert_eq!(status, 200, "{listed}");
    let api = listed["drills"].as_array().expect("drills").iter().find(|d| d["service"] == "api").expect("api");
    assert_eq!(api["last"]["release_id"], id.as_str(), "{api}");
    assert_eq!(api["last"]["by"], "alice", "{api}");
    assert_eq!(api["overdue"], false, "{api}");
    // The clock moved 14 minutes; the test itself takes a few real seconds at most.
    let took = api["last"]["duration_seconds"].as_i64().expect("seconds");
    assert!((840..900).contains(&took), "{api}");
    let after = drills(&bot).await;
    assert!(after.contains("**api** — last rollback drill") && after.contains("by alice, took 14m"), "{after}");

    // The next release of api shows the drill on its first card.
    let started = bot.start_release(RELEASE_CHANNEL, "api", "1.5.0", false, &bob()).await;
    let first = body_text(&bot.card(&started.thread, "pre-flight", 1).await);
    assert!(
        first.contains("Last rollback drill of api:") && first.contains("by alice, the rollback took 14m"),
        "{first}"
    );

    // Within the quarter: no reminder. A quarter and a day later: one, and only one.
    let app = bot.app();
    assert_eq!(app.remind_overdue_drills().await.expect("sweep"), 0);
    bot.clock.advance(ChronoDuration::days(91));
    assert_eq!(app.remind_overdue_drills().await.expect("sweep"), 1);
    assert_eq!(app.remind_overdue_drills().await.expect("sweep"), 0, "the same week's reminder again");
    // A restarted (or second) instance on the same database finds it recorded.
    let restarted = App::new(AppParts {
        store: app.store().clone(),
        playbooks: Playbooks::builtin(),
        freeze: Arc::new(NoFreeze),
        channel_freeze: HashMap::new(),
        policy: Policy::default(),
        clock: bot.clock.clone(),
        watching: false,
        drills: DrillPolicy::default(),
    });
    assert_eq!(restarted.remind_overdue_drills().await.expect("sweep"), 0, "after a restart");
    let posted = bot.eventually("the reminder", |_| Some(reminders(&bot)).filter(|r| !r.is_empty())).await;
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(
        posted[0].contains("**api** is overdue for a rollback drill") && posted[0].contains("by alice"),
        "{posted:?}"
    );
    assert!(posted[0].contains("/release drill service:api"), "{posted:?}");
    // A week on, the next one.
    bot.clock.advance(ChronoDuration::days(7));
    assert_eq!(app.remind_overdue_drills().await.expect("sweep"), 1);
    bot.eventually("the second week's reminder", |_| Some(reminders(&bot)).filter(|r| r.len() == 2)).await;
    bot.fake.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_with_nothing_to_revert_to_or_started_as_a_release_is_refused_and_changes_nothing() {
    let bot = Bot::start().await;
    let refused = ephemeral_text(&drill(&bot, "billing", &alice()).await);
    assert!(refused.contains("no healthy staging deploy of billing"), "{refused}");

    // One artifact on staging only: nothing before it.
    let body = json!({"service": "search", "version": "2.0.0", "git_sha": "3f9c2e1"});
    let (_, started) = bot.api("POST", "/releases", CI_TOKEN, Some(body)).await;
    let id = started["id"].as_str().expect("id").to_owned();
    bot.api_to_smoke_gate(&id, "2.0.0", DIGEST).await;
    let refused = ephemeral_text(&drill(&bot, "search", &alice()).await);
    assert!(refused.contains("no previous artifact to revert to"), "{refused}");

    // Someone without a role learns that first.
    two_staging_deploys(&bot, "api").await;
    let refused = ephemeral_text(&drill(&bot, "api", &mallory()).await);
    assert!(refused.contains("needs one of the roles"), "{refused}");

    let options = json!([
        {"name": "service", "type": 3, "value": "api"},
        {"name": "version", "type": 3, "value": "1.3.0"},
        {"name": "sha", "type": 3, "value": "3f9c2e1"},
        {"name": "playbook", "type": 3, "value": "rollback-drill"},
    ]);
    let refused = ephemeral_text(&bot.command(RELEASE_CHANNEL, "release", "start", options, &alice()).await);
    assert!(refused.contains("start it with `/release drill service:api`"), "{refused}");

    let (_, listed) = bot.api("GET", "/releases", CI_TOKEN, None).await;
    let playbooks: Vec<&Value> =
        listed["releases"].as_array().expect("releases").iter().map(|r| &r["playbook"]).collect();
    assert!(playbooks.iter().all(|p| *p == "ship-to-production"), "{listed}");
    assert!(bot.fake.threads().is_empty(), "no drill thread was opened");
    bot.fake.assert_no_violations();
}
