//! The Slack Web API methods the fake serves.

/// One Web API method. Most are operations of the vendored OpenAPI subset
/// (tests/contracts/slack/web-api-subset.json); the document predates Socket Mode and the
/// external file uploads, so the fake checks those by hand (see `in_document`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    ChatPostMessage,
    ChatUpdate,
    ChatPostEphemeral,
    ChatGetPermalink,
    ConversationsHistory,
    ConversationsReplies,
    ViewsOpen,
    UsergroupsUsersList,
    AuthTest,
    /// Socket Mode: trades the app-level token for a WebSocket URL. Not in the document.
    AppsConnectionsOpen,
    /// Reserves an upload URL and a file id. Not in the document (it predates the method);
    /// checked against Slack's reference page.
    FilesGetUploadUrlExternal,
    /// Shares uploaded files into a channel or thread. Not in the document; checked against
    /// Slack's reference page.
    FilesCompleteUploadExternal,
}

/// Which token a method takes in `Authorization: Bearer ...`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// `xoxb-`: the bot token.
    Bot,
    /// `xapp-`: the app-level token (Socket Mode only).
    App,
}

impl Method {
    pub const ALL: [Method; 12] = [
        Method::ChatPostMessage,
        Method::ChatUpdate,
        Method::ChatPostEphemeral,
        Method::ChatGetPermalink,
        Method::ConversationsHistory,
        Method::ConversationsReplies,
        Method::ViewsOpen,
        Method::UsergroupsUsersList,
        Method::AuthTest,
        Method::AppsConnectionsOpen,
        Method::FilesGetUploadUrlExternal,
        Method::FilesCompleteUploadExternal,
    ];

    /// The name as in the URL, `https://slack.com/api/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Method::ChatPostMessage => "chat.postMessage",
            Method::ChatUpdate => "chat.update",
            Method::ChatPostEphemeral => "chat.postEphemeral",
            Method::ChatGetPermalink => "chat.getPermalink",
            Method::ConversationsHistory => "conversations.history",
            Method::ConversationsReplies => "conversations.replies",
            Method::ViewsOpen => "views.open",
            Method::UsergroupsUsersList => "usergroups.users.list",
            Method::AuthTest => "auth.test",
            Method::AppsConnectionsOpen => "apps.connections.open",
            Method::FilesGetUploadUrlExternal => "files.getUploadURLExternal",
            Method::FilesCompleteUploadExternal => "files.completeUploadExternal",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the OpenAPI document describes the method: all but Socket Mode's and the
    /// two external upload methods, which came after it.
    pub fn in_document(self) -> bool {
        !matches!(
            self,
            Method::AppsConnectionsOpen | Method::FilesGetUploadUrlExternal | Method::FilesCompleteUploadExternal
        )
    }

    pub fn token(self) -> TokenKind {
        match self {
            Method::AppsConnectionsOpen => TokenKind::App,
            _ => TokenKind::Bot,
        }
    }
}
