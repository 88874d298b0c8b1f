//! Field scans linked to contracts (issue 14, item 7): a delivery goes on hire under the line it
//! names or the customer's open line, a return ends it, the contract's physical state is
//! derived from the periods, refused lines keep their code and write nothing, offline batches
//! re-sent and out of order never double or reopen a period, damage at a return inspection is
//! recorded against the contract, sales users see only their customers' contracts, and the
//! technicians' lookup lists open lines minimally, and a unit a category line allocated is
//! booked while it is out. Runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, SubsecRound, Utc};
use domain::audit::AuditFilter;
use domain::contracts::availability;
use domain::customers::Scope;
use domain::on_hire;
use domain::on_hire::fixtures::{self, Rents, TestContract};
use domain::on_hire::lookup::{self, OpenLinesFilter};
use domain::photos::{self, FsBlobStore};
use domain::scans::{self, Policy};
use domain::testing::{assert_not_found, Fixture, TestDb};
use domain::{assets, categories, sites, users, Actor, Backend, DomainError, Entity, PageRequest};
use mobile_shared::contracts::NewBlock;
use mobile_shared::on_hire::{ContractOnHire, OnHirePeriod, PhysicalState};
use mobile_shared::scan::{CommandResult, CommandStatus, Condition, FieldAction, FieldCommand};
use mobile_shared::wire::{AuditSource, NewAsset, NewCategory, NewSite, NewUser, SiteKind};
use mobile_shared::{AssetStatus, ErrorCode, Role};
use uuid::Uuid;

domain::backend_matrix!(
    Rental:
    a_named_line_goes_on_hire_at_the_delivery_and_off_at_the_return,
    the_customers_open_line_is_picked_when_none_is_named,
    refused_deliveries_keep_their_code_and_write_nothing,
    offline_batches_apply_once_in_device_time_order,
    damage_at_a_return_inspection_is_recorded_against_the_contract,
    sales_read_only_their_customers_contracts,
    the_delivery_lookup_lists_open_lines_minimally,
    concurrent_deliveries_cannot_both_take_the_last_unit,
    a_category_unit_is_booked_while_it_is_out,
);

/// A depot, a customer (`acme`) with its yard, another customer with its own yard, a
/// technician, the category `Excavators`, and a clock of device times.
struct Rental {
    db: TestDb,
    tech: Actor,
    depot: Uuid,
    yard: Uuid,
    acme: Uuid,
    other: Uuid,
    other_yard: Uuid,
    /// Device times are minutes after this (a week ago, so none is in the future).
    base: DateTime<Utc>,
}

impl Fixture for Rental {
    async fn open(backend: Backend) -> Option<Rental> {
        let db = TestDb::open(backend).await?;
        let user = users::create(
            &db.store,
            &Actor::system(),
            NewUser {
                username: "tech.tom".into(),
                password: "correct horse battery".into(),
                role: Role::Technician,
                email: None,
            },
        )
        .await
        .unwrap();
        let tech = Actor::user(user.id, user.username, Role::Technician, AuditSource::Api);
        for name in ["Excavators", "Dumpers"] {
            let new = NewCategory {
                name: name.into(),
                description: None,
            };
            categories::create(&db.store, &Actor::system(), new)
                .await
                .unwrap();
        }
        let depot = db.add_site("Depot").await;
        let yard = customer_site(&db, "Acme yard").await;
        let other_yard = customer_site(&db, "Other yard").await;
        let acme = fixtures::customer(&db.store, "Acme Construction Ltd", None)
            .await
            .unwrap();
        let other = fixtures::customer(&db.store, "Other Works plc", None)
            .await
            .unwrap();
        fixtures::site_of(&db.store, yard, acme).await.unwrap();
        fixtures::site_of(&db.store, other_yard, other)
            .await
            .unwrap();
        Some(Rental {
            db,
            tech,
            depot,
            yard,
            acme,
            other,
            other_yard,
            // Whole seconds: PostgreSQL keeps microseconds, and times are compared exactly.
            base: Utc::now().trunc_subsecs(0) - Duration::days(7),
        })
    }
}

async fn customer_site(db: &TestDb, name: &str) -> Uuid {
    let new = NewSite {
        name: name.into(),
        kind: SiteKind::CustomerSite,
        address: None,
        location: None,
        geofence: None,
        customer_id: None,
    };
    sites::create(&db.store, &Actor::system(), new)
        .await
        .unwrap()
        .id
}

