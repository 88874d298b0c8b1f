//! The kinds of business record, named once: a not-found error says which kind was missing, and
//! an audit entry says which kind it is about. The names are stored (`audit_log.entity`) and
//! sent (`"asset not found"`), so they are part of the contract.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    Asset,
    Category,
    Contract,
    Device,
    Identifier,
    MaintenancePlan,
    Notification,
    NotificationDelivery,
    Photo,
    Site,
    Stocktake,
    Task,
    User,
    WorkOrder,
    WebhookEndpoint,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Asset => "asset",
            Entity::Category => "category",
            Entity::Contract => "contract",
            Entity::Device => "device",
            Entity::Identifier => "identifier",
            Entity::MaintenancePlan => "maintenance_plan",
            Entity::Notification => "notification",
            Entity::NotificationDelivery => "notification_delivery",
            Entity::Photo => "photo",
            Entity::Site => "site",
            Entity::Stocktake => "stocktake",
            Entity::Task => "task",
            Entity::User => "user",
            Entity::WorkOrder => "work_order",
            Entity::WebhookEndpoint => "webhook_endpoint",
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
