//! Locks from Discord, end to end: `/release lock` is announced in the release channel,
//! shows as a banner on the cards of the service's releases, refuses the production gate
//! with an ephemeral reason, and `/release unlock` lifts it (announced too) so the gate
//! passes; a warning lock only shows. Shipgate's real router and runtime against the
//! stateful fake Discord, which checks every request body against Discord's OpenAPI
//! document.

use crate::common;

use common::fake_discord::{FakeDiscord, Member};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use shipgate::app::App;
use shipgate::config::Config;
use shipgate::domain::release::{Artifact, Command, DeploymentReport, Environment, HealthCheck, Outcome, TestResult};
use shipgate::domain::{Actor, ArtifactDigest, GitSha, Platform, ReleaseId, RequestId, Version};
use shipgate::store::ReleaseFilter;
use std::time::Duration;

const RELEASE_CHANNEL: &str = "1300000000000000001";
const MANAGER_ROLE: &str = "1500000000000000001";
const ENGINEER_ROLE: &str = "1600000000000000001";
const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

struct Bot {
    fake: FakeDiscord,
    key: SigningKey,
    url: String,
    http: reqwest::Client,
    app: App,
    /// shipgate's background tasks (the outbox worker, the lock expiry timer).
    _running: shipgate::runtime::Running,
    _dir: tempfile::TempDir,
}

