//! Checks every operation of the OpenAPI document against the rules every
//! endpoint shares: authentication, the viewer's read-only role, malformed
//! path ids, and bad bodies — each answering the JSON envelope and writing
//! nothing (every write is audited, so an unchanged audit log proves it).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::TestApp;

struct Op {
    method: Method,
    path: String,
    has_body: bool,
    /// The body is a JSON array (batch endpoints): items are judged one by one.
    array_body: bool,
    has_path_params: bool,
    /// A door that needs neither key nor session (signing in, links).
    public: bool,
}

fn operations() -> Vec<Op> {
    let spec: Value = shequn::api::openapi();
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = method.to_uppercase().parse::<Method>() else { continue };
            ops.push(Op {
                method: m,
                path: path.clone(),
                has_body: op["requestBody"]["content"].get("application/json").is_some(),
                array_body: op["requestBody"]["content"]["application/json"]["schema"]["type"] == "array",
                has_path_params: path.contains('{'),
                public: op.get("security").is_none(),
            });
        }
    }
    assert!(ops.len() >= 40, "the spec lists only {} operations", ops.len());
    ops
}

fn fill(path: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let j = rest[i..].find('}').map(|j| i + j + 1).unwrap_or(rest.len());
        out.push_str(with);
        rest = &rest[j..];
    }
    out.push_str(rest);
    out
}

async fn audit_rows(app: &TestApp) -> i64 {
    app.count("audit_log").await
}

#[tokio::test]
async fn every_operation_refuses_a_missing_key_and_viewers_cannot_write() {
    let app = TestApp::spawn().await;
    let viewer = app.key_with_role("viewer").await;
    let before = audit_rows(&app).await;
    let id = uuid::Uuid::now_v7().to_string();
    for op in operations().into_iter().filter(|o| !o.public) {
        let path = fill(&op.path, &id);
        let r = app.send(op.method.clone(), &path, None, Some(serde_json::json!({}))).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "unauthorized"), "{} {}", op.method, op.path);
        if op.method != Method::GET {
            let r = app.send(op.method.clone(), &path, Some(&viewer), Some(serde_json::json!({}))).await;
            assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{} {}", op.method, op.path);
        }
    }
    assert_eq!(audit_rows(&app).await, before);
}

#[tokio::test]
async fn every_path_id_that_is_not_a_uuid_gets_400_naming_it() {
    let app = TestApp::spawn().await;
    for op in operations().into_iter().filter(|o| o.has_path_params) {
        let r =
            app.send_raw(op.method.clone(), &fill(&op.path, "not-a-uuid"), "application/json", b"{}".to_vec()).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_path_parameter"),
            "{} {}",
            op.method,
            op.path
        );
        assert!(!r.field().is_empty(), "{} {}: {:?}", op.method, op.path, r.body);
    }
}

