//! Free text people type (reasons, notes, names, links) and the one rule it must meet
//! before it is stored: it is shown in chat, terminals and logs, so it may carry no
//! control characters (a NUL, an ANSI escape that recolours or clears a terminal) and no
//! bidirectional overrides (U+202E makes text display in another order than it was
//! written), and it has a length a chat message can carry whole.
//!
//! Pure: [`Text::check`] refuses, it never rewrites, so what was accepted is stored
//! exactly as sent. Only [`display_name`] sanitizes, for names a platform hands us that
//! the person cannot be asked to retype.

use super::release::{Rejection, RejectionCode};

/// The longest reason or note: a sentence or two, not a report; link to details instead.
pub const MAX_REASON_CHARS: usize = 1000;
/// The longest name or label (a test suite, a flaky test, an artifact's name).
pub const MAX_NAME_CHARS: usize = 200;
/// The longest link: what browsers and chat platforms carry reliably.
pub const MAX_URL_CHARS: usize = 2000;
/// The longest display name kept; Discord's own limit is 32.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// The kind of a free-text field, and so its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    /// The most characters (Unicode scalar values) the field takes.
    pub max_chars: usize,
    /// Whether line breaks and tabs are allowed: reasons span lines, names do not.
    pub multi_line: bool,
    /// Whether spaces are allowed (a link has none).
    pub spaces: bool,
}

impl Text {
    /// A reason or note, shown on cards and in history: several lines allowed.
    pub const REASON: Text = Text { max_chars: MAX_REASON_CHARS, multi_line: true, spaces: true };
    /// A name or label shown on one line.
    pub const NAME: Text = Text { max_chars: MAX_NAME_CHARS, multi_line: false, spaces: true };
    /// A link to details (CI run, deploy log).
    pub const URL: Text = Text { max_chars: MAX_URL_CHARS, multi_line: false, spaces: false };

    /// A reason or note within `max_chars` (a lock's reason is shorter: it rides every card).
    pub const fn reason_of(max_chars: usize) -> Text {
        Text { max_chars, multi_line: true, spaces: true }
    }

    /// Checks `value` of the field called `field`; on success returns it unchanged.
    pub fn check<'v>(self, field: &str, value: &'v str) -> Result<&'v str, Rejection> {
        for (at, c) in value.chars().enumerate() {
            let position = at + 1;
            if is_bidi_control(c) {
                return Err(invalid(format!(
                    "{field} contains U+{:04X} at character {position}, a bidirectional control that makes \
                     text display in another order than it was written; remove it",
                    u32::from(c)
                )));
            }
            let line_break = c == '\n' || c == '\t';
            if is_forbidden_control(c) && !(self.multi_line && line_break) {
                let allowed = if self.multi_line {
                    "only line breaks and tabs are allowed"
                } else {
                    "it must be one line of text"
                };
                let kind = if c.is_control() { "the control character" } else { "the line separator" };
                return Err(invalid(format!(
                    "{field} contains {kind} U+{:04X} at character {position}; {allowed}",
                    u32::from(c)
                )));
            }
            if !self.spaces && c.is_whitespace() {
                return Err(invalid(format!("{field} contains a space at character {position}; a link has none")));
            }
        }
        let chars = value.chars().count();
        if chars > self.max_chars {
            return Err(invalid(format!(
                "{field} is {chars} characters; the limit is {}: shorten it, or link to details",
                self.max_chars
            )));
        }
        Ok(value)
    }

    /// [`Text::check`] of an optional field: absent is fine.
    pub fn check_opt(self, field: &str, value: Option<&str>) -> Result<(), Rejection> {
        value.map_or(Ok(()), |v| self.check(field, v).map(|_| ()))
    }

    /// A reason or note of at most [`MAX_REASON_CHARS`].
    pub fn reason<'v>(field: &str, value: &'v str) -> Result<&'v str, Rejection> {
        Text::REASON.check(field, value)
    }
}