impl Rental {
    fn t(&self, minutes: i64) -> DateTime<Utc> {
        self.base + Duration::minutes(minutes)
    }

    /// An available asset at the depot, of `category` if given.
    async fn asset(&self, code: &str, category: Option<&str>) -> Uuid {
        let new = NewAsset {
            code: code.into(),
            name: format!("Machine {code}"),
            category: category.map(str::to_owned),
            home_site_id: Some(self.depot),
            site_id: Some(self.depot),
            ..NewAsset::default()
        };
        assets::create(&self.db.store, &Actor::system(), new)
            .await
            .unwrap()
            .id
    }

    async fn excavator(&self, code: &str) -> Uuid {
        self.asset(code, Some("Excavators")).await
    }

    async fn contract(&self, customer: Uuid, site: Option<Uuid>, status: &str) -> TestContract {
        fixtures::contract(&self.db.store, customer, site, status)
            .await
            .unwrap()
    }

    async fn line(&self, contract: &TestContract, rents: Rents) -> Uuid {
        fixtures::line(&self.db.store, contract.id, rents)
            .await
            .unwrap()
    }

    async fn category(&self, name: &str) -> Uuid {
        let all = PageRequest::new(None, None).unwrap();
        categories::list(&self.db.store, all)
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|c| c.name == name)
            .unwrap()
            .id
    }

    fn cmd(&self, action: FieldAction, asset: Uuid, minutes: i64) -> FieldCommand {
        let mut c = FieldCommand::new(action, None, self.t(minutes));
        c.asset_id = Some(asset);
        c
    }

    /// A delivery to Acme's yard, under `line` if given.
    fn deliver(&self, asset: Uuid, minutes: i64, line: Option<Uuid>) -> FieldCommand {
        let mut c = self.cmd(FieldAction::Deliver, asset, minutes);
        c.site_id = Some(self.yard);
        c.contract_line_id = line;
        c
    }

    /// A return to the depot whose inspection passed.
    fn ret(&self, asset: Uuid, minutes: i64) -> FieldCommand {
        let mut c = self.cmd(FieldAction::Return, asset, minutes);
        c.site_id = Some(self.depot);
        c.inspection_passed = Some(true);
        c
    }

    async fn scan(&self, c: &FieldCommand) -> CommandResult {
        scans::apply(
            &self.db.store,
            &Policy::default(),
            &self.tech,
            c,
            None,
            vec![],
        )
        .await
        .unwrap()
    }

    /// Applies `c` and returns the period it opened or closed.
    async fn applied(&self, c: &FieldCommand) -> Option<OnHirePeriod> {
        let r = self.scan(c).await;
        assert_eq!(r.status, CommandStatus::Applied, "{r:?}");
        r.on_hire
    }

    async fn on_hire(&self, contract: &TestContract) -> ContractOnHire {
        on_hire::for_contract(&self.db.store, contract.id, Scope::All)
            .await
            .unwrap()
    }

    async fn state(&self, contract: &TestContract) -> PhysicalState {
        let state = on_hire::physical_state(&self.db.store, contract.id)
            .await
            .unwrap();
        assert_eq!(state, self.on_hire(contract).await.physical_state);
        state
    }

    async fn status(&self, asset: Uuid) -> AssetStatus {
        assets::get(&self.db.store, asset).await.unwrap().status
    }

    async fn periods(&self) -> i64 {
        self.db
            .count("SELECT COUNT(*) FROM contract_line_assets")
            .await
    }

    async fn lookup(&self, filter: OpenLinesFilter) -> Vec<mobile_shared::on_hire::DeliveryLine> {
        let page = PageRequest::new(None, None).unwrap();
        lookup::open_lines(&self.db.store, filter, page)
            .await
            .unwrap()
            .items
    }
}

fn refused(r: &CommandResult, code: ErrorCode) {
    assert_eq!(r.status, CommandStatus::Rejected, "{r:?}");
    assert_eq!(r.error.as_ref().unwrap().error, code, "{r:?}");
    assert!(r.on_hire.is_none(), "{r:?}");
}

