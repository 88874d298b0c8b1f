//! Customers on SQLite and PostgreSQL: the record (validation naming each field, picklists as
//! data, the status lifecycle, optimistic versions, soft delete), sales scoping (another
//! manager's customer does not exist for a sales user), the list's filters, sorts and keyset
//! pages, the tier/grade summary, contacts, the contact log, complaints and their rate, and
//! customer sites.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, NaiveDate, Utc};
use domain::customers::{self, complaints, contacts, follow_ups, list, picklists, Scope};
use domain::testing::{assert_conflict, assert_not_found, TestDb};
use domain::{sites, users, Actor, DomainError, Entity, PageRequest};
use mobile_shared::customers::{
    CloseComplaint, ComplaintFilter, ComplaintState, ContactChannel, ContactPatch, Customer,
    CustomerFilter, CustomerKind, CustomerPatch, CustomerSort, CustomerStatus, FollowUpChannel,
    NewComplaint, NewContact, NewCustomer, NewFollowUp, NewPicklistValue, Picklist,
    PicklistValuePatch,
};
use mobile_shared::wire::{AuditSource, NewSite, NewUser, SiteKind, SitePatch};
use mobile_shared::{ErrorCode, Role};
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    a_customer_is_created_read_changed_and_deleted_audited,
    bad_input_names_each_field_and_writes_nothing,
    status_moves_follow_the_lifecycle_and_versions_guard_changes,
    sales_users_reach_their_own_customers_only,
    the_list_filters_sorts_and_pages,
    the_summary_shares_customers_by_tier_and_grade,
    contacts_need_a_way_to_reach_them,
    the_contact_log_is_newest_first,
    complaints_open_close_once_and_give_the_monthly_rate,
    picklists_are_data_an_admin_extends_and_retires,
    customer_sites_belong_to_customers,
);

async fn user(db: &TestDb, name: &str, role: Role) -> Actor {
    let new = NewUser {
        username: name.into(),
        password: "long-enough-pw".into(),
        role,
        email: None,
    };
    let user = users::create(&db.store, &Actor::system(), new)
        .await
        .unwrap();
    Actor::user(user.id, name, role, AuditSource::Api)
}

fn new_customer(name: &str) -> NewCustomer {
    NewCustomer {
        legal_name: name.into(),
        kind: CustomerKind::Company,
        industry: Some("construction".into()),
        region: None,
        source: Some("referral".into()),
        account_manager_id: None,
        status: None,
        currency: "EUR".into(),
        credit_limit_cents: Some(5_000_000),
        payment_terms_days: Some(30),
        tags: vec!["key".into()],
        notes: None,
    }
}

async fn customer(db: &TestDb, actor: &Actor, new: NewCustomer) -> Customer {
    customers::create(&db.store, actor, new).await.unwrap()
}

