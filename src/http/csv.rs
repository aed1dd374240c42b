//! `?format=csv`: a header row, then one row per record (RFC 4180 quoting).
//! Reports build a [`Table`]; lists stream every row matching their
//! filters with [`export`], page after page.

use std::future::Future;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{stream, StreamExt};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiResult;

/// Response format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Json,
    Csv,
}

/// Rows read per page of an export.
pub const EXPORT_PAGE: i64 = 1000;

/// A CSV table.
#[derive(Debug, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    /// Adds a row.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The CSV text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        line(&mut out, self.header.iter().map(String::as_str));
        for r in &self.rows {
            line(&mut out, r.iter().map(String::as_str));
        }
        out
    }

    /// The HTTP response, offered as a download named `name.csv`.
    pub fn response(&self, name: &str) -> Response {
        (attachment(name), self.render()).into_response()
    }
}

/// Appends one CSV line (quoted where a cell holds a separator or a quote).
fn line<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
    let mut first = true;
    for c in cells {
        if !first {
            out.push(',');
        }
        first = false;
        // A spreadsheet runs a cell starting with = + - @ as a formula; names
        // come from chats, so such text (not a number) is kept as text.
        let formula = c.starts_with(['=', '+', '-', '@', '\t', '\r']) && c.parse::<f64>().is_err();
        let owned;
        let c = if formula {
            owned = format!("'{c}");
            owned.as_str()
        } else {
            c
        };
        if c.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&c.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(c);
        }
    }
    out.push_str("\r\n");
}

fn attachment(name: &str) -> [(header::HeaderName, String); 2] {
    [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
    ]
}

/// Every row of a list as a CSV download named `name.csv`, streamed: `fetch(after)`
/// reads the next page of at most [`EXPORT_PAGE`] rows in the list's order
/// (rows after the key `after`, or the first page), `key` gives a row's key and
/// `row` its cells. The first page is read before answering, so a bad query
/// or a database down answers an error as usual; a failure later cuts the
/// transfer short (the client sees an incomplete body, never a partial file
/// passed off as whole). Each page is its own read: rows changed during a
/// long export appear as they were when their page was read.
pub async fn export<T, F, Fut>(
    name: &str,
    header: &[&str],
    mut fetch: F,
    key: fn(&T) -> Uuid,
    row: fn(&T) -> Vec<String>,
) -> ApiResult<Response>
where
    T: Send + 'static,
    F: FnMut(Option<Uuid>) -> Fut + Send + 'static,
    Fut: Future<Output = ApiResult<Vec<T>>> + Send + 'static,
{
    let first = fetch(None).await?;
    let mut head = String::new();
    line(&mut head, header.iter().copied());
    let body = head + &chunk_rows(&first, row);
    let more = first.len() as i64 >= EXPORT_PAGE;
    let after = first.last().map(key);
    let rest = stream::unfold((fetch, after, more), move |(mut fetch, after, more)| async move {
        if !more {
            return None;
        }
        match fetch(after).await {
            Ok(rows) => {
                let more = rows.len() as i64 >= EXPORT_PAGE;
                let next = rows.last().map(key);
                Some((Ok::<_, std::io::Error>(chunk_rows(&rows, row)), (fetch, next, more)))
            }
            Err(e) => {
                tracing::warn!(error = %e, "export cut short");
                Some((Err(std::io::Error::other("export failed")), (fetch, None, false)))
            }
        }
    });
    // Fused: the body may be polled again once it has ended.
    let stream = stream::once(async move { Ok(body) }).chain(rest).fuse();
    Ok((attachment(name), Body::from_stream(stream)).into_response())
}

fn chunk_rows<T>(rows: &[T], row: fn(&T) -> Vec<String>) -> String {
    let mut out = String::new();
    for r in rows {
        line(&mut out, row(r).iter().map(String::as_str));
    }
    out
}

/// A cell for a value as the JSON answer spells it (an enum's `snake_case`
/// name, a string without quotes; null is empty).
pub fn word<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) | Err(_) => String::new(),
        Ok(other) => other.to_string(),
    }
}

/// A cell for an optional value (empty when null).
pub fn cell<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_with_separators_or_quotes_are_quoted() {
        let mut t = Table::new(&["key", "value"]);
        t.push(vec!["a,b".into(), "say \"hi\"".into()]);
        t.push(vec!["plain".into(), cell::<i64>(None)]);
        assert_eq!(t.render(), "key,value\r\n\"a,b\",\"say \"\"hi\"\"\"\r\nplain,\r\n");
    }

    #[test]
    fn text_a_spreadsheet_would_run_as_a_formula_stays_text_and_numbers_stay_numbers() {
        let mut t = Table::new(&["name", "delta"]);
        t.push(vec!["=HYPERLINK(\"http://x\",\"y\")".into(), "-12".into()]);
        t.push(vec!["@SUM(A1)".into(), "+3.5".into()]);
        t.push(vec!["-a".into(), "0".into()]);
        assert_eq!(
            t.render(),
            "name,delta\r\n\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",-12\r\n'@SUM(A1),+3.5\r\n'-a,0\r\n"
        );
    }
}
