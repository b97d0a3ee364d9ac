//! Block Kit, checked as Slack documents it (docs.slack.dev "Block Kit" reference). The
//! OpenAPI document describes `blocks` only as "an array of objects with a `type`", so every
//! limit here comes from the reference pages:
//!
//! - a message holds at most 50 blocks, a modal view at most 100;
//! - an actions block holds 1 to 25 elements, a context block 1 to 10;
//! - section text is 1 to 3000 characters, a section has text or fields (at most 10, each
//!   at most 2000); header text is plain_text of at most 150;
//! - a button's `text` is plain_text of at most 75 characters, `action_id` at most 255,
//!   `value` at most 2000, `url` at most 3000, `style` `primary` or `danger`; a button has no
//!   `disabled` field (Slack buttons cannot be disabled: update the message instead);
//! - a confirm dialog has `title` (plain_text, 100), `text` (300), `confirm` and `deny`
//!   (plain_text, 30), optional `style`;
//! - `block_id` is at most 255 and unique within a message or view;
//! - a modal view has a plain_text `title` of at most 24, `close`/`submit` at most 24
//!   (`submit` required with an input block), `private_metadata` at most 3000, `callback_id`
//!   at most 255.
//!
//! Slack requires an `action_id` to be unique within its block; the fake requires it to be
//! unique within the whole message or view, because shipgate routes a click by its
//! `action_id` alone.
//!
//! Fields a block or element does not have are refused (Slack answers `invalid_blocks`
//! for them). Block and element types the fake does not model are refused too, naming the
//! fake as the reason, so an unchecked payload never passes silently.
//!
//! Each problem reads like Slack's: `<what> [json-pointer:/blocks/0/elements/0/text/text]`.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// Where the blocks are shown: the block count limits differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    Message,
    Modal,
}

impl Surface {
    fn max_blocks(self) -> usize {
        match self {
            Surface::Message => 50,
            Surface::Modal => 100,
        }
    }
}

/// Problems with a message's `blocks` (at `at`, e.g. `/blocks`).
pub fn check_blocks(blocks: &Value, surface: Surface, at: &str) -> Vec<String> {
    let mut checker = Checker::default();
    checker.blocks(blocks, surface, at);
    checker.out
}

/// Problems with a modal `view` object (at `at`, e.g. `/view`).
pub fn check_view(view: &Value, at: &str) -> Vec<String> {
    let mut c = Checker::default();
    let Some(map) = c.object(view, at) else {
        return c.out;
    };
    c.keys(
        map,
        at,
        &[
            "type",
            "title",
            "blocks",
            "close",
            "submit",
            "private_metadata",
            "callback_id",
            "clear_on_close",
            "notify_on_close",
            "external_id",
            "submit_disabled",
        ],
    );
    match map.get("type").and_then(Value::as_str) {
        Some("modal") => {}
        Some(other) => c.problem(format!("{at}/type"), format!("view type must be modal here, not {other}")),
        None => c.problem(format!("{at}/type"), "missing required field: type"),
    }
    c.required_text(map, "title", at, TextRule::plain(24));
    c.optional_text(map, "close", at, TextRule::plain(24));
    c.optional_text(map, "submit", at, TextRule::plain(24));
    c.optional_str(map, "private_metadata", at, 3000);
    c.optional_str(map, "callback_id", at, 255);
    c.optional_str(map, "external_id", at, 255);
    for flag in ["clear_on_close", "notify_on_close", "submit_disabled"] {
        c.optional_bool(map, flag, at);
    }
    match map.get("blocks") {
        Some(blocks) => c.blocks(blocks, Surface::Modal, &format!("{at}/blocks")),
        None => c.problem(format!("{at}/blocks"), "missing required field: blocks"),
    }
    let has_input = map
        .get("blocks")
        .and_then(Value::as_array)
        .is_some_and(|blocks| blocks.iter().any(|b| b.get("type").and_then(Value::as_str) == Some("input")));
    if has_input && !map.contains_key("submit") {
        c.problem(format!("{at}/submit"), "submit is required when the view has an input block");
    }
    c.out
}

/// What a text object may be.
#[derive(Clone, Copy)]
struct TextRule {
    plain_only: bool,
    max: usize,
}

