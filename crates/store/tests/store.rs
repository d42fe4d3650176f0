//! The event store against a real PostgreSQL: a fresh database per test.

use chrono::Utc;
use partyedu_store::{AppendBatch, AppendError, EventStore, ExpectedVersion, NewEvent};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

fn event(stream: &str, n: i64) -> NewEvent {
    NewEvent {
        event_id: None,
        stream: stream.to_owned(),
        event_type: "Tested".to_owned(),
        schema_version: 1,
        occurred_at: Some(Utc::now()),
        actor: "tester".to_owned(),
        data: json!({"n": n, "stream": stream}),
        metadata: json!({}),
    }
}

fn batch(events: Vec<NewEvent>) -> AppendBatch {
    AppendBatch {
        events,
        ..AppendBatch::default()
    }
}

async fn count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Reads the log from `after` until `want` events have come, or fails after 20 s.
async fn read_until(store: &EventStore, mut after: i64, want: usize) -> Vec<i64> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < want {
        assert!(tokio::time::Instant::now() < deadline, "saw only {seen:?}");
        let page = store.read_all(after, 100, None).await.unwrap();
        seen.extend(page.events.iter().map(|e| e.position));
        after = page.next_after;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    seen
}

/// Test 1: an event whose transaction commits after a later position became visible is not
/// skipped by a reader that has already caught up.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn late_commit_is_not_skipped(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let mut tx_a = pool.begin().await.unwrap();
    let a = store
        .append_in(&mut tx_a, &batch(vec![event("s-a", 1)]))
        .await
        .unwrap();
    let b = store.append(&batch(vec![event("s-b", 1)])).await.unwrap();
    assert!(
        a[0].position < b[0].position,
        "A wrote first, so it orders first"
    );

    // The reader catches up as far as it safely can: A is open, so B stays out of sight.
    let page = store.read_all(0, 100, None).await.unwrap();
    assert!(
        page.events.is_empty(),
        "B must wait for A: {:?}",
        page.events
    );
    let checkpoint = page.next_after;
    assert!(checkpoint < a[0].position);

    tx_a.commit().await.unwrap();
    let seen = read_until(&store, checkpoint, 2).await;
    assert_eq!(seen, vec![a[0].position, b[0].position]);
}

/// Test 2: 16 writers × 2,000 events with random commit delays while a subscriber follows
/// the log: every event arrives exactly once, in strictly increasing positions.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn concurrent_writers_and_a_follower(pool: PgPool) {
    const WRITERS: u64 = 16;
    const PER_WRITER: i64 = 2_000;
    let pool = PgPoolOptions::new()
        .max_connections(WRITERS as u32 + 4)
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap();
    let store = EventStore::new(pool.clone());
    let mut subscription = store
        .subscribe(0, 500, Duration::from_millis(50))
        .await
        .unwrap();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(w);
                let stream = format!("writer-{w}");
                let mut ids = Vec::new();
                for n in 0..PER_WRITER {
                    let mut tx = store.pool().begin().await.unwrap();
                    let appended = store
                        .append_in(&mut tx, &batch(vec![event(&stream, n)]))
                        .await
                        .unwrap();
                    // Hold some transactions open while others commit past them.
                    let delay = match rng.random_range(0..100) {
                        0..70 => 0,
                        70..98 => rng.random_range(1..3),
                        _ => rng.random_range(5..20),
                    };
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    tx.commit().await.unwrap();
                    store.announce_commit();
                    ids.push(appended[0].event_id);
                }
                ids
            })
        })
        .collect();

    let total = (WRITERS as usize) * PER_WRITER as usize;
    let mut received = Vec::with_capacity(total);
    let mut last = 0;
    while received.len() < total {
        let events = tokio::time::timeout(Duration::from_secs(60), subscription.next_batch())
            .await
            .expect("the follower stalled")
            .unwrap();
        for e in events {
            assert!(e.position > last, "{} came after {last}", e.position);
            last = e.position;
            received.push(e.event_id);
        }
    }
    let mut written = HashSet::new();
    for writer in writers {
        written.extend(writer.await.unwrap());
    }
    let unique: HashSet<Uuid> = received.iter().copied().collect();
    assert_eq!(unique.len(), total, "an event was delivered twice");
    assert_eq!(unique, written);
}

/// Test 3: of two concurrent appends at the same expected version, exactly one wins.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn one_of_two_racing_appends_wins(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    for round in 0..40 {
        let expected = if round == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(round)
        };
        let attempt = |store: EventStore| async move {
            let mut b = batch(vec![event("contested", round)]);
            b.expected = vec![("contested".to_owned(), expected)];
            store.append(&b).await
        };
        let (first, second) = tokio::join!(attempt(store.clone()), attempt(store.clone()));
        let results = [first, second];
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        for result in &results {
            if let Err(err) = result {
                assert!(
                    matches!(err, AppendError::VersionConflict { actual, .. } if *actual == round + 1),
                    "round {round}: {err:?}"
                );
            }
        }
    }
    let versions: Vec<i64> = store
        .read_stream("contested", 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, (1..=40).collect::<Vec<_>>());
}