async fn a_named_line_goes_on_hire_at_the_delivery_and_off_at_the_return(r: Rental) {
    let a = r.asset("HIRE-1", None).await;
    let c = r.contract(r.acme, Some(r.yard), "active").await;
    let line = r.line(&c, Rents::Asset(a)).await;
    assert_eq!(r.state(&c).await, PhysicalState::NotDelivered);

    let mut deliver = r.deliver(a, 10, Some(line));
    deliver.contract_ref = Some("PO-778 / site office".into());
    let period = r.applied(&deliver).await.expect("on hire under the line");
    assert_eq!(period.contract_id, c.id);
    assert_eq!(period.contract_number, c.number);
    assert_eq!(period.contract_line_id, line);
    assert_eq!(period.line_no, 1);
    assert_eq!(period.asset_id, a);
    assert_eq!(period.asset_code, "HIRE-1");
    assert_eq!(period.on_hire_at, r.t(10), "device time, not arrival");
    assert_eq!(period.off_hire_at, None);
    assert_eq!(period.delivery_scan_id, deliver.id);
    assert_eq!(r.state(&c).await, PhysicalState::Out);
    assert_eq!(
        fixtures::line_hire_times(&r.db.store, line).await.unwrap(),
        (Some(r.t(10)), None)
    );
    // The free-text reference is stored as sent.
    let history = scans::history(&r.db.store, a, 10).await.unwrap();
    assert_eq!(
        history[0]["command"]["contract_ref"], "PO-778 / site office",
        "{history:?}"
    );

    // A re-sent delivery is answered from its record and opens nothing.
    let again = r.scan(&deliver).await;
    assert_eq!(again.status, CommandStatus::Duplicate);
    assert_eq!(again.on_hire.as_ref(), Some(&period));
    assert_eq!(r.periods().await, 1);

    let back = r.ret(a, 50);
    let closed = r.applied(&back).await.expect("the period is closed");
    assert_eq!(closed.id, period.id);
    assert_eq!(closed.off_hire_at, Some(r.t(50)));
    assert_eq!(closed.return_scan_id, Some(back.id));
    assert_eq!(r.state(&c).await, PhysicalState::AllReturned);
    assert_eq!(
        fixtures::line_hire_times(&r.db.store, line).await.unwrap(),
        (Some(r.t(10)), Some(r.t(50)))
    );
    let view = r.on_hire(&c).await;
    assert_eq!((view.on_hire, view.returned), (0, 1));
    assert_eq!(view.periods, vec![closed]);

    // Each period change is audited against the contract, by the technician.
    let filter = AuditFilter {
        entity: Some("contract".into()),
        entity_id: Some(c.id),
        ..AuditFilter::default()
    };
    let mut actions: Vec<(String, String)> =
        r.db.audit(filter)
            .await
            .into_iter()
            .map(|e| (e.action, e.actor))
            .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            ("contract.off_hire".to_owned(), "tech.tom".to_owned()),
            ("contract.on_hire".to_owned(), "tech.tom".to_owned()),
        ]
    );
}

async fn the_customers_open_line_is_picked_when_none_is_named(r: Rental) {
    let excavators = r.category("Excavators").await;
    let [a, b, c3, d] = [
        r.excavator("EX-A").await,
        r.excavator("EX-B").await,
        r.excavator("EX-C").await,
        r.excavator("EX-D").await,
    ];
    // Not candidates: a draft of Acme's, and another customer's active contract, both for A.
    let draft = r.contract(r.acme, Some(r.yard), "draft").await;
    r.line(&draft, Rents::Asset(a)).await;
    let foreign = r.contract(r.other, Some(r.other_yard), "active").await;
    r.line(&foreign, Rents::Asset(a)).await;
    // Acme's signed contract: two excavators, and D by name.
    let k = r.contract(r.acme, Some(r.yard), "signed").await;
    let two = r.line(&k, Rents::Category(excavators, 2)).await;
    let d_line = r.line(&k, Rents::Asset(d)).await;

    let pa = r.applied(&r.deliver(a, 10, None)).await.unwrap();
    assert_eq!((pa.contract_id, pa.contract_line_id), (k.id, two));
    // D's own line comes before the category line it also fits.
    let pd = r.applied(&r.deliver(d, 11, None)).await.unwrap();
    assert_eq!(pd.contract_line_id, d_line);
    let pb = r.applied(&r.deliver(b, 12, None)).await.unwrap();
    assert_eq!(pb.contract_line_id, two);
    // Both excavators are out: a third goes out linked to no contract, as before contracts.
    assert_eq!(r.applied(&r.deliver(c3, 13, None)).await, None);
    assert_eq!(r.status(c3).await, AssetStatus::OnRent);

    let view = r.on_hire(&k).await;
    assert_eq!((view.physical_state, view.on_hire), (PhysicalState::Out, 3));
    let codes: Vec<&str> = view.periods.iter().map(|p| p.asset_code.as_str()).collect();
    assert_eq!(codes, ["EX-A", "EX-D", "EX-B"], "oldest first");
    assert_eq!(r.state(&draft).await, PhysicalState::NotDelivered);
    assert_eq!(r.state(&foreign).await, PhysicalState::NotDelivered);

    r.applied(&r.ret(a, 40)).await.unwrap();
    assert_eq!(r.state(&k).await, PhysicalState::PartlyReturned);
    // C was on no contract: its return closes nothing.
    assert_eq!(r.applied(&r.ret(c3, 41)).await, None);
    // The freed unit goes out again under the same line: the line is full again.
    let pc = r.applied(&r.deliver(c3, 45, None)).await.unwrap();
    assert_eq!(pc.contract_line_id, two);
    assert_eq!(r.state(&k).await, PhysicalState::Out);
    for (asset, minute) in [(b, 60), (d, 61), (c3, 70)] {
        r.applied(&r.ret(asset, minute)).await.unwrap();
    }
    assert_eq!(r.state(&k).await, PhysicalState::AllReturned);
    assert_eq!(
        fixtures::line_hire_times(&r.db.store, two).await.unwrap(),
        (Some(r.t(10)), Some(r.t(70))),
        "on hire from the first out to the last back"
    );

    // A customer site of no customer: a contract for that site is the candidate.
    let bare = customer_site(&r.db, "Bare yard").await;
    let e = r.asset("EX-E", None).await;
    let for_bare = r.contract(r.acme, Some(bare), "active").await;
    let e_line = r.line(&for_bare, Rents::Asset(e)).await;
    let mut to_bare = r.deliver(e, 80, None);
    to_bare.site_id = Some(bare);
    assert_eq!(r.applied(&to_bare).await.unwrap().contract_line_id, e_line);
}

