//! Which customers a caller may see and change: the ONE decision, used by every customer
//! service (records, contacts, follow-ups, complaints, the list and its summary).
//!
//! A `sales` user works their own customers (`account_manager_id` is them); everyone else the
//! permission matrix lets in sees all of them (what they may *do* is the matrix's business:
//! finance and legal only read). A customer outside one's scope does not exist for the caller:
//! 404, not 403, so ids do not leak.

use mobile_shared::Role;
use uuid::Uuid;

use crate::actor::Actor;

/// Which customers a caller reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every customer (the office, admins, finance and legal, the system).
    All,
    /// The customers this user is the account manager of.
    ManagedBy(Uuid),
}

impl Scope {
    /// The scope of a signed-in user.
    pub fn of(user_id: Uuid, role: Role) -> Scope {
        match role {
            Role::Sales => Scope::ManagedBy(user_id),
            _ => Scope::All,
        }
    }

    /// The scope of whoever makes a change (the system and the command line reach all).
    pub fn of_actor(actor: &Actor) -> Scope {
        match (actor.user_id, actor.role) {
            (Some(id), Some(role)) => Scope::of(id, role),
            _ => Scope::All,
        }
    }

    /// The account manager every reachable customer has, if the scope is narrowed: bound as
    /// `$n` in `($n IS NULL OR account_manager_id = $n)`.
    pub(crate) fn manager(self) -> Option<Uuid> {
        match self {
            Scope::All => None,
            Scope::ManagedBy(id) => Some(id),
        }
    }

    /// Whether a customer managed by `account_manager_id` is in scope.
    pub(crate) fn covers(self, account_manager_id: Option<Uuid>) -> bool {
        match self {
            Scope::All => true,
            Scope::ManagedBy(id) => account_manager_id == Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sales_reach_their_own_customers_only() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        let sales = Scope::of(me, Role::Sales);
        assert!(sales.covers(Some(me)));
        assert!(!sales.covers(Some(other)));
        assert!(!sales.covers(None));
        for role in [Role::RentalOffice, Role::Admin, Role::Finance, Role::Legal] {
            assert!(Scope::of(me, role).covers(Some(other)), "{role}");
            assert!(Scope::of(me, role).covers(None), "{role}");
        }
        assert_eq!(Scope::of_actor(&Actor::system()), Scope::All);
    }
}
