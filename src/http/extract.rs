//! The project's own extractors. Their rejections use the error envelope and
//! name the field that failed: `ApiJson` (JSON bodies, unknown fields
//! refused where the DTO says so), `ApiQuery` (query strings), `ApiPath`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// A JSON request body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

fn is_json(parts_ct: Option<&header::HeaderValue>) -> bool {
    let Some(ct) = parts_ct.and_then(|v| v.to_str().ok()) else { return false };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Turns a serde path (`identities.[0].platform`) into `identities[0].platform`.
fn field_path(path: &serde_path_to_error::Path) -> String {
    let s = path.to_string();
    let s = s.replace(".[", "[");
    if s == "." {
        String::new()
    } else {
        s
    }
}

/// Classifies a serde_json error for the envelope.
fn json_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let field = field_path(err.path());
    let inner = err.inner();
    let msg = inner.to_string();
    // serde_json appends " at line X column Y": useful for syntax, noise for data.
    let clean = match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.clone(),
    };
    match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => ApiError::BadRequest {
            code: "malformed_json",
            message: format!("request body is not valid JSON: {msg}"),
            details: vec![],
        },
        _ => {
            let (field, code) = if let Some(rest) = clean.strip_prefix("unknown field `") {
                // The path already ends with the unknown key.
                let name = rest.split('`').next().unwrap_or("");
                (if field.is_empty() { name.to_owned() } else { field }, "unknown_field")
            } else if let Some(rest) = clean.strip_prefix("missing field `") {
                let name = rest.split('`').next().unwrap_or("");
                let full = if field.is_empty() { name.to_owned() } else { format!("{field}.{name}") };
                (full, "required")
            } else {
                (if field.is_empty() { "body".to_owned() } else { field }, "invalid")
            };
            ApiError::Validation(vec![FieldError::new(field, code, clean)])
        }
    }
}

/// Parses JSON bytes into `T` with field-naming errors (shared with tests of DTOs).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first (cheap, allocation-free), so a malformed body is always a
    // 400 whatever the shape of its first part.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| ApiError::BadRequest {
        code: "malformed_json",
        message: format!("request body is not valid JSON: {e}"),
        details: vec![],
    })?;
    // Every body is an object. serde's derived structs would also read an
    // array, positionally (`[null, null]` as a PATCH of two fields).
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::Validation(vec![FieldError::new("body", "invalid", "must be a JSON object")]));
    }
    // U+0000 can only arrive as the escape `\u0000`; only then is the body walked.
    if bytes.windows(6).any(|w| w == b"\\u0000") {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
            if let Some(path) = crate::validate::find_nul(&v, "") {
                let field = if path.is_empty() { "body".to_owned() } else { path };
                return Err(ApiError::Validation(vec![FieldError::new(
                    field,
                    "invalid",
                    "must not contain NUL characters",
                )]));
            }
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(json_error)
}

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest { code: "bad_body", message: e.body_text(), details: vec![] }
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A query string, parsed strictly (unknown parameters are refused so a
/// misspelt filter is never silently ignored).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Parses a query string into `T` with the envelope's errors (unknown
/// parameters, when `T` denies them, name the parameter).
pub fn parse_query<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    // PostgreSQL text cannot hold U+0000: refuse it here for every parameter.
    if let Some((k, _)) = form_urlencoded::parse(q.as_bytes()).find(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return Err(ApiError::Validation(vec![FieldError::new(
            k.replace('\0', ""),
            "invalid",
            "must not contain NUL characters",
        )]));
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let field = field_path(err.path());
        let msg = err.inner().to_string();
        let (field, code) = if let Some(rest) = msg.strip_prefix("unknown field `") {
            (rest.split('`').next().unwrap_or("").to_owned(), "unknown_parameter")
        } else if let Some(rest) = msg.strip_prefix("missing field `") {
            (rest.split('`').next().unwrap_or("").to_owned(), "required")
        } else if field.is_empty() {
            ("query".to_owned(), "invalid")
        } else {
            (field, "invalid")
        };
        ApiError::Validation(vec![FieldError::new(field, code, msg)])
    })
}

/// Path parameters; a malformed one (e.g. not a UUID) answers 400 naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::path::ErrorKind;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(axum::extract::rejection::PathRejection::FailedToDeserializePathParams(e)) => {
                let kind = e.into_kind();
                let field = match &kind {
                    ErrorKind::ParseErrorAtKey { key, .. } | ErrorKind::InvalidUtf8InPathParam { key } => key.clone(),
                    ErrorKind::DeserializeError { key, .. } => key.clone(),
                    _ => "path".to_owned(),
                };
                Err(ApiError::BadRequest {
                    code: "invalid_path_parameter",
                    message: format!("invalid path parameter `{field}`"),
                    details: vec![FieldError::new(field, "invalid", kind.to_string())],
                })
            }
            Err(e) => Err(ApiError::Internal(anyhow::anyhow!("path extraction: {e}"))),
        }
    }
}

/// The peer's address, when the server was started with it (tests and
/// `serve` are; a router without connect info gives `None`).
pub struct Peer(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        platform: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
    }

    fn first_field(e: ApiError) -> (String, String) {
        match e {
            ApiError::Validation(d) => (d[0].field.clone(), d[0].code.clone()),
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_failing_field() {
        let e = parse_json::<Outer>(br#"{"name": "a", "items": [{"platform": 3}]}"#).unwrap_err();
        assert_eq!(first_field(e), ("items[0].platform".into(), "invalid".into()));
        let e = parse_json::<Outer>(br#"{"name": "a", "items": [{"platfrom": "x"}]}"#).unwrap_err();
        assert_eq!(first_field(e), ("items[0].platfrom".into(), "unknown_field".into()));
        let e = parse_json::<Outer>(br#"{"items": []}"#).unwrap_err();
        assert_eq!(first_field(e), ("name".into(), "required".into()));
    }

    #[test]
    fn bodies_are_objects_not_positional_arrays() {
        for not_an_object in [&b"[\"a\", []]"[..], b" null", b"\"a\"", b"1"] {
            let e = parse_json::<Outer>(not_an_object).unwrap_err();
            assert!(matches!(&e, ApiError::Validation(d) if d[0].field == "body"), "{e:?}");
        }
        assert!(parse_json::<Outer>(b" \n{\"name\": \"a\", \"items\": []}").is_ok());
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        let e = parse_json::<Outer>(b"{\"name\": ").unwrap_err();
        assert_eq!(e.code(), "malformed_json");
        let e = parse_json::<Outer>(br#"{"name": "a", "items": []} trailing"#).unwrap_err();
        assert_eq!(e.code(), "malformed_json");
    }
}
