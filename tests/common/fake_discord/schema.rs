//! Request (and response) bodies checked against Discord's OpenAPI document, plus the
//! documented limits the document does not express.
//!
//! The document is the vendored subset in tests/contracts/discord (see its SOURCE file).
//! Each body schema is compiled as JSON Schema 2020-12 (OpenAPI 3.1's dialect) in a root
//! that carries the document's `components`, so `#/components/schemas/...` resolves.
//!
//! How the document expresses things: snowflakes are `SnowflakeType`, a string with
//! pattern `^(0|[1-9][0-9]*)$`; nullable fields are `type: [T, "null"]` or
//! `oneOf: [{type: null}, {$ref}]`; enums are `oneOf` of `const`s; component and callback
//! unions are `oneOf`/`anyOf` discriminated by an `enum` on `type`. Objects do not set
//! `additionalProperties: false`, so unknown fields pass, as Discord ignores them.

use super::routes::Route;
use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

const SUBSET: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/contracts/discord/openapi-subset.json"));

/// Message flag IS_COMPONENTS_V2: top-level components may then be other than action rows.
const IS_COMPONENTS_V2: u64 = 1 << 15;

/// One thing wrong with a body, at a JSON pointer into it.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// JSON pointer, `""` for the body itself.
    pub path: String,
    /// Discord's per-field error code, e.g. `BASE_TYPE_MAX_LENGTH`.
    pub code: &'static str,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "(body)" } else { &self.path };
        write!(f, "{path}: {} [{}]", self.message, self.code)
    }
}

fn problem(path: impl Into<String>, code: &'static str, message: impl Into<String>) -> Problem {
    Problem { path: path.into(), code, message: message.into() }
}

struct Schemas {
    doc: Value,
    requests: HashMap<Route, Validator>,
    /// Compiled on first use: only the fake's own tests check responses.
    responses: Mutex<HashMap<(Route, u16), Arc<Validator>>>,
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let doc: Value = serde_json::from_str(SUBSET).expect("the vendored OpenAPI subset is JSON");
        let mut requests = HashMap::new();
        for route in Route::ALL {
            let op = &doc["paths"][route.template()][route.method()];
            assert!(op.is_object(), "{} {} is missing from the OpenAPI subset", route.method(), route.template());
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            if !schema.is_null() {
                requests.insert(route, compile(&doc, schema));
            }
        }
        Schemas { doc, requests, responses: Mutex::new(HashMap::new()) }
    })
}

fn compile(doc: &Value, schema: &Value) -> Validator {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    });
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        // `uri` and `date-time` are checked; OpenAPI's `int32`, `int64`, `double` and
        // Discord's `snowflake`, `nonce` are unknown formats and only annotate (the
        // snowflake pattern and the nonce maxLength still apply).
        .should_validate_formats(true)
        .build(&root)
        .expect("a schema of the OpenAPI subset compiles")
}

