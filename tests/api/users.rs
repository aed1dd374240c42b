//! Console accounts over real HTTP: invitations, sign-in and sign-out,
//! the session cookie and CSRF, expiry, the sign-in throttle, roles,
//! disabling, two workspaces, password change and reset.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use shequn::clock::Clock;

use crate::helpers::{Resp, TestApp};

/// A browser: the session cookie and the CSRF token it was given.
#[derive(Clone)]
struct Browser {
    cookie: String,
    csrf: String,
}

impl Browser {
    /// From a 201 that set the session cookie.
    fn from(r: &Resp) -> Browser {
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let set = r.headers["set-cookie"].to_str().unwrap().to_owned();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"), "{set}");
        let cookie = set.split(';').next().unwrap().to_owned();
        assert!(cookie.starts_with("shequn_session="), "{cookie}");
        Browser { cookie, csrf: r.body["csrf_token"].as_str().unwrap().to_owned() }
    }

    async fn send(&self, app: &TestApp, method: Method, path: &str, body: Option<Value>, csrf: bool) -> Resp {
        let mut req = app.client.request(method, format!("{}{path}", app.base)).header("cookie", &self.cookie);
        if csrf {
            req = req.header("x-csrf-token", &self.csrf);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        crate::helpers::to_resp(req.send().await.unwrap()).await
    }

    async fn get(&self, app: &TestApp, path: &str) -> Resp {
        self.send(app, Method::GET, path, None, false).await
    }

    async fn post(&self, app: &TestApp, path: &str, body: Value) -> Resp {
        self.send(app, Method::POST, path, Some(body), true).await
    }
}

/// Invites `email` as `role` with `key`; the invitation's token.
async fn invite(app: &TestApp, key: &str, email: &str, role: &str) -> String {
    let r = app.send(Method::POST, "/v1/users", Some(key), Some(json!({"email": email, "role": role}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let url = r.body["url"].as_str().unwrap();
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(url.ends_with(&format!("/#/accept?token={token}")), "{url}");
    token
}

async fn accept(app: &TestApp, body: Value) -> Resp {
    app.send(Method::POST, "/v1/invitations/accept", None, Some(body)).await
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Resp {
    app.send(Method::POST, "/v1/sessions", None, Some(json!({"email": email, "password": password}))).await
}

const PASSWORD: &str = "long enough pass 1";

/// A person of `role` in the app's workspace, signed in.
async fn person(app: &TestApp, email: &str, role: &str) -> Browser {
    let token = invite(app, &app.key, email, role).await;
    Browser::from(&accept(app, json!({"token": token, "password": PASSWORD})).await)
}

#[tokio::test]
async fn an_invited_person_signs_in_writes_with_csrf_and_signs_out() {
    let app = TestApp::spawn().await;
    let token = invite(&app, &app.key, "Ann@Example.com", "operator").await;
    let weak = accept(&app, json!({"token": token, "password": "short"})).await;
    assert_eq!((weak.status, weak.field()), (StatusCode::UNPROCESSABLE_ENTITY, "password"), "{:?}", weak.body);
    let other = accept(&app, json!({"token": token, "email": "bob@example.com", "password": PASSWORD})).await;
    assert_eq!((other.status, other.field()), (StatusCode::UNPROCESSABLE_ENTITY, "email"));
    let ok = accept(&app, json!({"token": token, "password": PASSWORD, "display_name": "Ann"})).await;
    let ann = Browser::from(&ok);
    assert_eq!(ok.body["user"]["email"], "ann@example.com");
    assert_eq!(ok.body["workspace"]["id"], app.workspace_id.as_str());
    assert_eq!(ok.body["workspace"]["role"], "operator");
    assert!(!ok.body.to_string().contains(PASSWORD));
    let again = accept(&app, json!({"token": token, "password": PASSWORD})).await;
    assert_eq!((again.status, again.code()), (StatusCode::GONE, "link_invalid"));

    // The cookie works like a key of the same role; writes need the CSRF token.
    assert_eq!(ann.get(&app, "/v1/groups").await.status, StatusCode::OK);
    let group = json!({"platform": "telegram", "external_id": "g1", "name": "G"});
    let forged = ann.send(&app, Method::POST, "/v1/groups", Some(group.clone()), false).await;
    assert_eq!((forged.status, forged.code()), (StatusCode::FORBIDDEN, "csrf_failed"));
    let wrong = Browser { csrf: "0".repeat(64), ..ann.clone() };
    assert_eq!(wrong.post(&app, "/v1/groups", group.clone()).await.code(), "csrf_failed");
    assert_eq!(app.count("groups").await, 0, "a refused write changed nothing");
    let made = ann.post(&app, "/v1/groups", group).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    let audit = app.get("/v1/audit-log?limit=200").await;
    let entry = audit.body["items"].as_array().unwrap().iter().find(|e| e["action"] == "group.create").cloned();
    assert_eq!(entry.as_ref().map(|e| e["actor_type"].clone()), Some(json!("user")), "{audit:?}");
    assert_eq!(ann.get(&app, "/v1/users").await.status, StatusCode::FORBIDDEN, "operators do not manage people");

    // Sign out: the session ends and the cookie is cleared.
    let out = ann.send(&app, Method::DELETE, "/v1/session", None, true).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(ann.get(&app, "/v1/groups").await.status, StatusCode::UNAUTHORIZED);

    // Signing in again; a wrong password and an unknown address answer alike.
    let bad = sign_in(&app, "ann@example.com", "not the password").await;
    let nobody = sign_in(&app, "nobody@example.com", "not the password").await;
    assert_eq!((bad.status, bad.code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    assert_eq!(
        (nobody.status, nobody.body["error"]["message"].clone()),
        (bad.status, bad.body["error"]["message"].clone())
    );
    let back = Browser::from(&sign_in(&app, "ANN@example.com", PASSWORD).await);
    let me = back.get(&app, "/v1/session").await;
    assert_eq!(
        (me.body["user"]["display_name"].as_str(), me.body["csrf_token"].as_str()),
        (Some("Ann"), Some(back.csrf.as_str()))
    );
    // A key has no session.
    assert_eq!(app.get("/v1/session").await.status, StatusCode::NOT_FOUND);
    let stored: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users").fetch_one(&app.pool).await.unwrap();
    assert!(stored.unwrap().starts_with("$argon2id$"));
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_their_absolute_limit() {
    let app = TestApp::spawn().await;
    let ann = person(&app, "ann@example.com", "viewer").await;
    app.clock.advance(Duration::hours(11));
    assert_eq!(ann.get(&app, "/v1/groups").await.status, StatusCode::OK, "used within the idle limit");
    app.clock.advance(Duration::hours(12) + Duration::minutes(1));
    let idle = ann.get(&app, "/v1/groups").await;
    assert_eq!((idle.status, idle.code()), (StatusCode::UNAUTHORIZED, "session_expired"));

    let bob = person(&app, "bob@example.com", "viewer").await;
    let mut used = 0;
    for _ in 0..20 {
        app.clock.advance(Duration::hours(10));
        if bob.get(&app, "/v1/groups").await.status != StatusCode::OK {
            break;
        }
        used += 10;
    }
    assert_eq!(used, 160, "kept alive every 10 hours, the session still ends after 168");
}

#[tokio::test]
async fn failed_sign_ins_lock_the_account_for_the_window_whether_or_not_it_exists() {
    let app = TestApp::spawn().await;
    let _ann = person(&app, "ann@example.com", "operator").await;
    for _ in 0..5 {
        assert_eq!(sign_in(&app, "ann@example.com", "wrong password!").await.code(), "invalid_credentials");
        assert_eq!(sign_in(&app, "ghost@example.com", "wrong password!").await.code(), "invalid_credentials");
    }
    let locked = sign_in(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(
        (locked.status, locked.code()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
        "{:?}",
        locked.body
    );
    let ghost = sign_in(&app, "ghost@example.com", PASSWORD).await;
    assert_eq!((ghost.status, ghost.code()), (locked.status, locked.code()), "no account enumeration");
    app.clock.advance(Duration::minutes(15));
    Browser::from(&sign_in(&app, "ann@example.com", PASSWORD).await);
}

#[tokio::test]
async fn the_address_limit_stops_guessing_across_accounts() {
    let mut settings = crate::helpers::test_settings();
    settings.auth.login_failures_per_address = 3;
    let app = TestApp::spawn_with(settings).await;
    let _ann = person(&app, "ann@example.com", "operator").await;
    for i in 0..3 {
        assert_eq!(
            sign_in(&app, &format!("guess{i}@example.com"), "wrong password!").await.code(),
            "invalid_credentials"
        );
    }
    assert_eq!(sign_in(&app, "ann@example.com", PASSWORD).await.code(), "too_many_attempts");
}

#[tokio::test]
async fn roles_bind_people_disabling_ends_sessions_and_the_last_owner_stays() {
    let app = TestApp::spawn().await;
    let owner = person(&app, "owner@example.com", "owner").await;
    let admin = person(&app, "admin@example.com", "admin").await;
    let viewer = person(&app, "viewer@example.com", "viewer").await;
    let op = person(&app, "op@example.com", "operator").await;

    let group = json!({"platform": "telegram", "external_id": "g1", "name": "G"});
    assert_eq!(viewer.post(&app, "/v1/groups", group).await.status, StatusCode::FORBIDDEN);
    let users = admin.get(&app, "/v1/users").await;
    assert_eq!(users.body["items"].as_array().unwrap().len(), 4, "{:?}", users.body);
    let id_of = |email: &str| {
        users.body["items"].as_array().unwrap().iter().find(|u| u["email"] == email).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // An admin may not invite or touch owners.
    let r = admin.post(&app, "/v1/users", json!({"email": "o2@example.com", "role": "owner"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = admin
        .send(
            &app,
            Method::PATCH,
            &format!("/v1/users/{}", id_of("owner@example.com")),
            Some(json!({"disabled": true})),
            true,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Disabling ends the person's sessions; enabling lets them sign in again.
    let r = admin
        .send(
            &app,
            Method::PATCH,
            &format!("/v1/users/{}", id_of("op@example.com")),
            Some(json!({"disabled": true})),
            true,
        )
        .await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("disabled")), "{:?}", r.body);
    assert_eq!(op.get(&app, "/v1/groups").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in(&app, "op@example.com", PASSWORD).await.code(), "no_workspace");
    let r = admin
        .send(
            &app,
            Method::PATCH,
            &format!("/v1/users/{}", id_of("op@example.com")),
            Some(json!({"disabled": false, "role": "viewer"})),
            true,
        )
        .await;
    assert_eq!((r.body["status"].as_str(), r.body["role"].as_str()), (Some("active"), Some("viewer")));
    Browser::from(&sign_in(&app, "op@example.com", PASSWORD).await);
    // Nobody changes themselves; the last owner stays an owner.
    let me = id_of("owner@example.com");
    let r = owner.send(&app, Method::PATCH, &format!("/v1/users/{me}"), Some(json!({"role": "admin"})), true).await;
    assert_eq!(r.code(), "own_account");
    let r = app.patch(&format!("/v1/users/{me}"), json!({"role": "admin"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "last_owner"));
    // A viewer still signs out.
    assert_eq!(viewer.send(&app, Method::DELETE, "/v1/session", None, true).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_person_in_two_workspaces_sees_one_at_a_time_and_switches() {
    let app = TestApp::spawn().await;
    let other_key = app.other_workspace("shop-two").await;
    let ann = person(&app, "ann@example.com", "operator").await;
    // The second invitation needs the existing account's password.
    let token = invite(&app, &other_key, "ann@example.com", "admin").await;
    let wrong = accept(&app, json!({"token": token, "password": "some other password"})).await;
    assert_eq!((wrong.status, wrong.field()), (StatusCode::UNPROCESSABLE_ENTITY, "password"));
    let there = Browser::from(&accept(&app, json!({"token": token, "password": PASSWORD})).await);

    app.post("/v1/groups", json!({"platform": "telegram", "external_id": "a", "name": "Mine"})).await;
    let in_a = ann.get(&app, "/v1/groups").await;
    assert_eq!(in_a.body["items"].as_array().unwrap().len(), 1);
    let in_b = there.get(&app, "/v1/groups").await;
    assert_eq!(in_b.body["items"].as_array().unwrap().len(), 0, "the other workspace's groups are not seen");
    let me = ann.get(&app, "/v1/session").await;
    let workspaces = me.body["workspaces"].as_array().unwrap();
    assert_eq!(workspaces.len(), 2);
    let b = workspaces.iter().find(|w| w["name"] == "shop-two").unwrap()["id"].clone();
    let switched = ann.post(&app, "/v1/session/workspace", json!({"workspace_id": b})).await;
    assert_eq!((switched.status, switched.body["workspace"]["role"].as_str()), (StatusCode::OK, Some("admin")));
    assert_eq!(ann.get(&app, "/v1/groups").await.body["items"].as_array().unwrap().len(), 0);
    let stranger = app.other_workspace("shop-three").await;
    let ws3 = app.send(Method::GET, "/v1/workspace", Some(&stranger), None).await.body["id"].clone();
    let r = ann.post(&app, "/v1/session/workspace", json!({"workspace_id": ws3})).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "no_workspace"));
}

#[tokio::test]
async fn a_password_change_and_a_reset_end_the_other_sessions() {
    let app = TestApp::spawn().await;
    let first = person(&app, "ann@example.com", "operator").await;
    let second = Browser::from(&sign_in(&app, "ann@example.com", PASSWORD).await);
    let r = first
        .post(&app, "/v1/session/password", json!({"current_password": "nope", "new_password": "a new long password"}))
        .await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "current_password"));
    let r = first
        .post(&app, "/v1/session/password", json!({"current_password": PASSWORD, "new_password": "ann@example.com"}))
        .await;
    assert_eq!(r.field(), "new_password", "{:?}", r.body);
    let r = first
        .post(
            &app,
            "/v1/session/password",
            json!({"current_password": PASSWORD, "new_password": "a new long password"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(first.get(&app, "/v1/groups").await.status, StatusCode::OK, "the changing session stays");
    assert_eq!(second.get(&app, "/v1/groups").await.status, StatusCode::UNAUTHORIZED);

    // The CLI's reset link (Shequn sends no e-mail) works once and ends every session.
    let mut conn = app.pool.acquire().await.unwrap();
    let settings = crate::helpers::test_settings();
    let url =
        shequn::users::service::create_reset(&mut conn, &settings, "http://x", "Ann@example.com", app.clock.now())
            .await
            .unwrap()
            .unwrap();
    assert!(shequn::users::service::create_reset(&mut conn, &settings, "http://x", "no@example.com", app.clock.now())
        .await
        .unwrap()
        .is_none());
    let token = url.split("token=").nth(1).unwrap();
    let reset = json!({"token": token, "password": "the third password"});
    let r = app.send(Method::POST, "/v1/password-resets/accept", None, Some(reset.clone())).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = app.send(Method::POST, "/v1/password-resets/accept", None, Some(reset)).await;
    assert_eq!((r.status, r.code()), (StatusCode::GONE, "link_invalid"));
    assert_eq!(first.get(&app, "/v1/groups").await.status, StatusCode::UNAUTHORIZED);
    Browser::from(&sign_in(&app, "ann@example.com", "the third password").await);
}

#[tokio::test]
async fn an_invitation_accepted_by_racing_requests_makes_one_account() {
    let app = TestApp::spawn().await;
    let token = invite(&app, &app.key, "ann@example.com", "operator").await;
    let tries = (0..6).map(|_| accept(&app, json!({"token": token, "password": PASSWORD})));
    let answers = futures_util::future::join_all(tries).await;
    let made = answers.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(made, 1, "{answers:#?}");
    assert!(answers.iter().all(|r| r.status == StatusCode::CREATED || r.code() == "link_invalid"), "{answers:#?}");
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("sessions").await, 1);
}
