//! Crash safety of the Slack edge: `shipgate serve` runs as its own process in Slack HTTP
//! mode on a SQLite file, against the fake Slack in this process. Signed slash commands
//! and clicks arrive while Slack's Web API fails; the process is killed (SIGKILL) while a
//! post Slack has made waits for its answer, and restarted. Every click that was answered
//! is in the history, and once Slack answers again every parent message and card exists
//! exactly once: a post whose answer was lost is found again by its marker, not posted
//! twice.

use crate::common;
use crate::common::fake_slack;
use crate::common::slack_release;

use common::process::{free_port, write_config, Server, PROCESS_CI_TOKEN};
use fake_slack::{signed_headers, BlockActions, FakeSlack, Fault, SlackUser};
use serde_json::{json, Value};
use slack_release::{action, all_text, card, card_key, card_steps, eventually, parents, post_signed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RELEASES: &str = "C0RELEASES1";
const INCIDENTS: &str = "C0INCIDENT1";
/// Deliveries wait out the backoff of their failed tries.
const LONG: Duration = Duration::from_secs(120);

fn alice() -> SlackUser {
    SlackUser::new("U0ALICE0001", "alice")
}

fn bob() -> SlackUser {
    SlackUser::new("U0BOB000002", "bob")
}

/// The fake Slack, and a config for shipgate processes on a SQLite file against it.
struct Setup {
    fake: FakeSlack,
    dir: tempfile::TempDir,
    port: u16,
    config: std::path::PathBuf,
}

impl Setup {
    async fn new() -> Setup {
        let fake = FakeSlack::start().await;
        fake.add_channel(RELEASES);
        fake.add_channel(INCIDENTS);
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let database_url = format!("sqlite://{}", dir.path().join("shipgate.db").display());
        let slack = format!(
            "\n[slack]\nmode = \"http\"\nrelease_channel_id = \"{RELEASES}\"\nincident_channel_ids = [\"{INCIDENTS}\"]\n\
             api_base = \"{}\"\n",
            fake.api_base()
        );
        let config = write_config(dir.path(), port, &database_url, &slack);
        Setup { fake, dir, port, config }
    }

    /// `shipgate serve` on the setup's database, ready.
    async fn serve(&self) -> Server {
        let env = [
            ("SHIPGATE_SLACK_BOT_TOKEN", self.fake.bot_token().to_owned()),
            ("SHIPGATE_SLACK_SIGNING_SECRET", self.fake.signing_secret().to_owned()),
        ];
        let mut server = Server::start_with(self.dir.path(), Some(&self.config), self.port, &env);
        server.ready().await;
        server
    }
}

/// Sends what Slack sends to a shipgate process, signed now.
#[derive(Clone)]
struct Slack {
    base: String,
    http: reqwest::Client,
}

impl Slack {
    /// `/release <text>` by `user`; the answer, or `None` when shipgate did not answer 200.
    async fn release(&self, fake: &FakeSlack, user: &SlackUser, text: &str) -> Option<Value> {
        let command = fake.slash_command(RELEASES, user, "/release", text);
        let url = format!("{}/slack/commands", self.base);
        let response = post_signed(&self.http, fake, &url, &command.to_form()).await?;
        (response.status() == 200).then_some(())?;
        response.json().await.ok()
    }

    /// Sends a click; whether shipgate acknowledged it (200).
    async fn click(&self, fake: &FakeSlack, click: &BlockActions) -> bool {
        let url = format!("{}/slack/interactivity", self.base);
        post_signed(&self.http, fake, &url, &click.to_form()).await.is_some_and(|r| r.status() == 200)
    }

    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/api/v1{path}", self.base);
        let mut request = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        }
        .bearer_auth(PROCESS_CI_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn release_view(&self, id: &str) -> Value {
        let (status, body) = self.api("GET", &format!("/releases/{id}"), None).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn history_requests(&self, id: &str) -> Vec<String> {
        let view = self.release_view(id).await;
        view["history"]
            .as_array()
            .expect("history")
            .iter()
            .filter_map(|e| e["request_id"].as_str().map(str::to_owned))
            .collect()
    }
}

/// `/release start <service> <version> <sha>` by Alice, acknowledged.
async fn start(slack: &Slack, fake: &FakeSlack, service: &str, version: &str, sha: &str) {
    let answer = slack
        .release(fake, &alice(), &format!("start {service} {version} {sha}"))
        .await
        .expect("the start is answered");
    assert_eq!(answer["response_type"], "in_channel", "{answer:#}");
}

/// The parent message of `name` (once it exists), and its release's Step 1 card.
async fn opened(fake: &FakeSlack, name: &str) -> (String, fake_slack::SlackMessage) {
    let parent = eventually(fake, &format!("the parent message of {name}"), LONG, |fake| {
        parents(fake, RELEASES, name).into_iter().next()
    })
    .await;
    let card1 = eventually(fake, &format!("Step 1's card of {name}"), LONG, |fake| {
        card(fake, RELEASES, &parent.ts, "pre-flight", 1)
    })
    .await;
    (parent.ts, card1)
}

/// The top-level posts to the release channel whose text opens `name`, answered or not.
fn parent_posts(fake: &FakeSlack, name: &str) -> usize {
    let opening = format!("🚀 *{name}*");
    fake.requests_to("chat.postMessage")
        .iter()
        .filter(|r| r.arg("thread_ts").is_none())
        .filter(|r| r.arg("text").and_then(Value::as_str).is_some_and(|t| t.starts_with(&opening)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_answered_before_a_kill_survive_it_and_nothing_is_posted_twice() {
    let setup = Setup::new().await;
    let fake = &setup.fake;
    let server = setup.serve().await;
    let slack = Slack { base: server.base.clone(), http: reqwest::Client::new() };

    // api 1.4.0 starts while Slack is up: its parent message and first card are posted.
    start(&slack, fake, "api", "1.4.0", "3f9c2e1").await;
    let (api_thread, api_card) = opened(fake, "api 1.4.0").await;
    let (api, _, _) = card_key(&api_card).expect("the card names its release");
    let ticks: Vec<String> = (0..5).map(|i| action(&api_card, &format!(":i{i}")).expect("a tick button")).collect();

    // Slack's Web API starts failing. Posts: two transient errors, then one Slack makes
    // but answers only after a minute, then 503s; every edit gets 503. (Response URLs,
    // another host, still answer.)
    fake.fail_next("chat.postMessage", Fault::error("internal_error"), 2);
    fake.fail_next("chat.postMessage", Fault::Slow(Duration::from_secs(60)), 1);
    fake.fail_next("chat.postMessage", Fault::ServerError(503), 1000);
    fake.fail_next("chat.update", Fault::ServerError(503), 1000);

    // web 2.0.0 is started meanwhile: answered at once, its parent message waits for Slack.
    start(&slack, fake, "web", "2.0.0", "5d0e7a2").await;
    // Its third try is made by Slack, and its answer is on its way for a minute.
    eventually(fake, "web 2.0.0's parent message made by Slack", LONG, |fake| {
        parents(fake, RELEASES, "web 2.0.0").into_iter().next()
    })
    .await;
    assert_eq!(parent_posts(fake, "web 2.0.0"), 3, "two failed tries, then the one Slack made");

    // CI ticks the first box through the API: the card's edit fails for now.
    let tick = format!("/releases/{api}/steps/pre-flight/items/prs-merged/tick");
    let (status, body) = slack.api("POST", &tick, None).await;
    assert_eq!(status, 200, "{body}");

    // Alice ticks the other boxes one after another; shipgate is killed after the second
    // answer, while the next clicks are on their way and web's post waits for its answer.
    let clicks: Vec<BlockActions> =
        ticks[1..].iter().map(|tick| fake.click(RELEASES, &api_card.ts, tick, &alice())).collect();
    let acknowledged: Arc<Mutex<Vec<BlockActions>>> = Arc::default();
    let second = Arc::new(tokio::sync::Notify::new());
    let sender = tokio::spawn({
        let (slack, acknowledged, second) = (slack.clone(), acknowledged.clone(), second.clone());
        let secret = fake.signing_secret().to_owned();
        async move {
            for click in clicks {
                let form = click.to_form();
                let url = format!("{}/slack/interactivity", slack.base);
                let mut request =
                    slack.http.post(url).body(form.clone()).header("content-type", "application/x-www-form-urlencoded");
                for (name, value) in signed_headers(&secret, chrono::Utc::now().timestamp(), &form) {
                    request = request.header(name, value);
                }
                if request.send().await.is_ok_and(|r| r.status() == 200) {
                    let mut acked = acknowledged.lock().unwrap();
                    acked.push(click);
                    if acked.len() == 2 {
                        second.notify_one();
                    }
                }
            }
        }
    });
    second.notified().await;
    server.kill();
    sender.await.expect("the sender ends");
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!((2..=4).contains(&acknowledged.len()), "{acknowledged:?}");

    // Restarted on the same database, Slack still failing.
    let server = setup.serve().await;
    let slack = Slack { base: server.base.clone(), http: reqwest::Client::new() };
    let requests = slack.history_requests(&api).await;
    for click in &acknowledged {
        let id = format!("slack:{}:{}", click.user.id, click.actions[0].action_ts);
        assert!(requests.contains(&id), "answered click {id} is lost: {requests:?}");
    }
    // Slack may deliver an answered click again: it changes nothing after the restart.
    assert!(slack.click(fake, &acknowledged[0]).await, "a replay is answered");
    assert_eq!(slack.history_requests(&api).await.len(), requests.len(), "a replay changes nothing");

    // Alice ticks what is left, Bob passes the gate, CI's tests pass Step 2.
    let view = slack.release_view(&api).await;
    let unticked: Vec<usize> = view["current_step"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .enumerate()
        .filter(|(_, item)| item["ticked"] == false)
        .map(|(index, _)| index)
        .collect();
    for index in unticked {
        let click = fake.click(RELEASES, &api_card.ts, &ticks[index], &alice());
        assert!(slack.click(fake, &click).await, "answered");
    }
    let gate = eventually(fake, "the gate on Step 1's card", LONG, |fake| {
        fake.message(RELEASES, &api_card.ts).and_then(|m| action(&m, ":g"))
    })
    .await;
    let approve = fake.click(RELEASES, &api_card.ts, &gate, &bob());
    assert!(slack.click(fake, &approve).await, "answered");
    let results = json!({"suite": "unit", "passed": 420, "failed": 0});
    let (status, body) = slack.api("POST", &format!("/releases/{api}/test-results"), Some(results)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(slack.release_view(&api).await["current_step"]["id"], "build-artifact");

    // Slack answers again.
    fake.clear_faults();
    let expected: Vec<(String, u32)> =
        ["pre-flight", "test-suite", "build-artifact"].iter().map(|s| ((*s).to_owned(), 1)).collect();
    eventually(fake, "the cards of steps 1 to 3 of api 1.4.0", LONG, |fake| {
        (card_steps(fake, RELEASES, &api_thread).len() >= 3).then_some(())
    })
    .await;
    let (web_thread, _) = opened(fake, "web 2.0.0").await;
    // Step 1's card shows how it ended: every box ticked, Bob's approval.
    eventually(fake, "Step 1's card closed", LONG, |fake| {
        let now = fake.message(RELEASES, &api_card.ts)?;
        (now.action_ids().is_empty() && all_text(&now).contains("bob")).then_some(())
    })
    .await;

    // Exactly once: one parent message per release, one card per step attempt.
    assert_eq!(card_steps(fake, RELEASES, &api_thread), expected);
    assert_eq!(card_steps(fake, RELEASES, &web_thread), [("pre-flight".to_owned(), 1)]);
    assert_eq!(parents(fake, RELEASES, "api 1.4.0").len(), 1);
    assert_eq!(parents(fake, RELEASES, "web 2.0.0").len(), 1, "the post made before the kill was found, not redone");
    assert_eq!(parent_posts(fake, "web 2.0.0"), 3, "no post of web's parent message after the restart");
    let top_level: Vec<_> = fake.messages_in(RELEASES).into_iter().filter(|m| m.thread_ts.is_none()).collect();
    assert_eq!(
        top_level.iter().filter(|m| m.versions[0].via == "chat.postMessage").count(),
        2,
        "two parent messages and nothing else: {top_level:#?}"
    );
    fake.assert_no_problems();
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_answer_died_with_the_process_is_not_posted_again_after_a_restart() {
    let setup = Setup::new().await;
    let fake = &setup.fake;
    // Slack makes the parent message at once but answers only after a minute.
    fake.fail_next("chat.postMessage", Fault::Slow(Duration::from_secs(60)), 1);
    let server = setup.serve().await;
    let slack = Slack { base: server.base.clone(), http: reqwest::Client::new() };
    start(&slack, fake, "api", "1.4.0", "3f9c2e1").await;
    let parent = eventually(fake, "the parent message", LONG, |fake| parents(fake, RELEASES, "api 1.4.0").pop()).await;
    server.kill();
    assert!(fake.thread(RELEASES, &parent.ts).is_empty(), "killed before the first card");

    // The restarted worker does not know the message's ts: it finds it by its marker.
    let server = setup.serve().await;
    let (thread, _) = opened(fake, "api 1.4.0").await;
    assert_eq!(thread, parent.ts, "the card went under the message made before the kill");
    assert_eq!(parents(fake, RELEASES, "api 1.4.0").len(), 1, "the parent message is not posted twice");
    assert_eq!(parent_posts(fake, "api 1.4.0"), 1);
    assert_eq!(card_steps(fake, RELEASES, &thread), [("pre-flight".to_owned(), 1)]);
    fake.assert_no_problems();
    server.terminate();
}
