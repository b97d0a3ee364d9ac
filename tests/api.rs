//! The CI API end to end: the real router and app on a real database.

use crate::common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use shipgate::domain::freeze::{FixedFreeze, FreezeReason};
use std::sync::Arc;

on_both_backends!(
    a_release_runs_through_all_eight_steps,
    a_rollback_ends_the_release_and_restores_what_was_live,
    requests_without_a_known_token_are_refused,
    bad_input_gets_a_clear_error_and_changes_nothing,
    a_repeated_request_returns_the_first_answer_and_writes_nothing,
    a_key_reused_for_another_body_is_refused_and_writes_nothing,
    concurrent_conflicting_clicks_transition_once,
    a_second_release_of_a_service_waits_for_production,
    production_deploy_refused_during_a_freeze,
    chat_releases_write_their_messages_to_the_outbox,
    releases_are_listed_newest_first_and_filtered,
    a_click_on_a_stale_view_is_refused,
    the_same_request_sent_many_times_at_once_gets_one_answer,
    every_event_records_who_when_and_which_request,
    a_hotfix_deploys_on_a_friday_afternoon_in_new_york_only_with_an_override,
    a_release_uses_its_channel_s_freeze_calendar,
    a_lock_refuses_the_production_gate_until_unlocked_and_repeats_get_the_first_answer,
    a_lock_expires_by_itself_and_its_end_is_recorded_once,
    bad_lock_requests_get_a_clear_error_and_lock_nothing,
    a_gate_rejected_through_the_api_records_why_and_takes_the_failure_path,
    the_approval_into_production_names_the_artifact_it_approved,
    hostile_free_text_is_refused_naming_the_field_and_its_limit_and_changes_nothing,
    after_a_real_regression_the_release_is_retargeted_to_the_fix_and_ships_it,
);

async fn a_release_uses_its_channel_s_freeze_calendar(backend: Backend) {
    let kolkata: shipgate::domain::freeze::calendar::FreezeConfig = toml::from_str(
        "timezone = \"Asia/Kolkata\"\n[[weekly]]\nname = \"Friday afternoon\"\nfrom = \"fri 12:00\"\nto = \"mon 00:00\"\n",
    )
    .unwrap();
    let team = shipgate::domain::freeze::calendar::Calendar::build(&kolkata, vec![]).unwrap();
    let Some(t) = spawn_with_channels(backend, vec![("C0PAYMENTS".to_owned(), Arc::new(team) as _)]).await else {
        return;
    };
    let start = |service: &str, channel: Option<&str>| json!({"service": service, "version": "1.4.0", "git_sha": "3f9c2e1", "channel": channel});
    let team_release =
        t.call("POST", "/api/v1/releases", RM_TOKEN, Some(start("payments", Some("C0PAYMENTS")))).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let other_release =
        t.call("POST", "/api/v1/releases", RM_TOKEN, Some(start("search", Some("C0SEARCH")))).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
    t.to_production_step(&team_release).await;
    t.to_production_step(&other_release).await;
    // Friday 4 December 2026, 07:00 UTC: 12:30 in Kolkata.
    t.clock.set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 4, 7, 0, 0).unwrap());
    let refused = t
        .call(
            "POST",
            &format!("/api/v1/releases/{team_release}/deployments"),
            CI_TOKEN,
            Some(deployment("production", DIGEST, "succeeded", "passed")),
        )
        .await;
    assert_eq!(refused.body["code"], "frozen", "{}", refused.body);
    assert!(refused.body["message"].as_str().unwrap().contains("IST"), "{}", refused.body);
    t.ok(
        &format!("/api/v1/releases/{other_release}/deployments"),
        CI_TOKEN,
        Some(deployment("production", DIGEST, "succeeded", "passed")),
    )
    .await;
}

async fn a_hotfix_deploys_on_a_friday_afternoon_in_new_york_only_with_an_override(backend: Backend) {
    let config: shipgate::domain::freeze::calendar::FreezeConfig = toml::from_str(
        "timezone = \"America/New_York\"\n[[weekly]]\nname = \"Friday afternoon\"\nfrom = \"fri 12:00\"\nto = \"mon 00:00\"\n",
    )
    .unwrap();
    let calendar = shipgate::domain::freeze::calendar::Calendar::build(&config, vec![]).unwrap();
    let Some(t) = spawn_with(backend, Arc::new(calendar)).await else { return };
    let body = json!({"service": "api", "version": "1.4.1", "git_sha": "3f9c2e1", "hotfix": true});
    let reply = t.call("POST", "/api/v1/releases", RM_TOKEN, Some(body)).await;
    let id = reply.body["id"].as_str().unwrap().to_owned();
    t.to_production_step_with(&id, "1.4.1", DIGEST).await;
    // Friday 4 December 2026, 13:00 EST.
    t.clock.set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 4, 18, 0, 0).unwrap());
    let refused = t
        .call(
            "POST",
            &format!("/api/v1/releases/{id}/deployments"),
            CI_TOKEN,
            Some(deployment("production", DIGEST, "succeeded", "passed")),
        )
        .await;
    assert_eq!(refused.body["code"], "frozen");
    let message = refused.body["message"].as_str().unwrap();
    // Which window, until when in New York time, and how a hotfix gets through.
    assert!(message.contains("Friday afternoon until Mon 7 Dec 2026 00:00 EST"), "{message}");
    assert!(message.contains("override"), "{message}");
    t.ok(
        &format!("/api/v1/releases/{id}/freeze-override"),
        CI_TOKEN,
        Some(json!({"reason": "checkout is down; 1.4.1 fixes it"})),
    )
    .await;
    let own = t.call("POST", &format!("/api/v1/releases/{id}/freeze-override/approve"), CI_TOKEN, None).await;
    assert_eq!(own.body["code"], "self_approval");
    t.ok(&format!("/api/v1/releases/{id}/freeze-override/approve"), RM2_TOKEN, None).await;
    let deployed = t
        .ok(
            &format!("/api/v1/releases/{id}/deployments"),
            CI_TOKEN,
            Some(deployment("production", DIGEST, "succeeded", "passed")),
        )
        .await;
    assert_eq!(deployed["release"]["current_step"]["id"], "monitor");
}

