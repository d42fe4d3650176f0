//! Who may do what: the role × endpoint × scope matrix, and credentials that do not count.

use crate::fixture::{Api, TOKENS, class, ev};
use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

/// Every token against every endpoint: the listed ones succeed, every other gets 403, and no
/// credential gets 401. The CA recorder may record this class (organised by CA, attended by a
/// CA member); a CA auditor may not read the raw log (it holds every member's personal data).
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn role_matrix(pool: PgPool) {
    let api = Api::seeded(pool).await;
    type Endpoint = (
        Method,
        &'static str,
        Option<serde_json::Value>,
        &'static [&'static str],
        StatusCode,
    );
    let mut endpoints: Vec<Endpoint> = vec![
        (
            Method::POST,
            "/api/v1/events",
            Some(json!({"events": [class("C-{n}", "CA", &["MA1"])]})),
            &["admin", "recorder", "recorder-ca"],
            StatusCode::CREATED,
        ),
        (
            Method::GET,
            "/api/v1/events",
            None,
            &["admin", "auditor"],
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/api/v1/streams/org:SD",
            None,
            &["admin", "auditor"],
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/api/v1/tokens",
            None,
            &["admin"],
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "t-{n}", "role": "viewer"})),
            &["admin"],
            StatusCode::CREATED,
        ),
    ];
    let auditors: &[&str] = &["admin", "auditor"];
    for uri in [
        "/api/v1/audit/key",
        "/api/v1/audit/checkpoints",
        "/api/v1/audit/proof/inclusion?event_id={event}",
        "/api/v1/audit/proof/consistency?from=1",
        "/api/v1/audit/verify",
        "/api/v1/audit/records/{event}",
    ] {
        endpoints.push((Method::GET, uri, None, auditors, StatusCode::OK));
    }
    api.checkpoint().await;
    let event: uuid::Uuid =
        sqlx::query_scalar("SELECT event_id FROM events ORDER BY position LIMIT 1")
            .fetch_one(&api.pool)
            .await
            .unwrap();
    let event = event.to_string();
    for (n, (name, _, _)) in TOKENS.iter().enumerate() {
        for (method, uri, body, allowed, success) in &endpoints {
            let body = body
                .as_ref()
                .map(|b| b.to_string().replace("{n}", &n.to_string()));
            let uri = &uri.replace("{event}", &event);
            let (status, reply) = api
                .call(method.clone(), uri, Some(name), body.clone())
                .await;
            let expected = if allowed.contains(name) {
                *success
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{name} {method} {uri}: {reply}");
            let (status, _) = api.call(method.clone(), uri, None, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "no token, {method} {uri}");
        }
    }
    for uri in ["/healthz", "/api/v1/openapi.json"] {
        let (status, _) = api.call(Method::GET, uri, None, None).await;
        assert_eq!(status, StatusCode::OK, "{uri} needs no credential");
    }
}

