//! Web API arguments checked against Slack's OpenAPI document, and the fake's own answers
//! checked against the document's response schemas.
//!
//! The document (tests/contracts/slack/web-api-subset.json, see its SOURCE) is Swagger 2.0.
//! A method's arguments are its `parameters`: `in: formData` or `in: query`, `type: string`
//! or `boolean`, some `required`; the `token` parameter is the `Authorization: Bearer`
//! header. Slack takes every argument either in the query string or
//! in the body, form-encoded or (for methods whose `consumes` lists it) JSON. Arguments the
//! document types as strings but describes as JSON (`blocks`, `attachments`, `view`) come
//! as JSON text in a form body and as JSON values or JSON text in a JSON body.
//!
//! The fake is stricter than Slack in one way, on purpose: Slack ignores an argument it does
//! not know, so a misspelt `thread_ts` would silently post outside the thread; the fake
//! refuses it.
//!
//! The document predates `files.getUploadURLExternal` and `files.completeUploadExternal`;
//! their parameters are written out by hand below from Slack's reference pages
//! (docs.slack.dev/reference/methods/<name>), and their answers have no schema to check.
//! Where the document is wrong about what Slack requires or answers (`channel` of
//! conversations.history is optional in it; its conversations.replies messages forbid the
//! `blocks` every bot message has), the corrections are listed in `required_by_reference`
//! and `corrected_schema`, each with its reason.

use super::methods::Method;
use jsonschema::{Draft, Validator};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

const SUBSET: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/contracts/slack/web-api-subset.json"));

/// An argument's value as it came: query parameters and form fields are text; a JSON body
/// keeps its JSON types.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    Text(String),
    Json(Value),
}

/// A request's arguments, in the order they came (query string first, then the body).
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub list: Vec<(String, ArgValue)>,
    /// Whether the body was JSON (the document says which methods accept that).
    pub json_body: bool,
}

impl Args {
    fn value(&self, name: &str) -> Option<&ArgValue> {
        self.list.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn has(&self, name: &str) -> bool {
        self.value(name).is_some()
    }

    /// A string argument (a JSON boolean or number is given as its JSON text).
    pub fn str(&self, name: &str) -> Option<String> {
        match self.value(name)? {
            ArgValue::Text(s) => Some(s.clone()),
            ArgValue::Json(Value::String(s)) => Some(s.clone()),
            ArgValue::Json(other) => Some(other.to_string()),
        }
    }

    /// A boolean argument; the checks have refused anything but these spellings.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.value(name)? {
            ArgValue::Text(s) => Some(s == "true" || s == "1"),
            ArgValue::Json(v) => v.as_bool(),
        }
    }

    /// A JSON argument (`blocks`, `view`): its JSON text parsed, or the JSON value itself.
    pub fn json(&self, name: &str) -> Option<Result<Value, String>> {
        match self.value(name)? {
            ArgValue::Text(s) | ArgValue::Json(Value::String(s)) => {
                Some(serde_json::from_str(s).map_err(|e| format!("`{name}` is not valid JSON: {e}")))
            }
            ArgValue::Json(v) => Some(Ok(v.clone())),
        }
    }

    /// The arguments as one JSON object, for the record (JSON arguments parsed when they parse).
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (name, value) in &self.list {
            let v = match (json_shape(name), value) {
                (Some(_), _) => self.json(name).and_then(Result::ok).unwrap_or_else(|| match value {
                    ArgValue::Text(s) => Value::String(s.clone()),
                    ArgValue::Json(v) => v.clone(),
                }),
                (None, ArgValue::Text(s)) => Value::String(s.clone()),
                (None, ArgValue::Json(v)) => v.clone(),
            };
            out.insert(name.clone(), v);
        }
        Value::Object(out)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Array,
    Object,
}

/// The string arguments that carry JSON, and the JSON they must hold.
fn json_shape(name: &str) -> Option<Shape> {
    match name {
        // `files` of files.completeUploadExternal: `[{"id":..,"title":..}]`.
        "blocks" | "attachments" | "files" => Some(Shape::Array),
        "view" => Some(Shape::Object),
        _ => None,
    }
}

/// A parameter's documented type. Query strings and form fields carry every one as text.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    String,
    Boolean,
    /// `limit`, `length`: digits.
    Integer,
    /// `oldest`, `latest` and conversations.replies' `ts`: a Unix time, `1733230000.000100`.
    Number,
}

impl Kind {
    fn of(documented: &Value) -> Kind {
        match documented.as_str() {
            Some("boolean") => Kind::Boolean,
            Some("integer") => Kind::Integer,
            Some("number") => Kind::Number,
            _ => Kind::String,
        }
    }
}

#[derive(Clone, Debug)]
struct Parameter {
    name: String,
    kind: Kind,
    required: bool,
}

impl Parameter {
    fn new(name: &str, kind: Kind, required: bool) -> Self {
        Parameter { name: name.to_string(), kind, required }
    }
}