async fn a_click_on_a_stale_view_is_refused(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let id = t.start("api", "1.4.0").await;
    let etag = t.http.get(format!("{}/api/v1/releases/{id}", t.base)).bearer_auth(CI_TOKEN).send().await.unwrap();
    assert_eq!(etag.headers()["etag"], "\"1\"");
    let seen = t.get(&id).await["seq"].as_u64().unwrap();
    t.ok(&format!("/api/v1/releases/{id}/steps/pre-flight/items/prs-merged/tick"), CI_TOKEN, None).await;
    let stale = t
        .http
        .post(format!("{}/api/v1/releases/{id}/steps/pre-flight/items/no-blockers/tick", t.base))
        .bearer_auth(CI_TOKEN)
        .header("If-Match", format!("\"{seen}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    assert_eq!(stale.json::<serde_json::Value>().await.unwrap()["code"], "stale_state");
    let now = t.get(&id).await["seq"].as_u64().unwrap();
    assert_eq!(now, seen + 1, "the stale click wrote nothing");
    let fresh = t
        .http
        .post(format!("{}/api/v1/releases/{id}/steps/pre-flight/items/no-blockers/tick", t.base))
        .bearer_auth(CI_TOKEN)
        .header("If-Match", now.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    // Retrying a keyed request that went through is answered, not called stale.
    let keyed = |seq: u64| {
        t.http
            .post(format!("{}/api/v1/releases/{id}/steps/pre-flight/items/env-and-secrets/tick", t.base))
            .bearer_auth(CI_TOKEN)
            .header("If-Match", seq.to_string())
            .header("Idempotency-Key", "env-tick")
            .send()
    };
    let first = keyed(now + 1).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let retry = keyed(now + 1).await.unwrap();
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let bad = t
        .http
        .post(format!("{}/api/v1/releases/{id}/steps/pre-flight/items/release-notes/tick", t.base))
        .bearer_auth(CI_TOKEN)
        .header("If-Match", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn the_same_request_sent_many_times_at_once_gets_one_answer(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let t = Arc::new(t);
    let id = t.start("api", "1.4.0").await;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let t = t.clone();
        let path = format!("/api/v1/releases/{id}/steps/pre-flight/items/prs-merged/tick");
        tasks.push(tokio::spawn(
            async move { t.call_with_key("POST", &path, CI_TOKEN, None, Some("retry-storm")).await },
        ));
    }
    let mut bodies = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        bodies.push(reply.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every copy gets the first answer");
    assert_eq!(t.get(&id).await["seq"], 2, "one tick written");
}

async fn every_event_records_who_when_and_which_request(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let id = t.start("api", "1.4.0").await;
    let path = format!("/api/v1/releases/{id}/steps/pre-flight/items/prs-merged/tick");
    t.clock.advance(chrono::Duration::minutes(3));
    t.call_with_key("POST", &path, CI_TOKEN, None, Some("k-77")).await;
    let release = t.get(&id).await;
    let tick = &release["history"][1];
    assert_eq!(tick["type"], "item_ticked");
    assert_eq!(tick["actor"]["platform"], "api");
    assert_eq!(tick["actor"]["user_id"], "ci");
    assert_eq!(tick["actor"]["display_name"], "ci");
    assert_eq!(tick["actor"]["roles"], json!(["engineer"]));
    assert_eq!(tick["at"], "2026-12-02T10:03:00Z");
    // Keys are scoped to the client and the route within the API.
    assert_eq!(tick["request_id"], format!("api:ci:POST {}:k-77", path.trim_start_matches("/api/v1")));
    let start = &release["history"][0];
    assert_eq!(start["actor"]["user_id"], "release-bot");
    assert_eq!(start["at"], "2026-12-02T10:00:00Z");
}

async fn a_release_runs_through_all_eight_steps(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let id = t.start("api", "1.4.0").await;
    t.to_production_step(&id).await;
    t.ok(
        &format!("/api/v1/releases/{id}/deployments"),
        CI_TOKEN,
        Some(deployment("production", DIGEST, "succeeded", "passed")),
    )
    .await;
    assert_eq!(t.current_step(&id).await, "monitor");
    t.tick_all(&id, CI_TOKEN).await;
    let early = t.call("POST", &format!("/api/v1/releases/{id}/steps/monitor/approve"), RM_TOKEN, None).await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    assert_eq!(early.body["code"], "evidence_missing");
    t.clock.advance(chrono::Duration::minutes(15));
    t.ok(&format!("/api/v1/releases/{id}/steps/monitor/approve"), RM_TOKEN, None).await;
    t.tick_all(&id, CI_TOKEN).await;
    let done = t.ok(&format!("/api/v1/releases/{id}/steps/rollback-criteria/approve"), RM_TOKEN, None).await;
    assert_eq!(done["release"]["status"], "completed");

    let release = t.get(&id).await;
    let history = release["history"].as_array().unwrap();
    let seqs: Vec<u64> = history.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "history is gap-free and ordered");
    for entry in history {
        assert!(
            entry["actor"]["user_id"].is_string() && entry["at"].is_string() && entry["request_id"].is_string(),
            "{entry}"
        );
    }
    let entered: Vec<&str> =
        history.iter().filter(|e| e["type"] == "step_entered").map(|e| e["step"].as_str().unwrap()).collect();
    assert_eq!(
        entered,
        [
            "test-suite",
            "build-artifact",
            "deploy-staging",
            "smoke-test",
            "deploy-production",
            "monitor",
            "rollback-criteria"
        ]
    );
    let live = t.store.live(&shipgate::domain::ServiceName::new("api")).await.unwrap().unwrap();
    assert_eq!(live.digest.as_str(), DIGEST);
    assert_eq!(t.store.production_holder(&shipgate::domain::ServiceName::new("api")).await.unwrap(), None);
}

async fn a_rollback_ends_the_release_and_restores_what_was_live(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let service = shipgate::domain::ServiceName::new("api");
    let first = t.start("api", "1.3.0").await;
    t.complete(&first, "1.3.0", OLD_DIGEST).await;
    assert_eq!(t.store.live(&service).await.unwrap().unwrap().version.as_str(), "1.3.0");

    let id = t.start("api", "1.4.0").await;
    t.to_production_step(&id).await;
    t.ok(
        &format!("/api/v1/releases/{id}/deployments"),
        CI_TOKEN,
        Some(deployment("production", DIGEST, "succeeded", "passed")),
    )
    .await;
    assert_eq!(t.store.live(&service).await.unwrap().unwrap().version.as_str(), "1.4.0");
    let rollback = t
        .ok(&format!("/api/v1/releases/{id}/rollback"), RM_TOKEN, Some(json!({"reason": "error rate 2.4x baseline"})))
        .await;
    let view = &rollback["release"];
    assert_eq!(view["status"], "rolling_back");
    assert_eq!(view["rollback"]["reason"], "error rate 2.4x baseline");
    assert_eq!(view["rollback"]["deployed"]["digest"], DIGEST, "what was deployed");
    assert_eq!(view["rollback"]["target"]["version"], "1.3.0", "what production goes back to");
    t.tick_rollback(&id, CI_TOKEN).await;
    let reply = t.call("POST", &format!("/api/v1/releases/{id}/steps/rollback/approve"), RM_TOKEN, None).await;
    assert_eq!(reply.body["code"], "evidence_missing", "{}", reply.body);
    let wrong = t
        .call(
            "POST",
            &format!("/api/v1/releases/{id}/deployments"),
            CI_TOKEN,
            Some(deployment("production", DIGEST, "succeeded", "passed")),
        )
        .await;
    assert_eq!(wrong.body["code"], "wrong_artifact");
    t.ok(
        &format!("/api/v1/releases/{id}/deployments"),
        CI_TOKEN,
        Some(deployment("production", OLD_DIGEST, "succeeded", "passed")),
    )
    .await;
    let done = t.ok(&format!("/api/v1/releases/{id}/steps/rollback/approve"), RM_TOKEN, None).await;
    assert_eq!(done["release"]["status"], "rolled_back");
    assert!(done["release"]["follow_ups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f.as_str().unwrap().contains("Bug Triage")));
    let live = t.store.live(&service).await.unwrap().unwrap();
    assert_eq!((live.version.as_str(), live.digest.as_str()), ("1.3.0", OLD_DIGEST));
    assert_eq!(t.store.production_holder(&service).await.unwrap(), None);
}

async fn requests_without_a_known_token_are_refused(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let missing = t.http.get(format!("{}/api/v1/releases", t.base)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
    let wrong = t.call("GET", "/api/v1/releases", "not-a-token-at-all-xxxx", None).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let start = t
        .call(
            "POST",
            "/api/v1/releases",
            "nope",
            Some(json!({"service": "api", "version": "1.0.0", "git_sha": "abcdef1"})),
        )
        .await;
    assert_eq!(start.status, StatusCode::UNAUTHORIZED);
    assert!(t.store.list_releases(&Default::default()).await.unwrap().is_empty(), "nothing written");
}

async fn bad_input_gets_a_clear_error_and_changes_nothing(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let id = t.start("api", "1.4.0").await;
    let seq = t.get(&id).await["seq"].as_u64().unwrap();

    let malformed = t
        .http
        .post(format!("{}/api/v1/releases/{id}/abort", t.base))
        .bearer_auth(RM_TOKEN)
        .header("content-type", "application/json")
        .body("{\"reason\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json::<serde_json::Value>().await.unwrap()["code"], "malformed_json");

    let unknown = t
        .call(
            "POST",
            "/api/v1/releases/0190aaaa-0000-7000-8000-000000000000/abort",
            RM_TOKEN,
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["code"], "unknown_release");

    let not_current =
        t.call("POST", &format!("/api/v1/releases/{id}/steps/smoke-test/items/core-flows/tick"), CI_TOKEN, None).await;
    assert_eq!(not_current.status, StatusCode::CONFLICT);
    assert_eq!(not_current.body["code"], "not_current_step");
    assert!(not_current.body["message"].as_str().unwrap().contains("Pre-Flight Checks"));

    let bad_sha = t
        .call(
            "POST",
            "/api/v1/releases",
            RM_TOKEN,
            Some(json!({"service": "api", "version": "1.4.0", "git_sha": "zzz"})),
        )
        .await;
    assert_eq!(bad_sha.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_sha.body["message"].as_str().unwrap().contains("git SHA"), "{}", bad_sha.body);

    let unknown_field = t
        .call(
            "POST",
            "/api/v1/releases",
            RM_TOKEN,
            Some(json!({"service": "api", "version": "1.4.0", "git_sha": "abcdef1", "sevrice": 1})),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown_field.body["message"].as_str().unwrap().contains("sevrice"), "{}", unknown_field.body);

    let huge = "x".repeat(70 * 1024);
    let too_big =
        t.call("POST", &format!("/api/v1/releases/{id}/abort"), RM_TOKEN, Some(json!({"reason": huge}))).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_big.body["code"], "body_too_large");

    t.tick_all(&id, CI_TOKEN).await;
    let not_allowed =
        t.call("POST", &format!("/api/v1/releases/{id}/steps/pre-flight/approve"), OBSERVER_TOKEN, None).await;
    assert_eq!(not_allowed.status, StatusCode::FORBIDDEN, "{}", not_allowed.body);
    assert_eq!(not_allowed.body["code"], "not_allowed");
    assert!(not_allowed.body["message"].as_str().unwrap().contains("release-manager"));

    let bad_digest = t
        .call(
            "POST",
            &format!("/api/v1/releases/{id}/artifacts"),
            CI_TOKEN,
            Some(json!({"version": "1.4.0", "git_sha": "3f9c2e1", "digest": "latest", "size_bytes": 1})),
        )
        .await;
    assert_eq!(bad_digest.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_digest.body["message"].as_str().unwrap().contains("algorithm:hex"), "{}", bad_digest.body);

    let after = t.get(&id).await["seq"].as_u64().unwrap();
    assert_eq!(after, seq + 5, "only the five ticks were written");
    assert_eq!(t.call("GET", "/nope", CI_TOKEN, None).await.status, StatusCode::NOT_FOUND);
}

async fn a_repeated_request_returns_the_first_answer_and_writes_nothing(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let body = json!({"service": "api", "version": "1.4.0", "git_sha": "3f9c2e1"});
    let first = t.call_with_key("POST", "/api/v1/releases", RM_TOKEN, Some(body.clone()), Some("start-1")).await;
    let again = t.call_with_key("POST", "/api/v1/releases", RM_TOKEN, Some(body), Some("start-1")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert!(again.replayed && !first.replayed);
    assert_eq!(first.body, again.body);
    assert_eq!(t.store.list_releases(&Default::default()).await.unwrap().len(), 1);

    let id = first.body["id"].as_str().unwrap();
    let path = format!("/api/v1/releases/{id}/steps/pre-flight/items/prs-merged/tick");
    let tick = t.call_with_key("POST", &path, CI_TOKEN, None, Some("tick-1")).await;
    t.clock.advance(chrono::Duration::seconds(5));
    let replay = t.call_with_key("POST", &path, CI_TOKEN, None, Some("tick-1")).await;
    assert_eq!(tick.body, replay.body);
    assert!(replay.replayed);
    assert_eq!(t.get(id).await["seq"], 2);
    // The same key from another client is another request.
    let other = t.call_with_key("POST", &path, RM_TOKEN, None, Some("tick-1")).await;
    assert_eq!(other.body["code"], "already_ticked");

    // During the watch the answer shows a countdown: a replay minutes later still shows
    // the first answer's, not a new one.
    let watched = t.start("billing", "1.4.0").await;
    t.to_production_step(&watched).await;
    t.ok(
        &format!("/api/v1/releases/{watched}/deployments"),
        CI_TOKEN,
        Some(deployment("production", DIGEST, "succeeded", "passed")),
    )
    .await;
    t.clock.advance(chrono::Duration::minutes(2));
    let path = format!("/api/v1/releases/{watched}/steps/monitor/items/latency/tick");
    let first = t.call_with_key("POST", &path, CI_TOKEN, None, Some("watch-tick")).await;
    assert!(first.body["release"]["current_step"]["gate"]["evidence_missing"]
        .as_str()
        .unwrap()
        .contains("13m00s left"));
    t.clock.advance(chrono::Duration::minutes(5));
    let again = t.call_with_key("POST", &path, CI_TOKEN, None, Some("watch-tick")).await;
    assert!(again.replayed);
    assert_eq!(first.body, again.body);
}

async fn a_key_reused_for_another_body_is_refused_and_writes_nothing(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    // A start: the same body (its keys in another order) is a repeat; another version is not.
    let body = json!({"service": "api", "version": "1.4.0", "git_sha": "3f9c2e1"});
    let first = t.call_with_key("POST", "/api/v1/releases", RM_TOKEN, Some(body), Some("start-1")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let reordered = json!({"git_sha": "3f9c2e1", "version": "1.4.0", "service": "api"});
    let again = t.call_with_key("POST", "/api/v1/releases", RM_TOKEN, Some(reordered), Some("start-1")).await;
    assert_eq!((again.status, again.replayed), (StatusCode::CREATED, true));
    assert_eq!(again.body, first.body);
    let other = json!({"service": "api", "version": "1.5.0", "git_sha": "3f9c2e1"});
    let reused = t.call_with_key("POST", "/api/v1/releases", RM_TOKEN, Some(other), Some("start-1")).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reused.body);
    assert_eq!(reused.body["code"], "idempotency_key_reused");
    assert!(reused.body["message"].as_str().unwrap().contains("\"start-1\""), "{}", reused.body);
    assert_eq!(t.store.list_releases(&Default::default()).await.unwrap().len(), 1, "no second release");

    // Test results: `failed: 3`, then by mistake `passed: 420` under the same key.
    let id = first.body["id"].as_str().unwrap().to_owned();
    t.tick_all(&id, CI_TOKEN).await;
    t.ok(&format!("/api/v1/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, None).await;
    let path = format!("/api/v1/releases/{id}/test-results");
    let failing = json!({"suite": "unit", "passed": 417, "failed": 3});
    let recorded = t.call_with_key("POST", &path, CI_TOKEN, Some(failing.clone()), Some("results-1")).await;
    assert_eq!(recorded.status, StatusCode::OK, "{}", recorded.body);
    let seq = t.get(&id).await["seq"].clone();
    let passing = json!({"suite": "unit", "passed": 420, "failed": 0});
    let reused = t.call_with_key("POST", &path, CI_TOKEN, Some(passing.clone()), Some("results-1")).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reused.body);
    assert_eq!(reused.body["code"], "idempotency_key_reused");
    assert!(reused.body["message"].as_str().unwrap().contains("\"results-1\""), "{}", reused.body);
    assert_eq!(t.get(&id).await["seq"], seq, "nothing written");
    assert_eq!(t.current_step(&id).await, "test-suite");
    // The identical repeat still gets the first answer; a fresh key records the new result.
    let repeat = t.call_with_key("POST", &path, CI_TOKEN, Some(failing), Some("results-1")).await;
    assert_eq!((repeat.status, repeat.replayed), (StatusCode::OK, true));
    assert_eq!(repeat.body, recorded.body);
    let fresh = t.call_with_key("POST", &path, CI_TOKEN, Some(passing), Some("results-2")).await;
    assert_eq!((fresh.status, fresh.replayed), (StatusCode::OK, false), "{}", fresh.body);
    assert_eq!(t.current_step(&id).await, "build-artifact");
}

async fn concurrent_conflicting_clicks_transition_once(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let t = Arc::new(t);
    let id = t.start("api", "1.4.0").await;
    t.tick_all(&id, CI_TOKEN).await;
    // 200 clicks at once: approvals from two people and unticks racing each other.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let t = t.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let (path, token) = match i % 4 {
                0 => (format!("/api/v1/releases/{id}/steps/pre-flight/approve"), RM_TOKEN),
                1 => (format!("/api/v1/releases/{id}/steps/pre-flight/approve"), CI_TOKEN),
                2 => (format!("/api/v1/releases/{id}/steps/pre-flight/items/prs-merged/untick"), CI_TOKEN),
                _ => (format!("/api/v1/releases/{id}/steps/pre-flight/items/prs-merged/tick"), CI_TOKEN),
            };
            t.call("POST", &path, token, None).await.status
        }));
    }
    for task in tasks {
        let status = task.await.unwrap();
        assert!(status == StatusCode::OK || status == StatusCode::CONFLICT, "{status}");
    }
    let release = t.get(&id).await;
    let history = release["history"].as_array().unwrap();
    let passed = history.iter().filter(|e| e["type"] == "gate_passed").count();
    assert_eq!(passed, 1, "the gate passed exactly once");
    let entered = history.iter().filter(|e| e["type"] == "step_entered").count();
    assert_eq!(entered, 1);
    assert_eq!(release["current_step"]["id"], "test-suite");
}

async fn a_second_release_of_a_service_waits_for_production(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let first = t.start("api", "1.4.0").await;
    t.to_production_step(&first).await;
    let second = t.start("api", "1.4.0").await;
    let reply = {
        t.tick_all(&second, CI_TOKEN).await;
        t.ok(&format!("/api/v1/releases/{second}/steps/pre-flight/approve"), RM_TOKEN, None).await;
        t.ok(
            &format!("/api/v1/releases/{second}/test-results"),
            CI_TOKEN,
            Some(json!({"suite": "unit", "passed": 1, "failed": 0})),
        )
        .await;
        t.ok(
            &format!("/api/v1/releases/{second}/artifacts"),
            CI_TOKEN,
            Some(json!({"version": "1.4.0", "git_sha": "3f9c2e1", "digest": DIGEST, "size_bytes": 10})),
        )
        .await;
        t.tick_all(&second, CI_TOKEN).await;
        t.tick_all(&second, CI_TOKEN).await;
        t.ok(
            &format!("/api/v1/releases/{second}/deployments"),
            CI_TOKEN,
            Some(deployment("staging", DIGEST, "succeeded", "passed")),
        )
        .await;
        t.tick_all(&second, CI_TOKEN).await;
        t.call("POST", &format!("/api/v1/releases/{second}/steps/smoke-test/approve"), RM2_TOKEN, None).await
    };
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.body["code"], "production_held");
    assert!(reply.body["message"].as_str().unwrap().contains(&first), "{}", reply.body);
    // Another service is not affected.
    let other = t.start("billing", "1.4.0").await;
    t.to_production_step(&other).await;
    // Once the first is aborted, the second may go.
    t.ok(&format!("/api/v1/releases/{first}/abort"), RM_TOKEN, Some(json!({"reason": "superseded"}))).await;
    t.ok(&format!("/api/v1/releases/{second}/steps/smoke-test/approve"), RM2_TOKEN, None).await;
    assert_eq!(t.current_step(&second).await, "deploy-production");
}

async fn production_deploy_refused_during_a_freeze(backend: Backend) {
    let now = wednesday();
    let freeze = FixedFreeze {
        windows: vec![FreezeReason {
            kind: "window".into(),
            name: "Year-end freeze".into(),
            from: now + chrono::Duration::hours(1),
            to: now + chrono::Duration::days(10),
        }],
    };
    let Some(t) = spawn_with(backend, Arc::new(freeze)).await else { return };
    let id = t.start("api", "1.4.0").await;
    t.to_production_step(&id).await;
    t.clock.advance(chrono::Duration::hours(2));
    let reply = t
        .call(
            "POST",
            &format!("/api/v1/releases/{id}/deployments"),
            CI_TOKEN,
            Some(deployment("production", DIGEST, "succeeded", "passed")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.body["code"], "frozen");
    assert!(reply.body["message"].as_str().unwrap().contains("Year-end freeze"));
}

async fn chat_releases_write_their_messages_to_the_outbox(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let reply = t
        .call(
            "POST",
            "/api/v1/releases",
            RM_TOKEN,
            Some(json!({"service": "api", "version": "1.4.0", "git_sha": "3f9c2e1", "channel": "discord:1234567890"})),
        )
        .await;
    let id = reply.body["id"].as_str().unwrap().to_owned();
    t.ok(&format!("/api/v1/releases/{id}/steps/pre-flight/items/prs-merged/tick"), CI_TOKEN, None).await;
    let pending = t.store.pending_outbox(wednesday() + chrono::Duration::days(1), 100).await.unwrap();
    let kinds: Vec<&str> = pending.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["release_opened", "card", "card"]);
    assert!(pending.iter().all(|m| m.release_id.as_str() == id));
    // A release from CI alone has no chat channel and nothing to post; nor has one whose
    // channel names no platform (it only picks a team's freeze calendar).
    let bare = t
        .call(
            "POST",
            "/api/v1/releases",
            RM_TOKEN,
            Some(json!({"service": "web", "version": "1.0.0", "git_sha": "3f9c2e1", "channel": "C0PAYMENTS"})),
        )
        .await;
    assert_eq!(bare.status, StatusCode::CREATED);
    let quiet = t.start("billing", "1.0.0").await;
    t.ok(&format!("/api/v1/releases/{quiet}/steps/pre-flight/items/prs-merged/tick"), CI_TOKEN, None).await;
    assert_eq!(t.store.pending_outbox(wednesday() + chrono::Duration::days(1), 100).await.unwrap().len(), 3);
}

async fn releases_are_listed_newest_first_and_filtered(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let a = t.start("api", "1.0.0").await;
    t.clock.advance(chrono::Duration::minutes(1));
    let b = t.start("billing", "1.0.0").await;
    t.clock.advance(chrono::Duration::minutes(1));
    let c = t.start("api", "1.1.0").await;
    t.ok(&format!("/api/v1/releases/{a}/abort"), RM_TOKEN, Some(json!({"reason": "replaced by 1.1.0"}))).await;
    let all = t.call("GET", "/api/v1/releases", CI_TOKEN, None).await.body;
    let ids: Vec<&str> = all["releases"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [c.as_str(), b.as_str(), a.as_str()]);
    let api_active = t.call("GET", "/api/v1/releases?service=api&status=active", CI_TOKEN, None).await.body;
    let ids: Vec<&str> = api_active["releases"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [c.as_str()]);
    assert_eq!(all["releases"][2]["status"], "aborted");
    let bad = t.call("GET", "/api/v1/releases?status=done", CI_TOKEN, None).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn health_readiness_metrics_and_the_api_document_are_served() {
    let t = spawn(Backend::Sqlite).await.unwrap();
    let health = t.http.get(format!("{}/healthz", t.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = t.http.get(format!("{}/readyz", t.base)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready, json!({"status": "ready", "outbox": {"undelivered": 0, "oldest_undelivered_age_seconds": 0}}));
    t.start("api", "1.0.0").await;
    // Nothing delivers here: a release with a chat channel leaves its notices waiting.
    let chat = json!({"service": "web", "version": "1.4.0", "git_sha": "3f9c2e1", "channel": "discord:1234567890"});
    t.ok("/api/v1/releases", RM_TOKEN, Some(chat)).await;
    t.clock.advance(chrono::Duration::seconds(90));
    let ready: serde_json::Value = t.http.get(format!("{}/readyz", t.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["outbox"], json!({"undelivered": 2, "oldest_undelivered_age_seconds": 90}));
    let metrics = t.http.get(format!("{}/metrics", t.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("shipgate_commands_total"), "{metrics}");
    let doc: serde_json::Value =
        t.http.get(format!("{}/api/openapi.json", t.base)).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/releases"].is_object());
}

/// Drives a release from Step 1 to the smoke test's gate, every box ticked.
async fn to_the_production_gate(t: &TestApp, id: &str) {
    t.tick_all(id, CI_TOKEN).await;
    t.ok(&format!("/api/v1/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, None).await;
    t.ok(
        &format!("/api/v1/releases/{id}/test-results"),
        CI_TOKEN,
        Some(json!({"suite": "unit", "passed": 420, "failed": 0})),
    )
    .await;
    let artifact = json!({"version": "1.4.0", "git_sha": "3f9c2e1", "digest": DIGEST, "size_bytes": 73400320});
    t.ok(&format!("/api/v1/releases/{id}/artifacts"), CI_TOKEN, Some(artifact)).await;
    t.tick_all(id, CI_TOKEN).await;
    t.tick_all(id, CI_TOKEN).await;
    t.ok(
        &format!("/api/v1/releases/{id}/deployments"),
        CI_TOKEN,
        Some(deployment("staging", DIGEST, "succeeded", "passed")),
    )
    .await;
    t.tick_all(id, CI_TOKEN).await;
    assert_eq!(t.current_step(id).await, "smoke-test");
}

async fn pending_kinds(t: &TestApp) -> Vec<String> {
    let pending = t.store.pending_outbox(wednesday() + chrono::Duration::days(30), 500).await.unwrap();
    pending.into_iter().map(|m| m.kind).collect()
}

async fn a_lock_refuses_the_production_gate_until_unlocked_and_repeats_get_the_first_answer(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let reply = t
        .call(
            "POST",
            "/api/v1/releases",
            RM_TOKEN,
            Some(json!({"service": "api", "version": "1.4.0", "git_sha": "3f9c2e1", "channel": "discord:1234567890"})),
        )
        .await;
    let id = reply.body["id"].as_str().unwrap().to_owned();
    to_the_production_gate(&t, &id).await;
    let cards_before = pending_kinds(&t).await.iter().filter(|k| *k == "card").count();

    let body =
        json!({"service": "api", "reason": "database migration running", "for": "1h", "environment": "production"});
    let locked = t.call_with_key("POST", "/api/v1/locks", CI_TOKEN, Some(body.clone()), Some("lock-1")).await;
    assert_eq!(locked.status, StatusCode::CREATED, "{}", locked.body);
    let lock_id = locked.body["id"].as_str().unwrap().to_owned();
    assert_eq!(locked.body["locked_by"]["display_name"], "ci");
    assert_eq!(locked.body["until"], "2026-12-02T11:00:00Z");
    assert_eq!((locked.body["mode"].as_str(), locked.body["active"].as_bool()), (Some("block"), Some(true)));
    let again = t.call_with_key("POST", "/api/v1/locks", CI_TOKEN, Some(body), Some("lock-1")).await;
    assert_eq!((again.status, again.replayed), (StatusCode::CREATED, true));
    assert_eq!(again.body["id"], lock_id.as_str());
    // The same key asking for another lock is refused, and locks nothing more.
    let other = json!({"service": "billing", "reason": "database migration running", "for": "1h"});
    let reused = t.call_with_key("POST", "/api/v1/locks", CI_TOKEN, Some(other), Some("lock-1")).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reused.body);
    assert_eq!(reused.body["code"], "idempotency_key_reused");
    assert!(reused.body["message"].as_str().unwrap().contains("\"lock-1\""), "{}", reused.body);
    let all = t.call("GET", "/api/v1/locks", OBSERVER_TOKEN, None).await;
    assert_eq!(all.body["locks"].as_array().map(Vec::len), Some(1), "{}", all.body);
    // Announced once, and the chat release's card is shown again with the banner.
    let kinds = pending_kinds(&t).await;
    assert_eq!(kinds.iter().filter(|k| *k == "lock_started").count(), 1);
    assert_eq!(kinds.iter().filter(|k| *k == "card").count(), cards_before + 1);

    let refused = t.call("POST", &format!("/api/v1/releases/{id}/steps/smoke-test/approve"), RM2_TOKEN, None).await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (StatusCode::CONFLICT, Some("locked")));
    assert!(refused.body["message"].as_str().unwrap().contains("database migration running"), "{}", refused.body);
    assert_eq!(t.current_step(&id).await, "smoke-test");
    let listed = t.call("GET", "/api/v1/locks?service=api", OBSERVER_TOKEN, None).await;
    assert_eq!(listed.body["locks"].as_array().map(Vec::len), Some(1), "{}", listed.body);

    let unlock = format!("/api/v1/locks/{lock_id}/unlock");
    let unlocked = t.call_with_key("POST", &unlock, RM_TOKEN, None, Some("unlock-1")).await;
    assert_eq!(unlocked.status, StatusCode::OK, "{}", unlocked.body);
    assert_eq!(unlocked.body["ended"]["how"], "unlocked");
    assert_eq!(unlocked.body["ended"]["by"]["display_name"], "release-bot");
    let repeat = t.call_with_key("POST", &unlock, RM_TOKEN, None, Some("unlock-1")).await;
    assert_eq!((repeat.status, repeat.replayed), (StatusCode::OK, true));
    let other = t.call_with_key("POST", &unlock, RM_TOKEN, None, Some("unlock-2")).await;
    assert_eq!((other.status, other.body["code"].as_str()), (StatusCode::CONFLICT, Some("not_locked")));
    assert_eq!(pending_kinds(&t).await.iter().filter(|k| *k == "lock_ended").count(), 1);

    t.ok(&format!("/api/v1/releases/{id}/steps/smoke-test/approve"), RM2_TOKEN, None).await;
    assert_eq!(t.current_step(&id).await, "deploy-production");
}

async fn a_lock_expires_by_itself_and_its_end_is_recorded_once(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let body = json!({"service": "api", "reason": "incident open", "for": "30m"});
    let locked = t.call("POST", "/api/v1/locks", RM_TOKEN, Some(body)).await;
    assert_eq!(locked.status, StatusCode::CREATED, "{}", locked.body);
    let lock_id = locked.body["id"].as_str().unwrap().to_owned();
    assert_eq!(t.app.expire_locks().await.unwrap(), 0, "not yet");
    t.clock.advance(chrono::Duration::minutes(30));
    // Two timers (two instances) notice the expiry; one records it.
    let (a, b) = tokio::join!(t.app.expire_locks(), t.app.expire_locks());
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(t.app.expire_locks().await.unwrap(), 0);
    let listed = t.call("GET", "/api/v1/locks", CI_TOKEN, None).await;
    assert_eq!(listed.body["locks"], json!([]));
    let lock = t.call("GET", &format!("/api/v1/locks/{lock_id}"), CI_TOKEN, None).await;
    assert_eq!(lock.body["ended"]["how"], "expired", "{}", lock.body);
    assert_eq!(lock.body["ended"]["at"], locked.body["until"]);
    assert_eq!(pending_kinds(&t).await, ["lock_started", "lock_ended"]);
    let late = t.call("POST", &format!("/api/v1/locks/{lock_id}/unlock"), RM_TOKEN, None).await;
    assert_eq!(late.body["code"], "not_locked");
    assert!(late.body["message"].as_str().unwrap().contains("expired"), "{}", late.body);
}

async fn bad_lock_requests_get_a_clear_error_and_lock_nothing(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let cases = [
        (json!({"service": "api", "reason": "x", "for": "2w"}), "invalid_input", "30m, 2h, 1d"),
        (json!({"service": "api", "reason": "x", "for": "8d"}), "invalid_input", "7 days"),
        (json!({"service": "api", "reason": "x", "environment": "qa"}), "invalid_input", "production or staging"),
        (json!({"service": "api", "reason": "  "}), "note_required", "needs a reason"),
        (json!({"service": "my api", "reason": "x"}), "invalid_input", "letters, digits"),
        (json!({"service": "api"}), "invalid_input", "reason"),
        (json!({"service": "api", "reason": "x", "until": "soon"}), "invalid_input", "until"),
    ];
    for (body, code, says) in cases {
        let reply = t.call("POST", "/api/v1/locks", RM_TOKEN, Some(body.clone())).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", reply.body);
        assert_eq!(reply.body["code"], code, "{body}: {}", reply.body);
        assert!(reply.body["message"].as_str().unwrap().contains(says), "{body}: {}", reply.body);
    }
    assert_eq!(t.call("GET", "/api/v1/locks", CI_TOKEN, None).await.body["locks"], json!([]));
    assert!(pending_kinds(&t).await.is_empty());
    let unknown = t.call("POST", "/api/v1/locks/lock_nope/unlock", RM_TOKEN, None).await;
    assert_eq!((unknown.status, unknown.body["code"].as_str()), (StatusCode::NOT_FOUND, Some("unknown_lock")));
    let bad_id = t.call("GET", "/api/v1/locks/..%2F", RM_TOKEN, None).await;
    assert_eq!(bad_id.status, StatusCode::NOT_FOUND);
    let observer =
        t.call("POST", "/api/v1/locks", OBSERVER_TOKEN, Some(json!({"service": "api", "reason": "x"}))).await;
    assert_eq!((observer.status, observer.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_allowed")));
    let none = t.call("POST", "/api/v1/locks", "not-a-token", Some(json!({"service": "api", "reason": "x"}))).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
}

async fn a_gate_rejected_through_the_api_records_why_and_takes_the_failure_path(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let id = t.start("api", "1.4.0").await;
    let reject = format!("/api/v1/releases/{id}/steps/pre-flight/reject");
    // Bad input: a clear error, and nothing changes.
    let blank = t.call("POST", &reject, CI_TOKEN, Some(json!({"reason": "  "}))).await;
    assert_eq!((blank.status, blank.body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("note_required")));
    let unknown = t.call("POST", &reject, CI_TOKEN, Some(json!({"reason": "x", "path": "rewind"}))).await;
    assert_eq!(unknown.body["code"], "unknown_failure_path", "{}", unknown.body);
    let extra = t.call("POST", &reject, CI_TOKEN, Some(json!({"reason": "x", "why": "y"}))).await;
    assert_eq!(extra.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", extra.body);
    let observer = t.call("POST", &reject, OBSERVER_TOKEN, Some(json!({"reason": "no"}))).await;
    assert_eq!((observer.status, observer.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_allowed")));
    assert_eq!(t.get(&id).await["history"].as_array().map(Vec::len), Some(1), "nothing was written");

    // Step 2's gate rejected: its first path, a real regression, restarts from Step 1.
    t.tick_all(&id, CI_TOKEN).await;
    t.ok(&format!("/api/v1/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, None).await;
    let answer = t
        .ok(
            &format!("/api/v1/releases/{id}/steps/test-suite/reject"),
            CI_TOKEN,
            Some(json!({"reason": "orders API returns 500"})),
        )
        .await;
    let kinds: Vec<&str> =
        answer["events"].as_array().into_iter().flatten().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["gate_rejected", "failure_path_taken", "restarted", "step_entered"]);
    assert_eq!(answer["events"][0]["reason"], "orders API returns 500");
    assert_eq!(answer["events"][0]["path"], "real-regression");
    assert_eq!(t.current_step(&id).await, "pre-flight");
}

async fn the_approval_into_production_names_the_artifact_it_approved(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let id = t.start("api", "1.4.0").await;
    t.to_production_step(&id).await;
    let history = t.get(&id).await["history"].as_array().cloned().unwrap_or_default();
    let approvals: Vec<(String, serde_json::Value)> = history
        .iter()
        .filter(|e| e["type"] == "approved")
        .map(|e| (e["step"].as_str().unwrap_or_default().to_owned(), e["digest"].clone()))
        .collect();
    assert_eq!(
        approvals,
        [("pre-flight".to_owned(), serde_json::Value::Null), ("smoke-test".to_owned(), json!(DIGEST))],
        "only the approval into production names an artifact"
    );
    let other = "sha256:9999999999999999999999999999999999999999999999999999999999999999";
    let refused = t
        .call(
            "POST",
            &format!("/api/v1/releases/{id}/deployments"),
            CI_TOKEN,
            Some(deployment("production", other, "succeeded", "passed")),
        )
        .await;
    assert_eq!(refused.body["code"], "wrong_artifact");
    assert!(
        refused.body["message"].as_str().is_some_and(|m| m.contains("approved for production by")),
        "{}",
        refused.body
    );
}

async fn hostile_free_text_is_refused_naming_the_field_and_its_limit_and_changes_nothing(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let id = t.start("api", "1.4.0").await;
    let seq = t.get(&id).await["seq"].as_u64().unwrap();
    let release = |path: &str| format!("/api/v1/releases/{id}/{path}");
    let long = "x".repeat(60 * 1024);
    let digest = "sha256:4f1c0000000000000000000000000000000000000000000000000000000000aa";
    let cases = [
        (release("abort"), json!({"reason": "oops\u{0}"}), "reason contains the control character U+0000"),
        (
            release("abort"),
            json!({"reason": "\u{1b}[2J\u{1b}[31mall clear"}),
            "reason contains the control character U+001B",
        ),
        (release("abort"), json!({"reason": "invoice\u{202E}fdp.exe"}), "reason contains U+202E"),
        (release("abort"), json!({"reason": long}), "reason is 61440 characters; the limit is 1000"),
        (release("rollback"), json!({"reason": long}), "the limit is 1000"),
        (release("freeze-override"), json!({"reason": "hotfix\u{7}"}), "reason contains the control character U+0007"),
        (release("steps/pre-flight/reject"), json!({"reason": long}), "reason is 61440 characters; the limit is 1000"),
        (
            release("steps/pre-flight/failure-paths/real-regression"),
            json!({"note": "a\u{202D}b"}),
            "note contains U+202D",
        ),
        (
            release("test-results"),
            json!({"suite": "unit\nfake: passed", "passed": 1, "failed": 0}),
            "suite contains the control character U+000A",
        ),
        (
            release("test-results"),
            json!({"suite": "unit", "passed": 1, "failed": 0, "flaky": ["ok", "x".repeat(201)]}),
            "flaky[1] is 201 characters; the limit is 200",
        ),
        (
            release("artifacts"),
            json!({"version": "1.4.0", "git_sha": "3f9c2e1", "digest": digest, "size_bytes": 1, "name": "a\u{1b}]8;;"}),
            "name contains the control character U+001B",
        ),
        (
            release("deployments"),
            json!({"environment": "staging", "digest": digest, "outcome": "succeeded", "health": "passed",
                   "downgrade_reason": long}),
            "downgrade_reason is 61440 characters; the limit is 1000",
        ),
        ("/api/v1/locks".to_owned(), json!({"service": "api", "reason": "x".repeat(501)}), "the limit is 500"),
        (
            "/api/v1/locks".to_owned(),
            json!({"service": "api", "reason": "migration\u{2066}"}),
            "reason contains U+2066",
        ),
    ];
    for (path, body, says) in cases {
        let reply = t.call("POST", &path, RM_TOKEN, Some(body)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", reply.body);
        assert_eq!(reply.body["code"], "invalid_input", "{path}: {}", reply.body);
        let message = reply.body["message"].as_str().unwrap();
        assert!(message.contains(says), "{path}: {message}");
        assert!(!message.contains('\u{1b}') && !message.contains('\u{202E}'), "the refusal does not echo it");
    }
    assert_eq!(t.get(&id).await["seq"].as_u64(), Some(seq), "nothing was written");
    assert_eq!(t.call("GET", "/api/v1/locks", CI_TOKEN, None).await.body["locks"], json!([]));

    // Text on several lines, with tabs, accents and emoji, is stored exactly as sent.
    let words = "Grafana shows 5xx on /orders:\n\t- eu-west 12 %\n\t- üs-east 🚒";
    let answer = t.ok(&release("abort"), RM_TOKEN, Some(json!({ "reason": words }))).await;
    assert_eq!(answer["events"][0]["reason"], words, "{answer}");
}

/// The retention timer as `serve` starts it: once the test clock is past the age of
/// answers, the stored answer goes, so a repeat of its key is decided afresh; the
/// release's history and its undelivered notices stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_timer_forgets_old_answers_but_keeps_history_and_undelivered_notices() {
    let timers = shipgate::runtime::Timers {
        stall_sweep_every: std::time::Duration::from_secs(3600),
        retention_every: std::time::Duration::from_millis(20),
        drill_sweep_every: std::time::Duration::from_secs(3600),
    };
    let (t, running) = spawn_built(timers).await;
    let body = json!({"service": "api", "version": "1.4.0", "git_sha": "3f9c2e1", "channel": "discord:1234567890"});
    let first = t.call_with_key("POST", "/api/v1/releases", RM_TOKEN, Some(body.clone()), Some("ship-1.4.0")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let id = first.body["id"].as_str().unwrap().to_owned();
    let (_, history) =
        t.app.release_with_history(&shipgate::domain::ReleaseId::new(id.clone())).await.unwrap().unwrap();
    let request = history[0].request_id.clone();
    let waiting = t.store.pending_outbox(wednesday() + chrono::Duration::days(100), 100).await.unwrap();
    assert!(!waiting.is_empty());

    // Within the age, the timer leaves the answer: a repeat is a replay.
    let repeat = t.call_with_key("POST", "/api/v1/releases", RM_TOKEN, Some(body.clone()), Some("ship-1.4.0")).await;
    assert!(repeat.replayed);
    assert_eq!(repeat.body["id"], id.as_str());

    t.clock.advance(chrono::Duration::days(8));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while t.store.stored_response(&request).await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the answer to {request} was never removed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    assert_eq!(
        t.app.release_with_history(&shipgate::domain::ReleaseId::new(id.clone())).await.unwrap().unwrap().1,
        history
    );
    let still_waiting = t.store.pending_outbox(wednesday() + chrono::Duration::days(100), 100).await.unwrap();
    assert_eq!(still_waiting, waiting);
    let afresh = t.call_with_key("POST", "/api/v1/releases", RM_TOKEN, Some(body), Some("ship-1.4.0")).await;
    assert!(!afresh.replayed, "{}", afresh.body);
    assert_ne!(afresh.body["id"], id.as_str(), "{}", afresh.body);
    running.stop().await;
}

async fn after_a_real_regression_the_release_is_retargeted_to_the_fix_and_ships_it(backend: Backend) {
    let Some(t) = spawn(backend).await else { return };
    let id = t.start("api", "1.4.0").await;
    let retarget = format!("/api/v1/releases/{id}/retarget");
    t.tick_all(&id, CI_TOKEN).await;
    t.ok(&format!("/api/v1/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, None).await;
    // Past Step 1 the release cannot be retargeted: the tests ran on the old commit.
    let late = t.call("POST", &retarget, RM_TOKEN, Some(json!({"git_sha": "4444abc", "reason": "fix"}))).await;
    assert_eq!((late.status, late.body["code"].as_str()), (StatusCode::CONFLICT, Some("not_current_step")));
    t.ok(
        &format!("/api/v1/releases/{id}/steps/test-suite/failure-paths/real-regression"),
        CI_TOKEN,
        Some(json!({"note": "orders API returns 500"})),
    )
    .await;
    assert_eq!(t.current_step(&id).await, "pre-flight");

    // Bad input: a clear error, and nothing is written.
    let seq = t.get(&id).await["seq"].clone();
    for (body, status, code) in [
        (json!({"git_sha": "not-a-sha", "reason": "fix"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        (
            json!({"git_sha": "4444abc", "version": "one", "reason": "fix"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (json!({"git_sha": "4444abc", "reason": "  "}), StatusCode::UNPROCESSABLE_ENTITY, "note_required"),
        (json!({"git_sha": "3f9c2e1", "reason": "same"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        (json!({"git_sha": "4444abc", "reason": "fix", "sha": "x"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
    ] {
        let reply = t.call("POST", &retarget, RM_TOKEN, Some(body.clone())).await;
        assert_eq!((reply.status, reply.body["code"].as_str()), (status, Some(code)), "{body}: {}", reply.body);
    }
    let observer = t.call("POST", &retarget, OBSERVER_TOKEN, Some(json!({"git_sha": "4444abc", "reason": "x"}))).await;
    assert_eq!(observer.status, StatusCode::FORBIDDEN);
    assert_eq!(t.get(&id).await["seq"], seq, "nothing was written");

    let body = json!({"git_sha": "4444abc", "version": "1.4.1", "reason": "the fix for the orders regression"});
    let first = t.call_with_key("POST", &retarget, RM_TOKEN, Some(body.clone()), Some("retarget-1")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let kinds: Vec<&str> = first.body["events"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["retargeted", "restarted", "step_entered"]);
    let again = t.call_with_key("POST", &retarget, RM_TOKEN, Some(body), Some("retarget-1")).await;
    assert!(again.replayed);
    assert_eq!(first.body, again.body, "a repeat is answered with the first answer");

    let release = t.get(&id).await;
    assert_eq!((release["git_sha"].as_str(), release["version"].as_str()), (Some("4444abc"), Some("1.4.1")));
    assert_eq!(release["retargeted"]["from_git_sha"], "3f9c2e1");
    assert_eq!(release["retargeted"]["from_version"], "1.4.0");
    assert_eq!(release["retargeted"]["reason"], "the fix for the orders regression");
    let entry = release["history"].as_array().unwrap().iter().find(|e| e["type"] == "retargeted").cloned().unwrap();
    assert_eq!(entry["git_sha"], "4444abc");
    assert!(entry["actor"]["user_id"].is_string(), "who retargeted it is recorded: {entry}");
    let listed = t.call("GET", "/api/v1/releases?service=api", CI_TOKEN, None).await;
    assert_eq!(listed.body["releases"][0]["git_sha"], "4444abc", "{}", listed.body);

    // The fix ships: the old commit's artifact is refused, the fix's is taken.
    t.tick_all(&id, CI_TOKEN).await;
    t.ok(&format!("/api/v1/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, None).await;
    t.ok(
        &format!("/api/v1/releases/{id}/test-results"),
        CI_TOKEN,
        Some(json!({"suite": "unit", "passed": 420, "failed": 0})),
    )
    .await;
    let artifacts = format!("/api/v1/releases/{id}/artifacts");
    let old = json!({"version": "1.4.1", "git_sha": "3f9c2e1", "digest": DIGEST, "size_bytes": 73400320});
    let refused = t.call("POST", &artifacts, CI_TOKEN, Some(old)).await;
    assert_eq!(refused.body["code"], "wrong_artifact", "{}", refused.body);
    let fix = json!({"version": "1.4.1", "git_sha": "4444abc", "digest": DIGEST, "size_bytes": 73400320});
    t.ok(&artifacts, CI_TOKEN, Some(fix)).await;
    assert_eq!(t.current_step(&id).await, "build-artifact");
}
