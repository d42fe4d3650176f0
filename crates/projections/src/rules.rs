//! Rule sets: what counts as study and what each member must reach. Data, not code: one TOML
//! file each in `projections/`, validated at load, identified by id, version and content hash.

use partyedu_domain::kinds::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// A record kind that can credit study hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditSource {
    Class,
    PartyLecture,
    /// A home visit with purpose `home_study_delivery`.
    HomeStudyDelivery,
    OnlineStudy,
    OrgLifeMeeting,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Credit {
    pub sources: Vec<CreditSource>,
    /// Online study credits at most this many hours a year.
    pub online_cap_hours: Option<u32>,
}

/// Who falls in a requirement group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Members {
    /// Frail on the reference date.
    Frail,
    /// Held one of the group's roles in the year.
    Roles,
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Exempt from hours: compliant when reached.
    Reached,
    /// At least `min_hours`, and `min_concentrated_classes` concentrated classes.
    Hours,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    pub members: Members,
    #[serde(default)]
    pub roles: Vec<Role>,
    pub requirement: Requirement,
    #[serde(default)]
    pub min_hours: u32,
    #[serde(default)]
    pub min_concentrated_classes: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ledgers {
    pub frail_visit_overdue_days: u32,
    pub mobile_contact_overdue_days: u32,
}

/// A rule set as written in its file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetFile {
    pub id: String,
    pub version: u32,
    pub period: String,
    pub source: String,
    pub credit: Credit,
    pub groups: Vec<Group>,
    pub ledgers: Ledgers,
}

/// A loaded, validated rule set with its content hash.
#[derive(Clone, Debug)]
pub struct RuleSet {
    pub rules: RuleSetFile,
    /// SHA-256 of the file's bytes, hex.
    pub hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleSetError {
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
    #[error("reading {file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("two rule sets have the id `{0}`")]
    DuplicateId(String),
}

impl RuleSet {
    /// Parses and validates one rule set; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<RuleSet, RuleSetError> {
        let invalid = |problem: String| RuleSetError::Invalid {
            file: file.to_owned(),
            problem,
        };
        let rules: RuleSetFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if rules.period != "calendar_year" {
            return Err(invalid(format!(
                "period: only `calendar_year` is supported, not `{}`",
                rules.period
            )));
        }
        if rules.groups.is_empty() {
            return Err(invalid("groups: at least one requirement group".to_owned()));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, group) in rules.groups.iter().enumerate() {
            if !names.insert(group.name.as_str()) {
                return Err(invalid(format!("groups[{i}].name: `{}` twice", group.name)));
            }
            if (group.members == Members::Roles) == group.roles.is_empty() {
                return Err(invalid(format!(
                    "groups[{i}].roles: given exactly when members = \"roles\""
                )));
            }
            if group.requirement == Requirement::Hours && group.min_hours == 0 {
                return Err(invalid(format!(
                    "groups[{i}].min_hours: an hours requirement needs min_hours > 0"
                )));
            }
            if group.min_hours > 10_000 {
                return Err(invalid(format!("groups[{i}].min_hours: implausibly large")));
            }
        }
        if rules.groups.last().map(|g| g.members) != Some(Members::All) {
            return Err(invalid(
                "groups: the last group must take all members, so everyone has a requirement"
                    .to_owned(),
            ));
        }
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(RuleSet { rules, hash })
    }

    pub fn id(&self) -> &str {
        &self.rules.id
    }

    pub fn credits(&self, source: CreditSource) -> bool {
        self.rules.credit.sources.contains(&source)
    }

    /// The online cap in hundredths of an hour.
    pub fn online_cap_centi(&self) -> Option<i64> {
        self.rules
            .credit
            .online_cap_hours
            .map(|h| i64::from(h) * 100)
    }
}

/// Every rule set of a folder, by id.
#[derive(Clone, Debug, Default)]
pub struct RuleBook {
    sets: BTreeMap<String, RuleSet>,
}

/// The rule sets the binary carries: the repository's `projections/`, embedded at build time so
/// that an installed binary needs no checkout (a test keeps this list equal to the folder).
const SHIPPED: &[(&str, &str)] = &[
    (
        "cn-2019-hours.toml",
        include_str!("../../../projections/cn-2019-hours.toml"),
    ),
    (
        "no-online-credit.toml",
        include_str!("../../../projections/no-online-credit.toml"),
    ),
    (
        "reach-all.toml",
        include_str!("../../../projections/reach-all.toml"),
    ),
];

