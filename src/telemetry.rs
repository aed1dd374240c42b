//! Logging: pretty for people, JSON for collectors. `RUST_LOG` overrides
//! the configured level. Personal data and secrets are never logged: request
//! spans carry method, route template, request id and workspace only.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let result = match settings.format {
        LogFormat::Json => {
            fmt().json().with_env_filter(filter).with_current_span(true).with_writer(std::io::stderr).try_init()
        }
        LogFormat::Pretty => fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init(),
    };
    let _ = result;
}
