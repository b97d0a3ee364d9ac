//! A playbook file: parsing and validation never panic, and a playbook that passes is
//! stable: written back out as TOML it parses to the same playbook, and it renders as text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipgate::domain::playbook::Playbook;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Playbook::from_toml(text) {
        Ok(playbook) => {
            let written = toml::to_string(&playbook).expect("a valid playbook serialises to TOML");
            let reread = Playbook::from_toml(&written)
                .unwrap_or_else(|e| panic!("a valid playbook, written back out, is refused:\n{e}\n---\n{written}"));
            assert_eq!(reread, playbook, "writing a playbook out and reading it back changed it:\n{written}");
            assert!(!playbook.render_text().is_empty());
        }
        Err(errors) => {
            assert!(!errors.problems.is_empty(), "a refused playbook names at least one problem");
            for problem in &errors.problems {
                assert!(!problem.message.trim().is_empty(), "a problem at {} says nothing", problem.key);
            }
        }
    }
});
