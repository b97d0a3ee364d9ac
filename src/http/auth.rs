//! Bearer-token authentication for the CI API. Tokens come from config, are compared in
//! constant time, and name the client that acts.

use super::error::ApiError;
use super::AppState;
use crate::app::AppError;
use crate::domain::release::RejectionCode;
use crate::domain::{Actor, Platform, RequestId, RoleName};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;

/// The authenticated client of a request, as the actor its commands are recorded under.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        if !parts.headers.contains_key(axum::http::header::AUTHORIZATION) {
            return Err(unauthorized("missing Authorization header; send `Authorization: Bearer <token>`"));
        }
        let presented = bearer_token(&parts.headers)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let client = state.api.client_for_token(presented).ok_or_else(|| {
            unauthorized("the token is not one shipgate knows; use a token of a client configured in api.clients")
        })?;
        Ok(ApiActor(
            Actor::new(Platform::Api, client.name.clone(), client.name.clone())
                .with_roles(client.roles.iter().map(RoleName::new)),
        ))
    }
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// The request's id for replay protection: the client's `Idempotency-Key`, scoped to the
/// client, or a fresh id when none was sent (such a request is never deduplicated).
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::invalid("Idempotency-Key must be 1 to 255 visible ASCII characters, e.g. a UUID")
            })?;
        Ok(IdempotencyKey(Some(key.to_owned())))
    }
}

impl IdempotencyKey {
    /// Scoped to the client and the route: the same key sent to another endpoint or
    /// release is another request.
    pub fn request_id(&self, actor: &Actor, route: &str) -> RequestId {
        match &self.0 {
            Some(key) => RequestId::new(format!("api:{}:{route}:{key}", actor.user_id)),
            None => RequestId::generate(),
        }
    }
}

impl IdempotencyKey {
    /// `error` as the client reads it: a refusal of a reused key names the key the client
    /// sent (the app knows only the request id built from it); anything else as it is.
    pub fn explain(&self, error: AppError) -> ApiError {
        match (&self.0, error) {
            (Some(key), AppError::Rejected(rejection)) if rejection.code == RejectionCode::IdempotencyKeyReused => {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    RejectionCode::IdempotencyKeyReused.as_str(),
                    format!(
                        "the Idempotency-Key {key:?} was already used for a different request on this route; \
                         nothing was done: send this request under a fresh key"
                    ),
                )
            }
            (_, error) => error.into(),
        }
    }
}