async fn refused_deliveries_keep_their_code_and_write_nothing(r: Rental) {
    let excavators = r.category("Excavators").await;
    let dumpers = r.category("Dumpers").await;
    let draft = r.contract(r.acme, Some(r.yard), "draft").await;
    let ended = r.contract(r.acme, Some(r.yard), "ended").await;
    let foreign = r.contract(r.other, Some(r.other_yard), "active").await;
    let open = r.contract(r.acme, Some(r.yard), "active").await;
    let one = r.line(&open, Rents::Category(excavators, 1)).await;
    let dumper_line = r.line(&open, Rents::Category(dumpers, 1)).await;
    let someone_else = r.asset("ELSE-1", None).await;
    let else_line = r.line(&open, Rents::Asset(someone_else)).await;
    // The one excavator of `one` is out.
    let first = r.excavator("EX-FIRST").await;
    r.applied(&r.deliver(first, 5, Some(one))).await.unwrap();
    let rows = r.periods().await;

    let mut cases: Vec<(&str, FieldCommand, ErrorCode, Option<&str>)> = Vec::new();
    for (i, (case, contract, code)) in [
        ("a draft", &draft, ErrorCode::ContractNotOpen),
        ("an ended contract", &ended, ErrorCode::ContractNotOpen),
        (
            "another customer",
            &foreign,
            ErrorCode::ContractCustomerMismatch,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let a = r.excavator(&format!("REF-{i}")).await;
        let line = r.line(contract, Rents::Asset(a)).await;
        cases.push((case, r.deliver(a, 10, Some(line)), code, None));
    }
    let a = r.excavator("REF-ASSET").await;
    cases.push((
        "a line for another asset",
        r.deliver(a, 10, Some(else_line)),
        ErrorCode::ValidationFailed,
        Some("contract_line_id"),
    ));
    cases.push((
        "a line for another category",
        r.deliver(a, 10, Some(dumper_line)),
        ErrorCode::ValidationFailed,
        Some("contract_line_id"),
    ));
    cases.push((
        "no such line",
        r.deliver(a, 10, Some(Uuid::now_v7())),
        ErrorCode::ValidationFailed,
        Some("contract_line_id"),
    ));
    cases.push((
        "a full category line",
        r.deliver(a, 10, Some(one)),
        ErrorCode::ContractLineFull,
        None,
    ));
    let mut transfer = r.cmd(FieldAction::Transfer, a, 10);
    transfer.site_id = Some(r.depot);
    transfer.contract_line_id = Some(one);
    cases.push((
        "a line on a transfer",
        transfer,
        ErrorCode::ValidationFailed,
        Some("contract_line_id"),
    ));

    for (case, cmd, code, field) in cases {
        let result = r.scan(&cmd).await;
        refused(&result, code);
        if let Some(field) = field {
            let fields = result.error.as_ref().unwrap().fields.as_ref();
            assert!(
                fields.is_some_and(|f| f.contains_key(field)),
                "{case}: {result:?}"
            );
        }
        let asset = cmd.asset_id.unwrap();
        assert_eq!(r.status(asset).await, AssetStatus::Available, "{case}");
        assert_eq!(r.periods().await, rows, "{case}: nothing written");
        // A re-send is answered with the same refusal.
        let again = r.scan(&cmd).await;
        assert_eq!(again.status, CommandStatus::Duplicate, "{case}");
        assert_eq!(again.error, result.error, "{case}");
    }
    for c in [&draft, &ended, &foreign] {
        assert_eq!(r.state(c).await, PhysicalState::NotDelivered);
    }
    assert_eq!(r.state(&open).await, PhysicalState::Out);
}

async fn offline_batches_apply_once_in_device_time_order(r: Rental) {
    let excavators = r.category("Excavators").await;
    let a = r.asset("OFF-A", None).await;
    let b = r.excavator("OFF-B").await;
    let k = r.contract(r.acme, Some(r.yard), "active").await;
    let a_line = r.line(&k, Rents::Asset(a)).await;
    let two = r.line(&k, Rents::Category(excavators, 2)).await;

    // A day's queue, sent in the order the phone happened to store it.
    let mut inspect = r.cmd(FieldAction::Inspect, a, 20);
    inspect.condition = Some(Condition::Good);
    let batch = vec![
        r.ret(a, 30),
        r.deliver(a, 10, None),
        inspect,
        r.deliver(b, 15, None),
    ];
    let results = scans::apply_batch(&r.db.store, &Policy::default(), &r.tech, &batch)
        .await
        .unwrap();
    for (cmd, result) in batch.iter().zip(&results) {
        assert_eq!(result.id, cmd.id, "answers in the order given");
        assert_eq!(result.status, CommandStatus::Applied, "{result:?}");
    }
    assert_eq!(
        results[1].on_hire.as_ref().unwrap().contract_line_id,
        a_line
    );
    assert_eq!(results[3].on_hire.as_ref().unwrap().contract_line_id, two);
    let closed = results[0].on_hire.as_ref().unwrap();
    assert_eq!(
        (closed.on_hire_at, closed.off_hire_at),
        (r.t(10), Some(r.t(30)))
    );

    // The whole batch again (the phone never saw the answer): nothing new.
    let again = scans::apply_batch(&r.db.store, &Policy::default(), &r.tech, &batch)
        .await
        .unwrap();
    assert!(again.iter().all(|x| x.status == CommandStatus::Duplicate));
    assert_eq!(r.periods().await, 2);

    // A goes out again; then a late return of A (made before that delivery, queued on another
    // phone) and a late delivery of B arrive: both superseded, neither touches a period.
    r.applied(&r.deliver(a, 60, None)).await.unwrap();
    let late = vec![r.ret(a, 40), r.deliver(b, 12, None)];
    let results = scans::apply_batch(&r.db.store, &Policy::default(), &r.tech, &late)
        .await
        .unwrap();
    for result in &results {
        refused(result, ErrorCode::Superseded);
    }
    assert_eq!(r.status(a).await, AssetStatus::OnRent);
    let view = r.on_hire(&k).await;
    let spans: Vec<_> = view
        .periods
        .iter()
        .map(|p| (p.asset_code.as_str(), p.on_hire_at, p.off_hire_at))
        .collect();
    assert_eq!(
        spans,
        [
            ("OFF-A", r.t(10), Some(r.t(30))),
            ("OFF-B", r.t(15), None),
            ("OFF-A", r.t(60), None),
        ]
    );
    // A went back out under its line: nothing is missing from the contract.
    assert_eq!(view.physical_state, PhysicalState::Out);
    assert_eq!((view.on_hire, view.returned), (2, 1));
    assert_eq!(
        fixtures::line_hire_times(&r.db.store, a_line)
            .await
            .unwrap(),
        (Some(r.t(10)), None)
    );
}

async fn damage_at_a_return_inspection_is_recorded_against_the_contract(r: Rental) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::new(dir.path());
    let photo = photos::store(
        &r.db.store,
        &blobs,
        &Actor::system(),
        b"cracked bucket".to_vec(),
        "image/png",
    )
    .await
    .unwrap()
    .sha256;
    let [a, b, c3] = [
        r.asset("DMG-A", None).await,
        r.asset("DMG-B", None).await,
        r.asset("DMG-C", None).await,
    ];
    let k = r.contract(r.acme, Some(r.yard), "active").await;
    let a_line = r.line(&k, Rents::Asset(a)).await;
    r.line(&k, Rents::Asset(b)).await;
    r.line(&k, Rents::Asset(c3)).await;
    for (asset, minute) in [(a, 0), (b, 1), (c3, 2)] {
        r.applied(&r.deliver(asset, minute, None)).await.unwrap();
    }
    let inspect = |asset: Uuid, minutes: i64, grade: Condition| {
        let mut c = r.cmd(FieldAction::Inspect, asset, minutes);
        c.condition = Some(grade);
        c.inspection_passed = Some(grade != Condition::Damaged);
        c
    };
    // Damage found while on hire is not a return inspection.
    r.applied(&inspect(c3, 5, Condition::Damaged)).await;

    let mut back = r.ret(a, 30);
    back.inspection_passed = Some(false);
    back.notes = Some("Cracked bucket".into());
    back.photos = vec![photo.clone()];
    r.applied(&back).await.unwrap();
    assert_eq!(r.status(a).await, AssetStatus::InMaintenance);
    // The yard's inspection the next morning, and one three days later (too late to tell).
    let next_morning = inspect(a, 30 + 16 * 60, Condition::Damaged);
    r.applied(&next_morning).await;
    r.applied(&inspect(a, 30 + 72 * 60, Condition::Damaged))
        .await;
    // B comes back fine; its inspection passes.
    r.applied(&r.ret(b, 40)).await.unwrap();
    r.applied(&inspect(b, 41, Condition::Fair)).await;
    // A machine on no contract.
    let loose = r.asset("DMG-LOOSE", None).await;
    r.applied(&inspect(loose, 42, Condition::Damaged)).await;

    let all = PageRequest::new(None, None).unwrap();
    let damages = on_hire::damages(&r.db.store, k.id, Scope::All, all)
        .await
        .unwrap()
        .items;
    assert_eq!(damages.len(), 2, "{damages:?}");
    let (first, second) = (&damages[0], &damages[1]);
    assert_eq!(
        (first.contract_id, first.contract_line_id, first.asset_id),
        (k.id, a_line, a)
    );
    assert_eq!(first.asset_code, "DMG-A");
    assert_eq!(first.scan_event_id, back.id);
    assert_eq!(first.description, "Cracked bucket");
    assert_eq!(first.photos, [photo]);
    assert_eq!(first.recorded_at, r.t(30));
    assert_eq!(first.estimated_cost, None);
    assert_eq!(second.scan_event_id, next_morning.id);
    assert_eq!(second.description, "return inspection: condition damaged");
    assert!(second.photos.is_empty());
    assert_eq!(
        r.db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'contract.damage'")
            .await,
        2
    );

    // In pages.
    let one = PageRequest::new(Some(1), None).unwrap();
    let page = on_hire::damages(&r.db.store, k.id, Scope::All, one)
        .await
        .unwrap();
    assert_eq!(page.items, std::slice::from_ref(first));
    let cursor = page.next_cursor.expect("a second page");
    let next = PageRequest::new(Some(1), Some(&cursor)).unwrap();
    let page = on_hire::damages(&r.db.store, k.id, Scope::All, next)
        .await
        .unwrap();
    assert_eq!(page.items, std::slice::from_ref(second));
}

