//! The documentation travels with the code.
//!
//! - `docs/events.md` is generated from the event catalog's JSON Schemas (`events/schemas/`),
//!   `docs/api.md` from the OpenAPI document the server serves; the committed pages must match
//!   what their sources give today. After an intended change to the catalog or the API:
//!   `PARTYEDU_UPDATE_DOCS=1 cargo test --test docs` rewrites them.
//! - Every relative link in every Markdown file of the repository resolves to a file of the
//!   repository (and a `#anchor` to one of its headings, slugged as GitHub does), and nothing
//!   points outside the repository.
//!
//! No database is needed.

use partyedu_domain::{Event, StreamRef};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

const UPDATE_VAR: &str = "PARTYEDU_UPDATE_DOCS";
const REGENERATE: &str = "run `PARTYEDU_UPDATE_DOCS=1 cargo test --test docs` to regenerate";

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// The generated pages
// ---------------------------------------------------------------------------------------------

#[test]
fn generated_pages_match_their_sources() {
    let pages = [
        ("docs/events.md", render_events(repository())),
        (
            "docs/api.md",
            render_api(&partyedu_server::openapi_document()),
        ),
    ];
    let update = std::env::var(UPDATE_VAR).is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, text) in pages {
        let file = repository().join(path);
        if update {
            std::fs::create_dir_all(file.parent().expect("pages live in docs/")).unwrap();
            std::fs::write(&file, &text).unwrap_or_else(|e| panic!("writing {path}: {e}"));
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(committed) if committed == text => {}
            Ok(committed) => {
                let line = committed
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| committed.lines().count().min(text.lines().count()))
                    + 1;
                stale.push(format!(
                    "{path} differs from what its source gives (first at line {line}: \
                     committed {:?}, generated {:?})",
                    committed.lines().nth(line - 1).unwrap_or("<end of file>"),
                    text.lines().nth(line - 1).unwrap_or("<end of file>"),
                ));
            }
            Err(err) => stale.push(format!("{path} cannot be read: {err}")),
        }
    }
    assert!(stale.is_empty(), "{}\n{REGENERATE}", stale.join("\n"));
}

/// The last segment of a `$ref`: `#/$defs/Id` and `#/components/schemas/Id` both name `Id`.
fn ref_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// Text for a Markdown table cell: one line, no column breaks.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn code_list(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => format!("`{s}`"),
            other => format!("`{other}`"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders JSON Schemas as Markdown. `defs` holds what `$ref`s name; `link` turns a
/// definition's name into Markdown (usually a link to its section).
struct Renderer<'a> {
    defs: &'a Map<String, Value>,
    link: &'a dyn Fn(&str) -> String,
}

