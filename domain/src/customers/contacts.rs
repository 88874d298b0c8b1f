//! A customer's contacts: the people the office calls. Each has a phone or an e-mail (a
//! contact nobody can reach is not one), and a preferred channel it can be reached on.

use chrono::{DateTime, Utc};
use mobile_shared::customers::{Contact, ContactChannel, ContactPatch, NewContact, MAX_NAME_LEN};
use mobile_shared::wire::Page;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::Change;
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::pagination::PageRequest;
use crate::store::{on_read, on_tx, RowLock, Store, Tx};

use super::{clean, Scope};

/// Longest role, phone and e-mail.
const MAX_ROLE_LEN: usize = 100;
const MAX_PHONE_LEN: usize = 40;
const MAX_EMAIL_LEN: usize = 254;

#[derive(sqlx::FromRow)]
struct ContactRow {
    id: Uuid,
    customer_id: Uuid,
    name: String,
    role: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    preferred_channel: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ContactRow> for Contact {
    fn from(r: ContactRow) -> Contact {
        Contact {
            id: r.id,
            customer_id: r.customer_id,
            name: r.name,
            role: r.role,
            phone: r.phone,
            email: r.email,
            preferred_channel: r
                .preferred_channel
                .as_deref()
                .and_then(ContactChannel::parse),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str =
    "id, customer_id, name, role, phone, email, preferred_channel, created_at, updated_at";

/// Whether `phone` looks like a phone number: digits with the usual separators, a leading `+`.
fn is_phone(phone: &str) -> bool {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    (3..=20).contains(&digits)
        && phone.len() <= MAX_PHONE_LEN
        && phone
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || " -.()/".contains(c) || (c == '+' && i == 0))
}

/// Whether `email` has the shape of an address (one `@`, text either side, a dot in the domain).
fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL_LEN
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(char::is_whitespace)
}

/// Checks a whole contact (new, or patched), trimming its text.
fn validate(c: &mut Contact) -> Result<(), DomainError> {
    let mut v = Validator::new();
    c.name = c.name.trim().to_owned();
    if c.name.is_empty() || c.name.chars().count() > MAX_NAME_LEN {
        v.add("name", format!("must be 1-{MAX_NAME_LEN} characters"));
    }
    c.role = clean(c.role.take());
    if c.role
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_ROLE_LEN)
    {
        v.add("role", format!("at most {MAX_ROLE_LEN} characters"));
    }
    c.phone = clean(c.phone.take());
    c.email = clean(c.email.take()).map(|e| e.to_lowercase());
    if c.phone.as_deref().is_some_and(|p| !is_phone(p)) {
        v.add(
            "phone",
            "must be a phone number: 3-20 digits, an optional leading +",
        );
    }
    if c.email.as_deref().is_some_and(|e| !is_email(e)) {
        v.add("email", "must be an e-mail address");
    }
    if c.phone.is_none() && c.email.is_none() {
        v.add("phone", "a contact needs a phone or an e-mail");
    }
    match c.preferred_channel {
        Some(ContactChannel::Email) if c.email.is_none() => {
            v.add(
                "preferred_channel",
                "e-mail is preferred but no e-mail is given",
            );
        }
        Some(ContactChannel::Phone | ContactChannel::Sms | ContactChannel::Whatsapp)
            if c.phone.is_none() =>
        {
            v.add("preferred_channel", "this channel needs a phone number");
        }
        _ => {}
    }
    v.finish()
}

/// Every live contact of a customer, by name (the customer's page shows them all).
pub(crate) async fn all_of(store: &Store, customer_id: Uuid) -> Result<Vec<Contact>, DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM customer_contacts WHERE customer_id = $1 AND deleted_at IS NULL \
         ORDER BY name, id"
    );
    let rows: Vec<ContactRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(customer_id)
        .fetch_all(p)
        .await)?;
    Ok(rows.into_iter().map(Contact::from).collect())
}

/// A page of a customer's contacts in creation order (404 for a customer outside `scope`).
pub async fn list(
    store: &Store,
    scope: Scope,
    customer_id: Uuid,
    page: PageRequest,
) -> Result<Page<Contact>, DomainError> {
    super::check_readable(store, scope, customer_id).await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM customer_contacts WHERE customer_id = $1 AND deleted_at IS NULL \
         AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
    );
    let rows: Vec<ContactRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(customer_id)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    Ok(page.page(rows, |r| r.id, Contact::from))
}

