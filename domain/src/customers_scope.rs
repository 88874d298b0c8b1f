//! Which customers a caller may see: everyone's, or (sales) only the customers they manage
//! (`customers.account_manager_id`). The permission matrix says *whether* a role reads
//! customers and contracts; this says *which*. Kept minimal here for contracts; the customers
//! service narrows its own reads with the same rule.

use mobile_shared::Role;
use uuid::Uuid;

use crate::actor::Actor;

/// The customers a caller's reads and writes are narrowed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerScope {
    /// Every customer (the office, finance, legal, admins, the system).
    All,
    /// Only the customers this user manages (sales).
    ManagedBy(Uuid),
}

impl CustomerScope {
    /// The scope of `actor`: a sales user sees the customers they manage; everyone else (whom
    /// the matrix lets in at all) every customer.
    pub fn of(actor: &Actor) -> CustomerScope {
        match (actor.role, actor.user_id) {
            (Some(Role::Sales), Some(user)) => CustomerScope::ManagedBy(user),
            // A sales actor without a user cannot own customers: nothing is theirs.
            (Some(Role::Sales), None) => CustomerScope::ManagedBy(Uuid::nil()),
            _ => CustomerScope::All,
        }
    }

    /// The account manager to bind in `($n IS NULL OR customers.account_manager_id = $n)`.
    pub fn manager(self) -> Option<Uuid> {
        match self {
            CustomerScope::All => None,
            CustomerScope::ManagedBy(user) => Some(user),
        }
    }
}
