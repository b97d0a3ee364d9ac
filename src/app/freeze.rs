//! The freeze calendar as configured: holiday files and URLs are read here (I/O stays at
//! the edge) and handed to the domain's [`Calendar`], which applies the rules.
//!
//! A remote calendar (`https://...` in `freeze.holidays.ics`) is fetched at startup and
//! refreshed hourly; its last good copy is kept in the database, so a restart without
//! the network still knows the holidays. A source that cannot be read at all, neither
//! fetched nor found in the database, stops startup with its name.

use crate::domain::freeze::calendar::{Calendar, FreezeConfig, FreezeConfigErrors};
use crate::domain::freeze::ics::{parse_ics, IcsError};
use crate::domain::freeze::{CalendarEntry, FreezeCalendar, FreezeVerdict};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often remote holiday calendars are fetched again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(3600);
/// How long one fetch of a remote calendar may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum FreezeLoadError {
    #[error("freeze.teams[{index}] ({name}): {error}")]
    Team { index: usize, name: String, error: Box<FreezeLoadError> },
    #[error("freeze.teams[{index}].{key}: {message}")]
    Teams { index: usize, key: &'static str, message: String },
    #[error("freeze.holidays.ics: cannot read {source_name}: {message}")]
    Unreadable { source_name: String, message: String },
    #[error("freeze.holidays.ics: {0}")]
    Ics(#[from] IcsError),
    #[error("{0}")]
    Config(#[from] FreezeConfigErrors),
    #[error("freeze.holidays.ics: the copy of {source_name} kept in the database cannot be read: {error}")]
    Cache { source_name: String, error: StoreError },
}

fn is_url(source: &str) -> bool {
    source.starts_with("https://") || source.starts_with("http://")
}

/// Whether the config names any remote calendar (then it is refreshed, and cached).
pub fn has_remote_sources(config: &FreezeConfig) -> bool {
    config.holidays.ics.iter().any(|s| is_url(s))
}

/// Reads every holiday source and builds the calendar. `cache` keeps remote copies.
pub async fn load_calendar(config: &FreezeConfig, cache: Option<&Store>) -> Result<Calendar, FreezeLoadError> {
    let mut entries: Vec<CalendarEntry> = Vec::new();
    for source in &config.holidays.ics {
        let text = if is_url(source) { remote(source, cache).await? } else { local(source)? };
        entries.extend(parse_ics(&text, source)?);
    }
    Ok(Calendar::build(config, entries)?)
}

fn local(path: &str) -> Result<String, FreezeLoadError> {
    std::fs::read_to_string(path)
        .map_err(|e| FreezeLoadError::Unreadable { source_name: path.to_owned(), message: e.to_string() })
}

/// Fetches a remote calendar; keeps it when it parses; falls back to the kept copy.
async fn remote(url: &str, cache: Option<&Store>) -> Result<String, FreezeLoadError> {
    match fetch(url).await {
        Ok(text) => {
            // Only a copy that parses replaces the kept one.
            parse_ics(&text, url)?;
            if let Some(store) = cache {
                if let Err(e) = store.cache_calendar(url, &text, Utc::now()).await {
                    tracing::warn!(source = url, error = %e, "could not keep a copy of the holiday calendar");
                }
            }
            Ok(text)
        }
        Err(fetch_error) => {
            let kept = match cache {
                Some(store) => store
                    .cached_calendar(url)
                    .await
                    .map_err(|error| FreezeLoadError::Cache { source_name: url.to_owned(), error })?,
                None => None,
            };
            match kept {
                Some((text, fetched_at)) => {
                    tracing::warn!(source = url, error = %fetch_error, kept_from = %fetched_at, "holiday calendar not reachable; using the copy kept in the database");
                    Ok(text)
                }
                None => Err(FreezeLoadError::Unreadable {
                    source_name: url.to_owned(),
                    message: format!("{fetch_error}; no earlier copy is kept"),
                }),
            }
        }
    }
}

async fn fetch(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder().timeout(FETCH_TIMEOUT).build().map_err(|e| e.to_string())?;
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("the server answered {}", response.status()));
    }
    response.text().await.map_err(|e| e.to_string())
}