fn fields(err: DomainError) -> Vec<String> {
    match err {
        DomainError::Validation(f) => f.into_keys().collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn page(limit: u32, cursor: Option<&str>) -> PageRequest {
    PageRequest::new(Some(limit), cursor).unwrap()
}

async fn names(db: &TestDb, scope: Scope, filter: CustomerFilter) -> Vec<String> {
    list::list(&db.store, scope, &filter, page(500, None))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.legal_name)
        .collect()
}

async fn a_customer_is_created_read_changed_and_deleted_audited(db: TestDb) {
    let office = user(&db, "olga", Role::RentalOffice).await;
    let sam = user(&db, "sam", Role::Sales).await;
    let mut new = new_customer("  Bau Meier GmbH ");
    new.account_manager_id = sam.user_id;
    new.tags = vec![" key ".into(), "key".into(), "north".into()];
    let c = customer(&db, &office, new).await;
    assert_eq!(c.legal_name, "Bau Meier GmbH");
    assert_eq!(c.status, CustomerStatus::Lead);
    assert_eq!(c.tags, vec!["key".to_owned(), "north".to_owned()]);
    assert_eq!((c.value_tier.clone(), c.credit_grade.clone()), (None, None));
    assert_eq!(c.version, 1);

    let detail = customers::get(&db.store, Scope::All, c.id).await.unwrap();
    assert_eq!(detail.customer, c);
    assert!(detail.contacts.is_empty() && detail.sites.is_empty());

    let patch = CustomerPatch {
        version: 1,
        status: Some(CustomerStatus::Active),
        credit_limit_cents: Some(None),
        notes: Some(Some("Pays on time.".into())),
        ..CustomerPatch::default()
    };
    let changed = customers::update(&db.store, &office, c.id, patch)
        .await
        .unwrap();
    assert_eq!(changed.version, 2);
    assert_eq!(changed.status, CustomerStatus::Active);
    assert_eq!(changed.credit_limit_cents, None);
    let read = customers::get(&db.store, Scope::All, c.id).await.unwrap();
    assert_eq!(read.customer, changed);

    customers::delete(&db.store, &office, c.id).await.unwrap();
    assert_not_found(
        &customers::get(&db.store, Scope::All, c.id)
            .await
            .unwrap_err(),
        Entity::Customer,
    );
    assert!(names(&db, Scope::All, CustomerFilter::default())
        .await
        .is_empty());
    db.assert_counts(&[
        (
            "SELECT COUNT(*) FROM audit_log WHERE entity = 'customer'",
            3,
        ),
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'customer.update'",
            1,
        ),
        (
            "SELECT COUNT(*) FROM customers WHERE deleted_at IS NOT NULL",
            1,
        ),
    ])
    .await;
}

async fn bad_input_names_each_field_and_writes_nothing(db: TestDb) {
    let office = user(&db, "olga", Role::RentalOffice).await;
    let viewer = user(&db, "vic", Role::Viewer).await;
    let disabled = user(&db, "dora", Role::Sales).await;
    db.execute("UPDATE users SET disabled = true WHERE username = 'dora'")
        .await;
    let mut bad = new_customer(" ");
    bad.industry = Some("space_mining".into());
    bad.source = Some("carrier_pigeon".into());
    bad.region = Some("atlantis".into());
    bad.currency = "eur".into();
    bad.credit_limit_cents = Some(-1);
    bad.payment_terms_days = Some(400);
    bad.account_manager_id = Some(Uuid::now_v7());
    bad.tags = vec!["".into()];
    let err = customers::create(&db.store, &office, bad)
        .await
        .unwrap_err();
    assert_eq!(
        fields(err),
        [
            "account_manager_id",
            "credit_limit_cents",
            "currency",
            "industry",
            "legal_name",
            "payment_terms_days",
            "region",
            "source",
            "tags"
        ]
    );
    // A manager who cannot manage customers (a viewer, a disabled user) is refused too.
    for who in [&viewer, &disabled] {
        let mut new = new_customer("X");
        new.account_manager_id = who.user_id;
        let err = customers::create(&db.store, &office, new)
            .await
            .unwrap_err();
        assert_eq!(fields(err), ["account_manager_id"]);
    }
    let mut churned = new_customer("X");
    churned.status = Some(CustomerStatus::Churned);
    let err = customers::create(&db.store, &office, churned)
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["status"]);
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM customers", 0),
        (
            "SELECT COUNT(*) FROM audit_log WHERE entity = 'customer'",
            0,
        ),
    ])
    .await;
}

