//! The Discord operations the fake serves, matched from method and path.

use std::collections::HashMap;

/// One operation of Discord's OpenAPI document that the fake implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    CreateMessage,
    EditMessage,
    GetMessage,
    CreateThreadFromMessage,
    CreateThread,
    BulkOverwriteGuildCommands,
    BulkOverwriteGlobalCommands,
    InteractionCallback,
    EditOriginalResponse,
    ExecuteWebhook,
    GetGateway,
    GetGatewayBot,
    GetCurrentUser,
}

impl Route {
    pub const ALL: [Route; 13] = [
        Route::CreateMessage,
        Route::EditMessage,
        Route::GetMessage,
        Route::CreateThreadFromMessage,
        Route::CreateThread,
        Route::BulkOverwriteGuildCommands,
        Route::BulkOverwriteGlobalCommands,
        Route::InteractionCallback,
        Route::EditOriginalResponse,
        Route::ExecuteWebhook,
        Route::GetGateway,
        Route::GetGatewayBot,
        Route::GetCurrentUser,
    ];

    /// Lower-case, as the OpenAPI document spells methods.
    pub fn method(self) -> &'static str {
        match self {
            Route::CreateMessage
            | Route::CreateThreadFromMessage
            | Route::CreateThread
            | Route::InteractionCallback
            | Route::ExecuteWebhook => "post",
            Route::EditMessage | Route::EditOriginalResponse => "patch",
            Route::BulkOverwriteGuildCommands | Route::BulkOverwriteGlobalCommands => "put",
            Route::GetMessage | Route::GetGateway | Route::GetGatewayBot | Route::GetCurrentUser => "get",
        }
    }

    /// The path template, exactly as in the OpenAPI document's `paths`.
    pub fn template(self) -> &'static str {
        match self {
            Route::CreateMessage => "/channels/{channel_id}/messages",
            Route::EditMessage | Route::GetMessage => "/channels/{channel_id}/messages/{message_id}",
            Route::CreateThreadFromMessage => "/channels/{channel_id}/messages/{message_id}/threads",
            Route::CreateThread => "/channels/{channel_id}/threads",
            Route::BulkOverwriteGuildCommands => "/applications/{application_id}/guilds/{guild_id}/commands",
            Route::BulkOverwriteGlobalCommands => "/applications/{application_id}/commands",
            Route::InteractionCallback => "/interactions/{interaction_id}/{interaction_token}/callback",
            Route::EditOriginalResponse => "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
            Route::ExecuteWebhook => "/webhooks/{webhook_id}/{webhook_token}",
            Route::GetGateway => "/gateway",
            Route::GetGatewayBot => "/gateway/bot",
            Route::GetCurrentUser => "/users/@me",
        }
    }

    /// Whether the request must carry `Authorization: Bot <token>`. The document's
    /// `security` lists `{}` (no credentials) for interaction callbacks, webhooks and
    /// `GET /gateway`: those authenticate by the token in the path, or need nothing.
    pub fn needs_bot_token(self) -> bool {
        !matches!(
            self,
            Route::InteractionCallback | Route::EditOriginalResponse | Route::ExecuteWebhook | Route::GetGateway
        )
    }

    /// Interaction endpoints (callbacks and webhooks) are exempt from the global limit.
    pub fn counts_against_global_limit(self) -> bool {
        !matches!(self, Route::InteractionCallback | Route::EditOriginalResponse | Route::ExecuteWebhook)
    }

    /// The operations whose document lists a `multipart/form-data` body with `files[n]`
    /// that the fake reads (the others it answers as JSON-only).
    pub fn takes_uploads(self) -> bool {
        matches!(self, Route::CreateMessage | Route::EditMessage)
    }

    pub fn has_body(self) -> bool {
        !matches!(self, Route::GetMessage | Route::GetGateway | Route::GetGatewayBot | Route::GetCurrentUser)
    }

    /// The path parameters that select a rate-limit bucket ("major parameters" and, for
    /// webhooks, the token), so two channels never share a bucket.
    pub fn bucket_key(self, params: &Params) -> String {
        let keys: &[&str] = match self {
            Route::CreateMessage
            | Route::EditMessage
            | Route::GetMessage
            | Route::CreateThreadFromMessage
            | Route::CreateThread => &["channel_id"],
            Route::BulkOverwriteGuildCommands => &["application_id", "guild_id"],
            Route::BulkOverwriteGlobalCommands => &["application_id"],
            Route::InteractionCallback => &["interaction_id"],
            Route::EditOriginalResponse | Route::ExecuteWebhook => &["webhook_id", "webhook_token"],
            Route::GetGateway | Route::GetGatewayBot | Route::GetCurrentUser => &[],
        };
        keys.iter().map(|k| params.get(k).unwrap_or("")).collect::<Vec<_>>().join(":")
    }

    /// The opaque `X-RateLimit-Bucket` value: Discord sends a hash per bucket shape.
    pub fn bucket_hash(self) -> String {
        // FNV-1a over the template and method: stable across runs, looks like Discord's hex ids.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.method().bytes().chain(self.template().bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")
    }
}

/// Path parameters by their name in the template (`channel_id`, `interaction_token`, ...).
#[derive(Clone, Debug, Default)]
pub struct Params(HashMap<&'static str, String>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A parameter the matched template guarantees.
    pub fn req(&self, name: &str) -> &str {
        self.get(name).expect("the matched route template has this parameter")
    }

    /// Parameters that the document types as snowflakes but whose value is not one.
    pub fn bad_snowflakes(&self) -> Vec<(&'static str, String)> {
        let mut bad: Vec<_> = self
            .0
            .iter()
            .filter(|(name, value)| name.ends_with("_id") && !is_snowflake(value))
            .map(|(name, value)| (*name, value.clone()))
            .collect();
        bad.sort();
        bad
    }
}

/// `SnowflakeType` in the document: a decimal string without leading zeros; Discord also
/// needs it to fit in 64 bits.
pub fn is_snowflake(s: &str) -> bool {
    (s == "0" || (!s.starts_with('0') && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())))
        && s.parse::<u64>().is_ok()
}

/// Matches `path` (below `/api/v10`) against every template for `method`.
pub fn match_route(method: &str, path: &str) -> Option<(Route, Params)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Route::ALL.iter().find_map(|route| {
        if !route.method().eq_ignore_ascii_case(method) {
            return None;
        }
        let template: Vec<&'static str> = route.template().trim_start_matches('/').split('/').collect();
        if template.len() != segments.len() {
            return None;
        }
        let mut params = HashMap::new();
        for (want, got) in template.iter().zip(&segments) {
            if let Some(name) = want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                if got.is_empty() {
                    return None;
                }
                params.insert(name, (*got).to_string());
            } else if want != got {
                return None;
            }
        }
        Some((*route, Params(params)))
    })
}
