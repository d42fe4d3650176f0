//! The audit interface (CONTRACT §6): the operator's public key, signed checkpoints, inclusion
//! and consistency proofs, the server checking its own log, and a record's trail — who recorded
//! it, what it corrected and what corrected it, and its inclusion proof.
//!
//! Everything here is read by auditors and admins with a whole-subdistrict token only: proofs
//! and trails carry whole records, with every member's personal data.
//!
//! The tree itself and its verifiers are `partyedu-audit`; this module serves them, keeps the
//! tree extended ([`run_tree`]) and finds the operator's key ([`load_signer`]). Private keys
//! never go into the database, which is what the auditors need not trust.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::extract::Params;
use crate::record::{Record, local_timestamp};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use partyedu_audit::{
    AuditError, Checkpoint, DatabaseReport, ExportReport, PROOF_FORMAT, Signer, Verifier,
};
use partyedu_store::{EventStore, RecordedEvent};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use std::future::Future;
use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit/key", get(key))
        .route("/api/v1/audit/checkpoints", get(list_checkpoints))
        .route("/api/v1/audit/proof/inclusion", get(inclusion))
        .route("/api/v1/audit/proof/consistency", get(consistency))
        .route("/api/v1/audit/verify", get(verify))
        .route("/api/v1/audit/records/{event_id}", get(record_trail))
}

// ---------------------------------------------------------------------------------------------
// The operator's key
// ---------------------------------------------------------------------------------------------

/// The operator's signing key and the origin line of its checkpoints (`partyedu/<name>`).
#[derive(Clone, Debug)]
pub struct AuditKey {
    pub signer: Signer,
    pub origin: String,
}

impl AuditKey {
    pub fn new(signer: Signer, origin: impl Into<String>) -> Self {
        Self {
            signer,
            origin: origin.into(),
        }
    }
}

impl AppState {
    /// The state with the operator's key: checkpoints can be signed and the public key served.
    /// Without one, the endpoints that need it answer `503` (the tree is extended all the same).
    pub fn with_audit(mut self, key: AuditKey) -> Self {
        self.audit = Some(Arc::new(key));
        self
    }
}

/// The environment variable that may hold the private key text.
pub const KEY_ENV: &str = "PARTYEDU_AUDIT_KEY";
/// The file in the data directory where a generated key is kept.
pub const KEY_FILE_NAME: &str = "audit-key";

/// Where the operator's key came from (for the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPlace {
    /// `--audit-key-file`.
    File(PathBuf),
    /// The environment variable [`KEY_ENV`].
    Environment,
    /// The data directory's key file, there before.
    DataDir(PathBuf),
    /// The data directory's key file, generated now.
    Generated(PathBuf),
}

impl std::fmt::Display for KeyPlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "the key file {}", path.display()),
            Self::Environment => write!(f, "the environment variable {KEY_ENV}"),
            Self::DataDir(path) => write!(f, "the data directory's key file {}", path.display()),
            Self::Generated(path) => {
                write!(f, "a new key generated into {} (mode 0600)", path.display())
            }
        }
    }
}

/// Why the operator's key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the audit key from {place}: {cause}")]
    Bad {
        place: KeyPlace,
        cause: partyedu_audit::NoteError,
    },
    #[error("writing the audit key to {path}: {cause}")]
    Write { path: String, cause: std::io::Error },
}