async fn status_moves_follow_the_lifecycle_and_versions_guard_changes(db: TestDb) {
    let office = user(&db, "olga", Role::RentalOffice).await;
    let c = customer(&db, &office, new_customer("Lifecycle Ltd")).await;
    let to = |version, status| CustomerPatch {
        version,
        status: Some(status),
        ..CustomerPatch::default()
    };
    // lead → dormant skips being a customer at all.
    let err = customers::update(&db.store, &office, c.id, to(1, CustomerStatus::Dormant))
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::IllegalTransition, "lead → dormant");
    let mut version = 1;
    for status in [
        CustomerStatus::Active,
        CustomerStatus::Dormant,
        CustomerStatus::Churned,
        CustomerStatus::Active,
    ] {
        let c = customers::update(&db.store, &office, c.id, to(version, status))
            .await
            .unwrap();
        assert_eq!(c.status, status);
        version = c.version;
    }
    let err = customers::update(&db.store, &office, c.id, to(version, CustomerStatus::Lead))
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::IllegalTransition, "active → lead");
    // A stale version is refused with the current record, and changes nothing.
    let err = customers::update(&db.store, &office, c.id, to(1, CustomerStatus::Dormant))
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::VersionConflict, "stale version");
    let now = customers::get(&db.store, Scope::All, c.id).await.unwrap();
    assert_eq!(
        (now.customer.status, now.customer.version),
        (CustomerStatus::Active, version)
    );
    // A retired industry stays on the record and does not block other edits.
    picklists::update(
        &db.store,
        &Actor::system(),
        Picklist::Industry,
        "construction",
        PicklistValuePatch {
            retired: Some(true),
            ..PicklistValuePatch::default()
        },
    )
    .await
    .unwrap();
    let patch = CustomerPatch {
        version,
        notes: Some(Some("still builds".into())),
        ..CustomerPatch::default()
    };
    let c = customers::update(&db.store, &office, c.id, patch)
        .await
        .unwrap();
    assert_eq!(c.industry.as_deref(), Some("construction"));
    let patch = CustomerPatch {
        version: c.version,
        industry: Some(Some("construction".into())),
        region: Some(Some("nowhere".into())),
        ..CustomerPatch::default()
    };
    // Unchanged: fine; a new region that is no value: named.
    let err = customers::update(&db.store, &office, c.id, patch)
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["region"]);
}

async fn sales_users_reach_their_own_customers_only(db: TestDb) {
    let office = user(&db, "olga", Role::RentalOffice).await;
    let sam = user(&db, "sam", Role::Sales).await;
    let sue = user(&db, "sue", Role::Sales).await;
    let finance = user(&db, "fin", Role::Finance).await;
    // A sales user's new customer is theirs; naming another manager is refused.
    let mine = customer(&db, &sam, new_customer("Sam's")).await;
    assert_eq!(mine.account_manager_id, sam.user_id);
    let mut other = new_customer("Not Sam's");
    other.account_manager_id = sue.user_id;
    let err = customers::create(&db.store, &sam, other.clone())
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["account_manager_id"]);
    let sues = customer(&db, &office, other).await;
    let nobodys = customer(&db, &office, new_customer("Nobody's")).await;

    let sam_scope = Scope::of_actor(&sam);
    assert_eq!(
        names(&db, sam_scope, CustomerFilter::default()).await,
        ["Sam's"]
    );
    assert_eq!(
        names(&db, Scope::of_actor(&finance), CustomerFilter::default())
            .await
            .len(),
        3
    );
    for id in [sues.id, nobodys.id] {
        assert_not_found(
            &customers::get(&db.store, sam_scope, id).await.unwrap_err(),
            Entity::Customer,
        );
        let patch = CustomerPatch {
            version: 1,
            notes: Some(Some("mine now".into())),
            ..CustomerPatch::default()
        };
        assert_not_found(
            &customers::update(&db.store, &sam, id, patch)
                .await
                .unwrap_err(),
            Entity::Customer,
        );
        assert_not_found(
            &customers::delete(&db.store, &sam, id).await.unwrap_err(),
            Entity::Customer,
        );
        let contact = NewContact {
            name: "Spy".into(),
            role: None,
            phone: Some("+49 30 1".into()),
            email: None,
            preferred_channel: None,
        };
        assert_not_found(
            &contacts::create(&db.store, &sam, id, contact)
                .await
                .unwrap_err(),
            Entity::Customer,
        );
        assert_not_found(
            &follow_ups::list(&db.store, sam_scope, id, page(10, None))
                .await
                .unwrap_err(),
            Entity::Customer,
        );
        // A complaint against it names the customer as unknown, the same as a missing one.
        let complaint = NewComplaint {
            customer_id: id,
            asset_id: None,
            contract_id: None,
            category: "service".into(),
            description: None,
            opened_at: None,
        };
        let err = complaints::create(&db.store, &sam, complaint)
            .await
            .unwrap_err();
        assert_eq!(fields(err), ["customer_id"]);
    }
    // Handing one's customer to someone else is not a sales user's to do.
    let patch = CustomerPatch {
        version: 1,
        account_manager_id: Some(sue.user_id),
        ..CustomerPatch::default()
    };
    let err = customers::update(&db.store, &sam, mine.id, patch)
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["account_manager_id"]);
    // The summary counts their own only.
    let summary = list::summary(&db.store, sam_scope).await.unwrap();
    assert_eq!(summary.total, 1);
}

