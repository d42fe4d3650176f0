//! The event catalog in `events/` stays in step with the Rust types: the committed JSON Schemas
//! are exactly what the types generate (`UPDATE_SCHEMAS=1` rewrites them), and every example
//! validates against its schema and parses as its event type.

use std::fs;
use std::path::{Path, PathBuf};

use partyedu_domain::Event;
use serde_json::Value;

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn file_name(type_name: &str, version: u32) -> String {
    format!("{type_name}.v{version}.json")
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn committed_schemas_match_the_types() {
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let dir = events_dir().join("schemas");
    let mut stale = Vec::new();
    for (type_name, version, schema) in Event::schemas() {
        let path = dir.join(file_name(type_name, version));
        let text = serde_json::to_string_pretty(&schema).expect("schema serialises") + "\n";
        if update {
            fs::create_dir_all(&dir).expect("create events/schemas");
            fs::write(&path, text).expect("write schema");
        } else if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "schemas differ from the Rust types: {stale:#?}\n\
         If the change is intended, run `UPDATE_SCHEMAS=1 cargo test -p partyedu-domain --test catalog` \
         and note it in events/CHANGELOG.md (a breaking change needs a new version and an upcaster)."
    );
}

#[test]
fn every_schema_file_is_of_a_known_type_and_version() {
    // Old versions stay committed after a bump; a file newer than the type, or of a type that
    // no longer exists, is a mistake.
    for entry in fs::read_dir(events_dir().join("schemas")).expect("events/schemas") {
        let name = entry
            .expect("dir entry")
            .file_name()
            .into_string()
            .expect("utf-8 name");
        let (type_name, version) = name
            .strip_suffix(".json")
            .and_then(|stem| stem.rsplit_once(".v"))
            .unwrap_or_else(|| panic!("{name}: expected Type.vN.json"));
        let version: u32 = version
            .parse()
            .unwrap_or_else(|_| panic!("{name}: bad version"));
        let current = Event::schema_version_of(type_name)
            .unwrap_or_else(|| panic!("{name}: unknown event type"));
        assert!(
            version <= current,
            "{name}: newer than the current v{current}"
        );
    }
}

#[test]
fn every_example_validates_and_parses() {
    let dir = events_dir();
    for &(type_name, version) in Event::TYPES {
        let file = file_name(type_name, version);
        let schema = read_json(&dir.join("schemas").join(&file));
        let example = read_json(&dir.join("examples").join(&file));
        let validator = jsonschema::validator_for(&schema).expect("schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&example)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{file} fails its schema: {errors:#?}");
        let event = Event::parse(type_name, example.clone())
            .unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
        assert_eq!(event.type_name(), type_name);
        assert_eq!(event.data(), example, "{file} is not in canonical form");
    }
}

#[test]
fn schemas_refuse_what_the_types_refuse() {
    let dir = events_dir();
    let file = file_name("ClassHeld", 1);
    let schema = read_json(&dir.join("schemas").join(&file));
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let mut example = read_json(&dir.join("examples").join(&file));
    example["attendee_ids"] = serde_json::json!(["M-1", "M-1"]);
    assert!(!validator.is_valid(&example), "duplicate attendees");
    example["attendee_ids"] = serde_json::json!([]);
    example["colour"] = serde_json::json!("red");
    assert!(!validator.is_valid(&example), "unknown field");
}

#[test]
fn the_readme_lists_every_event_type() {
    let readme = fs::read_to_string(events_dir().join("README.md")).expect("events/README.md");
    for (type_name, _) in Event::TYPES {
        assert!(
            readme.contains(&format!("`{type_name}`")),
            "events/README.md does not describe {type_name}"
        );
    }
}
