//! The kinds of business record, named once: a not-found error says which kind was missing, and
//! an audit entry says which kind it is about. The names are stored (`audit_log.entity`) and
//! sent (`"asset not found"`), so they are part of the contract.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    Asset,
    AssetBooking,
    /// The audit log itself (its exports and purges), entity id nil.
    AuditLog,
    Category,
    Contract,
    ContractDocument,
    Complaint,
    Contact,
    Customer,
    ContractApproval,
    ClassificationSettings,
    CustomerClassification,
    Device,
    FollowUp,
    Identifier,
    MaintenancePlan,
    Notification,
    NotificationDelivery,
    Photo,
    PicklistValue,
    Site,
    Stocktake,
    Task,
    User,
    WorkOrder,
    WebhookEndpoint,
    /// A spreadsheet import (its `import.run` entry).
    Import,
    /// A spreadsheet export (its `export.run` entry).
    Export,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Asset => "asset",
            Entity::AssetBooking => "asset_booking",
            Entity::AuditLog => "audit_log",
            Entity::Category => "category",
            Entity::Contract => "contract",
            Entity::ContractDocument => "contract_document",
            Entity::Complaint => "complaint",
            Entity::Contact => "customer_contact",
            Entity::Customer => "customer",
            Entity::ContractApproval => "contract_approval",
            Entity::ClassificationSettings => "classification_settings",
            Entity::CustomerClassification => "customer_classification",
            Entity::Device => "device",
            Entity::FollowUp => "customer_follow_up",
            Entity::Identifier => "identifier",
            Entity::MaintenancePlan => "maintenance_plan",
            Entity::Notification => "notification",
            Entity::NotificationDelivery => "notification_delivery",
            Entity::Photo => "photo",
            Entity::PicklistValue => "picklist_value",
            Entity::Site => "site",
            Entity::Stocktake => "stocktake",
            Entity::Task => "task",
            Entity::User => "user",
            Entity::WorkOrder => "work_order",
            Entity::WebhookEndpoint => "webhook_endpoint",
            Entity::Import => "import",
            Entity::Export => "export",
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