async fn the_list_filters_sorts_and_pages(db: TestDb) {
    let office = user(&db, "olga", Role::RentalOffice).await;
    let sam = user(&db, "sam", Role::Sales).await;
    let specs = [
        ("Delta", Some("champion"), Some("B"), "events", vec!["vip"]),
        ("alpha", Some("loyal"), Some("A"), "construction", vec![]),
        ("Charlie", None, None, "construction", vec!["vip", "north"]),
        ("bravo", Some("champion"), Some("D"), "utilities", vec![]),
        ("Echo", Some("hibernating"), Some("A"), "events", vec![]),
    ];
    for (name, tier, grade, industry, tags) in &specs {
        let mut new = new_customer(name);
        new.industry = Some((*industry).into());
        new.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        if *name == "Charlie" {
            new.account_manager_id = sam.user_id;
            new.status = Some(CustomerStatus::Active);
        }
        customer(&db, &office, new).await;
        // The classification's columns, as another service writes them.
        if let Some(tier) = tier {
            db.execute(&format!(
                "UPDATE customers SET value_tier = '{tier}' WHERE legal_name = '{name}'"
            ))
            .await;
        }
        if let Some(grade) = grade {
            db.execute(&format!(
                "UPDATE customers SET credit_grade = '{grade}' WHERE legal_name = '{name}'"
            ))
            .await;
        }
    }
    let by = |f: CustomerFilter| names(&db, Scope::All, f);
    assert_eq!(
        by(CustomerFilter::default()).await,
        ["alpha", "bravo", "Charlie", "Delta", "Echo"]
    );
    let sorted = |sort| CustomerFilter {
        sort: Some(sort),
        ..CustomerFilter::default()
    };
    assert_eq!(
        by(sorted(CustomerSort::Created)).await,
        ["Echo", "bravo", "Charlie", "alpha", "Delta"]
    );
    assert_eq!(
        by(sorted(CustomerSort::ValueTier)).await,
        ["bravo", "Delta", "alpha", "Echo", "Charlie"]
    );
    assert_eq!(
        by(sorted(CustomerSort::CreditGrade)).await,
        ["alpha", "Echo", "Delta", "bravo", "Charlie"]
    );
    let f = |f: fn(&mut CustomerFilter)| {
        let mut filter = CustomerFilter::default();
        f(&mut filter);
        filter
    };
    assert_eq!(
        by(f(|f| f.value_tier = Some("champion".into()))).await,
        ["bravo", "Delta"]
    );
    assert_eq!(
        by(f(|f| f.credit_grade = Some("A".into()))).await,
        ["alpha", "Echo"]
    );
    assert_eq!(
        by(f(|f| f.industry = Some("events".into()))).await,
        ["Delta", "Echo"]
    );
    assert_eq!(
        by(f(|f| f.tag = Some("vip".into()))).await,
        ["Charlie", "Delta"]
    );
    assert_eq!(
        by(f(|f| f.status = Some(CustomerStatus::Active))).await,
        ["Charlie"]
    );
    assert_eq!(by(f(|f| f.q = Some("LT".into()))).await, ["Delta"]);
    assert!(by(f(|f| f.q = Some("%".into()))).await.is_empty());
    let managed = CustomerFilter {
        account_manager_id: sam.user_id,
        ..CustomerFilter::default()
    };
    assert_eq!(by(managed).await, ["Charlie"]);

    // Keyset pages in each sort visit every customer once, in order.
    for sort in [
        CustomerSort::Name,
        CustomerSort::Created,
        CustomerSort::ValueTier,
        CustomerSort::CreditGrade,
    ] {
        let whole = by(sorted(sort)).await;
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let p = list::list(
                &db.store,
                Scope::All,
                &sorted(sort),
                page(2, cursor.as_deref()),
            )
            .await
            .unwrap();
            seen.extend(p.items.into_iter().map(|c| c.legal_name));
            match p.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, whole, "{sort:?}");
    }
}