/// A scoped recorder records only inside its subtree: org units and members alike.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn scoped_recorder_stays_in_its_subtree(pool: PgPool) {
    let api = Api::seeded(pool).await;
    let before = api.event_count().await;
    let refused = [
        class("C-1", "CB", &["MB1"]),
        class("C-2", "SD", &["MA1"]),
        class("C-3", "CA", &["MA1", "MB1"]),
        ev(
            "MemberTransferred",
            json!({"member_id": "MA1", "to_branch_id": "GB", "on": "2024-01-01"}),
        ),
        ev(
            "OrgUnitEstablished",
            json!({"org_id": "GX", "name": "x", "kind": "grid_branch", "parent_id": "CB", "established_on": "2024-01-01"}),
        ),
    ];
    for event in refused {
        let (status, body) = api
            .post_events("recorder-ca", json!({"events": [event]}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    assert_eq!(api.event_count().await, before);

    let allowed = [
        class("C-4", "CA", &["MA1", "MA2"]),
        ev(
            "OrgUnitEstablished",
            json!({"org_id": "GA2", "name": "新网格", "kind": "grid_branch", "parent_id": "CA", "established_on": "2024-01-01"}),
        ),
        ev(
            "MemberEnrolled",
            json!({"member_id": "MN", "name": "新党员", "branch_id": "GA2", "membership": "probationary", "joined_on": "2024-01-01", "enrolled_on": "2024-01-02", "employment": "in_service", "frail": false, "hardship": false}),
        ),
    ];
    let (status, body) = api
        .post_events("recorder-ca", json!({"events": allowed}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Revoked and unknown tokens are refused at once; creating and revoking is recorded.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn tokens_can_be_created_listed_and_revoked(pool: PgPool) {
    let api = Api::seeded(pool).await;
    let (status, created) = api
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some("admin"),
            Some(json!({"name": "ops-1", "role": "auditor", "org": "CA"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["token"].as_str().unwrap().to_owned();
    let use_it = |token: String| {
        let api = &api;
        async move {
            let request = axum::http::Request::get("/api/v1/events")
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            tower::ServiceExt::oneshot(api.app.clone(), request)
                .await
                .unwrap()
                .status()
        }
    };
    // A scoped auditor: authenticated, but not for the raw log.
    assert_eq!(use_it(secret.clone()).await, StatusCode::FORBIDDEN);
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some("admin"),
            Some(json!({"name": "ops-1", "role": "viewer"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "names are never reused");
    let (status, _) = api
        .call(Method::DELETE, "/api/v1/tokens/ops-1", Some("admin"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(use_it(secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        use_it("pe_not-a-token".to_owned()).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = api
        .call(Method::DELETE, "/api/v1/tokens/ops-1", Some("admin"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, listed) = api.get("admin", "/api/v1/tokens").await;
    let ops = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ops-1")
        .unwrap();
    assert_eq!(ops["created_by"], "admin");
    assert_eq!(ops["revoked_by"], "admin");
    assert!(ops["revoked_at"].as_str().unwrap().ends_with("+08:00"));
    assert!(ops.get("token").is_none() && ops.get("token_hash").is_none());
}

/// A scope fails closed: one that is not an established org unit is refused when the token is
/// made, and a stored one that is not (a token made before this check) grants nothing — it must
/// never read as "no scope", the whole subdistrict.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn scopes_fail_closed(pool: PgPool) {
    use partyedu_server::auth::{Role, TokenError, create_token};
    let api = Api::seeded(pool.clone()).await;
    for (org, expected) in [
        ("", StatusCode::BAD_REQUEST),
        ("NOPE", StatusCode::CONFLICT),
    ] {
        let (status, body) = api
            .call(
                Method::POST,
                "/api/v1/tokens",
                Some("admin"),
                Some(json!({"name": "r-x", "role": "recorder", "org": org}).to_string()),
            )
            .await;
        assert_eq!(status, expected, "org `{org}`: {body}");
    }
    let made = create_token(&pool, "r-empty", Role::Recorder, Some(""), "test").await;
    assert!(matches!(made, Err(TokenError::BadScope(_))), "{made:?}");
    let made = create_token(&pool, "r-nope", Role::Recorder, Some("NOPE"), "test").await;
    assert!(matches!(made, Err(TokenError::UnknownScope(_))), "{made:?}");

    let before = api.event_count().await;
    for (name, scope) in [("legacy-empty", ""), ("legacy-bad", "no such org!")] {
        let secret = format!("pe_{name}");
        sqlx::query(
            "INSERT INTO api_tokens (name, role, org_scope, token_hash, created_by) \
             VALUES ($1, 'recorder', $2, sha256(convert_to($3, 'UTF8')), 'an older version')",
        )
        .bind(name)
        .bind(scope)
        .bind(&secret)
        .execute(&pool)
        .await
        .unwrap();
        let send = |method: &str, uri: &str, body: Option<serde_json::Value>| {
            let request = axum::http::Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", format!("Bearer {secret}"))
                .header("content-type", "application/json")
                .body(match &body {
                    Some(b) => axum::body::Body::from(b.to_string()),
                    None => axum::body::Body::empty(),
                })
                .unwrap();
            tower::ServiceExt::oneshot(api.app.clone(), request)
        };
        let recorded = send(
            "POST",
            "/api/v1/events",
            Some(json!({"events": [class("C-legacy", "CB", &["MB1"])]})),
        )
        .await
        .unwrap();
        assert_eq!(recorded.status(), StatusCode::FORBIDDEN, "{name} records");
        let read = send("GET", "/api/v1/coverage", None).await.unwrap();
        assert_eq!(read.status(), StatusCode::FORBIDDEN, "{name} reads");
    }
    assert_eq!(api.event_count().await, before, "nothing stored");
}
