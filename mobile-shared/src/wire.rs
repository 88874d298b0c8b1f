//! JSON wire types of the HTTP API (`/api/v1/…`), shared with phone apps so both sides agree on
//! field names and shapes. The server derives its OpenAPI document from these types.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::{AssetStatus, ErrorCode, IdentifierKind, Role};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Distinguishes a field that is absent (`None`) from one set to `null` (`Some(None)`) in a PATCH.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Problem {
    /// Stable snake_case code a program can branch on, e.g. `validation_failed`.
    pub error: ErrorCode,
    /// A sentence for a person.
    pub message: String,
    /// Per-field messages, for validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<std::collections::BTreeMap<String, String>>,
    /// Extra machine-readable context (e.g. the current state on a conflict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: Option<serde_json::Value>,
}

/// One page of a keyset-paginated list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

// ---- auth ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The 6-digit code of the user's authenticator app, for an account with two-factor
    /// authentication (without it such a login answers `two_factor_required`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 16, example = "123456"))]
    pub totp_code: Option<String>,
    /// One of the account's one-time recovery codes, instead of `totp_code` (each works once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 64, example = "k7m2p-9xq4t"))]
    pub recovery_code: Option<String>,
}

impl LoginRequest {
    /// A login with a username and password and no second factor.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> LoginRequest {
        LoginRequest {
            username: username.into(),
            password: password.into(),
            totp_code: None,
            recovery_code: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginResponse {
    /// Opaque bearer token: send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// A console session opened by `POST /api/v1/auth/session`: the token travels only in the
/// HttpOnly cookie, never in the body, so page scripts cannot read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionInfo {
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

// ---- two-factor authentication ---------------------------------------------------------------

/// The signed-in user's two-factor state (`GET /api/v1/auth/2fa`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TwoFactorStatus {
    /// Logins need a code.
    pub enabled: bool,
    pub enabled_at: Option<DateTime<Utc>>,
    /// An enrolment was started and waits for its confirming code.
    pub pending: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
    /// The user's role must use two-factor authentication (the server's policy).
    pub required: bool,
}

/// A started enrolment (`POST /api/v1/auth/2fa/setup`): add the secret to an authenticator app
/// (scan `qr_svg`, or open `otpauth_uri`, or type `secret`), then confirm with a code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TwoFactorSetup {
    /// The shared secret, base32 (RFC 4648, no padding): 160 random bits.
    pub secret: String,
    /// `otpauth://totp/…` (SHA-1, 6 digits, 30 s), what the QR code encodes.
    pub otpauth_uri: String,
    /// The QR code of `otpauth_uri` as a standalone SVG document.
    pub qr_svg: String,
}

/// A code from the authenticator app (`POST /api/v1/auth/2fa/confirm`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TwoFactorCode {
    #[cfg_attr(feature = "openapi", schema(max_length = 16, example = "123456"))]
    pub code: String,
}

/// Proof that the signed-in person is the account's owner, for disabling two-factor
/// authentication or renewing recovery codes: the password, or a current code (from the
/// authenticator app, or a recovery code). Exactly one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TwoFactorProof {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub password: Option<String>,
    /// A 6-digit authenticator code or a recovery code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub code: Option<String>,
}

/// Fresh one-time recovery codes: shown this once (only their hashes are kept). Each replaces
/// a login's authenticator code once; earlier codes no longer work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

// ---- users -----------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    /// Where e-mail notifications go; none without it.
    #[serde(default)]
    pub email: Option<String>,
    /// The console language the user chose (`en` or `zh-CN`); `null`: the browser's.
    #[serde(default)]
    pub locale: Option<String>,
}

/// `PATCH /api/v1/auth/session`: the signed-in user's own settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SessionPatch {
    /// Required: `en` or `zh-CN`; `null` goes back to the browser's languages. (Absent reads
    /// as `None`, present-but-null as `Some(None)`.)
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, required = true, example = "zh-CN"))]
    pub locale: Option<Option<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 3-64 characters: letters, digits and `. _ - @`; stored lower-case.
    #[cfg_attr(feature = "openapi", schema(min_length = 3, max_length = 64))]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 10, max_length = 1024))]
    pub password: String,
    pub role: Role,
    /// Where the user's e-mail notifications go; none without it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 254))]
    pub email: Option<String>,
}

// ---- sites -----------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SiteKind {
    Depot,
    CustomerSite,
    Workshop,
}

