//! An iCalendar file: reading never panics, a timed entry never ends before it starts,
//! and an error names a line that exists in the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipgate::domain::freeze::ics::parse_ics;
use shipgate::domain::freeze::CalendarEntry;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_ics(text, "fuzz.ics") {
        Ok(entries) => {
            for entry in &entries {
                if let CalendarEntry::Timed { from, to, name } = entry {
                    assert!(from <= to, "timed entry {name:?} ends at {to} before it starts at {from}");
                }
            }
        }
        Err(error) => {
            // A file ending in a line break has one more (empty) line than `lines()` counts.
            let lines = text.split('\n').count();
            if let Some(line) = error.line {
                assert!((1..=lines).contains(&line), "error at line {line} of a {lines}-line file: {error}");
            }
            assert!(!error.message.trim().is_empty());
        }
    }
});