/// Appends at "any version" to one stream from many tasks never fail spuriously.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn any_version_appends_do_not_conflict(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..25 {
                    store
                        .append(&batch(vec![event("shared", t * 100 + n)]))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.stream_version("shared").await.unwrap(), 100);
}

/// Test 4: a retry with the same idempotency key returns the original result and stores
/// nothing; the same key with other content is refused.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn idempotent_retry(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let mut first = batch(vec![event("idem", 1), event("idem", 2), event("other", 1)]);
    first.idempotency_key = Some("key-1".to_owned());
    first.expected = vec![("idem".to_owned(), ExpectedVersion::NoStream)];
    let original = store.append(&first).await.unwrap();
    assert_eq!(count(&pool).await, 3);

    // The retry even passes the stream's version check it would now fail.
    let retried = store.append(&first).await.unwrap();
    assert_eq!(retried, original);
    let mut tx = pool.begin().await.unwrap();
    assert_eq!(store.append_in(&mut tx, &first).await.unwrap(), original);
    tx.commit().await.unwrap();
    assert_eq!(count(&pool).await, 3);

    let mut other = batch(vec![event("idem", 99)]);
    other.idempotency_key = Some("key-1".to_owned());
    let err = store.append(&other).await.unwrap_err();
    assert!(
        matches!(err, AppendError::IdempotencyKeyReused(ref k) if k == "key-1"),
        "{err:?}"
    );
    assert_eq!(count(&pool).await, 3);
}

/// Test 5: one failing version check stores none of the batch; so does a duplicate event id.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn failing_batch_stores_nothing(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    store.append(&batch(vec![event("full", 1)])).await.unwrap();

    let mut mixed = batch(vec![event("fresh", 1), event("full", 2), event("fresh", 2)]);
    mixed.expected = vec![
        ("fresh".to_owned(), ExpectedVersion::NoStream),
        ("full".to_owned(), ExpectedVersion::NoStream),
    ];
    let err = store.append(&mixed).await.unwrap_err();
    assert!(
        matches!(err, AppendError::VersionConflict { ref stream, actual: 1, .. } if stream == "full"),
        "{err:?}"
    );
    assert_eq!(count(&pool).await, 1);

    let stored = store.read_stream("full", 0, 10).await.unwrap();
    let mut duplicate = event("fresh", 3);
    duplicate.event_id = Some(stored[0].event_id);
    let err = store
        .append(&batch(vec![event("fresh", 1), duplicate]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppendError::DuplicateEventId(id) if id == stored[0].event_id),
        "{err:?}"
    );
    assert_eq!(count(&pool).await, 1);
    assert_eq!(store.stream_version("fresh").await.unwrap(), 0);
}

/// Test 6: the database refuses to change or remove stored events, also for a session that
/// turns ordinary triggers off.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn stored_events_are_immutable(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let mut keyed = batch(vec![event("fixed", 1)]);
    keyed.idempotency_key = Some("k".to_owned());
    store.append(&keyed).await.unwrap();

    for role in ["origin", "replica"] {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SET session_replication_role = {role}"
        )))
        .execute(&mut *conn)
        .await
        .unwrap();
        for statement in [
            "UPDATE events SET actor = 'mallory'",
            "DELETE FROM events",
            "TRUNCATE events",
            "UPDATE idempotency_keys SET key = 'x'",
            "DELETE FROM idempotency_keys",
            "TRUNCATE idempotency_keys",
        ] {
            let err = sqlx::query(statement)
                .execute(&mut *conn)
                .await
                .expect_err(statement);
            assert!(
                err.to_string().contains("append-only"),
                "{statement}: {err}"
            );
        }
        sqlx::query("RESET session_replication_role")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    assert_eq!(count(&pool).await, 1);
}

/// Stored data is the canonical text of what was appended, and reads return it unchanged.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn data_is_stored_as_canonical_text(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let mut e = event("canon", 1);
    e.data = json!({"z": 2.50, "a": "党课", "m": [3, 1.0]});
    store.append(&batch(vec![e])).await.unwrap();
    let read = store.read_stream("canon", 0, 10).await.unwrap();
    assert_eq!(read[0].data.get(), r#"{"a":"党课","m":[3,1],"z":2.5}"#);
}

/// Reading by stream, from a position, and by type.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn reads_by_stream_position_and_type(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let mut typed = event("t", 3);
    typed.event_type = "Other".to_owned();
    store
        .append(&batch(vec![
            event("t", 1),
            event("u", 2),
            typed,
            event("t", 4),
        ]))
        .await
        .unwrap();

    let t = store.read_stream("t", 1, 10).await.unwrap();
    assert_eq!(t.iter().map(|e| e.version).collect::<Vec<_>>(), vec![2, 3]);

    let all = read_until(&store, 0, 4).await;
    let page = store.read_all(all[1], 10, None).await.unwrap();
    assert_eq!(page.events.len(), 2);

    let only = vec!["Other".to_owned()];
    let page = store.read_all(0, 10, Some(&only)).await.unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].event_type, "Other");
    assert!(
        page.next_after >= all[3],
        "a filtered read moves past what it skipped"
    );
}