impl Renderer<'_> {
    /// A schema's type in a few words: `[Id](#id) or null`, `list of [Id](#id) (no repeats)`.
    fn type_of(&self, schema: &Value) -> String {
        let Value::Object(o) = schema else {
            return if schema == &Value::Bool(true) {
                "any JSON value".to_owned()
            } else {
                "nothing".to_owned()
            };
        };
        if let Some(reference) = o.get("$ref").and_then(Value::as_str) {
            return (self.link)(ref_name(reference));
        }
        if let Some(Value::Array(alternatives)) = o.get("anyOf").or_else(|| o.get("oneOf")) {
            return alternatives
                .iter()
                .map(|s| self.type_of(s))
                .collect::<Vec<_>>()
                .join(" or ");
        }
        if let Some(Value::Array(values)) = o.get("enum") {
            return format!("one of {}", code_list(values));
        }
        let types: Vec<&str> = match o.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let mut words: Vec<String> = types
            .iter()
            .map(|t| match *t {
                "array" => format!(
                    "list of {}",
                    o.get("items")
                        .map_or_else(|| "any JSON value".to_owned(), |i| self.type_of(i))
                ),
                other => other.to_owned(),
            })
            .collect();
        if words.is_empty() {
            words.push("any JSON value".to_owned());
        }
        let mut text = words.join(" or ");
        let constraints = constraints(o);
        if !constraints.is_empty() {
            write!(text, " ({})", constraints.join(", ")).unwrap();
        }
        text
    }

    /// The definition a schema names, directly or as the non-null alternative.
    fn named_def<'s>(&'s self, schema: &'s Value) -> Option<(&'s str, &'s Value)> {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = ref_name(reference);
            return self.defs.get(name).map(|d| (name, d));
        }
        schema
            .get("anyOf")
            .and_then(Value::as_array)?
            .iter()
            .find_map(|alternative| self.named_def(alternative))
    }

    /// A table of an object schema's fields: required ones in their declared order, then the
    /// optional ones.
    fn fields(&self, schema: &Value) -> String {
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if properties.is_empty() {
            return "No fields.\n".to_owned();
        }
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut order: Vec<&str> = required
            .iter()
            .copied()
            .filter(|name| properties.contains_key(*name))
            .collect();
        order.extend(
            properties
                .keys()
                .map(String::as_str)
                .filter(|name| !required.contains(name)),
        );
        let mut out =
            String::from("| field | type | presence | description |\n|---|---|---|---|\n");
        for name in order {
            let property = &properties[name];
            let mut description = property
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if let Some((_, def)) = self.named_def(property)
                && let Some(Value::Array(values)) = def.get("enum")
            {
                if !description.is_empty() {
                    description.push(' ');
                }
                write!(description, "One of {}.", code_list(values)).unwrap();
            }
            if let Some(default) = property.get("default") {
                write!(description, " Default `{default}`.").unwrap();
            }
            writeln!(
                out,
                "| `{name}` | {} | {} | {} |",
                cell(&self.type_of(property)),
                if required.contains(&name) {
                    "required"
                } else {
                    "optional"
                },
                cell(description.trim()),
            )
            .unwrap();
        }
        out
    }

    /// A definition's own section body: its description, then its fields or its type.
    fn definition(&self, def: &Value) -> String {
        let mut out = String::new();
        if let Some(description) = def.get("description").and_then(Value::as_str) {
            writeln!(
                out,
                "{}\n",
                description.split_whitespace().collect::<Vec<_>>().join(" ")
            )
            .unwrap();
        }
        if def.get("properties").is_some() {
            out.push_str(&self.fields(def));
        } else {
            writeln!(out, "Type: {}.", self.type_of(def)).unwrap();
        }
        out
    }
}

/// Constraints of a schema in words.
fn constraints(o: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(format) = o.get("format").and_then(Value::as_str) {
        out.push(format.to_owned());
    }
    for (key, words) in [
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ] {
        if let Some(value) = o.get(key) {
            out.push(format!("{words} {value}"));
        }
    }
    if let Some(n) = o.get("minLength") {
        out.push(format!("at least {n} characters"));
    }
    if let Some(n) = o.get("maxLength") {
        out.push(format!("at most {n} characters"));
    }
    if let Some(pattern) = o.get("pattern").and_then(Value::as_str) {
        out.push(format!("matching `{pattern}`"));
    }
    if o.get("uniqueItems") == Some(&Value::Bool(true)) {
        out.push("no repeats".to_owned());
    }
    if let Some(n) = o.get("minItems") {
        out.push(format!("at least {n} items"));
    }
    if let Some(n) = o.get("maxItems") {
        out.push(format!("at most {n} items"));
    }
    out
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// `events/schemas/{Type}.v{N}.json` by (type, version).
fn catalog_files(repository: &Path) -> BTreeMap<(String, u32), PathBuf> {
    let dir = repository.join("events/schemas");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {dir:?}: {e}")) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let (type_name, version) = stem
            .rsplit_once(".v")
            .and_then(|(t, v)| Some((t.to_owned(), v.parse::<u32>().ok()?)))
            .unwrap_or_else(|| panic!("{name}: schema files are named {{Type}}.v{{N}}.json"));
        files.insert((type_name, version), path);
    }
    files
}

