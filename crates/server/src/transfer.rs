//! Bulk import and export of the log as NDJSON, one record a line (CONTRACT §1).
//!
//! An import is a new recording of old facts: every record is validated exactly as the API
//! would validate it; `event_id`, `actor` and `occurred_at` are kept; positions, versions and
//! `recorded_at` are assigned anew and the originals noted in `metadata`. A file with any
//! refused record stores nothing; importing a file whose events are already stored stores
//! nothing new.

use crate::record::ndjson_line;
use crate::recorder::{RecordError, Recorder, Submission, Submitted};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use partyedu_domain::RejectionKind;
use partyedu_store::EventStore;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::io::{BufRead, Write};
use uuid::Uuid;

/// One line of an import file: a record as exported. Only `type` and `data` are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportLine {
    #[serde(rename = "type")]
    event_type: String,
    data: Value,
    event_id: Option<Uuid>,
    actor: Option<String>,
    occurred_at: Option<DateTime<chrono::FixedOffset>>,
    schema_version: Option<u32>,
    #[serde(default)]
    metadata: Map<String, Value>,
    /// Where the record stood in the log it was exported from; kept in metadata.
    position: Option<i64>,
    recorded_at: Option<DateTime<chrono::FixedOffset>>,
    /// Assigned anew; accepted so that an exported file imports as it is.
    #[serde(rename = "stream")]
    _stream: Option<String>,
    #[serde(rename = "version")]
    _version: Option<i64>,
}

/// A refused line: its 1-based number in the file, where in it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    pub line: usize,
    pub path: String,
    pub problem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file has {} refused record(s); nothing was stored", .0.len())]
    Refused(Vec<LineProblem>),
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Record(RecordError),
}

/// Events per transaction of an import.
const IMPORT_CHUNK: usize = 10_000;

/// Imports an NDJSON file. `importer` is noted as `metadata.imported_by`; `progress` hears
/// (stored, total) while appending. Returns how many events were stored (0 for a file already
/// imported).
pub async fn import(
    recorder: &Recorder,
    input: impl BufRead,
    importer: &str,
    progress: impl FnMut(usize, usize),
) -> Result<usize, ImportError> {
    let mut events = Vec::new();
    // Which file line each submitted event came from (blank lines are skipped).
    let mut line_of = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(recorder, &line, importer) {
            Ok(submitted) => {
                events.push(submitted);
                line_of.push(index + 1);
            }
            Err((path, problem)) => problems.push(LineProblem {
                line: index + 1,
                path,
                problem,
            }),
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::Refused(problems));
    }
    let submission = Submission {
        events,
        scope: None,
        idempotency_key: None,
    };
    match recorder
        .record_in_chunks(submission, IMPORT_CHUNK, progress)
        .await
    {
        Ok(stored) => Ok(stored),
        Err(RecordError::Rejected(rejections)) => Err(ImportError::Refused(
            rejections
                .into_iter()
                .map(|r| located(&line_of, &r.path, r.problem, r.kind))
                .collect(),
        )),
        Err(err) => Err(ImportError::Record(err)),
    }
}

/// A rejection path `events[i].data…` becomes line `line_of[i]`, path `data…`.
fn located(line_of: &[usize], path: &str, problem: String, kind: RejectionKind) -> LineProblem {
    let parsed = path
        .strip_prefix("events[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(index, rest)| Some((index.parse::<usize>().ok()?, rest)));
    let (line, path) = match parsed {
        Some((index, rest)) => (
            line_of.get(index).copied().unwrap_or(0),
            rest.trim_start_matches('.').to_owned(),
        ),
        None => (0, path.to_owned()),
    };
    let problem = match kind {
        RejectionKind::Invalid => problem,
        RejectionKind::Conflict => format!("{problem} (conflicts with the recorded state)"),
    };
    LineProblem {
        line,
        path,
        problem,
    }
}

fn parse_line(
    recorder: &Recorder,
    line: &str,
    importer: &str,
) -> Result<Submitted, (String, String)> {
    let mut deserializer = serde_json::Deserializer::from_str(line);
    let record: ImportLine =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let path = err.path().to_string();
            // A line that is not JSON at all has no path inside it.
            let path = if path == "." || path == "?" {
                "(record)".to_owned()
            } else {
                path
            };
            (path, err.inner().to_string())
        })?;
    let current =
        partyedu_domain::Event::schema_version_of(&record.event_type).ok_or_else(|| {
            (
                "type".to_owned(),
                format!("unknown event type `{}`", record.event_type),
            )
        })?;
    let version = record.schema_version.unwrap_or(current);
    let event = recorder
        .upcaster()
        .read(&record.event_type, version, record.data)
        .map_err(|err| match err {
            partyedu_domain::UpcastError::Parse(parse) => (parse.path, parse.problem),
            other => ("schema_version".to_owned(), other.to_string()),
        })?;
    let mut metadata = record.metadata;
    metadata.insert("imported_by".to_owned(), Value::String(importer.to_owned()));
    if let Some(position) = record.position {
        metadata.insert("original_position".to_owned(), Value::from(position));
    }
    if let Some(recorded_at) = record.recorded_at {
        metadata.insert(
            "original_recorded_at".to_owned(),
            Value::String(crate::record::timestamp_text(&recorded_at)),
        );
    }
    Ok(Submitted {
        event,
        event_id: record.event_id,
        actor: record.actor.unwrap_or_else(|| importer.to_owned()),
        occurred_at: record.occurred_at.map(|at| at.with_timezone(&Utc)),
        metadata,
    })
}

/// Writes the log after position `after` (only the given types, when given) as NDJSON: every
/// event committed when the export starts, waiting where the safe frontier still lags behind
/// them (an older transaction elsewhere is open). Returns how many records were written.
pub async fn export(
    store: &EventStore,
    after: i64,
    types: Option<&[String]>,
    tz: Tz,
    out: &mut impl Write,
) -> Result<u64, ExportError> {
    let head = store.head_position().await?;
    let mut cursor = after;
    let mut written = 0;
    while cursor < head {
        let page = store.read_all(cursor, 5_000, types).await?;
        for event in &page.events {
            out.write_all(ndjson_line(event, tz).as_bytes())?;
            written += 1;
        }
        if page.next_after == cursor {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        cursor = page.next_after;
    }
    out.flush()?;
    Ok(written)
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}
