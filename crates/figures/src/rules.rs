//! Rule sets as data (CONTRACT §5): what counts as study and what each member must reach, read
//! here from the rule set's own text (TOML, as shipped in `projections/`) or from its JSON form
//! (as a figure's evidence states it), by this crate's own reading of the format.
//!
//! The two rule sets CONTRACT §4 defines are also written out from the contract's words
//! ([`Rules::Cn2019Hours`], [`Rules::ReachAll`]); a test holds them equal to the shipped files.

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A record kind that can credit study hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Class,
    PartyLecture,
    /// A home visit with purpose `home_study_delivery`.
    HomeStudyDelivery,
    OnlineStudy,
    OrgLifeMeeting,
}

/// Who falls in a requirement group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupMembers {
    /// Frail on the reference date.
    Frail,
    /// Held one of the group's roles in the year (at any org).
    Roles,
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Exempt: compliant when reached; `required_hours` 0.
    Reached,
    /// At least `min_hours` credited, and `min_concentrated_classes` credited classes of form
    /// `concentrated`.
    Hours,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Credit {
    pub sources: Vec<Source>,
    /// `OnlineStudyLogged` credits at most this many hours a year.
    #[serde(default)]
    pub online_cap_hours: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Group {
    pub name: String,
    pub members: GroupMembers,
    #[serde(default)]
    pub roles: Vec<String>,
    pub requirement: Requirement,
    #[serde(default)]
    pub min_hours: u32,
    #[serde(default)]
    pub min_concentrated_classes: u32,
}

/// What a rule set says, as far as the statistics need it (its ledgers' thresholds and its
/// legal source are not read).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RuleSpec {
    pub id: String,
    #[serde(default)]
    pub version: u32,
    pub credit: Credit,
    /// In order: a member meets the requirement of the first group they fall in.
    pub groups: Vec<Group>,
}

impl RuleSpec {
    /// A rule set file's text (TOML).
    pub fn from_toml(text: &str) -> Result<RuleSpec, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// A rule set in its JSON form.
    pub fn from_json(value: &serde_json::Value) -> Result<RuleSpec, String> {
        RuleSpec::deserialize(value).map_err(|e| e.to_string())
    }

    pub fn credits(&self, source: Source) -> bool {
        self.credit.sources.contains(&source)
    }

    /// The yearly online cap in hundredths of an hour; `None`: uncapped.
    pub fn online_cap(&self) -> Option<i64> {
        self.credit.online_cap_hours.map(|h| i64::from(h) * 100)
    }
}

/// The two rule sets of CONTRACT §4, as the contract words them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rules {
    /// `cn-2019-hours`: frail exempt (compliant when reached); leaders (`subdistrict_leader`,
    /// `community_secretary`, `committee_member`, `grid_secretary`, `branch_secretary` in Y)
    /// >= 56 h including one concentrated class; everyone else >= 32 h.
    Cn2019Hours,
    /// `reach-all`: everyone exempt, compliant when reached.
    ReachAll,
}

impl From<Rules> for RuleSpec {
    fn from(rules: Rules) -> RuleSpec {
        // Both credit classes, party lectures, home study delivery and online study, the
        // latter capped at 16 hours a year.
        let credit = Credit {
            sources: vec![
                Source::Class,
                Source::PartyLecture,
                Source::HomeStudyDelivery,
                Source::OnlineStudy,
            ],
            online_cap_hours: Some(16),
        };
        let group = |name: &str, members, roles: &[&str], requirement, hours, concentrated| Group {
            name: name.to_owned(),
            members,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            requirement,
            min_hours: hours,
            min_concentrated_classes: concentrated,
        };
        match rules {
            Rules::Cn2019Hours => RuleSpec {
                id: "cn-2019-hours".to_owned(),
                version: 1,
                credit,
                groups: vec![
                    group(
                        "frail",
                        GroupMembers::Frail,
                        &[],
                        Requirement::Reached,
                        0,
                        0,
                    ),
                    group(
                        "leaders",
                        GroupMembers::Roles,
                        &[
                            "subdistrict_leader",
                            "community_secretary",
                            "committee_member",
                            "grid_secretary",
                            "branch_secretary",
                        ],
                        Requirement::Hours,
                        56,
                        1,
                    ),
                    group(
                        "everyone",
                        GroupMembers::All,
                        &[],
                        Requirement::Hours,
                        32,
                        0,
                    ),
                ],
            },
            Rules::ReachAll => RuleSpec {
                id: "reach-all".to_owned(),
                version: 1,
                credit,
                groups: vec![group(
                    "everyone",
                    GroupMembers::All,
                    &[],
                    Requirement::Reached,
                    0,
                    0,
                )],
            },
        }
    }
}

impl From<&RuleSpec> for RuleSpec {
    fn from(spec: &RuleSpec) -> RuleSpec {
        spec.clone()
    }
}

/// The rule sets shipped in `projections/`, as text: (file name, text).
pub const SHIPPED: &[(&str, &str)] = &[
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

/// The content hash a rule set is known by: SHA-256 of the file's bytes, hex.
pub fn content_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The shipped rule set whose content hash is `hash`.
pub fn shipped_by_hash(hash: &str) -> Option<RuleSpec> {
    SHIPPED
        .iter()
        .find(|(_, text)| content_hash(text) == hash)
        .and_then(|(_, text)| RuleSpec::from_toml(text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_rule_sets_are_the_shipped_files() {
        for (rules, file) in [
            (Rules::Cn2019Hours, "cn-2019-hours.toml"),
            (Rules::ReachAll, "reach-all.toml"),
        ] {
            let text = SHIPPED.iter().find(|(f, _)| *f == file).unwrap().1;
            let shipped = RuleSpec::from_toml(text).unwrap();
            assert_eq!(shipped, RuleSpec::from(rules), "{file}");
            assert_eq!(shipped_by_hash(&content_hash(text)), Some(shipped));
        }
        for (file, text) in SHIPPED {
            RuleSpec::from_toml(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }
}
