//! `POST /v1/imports/events`: a large NDJSON or CSV upload, streamed — read
//! line by line and ingested in batches of 1,000, each in its own
//! transaction — so memory stays flat whatever the size. Events carry ids, so
//! re-uploading after an interruption stores nothing twice.
//!
//! CSV: a header row naming any of `id, type, occurred_at, member_id,
//! member_platform, member_external_id, member_name, group_id, group_platform,
//! group_external_id, group_name, campaign_id, campaign_code, order_id, amount,
//! currency, properties` (a JSON object); fields may be double-quoted with
//! `""` escapes; a field cannot span lines.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::model::{EventIn, EventSource, ItemStatus, NewEvent, MAX_BATCH};
use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::keys::auth::Auth;
use crate::keys::model::Role;
use crate::state::AppState;

/// Errors listed in the answer (the counts include all of them).
const MAX_LISTED_ERRORS: usize = 100;

/// One refused line.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportError {
    pub line: usize,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ImportReport {
    /// Data lines read (header and blank lines excluded).
    pub lines: usize,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    /// The first 100 refused lines.
    pub errors: Vec<ImportError>,
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Ndjson,
    Csv,
}

impl Format {
    /// The upload's format, from its `Content-Type` (415 for any other).
    fn of(headers: &HeaderMap) -> ApiResult<Self> {
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        match ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase().as_str() {
            "application/x-ndjson" | "application/ndjson" => Ok(Format::Ndjson),
            "text/csv" => Ok(Format::Csv),
            _ => Err(ApiError::UnsupportedMediaType),
        }
    }
}

/// Splits one CSV line into fields (RFC 4180 quoting within the line).
pub fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => {
                quoted = false;
                if !matches!(chars.peek(), None | Some(',')) {
                    return Err("text after a closing quote".into());
                }
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            (_, c) => cur.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    fields.push(cur);
    Ok(fields)
}

/// A CSV row as the JSON an event is read from.
fn csv_event(header: &[String], row: Vec<String>) -> Result<Value, String> {
    if row.len() != header.len() {
        return Err(format!("{} fields, the header has {}", row.len(), header.len()));
    }
    let mut obj = Map::new();
    let mut refs: Map<String, Value> = Map::new();
    for (name, v) in header.iter().zip(row) {
        if v.is_empty() {
            continue;
        }
        match name.as_str() {
            "amount" => {
                obj.insert(
                    name.clone(),
                    v.parse::<i64>().map(Value::from).map_err(|_| format!("amount `{v}` is not an integer"))?,
                );
            }
            "properties" => {
                obj.insert(name.clone(), serde_json::from_str(&v).map_err(|e| format!("properties: {e}"))?);
            }
            n if n.starts_with("member_") && n != "member_id" || n.starts_with("group_") && n != "group_id" => {
                let (who, field) = n.split_once('_').unwrap_or((n, ""));
                let entry = refs.entry(who.to_owned()).or_insert_with(|| Value::Object(Map::new()));
                if let Some(m) = entry.as_object_mut() {
                    m.insert(field.to_owned(), Value::String(v));
                }
            }
            _ => {
                obj.insert(name.clone(), Value::String(v));
            }
        }
    }
    obj.extend(refs);
    Ok(Value::Object(obj))
}

struct Importer<'a> {
    state: &'a AppState,
    ingestion: &'a crate::events::Ingestion,
    auth: Auth,
    format: Format,
    header: Option<Vec<String>>,
    batch: Vec<(usize, Result<NewEvent, String>)>,
    report: ImportReport,
    line_no: usize,
}