/// Adds a contact to a customer in the actor's scope.
pub async fn create(
    store: &Store,
    actor: &Actor,
    customer_id: Uuid,
    new: NewContact,
) -> Result<Contact, DomainError> {
    let mut tx = store.begin().await?;
    // The customer first: one outside the caller's scope is 404 whatever the body says.
    super::hold(&mut tx, Scope::of_actor(actor), customer_id).await?;
    let now = clock::now();
    let mut contact = Contact {
        id: clock::new_id(),
        customer_id,
        name: new.name,
        role: new.role,
        phone: new.phone,
        email: new.email,
        preferred_channel: new.preferred_channel,
        created_at: now,
        updated_at: now,
    };
    validate(&mut contact)?;
    let sql = format!(
        "INSERT INTO customer_contacts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
    );
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(&sql)
                .bind(contact.id)
                .bind(customer_id)
                .bind(&contact.name)
                .bind(&contact.role)
                .bind(&contact.phone)
                .bind(&contact.email)
                .bind(contact.preferred_channel.map(ContactChannel::as_str))
                .bind(now)
        )
    )?;
    tx.commit_audited(
        actor,
        Change::created(Entity::Contact, contact.id, &contact),
    )
    .await?;
    Ok(contact)
}

/// The live contact `id` of the customer, locked for a change (404 otherwise).
async fn load(tx: &mut Tx, customer_id: Uuid, id: Uuid) -> Result<Contact, DomainError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM customer_contacts WHERE id = $1 AND customer_id = $2 \
         AND deleted_at IS NULL{}",
        tx.row_lock(RowLock::Update)
    );
    let row: Option<ContactRow> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id)
        .bind(customer_id)
        .fetch_optional(c)
        .await)?;
    Ok(row.ok_or(DomainError::not_found(Entity::Contact))?.into())
}

/// Changes a contact (absent fields unchanged, `null` clears).
pub async fn update(
    store: &Store,
    actor: &Actor,
    customer_id: Uuid,
    id: Uuid,
    patch: ContactPatch,
) -> Result<Contact, DomainError> {
    let mut tx = store.begin().await?;
    super::hold(&mut tx, Scope::of_actor(actor), customer_id).await?;
    let before = load(&mut tx, customer_id, id).await?;
    let mut after = before.clone();
    if let Some(name) = patch.name {
        after.name = name;
    }
    if let Some(role) = patch.role {
        after.role = role;
    }
    if let Some(phone) = patch.phone {
        after.phone = phone;
    }
    if let Some(email) = patch.email {
        after.email = email;
    }
    if let Some(channel) = patch.preferred_channel {
        after.preferred_channel = channel;
    }
    validate(&mut after)?;
    after.updated_at = clock::now();
    let sql = "UPDATE customer_contacts SET name = $1, role = $2, phone = $3, email = $4, \
               preferred_channel = $5, updated_at = $6 WHERE id = $7";
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(sql)
                .bind(&after.name)
                .bind(&after.role)
                .bind(&after.phone)
                .bind(&after.email)
                .bind(after.preferred_channel.map(ContactChannel::as_str))
                .bind(after.updated_at)
                .bind(id)
        )
    )?;
    tx.commit_audited(actor, Change::updated(Entity::Contact, id, &before, &after))
        .await?;
    Ok(after)
}

/// Removes a contact from the customer (the row stays for the history).
pub async fn delete(
    store: &Store,
    actor: &Actor,
    customer_id: Uuid,
    id: Uuid,
) -> Result<(), DomainError> {
    let mut tx = store.begin().await?;
    super::hold(&mut tx, Scope::of_actor(actor), customer_id).await?;
    let before = load(&mut tx, customer_id, id).await?;
    let now = clock::now();
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(
                "UPDATE customer_contacts SET deleted_at = $1, updated_at = $1 WHERE id = $2"
            )
            .bind(now)
            .bind(id)
        )
    )?;
    tx.commit_audited(actor, Change::deleted(Entity::Contact, id, &before))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_and_emails() {
        for ok in ["+49 30 1234567", "(030) 123-45", "555"] {
            assert!(is_phone(ok), "{ok}");
        }
        for bad in ["12", "call me", "49+30", "+49 30 12345678901234567890"] {
            assert!(!is_phone(bad), "{bad}");
        }
        for ok in ["a@b.de", "site.manager@bau-meier.example.com"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in ["a@b", "@b.de", "a b@c.de", "a@.de", "a@b.de.", "a@b@c.de"] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
