//! Free text: what the validator accepts carries no control character (other than the
//! line breaks and tabs a multi-line field allows), no bidirectional override, and fits
//! the limit; a cleaned display name is always safe to show.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipgate::domain::text::{display_name, Text, MAX_DISPLAY_NAME_CHARS};

fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_unsafe(c: char, multi_line: bool) -> bool {
    let control = c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    is_bidi_override(c) || (control && !(multi_line && (c == '\n' || c == '\t')))
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else { return };
    for kind in [Text::REASON, Text::NAME, Text::URL, Text::reason_of(120)] {
        match kind.check("field", value) {
            Ok(accepted) => {
                assert_eq!(accepted, value, "the validator returned other text than it was given");
                assert!(accepted.chars().count() <= kind.max_chars);
                if let Some(c) = accepted.chars().find(|&c| is_unsafe(c, kind.multi_line)) {
                    panic!("{kind:?} accepted U+{:04X} in {accepted:?}", u32::from(c));
                }
                if !kind.spaces {
                    assert!(!accepted.chars().any(char::is_whitespace), "a field without spaces accepted {accepted:?}");
                }
            }
            Err(rejection) => assert!(!rejection.message.is_empty()),
        }
    }

    let fallback = "123456789012345678";
    let name = display_name(value, fallback);
    assert!(!name.is_empty());
    if name != fallback {
        assert!(name.chars().count() <= MAX_DISPLAY_NAME_CHARS, "display name too long: {name:?}");
        assert!(!name.chars().any(|c| is_unsafe(c, false)), "display name kept a control: {name:?}");
        assert_eq!(name.trim(), name, "display name has outer whitespace: {name:?}");
        assert!(!name.contains("  "), "display name kept a run of spaces: {name:?}");
    }
});