/// The stream an event type is appended to, in the catalog's notation (`class:{class_id}`),
/// found by parsing the type's example with the domain types and naming the field whose value
/// the stream carries.
fn stream_of(type_name: &str, schema: &Value, example: &Value) -> String {
    let event = Event::parse(type_name, example.clone())
        .unwrap_or_else(|e| panic!("the example of {type_name} does not parse: {e:?}"));
    match event.stream() {
        StreamRef::OfEvent(_) => "the stream of the event named by `event_id`".to_owned(),
        StreamRef::Named(stream) => {
            let (prefix, id) = stream
                .split_once(':')
                .unwrap_or_else(|| panic!("{type_name}: stream `{stream}` has no `kind:` prefix"));
            let mut fields: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(properties) = example.as_object() {
                fields.extend(properties.keys().map(String::as_str));
            }
            let field = fields
                .into_iter()
                .find(|f| example.get(*f).and_then(Value::as_str) == Some(id))
                .unwrap_or_else(|| {
                    panic!("{type_name}: no field of the example holds the stream id `{id}`")
                });
            format!("`{prefix}:{{{field}}}`")
        }
    }
}

/// `docs/events.md`, from `events/schemas/*.json` (and each type's example, for its stream).
fn render_events(repository: &Path) -> String {
    let files = catalog_files(repository);
    let mut out = String::from(
        "# Event catalog\n\n\
         > Generated from `events/schemas/*.json` by `PARTYEDU_UPDATE_DOCS=1 cargo test --test docs`; \
         do not edit by hand.\n\n\
         Each section describes the `data` object of one event type at its current schema version, \
         in the catalog's order (registry, activities, corrections). The record around `data` \
         (position, stream, version, timestamps, actor, metadata) is described in \
         [the contract, §1](contract.md#1-the-event-record); how events are recorded and which \
         rules they must satisfy in [§2](contract.md#2-the-event-catalog) and \
         [§3](contract.md#3-recording-and-reading-over-http). Fields marked optional are left out \
         when absent (`null` is accepted too); unknown fields are refused. The value types are \
         described [at the end](#value-types).\n\n",
    );
    out.push_str("| type | version | stream |\n|---|---|---|\n");
    let mut sections = String::new();
    let mut defs = Map::new();
    let mut current = BTreeSet::new();
    for &(type_name, version) in Event::TYPES {
        let key = (type_name.to_owned(), version);
        let path = files.get(&key).unwrap_or_else(|| {
            panic!("events/schemas/{type_name}.v{version}.json is missing (the catalog has it)")
        });
        current.insert(key);
        let schema = read_json(path);
        let example_file = format!("events/examples/{type_name}.v{version}.json");
        let example = read_json(&repository.join(&example_file));
        let stream = stream_of(type_name, &schema, &example);
        if let Some(Value::Object(own)) = schema.get("$defs") {
            for (name, def) in own {
                match defs.get(name) {
                    Some(known) if known != def => {
                        panic!("{type_name}: the definition `{name}` differs from another type's")
                    }
                    _ => {
                        defs.insert(name.clone(), def.clone());
                    }
                }
            }
        }
        let anchor = slug(type_name);
        writeln!(
            out,
            "| [`{type_name}`](#{anchor}) | {version} | {} |",
            cell(&stream)
        )
        .unwrap();
        let link = |name: &str| format!("[`{name}`](#{})", slug(name));
        let own_defs = schema
            .get("$defs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let renderer = Renderer {
            defs: &own_defs,
            link: &link,
        };
        writeln!(sections, "## `{type_name}`\n").unwrap();
        if let Some(description) = schema.get("description").and_then(Value::as_str) {
            writeln!(
                sections,
                "{}\n",
                description.split_whitespace().collect::<Vec<_>>().join(" ")
            )
            .unwrap();
        }
        let older: Vec<String> = files
            .keys()
            .filter(|(t, v)| t == type_name && *v != version)
            .map(|(_, v)| format!("v{v}"))
            .collect();
        writeln!(
            sections,
            "- Stream: {stream}\n- Schema version {version}: \
             [`events/schemas/{type_name}.v{version}.json`](../events/schemas/{type_name}.v{version}.json); \
             example: [`{example_file}`](../{example_file}){}\n",
            if older.is_empty() {
                String::new()
            } else {
                format!(
                    "\n- Older versions, upcast when read: {}",
                    older.join(", ")
                )
            }
        )
        .unwrap();
        sections.push_str(&renderer.fields(&schema));
        sections.push('\n');
    }
    for (type_name, version) in files.keys() {
        let key = (type_name.clone(), *version);
        let older_of_current = Event::TYPES
            .iter()
            .any(|(t, v)| *t == type_name && *v > *version);
        assert!(
            current.contains(&key) || older_of_current,
            "events/schemas/{type_name}.v{version}.json belongs to no type of the catalog"
        );
    }
    out.push('\n');
    out.push_str(&sections);
    out.push_str(
        "## Value types\n\n\
         The types the fields above refer to. Dates are calendar dates; timestamps keep the \
         offset they were given with; a date or timestamp whose local date (in the deployment's \
         time zone) is later than tomorrow is refused.\n\n",
    );
    let link = |name: &str| format!("[`{name}`](#{})", slug(name));
    let renderer = Renderer {
        defs: &defs,
        link: &link,
    };
    for (name, def) in &defs {
        writeln!(out, "### `{name}`\n").unwrap();
        out.push_str(&renderer.definition(def));
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// `docs/api.md`, from the OpenAPI document.
fn render_api(doc: &Value) -> String {
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("the document has component schemas");
    let is_event = |name: &str| {
        name.rsplit_once(".v")
            .is_some_and(|(_, v)| v.parse::<u32>().is_ok())
    };
    let link = |name: &str| {
        if is_event(name) {
            let type_name = name.rsplit_once(".v").map_or(name, |(t, _)| t);
            format!("[`{name}`](events.md#{})", slug(type_name))
        } else {
            format!("[`{name}`](#{})", slug(name))
        }
    };
    let renderer = Renderer {
        defs: schemas,
        link: &link,
    };
    let mut out = format!(
        "# API reference\n\n\
         > Generated from the OpenAPI document (`GET /api/v1/openapi.json`, built in \
         `crates/server/src/openapi.rs`) by `PARTYEDU_UPDATE_DOCS=1 cargo test --test docs`; \
         do not edit by hand.\n\n\
         {} {}, OpenAPI {}. What the operations mean — status codes, idempotency, positions, \
         the definitions of the statistics — is [the contract](contract.md); this page lists \
         what is routed and the shapes of requests and answers. Operations that name roles need \
         `Authorization: Bearer TOKEN`; every error answers with [`ErrorBody`](#errorbody).\n\n",
        doc["info"]["title"].as_str().unwrap_or("partyedu"),
        doc["info"]["version"].as_str().unwrap_or("?"),
        doc["openapi"].as_str().unwrap_or("?"),
    );
    out.push_str("| operation | summary |\n|---|---|\n");
    let mut sections = String::new();
    let paths = doc["paths"].as_object().expect("the document has paths");
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, operation) in item {
            let title = format!("{} {path}", method.to_uppercase());
            let summary = operation["summary"].as_str().unwrap_or("");
            writeln!(
                out,
                "| [`{title}`](#{}) | {} |",
                slug(&title),
                cell(summary)
            )
            .unwrap();
            writeln!(sections, "### `{title}`\n\n{summary}\n").unwrap();
            writeln!(
                sections,
                "- Who: {}",
                operation["description"].as_str().unwrap_or("")
            )
            .unwrap();
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let in_path: Vec<String> = parameters
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    format!(
                        "`{}` ({})",
                        p["name"].as_str().unwrap_or("?"),
                        renderer.type_of(&p["schema"])
                    )
                })
                .collect();
            if !in_path.is_empty() {
                writeln!(sections, "- Path parameters: {}", in_path.join(", ")).unwrap();
            }
            let in_header: Vec<String> = parameters
                .iter()
                .filter(|p| p["in"] == "header")
                .map(|p| {
                    format!(
                        "`{}` ({}, {}): {}",
                        p["name"].as_str().unwrap_or("?"),
                        renderer.type_of(&p["schema"]),
                        if p["required"] == Value::Bool(true) {
                            "required"
                        } else {
                            "optional"
                        },
                        p["description"].as_str().unwrap_or("")
                    )
                })
                .collect();
            if !in_header.is_empty() {
                writeln!(sections, "- Headers: {}", in_header.join(", ")).unwrap();
            }
            if let Some(body) = operation.get("requestBody") {
                for (media, content) in body["content"].as_object().into_iter().flatten() {
                    writeln!(
                        sections,
                        "- Request body ({media}{}): {}",
                        if body["required"] == Value::Bool(true) {
                            ", required"
                        } else {
                            ""
                        },
                        renderer.type_of(&content["schema"])
                    )
                    .unwrap();
                }
            }
            let mut responses = Vec::new();
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                let bodies: Vec<String> = response["content"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(_, c)| renderer.type_of(&c["schema"]))
                    .collect();
                let status = if status == "default" {
                    "any error".to_owned()
                } else {
                    format!("`{status}`")
                };
                responses.push(if bodies.is_empty() {
                    status
                } else {
                    format!("{status} {}", bodies.join(", "))
                });
            }
            writeln!(sections, "- Responses: {}", responses.join("; ")).unwrap();
            let query: Vec<&Value> = parameters.iter().filter(|p| p["in"] == "query").collect();
            if !query.is_empty() {
                sections.push_str(
                    "\n| query parameter | type | presence | description |\n|---|---|---|---|\n",
                );
                for p in query {
                    writeln!(
                        sections,
                        "| `{}` | {} | {} | {} |",
                        p["name"].as_str().unwrap_or("?"),
                        cell(&renderer.type_of(&p["schema"])),
                        if p["required"] == Value::Bool(true) {
                            "required"
                        } else {
                            "optional"
                        },
                        cell(p["schema"]["description"].as_str().unwrap_or("")),
                    )
                    .unwrap();
                }
            }
            sections.push('\n');
        }
    }
    out.push_str("\n## Operations\n\n");
    out.push_str(&sections);
    out.push_str(
        "## Schemas\n\n\
         The request and response types, generated from the types the handlers read and \
         write.\n\n",
    );
    let mut events = Vec::new();
    for (name, schema) in schemas {
        if is_event(name) {
            events.push(link(name));
            continue;
        }
        writeln!(out, "### `{name}`\n").unwrap();
        out.push_str(&renderer.definition(schema));
        out.push('\n');
    }
    writeln!(
        out,
        "### Event data\n\nThe `data` of each event type, described in the \
         [event catalog](events.md): {}.",
        events.join(", ")
    )
    .unwrap();
    out
}

