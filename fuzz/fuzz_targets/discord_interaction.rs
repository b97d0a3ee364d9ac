//! A Discord interaction body, as the HTTP endpoint and the gateway hand it over: decoding
//! and every accessor never panic; the person's display name is safe to show; a button's
//! or modal's `custom_id` decodes without panicking, and only to its own one id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipgate::chat::discord::custom_id::{ClickTarget, ModalTarget};
use shipgate::chat::discord::interaction::Interaction;
use shipgate::domain::text::MAX_DISPLAY_NAME_CHARS;

fuzz_target!(|data: &[u8]| {
    let Ok(interaction) = serde_json::from_slice::<Interaction>(data) else { return };

    if let Some(person) = interaction.person() {
        let name = &person.display_name;
        assert!(name.chars().count() <= MAX_DISPLAY_NAME_CHARS, "display name too long: {name:?}");
        assert!(
            !name.chars().any(|c| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')),
            "display name {name:?} keeps a control character"
        );
    }
    let _ = interaction.channel_id();
    if let Some(command) = interaction.command() {
        for (name, _) in &command.options {
            let _ = command.text(name);
            let _ = command.flag(name);
        }
    }
    let _ = interaction.modal_values();
    if let Some(id) = interaction.custom_id() {
        if let Ok(click) = ClickTarget::decode(id) {
            assert_eq!(click.encode().as_deref(), Ok(id));
        }
        if let Ok(modal) = ModalTarget::decode(id) {
            assert_eq!(modal.encode().as_deref(), Ok(id));
        }
    }
});