impl Bot {
    async fn start() -> Bot {
        let fake = FakeDiscord::start().await;
        fake.add_text_channel(RELEASE_CHANNEL);
        let key = SigningKey::from_bytes(&[42u8; 32]);
        let public_key: String = key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let config_text = format!(
            r#"
[database]
url = "sqlite://{db}"

[discord]
mode = "http"
application_id = "{app}"
public_key = "{public_key}"
guild_id = "{guild}"
release_channel_id = "{RELEASE_CHANNEL}"
api_base = "{base}"

[discord.roles]
release-manager = ["{MANAGER_ROLE}"]
engineer = ["{ENGINEER_ROLE}", "{MANAGER_ROLE}"]
"#,
            db = dir.path().join("shipgate.db").display(),
            app = fake.application_id(),
            guild = fake.guild_id(),
            base = fake.api_base(),
        );
        let path = dir.path().join("shipgate.toml");
        std::fs::write(&path, config_text).expect("write config");
        let env = [("SHIPGATE_DISCORD_TOKEN", fake.token().to_owned())];
        let config = Config::load_with_env(Some(&path), env).expect("config loads");
        let running = shipgate::runtime::build(&config).await.expect("shipgate builds");
        let router = shipgate::http::router(running.state.clone(), config.server.max_body_bytes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        let app = running.state.app.clone();
        Bot { fake, key, url, http: reqwest::Client::new(), app, _running: running, _dir: dir }
    }

    /// Sends a signed interaction and hands the answer to the fake as Discord would apply it.
    async fn interact(&self, interaction: &Value) -> Value {
        self.fake.register_interaction(interaction);
        let body = interaction.to_string();
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let mut signed = timestamp.as_bytes().to_vec();
        signed.extend_from_slice(body.as_bytes());
        let signature: String = self.key.sign(&signed).to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let response = self
            .http
            .post(format!("{}/discord/interactions", self.url))
            .header("content-type", "application/json")
            .header("x-signature-timestamp", &timestamp)
            .header("x-signature-ed25519", signature)
            .body(body)
            .send()
            .await
            .expect("shipgate answers");
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.expect("JSON answer");
        let id = interaction["id"].as_str().expect("id");
        if let Err(problems) = self.fake.apply_http_interaction_response(id, &answer) {
            panic!("the answer breaks Discord's contract: {problems:?}\n{answer:#}");
        }
        answer
    }

    async fn release_command(&self, sub: &str, options: Value, member: &Member) -> Value {
        let command = self.fake.command_interaction(
            RELEASE_CHANNEL,
            "release",
            json!([{"name": sub, "type": 1, "options": options}]),
            member,
        );
        self.interact(&command).await
    }

    async fn eventually<T>(&self, what: &str, mut check: impl FnMut(&FakeDiscord) -> Option<T>) -> T {
        for _ in 0..200 {
            if let Some(value) = check(&self.fake) {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// Starts a release of `checkout` from Discord and drives it (as CI and the team would,
    /// through the engine) to the smoke test's gate, every box ticked. Returns the thread.
    async fn release_at_the_production_gate(&self) -> String {
        let start = self
            .release_command(
                "start",
                json!([
                    {"name": "service", "type": 3, "value": "checkout"},
                    {"name": "version", "type": 3, "value": "2.7.0"},
                    {"name": "sha", "type": 3, "value": "3f9c2e1"}
                ]),
                &alice(),
            )
            .await;
        assert_eq!(start["type"], 5, "{start}");
        let thread = self
            .eventually("the release thread", |fake| {
                fake.threads().first().and_then(|t| t["id"].as_str().map(str::to_owned))
            })
            .await;
        let rows = self.app.list(&ReleaseFilter::default()).await.expect("list");
        let id = rows.first().expect("the release").id.clone();
        let bob = Actor::new(Platform::Discord, bob().user_id, "bob").with_roles(["release-manager", "engineer"]);
        self.tick_all(&id, &bob).await;
        self.run(&id, &bob, Command::Approve { step: self.step(&id).await }).await;
        let ci = Actor::new(Platform::Api, "ci", "CI").with_roles(["engineer"]);
        let result = TestResult { suite: "unit".into(), passed: 120, failed: 0, skipped: 0, flaky: vec![], url: None };
        self.run(&id, &ci, Command::RecordTestResult(result)).await;
        let artifact = Artifact {
            version: Version::parse("2.7.0").expect("version"),
            git_sha: GitSha::parse("3f9c2e1").expect("sha"),
            digest: ArtifactDigest::parse(DIGEST).expect("digest"),
            size_bytes: 48_000_000,
            name: None,
        };
        self.run(&id, &ci, Command::RecordArtifact(artifact)).await;
        self.tick_all(&id, &bob).await;
        self.tick_all(&id, &bob).await;
        let staging = DeploymentReport {
            environment: Environment::Staging,
            digest: ArtifactDigest::parse(DIGEST).expect("digest"),
            outcome: Outcome::Succeeded,
            health: HealthCheck::Passed,
            strategy: None,
            canary_percent: None,
            downgrade_reason: None,
            unknown_artifact_reason: None,
            url: None,
        };
        self.run(&id, &ci, Command::RecordDeployment(staging)).await;
        self.tick_all(&id, &bob).await;
        assert_eq!(self.step(&id).await.as_str(), "smoke-test");
        thread
    }

    async fn step(&self, id: &ReleaseId) -> shipgate::domain::StepId {
        let (release, _) = self.app.release_with_history(id).await.expect("read").expect("the release");
        release.current_step().id.clone()
    }

    async fn tick_all(&self, id: &ReleaseId, actor: &Actor) {
        let (release, _) = self.app.release_with_history(id).await.expect("read").expect("the release");
        let step = release.current_step().clone();
        for item in &step.items {
            let tick = Command::Tick { step: step.id.clone(), item: item.id.clone() };
            self.run(id, actor, tick).await;
        }
    }

    async fn run(&self, id: &ReleaseId, actor: &Actor, command: Command) {
        let name = command.name();
        if let Err(e) = self.app.execute(id, command, actor.clone(), RequestId::generate()).await {
            panic!("{name} refused: {e}");
        }
    }

    /// The card of `step` (e.g. `Step 5`) in the thread, as it is now.
    async fn card(&self, thread: &str, step: &str) -> Value {
        let prefix = format!("{step} — ");
        self.eventually(&format!("the {step} card"), |fake| {
            fake.messages(thread).into_iter().find(|m| m["content"].as_str().is_some_and(|c| c.starts_with(&prefix)))
        })
        .await
    }

    async fn click_gate(&self, thread: &str, card: &Value, member: &Member) -> Value {
        let gate = buttons(card).into_iter().find(|b| b["style"] == 1).expect("a gate button");
        let card_id = card["id"].as_str().expect("card id");
        let custom_id = gate["custom_id"].as_str().expect("custom id");
        self.interact(&self.fake.button_interaction(thread, card_id, custom_id, member)).await
    }

    fn release_channel_says(&self, needle: &str) -> usize {
        self.fake
            .messages(RELEASE_CHANNEL)
            .iter()
            .filter(|m| m["content"].as_str().is_some_and(|c| c.contains(needle)))
            .count()
    }
}

fn alice() -> Member {
    Member::new("1700000000000000001", "alice", &[ENGINEER_ROLE])
}

fn bob() -> Member {
    Member::new("1700000000000000002", "bob", &[MANAGER_ROLE])
}

fn buttons(message: &Value) -> Vec<Value> {
    message["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn ephemeral_text(answer: &Value) -> String {
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    answer["data"]["content"].as_str().unwrap_or_default().to_owned()
}

fn shows_lock(card: &Value) -> bool {
    card.to_string().contains("locked by bob")
}

#[tokio::test]
async fn a_lock_is_announced_shown_on_the_card_refuses_the_production_gate_until_unlocked() {
    let bot = Bot::start().await;
    let thread = bot.release_at_the_production_gate().await;
    let smoke = bot.card(&thread, "Step 5").await;
    assert!(!shows_lock(&smoke), "{smoke}");

    let locked = bot
        .release_command(
            "lock",
            json!([
                {"name": "service", "type": 3, "value": "checkout"},
                {"name": "reason", "type": 3, "value": "database migration running"},
                {"name": "for", "type": 3, "value": "2h"},
                {"name": "environment", "type": 3, "value": "production"}
            ]),
            &bob(),
        )
        .await;
    let reply = ephemeral_text(&locked);
    assert!(reply.contains("Locked **checkout production**"), "{reply}");

    // Announced once in the release channel, and the card in the thread gets the banner.
    bot.eventually("the lock's announcement", |_| {
        (bot.release_channel_says("🔒 **checkout production** locked by bob") == 1).then_some(())
    })
    .await;
    let smoke = bot
        .eventually("the banner on the card", |fake| {
            fake.message(&thread, smoke["id"].as_str().expect("id")).filter(shows_lock)
        })
        .await;
    assert!(smoke.to_string().contains("database migration running"), "{smoke}");

    // The production gate is refused with the reason, to the clicker only, and nothing moves.
    let refused = bot.click_gate(&thread, &smoke, &bob()).await;
    let reason = ephemeral_text(&refused);
    assert!(reason.contains("checkout production is locked by bob") && reason.contains("unlock"), "{reason}");
    assert!(bot.fake.messages(&thread).iter().all(|m| !m["content"].as_str().unwrap_or("").starts_with("Step 6")));

    // A second lock on the same scope is refused; the first stands.
    let again = bot
        .release_command(
            "lock",
            json!([
                {"name": "service", "type": 3, "value": "checkout"},
                {"name": "reason", "type": 3, "value": "another"},
                {"name": "environment", "type": 3, "value": "production"}
            ]),
            &alice(),
        )
        .await;
    assert!(ephemeral_text(&again).contains("already locked by bob"), "{again}");

    // Unlocked: announced, the banner goes, and the gate passes.
    let unlocked =
        bot.release_command("unlock", json!([{"name": "service", "type": 3, "value": "checkout"}]), &alice()).await;
    assert!(ephemeral_text(&unlocked).contains("Unlocked **checkout production**"), "{unlocked}");
    bot.eventually("the unlock's announcement", |_| {
        (bot.release_channel_says("🔓 **checkout production** unlocked by alice") == 1).then_some(())
    })
    .await;
    let smoke = bot
        .eventually("the banner gone", |fake| {
            fake.message(&thread, smoke["id"].as_str().expect("id")).filter(|m| !shows_lock(m))
        })
        .await;
    let passed = bot.click_gate(&thread, &smoke, &bob()).await;
    assert_eq!(passed["type"], 7, "{passed}");
    bot.card(&thread, "Step 6").await;

    // Unlocking again has nothing to lift.
    let nothing =
        bot.release_command("unlock", json!([{"name": "service", "type": 3, "value": "checkout"}]), &alice()).await;
    assert!(ephemeral_text(&nothing).contains("no lock in force"), "{nothing}");
    assert_eq!(bot.release_channel_says("🔒 **checkout"), 1, "each start and end is said once");
    assert_eq!(bot.release_channel_says("🔓 **checkout"), 1);
    bot.fake.assert_no_violations();
}

#[tokio::test]
async fn a_warning_lock_shows_on_the_card_and_lets_the_gate_pass() {
    let bot = Bot::start().await;
    let thread = bot.release_at_the_production_gate().await;

    // A duration shipgate cannot read is refused, saying what it accepts, and locks nothing.
    let bad = bot
        .release_command(
            "lock",
            json!([
                {"name": "service", "type": 3, "value": "checkout"},
                {"name": "reason", "type": 3, "value": "customer demo"},
                {"name": "for", "type": 3, "value": "2 weeks"}
            ]),
            &bob(),
        )
        .await;
    let reason = ephemeral_text(&bad);
    assert!(reason.contains("30m, 2h, 1d"), "{reason}");
    assert!(bot.app.active_locks(None, bot.app.now()).await.expect("locks").is_empty());

    let warned = bot
        .release_command(
            "lock",
            json!([
                {"name": "service", "type": 3, "value": "checkout"},
                {"name": "reason", "type": 3, "value": "customer demo"},
                {"name": "warn", "type": 5, "value": true}
            ]),
            &bob(),
        )
        .await;
    assert!(ephemeral_text(&warned).contains("warning"), "{warned}");
    bot.eventually("the warning's announcement", |_| {
        (bot.release_channel_says("warning only: gates still pass") == 1).then_some(())
    })
    .await;
    let smoke = bot.card(&thread, "Step 5").await;
    let smoke = bot
        .eventually("the warning on the card", |fake| {
            fake.message(&thread, smoke["id"].as_str().expect("id"))
                .filter(|m| shows_lock(m) && m.to_string().contains("warning only"))
        })
        .await;
    let passed = bot.click_gate(&thread, &smoke, &bob()).await;
    assert_eq!(passed["type"], 7, "{passed}");
    let production = bot.card(&thread, "Step 6").await;
    let production = bot
        .eventually("the warning on the next card", |fake| {
            fake.message(&thread, production["id"].as_str().expect("id")).filter(shows_lock)
        })
        .await;
    assert!(production.to_string().contains("customer demo"), "{production}");

    // `/release list` shows the lock in force.
    let list = bot.release_command("list", json!([]), &alice()).await;
    let text = ephemeral_text(&list);
    assert!(
        text.contains("**checkout (every environment)** locked by bob") && text.contains("(warning only)"),
        "{text}"
    );
    bot.fake.assert_no_violations();
}
