//! Roles and the role × action permission matrix: the ONE place that decides who may do what.
//! The server enforces it on every route; phone apps use it to hide what a user may not do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A user's single role. Least privilege: each role gets what its job needs and nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the installation: users, devices, audit log, everything else.
    Admin,
    /// Watches and moves the fleet: assets, sites, tags, work in the field.
    Dispatcher,
    /// Works on machines in the field: scans, tags, reads what they need.
    Technician,
    /// Customers, contracts and invoices; reads the fleet, manages customer sites.
    RentalOffice,
    /// Reads, never writes.
    Viewer,
    /// Plans the fleet's maintenance: service plans, work orders and their tasks, services done;
    /// reads the fleet like a dispatcher. No users, trackers, tags, scans or system settings.
    MaintenancePlanner,
    /// An account manager: their own customers (contacts, follow-ups, complaints) and those
    /// customers' contracts, read only. Which customers are "their own" is decided by the
    /// domain (`customers.account_manager_id`), not by this matrix.
    Sales,
    /// Approves renewals (the finance half of an auto-renewal) and reads customers, contracts
    /// and their signed documents.
    Finance,
    /// Approves renewals (the legal half) and reads customers, contracts and their documents.
    Legal,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Admin,
        Role::Dispatcher,
        Role::Technician,
        Role::RentalOffice,
        Role::Viewer,
        Role::MaintenancePlanner,
        Role::Sales,
        Role::Finance,
        Role::Legal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Technician => "technician",
            Role::RentalOffice => "rental_office",
            Role::Viewer => "viewer",
            Role::MaintenancePlanner => "maintenance_planner",
            Role::Sales => "sales",
            Role::Finance => "finance",
            Role::Legal => "legal",
        }
    }

    /// Whether this role may perform `action`.
    pub fn may(self, action: Action) -> bool {
        use Action::*;
        use Role::*;
        match (self, action) {
            (Admin, _) => true,
            // Everyone signed in can read the fleet and the sites: it is what they work with.
            // And their own notifications (the inbox only ever shows the caller's).
            (
                _,
                AssetRead | SiteRead | CategoryRead | PositionRead | ResolveCode | StocktakeRead
                | MaintenanceRead | TaskWork | WorkOrderRead | InboxRead | OwnTwoFactor,
            ) => true,
            (
                Dispatcher,
                AssetWrite | IdentifierWrite | SiteWrite | CategoryWrite | DeviceRead
                | TelemetryRejectRead | FieldCommand | StocktakeWrite | TaskManage | WorkOrderWrite
                | DeliveryLookup,
            ) => true,
            // Spreadsheets: whoever keeps a register imports it (the dispatcher the fleet's
            // assets and sites, the office its customers and contracts); exports are bulk
            // reads, given to the roles that work with the whole list (the planner the fleet,
            // finance the customers and contracts), not to every reader.
            (Dispatcher, FleetImport | FleetExport) => true,
            (MaintenancePlanner, FleetExport) => true,
            (RentalOffice, OfficeImport | OfficeExport) => true,
            (Finance, OfficeExport) => true,
            // Technicians do the services; plans are the planner's (and the admin's).
            (
                Technician,
                IdentifierWrite | FieldCommand | StocktakeWrite | ServiceRecordWrite
                | WorkOrderWrite | DeliveryLookup,
            ) => true,
            // The office runs customers and contracts; customer sites are created by the office
            // when a contract is signed. Approving renewals is finance's and legal's, the
            // picklists are the admin's.
            (
                RentalOffice,
                SiteWrite | CustomerRead | CustomerWrite | ComplaintWrite | ContractRead
                | ContractWrite | ContractDocumentRead | DeliveryLookup,
            ) => true,
            // Their own customers only: the domain narrows every read and write to them.
            (Sales, CustomerRead | CustomerWrite | ComplaintWrite | ContractRead) => true,
            (
                Finance | Legal,
                CustomerRead | ContractRead | ContractApprove | ContractDocumentRead,
            ) => true,
            // The planner decides what is serviced when and by whom: plans, work orders (open,
            // assign, schedule, complete, cancel), the services they record, and every task,
            // since work orders come with tasks the planner must be able to close or cancel
            // (the matrix has no grain finer than `TaskManage`). It reads the fleet, positions,
            // forecasts and KPIs through the rows above. Left out on purpose: asset, site,
            // category and tag edits (the dispatcher's registry; plans only refer to it),
            // field commands and stocktakes (done on site, by scanning), trackers and their
            // rejected telemetry (installation, not planning), users, audit, metrics,
            // notification delivery and webhooks (the admin's).
            (
                MaintenancePlanner,
                MaintenancePlanWrite | ServiceRecordWrite | WorkOrderWrite | TaskManage,
            ) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role `{0}` (expected admin, dispatcher, technician, rental_office, viewer, \
     maintenance_planner, sales, finance or legal)"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Everything a caller can ask for that is subject to authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    AssetRead,
    AssetWrite,
    AssetDelete,
    IdentifierWrite,
    ResolveCode,
    PositionRead,
    SiteRead,
    SiteWrite,
    CategoryRead,
    CategoryWrite,
    UserRead,
    UserWrite,
    DeviceRead,
    DeviceWrite,
    AuditRead,
    /// Scrape `/metrics`.
    MetricsRead,
    /// Inspect refused telemetry (the reject table).
    TelemetryRejectRead,
    /// Send field commands (scans: deliver, return, inspect, transfer, meter, count) and photos.
    FieldCommand,
    /// See stocktakes and their reports.
    StocktakeRead,
    /// Start, count into and complete stocktakes.
    StocktakeWrite,
    /// See maintenance plans and each asset's next services.
    MaintenanceRead,
    /// Create, change and retire maintenance plans.
    MaintenancePlanWrite,
    /// Log a service done on an asset.
    ServiceRecordWrite,
    /// See and complete the tasks assigned to oneself or one's role ("my tasks").
    TaskWork,
    /// See, complete and cancel every task; read the on-time KPI.
    TaskManage,
    /// See work orders.
    WorkOrderRead,
    /// Open, change, start and complete work orders.
    WorkOrderWrite,
    /// Read and mark one's own in-app notifications.
    InboxRead,
    /// See every notification delivery (log, stats) and retry failed ones.
    NotificationAdmin,
    /// Create, enable/disable and test webhook endpoints.
    WebhookManage,
    /// See customers, their contacts, follow-ups, complaints and classification.
    CustomerRead,
    /// Create and change customers, their contacts and follow-ups; re-run the classification.
    CustomerWrite,
    /// Record and close complaints.
    ComplaintWrite,
    /// See contracts and their lines, approvals and the availability of the fleet.
    ContractRead,
    /// Create, sign, renew, end and terminate contracts.
    ContractWrite,
    /// Approve a renewal (finance or legal: the approval is of the approver's role).
    ContractApprove,
    /// Download a contract's signed documents (each download is audited).
    ContractDocumentRead,
    /// What a delivery or return needs: the open contract lines for an asset or customer.
    DeliveryLookup,
    /// Add, relabel and retire picklist values (industries, sources, regions…).
    PicklistManage,
    /// Enrol in, confirm, disable one's own two-factor authentication and renew one's own
    /// recovery codes (every role: it is nobody else's account).
    OwnTwoFactor,
    /// Import assets and sites from a spreadsheet.
    FleetImport,
    /// Export the asset and site lists as a spreadsheet (audited).
    FleetExport,
    /// Import customers and contracts from a spreadsheet.
    OfficeImport,
    /// Export the customer and contract lists as a spreadsheet (audited).
    OfficeExport,
}

impl Action {
    pub const ALL: [Action; 44] = [
        Action::AssetRead,
        Action::AssetWrite,
        Action::AssetDelete,
        Action::IdentifierWrite,
        Action::ResolveCode,
        Action::PositionRead,
        Action::SiteRead,
        Action::SiteWrite,
        Action::CategoryRead,
        Action::CategoryWrite,
        Action::UserRead,
        Action::UserWrite,
        Action::DeviceRead,
        Action::DeviceWrite,
        Action::AuditRead,
        Action::MetricsRead,
        Action::TelemetryRejectRead,
        Action::FieldCommand,
        Action::StocktakeRead,
        Action::StocktakeWrite,
        Action::MaintenanceRead,
        Action::MaintenancePlanWrite,
        Action::ServiceRecordWrite,
        Action::TaskWork,
        Action::TaskManage,
        Action::WorkOrderRead,
        Action::WorkOrderWrite,
        Action::InboxRead,
        Action::NotificationAdmin,
        Action::WebhookManage,
        Action::CustomerRead,
        Action::CustomerWrite,
        Action::ComplaintWrite,
        Action::ContractRead,
        Action::ContractWrite,
        Action::ContractApprove,
        Action::ContractDocumentRead,
        Action::DeliveryLookup,
        Action::PicklistManage,
        Action::OwnTwoFactor,
        Action::FleetImport,
        Action::FleetExport,
        Action::OfficeImport,
        Action::OfficeExport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::AssetRead => "asset.read",
            Action::AssetWrite => "asset.write",
            Action::AssetDelete => "asset.delete",
            Action::IdentifierWrite => "identifier.write",
            Action::ResolveCode => "resolve",
            Action::PositionRead => "position.read",
            Action::SiteRead => "site.read",
            Action::SiteWrite => "site.write",
            Action::CategoryRead => "category.read",
            Action::CategoryWrite => "category.write",
            Action::UserRead => "user.read",
            Action::UserWrite => "user.write",
            Action::DeviceRead => "device.read",
            Action::DeviceWrite => "device.write",
            Action::AuditRead => "audit.read",
            Action::MetricsRead => "metrics.read",
            Action::TelemetryRejectRead => "telemetry_reject.read",
            Action::FieldCommand => "field_command",
            Action::StocktakeRead => "stocktake.read",
            Action::StocktakeWrite => "stocktake.write",
            Action::MaintenanceRead => "maintenance.read",
            Action::MaintenancePlanWrite => "maintenance_plan.write",
            Action::ServiceRecordWrite => "service_record.write",
            Action::TaskWork => "task.work",
            Action::TaskManage => "task.manage",
            Action::WorkOrderRead => "work_order.read",
            Action::WorkOrderWrite => "work_order.write",
            Action::InboxRead => "notification.inbox",
            Action::NotificationAdmin => "notification.admin",
            Action::WebhookManage => "webhook.manage",
            Action::CustomerRead => "customer.read",
            Action::CustomerWrite => "customer.write",
            Action::ComplaintWrite => "complaint.write",
            Action::ContractRead => "contract.read",
            Action::ContractWrite => "contract.write",
            Action::ContractApprove => "contract.approve",
            Action::ContractDocumentRead => "contract_document.read",
            Action::DeliveryLookup => "delivery.lookup",
            Action::PicklistManage => "picklist.manage",
            Action::OwnTwoFactor => "two_factor.own",
            Action::FleetImport => "fleet.import",
            Action::FleetExport => "fleet.export",
            Action::OfficeImport => "office.import",
            Action::OfficeExport => "office.export",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Action, Role};

    /// The whole matrix written out by hand, so a change to `Role::may` must change this table too.
    /// Columns follow `Action::ALL`.
    #[test]
    fn every_role_against_every_action() {
        // AR AW AD IW RC PR SR SW CR CW UR UW DR DW AU ME TR FC SR SW MR MP SV TW TM WR WW IN NA WM
        // CuR CuW CoW KR KW KA KD DL PM 2F FI FE OI OE
        let expected: [(Role, [u8; 44]); 9] = [
            (
                Role::Admin,
                [
                    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                ],
            ),
            (
                Role::Dispatcher,
                [
                    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1,
                    1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0,
                ],
            ),
            (
                Role::Technician,
                [
                    1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1,
                    1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0,
                ],
            ),
            (
                Role::RentalOffice,
                [
                    1, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1,
                    0, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1,
                ],
            ),
            (
                Role::Viewer,
                [
                    1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1,
                    0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
                ],
            ),
            (
                Role::MaintenancePlanner,
                [
                    1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1,
                    1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0,
                ],
            ),
            (
                Role::Sales,
                [
                    1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1,
                    0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
                ],
            ),
            (
                Role::Finance,
                [
                    1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1,
                    0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1,
                ],
            ),
            (
                Role::Legal,
                [
                    1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1,
                    0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0,
                ],
            ),
        ];
        assert_eq!(expected.len(), Role::ALL.len());
        for (role, row) in expected {
            for (action, allowed) in Action::ALL.into_iter().zip(row) {
                assert_eq!(role.may(action), allowed == 1, "{role} {}", action.as_str());
            }
        }
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            // The wire name (serde) is the stored and parsed name.
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert!("root".parse::<Role>().is_err());
        assert_eq!(
            "maintenance_planner".parse::<Role>().unwrap(),
            Role::MaintenancePlanner
        );
    }
}
