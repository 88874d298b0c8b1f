//! Sign-in events in the audit log: logins, failed logins and logouts, with the client's
//! address and user agent. They change no business data, so each is an entry in a
//! transaction of its own.
//!
//! A failed login records the username as given (cut to [`MAX_LOGGED_USERNAME_CHARS`]
//! characters, control characters replaced) and never the password. It does not look the name
//! up: the entry is the same whether the user exists or not (`entity_id` nil), and costs the
//! same, so the log does not become a way to tell the two apart.

use mobile_shared::wire::{AuditSource, User};
use mobile_shared::ErrorCode;
use uuid::Uuid;

use super::{record_alone, Change};
use crate::actor::{Actor, ClientContext};
use crate::entity::Entity;
use crate::error::DomainError;
use crate::store::Store;

/// Longest username recorded for a failed login (characters).
pub const MAX_LOGGED_USERNAME_CHARS: usize = 64;

/// Records a login attempt's outcome: `user.login` for the signed-in user, or
/// `user.login_failed` under the name given with the refusal's code (`invalid_credentials`…).
/// An error that is the server's own (the database is down) is not a login refusal and is
/// not recorded.
pub async fn record_login(
    store: &Store,
    source: AuditSource,
    client: &ClientContext,
    username_given: &str,
    outcome: Result<&User, &DomainError>,
) -> Result<(), DomainError> {
    let (actor, change) = match outcome {
        Ok(user) => (
            Actor::user(user.id, user.username.clone(), user.role, source),
            Change::action("user.login", Entity::User, user.id),
        ),
        Err(e) if matches!(e.code(), ErrorCode::InternalError | ErrorCode::Unavailable) => {
            return Ok(())
        }
        Err(e) => {
            let name = loggable_username(username_given);
            let after = serde_json::json!({ "username": name, "reason": e.code().as_str() });
            (
                Actor::anonymous(name, source),
                Change::action("user.login_failed", Entity::User, Uuid::nil()).after(&after),
            )
        }
    };
    record_alone(store, &actor.with_client(client.clone()), change).await
}

/// Records `user.logout` by `actor` (the user whose session ended).
pub async fn record_logout(store: &Store, actor: &Actor) -> Result<(), DomainError> {
    let Some(id) = actor.user_id else {
        return Ok(());
    };
    record_alone(
        store,
        actor,
        Change::action("user.logout", Entity::User, id),
    )
    .await
}

/// The username as given, bounded and on one line.
fn loggable_username(given: &str) -> String {
    given
        .trim()
        .chars()
        .take(MAX_LOGGED_USERNAME_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_cut_and_kept_on_one_line() {
        assert_eq!(loggable_username(" admin\n"), "admin");
        assert_eq!(loggable_username("a\u{7}b"), "a b");
        let long = "é".repeat(200);
        assert_eq!(
            loggable_username(&long).chars().count(),
            MAX_LOGGED_USERNAME_CHARS
        );
    }
}
