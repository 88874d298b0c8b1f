//! Wire types of notifications: the in-app inbox, the delivery log and its statistics, and
//! webhook endpoints (`/api/v1/notifications…`, `/api/v1/webhooks…`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// How a notification reaches its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The recipient's in-app inbox (delivered when written).
    Inbox,
    /// E-mail over SMTP to the recipient's address.
    Email,
    /// A signed HTTP POST to a webhook endpoint.
    Webhook,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Inbox, Channel::Email, Channel::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Inbox => "inbox",
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt (or its channel to come back).
    Pending,
    Delivered,
    /// Given up: out of attempts or refused permanently. An admin may retry it.
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::Delivered,
        DeliveryState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

/// A stored channel or state name this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
}

macro_rules! parse_by_name {
    ($ty:ty, $what:literal) => {
        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                <$ty>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownName {
                        what: $what,
                        value: s.to_owned(),
                    })
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
parse_by_name!(Channel, "channel");
parse_by_name!(DeliveryState, "delivery state");

/// One notification in a user's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InboxItem {
    /// The inbox entry's id (what `POST /api/v1/notifications/{id}/read` takes).
    pub id: Uuid,
    pub notification_id: Uuid,
    /// e.g. `task.assigned`, `webhook.test`.
    pub kind: String,
    pub title: String,
    pub body: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
    /// The kind of record it is about (`task`, `asset`…), if any.
    pub subject_entity: Option<String>,
    pub subject_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/notifications?unread=true`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct InboxFilter {
    /// Only notifications not yet marked read.
    #[serde(default)]
    pub unread: Option<bool>,
}

/// One attempt to deliver: what the far side answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeliveryAttempt {
    pub at: DateTime<Utc>,
    /// `delivered`, `retry` (will be tried again) or `failed` (given up).
    pub outcome: String,
    /// The HTTP status a webhook receiver answered.
    pub status_code: Option<i32>,
    /// The SMTP server's reply.
    pub reply: Option<String>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A delivery of one notification to one target over one channel, with its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Delivery {
    pub id: Uuid,
    pub notification_id: Uuid,
    pub kind: String,
    pub channel: Channel,
    /// The recipient user (inbox, e-mail).
    pub user_id: Option<Uuid>,
    /// The webhook endpoint (webhook).
    pub endpoint_id: Option<Uuid>,
    /// The e-mail address or the endpoint URL.
    pub target: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Oldest first.
    pub attempt_log: Vec<DeliveryAttempt>,
}

/// `GET /api/v1/notifications/deliveries?channel=&state=`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct DeliveryFilter {
    pub channel: Option<Channel>,
    pub state: Option<DeliveryState>,
}

/// Deliveries of one channel by state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChannelStats {
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
}

/// `GET /api/v1/notifications/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeliveryStats {
    pub inbox: ChannelStats,
    pub email: ChannelStats,
    pub webhook: ChannelStats,
}

impl DeliveryStats {
    pub fn channel_mut(&mut self, channel: Channel) -> &mut ChannelStats {
        match channel {
            Channel::Inbox => &mut self.inbox,
            Channel::Email => &mut self.email,
            Channel::Webhook => &mut self.webhook,
        }
    }
}

/// A receiver of signed webhook POSTs. Its secret is shown once, in [`WebhookCreated`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    /// Notification kinds it receives; `["*"]` for all.
    pub event_kinds: Vec<String>,
    pub enabled: bool,
    /// Declared in the server's configuration file: changes over the API last only until the
    /// next start, which puts it back as configured.
    #[serde(default)]
    pub from_config: bool,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/webhooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NewWebhookEndpoint {
    /// `http://` or `https://`.
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub url: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub description: Option<String>,
    /// Notification kinds to receive (e.g. `task.assigned`), or `["*"]` (the default) for all.
    #[serde(default)]
    pub event_kinds: Option<Vec<String>>,
}

/// The answer to creating an endpoint: the only time its signing secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_` + base64 of 32 random bytes (Standard Webhooks). Keep it: it is never shown
    /// again.
    pub secret: String,
}

/// `PATCH /api/v1/webhooks/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookPatch {
    pub enabled: bool,
}

/// `PATCH /api/v1/users/{id}`: set or clear a user's e-mail address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserEmailPatch {
    /// Required; `null` clears it. (Absent reads as `None`, present-but-null as `Some(None)`.)
    #[serde(default, deserialize_with = "crate::wire::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, required = true, max_length = 254))]
    pub email: Option<Option<String>>,
}

/// `POST /api/v1/webhooks/{id}/test`: the event is queued; its delivery shows in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookTestSent {
    pub notification_id: Uuid,
}