async fn the_summary_shares_customers_by_tier_and_grade(db: TestDb) {
    let office = user(&db, "olga", Role::RentalOffice).await;
    for (i, tier) in ["champion", "champion", "loyal", ""].iter().enumerate() {
        let name = format!("C{i}");
        customer(&db, &office, new_customer(&name)).await;
        if !tier.is_empty() {
            db.execute(&format!(
                "UPDATE customers SET value_tier = '{tier}', credit_grade = 'B' \
                 WHERE legal_name = '{name}'"
            ))
            .await;
        }
    }
    let s = list::summary(&db.store, Scope::All).await.unwrap();
    assert_eq!(s.total, 4);
    let tiers: Vec<(Option<&str>, i64, f64)> = s
        .by_value_tier
        .iter()
        .map(|x| (x.value.as_deref(), x.count, x.share))
        .collect();
    assert_eq!(
        tiers,
        [
            (Some("champion"), 2, 0.5),
            (None, 1, 0.25),
            (Some("loyal"), 1, 0.25)
        ]
    );
    let grades: Vec<(Option<&str>, i64)> = s
        .by_credit_grade
        .iter()
        .map(|x| (x.value.as_deref(), x.count))
        .collect();
    assert_eq!(grades, [(Some("B"), 3), (None, 1)]);
}

async fn contacts_need_a_way_to_reach_them(db: TestDb) {
    let office = user(&db, "olga", Role::RentalOffice).await;
    let c = customer(&db, &office, new_customer("Reachable")).await;
    let contact = |phone: Option<&str>, email: Option<&str>, channel| NewContact {
        name: "Petra".into(),
        role: Some("site manager".into()),
        phone: phone.map(str::to_owned),
        email: email.map(str::to_owned),
        preferred_channel: channel,
    };
    let err = contacts::create(&db.store, &office, c.id, contact(None, None, None))
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["phone"]);
    let err = contacts::create(
        &db.store,
        &office,
        c.id,
        contact(Some("call me"), Some("not-an-address"), None),
    )
    .await
    .unwrap_err();
    assert_eq!(fields(err), ["email", "phone"]);
    let err = contacts::create(
        &db.store,
        &office,
        c.id,
        contact(None, Some("p@bau.example"), Some(ContactChannel::Whatsapp)),
    )
    .await
    .unwrap_err();
    assert_eq!(fields(err), ["preferred_channel"]);
    let made = contacts::create(
        &db.store,
        &office,
        c.id,
        contact(None, Some(" P@Bau.Example "), Some(ContactChannel::Email)),
    )
    .await
    .unwrap();
    assert_eq!(made.email.as_deref(), Some("p@bau.example"));
    // Clearing the only way to reach them is refused; adding a phone first is fine.
    let clear = ContactPatch {
        email: Some(None),
        preferred_channel: Some(None),
        ..ContactPatch::default()
    };
    let err = contacts::update(&db.store, &office, c.id, made.id, clear.clone())
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["phone"]);
    let with_phone = ContactPatch {
        phone: Some(Some("+49 89 123456".into())),
        ..clear
    };
    let changed = contacts::update(&db.store, &office, c.id, made.id, with_phone)
        .await
        .unwrap();
    assert_eq!(
        (changed.phone.as_deref(), changed.email.as_deref()),
        (Some("+49 89 123456"), None)
    );
    let detail = customers::get(&db.store, Scope::All, c.id).await.unwrap();
    assert_eq!(detail.contacts, vec![changed.clone()]);
    // A contact of another customer is not found under this one.
    let other = customer(&db, &office, new_customer("Other")).await;
    assert_not_found(
        &contacts::delete(&db.store, &office, other.id, made.id)
            .await
            .unwrap_err(),
        Entity::Contact,
    );
    contacts::delete(&db.store, &office, c.id, made.id)
        .await
        .unwrap();
    let left = contacts::list(&db.store, Scope::All, c.id, page(10, None))
        .await
        .unwrap();
    assert!(left.items.is_empty());
    db.assert_counts(&[(
        "SELECT COUNT(*) FROM audit_log WHERE entity = 'customer_contact'",
        3,
    )])
    .await;
}

