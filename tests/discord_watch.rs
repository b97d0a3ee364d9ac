//! The live monitoring card in Discord: one message in the release thread, posted at the
//! baseline and edited in place at every sample (never a message per sample), with the
//! "Critical flow broken" button that starts the rollback. shipgate runs as `serve` builds
//! it, its watcher reading a real Prometheus.

use crate::common;

use chrono::Duration;
use common::discord_bot::*;
use common::fake_discord::Route;
use common::prometheus::{three_hours_ago, OpenMetrics, RealPrometheus, ServiceTraffic, Traffic};
use serde_json::Value;

fn watch_messages(bot: &Bot, thread: &str) -> Vec<Value> {
    bot.fake
        .messages(thread)
        .into_iter()
        .filter(|m| m["content"].as_str().is_some_and(|c| c.contains("Watching production")))
        .collect()
}

fn embed_text(message: &Value) -> String {
    serde_json::to_string(&message["embeds"]).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitoring_card_is_one_message_edited_at_every_sample_and_its_button_rolls_back() {
    // Healthy traffic from three hours ago until an hour ago; the release is deployed two
    // hours ago on shipgate's clock, so the whole watch reads history.
    let traffic = ServiceTraffic::new("payments", three_hours_ago())
        .then(three_hours_ago() + Duration::minutes(150), Traffic::steady(80.0).errors(0.004));
    let mut metrics = OpenMetrics::new();
    metrics.service(&traffic);
    let prometheus = RealPrometheus::start_with(&metrics);
    let bot = Bot::start_with(&format!(
        "\n[monitoring]\nprometheus_url = \"{}\"\ninterval = \"30s\"\n",
        prometheus.base_url()
    ))
    .await;
    bot.clock.advance(-Duration::hours(2));

    let release = bot.start_release(RELEASE_CHANNEL, "payments", "2.7.0", false, &alice()).await;
    bot.api_to_monitor(&release.id, "2.7.0", DIGEST).await;

    // The baseline: the card appears, with the baseline error rate of 0.40%.
    let card = bot
        .eventually("the monitoring card", |fake| {
            let _ = fake;
            watch_messages(&bot, &release.thread).into_iter().next()
        })
        .await;
    assert!(embed_text(&card).contains("0.40%"), "{card:#}");
    assert!(card["content"].as_str().unwrap().contains("payments 2.7.0"), "{card:#}");

    // Three minutes on: six samples, all on the same message.
    let before = bot.history_len(&release.id).await;
    bot.clock.advance(Duration::minutes(3));
    let card = bot
        .card_becomes(&release.thread, &card, "the card shows three minutes watched", |m| {
            embed_text(m).contains("3 of 30 min")
        })
        .await;
    assert_eq!(watch_messages(&bot, &release.thread).len(), 1, "one monitoring card, edited");
    let text = embed_text(&card);
    assert!(text.contains("error rate above 2x the baseline"), "{text}");
    assert!(text.contains("too small for a ratio"), "the floor is said: {text}");
    let edits = bot
        .fake
        .requests_to(Route::EditMessage)
        .into_iter()
        .filter(|r| r.path.ends_with(card["id"].as_str().unwrap()))
        .count();
    assert!(edits >= 1, "edited in place: {edits}");
    let sampled = bot.eventually_async_len(&release.id, before + 6).await;
    assert!(sampled >= before + 6, "six samples recorded");

    // A person presses "Critical flow broken" and says what broke: the rollback starts.
    let history = bot.history_len(&release.id).await;
    let modal = bot.click_label(&release.thread, &card, "Critical flow broken", &carol()).await;
    assert_eq!(modal["type"], 9, "the note form opens: {modal}");
    assert_eq!(bot.history_len(&release.id).await, history, "opening the form changes nothing");
    let answer =
        bot.submit(&release.thread, &card, &modal, &[("note", "card payments answer 502 at checkout")], &carol()).await;
    let said = answer["data"]["content"].as_str().unwrap_or_default();
    assert!(said.contains("rollback of payments 2.7.0 started"), "{answer}");
    assert_eq!(bot.release(&release.id).await["status"], "rolling_back");
    let card = bot
        .card_becomes(&release.thread, &card, "the card says why production rolls back", |m| {
            embed_text(m).contains("Rolling back") && buttons(m).is_empty()
        })
        .await;
    assert!(embed_text(&card).contains("card payments answer 502"), "{card:#}");
    bot.fake.assert_no_violations();
}
