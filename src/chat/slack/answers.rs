//! What Slack is shown of a click, sent after the click is acknowledged.
//!
//! A click is acknowledged as soon as its command is durable; its answer then goes through
//! the click's `response_url`. Holding the acknowledgement for that second request cost a
//! click most of its time. Two kinds of answer leave after it:
//!
//! - a click's own words (a refusal, an ephemeral or public line): each sent on its own,
//!   to its click's `response_url`;
//! - a card answer, which replaces the clicked message: one worker per message at a time,
//!   so two answers never race each other onto one card. Answers that arrive while one is
//!   being shown wait, and only one of them is shown next: the card as it stands when it
//!   is sent (see [`Waiting`]), which is at least as new as every waiting click. A
//!   message's entry lives only while its worker has work: nothing is kept once idle.

use super::render;
use super::web::{respond, Web};
use crate::app::App;
use crate::chat::conversation::Conversation;
use crate::domain::card::{Card, StepRef};
use crate::domain::ChatPlatform;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Card answers for one message that are waiting for its worker: one card to show, the
/// newest click's way to show it.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// The card the newest click was answered with, or the closed one among those waiting:
    /// shown only if the card is no longer live when it is sent (live, it is shown as it
    /// stands then).
    pub card: Card,
    /// The newest click's `response_url`. Any waiting click's would do (each takes five
    /// posts within 30 minutes, and every click here is on the same message); the newest
    /// has the longest left to live.
    pub response_url: String,
    /// How many clicks this answer stands for.
    pub clicks: usize,
}

impl Waiting {
    pub fn new(card: Card, response_url: String) -> Self {
        Self { card, response_url, clicks: 1 }
    }

    /// Folds a later click's answer into this one.
    fn absorb(&mut self, later: Waiting) {
        // A card once closed never opens again: an open card arriving after a closed one
        // was decided before the click that closed it, and is the older picture.
        if self.card.is_open() || !later.card.is_open() {
            self.card = later.card;
        }
        self.response_url = later.response_url;
        self.clicks += later.clicks;
    }
}

/// How the answers reach Slack: [`OnSlack`], or a fake in tests.
pub trait Show: Send + Sync + 'static {
    /// Shows a message's card answer (what waited for it, folded into one).
    fn card(&self, waiting: Waiting) -> impl Future<Output = ()> + Send;
    /// Sends one click's own words to its `response_url`.
    fn say(&self, response_url: String, body: Value) -> impl Future<Output = ()> + Send;
}

/// A click's answers, sent once the click is acknowledged.
pub struct Answers<S> {
    show: Arc<S>,
    /// Message -> the card answer waiting for its worker (`None`: the worker is busy
    /// showing one and nothing else waits). An entry exists only while its worker runs.
    lanes: Arc<Mutex<HashMap<String, Option<Waiting>>>>,
}

impl<S> Clone for Answers<S> {
    fn clone(&self) -> Self {
        Self { show: self.show.clone(), lanes: self.lanes.clone() }
    }
}

impl<S: Show> Answers<S> {
    pub fn new(show: S) -> Self {
        Self { show: Arc::new(show), lanes: Arc::default() }
    }

    /// Sends a click's own words, at once and on their own.
    pub fn say(&self, response_url: String, body: Value) {
        if response_url.is_empty() {
            return;
        }
        let show = self.show.clone();
        tokio::spawn(async move { show.say(response_url, body).await });
    }

    /// Shows `card` on `message` (channel and ts) through `response_url` once the answers
    /// before it on that message are shown; folded into the one waiting if there is one.
    pub fn card(&self, message: String, card: Card, response_url: String) {
        let waiting = Waiting::new(card, response_url);
        let mut lanes = self.lanes.lock().expect("answer lanes lock");
        if let Some(lane) = lanes.get_mut(&message) {
            match lane {
                Some(queued) => queued.absorb(waiting),
                None => *lane = Some(waiting),
            }
            return;
        }
        lanes.insert(message.clone(), Some(waiting));
        drop(lanes);
        let worker = Worker { show: self.show.clone(), lanes: self.lanes.clone(), message, done: false };
        tokio::spawn(worker.run());
    }