impl RuleBook {
    /// The shipped rule sets (see [`SHIPPED`]).
    pub fn shipped() -> RuleBook {
        let mut book = RuleBook::default();
        for (file, text) in SHIPPED {
            let set = RuleSet::parse(&format!("(shipped) {file}"), text)
                .expect("the shipped rule sets are valid: a test parses them");
            book.insert(set)
                .expect("the shipped rule sets have distinct ids");
        }
        book
    }

    /// The shipped rule sets, with those of `dir` added; one with a shipped id replaces it.
    pub fn shipped_and(dir: Option<&Path>) -> Result<RuleBook, RuleSetError> {
        let mut book = RuleBook::shipped();
        if let Some(dir) = dir {
            for (id, set) in RuleBook::load(dir)?.sets {
                book.sets.insert(id, set);
            }
        }
        Ok(book)
    }

    /// Loads every `*.toml` in `dir`.
    pub fn load(dir: &Path) -> Result<RuleBook, RuleSetError> {
        let io = |source| RuleSetError::Io {
            file: dir.display().to_string(),
            source,
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        let mut book = RuleBook::default();
        for path in paths {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|source| RuleSetError::Io {
                file: name.clone(),
                source,
            })?;
            book.insert(RuleSet::parse(&name, &text)?)?;
        }
        Ok(book)
    }

    pub fn insert(&mut self, set: RuleSet) -> Result<(), RuleSetError> {
        if self.sets.contains_key(set.id()) {
            return Err(RuleSetError::DuplicateId(set.id().to_owned()));
        }
        self.sets.insert(set.id().to_owned(), set);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&RuleSet> {
        self.sets.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.sets.keys().map(String::as_str)
    }

    /// Every rule set, by id.
    pub fn sets(&self) -> impl Iterator<Item = &RuleSet> {
        self.sets.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> RuleBook {
        RuleBook::shipped()
    }

    /// The embedded rule sets are exactly the folder's files, byte for byte.
    #[test]
    fn the_binary_carries_every_rule_set_of_the_folder() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../projections");
        let from_folder = RuleBook::load(&dir).unwrap();
        let carried = RuleBook::shipped();
        assert_eq!(
            carried.ids().collect::<Vec<_>>(),
            from_folder.ids().collect::<Vec<_>>()
        );
        for id in carried.ids() {
            assert_eq!(
                carried.get(id).unwrap().hash,
                from_folder.get(id).unwrap().hash
            );
        }
    }

    /// `--rules-dir` adds rule sets and replaces shipped ones of the same id.
    #[test]
    fn a_folder_adds_and_overrides() {
        let dir = std::env::temp_dir().join(format!("partyedu-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = SHIPPED[0].1;
        std::fs::write(
            dir.join("a.toml"),
            text.replace("version = 1", "version = 2"),
        )
        .unwrap();
        std::fs::write(
            dir.join("b.toml"),
            text.replace("id = \"cn-2019-hours\"", "id = \"local\""),
        )
        .unwrap();
        let book = RuleBook::shipped_and(Some(&dir)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(book.get("cn-2019-hours").unwrap().rules.version, 2);
        assert!(book.get("local").is_some() && book.get("reach-all").is_some());
    }

    #[test]
    fn the_shipped_rule_sets_load() {
        let book = shipped();
        let default = book.get("cn-2019-hours").unwrap();
        assert_eq!(default.rules.groups.len(), 3);
        assert_eq!(default.online_cap_centi(), Some(1600));
        assert_eq!(default.hash.len(), 64);
        assert!(book.get("reach-all").is_some());
    }

    #[test]
    fn bad_rule_sets_are_refused_with_the_place() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../projections/cn-2019-hours.toml"),
        )
        .unwrap();
        let cases = [
            (
                text.replace("min_hours = 32", "min_hours = 0"),
                "groups[2].min_hours",
            ),
            (
                text.replace("\"community_secretary\", ", "\"mayor\", "),
                "unknown variant",
            ),
            (
                text.replace("period = \"calendar_year\"", "period = \"quarter\""),
                "period",
            ),
            (
                text.replace("online_cap_hours", "online_limit"),
                "unknown field",
            ),
            (
                text.replace("name = \"leaders\"", "name = \"frail\""),
                "groups[1].name",
            ),
        ];
        for (bad, expected) in cases {
            let err = RuleSet::parse("x.toml", &bad).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should mention {expected}");
        }
    }
}
