//! Request ids: taken from a well-formed incoming `x-request-id`, else a new
//! UUIDv7; echoed on every response and visible to the error envelope through
//! a task-local set for the duration of the request.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The header carrying the request id in both directions.
pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being served on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(|id| id.clone()).ok()
}

/// The request id stored in request extensions (for spans and handlers).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn acceptable(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Middleware: assigns the id, runs the rest of the stack inside its scope
/// and sets the response header.
pub async fn layer(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = CURRENT.scope(id.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER.clone(), v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn client_request_ids_are_accepted_only_when_short_and_plain() {
        assert!(acceptable("abc-123_x.y"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable(&"a".repeat(65)));
        assert!(!acceptable("inject\nheader"));
    }
}
