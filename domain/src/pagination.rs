//! Keyset pagination over UUIDv7 primary keys: a cursor is the id of the last row returned, so
//! paging stays fast and stable under concurrent inserts (no OFFSET scans, no skipped rows).

use mobile_shared::wire::Page;
use uuid::Uuid;

use crate::error::DomainError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub fn new(limit: Option<u32>, cursor: Option<&str>) -> Result<PageRequest, DomainError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(0) => return Err(DomainError::field("limit", "must be at least 1")),
            Some(n) if n > MAX_LIMIT => {
                return Err(DomainError::field(
                    "limit",
                    format!("must be at most {MAX_LIMIT}"),
                ))
            }
            Some(n) => n,
        };
        let after = match cursor {
            None | Some("") => None,
            Some(c) => Some(
                Uuid::parse_str(c)
                    .map_err(|_| DomainError::field("cursor", "is not a cursor from this API"))?,
            ),
        };
        Ok(PageRequest { limit, after })
    }

    /// Rows to fetch: one more than the limit tells whether another page exists.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// The page of a list query that fetched [`PageRequest::fetch`] rows ordered by their key:
    /// trims the extra row, sets the next cursor from the key of the last row kept, and turns
    /// each row into its wire type.
    pub fn page<R, T>(
        &self,
        rows: Vec<R>,
        key: impl Fn(&R) -> Uuid,
        item: impl FnMut(R) -> T,
    ) -> Page<T> {
        let (rows, next_cursor) = self.finish(rows, key);
        Page {
            items: rows.into_iter().map(item).collect(),
            next_cursor,
        }
    }

    /// [`PageRequest::page`] for rows whose conversion can fail (a stored value this build
    /// cannot read).
    pub fn try_page<R, T, E>(
        &self,
        rows: Vec<R>,
        key: impl Fn(&R) -> Uuid,
        item: impl FnMut(R) -> Result<T, E>,
    ) -> Result<Page<T>, E> {
        let (rows, next_cursor) = self.finish(rows, key);
        Ok(Page {
            items: rows.into_iter().map(item).collect::<Result<_, _>>()?,
            next_cursor,
        })
    }

    /// Trims the extra row and computes the next cursor.
    fn finish<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<String>) {
        let limit = self.limit as usize;
        if rows.len() > limit {
            rows.truncate(limit);
            let next = rows.last().map(|r| id(r).to_string());
            (rows, next)
        } else {
            (rows, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        assert_eq!(PageRequest::new(None, None).unwrap().limit, DEFAULT_LIMIT);
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(MAX_LIMIT + 1), None).is_err());
        assert!(PageRequest::new(Some(5), Some("nope")).is_err());
    }

    #[test]
    fn finish_sets_cursor_only_when_more_rows_exist() {
        let p = PageRequest::new(Some(2), None).unwrap();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let (rows, next) = p.finish(ids.clone(), |u| *u);
        assert_eq!(rows.len(), 2);
        assert_eq!(next, Some(ids[1].to_string()));
        let (rows, next) = p.finish(ids[..2].to_vec(), |u| *u);
        assert_eq!(rows.len(), 2);
        assert_eq!(next, None);
    }
}