/// The calendars of a shipgate instance: `[freeze]` for every release, except releases
/// started in a channel listed by one of the `[[freeze.teams]]`, which use that team's.
pub struct FreezeCalendars {
    pub default: Arc<LiveCalendar>,
    /// Each team's channels and calendar, in config order.
    pub teams: Vec<(Vec<String>, Arc<LiveCalendar>)>,
}

impl FreezeCalendars {
    /// The calendar a release in `channel` uses.
    pub fn for_channel(&self, channel: Option<&str>) -> Arc<LiveCalendar> {
        channel
            .and_then(|channel| self.teams.iter().find(|(channels, _)| channels.iter().any(|c| c == channel)))
            .map_or_else(|| Arc::clone(&self.default), |(_, calendar)| Arc::clone(calendar))
    }

    /// Every channel with a team calendar, and that calendar.
    pub fn by_channel(&self) -> std::collections::HashMap<String, Arc<dyn FreezeCalendar>> {
        let mut map = std::collections::HashMap::new();
        for (channels, calendar) in &self.teams {
            for channel in channels {
                map.insert(channel.clone(), Arc::clone(calendar) as Arc<dyn FreezeCalendar>);
            }
        }
        map
    }

    /// Refreshes every calendar that reads a remote source.
    pub fn spawn_refresh(&self, config: &FreezeConfig, store: &Store) {
        if has_remote_sources(config) {
            self.default.spawn_refresh(config.clone(), store.clone());
        }
        for (team, (_, calendar)) in config.teams.iter().zip(&self.teams) {
            let team = team.calendar();
            if has_remote_sources(&team) {
                calendar.spawn_refresh(team, store.clone());
            }
        }
    }
}

/// Builds the default calendar and every team's.
pub async fn load_calendars(config: &FreezeConfig, cache: Option<&Store>) -> Result<FreezeCalendars, FreezeLoadError> {
    let default = Arc::new(LiveCalendar::new(load_calendar(config, cache).await?));
    let mut teams = Vec::new();
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (index, team) in config.teams.iter().enumerate() {
        if team.channels.is_empty() {
            return Err(FreezeLoadError::Teams {
                index,
                key: "channels",
                message: "name at least one chat channel id whose releases use this calendar".into(),
            });
        }
        for channel in &team.channels {
            if let Some(first) = seen.insert(channel.as_str(), index) {
                return Err(FreezeLoadError::Teams {
                    index,
                    key: "channels",
                    message: format!(
                        "channel {channel} is already in freeze.teams[{first}]; a channel has one calendar"
                    ),
                });
            }
        }
        let calendar = load_calendar(&team.calendar(), cache).await.map_err(|error| FreezeLoadError::Team {
            index,
            name: team.name.clone(),
            error: Box::new(error),
        })?;
        teams.push((team.channels.clone(), Arc::new(LiveCalendar::new(calendar))));
    }
    Ok(FreezeCalendars { default, teams })
}

/// The calendar in force, swapped whole when remote sources are refreshed.
pub struct LiveCalendar {
    current: RwLock<Arc<Calendar>>,
}

impl LiveCalendar {
    pub fn new(calendar: Calendar) -> Self {
        Self { current: RwLock::new(Arc::new(calendar)) }
    }

    pub fn current(&self) -> Arc<Calendar> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn replace(&self, calendar: Calendar) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(calendar);
    }

    /// Refreshes remote sources every [`REFRESH_EVERY`]; a failed refresh keeps the
    /// calendar in force and says so in the log.
    pub fn spawn_refresh(self: &Arc<Self>, config: FreezeConfig, store: Store) {
        let live = Arc::clone(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(REFRESH_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                match load_calendar(&config, Some(&store)).await {
                    Ok(calendar) => live.replace(calendar),
                    Err(e) => {
                        tracing::warn!(error = %e, "refreshing the freeze calendar failed; keeping the one in force")
                    }
                }
            }
        });
    }
}

impl FreezeCalendar for LiveCalendar {
    fn verdict(&self, at: DateTime<Utc>) -> FreezeVerdict {
        self.current().verdict(at)
    }

    fn timezone(&self) -> chrono_tz::Tz {
        self.current().timezone()
    }
}