async fn the_contact_log_is_newest_first(db: TestDb) {
    let sam = user(&db, "sam", Role::Sales).await;
    let c = customer(&db, &sam, new_customer("Logged")).await;
    let now = Utc::now();
    let entry = |hours_ago: i64, outcome: &str| NewFollowUp {
        at: Some(now - Duration::hours(hours_ago)),
        channel: FollowUpChannel::Phone,
        outcome: outcome.into(),
        next_step: Some("send a quote".into()),
        next_step_on: Some(now.date_naive() + Duration::days(2)),
    };
    for (h, o) in [(5, "second"), (30, "first"), (1, "third")] {
        follow_ups::create(&db.store, &sam, c.id, entry(h, o))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let p = follow_ups::list(
            &db.store,
            Scope::of_actor(&sam),
            c.id,
            page(2, cursor.as_deref()),
        )
        .await
        .unwrap();
        seen.extend(p.items.iter().map(|f| (f.outcome.clone(), f.user_id)));
        match p.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let by_sam = sam.user_id;
    assert_eq!(
        seen,
        [
            ("third".to_owned(), by_sam),
            ("second".to_owned(), by_sam),
            ("first".to_owned(), by_sam)
        ]
    );
    let mut future = entry(0, "");
    future.at = Some(now + Duration::hours(2));
    future.next_step_on = Some(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap());
    let err = follow_ups::create(&db.store, &sam, c.id, future)
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["at", "next_step_on", "outcome"]);
    db.assert_counts(&[("SELECT COUNT(*) FROM customer_follow_ups", 3)])
        .await;
}