/// The operator's key: from `file` when given, else the private key `text` (the value of
/// [`KEY_ENV`]), else the file [`KEY_FILE_NAME`] in `data_dir` — which, when `generate` is set
/// and it does not exist, is made now (a new key named after `origin`, mode 0600). `None`
/// when nothing was found and nothing was to be generated.
pub fn load_signer(
    file: Option<&FsPath>,
    text: Option<&str>,
    data_dir: &FsPath,
    origin: &str,
    generate: bool,
) -> Result<Option<(Signer, KeyPlace)>, KeyError> {
    let bad = |place: KeyPlace| move |cause| KeyError::Bad { place, cause };
    if let Some(file) = file {
        let place = KeyPlace::File(file.to_owned());
        let signer = Signer::from_file(file).map_err(bad(place.clone()))?;
        return Ok(Some((signer, place)));
    }
    if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
        let signer = Signer::from_text(text).map_err(bad(KeyPlace::Environment))?;
        return Ok(Some((signer, KeyPlace::Environment)));
    }
    let path = data_dir.join(KEY_FILE_NAME);
    if path.exists() {
        let place = KeyPlace::DataDir(path.clone());
        let signer = Signer::from_file(&path).map_err(bad(place.clone()))?;
        return Ok(Some((signer, place)));
    }
    if !generate {
        return Ok(None);
    }
    let place = KeyPlace::Generated(path.clone());
    let signer = Signer::generate(origin).map_err(bad(place.clone()))?;
    match write_private_key(&path, &signer.to_private_text()) {
        Ok(()) => Ok(Some((signer, place))),
        // Another process generated one at the same moment: use that one.
        Err(KeyError::Write { cause, .. }) if cause.kind() == std::io::ErrorKind::AlreadyExists => {
            let place = KeyPlace::DataDir(path.clone());
            let signer = Signer::from_file(&path).map_err(bad(place.clone()))?;
            Ok(Some((signer, place)))
        }
        Err(err) => Err(err),
    }
}

/// Writes a private key text to a new file readable by its owner only (mode 0600), never over
/// an existing one. The file appears whole or not at all (written aside, then linked), so a
/// process reading it at the same moment never sees half a key.
pub fn write_private_key(path: &FsPath, text: &str) -> Result<(), KeyError> {
    let failed = |cause| KeyError::Write {
        path: path.display().to_string(),
        cause,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    let aside = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("key"),
        std::process::id()
    ));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&aside)?;
        file.write_all(text.trim().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::hard_link(&aside, path)
    })();
    let _ = std::fs::remove_file(&aside);
    written.map_err(failed)
}

// ---------------------------------------------------------------------------------------------
// Keeping the tree extended
// ---------------------------------------------------------------------------------------------

