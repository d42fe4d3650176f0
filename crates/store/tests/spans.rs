//! Every field a span of the store declares is filled: a declared field left empty shows in
//! logs as a field that is never there, which reads as a bug in whatever consumes them.

use partyedu_store::{AppendBatch, EventStore, NewEvent};
use serde_json::json;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Per span name: the fields declared, and those given a value.
#[derive(Default)]
struct Seen {
    spans: BTreeMap<u64, (&'static str, Vec<&'static str>, Vec<&'static str>)>,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Seen>>,
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
        self.seen
            .lock()
            .unwrap()
            .spans
            .insert(id, (attrs.metadata().name(), declared, filled));
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some((_, _, filled)) = self.seen.lock().unwrap().spans.get_mut(&span.into_u64()) {
            values.record(&mut Names(filled));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn store_spans_fill_every_field_they_declare(pool: PgPool) {
    let recorder = Recorder::default();
    let guard = tracing::subscriber::set_default(recorder.clone());
    let store = EventStore::new(pool);
    let event = NewEvent {
        event_id: None,
        stream: "org:SD".to_owned(),
        event_type: "OrgUnitEstablished".to_owned(),
        schema_version: 1,
        occurred_at: None,
        actor: "test".to_owned(),
        data: json!({"org_id": "SD"}),
        metadata: json!({}),
    };
    store
        .append(&AppendBatch {
            events: vec![event],
            ..AppendBatch::default()
        })
        .await
        .unwrap();
    store.read_all(0, 10, None).await.unwrap();
    store.read_stream("org:SD", 0, 10).await.unwrap();
    drop(guard);
    let seen = recorder.seen.lock().unwrap();
    let names: Vec<&str> = seen.spans.values().map(|(name, _, _)| *name).collect();
    for wanted in ["append", "read_all", "read_stream"] {
        assert!(names.contains(&wanted), "no span {wanted}: {names:?}");
    }
    for (name, declared, filled) in seen.spans.values() {
        for field in declared {
            assert!(
                filled.contains(field),
                "span `{name}` declares `{field}` and never fills it"
            );
        }
    }
}