async fn complaints_open_close_once_and_give_the_monthly_rate(db: TestDb) {
    let office = user(&db, "olga", Role::RentalOffice).await;
    let sam = user(&db, "sam", Role::Sales).await;
    let mut new = new_customer("Unhappy");
    new.status = Some(CustomerStatus::Active);
    new.account_manager_id = sam.user_id;
    let unhappy = customer(&db, &office, new).await;
    for name in ["Happy 1", "Happy 2", "Happy 3"] {
        let mut new = new_customer(name);
        new.status = Some(CustomerStatus::Active);
        customer(&db, &office, new).await;
    }
    // A site's id names no asset.
    let not_an_asset = db.add_site("unused depot").await;
    let complaint = |category: &str| NewComplaint {
        customer_id: unhappy.id,
        asset_id: None,
        contract_id: None,
        category: category.into(),
        description: Some("The excavator stalls.".into()),
        opened_at: None,
    };
    let mut bad = complaint("noise");
    bad.asset_id = Some(not_an_asset);
    bad.contract_id = Some(Uuid::now_v7());
    bad.opened_at = Some(Utc::now() + Duration::days(1));
    let err = complaints::create(&db.store, &office, bad)
        .await
        .unwrap_err();
    assert_eq!(
        fields(err),
        ["asset_id", "category", "contract_id", "opened_at"]
    );
    let first = complaints::create(&db.store, &sam, complaint("machine_fault"))
        .await
        .unwrap();
    complaints::create(&db.store, &office, complaint("billing"))
        .await
        .unwrap();

    let close = |version, resolution: &str| CloseComplaint {
        version,
        resolution: resolution.into(),
        closed_at: None,
    };
    let err = complaints::close(&db.store, &office, first.id, close(7, "fixed"))
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::VersionConflict, "stale version");
    let mut early = close(1, "fixed");
    early.closed_at = Some(first.opened_at - Duration::hours(1));
    let err = complaints::close(&db.store, &office, first.id, early)
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["closed_at"]);
    let closed = complaints::close(&db.store, &sam, first.id, close(1, "Replaced the filter."))
        .await
        .unwrap();
    assert!(closed.closed_at.is_some());
    let err = complaints::close(&db.store, &office, first.id, close(2, "again"))
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::ComplaintClosed, "closing twice");

    let listed = |state| {
        let filter = ComplaintFilter {
            state: Some(state),
            ..ComplaintFilter::default()
        };
        let store = db.store.clone();
        async move {
            complaints::list(&store, Scope::All, &filter, page(50, None))
                .await
                .unwrap()
                .items
                .len()
        }
    };
    assert_eq!(listed(ComplaintState::Open).await, 1);
    assert_eq!(listed(ComplaintState::Closed).await, 1);
    // Another sales user sees none of them.
    let sue = user(&db, "sue", Role::Sales).await;
    let theirs = complaints::list(
        &db.store,
        Scope::of_actor(&sue),
        &ComplaintFilter::default(),
        page(50, None),
    )
    .await
    .unwrap();
    assert!(theirs.items.is_empty());
    assert_not_found(
        &complaints::get(&db.store, Scope::of_actor(&sue), first.id)
            .await
            .unwrap_err(),
        Entity::Complaint,
    );

    // One customer of four active ones complained this month (twice): 25 %.
    let rate = complaints::rate(&db.store, Utc::now().date_naive())
        .await
        .unwrap();
    assert_eq!(
        (rate.customers_with_complaints, rate.active_customers),
        (1, 4)
    );
    assert_eq!(rate.rate, Some(0.25));
    let last_year = complaints::rate(&db.store, NaiveDate::from_ymd_opt(2020, 5, 17).unwrap())
        .await
        .unwrap();
    assert_eq!(
        last_year.month,
        NaiveDate::from_ymd_opt(2020, 5, 1).unwrap()
    );
    assert_eq!(last_year.customers_with_complaints, 0);
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM complaints", 2),
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'complaint.close'",
            1,
        ),
    ])
    .await;
}

