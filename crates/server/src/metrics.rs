//! `GET /metrics` in the Prometheus text format (version 0.0.4), from values the process
//! already has: requests counted by route and status as they are answered, the live
//! projector's checkpoint as it folds (when this process leads), and what a background task
//! reads every 2 s (lag, head, the live rule set, a rebuild's progress — a rebuild runs
//! in another process). A scrape never queries the database, however often it comes.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use partyedu_projections::engine::{self, progress};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often the background task reads the projection's status.
const REFRESH: Duration = Duration::from_secs(2);

/// What the task last read.
#[derive(Clone, Debug)]
struct Snapshot {
    status: engine::Status,
    head: i64,
    rule_set: Option<(String, i64, String)>,
}

/// The process's metrics.
#[derive(Default)]
pub(crate) struct Metrics {
    /// Answered requests by (route, status).
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    snapshot: Mutex<Option<Snapshot>>,
}

impl Metrics {
    /// Metrics for `state`'s database, with the task that keeps the status fresh (it ends
    /// when the metrics are dropped).
    pub(crate) fn start(state: &AppState) -> Arc<Self> {
        let metrics = Arc::new(Self::default());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(refresh(Arc::downgrade(&metrics), state.clone()));
        }
        metrics
    }

    fn count(&self, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *requests.entry((route.to_owned(), status)).or_default() += 1;
    }
}

async fn refresh(metrics: Weak<Metrics>, state: AppState) {
    loop {
        let read = async {
            let status = engine::status(&state.store).await?;
            let head = state.store.head_position().await?;
            Ok::<_, sqlx::Error>((status, head))
        }
        .await;
        let rule_set = crate::rules::live(&state).await.ok().map(|r| {
            (
                r.id().to_owned(),
                i64::from(r.rules.version),
                r.hash.clone(),
            )
        });
        let Some(metrics) = metrics.upgrade() else {
            return;
        };
        match read {
            Ok((status, head)) => {
                *metrics.snapshot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Snapshot {
                    status,
                    head,
                    rule_set,
                });
            }
            Err(err) => tracing::debug!(error = %err, "metrics: projection status unreadable"),
        }
        drop(metrics);
        tokio::time::sleep(REFRESH).await;
    }
}

/// Middleware: counts every answered request by its route (the matched pattern, never the raw
/// path: ids in paths would explode the label set and could carry personal data).
pub(crate) async fn count_requests(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics.count(&route, response.status().as_u16());
    response
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `name{k="v",…} value` with escaped label values.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The body of `GET /metrics`.
pub(crate) fn render(metrics: &Metrics) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "partyedu_http_requests_total",
        "counter",
        "Requests answered, by route and status.",
    );
    for ((route, status), count) in metrics
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        sample(
            &mut out,
            "partyedu_http_requests_total",
            &[("route", route), ("status", &status.to_string())],
            count,
        );
    }
    let snapshot = metrics
        .snapshot
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let live = progress::live();
    let projection = [("projection", engine::FACTS)];
    if let Some(live) = live {
        family(
            &mut out,
            "partyedu_projector_leading",
            "gauge",
            "1 while this process runs the projector.",
        );
        sample(&mut out, "partyedu_projector_leading", &projection, 1);
        family(
            &mut out,
            "partyedu_projector_events_folded_total",
            "counter",
            "Events this process's projector has folded since it started.",
        );
        sample(
            &mut out,
            "partyedu_projector_events_folded_total",
            &projection,
            live.events_folded,
        );
    }
    let checkpoint = live
        .map(|l| l.checkpoint)
        .or(snapshot.as_ref().map(|s| s.status.checkpoint));
    if let Some(checkpoint) = checkpoint {
        family(
            &mut out,
            "partyedu_projection_checkpoint",
            "gauge",
            "Last log position folded into the read models.",
        );
        sample(
            &mut out,
            "partyedu_projection_checkpoint",
            &projection,
            checkpoint,
        );
    }
    if let Some(snapshot) = &snapshot {
        let status = &snapshot.status;
        // The leader knows when it has emptied the log below the frontier: no lag then, however
        // old the task's reading.
        let caught_up = live.is_some_and(|l| l.caught_up && l.checkpoint >= status.checkpoint);
        family(
            &mut out,
            "partyedu_projection_lag_events",
            "gauge",
            "Events in the log not yet folded in.",
        );
        sample(
            &mut out,
            "partyedu_projection_lag_events",
            &projection,
            if caught_up { 0 } else { status.lag_events },
        );
        family(
            &mut out,
            "partyedu_projection_lag_seconds",
            "gauge",
            "Age of the oldest event not yet folded in.",
        );
        sample(
            &mut out,
            "partyedu_projection_lag_seconds",
            &projection,
            if caught_up { 0.0 } else { status.lag_seconds },
        );
        family(
            &mut out,
            "partyedu_log_head_position",
            "gauge",
            "Highest committed log position.",
        );
        sample(&mut out, "partyedu_log_head_position", &[], snapshot.head);
        if let Some((id, version, hash)) = &snapshot.rule_set {
            family(
                &mut out,
                "partyedu_rule_set_info",
                "gauge",
                "The live rule set.",
            );
            sample(
                &mut out,
                "partyedu_rule_set_info",
                &[
                    ("id", id),
                    ("version", &version.to_string()),
                    ("hash", hash),
                ],
                1,
            );
        }
        if let Some(rebuild) = &status.rebuild {
            family(
                &mut out,
                "partyedu_projection_rebuild_progress",
                "gauge",
                "Share of the log a rebuild has folded.",
            );
            sample(
                &mut out,
                "partyedu_projection_rebuild_progress",
                &[
                    ("projection", engine::FACTS),
                    ("generation", &rebuild.generation.to_string()),
                ],
                rebuild.progress(),
            );
        }
    }
    out
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&state.metrics),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("one\ntwo"), "one\\ntwo");
        let metrics = Metrics::default();
        metrics.count("/api/v1/x\"y\\z\nw", 200);
        metrics.count("/api/v1/x\"y\\z\nw", 200);
        let text = render(&metrics);
        assert!(
            text.contains(
                "partyedu_http_requests_total{route=\"/api/v1/x\\\"y\\\\z\\nw\",status=\"200\"} 2\n"
            ),
            "{text}"
        );
        // One sample a line: the newline did not break the line.
        let line = text
            .lines()
            .find(|l| l.starts_with("partyedu_http_requests_total{"))
            .unwrap();
        assert!(line.ends_with(" 2"), "{line}");
    }
}
