//! The map's grid cell key: a Web-Mercator quadkey stored as one integer.
//!
//! A position maps to the tile that contains it at a fixed fine zoom, [`FINE_ZOOM`] (20: cells
//! of about 38 m at the equator, finer than a GPS fix is worth for a map), and the tile's x and
//! y are bit-interleaved (Morton order, y in the odd bits) into a 40-bit integer. Why this key:
//! - **prefix = parent cell**: `cell >> 2·(20 − z)` is the tile at any coarser zoom `z`, so one
//!   B-tree index on the column groups the fleet at every map zoom (`GROUP BY cell / 4^k`, a
//!   portable integer division on SQLite and PostgreSQL), and a tile is one contiguous range of
//!   fine cells, so a bounding box is a handful of range scans ([`bbox_ranges`]);
//! - the cells **are the map's own tiles**: a cluster or heat cell lines up with what MapLibre
//!   draws at that zoom, with no projection mismatch;
//! - it is pure integer math here, with no dependency and nothing the database must compute.
//!
//! H3 (`h3o`) hexagons were weighed: their children do not nest exactly inside the parent (a
//! grouped count at a coarse level is not the sum of its children without re-indexing), a bbox
//! needs a polyfill to a cell set, and each level needs its own column or a conversion the
//! database cannot do. Geohash nests like this key but its cells are not square on the map
//! (they alternate 2:1 rectangles in degrees, and degrees are not Mercator pixels) and it is a
//! string. The price of Mercator tiles is that they shrink with latitude in metres — which is
//! exactly what a map drawn in Mercator wants — and the poles beyond ±85.0511° are clamped.

/// The zoom of the stored key: 2·20 = 40 bits.
pub const FINE_ZOOM: u8 = 20;

/// The Web-Mercator latitude limit (the map is a square): positions beyond it are clamped.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

/// A rectangle in degrees (west, south, east, north), as in a GeoJSON bbox.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl Bounds {
    pub fn centre(&self) -> (f64, f64) {
        (
            (self.south + self.north) / 2.0,
            (self.west + self.east) / 2.0,
        )
    }
}

/// Why a bounding box was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BboxError(pub &'static str);

impl std::fmt::Display for BboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BboxError {}

/// A validated bounding box. `west > east` means it crosses the antimeridian (a map panned
/// over the Pacific); it then covers `west..180` and `-180..east`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl Bbox {
    /// Parses `minLon,minLat,maxLon,maxLat`. Longitudes −180..180, latitudes −90..90 (clamped
    /// to the Mercator limit), `minLat < maxLat`; `minLon > maxLon` crosses the antimeridian,
    /// `minLon == maxLon` is empty and refused.
    pub fn parse(s: &str) -> Result<Bbox, BboxError> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.len() != 4 {
            return Err(BboxError("must be minLon,minLat,maxLon,maxLat"));
        }
        let mut v = [0.0_f64; 4];
        for (slot, p) in v.iter_mut().zip(&parts) {
            *slot = p
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or(BboxError("must be four numbers"))?;
        }
        let [west, south, east, north] = v;
        if !(-180.0..=180.0).contains(&west) || !(-180.0..=180.0).contains(&east) {
            return Err(BboxError("longitudes must be within -180..180"));
        }
        if !(-90.0..=90.0).contains(&south) || !(-90.0..=90.0).contains(&north) {
            return Err(BboxError("latitudes must be within -90..90"));
        }
        if south >= north {
            return Err(BboxError("minLat must be below maxLat"));
        }
        if west == east {
            return Err(BboxError("minLon must differ from maxLon"));
        }
        Ok(Bbox {
            west,
            south: south.clamp(-MAX_LAT, MAX_LAT),
            east,
            north: north.clamp(-MAX_LAT, MAX_LAT),
        })
    }

    pub fn crosses_antimeridian(&self) -> bool {
        self.west > self.east
    }

    /// The box as one or two boxes that do not cross the antimeridian.
    pub fn parts(&self) -> Vec<Bounds> {
        let b = |west, east| Bounds {
            west,
            south: self.south,
            east,
            north: self.north,
        };
        if self.crosses_antimeridian() {
            vec![b(self.west, 180.0), b(-180.0, self.east)]
        } else {
            vec![b(self.west, self.east)]
        }
    }

    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        let lat_in = lat >= self.south && lat <= self.north;
        let lon_in = if self.crosses_antimeridian() {
            lon >= self.west || lon <= self.east
        } else {
            lon >= self.west && lon <= self.east
        };
        lat_in && lon_in
    }
}