    /// Messages with answers being shown or waiting.
    pub fn busy(&self) -> usize {
        self.lanes.lock().expect("answer lanes lock").len()
    }
}

/// Shows one message's card answers one after another until none waits.
struct Worker<S> {
    show: Arc<S>,
    lanes: Arc<Mutex<HashMap<String, Option<Waiting>>>>,
    message: String,
    /// Whether the lane was let go of; otherwise dropping the worker (a panic while
    /// showing) lets go of it, so the message's later answers get a worker of their own.
    done: bool,
}

impl<S: Show> Worker<S> {
    async fn run(mut self) {
        loop {
            let next = {
                let mut lanes = self.lanes.lock().expect("answer lanes lock");
                match lanes.get_mut(&self.message).and_then(Option::take) {
                    Some(next) => next,
                    None => {
                        // Under the lock that adds answers: one added after this starts a
                        // worker of its own.
                        lanes.remove(&self.message);
                        self.done = true;
                        return;
                    }
                }
            };
            self.show.card(next).await;
        }
    }
}

impl<S> Drop for Worker<S> {
    fn drop(&mut self) {
        if !self.done {
            if let Ok(mut lanes) = self.lanes.lock() {
                lanes.remove(&self.message);
            }
        }
    }
}

/// The message a click was on, to order its card answers by: the channel and the `ts`
/// of the message (`container` for a message button; `channel` and `message` otherwise).
pub fn clicked_message(payload: &Value) -> Option<String> {
    let container = &payload["container"];
    let channel = container["channel_id"].as_str().or(payload["channel"]["id"].as_str())?;
    let ts = container["message_ts"].as_str().or(payload["message"]["ts"].as_str())?;
    Some(format!("{channel}/{ts}"))
}

/// What a card answer shows when it is sent: the card as it stands `now` while it is live;
/// once the release has moved off it, the closed card a click answered with (the command
/// that closed it answers with its closing picture, the same the outbox's closing edit
/// shows). A card still open in the answer but no longer live is behind: nothing is shown,
/// and the outbox's closing edit shows the card closed.
pub fn to_show(now: Option<Card>, answered: Card) -> Option<Card> {
    match now {
        Some(live) => Some(live),
        None => (!answered.is_open()).then_some(answered),
    }
}

/// Answers shown on Slack: through `response_url`, and if that fails, by editing the
/// card's message in its thread with `chat.update`.
pub struct OnSlack {
    pub conversation: Conversation,
    pub web: Arc<Web>,
    pub http: reqwest::Client,
}

impl Show for OnSlack {
    async fn card(&self, waiting: Waiting) {
        let answered = &waiting.card;
        let now = match self.conversation.live_card(&answered.release_id, answered.step, answered.attempt).await {
            Ok(now) => now,
            Err(_) => {
                // Without the release as it stands, any card shown might be behind one shown
                // already; the next click or edit brings the card up to date.
                tracing::warn!(release = %answered.release_id, "could not read a clicked card's release; its answer is not shown");
                return;
            }
        };
        let Some(card) = to_show(now, waiting.card) else { return };
        if waiting.clicks > 1 {
            metrics::counter!("shipgate_slack_card_answers_folded_total").increment(waiting.clicks as u64 - 1);
        }
        if let Err(e) = respond(&self.http, &waiting.response_url, &render::update_message(&card)).await {
            // The outbox carries no edit of a card a click answers: it must be shown anyway.
            tracing::warn!(error = %e, "could not answer a Slack click through its response_url; editing the card instead");
            update_posted_card(self.conversation.app(), &self.web, &card).await;
        }
    }

    async fn say(&self, response_url: String, body: Value) {
        if let Err(e) = respond(&self.http, &response_url, &body).await {
            tracing::warn!(error = %e, "could not answer a Slack click through its response_url");
        }
    }
}

