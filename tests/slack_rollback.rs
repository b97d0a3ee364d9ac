//! Rollbacks of releases worked in Slack, and a team running Slack and Discord at once,
//! end to end: the real runtime with a clock the test moves, the fake Slack (and the fake
//! Discord), signed slash commands, the API with client tokens.
//!
//! A release started in Slack whose watch trips on a real Prometheus's error spike gets
//! its rollback notice in its thread and in every Slack incident channel, each with the
//! chart uploaded beside it, once, and edited when production has recovered. With both
//! platforms configured a release lives where it was started, and a rollback's notice
//! reaches the incident channels of both. A release started in Slack can be worked from
//! the command line and the API: its Slack cards follow.

use crate::common;
use crate::common::fake_slack;
use crate::common::slack_release;

use chrono::Duration as ChronoDuration;
use common::discord_bot::{self, deployment, TestClock, CI_TOKEN, DIGEST, OLD_DIGEST, RM_TOKEN, TIMER_SWEEP};
use common::fake_discord::{FakeDiscord, Member};
use common::prometheus::{three_hours_ago, OpenMetrics, RealPrometheus, ServiceTraffic, Traffic};
use ed25519_dalek::SigningKey;
use fake_slack::{signed_headers, FakeSlack, SlackMessage, SlackUser};
use serde_json::{json, Value};
use shipgate::app::clock::Clock;
use shipgate::config::Config;
use slack_release::{all_text, card, card_key, card_steps, eventually, parents, text};
use std::sync::Arc;
use std::time::Duration;

const RELEASES: &str = "C0RELEASES1";
const INCIDENTS: [&str; 2] = ["C0INCIDENT1", "C0INCIDENT2"];
const LONG: Duration = Duration::from_secs(60);

fn alice() -> SlackUser {
    SlackUser::new("U0ALICE0001", "alice")
}

fn bob() -> SlackUser {
    SlackUser::new("U0BOB000002", "bob")
}

/// shipgate with `[slack]` (and `[discord]`, given a fake Discord), in process.
struct Team {
    slack: FakeSlack,
    discord: Option<FakeDiscord>,
    key: SigningKey,
    url: String,
    http: reqwest::Client,
    clock: Arc<TestClock>,
    _running: shipgate::runtime::Running,
    _dir: tempfile::TempDir,
}