/// Control characters (Unicode Cc: C0, DEL, C1) and the line and paragraph separators,
/// which renderers treat as line breaks although they are not `\n`.
fn is_forbidden_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// The embeddings, overrides and isolates that reorder displayed text (the "Trojan
/// Source" set rustc also lints). The marks U+200E, U+200F and U+061C stay allowed: they
/// only set the direction of neutral characters around them, and right-to-left writing
/// needs them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn invalid(message: String) -> Rejection {
    Rejection::new(RejectionCode::InvalidInput, message)
}

/// A display name a platform gave us, made safe to show: control characters and bidi
/// controls dropped, runs of whitespace made one space, cut to [`MAX_DISPLAY_NAME_CHARS`].
/// A chat platform lets people pick any name; refusing their clicks for it would lock
/// them out of a release they were asked to approve, so the name is cleaned instead.
/// Falls back to `fallback` (the platform user id) when nothing readable is left.
pub fn display_name(raw: &str, fallback: &str) -> String {
    let mut out = String::new();
    let mut kept = 0;
    let mut pending_space = false;
    for c in raw.chars() {
        if is_bidi_control(c) || (is_forbidden_control(c) && !c.is_whitespace()) {
            continue;
        }
        if c.is_whitespace() || is_forbidden_control(c) {
            pending_space = !out.is_empty();
            continue;
        }
        if kept + usize::from(pending_space) + 1 > MAX_DISPLAY_NAME_CHARS {
            break;
        }
        if pending_space {
            out.push(' ');
            kept += 1;
            pending_space = false;
        }
        out.push(c);
        kept += 1;
    }
    if out.is_empty() {
        fallback
            .chars()
            .filter(|c| !is_bidi_control(*c) && !is_forbidden_control(*c))
            .take(MAX_DISPLAY_NAME_CHARS)
            .collect()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn refused(text: Text, value: &str) -> String {
        let rejection = text.check("reason", value).expect_err("refused");
        assert_eq!(rejection.code, RejectionCode::InvalidInput);
        rejection.message
    }

    #[test]
    fn clean_text_is_accepted_unchanged() {
        for value in ["", "database migration running", "línea 1\n\tlínea 2", "🚀 ship it — 👩‍💻", "עברית\u{200F} ok"]
        {
            assert_eq!(Text::REASON.check("reason", value), Ok(value));
        }
        assert_eq!(Text::NAME.check("suite", "integration (eu-west)"), Ok("integration (eu-west)"));
        assert_eq!(Text::URL.check("url", "https://ci.example.com/run/1?a=b"), Ok("https://ci.example.com/run/1?a=b"));
    }

    #[test]
    fn every_control_character_is_refused_but_line_breaks_in_multi_line_fields() {
        let controls = (0u32..0x20).chain(0x7F..0xA0).chain([0x2028, 0x2029]).filter_map(char::from_u32);
        for c in controls {
            let value = format!("a{c}b");
            let allowed_here = c == '\n' || c == '\t';
            assert_eq!(Text::REASON.check("reason", &value).is_ok(), allowed_here, "U+{:04X}", u32::from(c));
            assert!(Text::NAME.check("suite", &value).is_err(), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn a_nul_an_ansi_escape_and_a_carriage_return_are_named() {
        assert!(refused(Text::REASON, "a\0b").contains("U+0000 at character 2"));
        let ansi = refused(Text::REASON, "\u{1b}[31mred");
        assert!(ansi.contains("reason") && ansi.contains("U+001B") && ansi.contains("only line breaks and tabs"));
        assert!(refused(Text::REASON, "ok\r\nno").contains("U+000D"));
        assert!(refused(Text::NAME, "two\nlines").contains("one line"));
    }

    #[test]
    fn every_bidi_override_embedding_and_isolate_is_refused() {
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            let message = refused(Text::REASON, &format!("safe{c}txt.exe"));
            assert!(message.contains(&format!("U+{:04X}", u32::from(c))) && message.contains("bidirectional"));
        }
        for mark in ['\u{200E}', '\u{200F}', '\u{061C}'] {
            assert!(Text::REASON.check("reason", &format!("a{mark}b")).is_ok());
        }
    }

    #[test]
    fn length_is_counted_in_characters_and_the_limit_is_named() {
        assert!(Text::REASON.check("reason", &"é".repeat(MAX_REASON_CHARS)).is_ok());
        let message = refused(Text::REASON, &"é".repeat(MAX_REASON_CHARS + 1));
        assert!(message.contains("reason is 1001 characters") && message.contains("the limit is 1000"));
        assert!(refused(Text::REASON, &"x".repeat(60_000)).contains("the limit is 1000"));
        assert!(Text::reason_of(500).check("reason", &"x".repeat(501)).is_err());
        assert!(Text::NAME.check("suite", &"x".repeat(MAX_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn links_have_no_spaces() {
        assert!(Text::URL.check("url", "https://a.example/ b").is_err());
        assert!(Text::URL.check("url", &format!("https://a.example/{}", "x".repeat(MAX_URL_CHARS))).is_err());
    }

    #[test]
    fn optional_fields_may_be_absent() {
        assert!(Text::REASON.check_opt("note", None).is_ok());
        assert!(Text::REASON.check_opt("note", Some("a\0")).is_err());
    }

    #[test]
    fn display_names_are_cleaned_not_refused() {
        assert_eq!(display_name("Alice", "1"), "Alice");
        assert_eq!(display_name("\u{1b}[2JAl\u{202E}ice\0", "1"), "[2JAlice");
        assert_eq!(display_name("  Bob \n\t Smith  ", "1"), "Bob Smith");
        assert_eq!(display_name("\u{202E}\u{0}", "80351110224678912"), "80351110224678912");
        assert_eq!(display_name(&"x".repeat(500), "1").chars().count(), MAX_DISPLAY_NAME_CHARS);
        assert_eq!(display_name("👩‍💻 Dana", "1"), "👩‍💻 Dana");
    }

    fn forbidden() -> impl Strategy<Value = char> {
        prop_oneof![
            (0u32..0x20)
                .prop_filter_map("not a line break", |u| char::from_u32(u).filter(|c| *c != '\n' && *c != '\t')),
            (0x7Fu32..0xA0).prop_filter_map("scalar", char::from_u32),
            (0x202Au32..=0x202E).prop_filter_map("scalar", char::from_u32),
            (0x2066u32..=0x2069).prop_filter_map("scalar", char::from_u32),
            Just('\u{2028}'),
            Just('\u{2029}'),
        ]
    }

    proptest! {
        #[test]
        fn any_string_with_a_forbidden_character_is_refused(
            before in "\\PC{0,40}", c in forbidden(), after in "\\PC{0,40}",
        ) {
            let value = format!("{before}{c}{after}");
            let rejection = Text::REASON.check("reason", &value).expect_err("refused");
            prop_assert_eq!(rejection.code, RejectionCode::InvalidInput);
            prop_assert!(rejection.message.starts_with("reason "));
        }

        #[test]
        fn any_clean_string_within_the_limit_is_accepted_unchanged(value in "([^\\p{C}\\p{Zl}\\p{Zp}]|\n|\t){0,1000}") {
            // The class excludes every control and separator, and with them the bidi
            // controls (category Cf) and harmless format characters; add two of those back.
            let value = value.replace('~', "\u{200D}").replace('^', "\u{200F}");
            prop_assume!(value.chars().count() <= MAX_REASON_CHARS);
            prop_assert_eq!(Text::REASON.check("reason", &value), Ok(value.as_str()));
        }

        #[test]
        fn a_cleaned_display_name_passes_the_name_rule(raw in "\\PC{0,100}|.{0,100}") {
            let name = display_name(&raw, "1");
            prop_assert!(Text::NAME.check("display name", &name).is_ok());
            prop_assert!(name.chars().count() <= MAX_DISPLAY_NAME_CHARS);
        }
    }
}