/// Keeps the audit tree at the log's safe frontier every `interval` until `shutdown`, and, with
/// a key, signs a checkpoint whenever it has grown. Without a key the tree still grows, so
/// proofs against sizes (and checkpoints signed elsewhere) keep working.
pub async fn run_tree(
    store: EventStore,
    key: Option<AuditKey>,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    if let Some(key) = key {
        return partyedu_audit::run_tree_extender(
            store, key.signer, key.origin, interval, shutdown,
        )
        .await;
    }
    tokio::pin!(shutdown);
    loop {
        if let Err(err) = partyedu_audit::extend_tree(&store).await {
            tracing::warn!(error = %err, "extending the audit tree");
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Extends the tree to the safe frontier and signs its head now (`partyedu checkpoint`).
pub async fn checkpoint_now(store: &EventStore, key: &AuditKey) -> Result<Checkpoint, AuditError> {
    partyedu_audit::extend_tree(store).await?;
    partyedu_audit::sign_checkpoint(store, &key.signer, &key.origin).await
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

impl From<AuditError> for ApiError {
    fn from(err: AuditError) -> Self {
        match err {
            AuditError::NotInTree(_) | AuditError::NoCheckpoint(_) | AuditError::NoCheckpoints => {
                ApiError::not_found(err.to_string())
            }
            AuditError::BeyondTree { .. } | AuditError::Proof(_) => {
                ApiError::invalid(err.to_string(), Vec::new())
            }
            AuditError::Database(err) => ApiError::from(err),
            other => ApiError::internal(&other),
        }
    }
}

fn auditor(caller: &Caller) -> Result<(), ApiError> {
    caller.require(&[Role::Auditor])?;
    caller.require_unscoped()
}

fn configured(state: &AppState) -> Result<&AuditKey, ApiError> {
    state.audit.as_deref().ok_or_else(no_audit_key)
}

/// 503: nothing can be signed or published without the operator's key.
pub(crate) fn no_audit_key() -> ApiError {
    ApiError::unavailable(
        "no_audit_key",
        "this server has no audit key configured (`partyedu serve --audit-key-file`, or \
         PARTYEDU_AUDIT_KEY), so it signs no checkpoints and has no key to publish",
        Vec::new(),
    )
}

fn wants_text(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/plain"))
}

fn text_response(text: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Key and checkpoints
// ---------------------------------------------------------------------------------------------

/// `GET /api/v1/audit/key`: the verifier key text and a newline, `text/plain`.
async fn key(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    auditor(&caller)?;
    let key = configured(&state)?;
    Ok(text_response(format!(
        "{}\n",
        key.signer.verifier().to_text()
    )))
}

const DEFAULT_CHECKPOINTS: i64 = 100;
const MAX_CHECKPOINTS: i64 = 1_000;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointsQuery {
    /// Only checkpoints of more leaves than this (default 0: from the first).
    after: Option<u64>,
    /// At most this many, smallest first (default 100, at most 1000).
    #[schemars(range(min = 1, max = 1_000))]
    limit: Option<i64>,
    /// `true`: only the latest checkpoint (of the largest size).
    latest: Option<bool>,
}

/// One signed checkpoint.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CheckpointInfo {
    /// The tree size it signs.
    size: u64,
    /// The root hash of that tree, base64.
    root_hash: String,
    /// The signed note, byte for byte (C2SP checkpoint text): save it as it is for
    /// `partyedu verify --checkpoint`.
    note: String,
    /// When the database stored it (not part of what is signed).
    created_at: Option<String>,
}

/// `{"checkpoints": [...]}`, smallest first, with where to continue.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CheckpointList {
    checkpoints: Vec<CheckpointInfo>,
    /// The `after` of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_after: Option<u64>,
}

/// `GET /api/v1/audit/checkpoints?after=&limit=&latest=`: JSON, or with `Accept: text/plain`
/// the notes one after the other (as `partyedu verify --checkpoint` reads them).
async fn list_checkpoints(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Params(query): Params<CheckpointsQuery>,
) -> Result<Response, ApiError> {
    auditor(&caller)?;
    let limit = query.limit.unwrap_or(DEFAULT_CHECKPOINTS);
    if !(1..=MAX_CHECKPOINTS).contains(&limit) {
        return Err(ApiError::invalid_at(
            "limit",
            format!("must be between 1 and {MAX_CHECKPOINTS}"),
        ));
    }
    let (found, next_after) = if query.latest == Some(true) {
        let latest = partyedu_audit::latest_checkpoint(&state.store).await?;
        (latest.into_iter().collect(), None)
    } else {
        // No tree has more than i64::MAX leaves (sizes are stored as bigint): past that, none.
        let after = query.after.unwrap_or(0).min(i64::MAX as u64);
        let found = partyedu_audit::checkpoints(&state.store, after, limit).await?;
        let next = (found.len() as i64 == limit)
            .then(|| found.last().map(|c| c.head.size))
            .flatten();
        (found, next)
    };
    if wants_text(&headers) {
        return Ok(text_response(
            found.iter().map(|c| c.note.as_str()).collect(),
        ));
    }
    Ok(Json(CheckpointList {
        checkpoints: found
            .into_iter()
            .map(|c| CheckpointInfo {
                size: c.head.size,
                root_hash: c.head.root.to_base64(),
                created_at: c.created_at.map(|at| local_timestamp(at, state.tz)),
                note: c.note,
            })
            .collect(),
        next_after,
    })
    .into_response())
}

// ---------------------------------------------------------------------------------------------
// Proofs
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InclusionQuery {
    /// The event whose inclusion is proved.
    event_id: Uuid,
    /// The tree size to prove it in (default: the latest signed checkpoint's).
    size: Option<u64>,
}

/// An inclusion proof (RFC 9162 §2.1.3). With its `checkpoint` and `public_key` it is a
/// self-contained proof file: saved as it is, `partyedu verify --proof FILE` checks it.
#[derive(Serialize, JsonSchema)]
pub(crate) struct InclusionAnswer {
    /// `partyedu-inclusion-proof/1`.
    format: &'static str,
    event_id: Uuid,
    position: i64,
    /// The event's leaf (0-based) in position order.
    leaf_index: u64,
    tree_size: u64,
    /// SHA-256(0x00 ‖ leaf bytes), recomputed from the stored row, base64.
    leaf_hash: String,
    /// The inclusion path, leaf side first, base64.
    audit_path: Vec<String>,
    /// The root the path leads to, base64; compare it with the signed checkpoint's.
    root: String,
    /// The record as its leaf commits to it: timestamps in UTC, milliseconds.
    record: Value,
    /// The signed checkpoint of `tree_size` leaves, when one is stored.
    checkpoint: Option<String>,
    /// The verifier key text of this server, when it has a key.
    public_key: Option<String>,
}

async fn inclusion_answer(
    state: &AppState,
    event_id: Uuid,
    size: Option<u64>,
) -> Result<InclusionAnswer, AuditError> {
    let proof = partyedu_audit::inclusion_proof(&state.store, event_id, size).await?;
    let checkpoint = partyedu_audit::checkpoint_at(&state.store, proof.tree_size).await?;
    Ok(InclusionAnswer {
        format: PROOF_FORMAT,
        event_id: proof.event_id,
        position: proof.position,
        leaf_index: proof.leaf_index,
        tree_size: proof.tree_size,
        leaf_hash: proof.leaf_hash.to_base64(),
        audit_path: proof.audit_path.iter().map(|h| h.to_base64()).collect(),
        root: proof.root.to_base64(),
        record: proof.record,
        checkpoint: checkpoint.map(|c| c.note),
        public_key: state
            .audit
            .as_deref()
            .map(|k| k.signer.verifier().to_text()),
    })
}

/// `GET /api/v1/audit/proof/inclusion?event_id=&size=`.
async fn inclusion(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<InclusionQuery>,
) -> Result<Json<InclusionAnswer>, ApiError> {
    auditor(&caller)?;
    Ok(Json(
        inclusion_answer(&state, query.event_id, query.size).await?,
    ))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsistencyQuery {
    /// The older tree size (e.g. of a checkpoint saved earlier).
    from: u64,
    /// The newer tree size (default: the latest signed checkpoint's).
    to: Option<u64>,
}

/// A consistency proof (RFC 9162 §2.1.4): the tree of `to` leaves extends the tree of `from`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ConsistencyAnswer {
    from: u64,
    to: u64,
    /// The roots of the two trees as stored, base64; check them against signed checkpoints.
    from_root: String,
    to_root: String,
    /// The proof's hashes, base64.
    proof: Vec<String>,
    /// The signed checkpoints of the two sizes, when stored.
    from_checkpoint: Option<String>,
    to_checkpoint: Option<String>,
}

/// `GET /api/v1/audit/proof/consistency?from=&to=`.
async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<ConsistencyQuery>,
) -> Result<Json<ConsistencyAnswer>, ApiError> {
    auditor(&caller)?;
    let to = match query.to {
        Some(to) => to,
        None => {
            partyedu_audit::latest_checkpoint(&state.store)
                .await?
                .ok_or(AuditError::NoCheckpoints)?
                .head
                .size
        }
    };
    let proof = partyedu_audit::consistency_proof(&state.store, query.from, to).await?;
    let note = |c: Option<Checkpoint>| c.map(|c| c.note);
    Ok(Json(ConsistencyAnswer {
        from: proof.from,
        to: proof.to,
        from_root: proof.from_root.to_base64(),
        to_root: proof.to_root.to_base64(),
        proof: proof.proof.iter().map(|h| h.to_base64()).collect(),
        from_checkpoint: note(partyedu_audit::checkpoint_at(&state.store, proof.from).await?),
        to_checkpoint: note(partyedu_audit::checkpoint_at(&state.store, proof.to).await?),
    }))
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyQuery {
    /// Re-hash only the rows from this position on (the part before is still checked through
    /// the stored subtrees and the signed roots).
    from: Option<i64>,
    /// Re-hash only the rows up to this position.
    to: Option<i64>,
}

/// One place where the log breaks.
#[derive(Serialize, JsonSchema)]
pub(crate) struct BreakInfo {
    /// `changed`, `missing`, `inserted`, `reordered`, `truncated`, `unlocated` or `unreadable`.
    kind: String,
    position: Option<i64>,
    leaf_index: Option<u64>,
    event_id: Option<Uuid>,
    detail: String,
}

/// A stored checkpoint that does not hold.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CheckpointProblem {
    size: u64,
    problem: String,
}

/// What the server found re-hashing its own log.
#[derive(Serialize, JsonSchema)]
pub(crate) struct VerifyAnswer {
    /// No break and no failing checkpoint.
    ok: bool,
    /// The first problem in words (the first break's position and kind), when not `ok`.
    first_problem: Option<String>,
    /// The verifier key text the checkpoints' signatures were checked with.
    public_key: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    /// Leaves in the stored tree when the check started.
    tree_size: u64,
    rows_checked: u64,
    checkpoints_checked: u64,
    /// Checkpoints not checked: signed by another key.
    checkpoints_skipped: u64,
    /// Every break found, in position order (at most 100).
    breaks: Vec<BreakInfo>,
    checkpoint_failures: Vec<CheckpointProblem>,
    /// The check stopped at the limit of breaks.
    incomplete: bool,
}

/// The first thing wrong with a database check, in words; `None` when it holds.
pub fn first_problem(report: &DatabaseReport) -> Option<String> {
    if let Some(first) = report.first_break() {
        return Some(first.to_string());
    }
    report
        .checkpoint_failures
        .first()
        .map(|f| format!("the checkpoint of size {}: {}", f.size, f.problem))
}

/// `GET /api/v1/audit/verify?from=&to=`.
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<VerifyQuery>,
) -> Result<Json<VerifyAnswer>, ApiError> {
    auditor(&caller)?;
    let verifier = state.audit.as_deref().map(|k| k.signer.verifier());
    let report =
        partyedu_audit::verify_database(&state.store, verifier.as_ref(), query.from, query.to)
            .await?;
    Ok(Json(VerifyAnswer {
        ok: report.ok(),
        first_problem: first_problem(&report),
        public_key: verifier.as_ref().map(Verifier::to_text),
        from: report.from,
        to: report.to,
        tree_size: report.tree_size,
        rows_checked: report.rows_checked,
        checkpoints_checked: report.checkpoints_checked,
        checkpoints_skipped: report.checkpoints_skipped,
        breaks: report
            .breaks
            .iter()
            .map(|b| BreakInfo {
                kind: b.kind.to_string(),
                position: b.position,
                leaf_index: b.leaf_index,
                event_id: b.event_id,
                detail: b.detail.clone(),
            })
            .collect(),
        checkpoint_failures: report
            .checkpoint_failures
            .iter()
            .map(|f| CheckpointProblem {
                size: f.size,
                problem: f.problem.clone(),
            })
            .collect(),
        incomplete: report.incomplete,
    }))
}

/// The report of `partyedu verify` against the database, one line a finding.
pub fn database_report_text(report: &DatabaseReport, key: Option<&Verifier>) -> String {
    let mut out = format!(
        "{} row(s) re-hashed, tree of {} leaves, {} checkpoint(s) checked",
        report.rows_checked, report.tree_size, report.checkpoints_checked
    );
    match key {
        Some(key) => out.push_str(&format!(" with the key {}", key.to_text())),
        None => out.push_str(" (no key given: signatures not checked)"),
    }
    if report.checkpoints_skipped > 0 {
        out.push_str(&format!(
            ", {} signed by other keys skipped",
            report.checkpoints_skipped
        ));
    }
    out.push('\n');
    for b in &report.breaks {
        out.push_str(&format!("{b}\n"));
    }
    for f in &report.checkpoint_failures {
        out.push_str(&format!(
            "the checkpoint of size {}: {}\n",
            f.size, f.problem
        ));
    }
    if report.incomplete {
        out.push_str("(stopped at the limit of breaks listed)\n");
    }
    out
}

/// The report of `partyedu verify --file`.
pub fn export_report_text(report: &ExportReport) -> String {
    let sizes: Vec<String> = report.checkpoint_sizes.iter().map(u64::to_string).collect();
    let mut out = format!(
        "{} record(s) re-hashed against the checkpoint(s) of {} of size {}\n",
        report.records_checked,
        report.origin,
        sizes.join(", ")
    );
    if let Some(b) = &report.first_break {
        out.push_str(&format!("{b}\n"));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The record trail
// ---------------------------------------------------------------------------------------------

/// The token a record was made with, from `api_tokens` (names are never reused).
#[derive(Serialize, JsonSchema)]
pub(crate) struct TokenRef {
    name: String,
    role: Role,
    /// The org subtree it was limited to; `null` for the whole subdistrict.
    org_scope: Option<String>,
}

/// Another record, briefly.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RecordRef {
    event_id: Uuid,
    position: i64,
    stream: String,
    #[serde(rename = "type")]
    event_type: String,
    recorded_at: String,
    actor: String,
}

/// How two records are linked by a correction.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Correction {
    /// `void` (a `RecordVoided`), `attendance_amendment` (an `AttendanceAmended` of the class)
    /// or `details_correction` (a `MemberDetailsCorrected` of the member).
    kind: &'static str,
    /// The other record: what was corrected, or what corrected it.
    record: RecordRef,
    /// The correction's reason, when it gives one.
    reason: Option<String>,
}

/// `GET /api/v1/audit/records/{event_id}`: a record and its trail.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RecordTrail<'a> {
    /// The record as `GET /api/v1/events` shows it.
    record: Record<'a>,
    /// Who recorded it: the token name (`cli:USER` on the command line, `demo` for demo data).
    actor: &'a str,
    /// The token it was recorded with, when `actor` names one.
    token: Option<TokenRef>,
    /// When it was stored.
    recorded_at: String,
    correlation_id: Option<String>,
    idempotency_key: Option<String>,
    /// What this record corrects: a void's target, an amendment's class, a details
    /// correction's member (its enrolment).
    corrects: Option<Correction>,
    /// What later corrected this record: voids of it, amendments of its class, corrections
    /// of its member's details, in log order.
    corrected_by: Vec<Correction>,
    /// Its inclusion proof against the latest signed checkpoint (a proof file, as
    /// `…/proof/inclusion` gives it); `null` while the record is under none.
    inclusion_proof: Option<InclusionAnswer>,
}

