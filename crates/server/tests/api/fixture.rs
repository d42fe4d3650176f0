//! A small subdistrict to test against, tokens of every role, and request helpers.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use partyedu_server::audit::AuditKey;
use partyedu_server::auth::{Role, create_token};
use partyedu_server::{AppState, Limits, Stats, app};
use partyedu_store::EventStore;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeMap;
use tower::ServiceExt;

pub struct Api {
    pub app: Router,
    pub pool: PgPool,
    tokens: BTreeMap<&'static str, String>,
    /// The operator key the API was made with ([`Api::new`]).
    pub audit: Option<AuditKey>,
}

/// Token names and what they may do: (name, role, scope).
pub const TOKENS: &[(&str, Role, Option<&str>)] = &[
    ("admin", Role::Admin, None),
    ("recorder", Role::Recorder, None),
    ("recorder-ca", Role::Recorder, Some("CA")),
    ("viewer", Role::Viewer, None),
    ("viewer-ca", Role::Viewer, Some("CA")),
    ("auditor", Role::Auditor, None),
    ("auditor-ca", Role::Auditor, Some("CA")),
];

pub fn ev(event_type: &str, data: Value) -> Value {
    json!({"type": event_type, "data": data})
}

/// The subdistrict SD with communities CA and CB, grid branches GA (under CA) and GB (under
/// CB), members MA1, MA2 (GA) and MB1 (GB) enrolled 2020-01-01, the party school V1, and an
/// open wish W1 in GA.
pub fn subdistrict() -> Vec<Value> {
    let org = |id: &str, kind: &str, parent: Option<&str>| {
        ev(
            "OrgUnitEstablished",
            json!({"org_id": id, "name": format!("{id} 名称"), "kind": kind,
                   "parent_id": parent, "established_on": "2019-01-01"}),
        )
    };
    let member = |id: &str, branch: &str| {
        ev(
            "MemberEnrolled",
            json!({"member_id": id, "name": format!("党员{id}"), "branch_id": branch,
                   "membership": "full", "joined_on": "2000-07-01", "enrolled_on": "2020-01-01",
                   "employment": "in_service", "frail": false, "hardship": false}),
        )
    };
    vec![
        org("SD", "subdistrict", None),
        org("CA", "community", Some("SD")),
        org("CB", "community", Some("SD")),
        org("GA", "grid_branch", Some("CA")),
        org("GB", "grid_branch", Some("CB")),
        member("MA1", "GA"),
        member("MA2", "GA"),
        member("MB1", "GB"),
        ev(
            "VenueOpened",
            json!({"venue_id": "V1", "name": "街道党校", "kind": "party_school",
                   "org_id": "SD", "opened_on": "2019-01-01"}),
        ),
        ev(
            "MicroWishPosted",
            json!({"wish_id": "W1", "grid_id": "GA", "title": "楼道杂物清理",
                   "category": "volunteer_service", "posted_on": "2024-05-02"}),
        ),
    ]
}

/// A class in GA's community on 2024-03-05 with the given attendees.
pub fn class(id: &str, organizer: &str, attendees: &[&str]) -> Value {
    ev(
        "ClassHeld",
        json!({"class_id": id, "title": "专题培训", "form": "concentrated",
               "organizer_org_id": organizer, "venue_id": "V1",
               "starts_at": "2024-03-05T09:00:00+08:00", "duration_minutes": 120,
               "study_hours": 2.5, "lecturer_ids": [], "attendee_ids": attendees}),
    )
}

/// The operator key of the test API (a new one each time), origin `partyedu/test`.
pub fn audit_key() -> AuditKey {
    AuditKey::new(
        partyedu_audit::Signer::generate("partyedu/test").unwrap(),
        "partyedu/test",
    )
}

impl Api {
    /// The API on a migrated database, with a token of every kind in [`TOKENS`].
    pub async fn new(pool: PgPool) -> Api {
        let key = audit_key();
        let mut api = Self::with_state(
            pool.clone(),
            AppState::new(
                EventStore::new(pool),
                chrono_tz::Asia::Shanghai,
                Limits::default(),
                Stats::shipped(),
            )
            .with_audit(key.clone()),
        )
        .await;
        api.audit = Some(key);
        api
    }

    /// The API with the unscoped tokens of [`TOKENS`]: a scope must name an established org
    /// unit, so the scoped ones come with [`Api::seeded`].
    pub async fn with_state(pool: PgPool, state: AppState) -> Api {
        let mut api = Api {
            app: app(state),
            pool,
            tokens: BTreeMap::new(),
            audit: None,
        };
        api.create_tokens(|scope| scope.is_none()).await;
        api
    }

    async fn create_tokens(&mut self, which: impl Fn(Option<&str>) -> bool) {
        for (name, role, scope) in TOKENS.iter().filter(|(_, _, scope)| which(*scope)) {
            let token = create_token(&self.pool, name, *role, *scope, "test")
                .await
                .unwrap();
            self.tokens.insert(*name, token);
        }
    }

    /// The API with [`subdistrict`] recorded, and every token of [`TOKENS`].
    pub async fn seeded(pool: PgPool) -> Api {
        let mut api = Self::new(pool).await;
        let (status, body) = api
            .post_events("admin", json!({"events": subdistrict()}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        api.create_tokens(|scope| scope.is_some()).await;
        api
    }

    pub fn token(&self, name: &str) -> &str {
        self.tokens
            .get(name)
            .unwrap_or_else(|| panic!("no token `{name}`: scoped tokens need Api::seeded"))
    }

    /// Sends a request; `token` names one of [`TOKENS`], or is absent.
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(name) = token {
            request = request.header("authorization", format!("Bearer {}", self.token(name)));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(body.map(Body::from).unwrap_or_default())
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    pub async fn post_events(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/api/v1/events",
            Some(token),
            Some(body.to_string()),
        )
        .await
    }

    /// A `GET` answered `200` with a text body (e.g. `Accept: text/plain`), as it is.
    pub async fn text(&self, token: &str, uri: &str, accept: &str) -> String {
        let request = Request::get(uri)
            .header("authorization", format!("Bearer {}", self.token(token)))
            .header("accept", accept)
            .body(Body::empty())
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    pub async fn get(&self, token: &str, uri: &str) -> (StatusCode, Value) {
        self.call(Method::GET, uri, Some(token), None).await
    }

    /// Extends the audit tree to the log's frontier and signs a checkpoint with the API's key.
    /// The safe frontier is cluster-wide (other tests' open transactions hold it back for a
    /// moment), so this waits until the tree holds every event stored.
    pub async fn checkpoint(&self) -> partyedu_audit::Checkpoint {
        let store = EventStore::new(self.pool.clone());
        let events = self.event_count().await as u64;
        let mut tries = 0;
        while partyedu_audit::extend_tree(&store).await.unwrap() < events {
            tries += 1;
            assert!(
                tries < 6_000,
                "the audit tree never reached {events} leaves"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        partyedu_server::audit::checkpoint_now(&store, self.audit.as_ref().expect("Api::new"))
            .await
            .unwrap()
    }

    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// The error detail paths of an error body.
pub fn paths(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|details| {
            details
                .iter()
                .map(|d| d["path"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
