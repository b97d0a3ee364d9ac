//! The shape of a playbook file: which keys exist, which are required, what type each
//! holds.
//!
//! serde stops at the first mismatch and does not say which key it was at, so the file
//! is first read as a plain TOML tree and walked here against a description of the
//! model, collecting every problem with its key path. The description must match the
//! serde attributes on the types in `mod.rs`; a test checks the two against each other.

use super::{Evidence, FailureAction, PlaybookErrors, PlaybookProblem};
use toml::{Table, Value};

/// What a key holds.
enum Kind {
    Text,
    Flag,
    /// A whole number that fits the model's `u32`.
    Count,
    Texts,
    /// A string naming one of a fixed set (an enum in the model).
    Choice(&'static Choice),
    Table(&'static [Field]),
    /// An array of tables: `[[steps]]` sections or `items = [{ ... }]`.
    Tables(&'static [Field]),
}

struct Choice {
    /// What the value names, for messages: `unknown failure action "rewind"`.
    noun: &'static str,
    /// The accepted names, taken from the model's enum so the two cannot drift.
    names: fn() -> Vec<&'static str>,
}

struct Field {
    name: &'static str,
    kind: Kind,
    /// Whether the model has no `#[serde(default)]` for it.
    required: bool,
}

const fn required(name: &'static str, kind: Kind) -> Field {
    Field { name, kind, required: true }
}

const fn optional(name: &'static str, kind: Kind) -> Field {
    Field { name, kind, required: false }
}

fn evidence_names() -> Vec<&'static str> {
    Evidence::ALL.iter().map(|e| e.as_str()).collect()
}

fn failure_action_names() -> Vec<&'static str> {
    FailureAction::ALL.iter().map(|a| a.as_str()).collect()
}

const EVIDENCE: Choice = Choice { noun: "evidence", names: evidence_names };
const FAILURE_ACTION: Choice = Choice { noun: "failure action", names: failure_action_names };

const ITEM: &[Field] = &[required("id", Kind::Text), required("text", Kind::Text)];

const GATE: &[Field] = &[
    optional("text", Kind::Text),
    optional("roles", Kind::Texts),
    optional("approvals", Kind::Count),
    optional("starter_may_approve", Kind::Flag),
];

const WATCH_WINDOW: &[Field] = &[required("min", Kind::Count), required("max", Kind::Count)];

const FAILURE_PATH: &[Field] = &[
    required("id", Kind::Text),
    required("label", Kind::Text),
    required("action", Kind::Choice(&FAILURE_ACTION)),
    optional("to", Kind::Text),
    optional("follow_up", Kind::Text),
    optional("note_required", Kind::Flag),
    optional("roles", Kind::Texts),
];

const STEP: &[Field] = &[
    required("id", Kind::Text),
    required("title", Kind::Text),
    optional("summary", Kind::Text),
    optional("guidance", Kind::Texts),
    optional("items", Kind::Tables(ITEM)),
    optional("tick_roles", Kind::Texts),
    optional("requires", Kind::Choice(&EVIDENCE)),
    optional("watch_minutes", Kind::Table(WATCH_WINDOW)),
    optional("stall_after_minutes", Kind::Count),
    required("gate", Kind::Table(GATE)),
    optional("failure_paths", Kind::Tables(FAILURE_PATH)),
];

const ROLLBACK: &[Field] = &[
    required("title", Kind::Text),
    optional("summary", Kind::Text),
    required("items", Kind::Tables(ITEM)),
    optional("tick_roles", Kind::Texts),
    required("gate", Kind::Table(GATE)),
    optional("follow_up", Kind::Text),
];

/// The top level of a playbook file.
const PLAYBOOK: &[Field] = &[
    required("name", Kind::Text),
    required("title", Kind::Text),
    optional("description", Kind::Text),
    optional("constraints", Kind::Texts),
    optional("start_roles", Kind::Texts),
    required("steps", Kind::Tables(STEP)),
    required("rollback", Kind::Table(ROLLBACK)),
];

/// Reads `text` as TOML and checks its shape. A syntax error is the only problem
/// reported for a file that has one: past it, the parser cannot tell what was meant.
pub(super) fn parse(text: &str) -> Result<Value, PlaybookErrors> {
    let table: Table = toml::from_str(text).map_err(|e| PlaybookErrors { problems: vec![syntax_problem(text, &e)] })?;
    let mut problems = Vec::new();
    check_table(&table, PLAYBOOK, "", &mut problems);
    if problems.is_empty() {
        Ok(Value::Table(table))
    } else {
        Err(PlaybookErrors { problems })
    }
}

fn syntax_problem(text: &str, error: &toml::de::Error) -> PlaybookProblem {
    let key = match error.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}")
        }
        None => "(file)".to_owned(),
    };
    // toml's messages can run over several lines ("invalid inline table\nexpected `}`");
    // a problem is printed as one line.
    let message: Vec<&str> = error.message().lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    PlaybookProblem { key, message: format!("invalid TOML: {}", message.join("; ")) }
}