async fn sales_read_only_their_customers_contracts(r: Rental) {
    let mut managers = Vec::new();
    for name in ["sales.sam", "sales.sue"] {
        let new = NewUser {
            username: name.into(),
            password: "correct horse battery".into(),
            role: Role::Sales,
            email: None,
        };
        managers.push(
            users::create(&r.db.store, &Actor::system(), new)
                .await
                .unwrap()
                .id,
        );
    }
    let theirs = fixtures::customer(&r.db.store, "Sam's client", Some(managers[0]))
        .await
        .unwrap();
    let k = r.contract(theirs, None, "active").await;
    let page = || PageRequest::new(None, None).unwrap();

    let sam = Scope::ManagedBy(managers[0]);
    assert_eq!(
        on_hire::for_contract(&r.db.store, k.id, sam)
            .await
            .unwrap()
            .contract_number,
        k.number
    );
    assert!(on_hire::damages(&r.db.store, k.id, sam, page())
        .await
        .is_ok());
    // Another account manager, and a contract of a customer nobody manages: not found.
    let sue = Scope::ManagedBy(managers[1]);
    let acme = r.contract(r.acme, Some(r.yard), "active").await;
    for (id, scope) in [(k.id, sue), (acme.id, sam)] {
        let e = on_hire::for_contract(&r.db.store, id, scope)
            .await
            .unwrap_err();
        assert_not_found(&e, Entity::Contract);
        let e = on_hire::damages(&r.db.store, id, scope, page())
            .await
            .unwrap_err();
        assert_not_found(&e, Entity::Contract);
    }
    // No such contract, whoever asks.
    let missing = Uuid::now_v7();
    let e = on_hire::for_contract(&r.db.store, missing, Scope::All)
        .await
        .unwrap_err();
    assert_not_found(&e, Entity::Contract);
    let e = on_hire::physical_state(&r.db.store, missing)
        .await
        .unwrap_err();
    assert_not_found(&e, Entity::Contract);
}

