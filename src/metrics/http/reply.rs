//! What every metric handler shares: the read snapshot, the `pending` flag
//! and the JSON-or-CSV answer.

use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Duration;
use serde::Serialize;

use crate::http::csv::Format;
use crate::http::csv::Table;
use crate::metrics::params::Ctx;
use crate::metrics::store::rollup;

pub(crate) use crate::db::{read_snapshot as snapshot, snapshot_reads};

/// The report as JSON, or as the CSV table `csv` makes of it.
pub(crate) fn respond<T: Serialize>(format: Format, report: T, name: &str, csv: fn(&T) -> Table) -> Response {
    match format {
        Format::Json => Json(report).into_response(),
        Format::Csv => csv(&report).response(name),
    }
}

/// Whether the rollups of the period (and the trailing windows) are complete.
pub(crate) async fn pending(conn: &mut sqlx::PgConnection, c: &Ctx, lead: i64) -> Result<bool, sqlx::Error> {
    if !c.rollup_days {
        return Ok(false);
    }
    rollup::pending(conn, c.ws, c.from - Duration::days(lead), c.to).await
}
