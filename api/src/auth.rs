//! Authentication (bearer tokens → the signed-in user) and authorisation by role. Handlers take
//! [`CurrentUser`] and call [`CurrentUser::require`]; the decision itself is `Role::may`, the one
//! permission matrix in `mobile_shared::authz`.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use domain::users::{self, AuthUser};
use domain::Actor;
use mobile_shared::wire::AuditSource;
use mobile_shared::Action;

use crate::error::ApiError;
use crate::AppState;

/// The bearer token of a request, if it sent one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// The signed-in user. Extracting it fails with 401 when the token is missing or invalid.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub AuthUser);

impl CurrentUser {
    /// 403 unless the user's role may perform `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.0.role.may(action) {
            Ok(())
        } else {
            tracing::info!(user = %self.0.username, role = %self.0.role, action = action.as_str(), "forbidden");
            Err(ApiError::forbidden(action.as_str()))
        }
    }

    /// The audit-log actor for writes made through the API.
    pub fn actor(&self) -> Actor {
        Actor::user(
            self.0.id,
            self.0.username.clone(),
            self.0.role,
            AuditSource::Api,
        )
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(ApiError::unauthenticated)?;
        let user = users::authenticate(&state.store, token)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        tracing::Span::current().record("user", user.username.as_str());
        Ok(CurrentUser(user))
    }
}