impl SiteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SiteKind::Depot => "depot",
            SiteKind::CustomerSite => "customer_site",
            SiteKind::Workshop => "workshop",
        }
    }
    pub fn parse(s: &str) -> Option<SiteKind> {
        [SiteKind::Depot, SiteKind::CustomerSite, SiteKind::Workshop]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LatLon {
    #[cfg_attr(feature = "openapi", schema(minimum = -90, maximum = 90))]
    pub lat: f64,
    #[cfg_attr(feature = "openapi", schema(minimum = -180, maximum = 180))]
    pub lon: f64,
}

/// A site's boundary: a polygon (ring of points, closed or not) or a circle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Geofence {
    Polygon {
        /// At least 3 distinct points.
        #[cfg_attr(feature = "openapi", schema(min_items = 3, max_items = 1000))]
        points: Vec<LatLon>,
    },
    Circle {
        center: LatLon,
        #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0, maximum = 100000))]
        radius_m: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Site {
    pub id: Uuid,
    pub name: String,
    pub kind: SiteKind,
    pub address: Option<String>,
    pub location: Option<LatLon>,
    pub geofence: Option<Geofence>,
    /// The customer a `customer_site` belongs to.
    #[serde(default)]
    pub customer_id: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    pub kind: SiteKind,
    /// The customer the site belongs to: only for a `customer_site`.
    #[serde(default)]
    pub customer_id: Option<Uuid>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub location: Option<LatLon>,
    #[serde(default)]
    pub geofence: Option<Geofence>,
}

/// `PATCH /api/v1/sites/{id}`: absent fields are unchanged; `null` clears a nullable one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SitePatch {
    /// The `version` you read; a stale one answers 409.
    pub version: i64,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub address: Option<Option<String>>,
    /// The customer a `customer_site` belongs to (`null`: none).
    #[serde(default, deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    pub customer_id: Option<Option<Uuid>>,
}

// ---- categories ------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Category {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

// ---- assets ----------------------------------------------------------------------------------

/// Where a position came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PositionSource {
    Gps,
    Scan,
    Manual,
}

impl PositionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PositionSource::Gps => "gps",
            PositionSource::Scan => "scan",
            PositionSource::Manual => "manual",
        }
    }
    pub fn parse(s: &str) -> Option<PositionSource> {
        [
            PositionSource::Gps,
            PositionSource::Scan,
            PositionSource::Manual,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
    pub at: DateTime<Utc>,
    pub source: PositionSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DepreciationMethod {
    None,
    StraightLine,
    DecliningBalance,
}

impl DepreciationMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            DepreciationMethod::None => "none",
            DepreciationMethod::StraightLine => "straight_line",
            DepreciationMethod::DecliningBalance => "declining_balance",
        }
    }
    pub fn parse(s: &str) -> Option<DepreciationMethod> {
        [
            DepreciationMethod::None,
            DepreciationMethod::StraightLine,
            DepreciationMethod::DecliningBalance,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Asset {
    pub id: Uuid,
    /// Human code printed on the machine, e.g. `EX-0042`; unique, upper-case.
    pub code: String,
    pub name: String,
    pub status: AssetStatus,
    pub category_id: Option<Uuid>,
    /// The category's name.
    pub category: Option<String>,
    pub make: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub home_site_id: Option<Uuid>,
    /// The site the asset is recorded at now.
    pub site_id: Option<Uuid>,
    pub position: Option<Position>,
    pub engine_hours: Option<f64>,
    pub odometer_km: Option<f64>,
    pub purchase_date: Option<NaiveDate>,
    /// Purchase price in minor units (cents) of the installation's currency.
    pub purchase_price_cents: Option<i64>,
    pub depreciation_method: DepreciationMethod,
    pub useful_life_months: Option<i32>,
    pub residual_value_cents: Option<i64>,
    /// Optimistic-concurrency token: send it back on PATCH.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// On `GET /assets/{id}`: the service that presses most under the plans that apply (the
    /// `next_service` of `GET /assets/{id}/maintenance`); absent when none applies, and in lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_service: Option<crate::maintenance::ServiceForecast>,
    /// On `GET /assets/{id}`: its tracker (the most recently seen, as the alert lists show it),
    /// online or not and when last seen; absent without one, and in lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracker: Option<crate::alerts::TrackerState>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAsset {
    /// Letters, digits and `- _ . /`; stored upper-case.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub code: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    /// Defaults to `available`.
    #[serde(default)]
    pub status: Option<AssetStatus>,
    /// Category name or id.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub make: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub model: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub serial: Option<String>,
    #[serde(default)]
    pub home_site_id: Option<Uuid>,
    /// Defaults to the home site.
    #[serde(default)]
    pub site_id: Option<Uuid>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub engine_hours: Option<f64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub odometer_km: Option<f64>,
    #[serde(default)]
    pub purchase_date: Option<NaiveDate>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub purchase_price_cents: Option<i64>,
    #[serde(default)]
    pub depreciation_method: Option<DepreciationMethod>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1200))]
    pub useful_life_months: Option<i32>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub residual_value_cents: Option<i64>,
}

