//! File uploads as Slack takes them since files.upload was retired (Slack's reference pages
//! of files.getUploadURLExternal and files.completeUploadExternal; the OpenAPI document
//! predates both):
//!
//! 1. `files.getUploadURLExternal` (`filename`, `length`) reserves a file id and an upload URL;
//! 2. the client POSTs the file's bytes to that URL, raw or as a multipart form; Slack answers
//!    200 on success and, its page says, anything else on failure;
//! 3. `files.completeUploadExternal` (`files: [{id, title}]`, `channel_id`, `thread_ts`,
//!    `initial_comment` or `blocks`) shares the files, as one message, or keeps them private
//!    without a channel.
//!
//! The fake serves the upload URL itself (`/upload/v1/<ticket>`), takes it once, and keeps
//! every file for the tests to read back (`FakeSlack::files`).

use axum::body::Bytes;

/// A file reserved through files.getUploadURLExternal, as far as it got.
#[derive(Clone, Debug)]
pub struct UploadedFile {
    /// `F...`, what files.getUploadURLExternal answered as `file_id`.
    pub id: String,
    /// As files.getUploadURLExternal named it.
    pub filename: String,
    /// As files.completeUploadExternal titled it (its `files[].title`).
    pub title: Option<String>,
    /// The `length` declared to files.getUploadURLExternal; the upload must match it.
    pub length: u64,
    pub alt_txt: Option<String>,
    pub upload_url: String,
    /// Unix seconds of the reservation: the file's `created`.
    pub created: u64,
    /// What was POSTed to the upload URL (empty until then).
    pub bytes: Vec<u8>,
    /// The bytes arrived, and the upload URL is spent.
    pub uploaded: bool,
    /// files.completeUploadExternal finished it (shared or private).
    pub completed: bool,
    /// Where it was shared: `(channel, thread_ts)`, `None` outside a thread.
    pub shared_to: Vec<(String, Option<String>)>,
}

impl UploadedFile {
    /// The MIME type Slack gives the file, from its name.
    pub fn mimetype(&self) -> &'static str {
        kind_of(&self.filename).0
    }

    /// Slack's `filetype` (`png`, `text`, ...).
    pub fn filetype(&self) -> &'static str {
        kind_of(&self.filename).1
    }

    /// Whether the bytes are a PNG image (its eight-byte signature).
    pub fn is_png(&self) -> bool {
        self.bytes.starts_with(&PNG_SIGNATURE)
    }
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// `(mimetype, filetype, pretty_type)` for a file name, for the types shipgate sends and a
/// few more; anything else is Slack's `binary`.
pub fn kind_of(filename: &str) -> (&'static str, &'static str, &'static str) {
    let extension = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "png" => ("image/png", "png", "PNG"),
        "jpg" | "jpeg" => ("image/jpeg", "jpg", "JPEG"),
        "gif" => ("image/gif", "gif", "GIF"),
        "svg" => ("image/svg+xml", "svg", "SVG"),
        "pdf" => ("application/pdf", "pdf", "PDF"),
        "csv" => ("text/csv", "csv", "CSV"),
        "json" => ("application/json", "json", "JSON"),
        "md" => ("text/markdown", "markdown", "Markdown (raw)"),
        "txt" | "log" => ("text/plain", "text", "Plain Text"),
        _ => ("application/octet-stream", "binary", "Binary"),
    }
}

/// The body POSTed to an upload URL, read.
#[derive(Clone, Debug)]
pub struct UploadBody {
    pub bytes: Vec<u8>,
    /// Sent as a multipart form (else raw).
    pub multipart: bool,
    /// The file name of the multipart part, when it had one.
    pub part_filename: Option<String>,
}

/// The file's bytes: the whole body, or the one file part of a `multipart/form-data` body
/// (the part with a file name, or the only part). `Err` says why the body is not an upload.
pub async fn read_body(content_type: Option<&str>, body: Bytes) -> Result<UploadBody, String> {
    let is_multipart = content_type.is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Ok(UploadBody { bytes: body.to_vec(), multipart: false, part_filename: None });
    }
    let content_type = content_type.unwrap_or_default();
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
        let filename = field.file_name().map(str::to_string);
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.map_err(|e| format!("multipart part {name:?} is cut short: {e}"))?;
        parts.push((filename, bytes.to_vec()));
    }
    let with_names = parts.iter().filter(|(filename, _)| filename.is_some()).count();
    let chosen = match (parts.len(), with_names) {
        (0, _) => return Err("the multipart body has no parts".into()),
        (1, _) => 0,
        (_, 1) => parts.iter().position(|(filename, _)| filename.is_some()).expect("counted above"),
        (n, 0) => return Err(format!("the multipart body has {n} parts and none is a file (with a file name)")),
        (_, k) => return Err(format!("the multipart body has {k} files; an upload URL takes one")),
    };
    let (part_filename, bytes) = parts.swap_remove(chosen);
    Ok(UploadBody { bytes, multipart: true, part_filename })
}