#[derive(Debug)]
struct Operation {
    consumes: Vec<String>,
    parameters: Vec<Parameter>,
    /// The documented success schema; none for the methods the document lacks.
    success: Option<Validator>,
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

/// The methods the document lacks, as Slack's reference pages describe their arguments.
/// (`apps.connections.open` takes none and is checked where it is served.)
fn hand_written(method: Method) -> Option<Operation> {
    use Kind::{Integer, String};
    let (consumes, parameters) = match method {
        // docs.slack.dev/reference/methods/files.getUploadURLExternal: `filename` and
        // `length` required, `alt_txt` and `snippet_type` optional. That page lists JSON as
        // a content type, but api.slack.com's lists only form encoding, and clients report
        // that Slack answers a JSON body with "missing required field" for arguments it
        // carries: the fake takes form encoding only.
        Method::FilesGetUploadUrlExternal => (
            vec![FORM],
            vec![
                Parameter::new("filename", String, true),
                Parameter::new("length", Integer, true),
                Parameter::new("alt_txt", String, false),
                Parameter::new("snippet_type", String, false),
            ],
        ),
        // docs.slack.dev/reference/methods/files.completeUploadExternal: `files` required
        // (a JSON array of `{id, title?}`); `channel_id`, `channels`, `thread_ts`,
        // `initial_comment` and `blocks` optional; form or JSON. `username`, `icon_url` and
        // `icon_emoji` need the chat:write.customize scope shipgate does not ask for, so the
        // fake refuses them as unknown.
        Method::FilesCompleteUploadExternal => (
            vec![FORM, JSON],
            vec![
                Parameter::new("files", String, true),
                Parameter::new("channel_id", String, false),
                Parameter::new("channels", String, false),
                Parameter::new("thread_ts", String, false),
                Parameter::new("initial_comment", String, false),
                Parameter::new("blocks", String, false),
            ],
        ),
        _ => return None,
    };
    let consumes = consumes.into_iter().map(str::to_string).collect();
    Some(Operation { consumes, parameters, success: None })
}

/// Arguments Slack's reference pages require though the document marks them optional:
/// without them Slack answers `channel_not_found` / `thread_not_found`, which would hide the
/// client's bug behind an answer about state.
fn required_by_reference(method: Method) -> &'static [&'static str] {
    match method {
        Method::ConversationsHistory => &["channel"],
        Method::ConversationsReplies => &["channel", "ts"],
        _ => &[],
    }
}

/// The documented success schema, corrected where Slack answers otherwise.
fn corrected_schema(method: Method, schema: &Value) -> Value {
    let mut schema = schema.clone();
    let cursor = json!({
        "type": "object",
        "properties": {"next_cursor": {"type": "string"}},
        "required": ["next_cursor"],
    });
    match method {
        Method::ConversationsHistory => {
            // The document lists `cursor` as a parameter but forgets the
            // `response_metadata.next_cursor` that answers it; and an empty channel answers
            // `messages: []`, which its `minItems: 1` forbids.
            schema["properties"]["response_metadata"] = cursor;
            if let Some(messages) = schema["properties"]["messages"].as_object_mut() {
                messages.remove("minItems");
            }
        }
        Method::ConversationsReplies => {
            // The document types the messages as a parent and a reply whose properties
            // exclude `blocks`, `bot_id` and `files`, which every bot message carries; each
            // message is checked as the document's message object instead.
            schema["properties"]["response_metadata"] = cursor;
            schema["properties"]["messages"]["items"] = json!({"$ref": "#/definitions/objs_message"});
        }
        _ => {}
    }
    schema
}

fn operations() -> &'static HashMap<Method, Operation> {
    static OPERATIONS: OnceLock<HashMap<Method, Operation>> = OnceLock::new();
    OPERATIONS.get_or_init(|| {
        let doc: Value = serde_json::from_str(SUBSET).expect("the vendored Slack OpenAPI subset is JSON");
        let mut out = HashMap::new();
        for method in Method::ALL {
            if let Some(op) = hand_written(method) {
                out.insert(method, op);
            }
        }
        for method in Method::ALL.into_iter().filter(|m| m.in_document()) {
            let item = &doc["paths"][format!("/{}", method.name())];
            let op = ["post", "get"]
                .iter()
                .find_map(|verb| item.get(*verb))
                .unwrap_or_else(|| panic!("{} is missing from the Slack OpenAPI subset", method.name()));
            let consumes = op["consumes"]
                .as_array()
                .map(|c| c.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            let required = required_by_reference(method);
            let parameters = op["parameters"]
                .as_array()
                .expect("every Slack operation lists its parameters")
                .iter()
                // The token parameter (`in: header`, or `in: query` for usergroups.users.list)
                // is the Authorization header.
                .filter(|p| matches!(p["in"].as_str(), Some("formData" | "query")) && p["name"] != "token")
                .map(|p| {
                    let name = p["name"].as_str().expect("a parameter has a name");
                    Parameter::new(name, Kind::of(&p["type"]), p["required"] == true || required.contains(&name))
                })
                .collect();
            let schema = &op["responses"]["200"]["schema"];
            assert!(schema.is_object(), "{} has no success schema", method.name());
            let root = json!({
                "$schema": "http://json-schema.org/draft-04/schema#",
                "definitions": doc["definitions"],
                "allOf": [corrected_schema(method, schema)],
            });
            let success = jsonschema::options()
                .with_draft(Draft::Draft4)
                .should_validate_formats(true)
                .build(&root)
                .expect("a response schema of the Slack OpenAPI subset compiles");
            out.insert(method, Operation { consumes, parameters, success: Some(success) });
        }
        out
    })
}