/// 1-based line and column (in characters, as editors count them) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before: Vec<char> = text.char_indices().take_while(|(i, _)| *i < offset).map(|(_, c)| c).collect();
    let line = 1 + before.iter().filter(|c| **c == '\n').count();
    let column = 1 + before.iter().rev().take_while(|c| **c != '\n').count();
    (line, column)
}

/// Checks every key of `table` against `fields`. The parsed table does not keep the
/// file's order, so problems follow the model's order, which the example file uses too:
/// plain keys first, then keys the model lacks, then sub-tables, the way a TOML file
/// writes a table's keys before its `[sub.table]` sections.
fn check_table(table: &Table, fields: &[Field], path: &str, out: &mut Vec<PlaybookProblem>) {
    let (tables, plain): (Vec<&Field>, Vec<&Field>) =
        fields.iter().partition(|f| matches!(f.kind, Kind::Table(_) | Kind::Tables(_)));
    for field in plain {
        check_field(table, field, path, out);
    }
    for name in table.keys() {
        if !fields.iter().any(|f| f.name == name) {
            out.push(problem(join(path, name), unknown_key(name, fields)));
        }
    }
    for field in tables {
        check_field(table, field, path, out);
    }
}

fn check_field(table: &Table, field: &Field, path: &str, out: &mut Vec<PlaybookProblem>) {
    let key = join(path, field.name);
    match table.get(field.name) {
        Some(value) => check_value(value, &field.kind, &key, out),
        None if field.required => {
            let message = format!("missing required key; expected {}", expected(&field.kind, &key));
            out.push(problem(key, message));
        }
        None => {}
    }
}

fn check_value(value: &Value, kind: &Kind, key: &str, out: &mut Vec<PlaybookProblem>) {
    match (kind, value) {
        (Kind::Text, Value::String(_)) | (Kind::Flag, Value::Boolean(_)) => {}
        (Kind::Count, Value::Integer(n)) => {
            if u32::try_from(*n).is_err() {
                out.push(problem(key, format!("expected a whole number from 0 to {}, found {n}", u32::MAX)));
            }
        }
        (Kind::Texts, Value::Array(values)) => {
            for (i, value) in values.iter().enumerate() {
                if !value.is_str() {
                    out.push(problem(format!("{key}[{i}]"), format!("expected a string, found {}", describe(value))));
                }
            }
        }
        (Kind::Choice(choice), Value::String(name)) => {
            let names = (choice.names)();
            if !names.contains(&name.as_str()) {
                out.push(problem(
                    key,
                    format!("unknown {} \"{name}\"; expected one of {}", choice.noun, names.join(", ")),
                ));
            }
        }
        (Kind::Table(fields), Value::Table(table)) => check_table(table, fields, key, out),
        (Kind::Tables(fields), Value::Array(values)) => {
            for (i, value) in values.iter().enumerate() {
                let key = format!("{key}[{i}]");
                match value {
                    Value::Table(table) => check_table(table, fields, &key, out),
                    other => out.push(problem(key, format!("expected a table, found {}", describe(other)))),
                }
            }
        }
        (kind, value) => out.push(problem(key, format!("expected {}, found {}", expected(kind, key), describe(value)))),
    }
}