// ---------------------------------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------------------------------

#[test]
fn every_relative_link_resolves_inside_the_repository() {
    let problems = check_links(repository());
    assert!(
        problems.is_empty(),
        "{} broken or outside link(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// A link checker that finds nothing wrong anywhere would pass vacuously: this one must find
/// every kind of fault in a small made-up repository.
#[test]
fn the_link_check_reports_each_broken_link_with_file_and_line() {
    let dir = std::env::temp_dir().join(format!("partyedu-docs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::create_dir_all(dir.join("target")).unwrap();
    std::fs::write(
        dir.join("README.md"),
        "# Top\n\nSee [the guide](docs/guide.md#first-steps), [a missing page](docs/nope.md),\n\
         [outside](../elsewhere/CONTRACT.md) and [a bad anchor](docs/guide.md#no-such-heading).\n\
         `../shared/domain/DOMAIN.md` is outside too.\n\n```sh\n[not a link](nowhere.md)\n```\n\
         [external](https://example.org/x.md) and [here](#top) are fine.\n\n[ref]: docs/missing.md\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("docs/guide.md"),
        "# Guide\n\n## First steps\n\n[back](../README.md#top), [up too far](../../x.md)\n",
    )
    .unwrap();
    std::fs::write(dir.join("target/ignored.md"), "[gone](gone.md)\n").unwrap();
    let problems = check_links(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    let expected = [
        "README.md:3: `docs/nope.md`",
        "README.md:4: `../elsewhere/CONTRACT.md`",
        "README.md:4: `docs/guide.md#no-such-heading`",
        "README.md:5: ",
        "README.md:12: `docs/missing.md`",
        "docs/guide.md:5: `../../x.md`",
    ];
    assert_eq!(
        problems.len(),
        expected.len(),
        "unexpected findings: {problems:#?}"
    );
    for (problem, start) in problems.iter().zip(expected) {
        assert!(
            problem.starts_with(start),
            "{problem} should start with {start}"
        );
    }
}

#[test]
fn headings_slug_as_on_github() {
    assert_eq!(slug("1. The event record"), "1-the-event-record");
    assert_eq!(slug("`GET /api/v1/coverage`"), "get-apiv1coverage");
    assert_eq!(
        slug("Positions: `as_of_position`, `as_of`"),
        "positions-as_of_position-as_of"
    );
    assert_eq!(slug("术语表（Glossary）"), "术语表glossary");
    assert_eq!(slug("The [link](x.md) *here*"), "the-link-here");
    let anchors = anchors_in("# A\n## A\n```\n# not a heading\n```\n<a id=\"custom\"></a>\n");
    assert_eq!(
        anchors,
        BTreeSet::from(["a".to_owned(), "a-1".to_owned(), "custom".to_owned()])
    );
}

/// Every Markdown file under `root`, skipping build output, dependencies and hidden folders.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                    pending.push(path);
                }
            } else if name.ends_with(".md") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Lines outside fenced code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<(char, usize)> = None;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
        match (fence, marker) {
            (None, Some(m)) if run >= 3 => fence = Some((m, run)),
            (Some((m, n)), Some(c))
                if c == m && run >= n && trimmed[run * c.len_utf8()..].trim().is_empty() =>
            {
                fence = None;
            }
            (None, _) => lines.push((index + 1, line)),
            _ => {}
        }
    }
    lines
}

/// A line without its code spans.
fn without_code(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| **c == '`').count();
        let mut j = i + run;
        let mut closed = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let other = chars[j..].iter().take_while(|c| **c == '`').count();
                if other == run {
                    closed = Some(j + other);
                    break;
                }
                j += other;
            } else {
                j += 1;
            }
        }
        match closed {
            Some(end) => {
                out.push(' ');
                i = end;
            }
            None => {
                out.extend(&chars[i..i + run]);
                i += run;
            }
        }
    }
    out
}