async fn picklists_are_data_an_admin_extends_and_retires(db: TestDb) {
    let admin = Actor::system();
    let office = user(&db, "olga", Role::RentalOffice).await;
    let mut new = new_customer("Miner");
    new.industry = Some("mining".into());
    let err = customers::create(&db.store, &office, new.clone())
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["industry"]);
    let added = picklists::add(
        &db.store,
        &admin,
        Picklist::Industry,
        NewPicklistValue {
            value: "mining".into(),
            label: "Mining".into(),
            position: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(added.position, 100, "after `other` (99)");
    let miner = customer(&db, &office, new.clone()).await;
    let again = picklists::add(
        &db.store,
        &admin,
        Picklist::Industry,
        NewPicklistValue {
            value: "mining".into(),
            label: "Mining again".into(),
            position: None,
        },
    )
    .await
    .unwrap_err();
    assert_conflict(&again, ErrorCode::PicklistValueExists, "adding twice");
    let bad = picklists::add(
        &db.store,
        &admin,
        Picklist::Region,
        NewPicklistValue {
            value: "Upper Bavaria".into(),
            label: " ".into(),
            position: Some(-1),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(fields(bad), ["label", "position", "value"]);
    let retired = picklists::update(
        &db.store,
        &admin,
        Picklist::Industry,
        "mining",
        PicklistValuePatch {
            label: Some("Mining & quarrying".into()),
            retired: Some(true),
            ..PicklistValuePatch::default()
        },
    )
    .await
    .unwrap();
    assert!(retired.retired_at.is_some());
    let live = picklists::list(&db.store, Picklist::Industry, false)
        .await
        .unwrap();
    assert!(live.iter().all(|v| v.value != "mining"));
    let all = picklists::list(&db.store, Picklist::Industry, true)
        .await
        .unwrap();
    assert_eq!(all.last().unwrap().label, "Mining & quarrying");
    // A new record cannot choose it; the old one keeps it.
    let err = customers::create(&db.store, &office, new)
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["industry"]);
    let kept = customers::get(&db.store, Scope::All, miner.id)
        .await
        .unwrap();
    assert_eq!(kept.customer.industry.as_deref(), Some("mining"));
    assert_not_found(
        &picklists::update(
            &db.store,
            &admin,
            Picklist::Source,
            "mining",
            PicklistValuePatch::default(),
        )
        .await
        .unwrap_err(),
        Entity::PicklistValue,
    );
    db.assert_counts(&[(
        "SELECT COUNT(*) FROM audit_log WHERE entity = 'picklist_value'",
        2,
    )])
    .await;
}

async fn customer_sites_belong_to_customers(db: TestDb) {
    let office = user(&db, "olga", Role::RentalOffice).await;
    let c = customer(&db, &office, new_customer("Site owner")).await;
    let site = |name: &str, kind, customer_id| NewSite {
        name: name.into(),
        kind,
        customer_id,
        address: None,
        location: None,
        geofence: None,
    };
    let made = sites::create(
        &db.store,
        &office,
        site("Building site A", SiteKind::CustomerSite, Some(c.id)),
    )
    .await
    .unwrap();
    assert_eq!(made.customer_id, Some(c.id));
    let err = sites::create(
        &db.store,
        &office,
        site("Depot", SiteKind::Depot, Some(c.id)),
    )
    .await
    .unwrap_err();
    assert_eq!(fields(err), ["customer_id"]);
    let err = sites::create(
        &db.store,
        &office,
        site("Ghost", SiteKind::CustomerSite, Some(Uuid::now_v7())),
    )
    .await
    .unwrap_err();
    assert_eq!(fields(err), ["customer_id"]);
    let detail = customers::get(&db.store, Scope::All, c.id).await.unwrap();
    assert_eq!(detail.sites.len(), 1);
    assert_eq!(detail.sites[0].id, made.id);
    assert_eq!(db.count("SELECT COUNT(*) FROM sites").await, 1);

    // An existing customer site is given its customer by a patch; a depot never is.
    let later = sites::create(
        &db.store,
        &office,
        site("Site B", SiteKind::CustomerSite, None),
    )
    .await
    .unwrap();
    let depot = db.add_site("Depot").await;
    let link = |version, customer_id| SitePatch {
        version,
        customer_id: Some(customer_id),
        ..SitePatch::default()
    };
    let err = sites::update(&db.store, &office, depot, link(1, Some(c.id)))
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["customer_id"]);
    let err = sites::update(&db.store, &office, later.id, link(1, Some(Uuid::now_v7())))
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["customer_id"]);
    let linked = sites::update(&db.store, &office, later.id, link(1, Some(c.id)))
        .await
        .unwrap();
    assert_eq!((linked.customer_id, linked.version), (Some(c.id), 2));
    let err = sites::update(&db.store, &office, later.id, link(1, None))
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::VersionConflict, "stale site version");
    let detail = customers::get(&db.store, Scope::All, c.id).await.unwrap();
    assert_eq!(detail.sites.len(), 2);
    let unlinked = sites::update(&db.store, &office, later.id, link(2, None))
        .await
        .unwrap();
    assert_eq!(unlinked.customer_id, None);
    assert_eq!(sites::get(&db.store, later.id).await.unwrap(), unlinked);
    db.assert_counts(&[(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'site.update'",
        2,
    )])
    .await;
}
