//! Cursor pagination: `?limit=` (1..=200, default 50) and an opaque
//! `?cursor=` from the previous page's `next_cursor`. Lists are ordered by
//! id, newest first (ids are UUIDv7, so this is creation order, stable).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, FieldError};

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
pub const MAX_LIMIT: i64 = 200;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Query parameters of a list with no filters.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1..=200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// Validated paging parameters.
#[derive(Debug, Clone, Copy)]
pub struct PageParams {
    /// Items requested.
    pub limit: i64,
    /// Return items strictly after (older than) this id.
    pub after: Option<Uuid>,
}

impl PageParams {
    /// Validates raw `limit` and `cursor`.
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> ApiResult<Self> {
        let mut errors = Vec::new();
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new("limit", "out_of_range", format!("must be between 1 and {MAX_LIMIT}")));
        }
        let after = match cursor {
            None => None,
            Some(c) => match decode_cursor(c) {
                Some(id) => Some(id),
                None => {
                    errors.push(FieldError::new("cursor", "invalid", "not a cursor returned by this API"));
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(Self { limit, after })
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    /// The LIMIT to query with (one extra row tells whether a next page exists).
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }
}

/// Encodes a cursor pointing after `id`: the id itself. A cursor is any
/// UUID (the document says so, and a list answers the items older than
/// it), so a client generated from the document cannot send a bad one.
pub fn encode_cursor(id: Uuid) -> String {
    id.to_string()
}

/// Reads a cursor: a UUID, or the base64 `c1:<uuid>` form that earlier
/// versions answered (still accepted, so pages in flight keep working).
fn decode_cursor(c: &str) -> Option<Uuid> {
    if let Ok(id) = c.parse() {
        return Some(id);
    }
    let bytes = URL_SAFE_NO_PAD.decode(c).ok()?;
    let s = std::str::from_utf8(&bytes).ok()?;
    s.strip_prefix("c1:")?.parse().ok()
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows.
    pub fn from_rows(mut rows: Vec<T>, params: PageParams, id_of: impl Fn(&T) -> Uuid) -> Self {
        let more = rows.len() as i64 > params.limit;
        rows.truncate(params.limit as usize);
        let next_cursor = if more { rows.last().map(|r| encode_cursor(id_of(r))) } else { None };
        Self { items: rows, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        let p = PageParams::parse(Some(10), Some(&encode_cursor(id))).unwrap();
        assert_eq!(p.after, Some(id));
        assert!(PageParams::parse(None, Some("garbage!")).is_err());
        assert!(PageParams::parse(Some(0), None).is_err());
        assert!(PageParams::parse(Some(-5), None).is_err());
        assert!(PageParams::parse(Some(201), None).is_err());
        assert_eq!(PageParams::parse(None, None).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_exist() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let params = PageParams { limit: 2, after: None };
        let page = Page::from_rows(ids.clone(), params, |u| *u);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next_cursor, Some(encode_cursor(ids[1])));
        let page = Page::from_rows(ids[..2].to_vec(), params, |u| *u);
        assert_eq!(page.next_cursor, None);
    }
}