/// The tile (x, y) at zoom `z` that contains a position; latitudes beyond the Mercator limit
/// and longitudes outside −180..180 are clamped to the edge tiles.
pub fn tile_xy(lat: f64, lon: f64, z: u8) -> (u32, u32) {
    let n = f64::from(1_u32 << z);
    let max = (1_u32 << z) - 1;
    let lat = if lat.is_nan() { 0.0 } else { lat };
    let lon = if lon.is_nan() { 0.0 } else { lon };
    let x = ((lon.clamp(-180.0, 180.0) + 180.0) / 360.0 * n).floor();
    let phi = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
    let y = ((1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor();
    // `as` saturates; the clamp keeps lon = 180 / lat = -MAX_LAT inside the last tile.
    ((x.max(0.0) as u32).min(max), (y.max(0.0) as u32).min(max))
}

/// Spreads the low 32 bits of `v` to the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

/// The inverse of [`spread`].
fn compact(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// The Morton code of tile (x, y): x in the even bits, y in the odd bits.
pub fn interleave(x: u32, y: u32) -> i64 {
    (spread(x) | (spread(y) << 1)) as i64
}

/// The tile (x, y) of a Morton code.
pub fn deinterleave(code: i64) -> (u32, u32) {
    let c = code as u64;
    (compact(c), compact(c >> 1))
}

/// The key stored for a position: its tile at [`FINE_ZOOM`].
pub fn cell_of(lat: f64, lon: f64) -> i64 {
    let (x, y) = tile_xy(lat, lon, FINE_ZOOM);
    interleave(x, y)
}

/// How many fine cells one cell at zoom `z` holds: the divisor that groups the stored key at
/// zoom `z` (`key / divisor(z)` is the tile's Morton code at `z`).
pub fn divisor(z: u8) -> i64 {
    1_i64 << (2 * u32::from(FINE_ZOOM - z.min(FINE_ZOOM)))
}

/// The cell at zoom `z` (≤ [`FINE_ZOOM`]) that contains the fine cell `cell`.
pub fn parent(cell: i64, z: u8) -> i64 {
    cell / divisor(z)
}

/// The fine cells inside the cell `code` at zoom `z`, as an inclusive range.
pub fn fine_range(code: i64, z: u8) -> (i64, i64) {
    let d = divisor(z);
    (code * d, (code + 1) * d - 1)
}

/// The rectangle of the cell `code` at zoom `z`.
pub fn bounds(code: i64, z: u8) -> Bounds {
    let (x, y) = deinterleave(code);
    let n = f64::from(1_u32 << z);
    let lon = |x: f64| x / n * 360.0 - 180.0;
    let lat = |y: f64| {
        (std::f64::consts::PI * (1.0 - 2.0 * y / n))
            .sinh()
            .atan()
            .to_degrees()
    };
    Bounds {
        west: lon(f64::from(x)),
        south: lat(f64::from(y) + 1.0),
        east: lon(f64::from(x) + 1.0),
        north: lat(f64::from(y)),
    }
}

/// The deepest zoom whose cell holds both fine cells (their common quadtree ancestor): every
/// fine cell between them in Morton order shares it.
pub fn common_zoom(a: i64, b: i64) -> u8 {
    let diff = (a ^ b) as u64;
    if diff == 0 {
        return FINE_ZOOM;
    }
    let bits = 64 - diff.leading_zeros(); // differing low bits
    FINE_ZOOM - (bits.div_ceil(2) as u8).min(FINE_ZOOM)
}

/// The most ranges [`bbox_ranges`] returns for one part of a box: a bbox is covered by at most
/// 4 × 4 tiles of the coarsest zoom at which it spans ≤ 4 tiles each way, so a query is a few
/// index range scans (a finer cover would mean more ranges and less overshoot; the exact
/// lat/lon test trims the overshoot).
pub const MAX_COVER_SPAN: u32 = 4;

/// Inclusive ranges of fine cells that cover the box (merged where contiguous, sorted). Every
/// position inside the box has its key in one of them; some keys in them lie outside (the
/// cover's edge tiles), so the caller also tests the position itself.
pub fn bbox_ranges(bbox: &Bbox) -> Vec<(i64, i64)> {
    let mut ranges = Vec::new();
    for part in bbox.parts() {
        // The finest zoom at which the part spans at most MAX_COVER_SPAN tiles each way.
        let mut z = FINE_ZOOM;
        let (x0, y0, x1, y1) = loop {
            let (x0, y0) = tile_xy(part.north, part.west, z);
            let (x1, y1) = tile_xy(part.south, part.east, z);
            if z == 0 || (x1 - x0 < MAX_COVER_SPAN && y1 - y0 < MAX_COVER_SPAN) {
                break (x0, y0, x1, y1);
            }
            z -= 1;
        };
        for x in x0..=x1 {
            for y in y0..=y1 {
                ranges.push(fine_range(interleave(x, y), z));
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn known_tiles() {
        // Slippy-map tiles (OSM's numbering) of well-known places.
        assert_eq!(tile_xy(0.0, 0.0, 1), (1, 1));
        assert_eq!(tile_xy(51.5074, -0.1278, 10), (511, 340));
        assert_eq!(tile_xy(48.1371, 11.5754, 12), (2179, 1421));
        assert_eq!(tile_xy(-33.8688, 151.2093, 8), (235, 153));
        assert_eq!(tile_xy(0.0, 0.0, 0), (0, 0));
    }

    #[test]
    fn edges_and_poles_are_clamped() {
        let max = (1_u32 << FINE_ZOOM) - 1;
        assert_eq!(tile_xy(90.0, -180.0, FINE_ZOOM), (0, 0));
        assert_eq!(tile_xy(-90.0, 180.0, FINE_ZOOM), (max, max));
        assert_eq!(tile_xy(MAX_LAT, 0.0, FINE_ZOOM).1, 0);
        assert_eq!(tile_xy(-MAX_LAT, 0.0, FINE_ZOOM).1, max);
        assert_eq!(tile_xy(f64::NAN, f64::NAN, 1), (1, 1));
        assert_eq!(tile_xy(0.0, 540.0, 3).0, 7);
        // The largest key fits 40 bits, positive in an i64 / BIGINT.
        assert_eq!(cell_of(-90.0, 180.0), (1_i64 << 40) - 1);
        assert_eq!(cell_of(90.0, -180.0), 0);
    }

    #[test]
    fn morton_round_trips() {
        for (x, y) in [
            (0, 0),
            (1, 0),
            (0, 1),
            (3, 5),
            (0xF_FFFF, 0),
            (0xF_FFFF, 0xF_FFFF),
        ] {
            assert_eq!(deinterleave(interleave(x, y)), (x, y));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
        assert_eq!(interleave(1, 1), 3);
        assert_eq!(interleave(2, 0), 4);
    }

    #[test]
    fn prefixes_are_parents_at_every_zoom() {
        for (lat, lon) in [
            (48.1371, 11.5754),
            (-33.86, 151.2),
            (0.0, 0.0),
            (64.1, -21.9),
        ] {
            let cell = cell_of(lat, lon);
            for z in 0..=FINE_ZOOM {
                let (x, y) = tile_xy(lat, lon, z);
                assert_eq!(parent(cell, z), interleave(x, y), "z={z} at {lat},{lon}");
                let (lo, hi) = fine_range(parent(cell, z), z);
                assert!(lo <= cell && cell <= hi);
                let b = bounds(parent(cell, z), z);
                assert!(b.west <= lon && lon <= b.east && b.south <= lat && lat <= b.north);
            }
        }
        assert_eq!(divisor(FINE_ZOOM), 1);
        assert_eq!(divisor(0), 1_i64 << 40);
        assert_eq!(divisor(30), 1, "zooms past the key's are the key");
    }

    #[test]
    fn bounds_and_centres() {
        let b = bounds(0, 0);
        assert_eq!((b.west, b.east), (-180.0, 180.0));
        assert!((b.north - MAX_LAT).abs() < 1e-9 && (b.south + MAX_LAT).abs() < 1e-9);
        let q = bounds(interleave(1, 1), 1);
        assert_eq!((q.west, q.east), (0.0, 180.0));
        assert!(q.north.abs() < 1e-9);
        let (lat, lon) = q.centre();
        assert!(lat < 0.0 && (lon - 90.0).abs() < 1e-9);
    }

    #[test]
    fn common_zoom_is_the_deepest_shared_cell() {
        let a = cell_of(48.1371, 11.5754);
        assert_eq!(common_zoom(a, a), FINE_ZOOM);
        assert_eq!(common_zoom(0, (1_i64 << 40) - 1), 0);
        let b = cell_of(48.1372, 11.5755);
        let z = common_zoom(a, b);
        assert_eq!(parent(a, z), parent(b, z));
        if z < FINE_ZOOM {
            assert_ne!(parent(a, z + 1), parent(b, z + 1));
        }
        let far = cell_of(-33.0, 151.0);
        assert_eq!(common_zoom(a, far), 0);
    }

    #[test]
    fn bboxes_parse_or_say_why() {
        let b = Bbox::parse("4.0, 52.0, 5.0, 53.0").unwrap();
        assert!(!b.crosses_antimeridian());
        assert!(b.contains(52.5, 4.5) && !b.contains(52.5, 5.5) && !b.contains(51.0, 4.5));
        let pacific = Bbox::parse("170,-20,-170,0").unwrap();
        assert!(pacific.crosses_antimeridian());
        assert_eq!(pacific.parts().len(), 2);
        assert!(pacific.contains(-10.0, 175.0) && pacific.contains(-10.0, -175.0));
        assert!(!pacific.contains(-10.0, 0.0));
        let world = Bbox::parse("-180,-90,180,90").unwrap();
        assert_eq!(world.north, MAX_LAT);
        for bad in [
            "",
            "1,2,3",
            "1,2,3,4,5",
            "a,1,2,3",
            "NaN,1,2,3",
            "-181,0,1,1",
            "0,-91,1,1",
            "0,5,1,5",
            "0,6,1,5",
            "1,0,1,1",
            "inf,0,1,1",
        ] {
            assert!(Bbox::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bbox_ranges_cover_every_position_inside() {
        for bbox in [
            "4.0,52.0,5.0,53.0",
            "11.5,48.1,11.6,48.2",
            "-180,-85,180,85",
            "170,-20,-170,0",
            "-0.01,-0.01,0.01,0.01",
            "11.57,48.137,11.5701,48.1371",
        ] {
            let b = Bbox::parse(bbox).unwrap();
            let ranges = bbox_ranges(&b);
            assert!(
                !ranges.is_empty() && ranges.len() <= 2 * 16,
                "{bbox}: {ranges:?}"
            );
            assert!(
                ranges.windows(2).all(|w| w[0].1 + 1 < w[1].0),
                "merged and sorted"
            );
            for part in b.parts() {
                for i in 0..=10 {
                    for j in 0..=10 {
                        let lat = part.south + (part.north - part.south) * f64::from(i) / 10.0;
                        let lon = part.west + (part.east - part.west) * f64::from(j) / 10.0;
                        let c = cell_of(lat, lon);
                        assert!(
                            ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi),
                            "{bbox}: {lat},{lon}"
                        );
                    }
                }
            }
        }
        // Outside the box, far away: not covered.
        let b = Bbox::parse("4.0,52.0,5.0,53.0").unwrap();
        let c = cell_of(-33.0, 151.0);
        assert!(!bbox_ranges(&b).iter().any(|(lo, hi)| *lo <= c && c <= *hi));
    }
}
