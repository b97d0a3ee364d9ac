//! shipgate as a Slack app, in-process: the real runtime and router exactly as `serve`
//! builds them, on a fresh SQLite file, talking to the stateful fake Slack.
#![allow(dead_code)]

use crate::common::fake_slack::FakeSlack;
use shipgate::config::Config;
use std::time::Duration;

pub const RELEASES: &str = "C0RELEASES1";
pub const INCIDENTS: &str = "C0INCIDENT1";

/// How the app is configured: the mode, and any further TOML (tables after `[slack]`,
/// e.g. `[slack.roles]`, `[monitoring]`, `[discord]`).
pub struct Options {
    pub mode: &'static str,
    pub extra_config: String,
    pub extra_env: Vec<(&'static str, String)>,
    /// The database's URL; a fresh SQLite file in the app's directory by default.
    pub database_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { mode: "http", extra_config: String::new(), extra_env: Vec::new(), database_url: None }
    }
}

/// The URL of a brand-new PostgreSQL database on the server TEST_DATABASE_URL names;
/// `None`, said on stderr, when it is not set.
pub async fn fresh_postgres_url() -> Option<String> {
    use sqlx::Connection;
    let Some(admin) = shipgate::store::testing::postgres_url_from_env() else {
        eprintln!("TEST_DATABASE_URL is not set: skipping the PostgreSQL run");
        return None;
    };
    let name = format!("shipgate_slack_{}", uuid::Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(&admin).await.expect("connect to PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.expect("create a database");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
    Some(format!("{base}/{name}"))
}

pub struct SlackApp {
    pub fake: FakeSlack,
    pub url: String,
    pub http: reqwest::Client,
    pub running: shipgate::runtime::Running,
    pub dir: tempfile::TempDir,
}

impl SlackApp {
    /// In HTTP mode with no further configuration.
    pub async fn start() -> SlackApp {
        SlackApp::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> SlackApp {
        let fake = FakeSlack::start().await;
        fake.add_channel(RELEASES);
        fake.add_channel(INCIDENTS);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shipgate.toml");
        std::fs::write(&path, config_text(&fake, dir.path(), &options)).expect("write config");
        let mut env = vec![("SHIPGATE_SLACK_BOT_TOKEN", fake.bot_token().to_owned())];
        if options.mode == "socket" {
            env.push(("SHIPGATE_SLACK_APP_TOKEN", fake.app_token().to_owned()));
        } else {
            env.push(("SHIPGATE_SLACK_SIGNING_SECRET", fake.signing_secret().to_owned()));
        }
        env.extend(options.extra_env);
        let config = Config::load_with_env(Some(&path), env).expect("config loads");
        let clock = std::sync::Arc::new(shipgate::app::clock::SystemClock);
        let running = shipgate::runtime::build_with(&config, clock, Duration::from_millis(200)).await.expect("builds");
        let router = shipgate::http::router(running.state.clone(), config.server.max_body_bytes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        SlackApp { fake, url, http: reqwest::Client::new(), running, dir }
    }

    /// Posts a form body to `path`, signed as Slack signs it now.
    pub async fn post_signed(&self, path: &str, body: &str) -> reqwest::Response {
        let mut request = self.http.post(format!("{}{path}", self.url)).body(body.to_owned());
        request = request.header("content-type", "application/x-www-form-urlencoded");
        for (name, value) in self.fake.signed_headers(body) {
            request = request.header(name, value);
        }
        request.send().await.expect("shipgate answers")
    }

    /// Polls the fake Slack until `check` finds what it looks for (10 s at most).
    pub async fn until<T>(&self, what: &str, mut check: impl FnMut(&FakeSlack) -> Option<T>) -> T {
        for _ in 0..200 {
            if let Some(found) = check(&self.fake) {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{what} did not happen; Slack saw {:#?}",
            self.fake.requests().iter().map(|r| &r.method).collect::<Vec<_>>()
        );
    }
}

/// The config file of an app talking to `fake`, its database in `dir`.
pub fn config_text(fake: &FakeSlack, dir: &std::path::Path, options: &Options) -> String {
    format!(
        r#"
[database]
url = "{db}"

[slack]
mode = "{mode}"
release_channel_id = "{RELEASES}"
incident_channel_ids = ["{INCIDENTS}"]
api_base = "{api_base}"
{extra}
"#,
        db = options.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", dir.join("shipgate.db").display())),
        mode = options.mode,
        api_base = fake.api_base(),
        extra = options.extra_config,
    )
}
