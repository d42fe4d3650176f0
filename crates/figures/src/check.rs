//! Checking an exported figure: a statistic as the API answers it with `?evidence=true`
//! (docs/contract.md, "Verifiable figures") recomputed from the records of the log up to its
//! as-of position, number by number and event id by event id.
//!
//! The caller has already checked the records against signed checkpoints (the figure's own
//! among them); [`check_figure`] takes them in log order with the size of the figure's
//! checkpoint, and reports every figure that differs — what the records give against what the
//! figure says — or that its evidence names other events than the records do.

use crate::{Date, RuleSpec, World, Zone, date_string, normalize_numbers, parse_date};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The `evidence.format` this checker reads.
pub const EVIDENCE_FORMAT: &str = "partyedu-figure-evidence/1";

/// One figure that the records do not give.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// Which figure, as a path into the file (`rows[3].reached`) with what it is about.
    pub figure: String,
    /// What the records give.
    pub expected: Value,
    /// What the figure says.
    pub found: Value,
}

/// What checking a figure found.
#[derive(Clone, Debug, Default)]
pub struct FigureReport {
    /// `coverage`, `coverage_members`, `headlines` or `member_history`.
    pub statistic: String,
    /// A one-line account of what the figure is (year, org, rule set, as-of point).
    pub subject: String,
    /// How many values (numbers, lists, event-id sets) were compared.
    pub compared: usize,
    pub differences: Vec<Difference>,
    /// Things said but not checked (e.g. headline figures without evidence).
    pub notes: Vec<String>,
}

impl FigureReport {
    pub fn holds(&self) -> bool {
        self.differences.is_empty()
    }

    fn compare(&mut self, figure: impl Into<String>, expected: Value, found: &Value) {
        self.compared += 1;
        if normalize_numbers(&expected) != normalize_numbers(found) {
            self.differences.push(Difference {
                figure: figure.into(),
                expected,
                found: found.clone(),
            });
        }
    }

    /// Two lists compared as sets: the difference names what is missing and what is extra.
    fn compare_set(&mut self, figure: impl Into<String>, expected: &[String], found: &Value) {
        self.compared += 1;
        let found_set: BTreeSet<String> = strings(found).into_iter().collect();
        let expected_set: BTreeSet<String> = expected.iter().cloned().collect();
        if found_set != expected_set || !found.is_array() {
            let missing: Vec<&String> = expected_set.difference(&found_set).collect();
            let extra: Vec<&String> = found_set.difference(&expected_set).collect();
            self.differences.push(Difference {
                figure: format!(
                    "{} (missing from the figure: {}; not in the records: {})",
                    figure.into(),
                    list_or_none(&missing),
                    list_or_none(&extra)
                ),
                expected: json!(expected_set),
                found: found.clone(),
            });
        }
    }
}

