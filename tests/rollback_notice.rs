//! The rollback notice to the whole team: a deploy watched against a real Prometheus trips
//! on an error spike, and the notice reaches the release thread and every incident channel
//! with the chart of the spike attached (a PNG of the expected size), and the notice
//! webhook as JSON; each is edited (or sent again, for the webhook) once when production
//! has recovered. A rollback of a release started from the API is broadcast too, and a
//! webhook that fails is retried until it answers, without a second delivery.

use crate::common;

use chrono::Duration;
use common::discord_bot::*;
use common::prometheus::{three_hours_ago, OpenMetrics, RealPrometheus, ServiceTraffic, Traffic};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// A stand-in for a paging tool: records every delivery, and answers with the statuses it
/// is told to, in turn (200 once they run out).
#[derive(Clone, Default)]
struct Receiver {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    answers: Arc<Mutex<Vec<u16>>>,
}

#[derive(Debug, Clone)]
struct Delivery {
    idempotency_key: String,
    status: u16,
    body: Value,
}

impl Receiver {
    async fn start(answers: &[u16]) -> (Receiver, String) {
        let receiver = Receiver { answers: Arc::new(Mutex::new(answers.to_vec())), ..Receiver::default() };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                |headers: axum::http::HeaderMap,
                 axum::extract::State(r): axum::extract::State<Receiver>,
                 body: String| async move {
                    let status = {
                        let mut answers = r.answers.lock().unwrap();
                        if answers.is_empty() {
                            200
                        } else {
                            answers.remove(0)
                        }
                    };
                    let key =
                        headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    let body: Value = serde_json::from_str(&body).expect("the webhook sends JSON");
                    r.deliveries.lock().unwrap().push(Delivery { idempotency_key: key, status, body });
                    axum::http::StatusCode::from_u16(status).unwrap()
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app.with_state(state)).await });
        (receiver, url)
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// The deliveries the receiver took (answered 2xx), in order.
    fn accepted(&self) -> Vec<Delivery> {
        self.deliveries().into_iter().filter(|d| d.status < 300).collect()
    }

    async fn accepted_len(&self, bot: &Bot, len: usize) -> Vec<Delivery> {
        bot.eventually(&format!("{len} webhook deliveries"), |_| {
            let accepted = self.accepted();
            (accepted.len() >= len).then_some(accepted)
        })
        .await
    }
}

/// A message's words: its content and its embed's fields.
fn notice_text(message: &Value) -> String {
    let mut text = message["content"].as_str().unwrap_or_default().to_owned();
    for field in message["embeds"][0]["fields"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "\n{}: {}",
            field["name"].as_str().unwrap_or_default(),
            field["value"].as_str().unwrap_or_default()
        ));
    }
    text
}

fn notices(bot: &Bot, channel: &str) -> Vec<Value> {
    bot.fake.messages(channel).into_iter().filter(|m| notice_text(m).contains("What was rolled back")).collect()
}

/// The PNG's width and height, decoded.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("the chart is a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("fits in memory")];
    let frame = reader.next_frame(&mut pixels).expect("its pixels decode");
    (frame.width, frame.height)
}