impl TextRule {
    fn plain(max: usize) -> Self {
        TextRule { plain_only: true, max }
    }
    fn any(max: usize) -> Self {
        TextRule { plain_only: false, max }
    }
}

/// Which elements a place takes.
#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Actions,
    Input,
    Accessory,
}

#[derive(Default)]
struct Checker {
    out: Vec<String>,
    /// action_id -> where it was first seen.
    action_ids: HashMap<String, String>,
    /// block_id -> where it was first seen.
    block_ids: HashMap<String, String>,
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

impl Checker {
    fn problem(&mut self, path: impl AsRef<str>, what: impl AsRef<str>) {
        self.out.push(format!("{} [json-pointer:{}]", what.as_ref(), path.as_ref()));
    }

    fn object<'v>(&mut self, value: &'v Value, at: &str) -> Option<&'v Map<String, Value>> {
        let map = value.as_object();
        if map.is_none() {
            self.problem(at, "must provide an object");
        }
        map
    }

    fn keys(&mut self, map: &Map<String, Value>, at: &str, allowed: &[&str]) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.problem(format!("{at}/{key}"), format!("unexpected field `{key}`"));
            }
        }
    }

    fn str_len(&mut self, value: &Value, path: &str, min: usize, max: usize) {
        match value.as_str() {
            None => self.problem(path, "must be a string"),
            Some(s) if chars(s) < min => self.problem(path, format!("must be more than {} characters", min - 1)),
            Some(s) if chars(s) > max => self.problem(path, format!("must be less than {} characters", max + 1)),
            Some(_) => {}
        }
    }

    fn optional_str(&mut self, map: &Map<String, Value>, key: &str, at: &str, max: usize) {
        if let Some(v) = map.get(key) {
            self.str_len(v, &format!("{at}/{key}"), 0, max);
        }
    }

    fn optional_bool(&mut self, map: &Map<String, Value>, key: &str, at: &str) {
        if map.get(key).is_some_and(|v| !v.is_boolean()) {
            self.problem(format!("{at}/{key}"), "must be a boolean");
        }
    }

    fn text(&mut self, value: &Value, at: &str, rule: TextRule) {
        let Some(map) = self.object(value, at) else { return };
        match map.get("type").and_then(Value::as_str) {
            Some("plain_text") => self.keys(map, at, &["type", "text", "emoji"]),
            Some("mrkdwn") if rule.plain_only => {
                self.problem(format!("{at}/type"), "must be plain_text here");
            }
            Some("mrkdwn") => self.keys(map, at, &["type", "text", "verbatim"]),
            Some(other) => self.problem(format!("{at}/type"), format!("must be plain_text or mrkdwn, not {other}")),
            None => self.problem(format!("{at}/type"), "missing required field: type"),
        }
        match map.get("text") {
            Some(text) => self.str_len(text, &format!("{at}/text"), 1, rule.max),
            None => self.problem(format!("{at}/text"), "missing required field: text"),
        }
        self.optional_bool(map, "emoji", at);
        self.optional_bool(map, "verbatim", at);
    }

    fn required_text(&mut self, map: &Map<String, Value>, key: &str, at: &str, rule: TextRule) {
        match map.get(key) {
            Some(v) => self.text(v, &format!("{at}/{key}"), rule),
            None => self.problem(format!("{at}/{key}"), format!("missing required field: {key}")),
        }
    }

    fn optional_text(&mut self, map: &Map<String, Value>, key: &str, at: &str, rule: TextRule) {
        if let Some(v) = map.get(key) {
            self.text(v, &format!("{at}/{key}"), rule);
        }
    }

    fn blocks(&mut self, blocks: &Value, surface: Surface, at: &str) {
        let Some(list) = blocks.as_array() else {
            self.problem(at, "must provide an array");
            return;
        };
        let max = surface.max_blocks();
        if list.len() > max {
            self.problem(at, format!("no more than {max} items allowed"));
        }
        for (i, block) in list.iter().enumerate() {
            self.block(block, &format!("{at}/{i}"));
        }
    }

    fn block(&mut self, block: &Value, at: &str) {
        let Some(map) = self.object(block, at) else { return };
        if let Some(id) = map.get("block_id") {
            let path = format!("{at}/block_id");
            self.str_len(id, &path, 1, 255);
            if let Some(id) = id.as_str() {
                if let Some(first) = self.block_ids.insert(id.to_string(), path.clone()) {
                    self.problem(&path, format!("duplicate block_id `{id}` (also at {first})"));
                }
            }
        }
        let kind = map.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "section" => {
                self.keys(map, at, &["type", "block_id", "text", "fields", "accessory", "expand"]);
                self.optional_text(map, "text", at, TextRule::any(3000));
                if let Some(fields) = map.get("fields") {
                    let path = format!("{at}/fields");
                    match fields.as_array() {
                        Some(list) => {
                            if list.len() > 10 {
                                self.problem(&path, "no more than 10 items allowed");
                            }
                            for (i, field) in list.iter().enumerate() {
                                self.text(field, &format!("{path}/{i}"), TextRule::any(2000));
                            }
                        }
                        None => self.problem(&path, "must provide an array"),
                    }
                }
                if !map.contains_key("text") && !map.contains_key("fields") {
                    self.problem(at, "a section needs text or fields");
                }
                if let Some(accessory) = map.get("accessory") {
                    self.element(accessory, &format!("{at}/accessory"), Slot::Accessory);
                }
                self.optional_bool(map, "expand", at);
            }
            "header" => {
                self.keys(map, at, &["type", "block_id", "text"]);
                self.required_text(map, "text", at, TextRule::plain(150));
            }
            "divider" => self.keys(map, at, &["type", "block_id"]),
            "context" => {
                self.keys(map, at, &["type", "block_id", "elements"]);
                self.element_list(map, at, 10, |c, element, path| match element.get("type").and_then(Value::as_str) {
                    Some("image") => c.image(element, path),
                    _ => c.text(element, path, TextRule::any(3000)),
                });
            }
            "actions" => {
                self.keys(map, at, &["type", "block_id", "elements"]);
                self.element_list(map, at, 25, |c, element, path| c.element(element, path, Slot::Actions));
            }
            "input" => {
                self.keys(map, at, &["type", "block_id", "label", "element", "hint", "optional", "dispatch_action"]);
                self.required_text(map, "label", at, TextRule::plain(2000));
                self.optional_text(map, "hint", at, TextRule::plain(2000));
                self.optional_bool(map, "optional", at);
                self.optional_bool(map, "dispatch_action", at);
                match map.get("element") {
                    Some(element) => self.element(element, &format!("{at}/element"), Slot::Input),
                    None => self.problem(format!("{at}/element"), "missing required field: element"),
                }
            }
            "image" => {
                self.keys(map, at, &["type", "block_id", "image_url", "slack_file", "alt_text", "title"]);
                self.image_source(map, at);
                self.optional_text(map, "title", at, TextRule::plain(2000));
            }
            "" => self.problem(format!("{at}/type"), "missing required field: type"),
            other => self.problem(
                format!("{at}/type"),
                format!("block type `{other}` is not modelled by the fake Slack (add it to blockkit.rs)"),
            ),
        }
    }

    fn element_list(
        &mut self,
        map: &Map<String, Value>,
        at: &str,
        max: usize,
        mut each: impl FnMut(&mut Self, &Value, &str),
    ) {
        let path = format!("{at}/elements");
        match map.get("elements").and_then(Value::as_array) {
            None => self.problem(&path, "missing required field: elements (an array)"),
            Some(list) => {
                if list.is_empty() {
                    self.problem(&path, "must provide at least 1 item");
                }
                if list.len() > max {
                    self.problem(&path, format!("no more than {max} items allowed"));
                }
                for (i, element) in list.iter().enumerate() {
                    each(self, element, &format!("{path}/{i}"));
                }
            }
        }
    }

    fn image(&mut self, element: &Value, at: &str) {
        let Some(map) = self.object(element, at) else { return };
        self.keys(map, at, &["type", "image_url", "slack_file", "alt_text"]);
        self.image_source(map, at);
    }

    fn image_source(&mut self, map: &Map<String, Value>, at: &str) {
        match (map.get("image_url"), map.get("slack_file")) {
            (Some(url), None) => self.str_len(url, &format!("{at}/image_url"), 1, 3000),
            (None, Some(file)) => {
                self.object(file, &format!("{at}/slack_file"));
            }
            _ => self.problem(at, "an image needs exactly one of image_url and slack_file"),
        }
        match map.get("alt_text") {
            Some(alt) => self.str_len(alt, &format!("{at}/alt_text"), 1, 2000),
            None => self.problem(format!("{at}/alt_text"), "missing required field: alt_text"),
        }
    }

    fn action_id(&mut self, map: &Map<String, Value>, at: &str) {
        let Some(id) = map.get("action_id") else { return };
        let path = format!("{at}/action_id");
        self.str_len(id, &path, 1, 255);
        if let Some(id) = id.as_str() {
            if let Some(first) = self.action_ids.insert(id.to_string(), path.clone()) {
                self.problem(&path, format!("duplicate action_id `{id}` (also at {first})"));
            }
        }
    }

    fn element(&mut self, element: &Value, at: &str, slot: Slot) {
        let Some(map) = self.object(element, at) else { return };
        let kind = map.get("type").and_then(Value::as_str).unwrap_or("");
        let allowed = match kind {
            "button" => slot != Slot::Input,
            "overflow" => slot != Slot::Input,
            "image" => slot == Slot::Accessory,
            "plain_text_input" => slot == Slot::Input,
            "static_select" | "radio_buttons" | "checkboxes" | "datepicker" => true,
            "" => {
                self.problem(format!("{at}/type"), "missing required field: type");
                return;
            }
            other => {
                self.problem(
                    format!("{at}/type"),
                    format!("element type `{other}` is not modelled by the fake Slack (add it to blockkit.rs)"),
                );
                return;
            }
        };
        if !allowed {
            self.problem(format!("{at}/type"), format!("a {kind} element is not allowed here"));
            return;
        }
        self.action_id(map, at);
        match kind {
            "button" => self.button(map, at),
            "overflow" => {
                self.keys(map, at, &["type", "action_id", "options", "confirm"]);
                self.options(map, "options", at, 1, 5, TextRule::plain(75));
                self.optional_confirm(map, at);
            }
            "image" => self.image(element, at),
            "plain_text_input" => {
                self.keys(
                    map,
                    at,
                    &[
                        "type",
                        "action_id",
                        "placeholder",
                        "initial_value",
                        "multiline",
                        "min_length",
                        "max_length",
                        "dispatch_action_config",
                        "focus_on_load",
                    ],
                );
                self.optional_text(map, "placeholder", at, TextRule::plain(150));
                if map.get("initial_value").is_some_and(|v| !v.is_string()) {
                    self.problem(format!("{at}/initial_value"), "must be a string");
                }
                self.optional_bool(map, "multiline", at);
                self.optional_bool(map, "focus_on_load", at);
                for (key, min) in [("min_length", 0), ("max_length", 1)] {
                    if let Some(v) = map.get(key) {
                        if !v.as_u64().is_some_and(|n| (min..=3000).contains(&n)) {
                            self.problem(format!("{at}/{key}"), format!("must be an integer from {min} to 3000"));
                        }
                    }
                }
            }
            "static_select" => {
                self.keys(
                    map,
                    at,
                    &[
                        "type",
                        "action_id",
                        "placeholder",
                        "options",
                        "option_groups",
                        "initial_option",
                        "confirm",
                        "focus_on_load",
                    ],
                );
                self.optional_text(map, "placeholder", at, TextRule::plain(150));
                match (map.contains_key("options"), map.contains_key("option_groups")) {
                    (true, false) => self.options(map, "options", at, 1, 100, TextRule::plain(75)),
                    (false, true) => self.option_groups(map, at),
                    _ => self.problem(at, "a static_select needs exactly one of options and option_groups"),
                }
                if let Some(initial) = map.get("initial_option") {
                    self.option(initial, &format!("{at}/initial_option"), TextRule::plain(75));
                }
                self.optional_confirm(map, at);
                self.optional_bool(map, "focus_on_load", at);
            }
            "radio_buttons" | "checkboxes" => {
                let initial = if kind == "radio_buttons" { "initial_option" } else { "initial_options" };
                self.keys(map, at, &["type", "action_id", "options", initial, "confirm", "focus_on_load"]);
                self.options(map, "options", at, 1, 10, TextRule::any(75));
                self.optional_confirm(map, at);
                self.optional_bool(map, "focus_on_load", at);
            }
            "datepicker" => {
                self.keys(map, at, &["type", "action_id", "initial_date", "confirm", "focus_on_load", "placeholder"]);
                self.optional_text(map, "placeholder", at, TextRule::plain(150));
                if let Some(date) = map.get("initial_date") {
                    let fine = date.as_str().is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok());
                    if !fine {
                        self.problem(format!("{at}/initial_date"), "must be a date YYYY-MM-DD");
                    }
                }
                self.optional_confirm(map, at);
                self.optional_bool(map, "focus_on_load", at);
            }
            _ => unreachable!("every allowed element kind is matched above"),
        }
    }

    fn button(&mut self, map: &Map<String, Value>, at: &str) {
        if map.contains_key("disabled") {
            self.problem(
                format!("{at}/disabled"),
                "a button has no `disabled` field (Slack buttons cannot be disabled: update the message instead)",
            );
        }
        let allowed = ["type", "text", "action_id", "url", "value", "style", "confirm", "accessibility_label"];
        let others: Map<String, Value> =
            map.iter().filter(|(k, _)| k.as_str() != "disabled").map(|(k, v)| (k.clone(), v.clone())).collect();
        self.keys(&others, at, &allowed);
        self.required_text(map, "text", at, TextRule::plain(75));
        self.optional_str(map, "url", at, 3000);
        self.optional_str(map, "value", at, 2000);
        self.optional_str(map, "accessibility_label", at, 75);
        self.style(map, at);
        self.optional_confirm(map, at);
    }

    fn style(&mut self, map: &Map<String, Value>, at: &str) {
        if let Some(style) = map.get("style") {
            if !matches!(style.as_str(), Some("primary" | "danger")) {
                self.problem(format!("{at}/style"), format!("style must be primary or danger, not {style}"));
            }
        }
    }

    fn optional_confirm(&mut self, map: &Map<String, Value>, at: &str) {
        let Some(confirm) = map.get("confirm") else { return };
        let at = format!("{at}/confirm");
        let Some(dialog) = self.object(confirm, &at) else { return };
        self.keys(dialog, &at, &["title", "text", "confirm", "deny", "style"]);
        self.required_text(dialog, "title", &at, TextRule::plain(100));
        self.required_text(dialog, "text", &at, TextRule::any(300));
        self.required_text(dialog, "confirm", &at, TextRule::plain(30));
        self.required_text(dialog, "deny", &at, TextRule::plain(30));
        self.style(dialog, &at);
    }

    fn options(&mut self, map: &Map<String, Value>, key: &str, at: &str, min: usize, max: usize, rule: TextRule) {
        let path = format!("{at}/{key}");
        let Some(list) = map.get(key).and_then(Value::as_array) else {
            self.problem(&path, format!("missing required field: {key} (an array)"));
            return;
        };
        if list.len() < min {
            self.problem(&path, format!("must provide at least {min} item"));
        }
        if list.len() > max {
            self.problem(&path, format!("no more than {max} items allowed"));
        }
        for (i, option) in list.iter().enumerate() {
            self.option(option, &format!("{path}/{i}"), rule);
        }
    }

    fn option_groups(&mut self, map: &Map<String, Value>, at: &str) {
        let path = format!("{at}/option_groups");
        let Some(groups) = map.get("option_groups").and_then(Value::as_array) else {
            self.problem(&path, "must provide an array");
            return;
        };
        if groups.len() > 100 {
            self.problem(&path, "no more than 100 items allowed");
        }
        for (i, group) in groups.iter().enumerate() {
            let at = format!("{path}/{i}");
            let Some(g) = self.object(group, &at) else { continue };
            self.keys(g, &at, &["label", "options"]);
            self.required_text(g, "label", &at, TextRule::plain(75));
            self.options(g, "options", &at, 1, 100, TextRule::plain(75));
        }
    }

    fn option(&mut self, option: &Value, at: &str, rule: TextRule) {
        let Some(map) = self.object(option, at) else { return };
        self.keys(map, at, &["text", "value", "description", "url"]);
        self.required_text(map, "text", at, rule);
        match map.get("value") {
            Some(v) => self.str_len(v, &format!("{at}/value"), 1, 150),
            None => self.problem(format!("{at}/value"), "missing required field: value"),
        }
        self.optional_text(map, "description", at, TextRule::plain(75));
        self.optional_str(map, "url", at, 3000);
    }
}
