//! The projection engine on a generated history: folding in small batches while the log
//! grows, with crashes between and inside batches, gives exactly what one full rebuild gives.

use chrono::NaiveDate;
use partyedu_projections::engine::{self, EngineError};
use partyedu_projections::{Projector, ensure_projection};
use partyedu_store::{AppendBatch, EventStore, NewEvent};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// A generated history as store events. The generator's histories are valid, so they go
/// straight to the store here (the recording path's validation has tests of its own).
fn history(members: usize, years: u32, seed: u64) -> Vec<NewEvent> {
    let until = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
    let mut out = Vec::new();
    partyedu_gen::generate(
        &partyedu_gen::GenConfig::new(members, years, seed, until),
        &mut out,
    )
    .unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            let event = partyedu_domain::Event::parse(
                record["type"].as_str().unwrap(),
                record["data"].clone(),
            )
            .unwrap();
            let occurred_at =
                chrono::DateTime::parse_from_rfc3339(record["occurred_at"].as_str().unwrap())
                    .unwrap()
                    .with_timezone(&chrono::Utc);
            NewEvent {
                event_id: Some(
                    record["event_id"]
                        .as_str()
                        .unwrap()
                        .parse::<Uuid>()
                        .unwrap(),
                ),
                stream: stream_of(&event),
                event_type: event.type_name().to_owned(),
                schema_version: 1,
                occurred_at: Some(occurred_at),
                actor: record["actor"].as_str().unwrap().to_owned(),
                data: event.data(),
                metadata: serde_json::json!({}),
            }
        })
        .collect()
}

/// The stream names do not matter to the facts; voids share one stream here.
fn stream_of(event: &partyedu_domain::Event) -> String {
    match event.stream() {
        partyedu_domain::StreamRef::Named(name) => name,
        partyedu_domain::StreamRef::OfEvent(_) => "voids".to_owned(),
    }
}

/// The bookkeeping tables of the read models: they carry a generation but no facts (the
/// checkpoints differ between generations by when and how they were folded). The
/// materialised standings (`engine::VIEW_TABLES`) are derived and compared apart.
const BOOKKEEPING: [&str; 2] = ["rm_projections", "rm_checkpoints"];

/// Every read-model table, from the schema: each table named `rm_…` but the bookkeeping ones.
/// A table added to the migrations is compared without anyone remembering to list it.
async fn read_model_tables(pool: &PgPool) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
           AND table_name LIKE 'rm\\_%' AND NOT (table_name = ANY($1)) \
         ORDER BY table_name",
    )
    .bind(
        BOOKKEEPING
            .iter()
            .chain(&engine::VIEW_TABLES)
            .collect::<Vec<_>>(),
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(tables.len() >= 12, "read-model tables: {tables:?}");
    tables
}

/// Every read-model table's rows of a generation, without the generation column, sorted.
async fn facts_of(pool: &PgPool, generation: i32) -> Vec<String> {
    let mut all = Vec::new();
    for table in read_model_tables(pool).await {
        let sql = format!(
            "SELECT '{table}' || ':' || (to_jsonb(t) - 'generation')::text FROM {table} t \
             WHERE generation = $1"
        );
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(generation)
            .fetch_all(pool)
            .await
            .unwrap();
        all.extend(rows);
    }
    all.sort();
    all
}

