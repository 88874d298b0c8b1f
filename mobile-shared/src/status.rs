//! Asset status and the one place where status transitions are decided.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where an asset is in its life. Transitions between them are checked by [`AssetStatus::can_become`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    Available,
    OnRent,
    InMaintenance,
    OutOfService,
    Lost,
    Retired,
}

impl AssetStatus {
    pub const ALL: [AssetStatus; 6] = [
        AssetStatus::Available,
        AssetStatus::OnRent,
        AssetStatus::InMaintenance,
        AssetStatus::OutOfService,
        AssetStatus::Lost,
        AssetStatus::Retired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AssetStatus::Available => "available",
            AssetStatus::OnRent => "on_rent",
            AssetStatus::InMaintenance => "in_maintenance",
            AssetStatus::OutOfService => "out_of_service",
            AssetStatus::Lost => "lost",
            AssetStatus::Retired => "retired",
        }
    }

    /// Whether an asset in `self` may move to `next`. Staying in the same status is always allowed
    /// (an idempotent write). Retired is terminal: a retired machine is sold or scrapped.
    pub fn can_become(self, next: AssetStatus) -> bool {
        use AssetStatus::*;
        if self == next {
            return true;
        }
        match self {
            Available => matches!(next, OnRent | InMaintenance | OutOfService | Lost | Retired),
            // Coming back from a rental goes through a return (available) or straight to the
            // workshop when the return inspection failed.
            OnRent => matches!(next, Available | InMaintenance | Lost),
            InMaintenance => matches!(next, Available | OutOfService | Retired),
            OutOfService => matches!(next, Available | InMaintenance | Retired),
            // A lost machine that turns up is inspected first or made available again.
            Lost => matches!(next, Available | InMaintenance | Retired),
            Retired => false,
        }
    }
}

impl fmt::Display for AssetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown asset status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for AssetStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssetStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::AssetStatus::{self, *};

    #[test]
    fn transition_table_is_exactly_this() {
        let allowed: &[(AssetStatus, &[AssetStatus])] = &[
            (
                Available,
                &[
                    Available,
                    OnRent,
                    InMaintenance,
                    OutOfService,
                    Lost,
                    Retired,
                ],
            ),
            (OnRent, &[OnRent, Available, InMaintenance, Lost]),
            (
                InMaintenance,
                &[InMaintenance, Available, OutOfService, Retired],
            ),
            (
                OutOfService,
                &[OutOfService, Available, InMaintenance, Retired],
            ),
            (Lost, &[Lost, Available, InMaintenance, Retired]),
            (Retired, &[Retired]),
        ];
        for (from, tos) in allowed {
            for to in AssetStatus::ALL {
                assert_eq!(from.can_become(to), tos.contains(&to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn statuses_round_trip() {
        for s in AssetStatus::ALL {
            assert_eq!(s.as_str().parse::<AssetStatus>().unwrap(), s);
        }
        assert!("broken".parse::<AssetStatus>().is_err());
    }
}