async fn the_delivery_lookup_lists_open_lines_minimally(r: Rental) {
    let excavators = r.category("Excavators").await;
    let a = r.asset("LOOK-A", None).await;
    let [b, c3, d] = [
        r.excavator("LOOK-B").await,
        r.excavator("LOOK-C").await,
        r.excavator("LOOK-D").await,
    ];
    let k = r.contract(r.acme, Some(r.yard), "active").await;
    let a_line = r.line(&k, Rents::Asset(a)).await;
    let two = r.line(&k, Rents::Category(excavators, 2)).await;
    let draft = r.contract(r.acme, Some(r.yard), "draft").await;
    r.line(&draft, Rents::Asset(a)).await;
    let foreign = r.contract(r.other, Some(r.other_yard), "active").await;
    let foreign_line = r.line(&foreign, Rents::Asset(d)).await;

    let ids = |rows: &[mobile_shared::on_hire::DeliveryLine]| -> Vec<Uuid> {
        rows.iter().map(|l| l.contract_line_id).collect()
    };
    let by_customer = r
        .lookup(OpenLinesFilter {
            customer_id: Some(r.acme),
            ..Default::default()
        })
        .await;
    assert_eq!(ids(&by_customer), [a_line, two], "the draft is not open");
    let row = &by_customer[1];
    assert_eq!(row.contract_number, k.number);
    assert_eq!(row.customer_legal_name, "Acme Construction Ltd");
    assert_eq!(row.site_id, Some(r.yard));
    assert_eq!(row.site_name.as_deref(), Some("Acme yard"));
    assert_eq!(
        (row.category_id, row.category_name.as_deref(), row.quantity),
        (Some(excavators), Some("Excavators"), 2)
    );
    assert_eq!((row.on_hire, row.returned), (0, 0));
    assert_eq!(by_customer[0].asset_code.as_deref(), Some("LOOK-A"));
    // What a technician sees of a contract: nothing about money or the office's notes.
    let text = serde_json::to_string(&by_customer).unwrap();
    for secret in ["rate", "deposit", "notes", "billing"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }

    let by_site = r
        .lookup(OpenLinesFilter {
            site_id: Some(r.yard),
            ..Default::default()
        })
        .await;
    assert_eq!(ids(&by_site), [a_line, two]);
    let by_asset = |asset| {
        r.lookup(OpenLinesFilter {
            asset_id: Some(asset),
            ..Default::default()
        })
    };
    assert_eq!(ids(&by_asset(a).await), [a_line]);
    assert_eq!(ids(&by_asset(d).await), [two, foreign_line]);
    // Filters combine.
    let d_at_acme = r
        .lookup(OpenLinesFilter {
            asset_id: Some(d),
            customer_id: Some(r.acme),
            ..Default::default()
        })
        .await;
    assert_eq!(ids(&d_at_acme), [two]);

    // Both excavators out: the line is full for D, still listed for B, which is on hire under it.
    r.applied(&r.deliver(b, 10, Some(two))).await.unwrap();
    r.applied(&r.deliver(c3, 11, Some(two))).await.unwrap();
    assert_eq!(ids(&by_asset(d).await), [foreign_line]);
    let for_b = by_asset(b).await;
    assert_eq!(ids(&for_b), [two]);
    assert_eq!((for_b[0].on_hire, for_b[0].returned), (2, 0));

    // In pages, and never without a filter.
    let one = PageRequest::new(Some(1), None).unwrap();
    let filter = OpenLinesFilter {
        customer_id: Some(r.acme),
        ..Default::default()
    };
    let page = lookup::open_lines(&r.db.store, filter, one).await.unwrap();
    assert_eq!(ids(&page.items), [a_line]);
    assert!(page.next_cursor.is_some());
    let e = lookup::open_lines(&r.db.store, OpenLinesFilter::default(), one)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, DomainError::Validation(f) if f.contains_key("asset_id")),
        "{e:?}"
    );
}

