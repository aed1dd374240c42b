//! Logging: pretty for people, JSON for collectors. `RUST_LOG` overrides
//! the configured level. Personal data and secrets are never logged: request
//! spans carry method, route template, request id and workspace only.
//!
//! Every log line is one line. sqlx reports a slow statement with its whole
//! SQL text (pages of it for the rollup queries) under the target
//! `sqlx::query`; [`OneLineSql`] prints those events as one line with the
//! statement's summary (its first words), duration and row counts instead.

use std::fmt::Debug;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

use crate::config::{LogFormat, LogSettings};

/// sqlx's target for statement logs.
const SQLX_QUERY: &str = "sqlx::query";

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(settings: &LogSettings) {
    let _ = subscriber(settings, std::io::stderr).try_init();
}

/// The subscriber `init` installs, writing to `writer`.
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let output = match settings.format {
        LogFormat::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(writer)
            .map_event_format(|inner| OneLineSql { inner, json: true })
            .boxed(),
        LogFormat::Pretty => fmt::layer()
            .with_target(false)
            .with_writer(writer)
            .map_event_format(|inner| OneLineSql { inner, json: false })
            .boxed(),
    };
    Registry::default().with(filter).with(output)
}

/// Prints sqlx's statement events without their SQL text; every other event
/// as `inner` does.
struct OneLineSql<F> {
    inner: F,
    json: bool,
}

impl<S, N, F> FormatEvent<S, N> for OneLineSql<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        if event.metadata().target() != SQLX_QUERY {
            return self.inner.format_event(ctx, w, event);
        }
        let mut f = StatementFields::default();
        event.record(&mut f);
        let level = event.metadata().level();
        let message = if *level <= Level::WARN { "slow statement" } else { "statement" };
        let summary = f.summary.unwrap_or_default();
        let elapsed_ms = (f.elapsed_secs * 1000.0).round() as u64;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        if self.json {
            let line = serde_json::json!({
                "timestamp": now, "level": level.as_str(), "target": "shequn::db",
                "fields": {"message": message, "summary": summary, "elapsed_ms": elapsed_ms,
                           "rows_returned": f.rows_returned, "rows_affected": f.rows_affected},
            });
            writeln!(w, "{line}")
        } else {
            writeln!(
                w,
                "{now} {level:>5} {message} summary={summary:?} elapsed_ms={elapsed_ms} rows_returned={} rows_affected={}",
                f.rows_returned, f.rows_affected
            )
        }
    }
}

#[derive(Default)]
struct StatementFields {
    summary: Option<String>,
    elapsed_secs: f64,
    rows_returned: u64,
    rows_affected: u64,
}

impl Visit for StatementFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "summary" {
            // One line whatever the statement's first words hold.
            self.summary = Some(value.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "rows_returned" => self.rows_returned = value,
            "rows_affected" => self.rows_affected = value,
            _ => {}
        }
    }
    fn record_debug(&mut self, _field: &Field, _value: &dyn Debug) {}
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::ErrorKind::Other)?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(format: LogFormat) -> String {
        let buffer = Buffer::default();
        let settings = LogSettings { format, level: "info,sqlx=warn".into() };
        let writer = buffer.clone();
        let sub = subscriber(&settings, move || writer.clone());
        tracing::subscriber::with_default(sub, || {
            let sql = "\n\nINSERT INTO metric_days (workspace_id, day)\nSELECT workspace_id,\n  day\nFROM events\n";
            tracing::warn!(target: "sqlx::query", summary = "INSERT INTO metric_days (workspace_id, …",
                db.statement = sql, rows_affected = 12u64, rows_returned = 0u64,
                elapsed_secs = 1.5f64, "slow statement: execution time exceeded alert threshold");
            tracing::debug!(target: "sqlx::query", summary = "SELECT 1", db.statement = "", elapsed_secs = 0.001f64);
            tracing::info!(target: "shequn::demo", "done");
        });
        let out = buffer.0.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_slow_statement_is_one_line_with_its_summary_and_duration() {
        for format in [LogFormat::Pretty, LogFormat::Json] {
            let out = logged(format);
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines.len(), 2, "{out}");
            assert!(lines[0].contains("slow statement"), "{out}");
            assert!(lines[0].contains("INSERT INTO metric_days (workspace_id, …"), "{out}");
            assert!(lines[0].contains("elapsed_ms") && lines[0].contains("1500"), "{out}");
            assert!(lines[0].contains("rows_affected") && lines[0].contains("12"), "{out}");
            assert!(!out.contains("FROM events") && !out.contains("exceeded alert threshold"), "{out}");
            assert!(lines[1].contains("done"), "{out}");
        }
    }
}