/// Every read-model table has a generation column and is one the engine knows (a rebuild's
/// drop removes its rows), and the history fills each, so no comparison below is vacuous.
async fn every_table_is_compared(pool: &PgPool, facts: &[String]) {
    let tables = read_model_tables(pool).await;
    for table in &tables {
        assert!(
            engine::FACT_TABLES.contains(&table.as_str()),
            "{table} is not in engine::FACT_TABLES"
        );
        assert!(
            facts
                .iter()
                .any(|row| row.starts_with(&format!("{table}:"))),
            "the history leaves {table} empty: nothing of it is compared"
        );
    }
    for table in engine::FACT_TABLES {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} is not in the schema"
        );
    }
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn incremental_folding_with_crashes_equals_a_full_rebuild(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let generation = ensure_projection(&store).await.unwrap();
    let events = history(150, 2, 7);
    assert!(
        events.len() > 3_000,
        "a history worth the name: {}",
        events.len()
    );

    let mut projector = Projector::new(store.clone(), TZ, generation)
        .await
        .unwrap()
        .with_batch_size(97);
    for (round, chunk) in events.chunks(700).enumerate() {
        store
            .append(&AppendBatch {
                events: chunk.to_vec(),
                ..AppendBatch::default()
            })
            .await
            .unwrap();
        projector.try_run_once().await.unwrap();
        if round % 3 == 1 {
            // A crash between batches: a new process resumes from the checkpoint.
            projector = Projector::new(store.clone(), TZ, generation)
                .await
                .unwrap()
                .with_batch_size(97);
        }
        if round % 4 == 2 {
            // A crash inside a batch: a second projector folds a batch first, so this one's
            // transaction finds the checkpoint moved, rolls back whole, and steps down.
            let mut other = Projector::new(store.clone(), TZ, generation)
                .await
                .unwrap()
                .with_batch_size(50);
            other.try_run_once().await.unwrap();
            let refused = projector.try_run_once().await;
            assert!(
                matches!(refused, Err(EngineError::LostLeadership { .. }) | Ok(0)),
                "{refused:?}"
            );
            projector = other;
        }
    }
    let head = store.head_position().await.unwrap();
    while projector.position() < head {
        projector.catch_up().await.unwrap();
    }

    let rebuilt = engine::begin_rebuild(&store).await.unwrap();
    let mut fresh = Projector::new(store.clone(), TZ, rebuilt).await.unwrap();
    while fresh.position() < head {
        fresh.catch_up().await.unwrap();
    }
    let incremental = facts_of(&pool, generation).await;
    let full = facts_of(&pool, rebuilt).await;
    assert!(incremental.len() > events.len() / 2);
    every_table_is_compared(&pool, &incremental).await;
    assert_eq!(incremental.len(), full.len());
    if let Some((a, b)) = incremental.iter().zip(&full).find(|(a, b)| a != b) {
        panic!("the generations differ:\n  incremental {a}\n  full        {b}");
    }

    // A rebuild that crashes half-way resumes where it stopped, and the live generation is
    // untouched meanwhile.
    engine::drop_generation(&store, rebuilt).await.unwrap();
    let live_before = facts_of(&pool, generation).await;
    let rebuilt = engine::begin_rebuild(&store).await.unwrap();
    let mut crashing = Projector::new(store.clone(), TZ, rebuilt)
        .await
        .unwrap()
        .with_batch_size(500);
    crashing.try_run_once().await.unwrap();
    let reached = crashing.position();
    drop(crashing);
    assert_eq!(
        engine::begin_rebuild(&store).await.unwrap(),
        rebuilt,
        "the rebuild resumes"
    );
    let mut resumed = Projector::new(store.clone(), TZ, rebuilt).await.unwrap();
    assert_eq!(resumed.position(), reached);
    let status = engine::status(&store).await.unwrap();
    assert_eq!(status.generation, generation);
    assert_eq!(status.rebuild.as_ref().map(|r| r.generation), Some(rebuilt));
    assert_eq!(facts_of(&pool, generation).await, live_before);
    while resumed.position() < head {
        resumed.catch_up().await.unwrap();
    }
    assert_eq!(facts_of(&pool, rebuilt).await, full);

    // The rebuilt generation is swapped in; the old one is gone.
    engine::swap(&store, rebuilt).await.unwrap();
    assert!(facts_of(&pool, generation).await.is_empty());
    assert_eq!(engine::status(&store).await.unwrap().generation, rebuilt);
}

