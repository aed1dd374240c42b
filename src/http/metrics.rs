//! Prometheus text metrics: request counts and latency histograms by method,
//! route template and status, plus connection-pool gauges. Hand-rolled to
//! keep the build small; the label set is bounded by the route table.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

const BUCKETS: [f64; 11] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Debug, Default, Clone)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request statistics.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
    rejections: Mutex<BTreeMap<(String, String), u64>>,
}

impl HttpMetrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.entry((method.to_owned(), route.to_owned(), status)).or_default();
        s.count += 1;
        s.sum += seconds;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    /// Counts a refused webhook request.
    pub fn count_rejection(&self, platform: &str, reason: &str) {
        let mut map = self.rejections.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((platform.to_owned(), reason.to_owned())).or_default() += 1;
    }

    /// Renders the Prometheus exposition text.
    pub fn render(&self, pool_size: u32, pool_idle: usize, pool_max: u32) -> String {
        let map = self.series.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = String::new();
        let _ = writeln!(out, "# HELP shequn_http_requests_total HTTP requests served.");
        let _ = writeln!(out, "# TYPE shequn_http_requests_total counter");
        for ((m, r, st), s) in &map {
            let _ =
                writeln!(out, "shequn_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{st}\"}} {}", s.count);
        }
        let _ = writeln!(out, "# HELP shequn_http_request_duration_seconds HTTP request latency.");
        let _ = writeln!(out, "# TYPE shequn_http_request_duration_seconds histogram");
        for ((m, r, st), s) in &map {
            let labels = format!("method=\"{m}\",route=\"{r}\",status=\"{st}\"");
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "shequn_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(out, "shequn_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "shequn_http_request_duration_seconds_sum{{{labels}}} {}", s.sum);
            let _ = writeln!(out, "shequn_http_request_duration_seconds_count{{{labels}}} {}", s.count);
        }
        let _ = writeln!(out, "# HELP shequn_webhook_rejections_total Webhook requests refused (nothing stored).");
        let _ = writeln!(out, "# TYPE shequn_webhook_rejections_total counter");
        for ((p, r), n) in self.rejections.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "shequn_webhook_rejections_total{{platform=\"{p}\",reason=\"{r}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP shequn_db_pool_connections Open pooled connections.");
        let _ = writeln!(out, "# TYPE shequn_db_pool_connections gauge");
        let _ = writeln!(out, "shequn_db_pool_connections {pool_size}");
        let _ = writeln!(out, "# HELP shequn_db_pool_idle_connections Idle pooled connections.");
        let _ = writeln!(out, "# TYPE shequn_db_pool_idle_connections gauge");
        let _ = writeln!(out, "shequn_db_pool_idle_connections {pool_idle}");
        let _ = writeln!(out, "# HELP shequn_db_pool_max_connections Pool size limit.");
        let _ = writeln!(out, "# TYPE shequn_db_pool_max_connections gauge");
        let _ = writeln!(out, "shequn_db_pool_max_connections {pool_max}");
        out
    }
}

/// Middleware recording every request.
pub async fn layer(State(metrics): State<std::sync::Arc<HttpMetrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let res = next.run(req).await;
    metrics.observe(&method, &route, res.status().as_u16(), started.elapsed().as_secs_f64());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let m = HttpMetrics::default();
        m.observe("GET", "/v1/groups", 200, 0.003);
        m.observe("GET", "/v1/groups", 200, 0.3);
        let text = m.render(3, 1, 10);
        assert!(text.contains("shequn_http_requests_total{method=\"GET\",route=\"/v1/groups\",status=\"200\"} 2"));
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"0.5\"} 2"));
        assert!(text.contains("shequn_db_pool_connections 3"));
    }
}