/// The destinations of a line's inline links and images, and of a reference definition.
fn link_targets(line: &str) -> Vec<String> {
    let text = without_code(line);
    let mut targets = Vec::new();
    let trimmed = text.trim_start();
    if trimmed.starts_with('[')
        && let Some(end) = trimmed.find("]:")
        && !trimmed[1..end].contains(']')
    {
        if let Some(target) = trimmed[end + 2..].split_whitespace().next() {
            targets.push(target.trim_matches(['<', '>']).to_owned());
        }
        return targets;
    }
    let mut rest = text.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let target = if let Some(angled) = after.strip_prefix('<') {
            angled.split('>').next().unwrap_or("").to_owned()
        } else {
            let mut depth = 0;
            let mut end = after.len();
            for (i, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = i;
                        break;
                    }
                    ')' => depth -= 1,
                    c if c.is_whitespace() => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            after[..end].to_owned()
        };
        targets.push(target);
        rest = after;
    }
    targets
}

/// GitHub's heading anchor: the heading's text, lower-cased, without punctuation other than
/// `-` and `_`, spaces turned into `-`.
fn slug(heading: &str) -> String {
    // Links keep their text only; code and emphasis markers go.
    let mut text = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|c| open + c) else {
            break;
        };
        let Some(end) = rest[close..].find(')').map(|e| close + e) else {
            break;
        };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors a Markdown text offers: its headings' slugs (numbered when repeated, as GitHub