fn problem(key: impl Into<String>, message: impl Into<String>) -> PlaybookProblem {
    PlaybookProblem { key: key.into(), message: message.into() }
}

/// `path.name`, quoting names TOML would need quoted, so the key can be found in the file.
pub(super) fn join(path: &str, name: &str) -> String {
    let bare = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let name = if bare { name.to_owned() } else { format!("{name:?}") };
    if path.is_empty() {
        name
    } else {
        format!("{path}.{name}")
    }
}

/// What a key of `kind` should hold, with the TOML that writes a table where it helps.
fn expected(kind: &Kind, key: &str) -> String {
    match kind {
        Kind::Text => "a string".into(),
        Kind::Flag => "true or false".into(),
        Kind::Count => "a whole number (0 or more)".into(),
        Kind::Texts => "an array of strings".into(),
        Kind::Choice(choice) => format!("one of {}", (choice.names)().join(", ")),
        Kind::Table(_) => format!("a table ([{}])", header(key)),
        Kind::Tables(_) => format!("an array of tables ([[{}]])", header(key)),
    }
}

/// The section header for a key path: `steps[2].gate` is written `[steps.gate]` under
/// the third `[[steps]]`.
fn header(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut in_index = false;
    for c in key.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            c if !in_index => out.push(c),
            _ => {}
        }
    }
    out
}

fn unknown_key(name: &str, fields: &[Field]) -> String {
    let allowed: Vec<&str> = fields.iter().map(|f| f.name).collect();
    // A near miss is most likely a typo; naming the intended key saves a trip to the
    // docs. The allowance grows with the name so that short keys (`to`, `id`) are not
    // "corrected" into each other.
    let allowance = (name.chars().count() / 3).max(1);
    let suggestion = allowed
        .iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= allowance)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| format!(" (did you mean `{candidate}`?)"))
        .unwrap_or_default();
    format!("unknown key `{name}`{suggestion}; expected one of {}", allowed.join(", "))
}

/// Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`,
/// counting characters: the optimal string alignment distance. Swaps count once because
/// `titel` for `title` is one slip of the fingers.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between the first i characters of a and the first j of b.
    let mut d: Vec<Vec<usize>> = (0..=a.len())
        .map(|i| {
            (0..=b.len())
                .map(|j| {
                    if i == 0 {
                        j
                    } else if j == 0 {
                        i
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitute = d[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitute.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// A value's type, with the value itself when it is short enough to help.
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) if s.chars().count() <= 40 => format!("a string {s:?}"),
        Value::String(_) => "a string".into(),
        Value::Integer(n) => format!("the number {n}"),
        Value::Float(x) => format!("the number {x}"),
        Value::Boolean(b) => format!("{b}"),
        Value::Datetime(d) => format!("the date-time {d}"),
        Value::Array(_) => "an array".into(),
        Value::Table(_) => "a table".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::playbook::{Playbook, SHIP_TO_PRODUCTION_TOML};
    use std::collections::BTreeSet;

    fn problems(text: &str) -> Vec<PlaybookProblem> {
        match Playbook::from_toml(text) {
            Ok(_) => panic!("expected problems, the file was accepted:\n{text}"),
            Err(e) => e.problems,
        }
    }

    /// The built-in file with `from` replaced by `to`; `from` must occur exactly once so
    /// the edit lands where the test means it to.
    fn edited(from: &str, to: &str) -> String {
        assert_eq!(
            SHIP_TO_PRODUCTION_TOML.matches(from).count(),
            1,
            "{from:?} must occur once in the built-in playbook"
        );
        SHIP_TO_PRODUCTION_TOML.replacen(from, to, 1)
    }

    fn find<'a>(problems: &'a [PlaybookProblem], key: &str) -> &'a PlaybookProblem {
        problems
            .iter()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("no problem at {key}; got:\n{}", PlaybookErrors { problems: problems.to_vec() }))
    }

    #[test]
    fn a_syntax_error_reports_its_line_and_column() {
        let text = "name = \"x\"\ntitle = \"X\"\nsteps = [\n  { id = \"a\" title = \"A\" },\n]\n";
        let problems = problems(text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "line 4, column 14");
        assert!(!problems[0].message.contains('\n'), "{}", problems[0].message);
        assert!(problems[0].message.starts_with("invalid TOML: "), "{}", problems[0].message);
    }

    #[test]
    fn a_duplicate_key_is_a_syntax_error_at_its_line() {
        let text = edited("title = \"Ship to Production\"\n", "title = \"Ship to Production\"\ntitle = \"Again\"\n");
        let problems = problems(&text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let line = 1 + text[..text.find("title = \"Again\"").unwrap_or_default()].matches('\n').count();
        assert!(problems[0].key.starts_with(&format!("line {line}, column ")), "{problems:?}");
        assert!(problems[0].message.contains("duplicate key"), "{problems:?}");
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(line_column("a = \"—\" x", 10), (1, 9));
        assert_eq!(line_column("a\nbc", 3), (2, 2));
        assert_eq!(line_column("", 0), (1, 1));
    }

    #[test]
    fn an_unknown_key_lists_the_allowed_keys_and_suggests_the_near_miss() {
        let problems =
            problems(&edited("id = \"build-artifact\"\n", "id = \"build-artifact\"\nsumary = \"Build it.\"\n"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "steps[2].sumary");
        assert_eq!(
            problems[0].message,
            "unknown key `sumary` (did you mean `summary`?); expected one of id, title, summary, guidance, items, \
             tick_roles, requires, watch_minutes, stall_after_minutes, gate, failure_paths"
        );
    }

    #[test]
    fn an_unknown_key_far_from_every_known_one_gets_no_suggestion() {
        let problems = problems(&edited("[rollback.gate]\n", "[rollback.gate]\nquorum = 2\n"));
        assert_eq!(
            find(&problems, "rollback.gate.quorum").message,
            "unknown key `quorum`; expected one of text, roles, approvals, starter_may_approve"
        );
        // Two edits turn `to` into `id`, but in a two-letter key that is a different word.
        let problems = self::problems(&edited("{ id = \"prs-merged\",", "{ id = \"prs-merged\", to = \"x\","));
        assert_eq!(find(&problems, "steps[0].items[0].to").message, "unknown key `to`; expected one of id, text");
        // A swap of two neighbouring letters is one slip.
        let problems = self::problems(&edited("title = \"Deploy to Staging\"", "titel = \"Deploy to Staging\""));
        assert!(
            find(&problems, "steps[3].titel").message.starts_with("unknown key `titel` (did you mean `title`?)"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_key_that_needs_quotes_is_quoted_in_the_path() {
        let problems = problems(&edited("[rollback.gate]\n", "[rollback.gate]\n\"min approvals\" = 2\n"));
        find(&problems, "rollback.gate.\"min approvals\"");
    }

    #[test]
    fn missing_required_keys_are_reported_with_what_was_expected() {
        let problems = problems(&edited("[steps.gate]\napprovals = 0\n\n[[steps.failure_paths]]\nid = \"build-failed\"\nlabel = \"Build failed: fix and restart from Step 2\"\n", "[[steps.failure_paths]]\nid = \"build-failed\"\n"));
        assert_eq!(find(&problems, "steps[2].gate").message, "missing required key; expected a table ([steps.gate])");
        assert_eq!(
            find(&problems, "steps[2].failure_paths[0].label").message,
            "missing required key; expected a string"
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn a_file_without_steps_or_rollback_names_both() {
        let problems = problems("name = \"x\"\ntitle = \"X\"\n");
        assert_eq!(find(&problems, "steps").message, "missing required key; expected an array of tables ([[steps]])");
        assert_eq!(find(&problems, "rollback").message, "missing required key; expected a table ([rollback])");
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn an_unknown_failure_action_lists_the_actions() {
        let problems = problems(&edited(
            "action = \"retry\"\nfollow_up = \"Document",
            "action = \"rewind\"\nfollow_up = \"Document",
        ));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "steps[1].failure_paths[1].action");
        assert_eq!(
            problems[0].message,
            "unknown failure action \"rewind\"; expected one of restart, retry, rollback, abort"
        );
    }

    #[test]
    fn an_unknown_evidence_lists_the_kinds() {
        let problems = problems(&edited("requires = \"artifact\"", "requires = \"build\""));
        assert_eq!(
            find(&problems, "steps[2].requires").message,
            "unknown evidence \"build\"; expected one of none, tests-passed, artifact, staging-deploy, smoke-test, \
             production-deploy, watch"
        );
    }

    #[test]
    fn wrong_types_say_what_was_found_and_what_was_expected() {
        let text = edited(
            "approvals = 0\n\n[[steps.failure_paths]]\nid = \"build-failed\"",
            "approvals = \"none\"\n\n[[steps.failure_paths]]\nid = \"build-failed\"",
        )
        .replacen("note_required = true", "note_required = \"yes\"", 1)
        .replacen("start_roles = [\"release-manager\", \"engineer\"]", "start_roles = \"engineer\"", 1)
        .replacen("tick_roles = [\"release-manager\", \"engineer\"]", "tick_roles = [\"release-manager\", 7]", 1)
        .replacen("watch_minutes = { min = 15, max = 30 }", "watch_minutes = 15", 1);
        let problems = problems(&text);
        assert_eq!(
            find(&problems, "steps[2].gate.approvals").message,
            "expected a whole number (0 or more), found a string \"none\""
        );
        assert_eq!(
            find(&problems, "steps[0].failure_paths[0].note_required").message,
            "expected true or false, found a string \"yes\""
        );
        assert_eq!(find(&problems, "start_roles").message, "expected an array of strings, found a string \"engineer\"");
        assert_eq!(find(&problems, "steps[0].tick_roles[1]").message, "expected a string, found the number 7");
        assert_eq!(
            find(&problems, "steps[6].watch_minutes").message,
            "expected a table ([steps.watch_minutes]), found the number 15"
        );
        assert_eq!(problems.len(), 5, "{problems:?}");
    }

    #[test]
    fn numbers_must_fit_the_model() {
        let problems = problems(&edited(
            "watch_minutes = { min = 15, max = 30 }",
            "watch_minutes = { min = -5, max = 5000000000 }",
        ));
        assert_eq!(
            find(&problems, "steps[6].watch_minutes.min").message,
            "expected a whole number from 0 to 4294967295, found -5"
        );
        assert_eq!(
            find(&problems, "steps[6].watch_minutes.max").message,
            "expected a whole number from 0 to 4294967295, found 5000000000"
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn steps_must_be_tables() {
        let problems = problems("name = \"x\"\ntitle = \"X\"\nsteps = [\"pre-flight\", 3]\n[rollback]\ntitle = \"R\"\nitems = []\n[rollback.gate]\n");
        assert_eq!(find(&problems, "steps[0]").message, "expected a table, found a string \"pre-flight\"");
        assert_eq!(find(&problems, "steps[1]").message, "expected a table, found the number 3");
    }

    #[test]
    fn every_shape_problem_in_a_file_is_reported_in_playbook_order() {
        let text = edited("name = \"ship-to-production\"", "nam = \"ship-to-production\"")
            .replacen("id = \"prs-merged\"", "idd = \"prs-merged\"", 1)
            .replacen("requires = \"tests-passed\"", "requires = 3", 1)
            .replacen("action = \"restart\"\nto = \"test-suite\"", "action = \"rewind\"\nto = \"test-suite\"", 1)
            .replacen("[rollback.gate]\n", "[rollback.gate]\nquorum = 1\n", 1);
        let problems = problems(&text);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "name",
                "nam",
                "steps[0].items[0].id",
                "steps[0].items[0].idd",
                "steps[1].requires",
                "steps[2].failure_paths[0].action",
                "rollback.gate.quorum",
            ]
        );
    }

    /// Every key path the schema knows (array indexes left out), with whether it is required.
    fn schema_keys(fields: &[Field], path: &str, out: &mut Vec<(String, bool)>) {
        for field in fields {
            let key = join(path, field.name);
            out.push((key.clone(), field.required));
            if let Kind::Table(inner) | Kind::Tables(inner) = field.kind {
                schema_keys(inner, &key, out);
            }
        }
    }

    /// Every key path present in `value` (array indexes left out).
    fn value_keys(value: &Value, path: &str, out: &mut BTreeSet<String>) {
        match value {
            Value::Table(table) => {
                for (name, value) in table {
                    let key = join(path, name);
                    out.insert(key.clone());
                    value_keys(value, &key, out);
                }
            }
            Value::Array(values) => values.iter().for_each(|v| value_keys(v, path, out)),
            _ => {}
        }
    }

    /// Removes the first occurrence of the key at `segments` (array indexes left out).
    fn remove_key(value: &mut Value, segments: &[&str]) -> bool {
        match (value, segments) {
            (Value::Table(table), [last]) => table.remove(*last).is_some(),
            (Value::Table(table), [first, rest @ ..]) => table.get_mut(*first).is_some_and(|v| remove_key(v, rest)),
            (Value::Array(values), _) => values.iter_mut().any(|v| remove_key(v, segments)),
            _ => false,
        }
    }

    /// The built-in playbook with every optional key set somewhere.
    fn full_playbook() -> Value {
        let mut playbook = Playbook::ship_to_production();
        playbook.steps[0].failure_paths[0].roles = vec!["release-manager".into()];
        Value::try_from(&playbook).unwrap_or_else(|e| panic!("{e}"))
    }

    // The schema restates the model's serde attributes; these three tests catch the two
    // drifting apart: a key one has and the other lacks, a type, or a default.

    #[test]
    fn the_schema_accepts_everything_the_model_writes() {
        let value = full_playbook();
        let mut problems = Vec::new();
        check_value(&value, &Kind::Table(PLAYBOOK), "", &mut problems);
        assert_eq!(problems, []);
    }

    #[test]
    fn the_schema_knows_exactly_the_models_keys() {
        let mut known = Vec::new();
        schema_keys(PLAYBOOK, "", &mut known);
        let known: BTreeSet<String> = known.into_iter().map(|(key, _)| key).collect();
        let mut written = BTreeSet::new();
        value_keys(&full_playbook(), "", &mut written);
        assert_eq!(known, written);
    }

    #[test]
    fn the_schema_requires_exactly_what_the_model_requires() {
        let mut known = Vec::new();
        schema_keys(PLAYBOOK, "", &mut known);
        for (key, required) in known {
            let mut value = full_playbook();
            let segments: Vec<&str> = key.split('.').collect();
            assert!(remove_key(&mut value, &segments), "{key} not found");
            let serde_rejects = value.try_into::<Playbook>().is_err();
            assert_eq!(serde_rejects, required, "{key}: schema says required = {required}");
        }
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("sumary", "summary"), 1);
        assert_eq!(edit_distance("titel", "title"), 1);
        assert_eq!(edit_distance("to", "id"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("gate", "gate"), 0);
    }
}
