//! Every field a span of the audit crate declares is filled: a declared field left empty shows
//! in logs as a field that is never there (`sign_checkpoint` declared `origin` and left it
//! empty). The same recording subscriber as the store's span test.

use partyedu_audit::{
    Signer, consistency_proof, extend_tree, generate_key, inclusion_proof, sign_checkpoint,
    verify_database,
};
use partyedu_store::{AppendBatch, EventStore, NewEvent};
use serde_json::json;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Per span: its name, the fields declared, and those given a value.
type Spans = BTreeMap<u64, (&'static str, Vec<&'static str>, Vec<&'static str>)>;

#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Spans>>,
    next: Arc<AtomicU64>,
}

struct Names<'a>(&'a mut Vec<&'static str>);

impl Visit for Names<'_> {
    fn record_debug(&mut self, field: &Field, _: &dyn std::fmt::Debug) {
        self.0.push(field.name());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let declared = attrs.metadata().fields().iter().map(|f| f.name()).collect();
        let mut filled = Vec::new();
        attrs.record(&mut Names(&mut filled));
        self.spans
            .lock()
            .unwrap()
            .insert(id, (attrs.metadata().name(), declared, filled));
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some((_, _, filled)) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Names(filled));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn audit_spans_fill_every_field_they_declare(pool: PgPool) {
    let store = EventStore::new(pool);
    let events = (0..3)
        .map(|k| NewEvent {
            event_id: None,
            stream: format!("test:{k}"),
            event_type: "Tested".to_owned(),
            schema_version: 1,
            occurred_at: None,
            actor: "tester".to_owned(),
            data: json!({"k": k}),
            metadata: json!({}),
        })
        .collect();
    store
        .append(&AppendBatch {
            events,
            ..AppendBatch::default()
        })
        .await
        .unwrap();
    let signer = Signer::from_text(&generate_key("partyedu-test").unwrap().0).unwrap();
    // Reads stop at the cluster's safe frontier, which other tests' open transactions hold
    // back for a moment.
    let mut event_id = None;
    for _ in 0..6_000 {
        if let Some(first) = store.read_all(0, 1, None).await.unwrap().events.first() {
            event_id = Some(first.event_id);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let event_id = event_id.expect("the appended events become readable");

    let recorder = Recorder::default();
    let guard = tracing::subscriber::set_default(recorder.clone());
    // The safe frontier may lag behind other transactions of the cluster for a moment.
    let mut size = 0;
    for _ in 0..6_000 {
        size = extend_tree(&store).await.unwrap();
        if size >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(size, 3, "the tree reaches the three events");
    sign_checkpoint(&store, &signer, "partyedu/test")
        .await
        .unwrap();
    inclusion_proof(&store, event_id, None).await.unwrap();
    consistency_proof(&store, 1, 3).await.unwrap();
    verify_database(&store, Some(&signer.verifier()), None, None)
        .await
        .unwrap();
    drop(guard);

    let spans = recorder.spans.lock().unwrap();
    let names: Vec<&str> = spans.values().map(|(name, _, _)| *name).collect();
    for wanted in [
        "extend_tree",
        "sign_checkpoint",
        "inclusion_proof",
        "consistency_proof",
        "verify_database",
    ] {
        assert!(names.contains(&wanted), "no span {wanted}: {names:?}");
    }
    for (name, declared, filled) in spans.values() {
        for field in declared {
            assert!(
                filled.contains(field),
                "span `{name}` declares `{field}` and never fills it"
            );
        }
    }
}
