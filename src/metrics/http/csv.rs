//! `?format=csv`: a header row, then one row per record (RFC 4180 quoting).

use axum::http::header;
use axum::response::{IntoResponse, Response};

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
        let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
            let mut first = true;
            for c in cells {
                if !first {
                    out.push(',');
                }
                first = false;
                if c.contains([',', '"', '\n', '\r']) {
                    out.push('"');
                    out.push_str(&c.replace('"', "\"\""));
                    out.push('"');
                } else {
                    out.push_str(c);
                }
            }
            out.push_str("\r\n");
        };
        line(&mut out, &mut self.header.iter().map(String::as_str));
        for r in &self.rows {
            line(&mut out, &mut r.iter().map(String::as_str));
        }
        out
    }

    /// The HTTP response, offered as a download named `name.csv`.
    pub fn response(&self, name: &str) -> Response {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
            ],
            self.render(),
        )
            .into_response()
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
}