/// Two phones deliver two excavators at once under a line with one unit left: the line's lock
/// lets exactly one go on hire under it; the other is refused `contract_line_full`, or, picking
/// by itself, goes out linked to no contract.
async fn concurrent_deliveries_cannot_both_take_the_last_unit(r: Rental) {
    let excavators = r.category("Excavators").await;
    let k = r.contract(r.acme, Some(r.yard), "active").await;
    let one = r.line(&k, Rents::Category(excavators, 1)).await;
    for (round, named) in [(0, Some(one)), (1, None)] {
        let x = r.excavator(&format!("RACE-{round}-X")).await;
        let y = r.excavator(&format!("RACE-{round}-Y")).await;
        let (cx, cy) = (r.deliver(x, 10, named), r.deliver(y, 10, named));
        let (rx, ry) = tokio::join!(r.scan(&cx), r.scan(&cy));
        let linked: Vec<&CommandResult> = [&rx, &ry]
            .into_iter()
            .filter(|res| res.on_hire.is_some())
            .collect();
        assert_eq!(linked.len(), 1, "round {round}: {rx:?} {ry:?}");
        let other = if linked[0].id == rx.id { &ry } else { &rx };
        match named {
            Some(_) => refused(other, ErrorCode::ContractLineFull),
            None => assert_eq!(other.status, CommandStatus::Applied, "{other:?}"),
        }
        assert_eq!(r.on_hire(&k).await.on_hire, 1, "round {round}");
        // Free the unit for the next round.
        let winner = linked[0].asset.as_ref().unwrap().id;
        r.applied(&r.ret(winner, 20)).await.unwrap();
    }
}

