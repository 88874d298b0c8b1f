//! Geofences: which site (if any) a position is inside, with the `geo` crate.

use geo::{Contains, Distance, Haversine, LineString, Point, Polygon};
use mobile_shared::wire::Geofence;
use uuid::Uuid;

enum Shape {
    Polygon(Polygon<f64>),
    Circle { center: Point<f64>, radius_m: f64 },
}

/// The geofenced sites, ready for point-in-fence tests.
pub struct Geofences {
    fences: Vec<(Uuid, Shape)>,
}

impl Geofences {
    pub fn new(sites: impl IntoIterator<Item = (Uuid, Geofence)>) -> Geofences {
        let fences = sites
            .into_iter()
            .map(|(id, g)| {
                let shape = match g {
                    // geo's x is longitude, y latitude.
                    Geofence::Polygon { points } => Shape::Polygon(Polygon::new(
                        LineString::from(points.iter().map(|p| (p.lon, p.lat)).collect::<Vec<_>>()),
                        vec![],
                    )),
                    Geofence::Circle { center, radius_m } => Shape::Circle {
                        center: Point::new(center.lon, center.lat),
                        radius_m,
                    },
                };
                (id, shape)
            })
            .collect();
        Geofences { fences }
    }

    pub fn is_empty(&self) -> bool {
        self.fences.is_empty()
    }

    /// The site whose fence contains the point. When fences overlap, `prefer` (the asset's
    /// recorded site) wins, then the first match, so an asset does not flap between overlapping
    /// sites.
    pub fn site_at(&self, lat: f64, lon: f64, prefer: Option<Uuid>) -> Option<Uuid> {
        let p = Point::new(lon, lat);
        let mut first = None;
        for (id, shape) in &self.fences {
            let inside = match shape {
                Shape::Polygon(poly) => poly.contains(&p),
                Shape::Circle { center, radius_m } => Haversine.distance(*center, p) <= *radius_m,
            };
            if inside {
                if Some(*id) == prefer {
                    return Some(*id);
                }
                first.get_or_insert(*id);
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mobile_shared::wire::LatLon;

    #[test]
    fn circles_and_polygons() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let fences = Geofences::new([
            (
                a,
                Geofence::Circle {
                    center: LatLon {
                        lat: 48.0,
                        lon: 11.0,
                    },
                    radius_m: 100.0,
                },
            ),
            (
                b,
                Geofence::Polygon {
                    points: vec![
                        LatLon {
                            lat: 47.0,
                            lon: 10.0,
                        },
                        LatLon {
                            lat: 47.0,
                            lon: 10.01,
                        },
                        LatLon {
                            lat: 47.01,
                            lon: 10.01,
                        },
                        LatLon {
                            lat: 47.01,
                            lon: 10.0,
                        },
                    ],
                },
            ),
        ]);
        assert_eq!(fences.site_at(48.0005, 11.0, None), Some(a)); // ~55 m from centre
        assert_eq!(fences.site_at(48.002, 11.0, None), None); // ~220 m
        assert_eq!(fences.site_at(47.005, 10.005, None), Some(b));
        assert_eq!(fences.site_at(47.02, 10.005, None), None);
    }
}
