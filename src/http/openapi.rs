//! The published OpenAPI document: what every feature's `#[utoipa::path]`
//! says, completed with what the shared layers answer on every operation.
//!
//! The handlers document their own outcomes (201, 404, a 409 of their own);
//! the answers that come from the shared machinery are added here, from the
//! shape of each operation, so no operation can forget one:
//!
//! | status | on | from |
//! |---|---|---|
//! | 400 | operations with a path parameter or a JSON body | `ApiPath`, `ApiJson` |
//! | 401 | operations that need a key or a session | `keys::auth::require_key` |
//! | 403 | writes (viewers only read) | `require_key`, `Auth::require` |
//! | 404 | operations with a path parameter, a query or a body | a record named there is not in the caller's workspace |
//! | 408 | every operation | the timeout layer |
//! | 409, 422 | authenticated `/v1` POSTs | `Idempotency-Key` in progress / reused |
//! | 413, 415 | operations with a body | the body limit, `ApiJson` |
//! | 422 | operations with a query parameter or a body | `ApiQuery`, `ApiJson`, handlers' checks |
//!
//! Every error response refers to the one `ErrorEnvelope` schema. A report
//! taking `format` also answers `text/csv`; every string without a rule of
//! its own gets the pattern refusing U+0000, and free-form objects hold
//! `JsonValue`s (strings and keys without U+0000 at any depth), as the
//! extractors enforce.

use serde_json::{json, Map, Value};

/// The HTTP methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

const ENVELOPE: &str = "#/components/schemas/ErrorEnvelope";

fn describe(status: &str) -> &'static str {
    match status {
        "400" => "The request cannot be parsed: malformed JSON (`malformed_json`) or a path parameter that is not a UUID (`invalid_path_parameter`)",
        "401" => "Missing, unknown or revoked API key or session (`unauthorized`); an expired session \
                  (`session_expired`) or one whose person may no longer open the workspace (`session_ended`)",
        "403" => "The caller's role may not do this (`forbidden`); viewers only read; a write with the session \
                  cookie lacks the session's `X-CSRF-Token` (`csrf_failed`)",
        "404" => "Nothing with that id in the caller's workspace (`not_found`): the path's record, or one the \
                  body or query names (`details` names each such field)",
        "408" => "The request took longer than `server.request_timeout_secs` (`timeout`)",
        "409" => "A request with the same `Idempotency-Key` is still running (`idempotency_in_progress`)",
        "413" => "The body is larger than `server.body_limit_bytes` (`payload_too_large`)",
        "415" => "The body's `Content-Type` is not one this operation reads (`unsupported_media_type`)",
        "422" => "The input breaks a rule (`validation_failed`); `details` names each field",
        _ => "Error",
    }
}

fn error_response(status: &str) -> Value {
    json!({"description": describe(status), "content": {"application/json": {"schema": {"$ref": ENVELOPE}}}})
}

/// Adds `status` unless the operation documents it already.
fn add(responses: &mut Map<String, Value>, status: &str) {
    responses.entry(status.to_owned()).or_insert_with(|| error_response(status));
}

/// Completes one operation.
fn complete(path: &str, method: &str, op: &mut Map<String, Value>) {
    let params = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
    let has = |place: &str| params.iter().any(|p| p["in"] == place);
    let has_body = op.contains_key("requestBody");
    let authenticated = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    // The idempotency layer sits behind authentication: the public doors
    // (signing in, one-time links) take no `Idempotency-Key`.
    let v1_post = path.starts_with("/v1/") && method == "post" && authenticated;
    if v1_post {
        let mut params = params.clone();
        params.push(json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Makes a retried POST safe: the first answer is stored 24 h and replayed \
                            (`Idempotent-Replayed: true`); 1-255 visible ASCII characters",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}
        }));
        op.insert("parameters".into(), Value::Array(params));
    }
    if authenticated {
        // Every operation a key may call, a console session may call too.
        if let Some(security) = op.get_mut("security").and_then(Value::as_array_mut) {
            if !security.iter().any(|s| s.get("session").is_some()) {
                security.push(json!({"session": []}));
            }
        }
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { return };
    // A report with `format=csv` answers a CSV table as well as JSON.
    if params.iter().any(|p| p["in"] == "query" && p["name"] == "format") {
        if let Some(content) =
            responses.get_mut("200").and_then(|r| r.get_mut("content")).and_then(Value::as_object_mut)
        {
            content.insert("text/csv".into(), json!({"schema": {"type": "string", "description": "One CSV table"}}));
        }
    }
    if has("path") || has_body {
        add(responses, "400");
    }
    if authenticated {
        add(responses, "401");
        if method != "get" {
            add(responses, "403");
        }
    }
    if has("path") || (authenticated && (has("query") || has_body)) {
        add(responses, "404");
    }
    add(responses, "408");
    if has_body {
        add(responses, "413");
        add(responses, "415");
    }
    if has("query") || has_body || v1_post {
        add(responses, "422");
    }
    if v1_post {
        add(responses, "409");
    }
}

/// Gives every string schema without a rule of its own (pattern, format,
/// enum) the pattern refusing U+0000, which the extractors refuse in every
/// string of a body or query. Examples are left as they are.
fn nul_free_strings(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let is_string = match map.get("type") {
                Some(Value::String(t)) => t == "string",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
                _ => false,
            };
            if is_string && !["pattern", "format", "enum", "const"].iter().any(|k| map.contains_key(*k)) {
                map.insert("pattern".into(), Value::from(crate::validate::schema::NUL_FREE));
            }
            for (k, child) in map.iter_mut() {
                if k != "example" && k != "examples" {
                    nul_free_strings(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(nul_free_strings),
        _ => {}
    }
}

/// The document with the shared answers added to every operation, as JSON
/// (utoipa's types do not read back their own output, so the completion
/// works on the JSON).
pub fn complete_document(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut v = serde_json::to_value(doc).unwrap_or_default();
    if let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                    complete(path, method, op);
                }
            }
        }
    }
    if let Some(schemas) = v.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        schemas.insert("JsonValue".into(), crate::validate::schema::json_value_component());
    }
    nul_free_strings(&mut v);
    v
}
