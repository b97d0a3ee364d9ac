//! Reading a conversation back (conversations.history and conversations.replies): message
//! timestamps as numbers, the `oldest`/`latest` window, and cursor pages.
//!
//! Slack's cursors are opaque base64; for these two methods they read `next_ts:<micros>`,
//! the timestamp of the first message of the next page (Slack's pagination guide shows
//! `bmV4dF90czoxNTEyMDg1ODYxMDAwNTQz`, which is `next_ts:1512085861000543`). The fake makes
//! them the same way, so a client that does not URL-encode a cursor's `+`, `/` or `=` loses it.

use super::contract::Args;

/// A timestamp (`1733230000.000100`, `1733230000`) in microseconds; `None` when it is not
/// one. Digits past the sixth decimal are dropped.
pub fn micros(ts: &str) -> Option<u64> {
    let (whole, fraction) = ts.split_once('.').unwrap_or((ts, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: u64 = whole.parse().ok()?;
    let mut fraction: String = fraction.chars().take(6).collect();
    while fraction.len() < 6 {
        fraction.push('0');
    }
    seconds.checked_mul(1_000_000)?.checked_add(fraction.parse().ok()?)
}

/// The `oldest`/`latest`/`inclusive` arguments: which timestamps a read covers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    oldest: Option<u64>,
    latest: Option<u64>,
    inclusive: bool,
}

impl Window {
    /// From arguments the contract has checked (`oldest` and `latest` are numbers).
    pub fn from_args(args: &Args) -> Window {
        Window {
            oldest: args.str("oldest").as_deref().and_then(micros),
            latest: args.str("latest").as_deref().and_then(micros),
            inclusive: args.bool("inclusive").unwrap_or(false),
        }
    }

    /// Messages strictly between `oldest` and `latest`, or including them with `inclusive`.
    /// No `latest` is now, and every message is from before now.
    pub fn contains(&self, at: u64) -> bool {
        let after = self.oldest.is_none_or(|o| at > o || (self.inclusive && at == o));
        let before = self.latest.is_none_or(|l| at < l || (self.inclusive && at == l));
        after && before
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Order {
    /// conversations.history.
    NewestFirst,
    /// conversations.replies: the parent, then its replies.
    OldestFirst,
}

/// One page of a read, and the cursor to the next when there is more.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The page of `items` (each with its timestamp in microseconds, already in `order`) that
/// starts at `cursor` (the decoded `next_ts`) and holds at most `limit`.
pub fn page<T>(items: Vec<(u64, T)>, order: Order, cursor: Option<u64>, limit: usize) -> Page<T> {
    let mut rest = items.into_iter().filter(|(at, _)| match (cursor, order) {
        (None, _) => true,
        (Some(c), Order::NewestFirst) => *at <= c,
        (Some(c), Order::OldestFirst) => *at >= c,
    });
    let items: Vec<T> = rest.by_ref().take(limit).map(|(_, item)| item).collect();
    let next_cursor = rest.next().map(|(at, _)| encode_cursor(at));
    Page { items, next_cursor }
}

pub fn encode_cursor(next_ts: u64) -> String {
    base64(format!("next_ts:{next_ts}").as_bytes())
}

/// The `next_ts` of a cursor the fake made; `None` for anything else.
pub fn decode_cursor(cursor: &str) -> Option<u64> {
    let text = String::from_utf8(unbase64(cursor)?).ok()?;
    let digits = text.strip_prefix("next_ts:")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as Slack's cursors are.
fn base64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || text.len() % 4 != 0 {
        return None;
    }
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 {
        return None;
    }
    let mut out = Vec::new();
    let (mut n, mut bits) = (0u32, 0);
    for c in body.bytes() {
        let value = ALPHABET.iter().position(|a| *a == c)? as u32;
        n = n << 6 | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((n >> bits & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_as_slacks() {
        assert_eq!(encode_cursor(1_512_085_861_000_543), "bmV4dF90czoxNTEyMDg1ODYxMDAwNTQz");
        assert_eq!(decode_cursor("bmV4dF90czoxNTEyMDg1ODYxMDAwNTQz"), Some(1_512_085_861_000_543));
        assert_eq!(decode_cursor("bmV4dF90czoxNTEyMDg1ODYxMDAwNTQz "), None);
        assert_eq!(micros("1733230000.0001"), Some(1_733_230_000_000_100));
        assert_eq!(micros("1733230000"), Some(1_733_230_000_000_000));
        assert_eq!(micros("17332x0000"), None);
    }
}
