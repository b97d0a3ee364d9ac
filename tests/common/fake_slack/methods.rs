//! The Slack Web API methods the fake serves.

/// One Web API method. All but `apps.connections.open` are operations of the vendored
/// OpenAPI subset (tests/contracts/slack/web-api-subset.json).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    ChatPostMessage,
    ChatUpdate,
    ChatPostEphemeral,
    ViewsOpen,
    UsergroupsUsersList,
    AuthTest,
    /// Socket Mode: trades the app-level token for a WebSocket URL. Not in the document.
    AppsConnectionsOpen,
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
    pub const ALL: [Method; 7] = [
        Method::ChatPostMessage,
        Method::ChatUpdate,
        Method::ChatPostEphemeral,
        Method::ViewsOpen,
        Method::UsergroupsUsersList,
        Method::AuthTest,
        Method::AppsConnectionsOpen,
    ];

    /// The name as in the URL, `https://slack.com/api/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Method::ChatPostMessage => "chat.postMessage",
            Method::ChatUpdate => "chat.update",
            Method::ChatPostEphemeral => "chat.postEphemeral",
            Method::ViewsOpen => "views.open",
            Method::UsergroupsUsersList => "usergroups.users.list",
            Method::AuthTest => "auth.test",
            Method::AppsConnectionsOpen => "apps.connections.open",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the OpenAPI document describes the method (every one but Socket Mode's).
    pub fn in_document(self) -> bool {
        self != Method::AppsConnectionsOpen
    }

    pub fn token(self) -> TokenKind {
        match self {
            Method::AppsConnectionsOpen => TokenKind::App,
            _ => TokenKind::Bot,
        }
    }
}
