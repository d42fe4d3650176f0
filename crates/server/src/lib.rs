//! The HTTP API of partyedu: routes, handlers and the server loop.

pub mod audit;
pub mod auth;
mod error;
mod evidence;
mod extract;
mod health;
mod log;
mod metrics;
mod openapi;
mod pages;
mod reads;
mod record;
pub mod recorder;
mod recording;
mod rules;
mod serving;
pub mod sheets;
mod stats;
mod tokens;
pub mod transfer;

pub use error::{ApiError, Detail};
pub use reads::{READ_APPLICATION, Timeouts};
pub use record::{Record, local_timestamp, ndjson_line};

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::Request;
use partyedu_projections::RuleBook;
use partyedu_store::EventStore;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: EventStore,
    pub recorder: recorder::Recorder,
    pub limits: Limits,
    pub stats: Stats,
    /// The deployment's time zone: calendar periods and returned timestamps are taken in it.
    pub tz: chrono_tz::Tz,
    /// Time limits (`AppState::with_timeouts`).
    pub timeouts: Timeouts,
    /// The read pool: the statistics' and the log's reads, bounded by `timeouts.statement`.
    pub(crate) reads: sqlx::PgPool,
    /// The store over the read pool, for the log endpoints.
    pub(crate) log: EventStore,
    /// What `/metrics` serves.
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// The operator's audit key (`AppState::with_audit`); without it the audit endpoints that
    /// need it answer `503`.
    pub audit: Option<Arc<audit::AuditKey>>,
}

/// The rule sets the statistics can be computed under, and the default live one (until an
/// admin switches it for every instance, see `rules.rs`).
#[derive(Clone, Debug)]
pub struct Stats {
    pub book: Arc<RuleBook>,
    pub live: String,
}

impl Stats {
    /// `live` must name a rule set of `book`.
    pub fn new(book: RuleBook, live: &str) -> Result<Self, String> {
        if book.get(live).is_none() {
            return Err(format!(
                "no rule set `{live}`; known: {}",
                book.ids().collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(Self {
            book: Arc::new(book),
            live: live.to_owned(),
        })
    }

    /// The shipped rule sets, `cn-2019-hours` live.
    pub fn shipped() -> Self {
        Self::new(RuleBook::shipped(), "cn-2019-hours").expect("the default rule set is shipped")
    }
}

/// Request limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Larger request bodies get `413`.
    pub max_body_bytes: usize,
    /// Larger batches get `413`.
    pub max_batch_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            max_batch_events: 5_000,
        }
    }
}

impl AppState {
    pub fn new(store: EventStore, tz: chrono_tz::Tz, limits: Limits, stats: Stats) -> Self {
        let timeouts = Timeouts::default();
        let reads = reads::read_pool(store.pool(), &timeouts);
        let mut state = Self {
            recorder: recorder::Recorder::new(store.clone(), tz),
            log: EventStore::new(reads.clone()),
            reads,
            timeouts,
            store,
            tz,
            limits,
            stats,
            audit: None,
            metrics: Arc::default(),
        };
        state.metrics = metrics::Metrics::start(&state);
        state
    }
}

impl AppState {
    /// The same state under other time limits (the read pool is made anew).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.reads = reads::read_pool(self.store.pool(), &timeouts);
        self.log = EventStore::new(self.reads.clone());
        self.timeouts = timeouts;
        self
    }
}

/// The OpenAPI 3.1 document `GET /api/v1/openapi.json` serves (for generated documentation).
pub fn openapi_document() -> serde_json::Value {
    openapi::document()
}

/// The whole API as a router, without a socket (handler tests drive it with `oneshot`).
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(log::routes())
        .merge(recording::routes())
        .merge(tokens::routes())
        .merge(openapi::routes())
        .merge(stats::routes())
        .merge(rules::routes())
        .merge(pages::routes())
        .merge(audit::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.timeouts.request,
            serving::time_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::count_requests,
        ))
        .with_state(state)
        .layer(axum::middleware::from_fn(error::error_shape))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                // Spans carry the matched route, not the raw path (ids in paths would explode
                // cardinality and could carry personal data).
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str)
                    .unwrap_or("unmatched");
                tracing::info_span!("http", method = %req.method(), route)
            }),
        )
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
/// A client that does not send a request's headers within `timeouts.header_read` (also while
/// a kept-alive connection idles) is disconnected; a request answers within
/// `timeouts.request`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serving::serve(listener, state.timeouts, app(state), shutdown).await
}