#[tokio::test]
async fn every_body_refuses_malformed_json_other_media_types_and_unknown_fields() {
    let app = TestApp::spawn().await;
    let before = audit_rows(&app).await;
    let id = uuid::Uuid::now_v7().to_string();
    for op in operations().into_iter().filter(|o| o.has_body) {
        let path = fill(&op.path, &id);
        let cases: [(&str, &[u8], StatusCode, &str); 4] = [
            ("application/json", b"{\"name\": ", StatusCode::BAD_REQUEST, "malformed_json"),
            ("application/json", b"{} {}", StatusCode::BAD_REQUEST, "malformed_json"),
            ("text/plain", b"{}", StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ("application/json", b"{\"zz_unknown\": 1}", StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ];
        for (ct, body, status, code) in cases {
            let r = app.send_raw(op.method.clone(), &path, ct, body.to_vec()).await;
            assert_eq!(
                (r.status, r.code()),
                (status, code),
                "{} {} with {:?}",
                op.method,
                op.path,
                String::from_utf8_lossy(body)
            );
            assert!(r.body["error"]["request_id"].is_string());
        }
        let r = app.send_raw(op.method.clone(), &path, "application/json", b"{\"zz_unknown\": 1}".to_vec()).await;
        let expected = if op.array_body { "body" } else { "zz_unknown" };
        assert_eq!(r.field(), expected, "{} {}", op.method, op.path);
    }
    assert_eq!(audit_rows(&app).await, before);
}

#[tokio::test]
async fn cors_answers_preflights_for_configured_origins_only() {
    let mut settings = crate::helpers::test_settings();
    settings.server.cors_allowed_origins = vec!["https://admin.example.com".into()];
    let app = TestApp::spawn_with(settings).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, format!("{}/v1/groups", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let ok = preflight("https://admin.example.com").await.unwrap();
    assert_eq!(ok.headers().get("access-control-allow-origin").unwrap(), "https://admin.example.com");
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn nul_characters_anywhere_in_input_are_refused_not_500s() {
    let app = TestApp::spawn().await;
    let before = audit_rows(&app).await;
    // Query strings: PostgreSQL text cannot hold U+0000.
    for path in ["/v1/groups?q=%00", "/v1/members?tag=a%00b", "/v1/tags?q=%00"] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {:?}", r.body);
    }
    // JSON objects stored as jsonb.
    for (path, body) in [
        ("/v1/members", serde_json::json!({"attributes": {"city": "a\u{0}b"}})),
        ("/v1/members", serde_json::json!({"attributes": {"k\u{0}": 1}})),
        (
            "/v1/groups",
            serde_json::json!({"platform": "slack", "external_id": "C1", "name": "g", "attributes": {"x": ["\u{0}"]}}),
        ),
    ] {
        let r = app.post(path, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {:?}", r.body);
        assert!(r.field().starts_with("attributes."), "{path}: {:?}", r.body);
    }
    assert_eq!(audit_rows(&app).await, before);
    // Events: one bad item is rejected with a reason; the good one is kept.
    let r = app
        .post("/v1/events", serde_json::json!([
            {"id": "a", "type": "checked_in", "occurred_at": "2026-11-20T00:00:00Z", "properties": {"note": "x\u{0}"}},
            {"id": "b", "type": "order_placed", "occurred_at": "2026-11-20T00:00:00Z", "order_id": "A\u{0}1"},
            {"id": "c", "type": "checked_in", "occurred_at": "2026-11-20T00:00:00Z", "member": {"platform": "slack", "external_id": "U1", "name": "n\u{0}"}},
            {"id": "d", "type": "checked_in", "occurred_at": "2026-11-20T00:00:00Z"}
        ]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let statuses: Vec<&str> =
        r.body["results"].as_array().unwrap().iter().map(|x| x["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["rejected", "rejected", "rejected", "accepted"]);
    assert!(r.body["results"][0]["reason"].as_str().unwrap().contains("NUL"));
}

/// Doubles at the edges of their range (and long fractions) in every
/// free-form JSON field: answered, stored and read back unchanged. Before,
/// `1.7976931348623157e308` was stored and every later read of the row
/// answered 500 (PostgreSQL prints the number as 309 digits, which the JSON
/// reader rounded past the largest double).
#[tokio::test]
async fn numbers_at_the_edges_of_a_double_are_stored_and_read_back_exactly() {
    let app = TestApp::spawn().await;
    let edge = serde_json::json!({
        "max": f64::MAX, "min": f64::MIN, "tiny": 5e-324, "near": 1.2345678901234567e300,
        "frac": 0.30000000000000004, "big": u64::MAX, "neg": i64::MIN
    });
    let member = app.post("/v1/members", serde_json::json!({"display_name": "m", "attributes": edge.clone()})).await;
    assert_eq!(member.status, StatusCode::CREATED, "{:?}", member.body);
    let m = member.id();
    assert_eq!(app.get(&format!("/v1/members/{m}")).await.body["attributes"], edge);
    for (path, body, field) in [
        ("/v1/groups", serde_json::json!({"platform": "slack", "external_id": "C1", "name": "g"}), "attributes"),
        ("/v1/campaigns", serde_json::json!({"name": "c", "scene": "activity", "kind": "custom"}), "settings"),
    ] {
        let mut body = body;
        body[field] = edge.clone();
        let r = app.post(path, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}: {:?}", r.body);
        assert_eq!(app.get(&format!("{path}/{}", r.id())).await.body[field], edge, "{path}");
    }
    let connection = app
        .post(
            "/v1/connections",
            serde_json::json!({"platform": "generic", "credentials": {"secret": "s".repeat(32)}, "settings": edge}),
        )
        .await;
    assert_eq!(connection.status, StatusCode::CREATED, "{:?}", connection.body);
    assert_eq!(app.get("/v1/connections").await.body["items"][0]["settings"], edge);

    let r = app
        .post(
            "/v1/events",
            serde_json::json!([{"id": "e1", "type": "checked_in", "occurred_at": "2026-11-20T00:00:00Z",
                                "member_id": m, "properties": edge}]),
        )
        .await;
    assert_eq!(r.body["results"][0]["status"], "accepted", "{:?}", r.body);
    let ndjson = format!(
        "{}\n",
        serde_json::json!({"id": "e2", "type": "checked_in", "occurred_at": "2026-11-21T00:00:00Z",
                           "member_id": m, "properties": edge})
    );
    let r = app.send_raw(Method::POST, "/v1/imports/events", "application/x-ndjson", ndjson.into_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for path in ["/v1/events".to_owned(), format!("/v1/members/{m}/timeline")] {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{path}: {:?}", r.body);
        assert!(items.iter().all(|e| e["properties"] == edge), "{path}: {:?}", r.body);
    }
}

/// A newcomer's first clicks after `shequn demo`: every GET of the document
/// answers 200 on the demo workspace (each item route for a few of its
/// listed ids), and every stored event and timeline reads back. The demo's
/// events were stored with a source the API does not know, and every event
/// listing answered 500.
#[tokio::test]
async fn every_read_of_a_fresh_demo_workspace_answers() {
    let app = TestApp::spawn().await;
    let options = shequn::demo::Options { members: 300, groups: 8, days: 20, progress: false, ..Default::default() };
    let demo = shequn::demo::run(&app.pool, &options, shequn::clock::Clock::now(&app.clock)).await.expect("demo");
    let key = demo.api_key.clone();
    let get = |path: String| {
        let (app, key) = (&app, key.clone());
        async move { (app.send(Method::GET, &path, Some(&key), None).await, path) }
    };
    let spec: Value = shequn::api::openapi();
    let reads: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        // `/v1/session` reads a console session; a key has none (404).
        .filter(|(p, item)| p.starts_with("/v1/") && item.get("get").is_some() && *p != "/v1/session")
        .map(|(p, _)| p.as_str())
        .collect();
    // Lists first, keeping a few ids of each collection for its item routes.
    let mut ids: std::collections::HashMap<String, Vec<String>> = Default::default();
    for path in reads.iter().filter(|p| !p.contains('{')) {
        let (r, path) = get(path.to_string()).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        if let Some(items) = r.body["items"].as_array() {
            let found = items.iter().filter_map(|x| x["id"].as_str()).take(3).map(str::to_owned).collect();
            ids.insert(path, found);
        }
    }
    let mut item_reads = 0;
    for path in reads.iter().filter(|p| p.contains('{')) {
        let collection = path.replace("/v1/metrics/", "/v1/").split("/{").next().unwrap().to_owned();
        let some = ids.get(&collection).unwrap_or_else(|| panic!("no list for {path}"));
        for id in some {
            let (r, path) = get(fill(path, id)).await;
            // A group without a robot answers 404 (documented).
            let fine = r.status == StatusCode::OK || (path.ends_with("/robot") && r.code() == "not_found");
            assert!(fine, "{path}: {} {}", r.status, r.body);
            item_reads += 1;
        }
    }
    assert!(item_reads > 30, "only {item_reads} item reads: {ids:?}");
    // Every stored event, page by page, and the filters the fuzzer combined.
    let (mut cursor, mut events) = (String::new(), 0);
    loop {
        let (r, path) = get(format!("/v1/events?limit=200{cursor}")).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        events += r.body["items"].as_array().unwrap().len() as u64;
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(events, demo.events);
    let group = &ids["/v1/groups"][0];
    let campaign = &ids["/v1/campaigns"][0];
    let (r, path) = get(format!("/v1/events?group_id={group}&campaign_id={campaign}")).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
}

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|x| refs(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_reference_in_the_document_resolves() {
    let spec = shequn::api::openapi();
    let mut found = Vec::new();
    refs(&spec, &mut found);
    assert!(found.len() > 100, "only {} references", found.len());
    let dangling: Vec<&&str> = found
        .iter()
        .filter(|r| {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
            spec["components"]["schemas"].get(name).is_none()
        })
        .collect();
    assert!(dangling.is_empty(), "references to schemas that do not exist: {dangling:?}");
}

/// The published name of every `ToSchema` type in `src/`: its `#[schema(as = …)]`
/// or its identifier. Two types under one name would silently replace each
/// other in the document (the commerce days were typed as the SOP weekday).
#[test]
fn each_published_schema_name_belongs_to_one_rust_type() {
    fn walk(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut names: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            if !(line.starts_with("#[derive(") && line.contains("ToSchema")) {
                continue;
            }
            let mut published = None;
            for next in &lines[i + 1..] {
                if let Some(rest) = next.strip_prefix("#[schema(as = ") {
                    published = rest.split([')', ',']).next().map(|s| s.rsplit("::").next().unwrap_or(s).to_owned());
                } else if let Some(rest) = ["pub struct ", "pub enum ", "struct ", "enum ", "pub(crate) struct "]
                    .iter()
                    .find_map(|p| next.strip_prefix(p))
                {
                    let ident = rest.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or("");
                    let name = published.take().unwrap_or_else(|| ident.to_owned());
                    let place =
                        format!("{}: {ident}", file.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display());
                    names.entry(name).or_default().push(place);
                    break;
                }
            }
        }
    }
    assert!(names.len() > 100, "only {} schema types found", names.len());
    let shared: Vec<_> = names.iter().filter(|(_, places)| places.len() > 1).collect();
    assert!(shared.is_empty(), "schema names used by more than one type: {shared:#?}");
}

#[test]
fn every_operation_documents_the_shared_errors_with_the_envelope() {
    let spec = shequn::api::openapi();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let has_path = path.contains('{');
            let has_body = op.get("requestBody").is_some();
            let expected = [
                ("401", secured),
                ("403", secured && method != "get"),
                ("400", has_path || has_body),
                ("404", has_path),
                ("413", has_body),
                ("415", has_body),
                ("422", has_body),
                ("408", true),
            ];
            for (status, needed) in expected {
                assert!(!needed || responses.contains_key(status), "{method} {path} does not document {status}");
            }
            for (status, r) in responses.iter().filter(|(s, _)| s.starts_with('4')) {
                let schema = &r["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorEnvelope", "{method} {path} {status}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 99, "{checked}");
}