fn record_ref(event: &RecordedEvent, state: &AppState) -> RecordRef {
    RecordRef {
        event_id: event.event_id,
        position: event.position,
        stream: event.stream.clone(),
        event_type: event.event_type.clone(),
        recorded_at: local_timestamp(event.recorded_at, state.tz),
        actor: event.actor.clone(),
    }
}

fn data_of(event: &RecordedEvent) -> Value {
    serde_json::from_str(event.data.get()).unwrap_or(Value::Null)
}

fn text_field(value: &Value, name: &str) -> Option<String> {
    value.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// What `event` corrects, looked up in the log.
async fn corrects(
    state: &AppState,
    event: &RecordedEvent,
    data: &Value,
) -> Result<Option<Correction>, ApiError> {
    let reason = text_field(data, "reason");
    let (kind, target) = match event.event_type.as_str() {
        "RecordVoided" => {
            let Some(target) = text_field(data, "event_id").and_then(|t| t.parse().ok()) else {
                return Ok(None);
            };
            ("void", state.store.events_by_id(&[target]).await?.pop())
        }
        // A class's amendment and a member's correction live in the stream they correct; the
        // stream's first event is the class held or the member enrolled.
        "AttendanceAmended" | "MemberDetailsCorrected" => {
            let kind = if event.event_type == "AttendanceAmended" {
                "attendance_amendment"
            } else {
                "details_correction"
            };
            let first = state.store.read_stream(&event.stream, 0, 1).await?.pop();
            (kind, first)
        }
        _ => return Ok(None),
    };
    Ok(target.map(|target| Correction {
        kind,
        record: record_ref(&target, state),
        reason,
    }))
}

/// What later corrected `event`: found in its stream, where corrections are appended.
fn corrected_by(
    state: &AppState,
    event: &RecordedEvent,
    stream: &[RecordedEvent],
) -> Vec<Correction> {
    let id = event.event_id.to_string();
    stream
        .iter()
        .filter(|later| later.position > event.position)
        .filter_map(|later| {
            let data = data_of(later);
            let kind = match later.event_type.as_str() {
                "RecordVoided" if text_field(&data, "event_id").as_deref() == Some(id.as_str()) => {
                    "void"
                }
                "AttendanceAmended" if event.event_type == "ClassHeld" => "attendance_amendment",
                "MemberDetailsCorrected" if event.event_type == "MemberEnrolled" => {
                    "details_correction"
                }
                _ => return None,
            };
            Some(Correction {
                kind,
                record: record_ref(later, state),
                reason: text_field(&data, "reason"),
            })
        })
        .collect()
}

async fn record_trail(
    State(state): State<AppState>,
    caller: Caller,
    Path(event_id): Path<String>,
) -> Result<Response, ApiError> {
    auditor(&caller)?;
    let event_id: Uuid = event_id
        .parse()
        .map_err(|_| ApiError::invalid_at("event_id", "not a UUID"))?;
    let event = state
        .store
        .events_by_id(&[event_id])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("no event {event_id}")))?;
    let token = sqlx::query("SELECT name, role, org_scope FROM api_tokens WHERE name = $1")
        .bind(&event.actor)
        .fetch_optional(state.store.pool())
        .await?
        .map(|row| -> Result<TokenRef, ApiError> {
            let role: String = row.try_get("role")?;
            Ok(TokenRef {
                name: row.try_get("name")?,
                role: role.parse().map_err(|e: String| ApiError::internal(&e))?,
                org_scope: row.try_get("org_scope")?,
            })
        })
        .transpose()?;
    let metadata: Value = serde_json::from_str(event.metadata.get()).unwrap_or(Value::Null);
    let data = data_of(&event);
    let corrects = corrects(&state, &event, &data).await?;
    let stream = state.store.read_stream(&event.stream, 0, i64::MAX).await?;
    let corrected_by = corrected_by(&state, &event, &stream);
    let inclusion_proof = match partyedu_audit::latest_checkpoint(&state.store).await? {
        Some(latest) => match inclusion_answer(&state, event_id, Some(latest.head.size)).await {
            Ok(proof) => Some(proof),
            Err(AuditError::NotInTree(_)) => None,
            Err(err) => return Err(err.into()),
        },
        None => None,
    };
    Ok(Json(RecordTrail {
        record: Record::new(&event, state.tz),
        actor: &event.actor,
        token,
        recorded_at: local_timestamp(event.recorded_at, state.tz),
        correlation_id: text_field(&metadata, "correlation_id"),
        idempotency_key: text_field(&metadata, "idempotency_key"),
        corrects,
        corrected_by,
        inclusion_proof,
    })
    .into_response())
}