async fn a_category_unit_is_booked_while_it_is_out(r: Rental) {
    let excavators = r.category("Excavators").await;
    let [blocked, free] = [r.excavator("EX-1").await, r.excavator("EX-2").await];
    let c = r.contract(r.acme, Some(r.yard), "active").await;
    let line = r.line(&c, Rents::Category(excavators, 2)).await;
    let today = chrono::Utc::now().date_naive();
    let block = |from: i64, to: i64| NewBlock {
        starts_on: today + Duration::days(from),
        ends_on: today + Duration::days(to),
        reason: "inspection".into(),
    };
    let planner = Actor::system();
    availability::create_block(&r.db.store, &planner, blocked, block(5, 6))
        .await
        .unwrap();

    // A unit held on the contract's days cannot go out under the line: named, it is refused
    // with the booking; unnamed, the line is not picked and the delivery is linked to nothing.
    let named = r.scan(&r.deliver(blocked, 10, Some(line))).await;
    refused(&named, ErrorCode::BookingConflict);
    assert_eq!(r.applied(&r.deliver(blocked, 11, None)).await, None);
    assert_eq!(r.periods().await, 0);

    // A free unit goes out and is booked for the line from today (the contract's start) to
    // its end: no block or other contract takes it meanwhile.
    let period = r.applied(&r.deliver(free, 20, Some(line))).await.unwrap();
    assert_eq!(period.contract_line_id, line);
    let held = format!(
        "SELECT COUNT(*) FROM asset_bookings WHERE asset_id = {} AND released_at IS NULL \
         AND kind = 'contract'",
        match r.db.store.backend() {
            Backend::Sqlite => format!("X'{}'", free.simple()),
            Backend::Postgres => format!("'{free}'"),
        }
    );
    r.db.assert_counts(&[(held.as_str(), 1)]).await;
    let err = availability::create_block(&r.db.store, &planner, free, block(3, 3))
        .await
        .unwrap_err();
    let DomainError::Conflict { code, detail, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*code, ErrorCode::BookingConflict);
    let detail = detail.as_ref().unwrap();
    assert_eq!(detail["booking"]["contract_line_id"], line.to_string());
    assert_eq!(
        detail["booking"]["ends_on"],
        (today + Duration::days(30)).to_string()
    );

    // Returned, the unit is free again from the return day.
    r.applied(&r.ret(free, 30)).await.unwrap();
    r.db.assert_counts(&[(held.as_str(), 0)]).await;
    availability::create_block(&r.db.store, &planner, free, block(3, 3))
        .await
        .unwrap();
}