/// Edits `card`'s message in its release's thread in place (its `ts` is stored).
pub async fn update_posted_card(app: &App, web: &Web, card: &Card) {
    let step = match card.step {
        StepRef::Step(index) => index.to_string(),
        StepRef::Rollback => "rollback".to_owned(),
    };
    let key = format!("card:{step}:{}", card.attempt);
    match app.store().chat_messages(&card.release_id, ChatPlatform::Slack.as_str()).await {
        Ok(messages) => {
            if let Some(posted) = messages.into_iter().find(|m| m.key == key) {
                if let Err(e) = web.update(&posted.channel_id, &posted.message_id, &render::message(card)).await {
                    tracing::warn!(error = %e, "could not update a card's message");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading a card's message"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::card::fixtures::{alice, Walk};
    use crate::domain::card::{current_card, ClosedWhy};
    use serde_json::json;
    use std::time::Duration;
    use tokio::sync::{mpsc, Semaphore};

    /// Slack as the answers see it: records every card shown and every word said; shows a
    /// card only when the test lets it (one permit a card), and says when it starts to.
    struct Fake {
        showing: mpsc::UnboundedSender<()>,
        shown: mpsc::UnboundedSender<Waiting>,
        said: mpsc::UnboundedSender<(String, Value)>,
        gate: Arc<Semaphore>,
    }

    impl Show for Fake {
        async fn card(&self, waiting: Waiting) {
            self.showing.send(()).expect("the test listens");
            self.gate.acquire().await.expect("gate open").forget();
            assert_ne!(waiting.response_url, "breaks", "showing this one fails");
            self.shown.send(waiting).expect("the test listens");
        }

        async fn say(&self, response_url: String, body: Value) {
            self.said.send((response_url, body)).expect("the test listens");
        }
    }

    struct Harness {
        answers: Answers<Fake>,
        showing: mpsc::UnboundedReceiver<()>,
        shown: mpsc::UnboundedReceiver<Waiting>,
        said: mpsc::UnboundedReceiver<(String, Value)>,
        gate: Arc<Semaphore>,
    }

    fn harness() -> Harness {
        let (showing_tx, showing) = mpsc::unbounded_channel();
        let (shown_tx, shown) = mpsc::unbounded_channel();
        let (said_tx, said) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(0));
        let answers = Answers::new(Fake { showing: showing_tx, shown: shown_tx, said: said_tx, gate: gate.clone() });
        Harness { answers, showing, shown, said, gate }
    }

    /// Step 1's card of a fresh release, with `ticked` of its boxes ticked.
    fn card_with(ticked: usize) -> Card {
        let mut walk = Walk::start();
        let items: Vec<String> = walk.release.current_step().items.iter().map(|i| i.id.to_string()).collect();
        for item in items.iter().take(ticked) {
            walk.tick(&alice(), item);
        }
        current_card(&walk.release, &walk.ctx())
    }

    async fn next(receiver: &mut mpsc::UnboundedReceiver<Waiting>) -> Waiting {
        tokio::time::timeout(Duration::from_secs(5), receiver.recv()).await.expect("a card shown").expect("open")
    }

    /// Polls until no message has a worker (the workers end on their own once idle).
    async fn idle(answers: &Answers<Fake>) {
        for _ in 0..500 {
            if answers.busy() == 0 {
                return;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{} messages still have workers", answers.busy());
    }

    fn ticked(card: &Card) -> usize {
        card.items.iter().filter(|i| i.is_ticked()).count()
    }

    #[tokio::test]
    async fn answers_waiting_behind_a_card_being_shown_are_folded_into_the_newest() {
        let mut h = harness();
        let message = "C1/1.0".to_owned();
        h.answers.card(message.clone(), card_with(1), "url-1".into());
        // The first is being shown (held at the gate) while three more clicks are answered.
        h.showing.recv().await.expect("the first is being shown");
        for (ticks, url) in [(2, "url-2"), (3, "url-3"), (4, "url-4")] {
            h.answers.card(message.clone(), card_with(ticks), url.into());
        }
        h.gate.add_permits(10);
        let first = next(&mut h.shown).await;
        assert_eq!((ticked(&first.card), first.response_url.as_str(), first.clicks), (1, "url-1", 1));
        let second = next(&mut h.shown).await;
        assert_eq!((ticked(&second.card), second.response_url.as_str(), second.clicks), (4, "url-4", 3));
        idle(&h.answers).await;
        assert!(h.shown.try_recv().is_err(), "two cards shown for four clicks, the newest last");
    }

    #[tokio::test]
    async fn each_message_has_its_own_worker_and_none_is_kept_once_idle() {
        let mut h = harness();
        h.answers.card("C1/1.0".into(), card_with(1), "a".into());
        h.answers.card("C1/2.0".into(), card_with(2), "b".into());
        assert_eq!(h.answers.busy(), 2);
        h.gate.add_permits(2);
        let mut urls = vec![next(&mut h.shown).await.response_url, next(&mut h.shown).await.response_url];
        urls.sort();
        assert_eq!(urls, ["a", "b"], "one message's answer does not wait for another's");
        idle(&h.answers).await;
        // A later answer on an idle message starts a worker again.
        h.answers.card("C1/1.0".into(), card_with(3), "c".into());
        h.gate.add_permits(1);
        assert_eq!(next(&mut h.shown).await.response_url, "c");
        idle(&h.answers).await;
    }

    #[tokio::test]
    async fn a_worker_that_fails_lets_go_of_its_message() {
        let mut h = harness();
        h.answers.card("C1/1.0".into(), card_with(1), "breaks".into());
        h.gate.add_permits(2);
        idle(&h.answers).await;
        h.answers.card("C1/1.0".into(), card_with(2), "after".into());
        assert_eq!(next(&mut h.shown).await.response_url, "after", "the message's later answers are still shown");
    }

    #[tokio::test]
    async fn every_click_s_own_words_are_said_to_its_own_response_url() {
        let mut h = harness();
        for n in 0..3 {
            h.answers.say(format!("url-{n}"), json!({ "text": format!("refusal {n}") }));
        }
        h.answers.say(String::new(), json!({ "text": "nowhere to say it" }));
        let mut said = Vec::new();
        for _ in 0..3 {
            let (url, body) = tokio::time::timeout(Duration::from_secs(5), h.said.recv()).await.unwrap().unwrap();
            said.push((url, body["text"].as_str().unwrap_or_default().to_owned()));
        }
        said.sort();
        let expected: Vec<(String, String)> = (0..3).map(|n| (format!("url-{n}"), format!("refusal {n}"))).collect();
        assert_eq!(said, expected);
        assert_eq!(h.answers.busy(), 0, "words take no message's turn");
    }

    #[test]
    fn a_closed_card_waiting_is_not_replaced_by_an_open_one_decided_before_it() {
        let open = card_with(2);
        let closed = card_with(3).closed(ClosedWhy::Superseded);
        let mut waiting = Waiting::new(closed.clone(), "closing".into());
        waiting.absorb(Waiting::new(open.clone(), "late".into()));
        assert!(!waiting.card.is_open(), "the closing picture stays");
        assert_eq!((waiting.response_url.as_str(), waiting.clicks), ("late", 2));
        let mut waiting = Waiting::new(open, "first".into());
        waiting.absorb(Waiting::new(closed, "closing".into()));
        assert!(!waiting.card.is_open());
    }

    #[test]
    fn a_live_card_is_shown_as_it_stands_and_an_answer_behind_a_closed_card_not_at_all() {
        let (older, now) = (card_with(1), card_with(3));
        assert_eq!(to_show(Some(now.clone()), older.clone()).map(|c| ticked(&c)), Some(3));
        assert!(to_show(None, older).is_none(), "the card moved on: an open answer is behind");
        let closing = now.closed(ClosedWhy::Superseded);
        assert_eq!(to_show(None, closing.clone()), Some(closing));
    }

    #[test]
    fn a_click_is_ordered_by_the_message_it_was_on() {
        let payload = json!({
            "container": { "type": "message", "channel_id": "C1", "message_ts": "1.5" },
            "channel": { "id": "C9" },
            "message": { "ts": "9.9" },
        });
        assert_eq!(clicked_message(&payload).as_deref(), Some("C1/1.5"));
        let without_container = json!({ "channel": { "id": "C9" }, "message": { "ts": "9.9" } });
        assert_eq!(clicked_message(&without_container).as_deref(), Some("C9/9.9"));
        assert_eq!(clicked_message(&json!({ "channel": { "id": "C9" } })), None);
    }
}