/// Checks a request body against its operation's schema and Discord's documented limits.
pub fn validate_request(route: Route, body: &Value) -> Result<(), Vec<Problem>> {
    let Some(validator) = schemas().requests.get(&route) else {
        return Ok(());
    };
    let mut problems = schema_problems(validator, body);
    // Where the schema and the documentation state the same limit, report it once.
    for extra in documented_limits(route, body) {
        if !problems.iter().any(|p| p.path == extra.path && p.code == extra.code) {
            problems.push(extra);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Checks one of the fake's own answers against the document's response schema for
/// `status`, so the fake does not drift from what Discord returns.
pub fn validate_response(route: Route, status: u16, body: &Value) -> Result<(), Vec<Problem>> {
    let all = schemas();
    let validator = {
        let mut cache = all.responses.lock().expect("response schema cache lock");
        match cache.get(&(route, status)) {
            Some(v) => Arc::clone(v),
            None => {
                let mut response = &all.doc["paths"][route.template()][route.method()]["responses"][status.to_string()];
                if let Some(name) = response["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/responses/")) {
                    response = &all.doc["components"]["responses"][name];
                }
                let schema = &response["content"]["application/json"]["schema"];
                assert!(!schema.is_null(), "{route:?} has no JSON response for status {status}");
                let v = Arc::new(compile(&all.doc, schema));
                cache.insert((route, status), Arc::clone(&v));
                v
            }
        }
    };
    let problems = schema_problems(&validator, body);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The interaction-callback schema and limits, for answers sent in an HTTP response.
pub fn validate_interaction_response(body: &Value) -> Result<(), Vec<String>> {
    validate_request(Route::InteractionCallback, body).map_err(|ps| ps.iter().map(Problem::to_string).collect())
}

fn schema_problems(validator: &Validator, body: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    for error in validator.iter_errors(body) {
        flatten(&error, &mut out);
    }
    // A value of the wrong JSON type also misses the enum or format of its field; the
    // type error says it all.
    let mistyped: Vec<String> = out.iter().filter(|p| p.code == "BASE_TYPE_BAD_TYPE").map(|p| p.path.clone()).collect();
    out.retain(|p| p.code == "BASE_TYPE_BAD_TYPE" || !mistyped.contains(&p.path));
    out.dedup();
    out
}

/// A failed `oneOf`/`anyOf` says only "matches none". When every branch but one failed on
/// its discriminator (`type`, or the JSON type itself), the caller meant that branch: report
/// its errors, which point at the actual field.
fn flatten(error: &ValidationError<'_>, out: &mut Vec<Problem>) {
    let path = error.instance_path().as_str().to_string();
    let context = match error.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => context,
        _ => {
            out.push(describe(error));
            return;
        }
    };
    let meant: Vec<&Vec<ValidationError<'static>>> =
        context.iter().filter(|branch| !branch.iter().any(|e| misses_discriminator(e, &path))).collect();
    if let [branch] = meant.as_slice() {
        for e in branch.iter() {
            flatten(e, out);
        }
        return;
    }
    // Every branch is a `const` on the value itself: an enum written as oneOf.
    let consts: Option<Vec<String>> = context
        .iter()
        .map(|branch| match branch.as_slice() {
            [e] if e.instance_path().as_str() == path => match e.kind() {
                ValidationErrorKind::Constant { expected_value } => Some(expected_value.to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    if let Some(values) = consts.filter(|v| !v.is_empty()) {
        out.push(problem(path, "BASE_TYPE_CHOICES", format!("Value must be one of ({}).", values.join(", "))));
        return;
    }
    let found = error.instance().get("type").map(Value::to_string);
    let message = match found {
        Some(t) => format!("Value of field \"type\" ({t}) matches none of the allowed kinds here."),
        None => "Value matches none of the allowed shapes here.".to_string(),
    };
    out.push(problem(path, "UNION_TYPE_CHOICES", message));
}

fn misses_discriminator(error: &ValidationError<'_>, union_path: &str) -> bool {
    let at = error.instance_path().as_str();
    match error.kind() {
        ValidationErrorKind::Type { .. } => at == union_path,
        ValidationErrorKind::Required { property } => at == union_path && property == "type",
        ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => {
            at.strip_prefix(union_path) == Some("/type")
        }
        _ => false,
    }
}

/// Discord's wording and codes for the common cases; the validator's own text otherwise.
fn describe(error: &ValidationError<'_>) -> Problem {
    let path = error.instance_path().as_str().to_string();
    match error.kind() {
        ValidationErrorKind::MaxLength { limit } | ValidationErrorKind::MaxItems { limit } => {
            problem(path, "BASE_TYPE_MAX_LENGTH", format!("Must be {limit} or fewer in length."))
        }
        ValidationErrorKind::MinLength { limit } | ValidationErrorKind::MinItems { limit } => {
            problem(path, "BASE_TYPE_MIN_LENGTH", format!("Must be {limit} or more in length."))
        }
        ValidationErrorKind::Required { property } => {
            let field = property.as_str().map_or_else(|| property.to_string(), str::to_string);
            problem(format!("{path}/{field}"), "BASE_TYPE_REQUIRED", "This field is required")
        }
        ValidationErrorKind::Maximum { limit } => {
            problem(path, "NUMBER_TYPE_MAX", format!("int value should be less than or equal to {limit}."))
        }
        ValidationErrorKind::Minimum { limit } => {
            problem(path, "NUMBER_TYPE_MIN", format!("int value should be greater than or equal to {limit}."))
        }
        ValidationErrorKind::Enum { options } => {
            problem(path, "BASE_TYPE_CHOICES", format!("Value must be one of {options}."))
        }
        ValidationErrorKind::Constant { expected_value } => {
            problem(path, "BASE_TYPE_CHOICES", format!("Value must be one of ({expected_value})."))
        }
        ValidationErrorKind::Type { .. } => {
            problem(path, "BASE_TYPE_BAD_TYPE", format!("Value has the wrong type: {}", error.masked()))
        }
        ValidationErrorKind::Pattern { .. } => {
            problem(path, "BASE_TYPE_BAD_FORMAT", format!("Value \"{}\" has a bad format.", error.instance()))
        }
        ValidationErrorKind::Format { format } => {
            problem(path, "BASE_TYPE_BAD_FORMAT", format!("Value is not a valid {format}."))
        }
        _ => problem(path, "BASE_TYPE_INVALID", error.masked().to_string()),
    }
}

/// Limits from Discord's documentation that the OpenAPI document states more loosely:
///
/// - `content` is at most 2000 characters; the document allows 4000 on message create and
///   edit (2000 on webhooks and interaction responses, which agree).
/// - a classic message (no IS_COMPONENTS_V2 flag) holds at most 5 top-level components,
///   all action rows; the document allows 40 of any component kind (the Components V2 limit).
/// - a modal holds at most 5 top-level components; the document allows 40.
/// - `custom_id`s are unique within a message; the document cannot say so.
/// - the embeds of a message total at most 6000 characters; the document cannot say so.
///
/// Where the document already agrees with the documentation (buttons per row <= 5,
/// `custom_id` 1-100, button `label` <= 80, string `nonce` <= 25, embeds <= 10, embed
/// title/description/field limits), the schema check covers it.
fn documented_limits(route: Route, body: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    match route {
        Route::CreateMessage | Route::EditMessage | Route::ExecuteWebhook | Route::EditOriginalResponse => {
            message_limits(body, "", &mut out);
        }
        Route::InteractionCallback => match body.get("type").and_then(Value::as_u64) {
            Some(4 | 7) => message_limits(&body["data"], "/data", &mut out),
            Some(9) => {
                if let Some(components) = body["data"]["components"].as_array() {
                    if components.len() > 5 {
                        out.push(problem("/data/components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."));
                    }
                    unique_custom_ids(components, "/data/components", &mut out);
                }
            }
            _ => {}
        },
        _ => {}
    }
    out
}

fn message_limits(message: &Value, at: &str, out: &mut Vec<Problem>) {
    if let Some(content) = message.get("content").and_then(Value::as_str) {
        if content.chars().count() > 2000 {
            out.push(problem(format!("{at}/content"), "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."));
        }
    }
    let flags = message.get("flags").and_then(Value::as_u64).unwrap_or(0);
    if let Some(components) = message.get("components").and_then(Value::as_array) {
        let path = format!("{at}/components");
        if flags & IS_COMPONENTS_V2 == 0 {
            if components.len() > 5 {
                out.push(problem(path.clone(), "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."));
            }
            for (i, component) in components.iter().enumerate() {
                let kind = component.get("type").and_then(Value::as_u64);
                if kind.is_some() && kind != Some(1) {
                    out.push(problem(
                        format!("{path}/{i}/type"),
                        "UNION_TYPE_CHOICES",
                        "Only action rows (type 1) are allowed at the top level without the IS_COMPONENTS_V2 flag.",
                    ));
                }
            }
        }
        unique_custom_ids(components, &path, out);
    }
    if let Some(embeds) = message.get("embeds").and_then(Value::as_array) {
        let total: usize = embeds.iter().map(embed_length).sum();
        if total > 6000 {
            out.push(problem(
                format!("{at}/embeds"),
                "MAX_EMBED_SIZE_EXCEEDED",
                format!("Embed size exceeds maximum size of 6000 ({total})."),
            ));
        }
    }
}

fn unique_custom_ids(components: &[Value], path: &str, out: &mut Vec<Problem>) {
    fn walk(value: &Value, path: String, seen: &mut HashMap<String, String>, out: &mut Vec<Problem>) {
        match value {
            Value::Object(map) => {
                if let Some(id) = map.get("custom_id").and_then(Value::as_str) {
                    if let Some(first) = seen.insert(id.to_string(), path.clone()) {
                        out.push(problem(
                            format!("{path}/custom_id"),
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            format!("Component custom id cannot be duplicated (also at {first})."),
                        ));
                    }
                }
                for (key, child) in map {
                    if matches!(child, Value::Array(_) | Value::Object(_)) {
                        walk(child, format!("{path}/{key}"), seen, out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{path}/{i}"), seen, out);
                }
            }
            _ => {}
        }
    }
    let mut seen = HashMap::new();
    for (i, component) in components.iter().enumerate() {
        walk(component, format!("{path}/{i}"), &mut seen, out);
    }
}

/// The characters Discord counts towards the 6000 total of a message's embeds.
fn embed_length(embed: &Value) -> usize {
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    let fields: usize =
        embed["fields"].as_array().map_or(0, |fs| fs.iter().map(|f| len(&f["name"]) + len(&f["value"])).sum());
    len(&embed["title"])
        + len(&embed["description"])
        + len(&embed["footer"]["text"])
        + len(&embed["author"]["name"])
        + fields
}

/// Discord's nested `errors` object for a 50035 answer:
/// `{"content": {"_errors": [{"code": .., "message": ..}]}}`, array indices as keys.
pub fn discord_errors(problems: &[Problem]) -> Value {
    let mut root = Map::new();
    for p in problems {
        let mut node = &mut root;
        for segment in p.path.split('/').skip(1) {
            let key = segment.replace("~1", "/").replace("~0", "~");
            node = node
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("error nodes are objects");
        }
        let errors = node.entry("_errors").or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = errors {
            list.push(json!({"code": p.code, "message": p.message}));
        }
    }
    Value::Object(root)
}
