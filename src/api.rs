//! The API's assembly: every feature's routes in one place, its OpenAPI
//! document, and the `/v1` layers (API key or session, idempotency). It stands above
//! every feature; `http` (the toolkit) wraps it in the middleware stack.
//! Tests build the same router.

use axum::middleware;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;
use crate::http::{idempotency, ops};

#[derive(OpenApi)]
#[openapi(
    info(title = "Shequn API", description = "Community-operations SCRM: groups, members, tiers, campaigns.", license(name = "Apache-2.0")),
    modifiers(&BearerAuth, &WebhookCatalogue),
    tags(
        (name = "ops", description = "Health, readiness, metrics"),
        (name = "workspace", description = "The caller's workspace settings"),
        (name = "api-keys", description = "API keys and roles"),
        (name = "users", description = "People who sign in to the console: invitations, roles, sessions, passwords"),
        (name = "staff", description = "The operator's people and bots"),
        (name = "groups", description = "Chat groups"),
        (name = "members", description = "People across platforms"),
        (name = "memberships", description = "Joins and leaves: stints of members in groups"),
        (name = "tiers", description = "Value tiers (VIP, basic)"),
        (name = "tags", description = "Tags on groups and members"),
        (name = "layers", description = "Saved group selectors"),
        (name = "campaigns", description = "Campaigns and their lifecycle"),
        (name = "check-ins", description = "Daily check-in campaigns: check-ins, streaks, makeups, stats"),
        (name = "points", description = "Members' points: balances, the ledger with expiring lots, adjustments, earning rules"),
        (name = "mall", description = "The points mall: items, redemptions, fulfilment"),
        (name = "coupons", description = "Coupon templates, claims, issues, quotes and redemptions"),
        (name = "flash-sales", description = "Flash sales: runs with their own stock, reservations, confirmation"),
        (name = "events", description = "Funnel events: batch ingestion and queries"),
        (name = "connections", description = "Chat-platform accounts and their webhook URLs"),
        (name = "webhooks", description = "Inbound platform callbacks and their inbox"),
        (name = "contents", description = "The content library: message templates"),
        (name = "sop", description = "SOP plans: timed content per group, layer or tier"),
        (name = "deliveries", description = "Every scheduled send and its attempts"),
        (name = "webhook-endpoints", description = "Outbound webhooks: endpoints, messages and attempts"),
        (name = "audit", description = "Who changed what"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("shq_…").build()),
        );
        // The console's session: the cookie, and on writes `X-CSRF-Token`.
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    crate::users::model::SESSION_COOKIE,
                    "A console session (POST /v1/sessions); every write also sends the session's `X-CSRF-Token`",
                ),
            )),
        );
    }
}

/// What is added once every route's schemas are in the document: the
/// campaign kinds' typed settings.
fn refine(doc: &mut utoipa::openapi::OpenApi) {
    crate::campaigns::settings::describe(doc);
    crate::points::rules::model::describe(doc);
}

/// The outbound webhooks' catalogue, as the OpenAPI 3.1 `webhooks` section.
struct WebhookCatalogue;

impl Modify for WebhookCatalogue {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        crate::webhooks::catalogue::describe(openapi);
    }
}

/// Every `/v1` route, with its documentation.
fn v1_routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .merge(crate::workspaces::router())
        .merge(crate::keys::router())
        .merge(crate::users::router())
        .merge(crate::tiers::router())
        .merge(crate::tags::router())
        .merge(crate::staff::router())
        .merge(crate::groups::router())
        .merge(crate::members::router())
        .merge(crate::points::router())
        .merge(crate::mall::router())
        .merge(crate::coupons::router())
        .merge(crate::flash_sales::router())
        .merge(crate::channels::router())
        .merge(crate::referrals::router())
        .merge(crate::lotteries::router())
        .merge(crate::group_buys::router())
        .merge(crate::bargains::router())
        .merge(crate::tier_rules::router())
        .merge(crate::memberships::router())
        .merge(crate::layers::router())
        .merge(crate::campaigns::router())
        .merge(crate::checkin::router())
        .merge(crate::events::router())
        .merge(crate::connections::router())
        .merge(crate::hooks::inbox_router())
        .merge(crate::contents::router())
        .merge(crate::sop::router())
        .merge(crate::deliveries::router())
        .merge(crate::metrics::router())
        .merge(crate::webhooks::router())
        .merge(crate::audit::router())
}

fn api_routes() -> (OpenApiRouter<App>, OpenApiRouter<App>) {
    let ops = OpenApiRouter::new()
        .merge(crate::hooks::hooks_router())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .merge(crate::console::router())
        .merge(crate::channels::public_router());
    (ops, v1_routes())
}

/// The `/v1` doors that need neither a key nor a session (signing in,
/// accepting an invitation, resetting a password).
fn public_v1_routes() -> OpenApiRouter<App> {
    crate::users::public_router()
}

/// The OpenAPI document generated from the code.
pub fn openapi() -> serde_json::Value {
    let (ops, v1) = api_routes();
    crate::http::document(ApiDoc::openapi(), ops, v1.merge(public_v1_routes()), refine)
}

/// The whole application.
pub fn router(app: App) -> Router {
    let (ops, v1) = api_routes();
    let state = app.state.clone();
    let v1 = v1
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .layer(middleware::from_fn_with_state(state.clone(), crate::keys::auth::require_key))
        .merge(public_v1_routes());
    crate::http::serve(ApiDoc::openapi(), ops, v1, app, &state, refine)
}