/// A partial update. Absent fields are unchanged; `null` clears a nullable field.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssetPatch {
    /// The `version` you read; a stale one answers 409.
    pub version: i64,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub code: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<AssetStatus>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub category: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, max_length = 200)
    )]
    pub make: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, max_length = 200)
    )]
    pub model: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, max_length = 200)
    )]
    pub serial: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    pub home_site_id: Option<Option<Uuid>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    pub site_id: Option<Option<Uuid>>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub engine_hours: Option<f64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub odometer_km: Option<f64>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<NaiveDate>))]
    pub purchase_date: Option<Option<NaiveDate>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<i64>, minimum = 0)
    )]
    pub purchase_price_cents: Option<Option<i64>>,
    #[serde(default)]
    pub depreciation_method: Option<DepreciationMethod>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<i32>, minimum = 1, maximum = 1200)
    )]
    pub useful_life_months: Option<Option<i32>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<i64>, minimum = 0)
    )]
    pub residual_value_cents: Option<Option<i64>>,
}

// ---- identifiers -----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Identifier {
    pub id: Uuid,
    pub asset_id: Uuid,
    pub kind: IdentifierKind,
    /// Normalised value (see `mobile_shared::identifier`).
    pub value: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewIdentifier {
    pub kind: IdentifierKind,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 512))]
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MatchedIdentifier {
    /// `code` when the scanned text matched the asset code itself.
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Resolved {
    pub asset: Asset,
    pub matched: MatchedIdentifier,
}

// ---- devices ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Device {
    pub id: Uuid,
    /// The tracker's id: its MQTT username and the `<device_id>` in its topics.
    pub device_id: String,
    pub asset_id: Option<Uuid>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub device_id: String,
    #[serde(default)]
    pub asset_id: Option<Uuid>,
}

/// Answer to device registration: the only time the MQTT password is ever shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceCreated {
    pub device: Device,
    pub mqtt_username: String,
    pub mqtt_password: String,
    /// The topic prefix this device publishes under.
    pub topic_prefix: String,
}

// ---- audit -----------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
/// Through what a change reached the server. The stored and sent names are a contract: new
/// sources are appended, none is renamed.
pub enum AuditSource {
    /// An API client signed in with a bearer token.
    Api,
    /// A tracker over MQTT, or what its readings cause (ingest).
    Mqtt,
    /// An operator at the command line.
    Cli,
    /// The server itself: first-run setup, configuration applied at startup.
    System,
    /// The web console: a request signed in with the console's session cookie.
    Console,
    /// The clock: a time-based rule.
    Clock,
}

impl AuditSource {
    /// Every source, in the order they were added.
    pub const ALL: [AuditSource; 6] = [
        AuditSource::Api,
        AuditSource::Mqtt,
        AuditSource::Cli,
        AuditSource::System,
        AuditSource::Console,
        AuditSource::Clock,
    ];

    /// The stored and sent name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditSource::Api => "api",
            AuditSource::Mqtt => "mqtt",
            AuditSource::Cli => "cli",
            AuditSource::System => "system",
            AuditSource::Console => "console",
            AuditSource::Clock => "clock",
        }
    }

    /// The source named `s`, if there is one.
    pub fn parse(s: &str) -> Option<AuditSource> {
        AuditSource::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Filters for reading the audit log (`GET /api/v1/audit-log?…`); all optional, combined with
/// AND.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditFilter {
    /// e.g. `asset`, `site`, `user`, `device`.
    pub entity: Option<String>,
    pub entity_id: Option<Uuid>,
    /// Username, device id, `system`, `clock` or `cli` (a failed login: the name given).
    pub actor: Option<String>,
    /// e.g. `asset.update`.
    pub action: Option<String>,
    /// Entries at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Entries before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// `api`, `console`, `mqtt`, `cli`, `system` or `clock`.
    pub source: Option<AuditSource>,
    /// The client's IP address (IPv4 or IPv6), as recorded.
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>))]
    pub ip: Option<std::net::IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_user_id: Option<Uuid>,
    /// Username, device id, `system`, `clock` or `cli` (a failed login: the name given).
    pub actor: String,
    pub source: AuditSource,
    /// e.g. `asset.create`, `asset.update`, `identifier.remove`.
    pub action: String,
    pub entity: String,
    pub entity_id: Uuid,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub before: Option<serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub after: Option<serde_json::Value>,
    /// The client's IP address, for changes a request made (behind a trusted proxy, the
    /// client it names in `X-Forwarded-For`); null for the clock, the CLI and MQTT.
    pub ip: Option<String>,
    /// The request's `User-Agent` (truncated), when it sent one.
    pub user_agent: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_tells_absent_from_null() {
        let p: AssetPatch = serde_json::from_str(r#"{"version":3,"make":null}"#).unwrap();
        assert_eq!(p.make, Some(None));
        assert_eq!(p.model, None);
        let p: AssetPatch = serde_json::from_str(r#"{"version":3,"make":"CAT"}"#).unwrap();
        assert_eq!(p.make, Some(Some("CAT".into())));
    }

    #[test]
    fn geofence_is_tagged() {
        let g: Geofence = serde_json::from_str(
            r#"{"type":"circle","center":{"lat":48.1,"lon":11.5},"radius_m":250}"#,
        )
        .unwrap();
        assert!(matches!(g, Geofence::Circle { radius_m, .. } if radius_m == 250.0));
    }
}