/// Ticks the rollback procedure through after a revert to `digest` with health passing.
/// `unknown_artifact_reason`: for a service shipgate has never seen in production.
async fn recover(bot: &Bot, id: &str, digest: &str, unknown_artifact_reason: Option<&str>) {
    let mut revert = json!({"environment": "production", "digest": digest, "outcome": "succeeded", "health": "passed", "strategy": "rolling"});
    if let Some(reason) = unknown_artifact_reason {
        revert["unknown_artifact_reason"] = json!(reason);
    }
    bot.api_ok(&format!("/releases/{id}/deployments"), CI_TOKEN, Some(revert)).await;
    for item in ["deploy-reverted", "health-verified", "team-notified", "bug-triage"] {
        bot.api_ok(&format!("/releases/{id}/steps/rollback/items/{item}/tick"), CI_TOKEN, None).await;
    }
    bot.api_ok(&format!("/releases/{id}/steps/rollback/approve"), RM_TOKEN, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tripped_spike_reaches_the_thread_every_incident_channel_and_the_webhook_with_its_chart() {
    // Healthy payments traffic (0.4% errors) from three hours ago; about five minutes
    // after the deploy (two hours ago on shipgate's clock) one request in twenty fails.
    let spike_at = three_hours_ago() + Duration::minutes(66);
    let traffic = ServiceTraffic::new("payments", three_hours_ago())
        .then(spike_at, Traffic::steady(80.0).errors(0.004))
        .then(three_hours_ago() + Duration::minutes(150), Traffic::steady(80.0).errors(0.05));
    let mut metrics = OpenMetrics::new();
    metrics.service(&traffic);
    let prometheus = RealPrometheus::start_with(&metrics);
    let (receiver, hook) = Receiver::start(&[]).await;
    let bot = Bot::start_with(&format!(
        "\n[monitoring]\nprometheus_url = \"{}\"\ninterval = \"30s\"\n\n[rollback]\nnotice_webhook = \"{hook}\"\n",
        prometheus.base_url()
    ))
    .await;
    bot.clock.advance(-Duration::hours(2));
    let release = bot.start_release(RELEASE_CHANNEL, "payments", "2.7.0", false, &alice()).await;
    bot.api_to_monitor(&release.id, "2.7.0", DIGEST).await;

    // Ten minutes on, the watch has caught up with the spike and rolled back by itself.
    bot.clock.advance(Duration::minutes(10));
    for channel in [INCIDENT_CHANNEL, INCIDENT_CHANNEL_2, release.thread.as_str()] {
        let notice = bot
            .eventually(&format!("the rollback notice in {channel}"), |_| notices(&bot, channel).into_iter().next())
            .await;
        let text = notice_text(&notice);
        assert!(text.starts_with("**⏪ Rolling back payments 2.7.0**"), "{text}");
        assert!(text.contains("error rate"), "what broke: {text}");
        assert!(text.contains("above the threshold"), "{text}");
        // The chart is the message's one file, shown as the embed's image.
        assert_eq!(notice["embeds"][0]["image"]["url"], "attachment://rollback-chart.png", "{notice:#}");
        let files = bot.fake.attachments(channel, notice["id"].as_str().unwrap());
        assert_eq!(files.len(), 1, "one chart on the notice in {channel}");
        assert_eq!(png_size(&files[0].bytes), (800, 400));
    }
    for channel in [INCIDENT_CHANNEL, INCIDENT_CHANNEL_2] {
        let text = notice_text(&notices(&bot, channel)[0]);
        assert!(text.contains(&format!("thread <#{}>", release.thread)), "the thread is linked: {text}");
    }

    // The webhook gets the same notice, with the facts behind it.
    let sent = receiver.accepted_len(&bot, 1).await;
    let body = &sent[0].body;
    assert_eq!(body["type"], "shipgate.rollback", "{body:#}");
    assert_eq!(body["state"], "underway");
    assert_eq!(body["release"]["service"], "payments");
    assert_eq!(body["release"]["version"], "2.7.0");
    assert_eq!(body["trips"][0]["criterion"], "error_rate", "{body:#}");
    assert!(body["trips"][0]["observed"].as_f64().unwrap() > 0.01, "{body:#}");
    assert_eq!(body["chart_metric"], "error_rate");
    assert!(body["thread"]["url"].as_str().unwrap().ends_with(&release.thread), "{body:#}");
    assert!(body["broke"][0].as_str().unwrap().contains("error rate"), "{body:#}");
    assert!(!sent[0].idempotency_key.is_empty());

    // Production recovers: every copy is edited in place, the webhook told once more.
    recover(&bot, &release.id, OLD_DIGEST, Some("payments 2.6.0, deployed before shipgate ran it")).await;
    for channel in [INCIDENT_CHANNEL, INCIDENT_CHANNEL_2, release.thread.as_str()] {
        bot.eventually(&format!("the notice in {channel} says production recovered"), |_| {
            notices(&bot, channel).into_iter().find(|m| notice_text(m).contains("✅ Rolled back"))
        })
        .await;
        let copies = notices(&bot, channel);
        assert_eq!(copies.len(), 1, "edited, not posted again, in {channel}");
        assert_eq!(bot.fake.attachments(channel, copies[0]["id"].as_str().unwrap()).len(), 1, "the chart stays");
    }
    let sent = receiver.accepted_len(&bot, 2).await;
    assert_eq!(sent[1].body["state"], "recovered", "{:#}", sent[1].body);
    assert_ne!(sent[0].idempotency_key, sent[1].idempotency_key, "two notices, two keys");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(receiver.deliveries().len(), 2, "nothing is sent twice");
    bot.fake.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_run_from_the_api_is_broadcast_and_a_failing_webhook_is_retried_until_it_takes_it() {
    // The receiver is down for the first two tries.
    let (receiver, hook) = Receiver::start(&[503, 500]).await;
    let bot = Bot::start_with(&format!("\n[rollback]\nnotice_webhook = \"{hook}\"\n")).await;
    bot.api_complete("checkout", "2.6.0", OLD_DIGEST).await;
    let (status, body) = bot
        .api(
            "POST",
            "/releases",
            CI_TOKEN,
            Some(json!({"service": "checkout", "version": "2.7.0", "git_sha": "3f9c2e1"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    bot.api_to_monitor(&id, "2.7.0", DIGEST).await;
    bot.api_ok(&format!("/releases/{id}/rollback"), RM_TOKEN, Some(json!({"reason": "checkout answers 500"}))).await;

    // No thread to post in, but the team still hears of it, pointed at the release.
    for channel in [INCIDENT_CHANNEL, INCIDENT_CHANNEL_2] {
        let notice = bot
            .eventually(&format!("the rollback notice in {channel}"), |_| notices(&bot, channel).into_iter().next())
            .await;
        let text = notice_text(&notice);
        assert!(text.starts_with(&format!("**⏪ Rolling back checkout 2.7.0** · release {id}")), "{text}");
        assert!(text.contains("checkout answers 500"), "{text}");
        assert!(text.contains(&format!("to version 2.6.0 · artifact {OLD_DIGEST}")), "{text}");
        assert!(notice["embeds"][0].get("image").is_none(), "a person's reason has no chart: {notice:#}");
    }

    // The webhook answered 503, then 500, then took it: three tries of one notice, one key.
    let sent = receiver.accepted_len(&bot, 1).await;
    let tries = receiver.deliveries();
    assert_eq!(tries.iter().map(|d| d.status).collect::<Vec<_>>(), [503, 500, 200]);
    assert!(tries.iter().all(|d| d.idempotency_key == sent[0].idempotency_key), "{tries:?}");
    assert_eq!(sent[0].body["thread"], Value::Null);
    assert_eq!(sent[0].body["target"]["version"], "2.6.0");
    assert_eq!(sent[0].body["reason"], "checkout answers 500");

    recover(&bot, &id, OLD_DIGEST, None).await;
    let sent = receiver.accepted_len(&bot, 2).await;
    assert_eq!(sent[1].body["state"], "recovered");
    for channel in [INCIDENT_CHANNEL, INCIDENT_CHANNEL_2] {
        bot.eventually(&format!("the notice in {channel} says production recovered"), |_| {
            notices(&bot, channel).into_iter().find(|m| notice_text(m).contains("✅ Rolled back"))
        })
        .await;
        assert_eq!(notices(&bot, channel).len(), 1, "edited in {channel}");
    }
    bot.fake.assert_no_violations();
}