/// does) and explicit `id="…"` / `name="…"` anchors.
fn anchors_in(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (_, line) in prose_lines(text) {
        let trimmed = line.trim_start();
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes)
            && trimmed[hashes..].starts_with([' ', '\t'])
            && line.len() - trimmed.len() <= 3
        {
            let heading = trimmed[hashes..].trim().trim_end_matches('#').trim_end();
            let base = slug(heading);
            let count = seen.entry(base.clone()).or_insert(0);
            anchors.insert(if *count == 0 {
                base.clone()
            } else {
                format!("{base}-{count}")
            });
            *count += 1;
        }
        for attribute in ["id=\"", "name=\""] {
            let mut rest = line;
            while let Some(at) = rest.find(attribute) {
                let value = &rest[at + attribute.len()..];
                if let Some(end) = value.find('"') {
                    anchors.insert(value[..end].to_owned());
                }
                rest = value;
            }
        }
    }
    anchors
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every problem with the links of the Markdown files under `root`, as `file:line: problem`.
fn check_links(root: &Path) -> Vec<String> {
    let mut problems: Vec<(String, usize, String)> = Vec::new();
    let mut anchor_cache: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for file in markdown_files(root) {
        let relative = file.strip_prefix(root).unwrap().to_path_buf();
        let shown = relative.display().to_string();
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        // Paths outside the repository are wrong even where they are not links.
        for (index, line) in text.lines().enumerate() {
            if line.contains("../shared/") {
                problems.push((
                    shown.clone(),
                    index + 1,
                    "names `../shared/`, which is outside the repository".to_owned(),
                ));
            }
        }
        for (number, line) in prose_lines(&text) {
            for target in link_targets(line) {
                if let Some(problem) = check_target(root, &relative, &target, &mut anchor_cache) {
                    problems.push((shown.clone(), number, format!("`{target}` {problem}")));
                }
            }
        }
    }
    // By file, then line (stable, so a line's links keep their order).
    problems.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    problems
        .into_iter()
        .map(|(file, line, problem)| format!("{file}:{line}: {problem}"))
        .collect()
}

