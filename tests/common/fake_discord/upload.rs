//! Message uploads: a `multipart/form-data` body read as Discord reads it (Uploading Files
//! in Discord's API reference). The JSON body comes in a `payload_json` part; each file in
//! a `files[n]` part with a file name, `n` being the placeholder id that the body's
//! `attachments` list names it by.

use super::schema::Problem;
use axum::body::Bytes;
use serde_json::Value;

/// One part of a multipart body.
#[derive(Clone, Debug)]
pub struct FormPart {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A file the request uploads, matched to its entry in `attachments`.
#[derive(Clone, Debug)]
pub struct Upload {
    /// The placeholder id: `n` of `files[n]`.
    pub placeholder: String,
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

pub fn is_multipart(content_type: &str) -> bool {
    content_type.to_ascii_lowercase().starts_with("multipart/form-data")
}

/// Splits a multipart body into its parts; `Err` says why it is not one.
pub async fn parse(content_type: &str, body: Bytes) -> Result<Vec<FormPart>, String> {
    let boundary = multer::parse_boundary(content_type).map_err(|e| format!("no multipart boundary: {e}"))?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(format!("malformed multipart body: {e}")),
        };
        let name = field.name().map(str::to_string).ok_or("a multipart part has no name")?;
        let filename = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(ToString::to_string);
        let bytes = field.bytes().await.map_err(|e| format!("multipart part {name:?} is cut short: {e}"))?;
        parts.push(FormPart { name, filename, content_type, bytes: bytes.to_vec() });
    }
    Ok(parts)
}

/// The JSON body of an upload: its `payload_json` part, parsed.
pub fn payload_json(parts: &[FormPart]) -> Result<Value, String> {
    let mut payloads = parts.iter().filter(|p| p.name == "payload_json");
    let payload = payloads
        .next()
        .ok_or("the multipart body has no payload_json part (the fake, like shipgate, sends the JSON body there)")?;
    if payloads.next().is_some() {
        return Err("the multipart body has more than one payload_json part".into());
    }
    if let Some(content_type) = &payload.content_type {
        if !content_type.starts_with("application/json") {
            return Err(format!("payload_json has Content-Type {content_type:?}; it carries JSON"));
        }
    }
    serde_json::from_slice(&payload.bytes).map_err(|e| format!("payload_json is not JSON: {e}"))
}

/// Matches the file parts to the body's `attachments`: every `files[n]` must be named
/// there by id `n` (Discord v10 ignores a file the list leaves out), and every entry whose
/// id is no attachment the message `keeps` needs its file. PNG files must be PNGs.
pub fn uploads(parts: &[FormPart], body: &Value, keeps: &[String]) -> Result<Vec<Upload>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    let mut names = std::collections::HashSet::new();
    for part in parts.iter().filter(|p| p.name != "payload_json") {
        let Some(placeholder) = part.name.strip_prefix("files[").and_then(|n| n.strip_suffix(']')) else {
            problems.push(problem("", "UNKNOWN_PART", format!("unexpected multipart part {:?}", part.name)));
            continue;
        };
        if !names.insert(part.name.clone()) {
            problems.push(problem("", "DUPLICATE_PART", format!("the part {:?} appears twice", part.name)));
        }
        if part.filename.as_deref().is_none_or(str::is_empty) {
            problems.push(problem(
                "",
                "FILE_NAME_REQUIRED",
                format!("{} has no filename in its Content-Disposition", part.name),
            ));
        }
        files.push((placeholder.to_string(), part));
    }
    let empty = Vec::new();
    let listed = body.get("attachments").and_then(Value::as_array).unwrap_or(&empty);
    let id_of = |entry: &Value| match &entry["id"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let mut out = Vec::new();
    for (i, entry) in listed.iter().enumerate() {
        let Some(id) = id_of(entry) else { continue };
        if keeps.contains(&id) {
            continue;
        }
        let Some((_, part)) = files.iter().find(|(placeholder, _)| *placeholder == id) else {
            problems.push(problem(format!("/attachments/{i}"), "ATTACHMENT_NOT_FOUND", "Attachment data not found"));
            continue;
        };
        let filename = entry["filename"].as_str().or(part.filename.as_deref()).unwrap_or_default().to_string();
        let content_type = part.content_type.clone().unwrap_or_else(|| guess_content_type(&filename).to_string());
        let claims_png = content_type == "image/png" || filename.to_ascii_lowercase().ends_with(".png");
        if claims_png && !part.bytes.starts_with(&PNG_SIGNATURE) {
            problems.push(problem(
                format!("/attachments/{i}"),
                "INVALID_FILE_FORMAT",
                format!("{} ({filename}) is called a PNG but lacks the PNG signature", part.name),
            ));
        }
        out.push(Upload { placeholder: id, filename, content_type, bytes: part.bytes.clone() });
    }
    for (placeholder, part) in &files {
        if !listed.iter().any(|entry| id_of(entry).as_deref() == Some(placeholder.as_str())) {
            problems.push(problem(
                "/attachments",
                "ATTACHMENT_NOT_LISTED",
                format!("{} is not named in attachments by id {placeholder}: Discord would drop it", part.name),
            ));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The files an embed links with `attachment://NAME` that the message does not carry.
pub fn unresolved_attachment_links(body: &Value, filenames: &[String]) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(embeds) = body.get("embeds").and_then(Value::as_array) else {
        return out;
    };
    for (i, embed) in embeds.iter().enumerate() {
        for field in ["image", "thumbnail"] {
            let Some(name) = embed[field]["url"].as_str().and_then(|u| u.strip_prefix("attachment://")) else {
                continue;
            };
            if !filenames.iter().any(|f| f == name) {
                out.push(problem(
                    format!("/embeds/{i}/{field}/url"),
                    "ATTACHMENT_NOT_FOUND",
                    format!("attachment://{name} names no file of the message"),
                ));
            }
        }
    }
    out
}

fn guess_content_type(filename: &str) -> &'static str {
    let lower = filename.to_ascii_lowercase();
    if lower.ends_with(".png") {
        "image/png"
    } else if lower.ends_with(".jpg") || lower.ends_with(".jpeg") {
        "image/jpeg"
    } else if lower.ends_with(".gif") {
        "image/gif"
    } else {
        "application/octet-stream"
    }
}

/// Width and height from a PNG's IHDR chunk, as Discord reports them for images.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if !bytes.starts_with(&PNG_SIGNATURE) || bytes.get(12..16) != Some(b"IHDR".as_slice()) {
        return None;
    }
    let word = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    Some((word(16)?, word(20)?))
}

fn problem(path: impl Into<String>, code: &'static str, message: impl Into<String>) -> Problem {
    Problem { path: path.into(), code, message: message.into() }
}
