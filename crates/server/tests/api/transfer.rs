//! Import and export: round trip, idempotent re-import, refused files.

use crate::fixture::{Api, class, ev, subdistrict};
use axum::http::StatusCode;
use partyedu_server::recorder::Recorder;
use partyedu_server::transfer::{ImportError, export, import};
use partyedu_store::EventStore;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;

const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

async fn export_lines(store: &EventStore) -> Vec<Value> {
    let mut out = Vec::new();
    export(store, 0, None, TZ, &mut out).await.unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What must survive a round trip: everything but what is assigned anew.
fn kept(record: &Value) -> Value {
    json!([
        record["event_id"],
        record["stream"],
        record["version"],
        record["type"],
        record["schema_version"],
        record["occurred_at"],
        record["actor"],
        record["data"]
    ])
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn export_import_export_gives_the_same_records(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    let (status, stored) = api
        .post_events(
            "recorder",
            json!({"events": [class("C-1", "CA", &["MA1", "MA2"])]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let amend = ev(
        "AttendanceAmended",
        json!({"class_id": "C-1", "added": ["MB1"], "removed": ["MA2"], "reason": "核对"}),
    );
    let void = ev(
        "RecordVoided",
        json!({"event_id": stored["events"][0]["event_id"], "reason": "重复"}),
    );
    let (status, body) = api
        .post_events("recorder", json!({"events": [amend, void]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first = export_lines(&EventStore::new(pool.clone())).await;
    assert_eq!(first.len(), subdistrict().len() + 3);
    let file: String = first.iter().map(|r| format!("{r}\n")).collect();

    // Into an empty database.
    let url = partyedu_testkit::sibling_database_url(&pool);
    let other = partyedu_store::prepare_database(&url.parse().unwrap())
        .await
        .unwrap();
    let store = EventStore::new(other.clone());
    let recorder = Recorder::new(store.clone(), TZ);
    let mut progress = Vec::new();
    let stored = import(&recorder, file.as_bytes(), "cli:test", |done, total| {
        progress.push((done, total))
    })
    .await
    .unwrap();
    assert_eq!(stored, first.len());
    assert_eq!(progress.last(), Some(&(first.len(), first.len())));
    let second = export_lines(&store).await;
    assert_eq!(
        second.iter().map(kept).collect::<Vec<_>>(),
        first.iter().map(kept).collect::<Vec<_>>()
    );
    let metadata = &second[0]["metadata"];
    assert_eq!(metadata["imported_by"], "cli:test");
    assert_eq!(metadata["original_position"], first[0]["position"]);
    assert_eq!(metadata["original_recorded_at"], first[0]["recorded_at"]);

    // Importing it again, or the second export, stores nothing new.
    assert_eq!(
        import(&recorder, file.as_bytes(), "cli:test", |_, _| {})
            .await
            .unwrap(),
        0
    );
    let again: String = second.iter().map(|r| format!("{r}\n")).collect();
    assert_eq!(
        import(&recorder, again.as_bytes(), "cli:test", |_, _| {})
            .await
            .unwrap(),
        0
    );
    assert_eq!(export_lines(&store).await.len(), first.len());
    other.close().await;
    sqlx::Postgres::force_drop_database(&url).await.unwrap();
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn a_file_with_a_refused_record_stores_nothing(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let recorder = Recorder::new(store.clone(), TZ);
    let mut lines: Vec<String> = subdistrict().iter().map(Value::to_string).collect();
    lines.insert(3, String::new());
    lines.push("{not json".to_owned());
    lines.push(json!({"type": "ClassHeld", "data": {"class_id": "C"}}).to_string());
    lines.push(class("C-9", "CA", &["NOBODY"]).to_string());
    let file = lines.join("\n");
    let Err(ImportError::Refused(problems)) =
        import(&recorder, file.as_bytes(), "cli:test", |_, _| {}).await
    else {
        panic!("the file must be refused");
    };
    // Lines are numbered in the file, blank lines included; parse errors come first.
    let numbered: Vec<usize> = problems.iter().map(|p| p.line).collect();
    assert_eq!(numbered, vec![12, 13], "{problems:?}");
    assert_eq!(problems[0].path, "(record)");
    assert_eq!(problems[1].path, "data.title");

    // Fix the parse errors: the state-based refusal names its line too.
    let file = lines[..11]
        .iter()
        .chain(&lines[13..])
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    let Err(ImportError::Refused(problems)) =
        import(&recorder, file.as_bytes(), "cli:test", |_, _| {}).await
    else {
        panic!("the file must be refused");
    };
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, 12);
    assert_eq!(problems[0].path, "data.attendee_ids[0]");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}