/// Every way the arguments break the method's contract, in Slack's wording
/// (`[ERROR] ...`, as `response_metadata.messages` carries it). Empty when they are fine.
pub fn check_arguments(method: Method, args: &Args) -> Vec<String> {
    let mut out = Vec::new();
    let Some(op) = operations().get(&method) else {
        return out;
    };
    if args.json_body && !op.consumes.iter().any(|c| c == "application/json") {
        out.push(format!(
            "[ERROR] {} takes no JSON body (only {}); send the arguments form-encoded",
            method.name(),
            op.consumes.join(", ")
        ));
    }
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &args.list {
        if seen.contains(&name.as_str()) {
            out.push(format!("[ERROR] argument `{name}` given twice"));
            continue;
        }
        seen.push(name);
        if name == "token" {
            out.push("[ERROR] the token belongs in the Authorization header, not in an argument".to_string());
            continue;
        }
        let Some(param) = op.parameters.iter().find(|p| &p.name == name) else {
            out.push(format!("[ERROR] unknown argument `{name}` (not a parameter of {})", method.name()));
            continue;
        };
        if let Some(problem) = type_problem(param, value) {
            out.push(problem);
        }
    }
    for param in op.parameters.iter().filter(|p| p.required) {
        if !args.has(&param.name) {
            out.push(format!("[ERROR] missing required field: {}", param.name));
        }
    }
    out
}

fn type_problem(param: &Parameter, value: &ArgValue) -> Option<String> {
    let name = &param.name;
    match param.kind {
        Kind::Boolean => {
            let fine = match value {
                ArgValue::Text(s) => matches!(s.as_str(), "true" | "false" | "1" | "0"),
                ArgValue::Json(v) => v.is_boolean(),
            };
            return (!fine).then(|| format!("[ERROR] `{name}` must be a boolean, got {}", shown(value)));
        }
        Kind::Integer => {
            let fine = match value {
                ArgValue::Text(s) => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
                ArgValue::Json(v) => v.is_u64(),
            };
            return (!fine).then(|| format!("[ERROR] `{name}` must be an integer, got {}", shown(value)));
        }
        Kind::Number => {
            let fine = match value {
                ArgValue::Text(s) | ArgValue::Json(Value::String(s)) => is_decimal(s),
                ArgValue::Json(v) => v.is_number(),
            };
            return (!fine).then(|| format!("[ERROR] `{name}` must be a number, got {}", shown(value)));
        }
        Kind::String => {}
    }
    let shape = json_shape(name);
    let text = match value {
        ArgValue::Text(s) | ArgValue::Json(Value::String(s)) => s,
        ArgValue::Json(v) => {
            return match (shape, v) {
                (Some(Shape::Array), Value::Array(_)) | (Some(Shape::Object), Value::Object(_)) => None,
                _ => Some(format!("[ERROR] `{name}` must be a string, got {}", shown(value))),
            };
        }
    };
    match shape {
        None => None,
        Some(shape) => match serde_json::from_str::<Value>(text) {
            Err(e) => Some(format!("[ERROR] `{name}` must be JSON text: {e}")),
            Ok(Value::Array(_)) if shape == Shape::Array => None,
            Ok(Value::Object(_)) if shape == Shape::Object => None,
            Ok(_) => Some(format!(
                "[ERROR] `{name}` must be a JSON {}",
                if shape == Shape::Array { "array" } else { "object" }
            )),
        },
    }
}

/// `1733230000`, `1733230000.000100`: what a timestamp argument looks like.
fn is_decimal(s: &str) -> bool {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, "0"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction)
}

fn shown(value: &ArgValue) -> String {
    match value {
        ArgValue::Text(s) => format!("{s:?}"),
        ArgValue::Json(v) => v.to_string(),
    }
}

/// Checks one of the fake's success answers against the method's documented `200` schema
/// (as `corrected_schema` corrects it), so the fake does not drift from what Slack returns.
/// Methods the document lacks pass unchecked.
pub fn validate_response(method: Method, body: &Value) -> Result<(), Vec<String>> {
    let Some(success) = operations().get(&method).and_then(|op| op.success.as_ref()) else {
        return Ok(());
    };
    let problems: Vec<String> =
        success.iter_errors(body).map(|e| format!("{}: {}", e.instance_path().as_str(), e.masked())).collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