/// What is wrong with one link target of `file` (relative to `root`), if anything.
fn check_target(
    root: &Path,
    file: &Path,
    target: &str,
    anchors: &mut BTreeMap<PathBuf, BTreeSet<String>>,
) -> Option<String> {
    if target.is_empty() {
        return Some("is empty".to_owned());
    }
    let scheme = target.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    if scheme || target.starts_with("//") {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, Some(percent_decode(a))),
        None => (target, None),
    };
    let path = percent_decode(path);
    let path = path.split('?').next().unwrap_or_default();
    let joined = if path.is_empty() {
        file.to_path_buf()
    } else if let Some(absolute) = path.strip_prefix('/') {
        PathBuf::from(absolute)
    } else {
        file.parent().unwrap_or(Path::new("")).join(path)
    };
    let mut resolved = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                let stayed_inside = resolved.pop();
                if !stayed_inside {
                    return Some("leads outside the repository".to_owned());
                }
            }
            Component::Normal(part) => resolved.push(part),
            _ => {}
        }
    }
    let full = root.join(&resolved);
    if !full.exists() {
        return Some(format!(
            "names `{}`, which does not exist",
            resolved.display()
        ));
    }
    let anchor = anchor.filter(|a| !a.is_empty())?;
    if full.extension().is_none_or(|e| e != "md") {
        return None;
    }
    let known = anchors
        .entry(resolved.clone())
        .or_insert_with(|| anchors_in(&std::fs::read_to_string(&full).unwrap_or_default()));
    (!known.contains(&anchor)).then(|| {
        format!(
            "names the anchor `#{anchor}`, which is no heading of `{}`",
            resolved.display()
        )
    })
}

// ---------------------------------------------------------------------------------------------
// The contract keeps up with the code
// ---------------------------------------------------------------------------------------------

/// Every routed operation and every event type is described in the contract.
#[test]
fn the_contract_names_every_operation_and_event_type() {
    let contract = std::fs::read_to_string(repository().join("docs/contract.md"))
        .expect("docs/contract.md exists");
    let doc = partyedu_server::openapi_document();
    let mut missing = Vec::new();
    for path in doc["paths"].as_object().unwrap().keys() {
        if !contract.contains(path.as_str()) {
            missing.push(format!("the operation path `{path}`"));
        }
    }
    for (type_name, _) in Event::TYPES {
        if !contract.contains(&format!("`{type_name}`")) {
            missing.push(format!("the event type `{type_name}`"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/contract.md does not mention:\n{}",
        missing.join("\n")
    );
}