/// Every figure the materialised standings answer, next to the same figure from the facts,
/// for each rule set, both years in view, the whole subdistrict and one community.
async fn compare_paths(pool: &PgPool, generation: i32, as_of: i64, scoped_org: &str) -> usize {
    use partyedu_projections::query::{self, Gap, Scope};
    use partyedu_projections::{ledgers, standings};
    let today = chrono::Utc::now().with_timezone(&TZ).date_naive();
    let mut conn = pool.acquire().await.unwrap();
    let mut compared = 0;
    for rules in partyedu_projections::RuleBook::shipped().sets() {
        for year in [
            chrono::Datelike::year(&today),
            chrono::Datelike::year(&today) - 1,
        ] {
            for org in [None, Some(scoped_org.to_owned())] {
                let scope = Scope {
                    generation,
                    as_of,
                    year,
                    reference_date: query::reference_date(year, today),
                    org,
                };
                let what = format!("{} {year} {:?} as of {as_of}", rules.id(), scope.org);
                let rows = standings::coverage(&mut conn, &scope, rules)
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("{what}: the view does not answer"));
                let facts = query::coverage_from_facts(&mut conn, &scope, rules)
                    .await
                    .unwrap();
                assert_eq!(rows, facts, "coverage, {what}");
                assert!(
                    rows.iter().any(|r| r.in_scope > 0),
                    "{what}: nobody counted"
                );
                for gap in [Gap::Unreached, Gap::Noncompliant] {
                    let all = query::coverage_members_from_facts(&mut conn, &scope, rules, gap)
                        .await
                        .unwrap();
                    for (offset, limit) in [(0, None), (0, Some(7)), (5, Some(3))] {
                        let page =
                            standings::gap_members(&mut conn, &scope, rules, gap, offset, limit)
                                .await
                                .unwrap()
                                .unwrap();
                        let expected: Vec<_> = all
                            .iter()
                            .skip(offset)
                            .take(limit.unwrap_or(usize::MAX))
                            .cloned()
                            .collect();
                        assert_eq!(page, expected, "{gap:?} members {offset}/{limit:?}, {what}");
                    }
                }
                let count = standings::headcount(&mut conn, &scope, rules)
                    .await
                    .unwrap()
                    .unwrap();
                let facts = ledgers::headcount_from_facts(&mut conn, &scope, rules)
                    .await
                    .unwrap();
                assert_eq!(count, facts, "headcount, {what}");
                compared += 1;
            }
        }
    }
    compared
}

/// Folds up to the log's head (the safe frontier may lag behind it while another transaction
/// of the cluster is open).
async fn catch_up_to_head(store: &EventStore, projector: &mut Projector) {
    let head = store.head_position().await.unwrap();
    while projector.position() < head {
        projector.catch_up().await.unwrap();
    }
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn materialised_standings_equal_the_facts_as_the_log_grows(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let generation = ensure_projection(&store).await.unwrap();
    let events = history(120, 2, 13);
    let rule_sets: Vec<_> = partyedu_projections::RuleBook::shipped()
        .sets()
        .cloned()
        .collect();
    let materialised = |store: &EventStore| {
        let (store, rule_sets) = (store.clone(), rule_sets.clone());
        async move {
            Projector::new(store, TZ, generation)
                .await
                .unwrap()
                .with_batch_size(89)
                .with_materialised(rule_sets, TZ, engine::MATERIALISED_YEARS)
        }
    };
    let mut projector = materialised(&store).await;
    let (first, rest) = events.split_at(events.len() / 3);
    store
        .append(&AppendBatch {
            events: first.to_vec(),
            ..AppendBatch::default()
        })
        .await
        .unwrap();
    catch_up_to_head(&store, &mut projector).await;
    // Built in chunks between batches, then kept by every batch (a restart in between: the
    // views are in the database, not in the projector).
    let mut steps = 0;
    while projector.build_views_step().await.unwrap() {
        steps += 1;
        assert!(steps < 100, "the build never ends");
    }
    let community: String = sqlx::query_scalar(
        "SELECT org_id FROM rm_org_units WHERE generation = $1 AND kind = 'community' \
         ORDER BY org_id LIMIT 1",
    )
    .bind(generation)
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut positions = vec![projector.position()];
    assert!(compare_paths(&pool, generation, projector.position(), &community).await > 0);
    for (round, chunk) in rest.chunks(600).enumerate() {
        store
            .append(&AppendBatch {
                events: chunk.to_vec(),
                ..AppendBatch::default()
            })
            .await
            .unwrap();
        if round % 2 == 1 {
            projector = materialised(&store).await;
        }
        catch_up_to_head(&store, &mut projector).await;
        positions.push(projector.position());
        compare_paths(&pool, generation, projector.position(), &community).await;
    }
    // Versions kept behind the checkpoint answer as of earlier positions too.
    for position in &positions[positions.len().saturating_sub(3)..] {
        compare_paths(&pool, generation, *position, &community).await;
    }
}