impl Importer<'_> {
    fn refuse(&mut self, line: usize, reason: String) {
        self.report.rejected += 1;
        if self.report.errors.len() < MAX_LISTED_ERRORS {
            self.report.errors.push(ImportError { line, reason });
        }
    }

    async fn line(&mut self, raw: &[u8]) -> ApiResult<()> {
        self.line_no += 1;
        let text = String::from_utf8_lossy(raw);
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            return Ok(());
        }
        let value = match (self.format, &self.header) {
            (Format::Ndjson, _) => serde_json::from_str::<Value>(text).map_err(|e| format!("not valid JSON: {e}")),
            (Format::Csv, None) => {
                let header =
                    csv_fields(text).map_err(|e| ApiError::field("body", "invalid_csv", format!("header: {e}")))?;
                self.header = Some(header.into_iter().map(|h| h.trim().to_owned()).collect());
                return Ok(());
            }
            (Format::Csv, Some(h)) => csv_fields(text).and_then(|row| csv_event(h, row)),
        };
        self.report.lines += 1;
        let now = self.state.clock.now();
        let event = value
            .and_then(|v| serde_json::from_value::<EventIn>(v).map_err(|e| e.to_string()))
            .and_then(|e| e.into_new(now));
        let event = event.map(|mut e| {
            e.source = EventSource::Import;
            e
        });
        self.batch.push((self.line_no, event));
        if self.batch.len() >= MAX_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> ApiResult<()> {
        let batch = std::mem::take(&mut self.batch);
        let lines: Vec<usize> = batch.iter().map(|(l, _)| *l).collect();
        let items = batch.into_iter().map(|(_, e)| e).collect();
        let (ws, now) = (self.auth.workspace_id, self.state.clock.now());
        let results = super::service::ingest_committed(&self.state.pool, ws, items, now, self.ingestion).await?;
        for r in results {
            match r.status {
                ItemStatus::Accepted => self.report.accepted += 1,
                ItemStatus::Duplicate => self.report.duplicates += 1,
                ItemStatus::Rejected => self.refuse(lines[r.index], r.reason.unwrap_or_default()),
            }
        }
        Ok(())
    }
}

/// Import a large NDJSON (`application/x-ndjson`) or CSV (`text/csv`) file of events, streamed.
/// Each 1,000 events are committed as they arrive; the answer counts everything.
#[utoipa::path(post, path = "/imports/events", tag = "events",
    request_body(description = "NDJSON (one event object per line, as in `POST /v1/events`) or CSV with a header row",
        content(
            (String = "application/x-ndjson"),
            (String = "text/csv"),
        )),
    responses((status = 200, body = ImportReport), (status = 415, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn import_events(
    State(state): State<AppState>,
    State(ingestion): State<crate::events::Ingestion>,
    auth: Auth,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ImportReport>> {
    auth.require(Role::Operator)?;
    let format = Format::of(&headers)?;
    let mut imp = Importer {
        state: &state,
        ingestion: &ingestion,
        auth,
        format,
        header: None,
        batch: Vec::new(),
        report: Default::default(),
        line_no: 0,
    };
    let mut stream = body.into_data_stream();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            code: "bad_body",
            message: format!("upload interrupted: {e}"),
            details: vec![],
        })?;
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(pos) = pending[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos;
            let line = pending[start..end].to_vec();
            imp.line(&line).await?;
            start = end + 1;
        }
        pending.drain(..start);
        if pending.len() > 1024 * 1024 {
            return Err(ApiError::field("body", "line_too_long", format!("line {} is over 1 MiB", imp.line_no + 1)));
        }
    }
    if !pending.is_empty() {
        imp.line(&pending).await?;
    }
    imp.flush().await?;
    Ok(Json(imp.report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_follow_rfc4180_quoting() {
        assert_eq!(csv_fields(r#"a,"b,c","say ""hi""",,"#).unwrap(), ["a", "b,c", "say \"hi\"", "", ""]);
        assert!(csv_fields(r#""open"#).is_err());
        assert!(csv_fields(r#""a"b,c"#).is_err());
    }

    #[test]
    fn a_csv_row_becomes_an_event_object() {
        let header: Vec<String> =
            ["id", "type", "occurred_at", "member_platform", "member_external_id", "amount", "properties"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let row = csv_fields(r#"e1,order_paid,2026-11-20T00:00:00Z,generic,u-1,990,"{""sku"":""x""}""#).unwrap();
        let v = csv_event(&header, row).unwrap();
        assert_eq!(v["member"], serde_json::json!({"platform": "generic", "external_id": "u-1"}));
        assert_eq!((v["amount"].as_i64(), v["properties"]["sku"].as_str()), (Some(990), Some("x")));
        assert!(csv_event(&header, vec!["only".into()]).is_err());
    }
}