fn list_or_none(items: &[&String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn to_date(d: &str) -> Option<Date> {
    parse_date(d)
}

/// The page of a complete list the figure shows (`evidence.offset`, `evidence.limit`).
fn page<T: Clone>(all: &[T], offset: usize, limit: Option<usize>) -> Vec<T> {
    all.iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .cloned()
        .collect()
}

/// Checks `figure` (the JSON of a statistic answered with evidence) against `records`: the
/// export's records in log order, checked against signed checkpoints, of which the first
/// `checkpoint_size` are the figure's checkpoint's. An `Err` is a file that is not a figure
/// with evidence, or records that cannot stand behind it (its checkpoint does not cover its
/// as-of position); figures that differ are the report's `differences`.
pub fn check_figure(
    figure: &Value,
    records: &[Value],
    checkpoint_size: usize,
) -> Result<FigureReport, String> {
    let evidence = &figure["evidence"];
    if !evidence.is_object() {
        return Err("no `evidence`: fetch the statistic with `evidence=true`".to_owned());
    }
    if evidence["format"] != EVIDENCE_FORMAT {
        return Err(format!(
            "evidence.format is {}, this verifier reads `{EVIDENCE_FORMAT}`",
            evidence["format"]
        ));
    }
    let statistic = evidence["statistic"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let zone_name = evidence["time_zone"].as_str().unwrap_or_default();
    let zone = Zone::named(zone_name)
        .ok_or_else(|| format!("evidence.time_zone `{zone_name}`: unknown"))?;
    let rules = RuleSpec::from_json(&evidence["rule_set"]["rules"])
        .map_err(|e| format!("evidence.rule_set.rules: {e}"))?;
    let as_of = figure["as_of"]["position"]
        .as_i64()
        .ok_or("as_of.position: missing")?;
    let year = figure["year"].as_i64().map(|y| y as i32);
    let org = figure["org"].as_str();
    let offset = evidence["offset"].as_u64().unwrap_or(0) as usize;
    let limit = evidence["limit"].as_u64().map(|l| l as usize);

    let mut report = FigureReport {
        statistic: statistic.clone(),
        ..FigureReport::default()
    };

    // The rule set: the one the answer names, and, when shipped, the shipped one.
    for key in ["id", "hash"] {
        report.compare(
            format!("evidence.rule_set.{key} (the rule set the answer names)"),
            figure["rule_set"][key].clone(),
            &evidence["rule_set"][key],
        );
    }
    let hash = evidence["rule_set"]["hash"].as_str().unwrap_or_default();
    match crate::shipped_by_hash(hash) {
        Some(shipped) => {
            report.compared += 1;
            if shipped != rules {
                report.differences.push(Difference {
                    figure: "evidence.rule_set.rules (the shipped rule set of that hash)"
                        .to_owned(),
                    expected: json!(format!("{shipped:?}")),
                    found: json!(format!("{rules:?}")),
                });
            }
        }
        None => report.notes.push(format!(
            "rule set `{}` (hash {hash}) is not one of the shipped ones: recomputed with the \
             rules the figure states; compare them with the operator's rule set file",
            rules.id
        )),
    }

    // The records up to the as-of position: the first `records` of the log, all under the
    // figure's checkpoint.
    let upto: Vec<(usize, &Value)> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r["position"].as_i64().is_some_and(|p| p <= as_of))
        .collect();
    if let Some((index, r)) = upto.iter().find(|(i, _)| *i >= checkpoint_size) {
        return Err(format!(
            "the figure's checkpoint ({checkpoint_size} records) does not cover its as-of \
             position {as_of}: record {} (line {}, position {}) lies at or before it",
            r["event_id"].as_str().unwrap_or("?"),
            index + 1,
            r["position"]
        ));
    }
    report.compare(
        "evidence.records (records at or before the as-of position)",
        json!(upto.len()),
        &evidence["records"],
    );
    let last = upto.last().map(|(_, r)| *r);
    report.compare(
        "evidence.last_position",
        json!(last.map_or(0, |r| r["position"].as_i64().unwrap_or(0))),
        &evidence["last_position"],
    );

    // The anchor of an as-of answer: the local date of the last record's `recorded_at`.
    let stated_reference = figure["reference_date"].as_str().and_then(to_date);
    let anchor = match last.and_then(|r| r["recorded_at"].as_str()) {
        Some(at) => zone
            .local_date(at)
            .ok_or_else(|| format!("recorded_at `{at}` of the as-of record: unreadable"))?,
        None => {
            report.notes.push(
                "no record at or before the as-of position: the reference date is the figure's"
                    .to_owned(),
            );
            stated_reference.ok_or("reference_date: missing")?
        }
    };
    let reference_of = |y: i32| if y == anchor.0 { anchor } else { (y, 12, 31) };
    let reference = reference_of(year.unwrap_or(anchor.0));
    report.compare(
        "reference_date",
        json!(date_string(reference)),
        &figure["reference_date"],
    );

    let world = World::fold_in(records, Some(as_of), zone);
    report.subject = format!(
        "{statistic}{} {} org {} under {} as of position {as_of} ({} records, reference date {})",
        match (
            &statistic[..],
            evidence["status"].as_str(),
            evidence["member_id"].as_str()
        ) {
            ("coverage_members", Some(s), _) => format!(" ({s})"),
            ("member_history", _, Some(m)) => format!(" of {m}"),
            _ => String::new(),
        },
        year.map_or("every year".to_owned(), |y| format!("year {y}")),
        org.unwrap_or("(all)"),
        rules.id,
        upto.len(),
        date_string(reference)
    );

    // Members the figure's numbers stand on; each must have its events in `evidence.members`.
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    let need_year = || year.ok_or("year: missing".to_owned());
    match statistic.as_str() {
        "coverage" => {
            let all = world.coverage_with_members(need_year()?, org, &rules, reference);
            let expected = page(&all, offset, limit);
            let found = figure["rows"].as_array().cloned().unwrap_or_default();
            report.compare(
                "rows (how many)",
                json!(expected.len()),
                &json!(found.len()),
            );
            for (i, (row, members)) in expected.iter().enumerate() {
                let Some(f) = found.get(i) else { break };
                let what = format!(
                    "rows[{i}] (org {}, group {})",
                    row["org_id"].as_str().unwrap_or_default(),
                    row["group"].as_str().unwrap_or_default()
                );
                for key in ["org_id", "group"] {
                    report.compare(format!("{what}.{key}"), row[key].clone(), &f[key]);
                }
                for key in [
                    "in_scope",
                    "reached",
                    "compliant",
                    "reached_rate",
                    "compliant_rate",
                ] {
                    report.compare(format!("{what}.{key}"), row[key].clone(), &f[key]);
                }
                for (key, list) in [
                    ("in_scope", &members.in_scope),
                    ("reached", &members.reached),
                    ("compliant", &members.compliant),
                ] {
                    report.compare_set(
                        format!("{what}.evidence.{key} (members)"),
                        list,
                        &f["evidence"][key],
                    );
                }
                referenced.extend(members.in_scope.iter().cloned());
            }
        }
        "coverage_members" => {
            let status = evidence["status"].as_str().unwrap_or_default();
            if status != "unreached" && status != "noncompliant" {
                return Err(format!("evidence.status `{status}`: unknown"));
            }
            let all = world.coverage_members(need_year()?, org, &rules, reference, status);
            let expected = page(&all, offset, limit);
            let found = figure["members"].as_array().cloned().unwrap_or_default();
            report.compare(
                "members (how many)",
                json!(expected.len()),
                &json!(found.len()),
            );
            for (i, m) in expected.iter().enumerate() {
                let Some(f) = found.get(i) else { break };
                let what = format!(
                    "members[{i}] ({})",
                    m["member_id"].as_str().unwrap_or_default()
                );
                for key in [
                    "member_id",
                    "name",
                    "org_id",
                    "groups",
                    "credited_hours",
                    "required_hours",
                ] {
                    report.compare(format!("{what}.{key}"), m[key].clone(), &f[key]);
                }
                referenced.insert(m["member_id"].as_str().unwrap_or_default().to_owned());
            }
        }
        "headlines" => {
            let (members, reached) = world.reach(need_year()?, org, &rules, reference);
            let f = &figure["figures"];
            report.compare("figures.members", json!(members.len()), &f["members"]);
            report.compare(
                "figures.members_reached",
                json!(reached.len()),
                &f["members_reached"],
            );
            report.compare_set(
                "figures.evidence.members",
                &members,
                &f["evidence"]["members"],
            );
            report.compare_set(
                "figures.evidence.members_reached",
                &reached,
                &f["evidence"]["members_reached"],
            );
            let others: Vec<&String> = f
                .as_object()
                .map(|o| {
                    o.keys()
                        .filter(|k| {
                            !["members", "members_reached", "evidence"].contains(&k.as_str())
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !others.is_empty() {
                report.notes.push(format!(
                    "not recomputed (no evidence is offered for them): figures.{}",
                    others
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", figures.")
                ));
            }
            referenced.extend(members);
        }
        "member_history" => {
            let member = evidence["member_id"]
                .as_str()
                .ok_or("evidence.member_id: missing")?;
            report.compare("member_id", json!(member), &figure["member_id"]);
            let Some(history) = world.member_history(member, year, &rules, anchor) else {
                report.differences.push(Difference {
                    figure: format!("member {member}"),
                    expected: json!("no such member in the records"),
                    found: json!("a history"),
                });
                return Ok(report);
            };
            let entries = page(
                history["entries"].as_array().map_or(&[][..], Vec::as_slice),
                offset,
                limit,
            );
            let found = figure["entries"].as_array().cloned().unwrap_or_default();
            report.compare(
                "entries (how many)",
                json!(entries.len()),
                &json!(found.len()),
            );
            for (i, e) in entries.iter().enumerate() {
                let Some(f) = found.get(i) else { break };
                let what = format!(
                    "entries[{i}] ({} {})",
                    e["kind"].as_str().unwrap_or_default(),
                    e["record_id"].as_str().unwrap_or_default()
                );
                let keys: Vec<&String> = e
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                for key in keys {
                    report.compare(format!("{what}.{key}"), e[key].clone(), &f[key]);
                }
                // `void_reason` appears only when voided: an extra one is a difference too.
                if e.get("void_reason").is_none() && f.get("void_reason").is_some() {
                    report.compare(
                        format!("{what}.void_reason"),
                        Value::Null,
                        &f["void_reason"],
                    );
                }
            }
            report.compare("years", history["years"].clone(), &figure["years"]);
            referenced.insert(member.to_owned());
        }
        other => return Err(format!("evidence.statistic `{other}`: unknown")),
    }

    // The events behind the members: their registry events and credited records.
    let in_view = |y: i32| match (statistic.as_str(), year) {
        ("member_history", None) => true,
        (_, Some(wanted)) => y == wanted,
        (_, None) => false,
    };
    let stated: BTreeMap<String, Value> = evidence["members"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let listed: BTreeSet<String> = stated.keys().cloned().collect();
    report.compare_set(
        "evidence.members (the members the figures count)",
        &referenced.iter().cloned().collect::<Vec<_>>(),
        &json!(listed),
    );
    for member in referenced.iter().filter(|m| listed.contains(*m)) {
        let registry = world.registry_events(member).unwrap_or_default().to_vec();
        report.compare_set(
            format!("evidence.members.{member}.registry (event ids)"),
            &registry,
            &stated[member]["registry"],
        );
        let credited = world.credited_events(member, &rules, in_view);
        report.compare_set(
            format!("evidence.members.{member}.credited (event ids)"),
            &credited,
            &stated[member]["credited"],
        );
    }
    if statistic != "member_history" {
        let orgs: BTreeMap<String, String> = world.org_events(org);
        report.compare(
            "evidence.org_units (OrgUnitEstablished event ids)",
            json!(orgs),
            &evidence["org_units"],
        );
    }
    Ok(report)
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: the records give {}, the figure says {}",
            self.figure, self.expected, self.found
        )
    }
}