impl Team {
    async fn start(with_discord: bool, extra_config: &str) -> Team {
        let slack = FakeSlack::start().await;
        slack.add_channel(RELEASES);
        for channel in INCIDENTS {
            slack.add_channel(channel);
        }
        let discord = if with_discord { Some(FakeDiscord::start().await) } else { None };
        let key = SigningKey::from_bytes(&[42u8; 32]);
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = format!("sqlite://{}", dir.path().join("shipgate.db").display());
        let (head, mut env) = match &discord {
            Some(discord) => {
                discord_bot::seed_channels(discord);
                (discord_bot::config_text(discord, &key, &database_url), discord_bot::env(discord))
            }
            None => (
                format!(
                    "[database]\nurl = \"{database_url}\"\n\n\
                     [[api.clients]]\nname = \"ci\"\ntoken_env = \"TEST_BOT_CI_TOKEN\"\nroles = [\"engineer\"]\n\n\
                     [[api.clients]]\nname = \"release-bot\"\ntoken_env = \"TEST_BOT_RM_TOKEN\"\n\
                     roles = [\"release-manager\", \"engineer\"]\n"
                ),
                vec![("TEST_BOT_CI_TOKEN", CI_TOKEN.to_owned()), ("TEST_BOT_RM_TOKEN", RM_TOKEN.to_owned())],
            ),
        };
        let text = format!(
            "{head}\n[slack]\nmode = \"http\"\nrelease_channel_id = \"{RELEASES}\"\n\
             incident_channel_ids = [\"{}\", \"{}\"]\napi_base = \"{}\"\n{extra_config}",
            INCIDENTS[0],
            INCIDENTS[1],
            slack.api_base()
        );
        env.push(("SHIPGATE_SLACK_BOT_TOKEN", slack.bot_token().to_owned()));
        env.push(("SHIPGATE_SLACK_SIGNING_SECRET", slack.signing_secret().to_owned()));
        let path = dir.path().join("shipgate.toml");
        std::fs::write(&path, text).expect("write config");
        let config = Config::load_with_env(Some(&path), env).expect("config loads");
        let clock = Arc::new(TestClock::default());
        let running = shipgate::runtime::build_with(&config, clock.clone(), TIMER_SWEEP).await.expect("builds");
        let router = shipgate::http::router(running.state.clone(), config.server.max_body_bytes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Team { slack, discord, key, url, http: reqwest::Client::new(), clock, _running: running, _dir: dir }
    }

    fn discord(&self) -> &FakeDiscord {
        self.discord.as_ref().expect("a team with Discord")
    }

    /// `/release <text>` in the Slack release channel by `user`, signed as of shipgate's
    /// clock; the answer.
    async fn slack_release(&self, user: &SlackUser, text: &str) -> Value {
        let command = self.slack.slash_command(RELEASES, user, "/release", text);
        let body = command.to_form();
        let mut request = self
            .http
            .post(format!("{}/slack/commands", self.url))
            .body(body.clone())
            .header("content-type", "application/x-www-form-urlencoded");
        for (name, value) in signed_headers(self.slack.signing_secret(), self.clock.now().timestamp(), &body) {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("shipgate answers");
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON answer")
    }

    /// A release started in Slack by Alice: its id and its thread's ts.
    async fn start_in_slack(&self, service: &str, version: &str) -> (String, String) {
        let answer = self.slack_release(&alice(), &format!("start {service} {version} 3f9c2e1")).await;
        assert_eq!(answer["response_type"], "in_channel", "{answer:#}");
        let name = format!("{service} {version}");
        let parent = eventually(&self.slack, &format!("the parent message of {name}"), LONG, |fake| {
            parents(fake, RELEASES, &name).into_iter().next()
        })
        .await;
        let card1 = eventually(&self.slack, &format!("Step 1's card of {name}"), LONG, |fake| {
            card(fake, RELEASES, &parent.ts, "pre-flight", 1)
        })
        .await;
        (card_key(&card1).expect("the card names its release").0, parent.ts)
    }

    /// `/release start` in the Discord release channel by `member`: the release's id and
    /// its thread.
    async fn start_in_discord(&self, service: &str, version: &str, member: &Member) -> (String, String) {
        let discord = self.discord();
        let options = json!([{"name": "start", "type": 1, "options": [
            {"name": "service", "type": 3, "value": service},
            {"name": "version", "type": 3, "value": version},
            {"name": "sha", "type": 3, "value": "3f9c2e1"}
        ]}]);
        let interaction = discord.command_interaction(discord_bot::RELEASE_CHANNEL, "release", options, member);
        discord.register_interaction(&interaction);
        let body = interaction.to_string();
        let timestamp = self.clock.now().timestamp().to_string();
        let signature = discord_bot::sign(&self.key, &timestamp, &body);
        let response = discord_bot::post_interaction(&self.http, &self.url, &body, &timestamp, &signature)
            .await
            .expect("shipgate answers");
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.expect("JSON answer");
        let id = interaction["id"].as_str().expect("id");
        discord.apply_http_interaction_response(id, &answer).expect("a valid answer");
        let name = format!("{service} {version}");
        let thread = discord_bot::eventually(discord, &format!("the Discord thread of {name}"), |fake| {
            fake.threads()
                .into_iter()
                .find(|t| t["name"] == name.as_str())
                .and_then(|t| t["id"].as_str().map(str::to_owned))
        })
        .await;
        let card = discord_bot::eventually(discord, "the first Discord card", |fake| {
            discord_bot::cards(fake, &thread).into_iter().next()
        })
        .await;
        (discord_bot::release_of(&card).expect("the card names its release"), thread)
    }

    async fn api(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/api/v1{path}", self.url);
        let mut request = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        }
        .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn api_ok(&self, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, body) = self.api("POST", path, token, body).await;
        assert!((200..300).contains(&status), "POST {path} answered {status}: {body}");
        body
    }

    async fn current(&self, id: &str) -> Value {
        let (status, body) = self.api("GET", &format!("/releases/{id}"), CI_TOKEN, None).await;
        assert_eq!(status, 200, "{body}");
        body["current_step"].clone()
    }

    async fn tick_all(&self, id: &str) {
        let step = self.current(id).await;
        let step_id = step["id"].as_str().expect("step").to_owned();
        for item in step["items"].as_array().expect("items").iter().filter(|i| i["ticked"] != true) {
            let item = item["id"].as_str().expect("item");
            self.api_ok(&format!("/releases/{id}/steps/{step_id}/items/{item}/tick"), CI_TOKEN, None).await;
        }
    }

    /// Through the API from Step 1 to Step 7: deployed to production, watched.
    async fn to_production(&self, id: &str, version: &str) {
        self.tick_all(id).await;
        self.api_ok(&format!("/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, None).await;
        let results = json!({"suite": "unit", "passed": 420, "failed": 0});
        self.api_ok(&format!("/releases/{id}/test-results"), CI_TOKEN, Some(results)).await;
        let artifact = json!({"version": version, "git_sha": "3f9c2e1", "digest": DIGEST, "size_bytes": 73400320});
        self.api_ok(&format!("/releases/{id}/artifacts"), CI_TOKEN, Some(artifact)).await;
        self.tick_all(id).await;
        self.tick_all(id).await;
        self.api_ok(&format!("/releases/{id}/deployments"), CI_TOKEN, Some(deployment("staging", DIGEST))).await;
        self.tick_all(id).await;
        self.api_ok(&format!("/releases/{id}/steps/smoke-test/approve"), RM_TOKEN, None).await;
        self.api_ok(&format!("/releases/{id}/deployments"), CI_TOKEN, Some(deployment("production", DIGEST))).await;
        assert_eq!(self.current(id).await["id"], "monitor");
    }

    /// The rollback procedure ticked through after a revert to `OLD_DIGEST`, which
    /// shipgate never saw in production.
    async fn recover(&self, id: &str) {
        let revert = json!({"environment": "production", "digest": OLD_DIGEST, "outcome": "succeeded",
            "health": "passed", "strategy": "rolling",
            "unknown_artifact_reason": "the version before, deployed before shipgate ran it"});
        self.api_ok(&format!("/releases/{id}/deployments"), CI_TOKEN, Some(revert)).await;
        for item in ["deploy-reverted", "health-verified", "team-notified", "bug-triage"] {
            self.api_ok(&format!("/releases/{id}/steps/rollback/items/{item}/tick"), CI_TOKEN, None).await;
        }
        self.api_ok(&format!("/releases/{id}/steps/rollback/approve"), RM_TOKEN, None).await;
    }
}

/// The rollback notices of `name` among `messages` (underway or recovered).
fn notices(messages: Vec<SlackMessage>, name: &str) -> Vec<SlackMessage> {
    let underway = format!("⏪ Rolling back {name}");
    let recovered = format!("✅ Rolled back {name}");
    messages.into_iter().filter(|m| text(m).starts_with(&underway) || text(m).starts_with(&recovered)).collect()
}

/// The rollback notices of `name` in the thread under `parent`, and in each incident channel.
fn slack_notices(fake: &FakeSlack, parent: &str, name: &str) -> [Vec<SlackMessage>; 3] {
    [
        notices(fake.thread(RELEASES, parent), name),
        notices(fake.messages_in(INCIDENTS[0]), name),
        notices(fake.messages_in(INCIDENTS[1]), name),
    ]
}

/// The link to a Slack thread, as a notice elsewhere points to it.
fn archive_link(parent: &str) -> String {
    format!("https://slack.com/archives/{RELEASES}/p{}", parent.replace('.', ""))
}

/// The PNG's width and height, decoded.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("the chart is a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("fits in memory")];
    let frame = reader.next_frame(&mut pixels).expect("its pixels decode");
    (frame.width, frame.height)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tripped_watch_posts_the_notice_and_its_chart_in_the_thread_and_every_incident_channel_once() {
    // Healthy payments traffic from three hours ago; about five minutes after the deploy
    // (two hours ago on shipgate's clock) one request in twenty fails.
    let spike_at = three_hours_ago() + ChronoDuration::minutes(66);
    let traffic = ServiceTraffic::new("payments", three_hours_ago())
        .then(spike_at, Traffic::steady(80.0).errors(0.004))
        .then(three_hours_ago() + ChronoDuration::minutes(150), Traffic::steady(80.0).errors(0.05));
    let mut metrics = OpenMetrics::new();
    metrics.service(&traffic);
    let prometheus = RealPrometheus::start_with(&metrics);
    let monitoring = format!("\n[monitoring]\nprometheus_url = \"{}\"\ninterval = \"30s\"\n", prometheus.base_url());
    let team = Team::start(false, &monitoring).await;
    let fake = &team.slack;
    team.clock.advance(-ChronoDuration::hours(2));
    let (id, parent) = team.start_in_slack("payments", "2.7.0").await;
    team.to_production(&id, "2.7.0").await;

    // Ten minutes on, the watch has caught up with the spike and rolled back by itself.
    team.clock.advance(ChronoDuration::minutes(10));
    let name = "payments 2.7.0";
    let [in_thread, first, second] =
        eventually(fake, "the rollback notice in the thread and both incident channels", LONG, |fake| {
            let found = slack_notices(fake, &parent, name);
            found.iter().all(|n| !n.is_empty()).then_some(found)
        })
        .await;
    for notice in [&in_thread[0], &first[0], &second[0]] {
        let words = all_text(notice);
        assert!(text(notice).starts_with("⏪ Rolling back payments 2.7.0: "), "{words}");
        assert!(words.contains("error rate"), "what broke: {words}");
        assert!(words.contains("What was deployed") && words.contains("What was rolled back"), "{words}");
    }
    for notice in [&first[0], &second[0]] {
        assert!(all_text(notice).contains(&archive_link(&parent)), "the thread is linked: {}", all_text(notice));
    }

    // The chart: one upload per place, shared into the thread, and beside each incident
    // notice (a reply to it), an 800x400 PNG.
    let places = [
        (RELEASES.to_owned(), Some(parent.clone())),
        (INCIDENTS[0].to_owned(), Some(first[0].ts.clone())),
        (INCIDENTS[1].to_owned(), Some(second[0].ts.clone())),
    ];
    let charts = eventually(fake, "the chart shared in the three places", LONG, |fake| {
        let charts: Vec<_> = fake.files().into_iter().filter(|f| f.completed).collect();
        (charts.len() >= 3).then_some(charts)
    })
    .await;
    assert_eq!(charts.len(), 3, "{charts:#?}");
    for place in &places {
        let shared: Vec<_> = charts.iter().filter(|f| f.shared_to.contains(place)).collect();
        assert_eq!(shared.len(), 1, "one chart shared to {place:?}: {charts:#?}");
        let chart = shared[0];
        assert_eq!(chart.filename, "rollback-chart.png");
        assert!(chart.is_png() && chart.uploaded, "{chart:?}");
        assert_eq!(png_size(&chart.bytes), (800, 400));
    }
    let completes = fake.requests_to("files.completeUploadExternal");
    assert_eq!(completes.len(), 3, "{completes:#?}");
    for place in &places {
        assert!(
            completes.iter().any(|c| c.arg("channel_id").and_then(Value::as_str) == Some(place.0.as_str())),
            "a share names {}",
            place.0
        );
    }

    // Production recovers: every copy is edited in place, and no chart is uploaded again.
    team.recover(&id).await;
    let recovered = eventually(fake, "every notice says production recovered", LONG, |fake| {
        let found = slack_notices(fake, &parent, name);
        found.iter().all(|n| n.iter().any(|m| text(m).starts_with("✅ Rolled back payments 2.7.0"))).then_some(found)
    })
    .await;
    for (copies, place) in recovered.iter().zip(&places) {
        assert_eq!(copies.len(), 1, "edited, not posted again, in {place:?}: {copies:#?}");
        let vias: Vec<&str> = copies[0].versions.iter().map(|v| v.via.as_str()).collect();
        assert_eq!(vias.first(), Some(&"chat.postMessage"), "{vias:?}");
        assert!(vias[1..].iter().all(|v| *v == "chat.update") && vias.len() >= 2, "{vias:?}");
    }
    assert_eq!(recovered[0][0].ts, in_thread[0].ts);
    assert_eq!(fake.requests_to("files.getUploadURLExternal").len(), 3, "each chart uploaded once");
    fake.assert_no_problems();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_slack_and_discord_a_release_lives_where_it_started_and_its_rollback_reaches_both_platforms() {
    let team = Team::start(true, "").await;
    let (slack, discord) = (&team.slack, team.discord());
    let (in_slack, parent) = team.start_in_slack("api", "1.4.0").await;
    let (in_discord, thread) = team.start_in_discord("checkout", "2.7.0", &discord_bot::alice()).await;

    // Each lives where it started: nothing of the other on either platform.
    let discord_words = |discord: &FakeDiscord| -> String {
        let mut words = discord.messages(discord_bot::RELEASE_CHANNEL).iter().map(Value::to_string).collect::<Vec<_>>();
        words.extend(discord.threads().iter().map(Value::to_string));
        words.join("\n")
    };
    let slack_words =
        |slack: &FakeSlack| -> String { slack.all_messages().iter().map(all_text).collect::<Vec<_>>().join("\n") };
    assert!(!discord_words(discord).contains("api 1.4.0"), "{}", discord_words(discord));
    assert!(!slack_words(slack).contains("checkout"), "{}", slack_words(slack));

    // api 1.4.0 reaches production and is rolled back from Slack.
    team.to_production(&in_slack, "1.4.0").await;
    let answer = team.slack_release(&bob(), &format!("rollback {in_slack} error rate 2.4x baseline")).await;
    let (_, view) = team.api("GET", &format!("/releases/{in_slack}"), CI_TOKEN, None).await;
    assert_eq!(view["status"], "rolling_back", "the rollback started: {answer:#}");
    let name = "api 1.4.0";
    let found = eventually(slack, "api's notice in its thread and both Slack incident channels", LONG, |fake| {
        let found = slack_notices(fake, &parent, name);
        found.iter().all(|n| !n.is_empty()).then_some(found)
    })
    .await;
    let discord_notices = |discord: &FakeDiscord, channel: &str, name: &str| -> Vec<Value> {
        let headline = format!("**⏪ Rolling back {name}**");
        discord
            .messages(channel)
            .into_iter()
            .filter(|m| m["content"].as_str().is_some_and(|c| c.starts_with(&headline)))
            .collect()
    };
    for channel in [discord_bot::INCIDENT_CHANNEL, discord_bot::INCIDENT_CHANNEL_2] {
        let notice = discord_bot::eventually(discord, &format!("api's notice in Discord's {channel}"), |fake| {
            discord_notices(fake, channel, name).into_iter().next()
        })
        .await;
        let content = notice["content"].as_str().unwrap_or_default();
        assert!(content.contains(&archive_link(&parent)), "the Slack thread is linked: {content}");
    }

    // checkout 2.7.0 reaches production and is rolled back through the API: its notice
    // reaches Slack's incident channels, pointing at its Discord thread.
    team.to_production(&in_discord, "2.7.0").await;
    team.api_ok(&format!("/releases/{in_discord}/rollback"), RM_TOKEN, Some(json!({"reason": "checkout answers 500"})))
        .await;
    let discord_thread_notice = discord_bot::eventually(discord, "checkout's notice in its Discord thread", |fake| {
        fake.messages(&thread)
            .into_iter()
            .find(|m| m["content"].as_str().is_some_and(|c| c.starts_with("**⏪ Rolling back checkout 2.7.0**")))
    })
    .await;
    for channel in INCIDENTS {
        let notice = eventually(slack, &format!("checkout's notice in Slack's {channel}"), LONG, |fake| {
            notices(fake.messages_in(channel), "checkout 2.7.0").into_iter().next()
        })
        .await;
        assert!(all_text(&notice).contains(&thread), "the Discord thread is linked: {}", all_text(&notice));
    }
    for channel in [discord_bot::INCIDENT_CHANNEL, discord_bot::INCIDENT_CHANNEL_2] {
        discord_bot::eventually(discord, &format!("checkout's notice in Discord's {channel}"), |fake| {
            discord_notices(fake, channel, "checkout 2.7.0").into_iter().next()
        })
        .await;
    }

    // Each rollback opens a bug triage, where its release lives.
    eventually(slack, "api's bug triage thread in Slack", LONG, |fake| {
        fake.messages_in(RELEASES).into_iter().find(|m| text(m).starts_with("🐞 *Bug triage · api 1.4.0*"))
    })
    .await;
    discord_bot::eventually(discord, "checkout's bug triage thread in Discord", |fake| {
        fake.threads().into_iter().find(|t| t["name"] == "Bug triage · checkout 2.7.0")
    })
    .await;

    // Once each, everywhere; and neither release, nor its triage, ever appeared on the
    // other's platform.
    let again = slack_notices(slack, &parent, name);
    assert_eq!(again.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1], "{found:#?}");
    for channel in INCIDENTS {
        assert_eq!(notices(slack.messages_in(channel), "checkout 2.7.0").len(), 1, "once in {channel}");
    }
    for channel in [discord_bot::INCIDENT_CHANNEL, discord_bot::INCIDENT_CHANNEL_2] {
        assert_eq!(discord_notices(discord, channel, name).len(), 1, "api's notice once in {channel}");
        assert_eq!(discord_notices(discord, channel, "checkout 2.7.0").len(), 1, "checkout's once in {channel}");
    }
    assert_eq!(discord_notices(discord, &thread, "checkout 2.7.0").len(), 1, "{discord_thread_notice:#}");
    assert!(notices(slack.messages_in(RELEASES), "checkout 2.7.0").is_empty());
    assert!(!discord_words(discord).contains("api 1.4.0"), "{}", discord_words(discord));
    assert!(
        !slack.messages_in(RELEASES).iter().any(|m| all_text(m).contains("checkout 2.7.0")),
        "nothing of checkout in Slack's release channel"
    );
    slack.assert_no_problems();
    discord.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_started_in_slack_worked_from_the_command_line_and_the_api_updates_its_slack_cards() {
    let team = Team::start(false, "").await;
    let fake = &team.slack;
    let (id, parent) = team.start_in_slack("api", "1.4.0").await;
    let card1 = card(fake, RELEASES, &parent, "pre-flight", 1).expect("Step 1's card");

    // CI ticks two boxes from the command line, as a pipeline does.
    let cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["release", "tick", &id, "pre-flight", "prs-merged", "no-blockers"])
        .env("SHIPGATE_SERVER", &team.url)
        .env("SHIPGATE_TOKEN", CI_TOKEN)
        .output()
        .await
        .expect("run shipgate release tick");
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    eventually(fake, "the Slack card showing both ticks", LONG, |fake| {
        let now = fake.message(RELEASES, &card1.ts)?;
        let ids = now.action_ids();
        (ids.iter().any(|a| a.ends_with(":u0")) && ids.iter().any(|a| a.ends_with(":u1"))).then_some(())
    })
    .await;

    // The rest through the API; the card then offers its gate.
    team.tick_all(&id).await;
    let ready = eventually(fake, "the Slack card with its gate", LONG, |fake| {
        fake.message(RELEASES, &card1.ts).filter(|m| m.action_ids().iter().any(|a| a.ends_with(":g")))
    })
    .await;
    assert_eq!(ready.action_ids().iter().filter(|a| a.contains(":u")).count(), 5, "{:?}", ready.action_ids());

    // The release manager's client passes the gate: Step 1's card closes, Step 2's opens.
    team.api_ok(&format!("/releases/{id}/steps/pre-flight/approve"), RM_TOKEN, None).await;
    let closed = eventually(fake, "Step 1's card closed", LONG, |fake| {
        fake.message(RELEASES, &card1.ts).filter(|m| m.action_ids().is_empty())
    })
    .await;
    assert!(all_text(&closed).contains("release-bot"), "the approver is named: {}", all_text(&closed));
    eventually(fake, "Step 2's card", LONG, |fake| card(fake, RELEASES, &parent, "test-suite", 1)).await;

    // Every change reached Slack as an edit of the one card; nothing was posted twice.
    assert!(closed.versions[1..].iter().all(|v| v.via == "chat.update"), "{:#?}", closed.versions);
    assert_eq!(card_steps(fake, RELEASES, &parent), [("pre-flight".to_owned(), 1), ("test-suite".to_owned(), 1)]);
    assert_eq!(parents(fake, RELEASES, "api 1.4.0").len(), 1);
    fake.assert_no_problems();
}
