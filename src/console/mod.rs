//! The admin console: static files embedded in the binary and served at
//! `/` and `/assets/…`. The pages read only the public `/v1` API, as any
//! client would (see `docs/console.md`). No file comes from anywhere else:
//! the Content-Security-Policy allows this origin only.

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;

/// The policy of every console page: scripts, styles, fonts, images and
/// API calls from this origin only (charts export as `data:`/`blob:`
/// images), never framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
    font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// `(name, content type, bytes)` of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../console/app.js")),
    ("common.js", "text/javascript; charset=utf-8", include_bytes!("../../console/common.js")),
    ("pages/activity.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/activity.js")),
    ("pages/auth.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/auth.js")),
    ("pages/campaigns.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/campaigns.js")),
    ("pages/coupons.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/coupons.js")),
    ("pages/flash.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/flash.js")),
    ("pages/channels.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/channels.js")),
    ("pages/fission.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/fission.js")),
    ("pages/social.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/social.js")),
    ("pages/funnel.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/funnel.js")),
    ("pages/groups.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/groups.js")),
    ("pages/health.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/health.js")),
    ("pages/loyalty.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/loyalty.js")),
    ("pages/mall.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/mall.js")),
    ("pages/members.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/members.js")),
    ("pages/overview.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/overview.js")),
    ("pages/retention.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/retention.js")),
    ("pages/settings.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/settings.js")),
    ("pages/sop.js", "text/javascript; charset=utf-8", include_bytes!("../../console/pages/sop.js")),
    ("i18n.js", "text/javascript; charset=utf-8", include_bytes!("../../console/i18n.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../console/app.css")),
    ("echarts.min.js", "text/javascript; charset=utf-8", include_bytes!("../../console/vendor/echarts.min.js")),
];

const INDEX: &[u8] = include_bytes!("../../console/index.html");

/// The console's routes (not in the OpenAPI document).
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new().route("/", get(index)).route("/assets/{*file}", get(asset))
}

fn secured(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

async fn index() -> Response {
    secured(
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX)
            .into_response(),
    )
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, bytes)) => {
            secured(([(header::CONTENT_TYPE, *kind), (header::CACHE_CONTROL, "no-cache")], *bytes).into_response())
        }
        None => crate::error::ApiError::NotFound("asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_loads_is_served_and_nothing_else_is_named() {
        let page = std::str::from_utf8(INDEX).unwrap();
        let loaded: Vec<&str> = page.split("/assets/").skip(1).map(|s| s.split('"').next().unwrap()).collect();
        for src in &loaded {
            assert!(ASSETS.iter().any(|(n, _, _)| n == src), "{src} is not embedded");
        }
        for (name, _, _) in ASSETS {
            assert!(loaded.contains(name), "{name} is embedded but the page does not load it");
        }
        assert!(!page.contains("http://") && !page.contains("https://"), "the page names another origin");
        assert!(!page.contains("<script>") && !page.contains(" style="), "inline code breaks the policy");
    }

    fn asset(name: &str) -> &'static str {
        std::str::from_utf8(ASSETS.iter().find(|(n, _, _)| *n == name).unwrap().2).unwrap()
    }

    /// The keys of one language's catalogue in `i18n.js`.
    fn catalogue(lang: &str) -> std::collections::BTreeSet<String> {
        let all = asset("i18n.js");
        let start = all.find(&format!("\"{lang}\": {{")).unwrap();
        let end = all[start..].find("\n  }").map(|e| start + e).unwrap();
        let key = regex::Regex::new(r#"(?m)^\s+"([^"]+)":"#).unwrap();
        key.captures_iter(&all[start..end]).map(|c| c[1].to_owned()).collect()
    }

    #[test]
    fn both_languages_have_every_key_the_pages_name() {
        let (zh, en) = (catalogue("zh-CN"), catalogue("en"));
        assert_eq!(zh, en, "the catalogues differ");
        assert!(zh.len() > 100, "{}", zh.len());
        let literal = regex::Regex::new(r#"\bt\("([a-z0-9_.]+)"[,)]"#).unwrap();
        let code: String = ASSETS
            .iter()
            .filter(|(n, _, _)| n.ends_with(".js") && !["i18n.js", "echarts.min.js"].contains(n))
            .map(|(n, _, _)| asset(n))
            .collect();
        for c in literal.captures_iter(&code) {
            assert!(zh.contains(&c[1]), "`{}` is not in the catalogues", &c[1]);
        }
    }
}
