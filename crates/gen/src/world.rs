//! What the generator tracks of the history it writes, so that every event it emits passes the
//! domain's validation without asking the domain: org units, members and where they belong,
//! who is enrolled (in pools that can be sampled), and who holds which role.
//!
//! Members are indices into [`World::members`]; pools hold the indices of the enrolled ones.

use chrono::{Datelike, NaiveDate};
use partyedu_domain::kinds::{Employment, OrgKind, Role};
use partyedu_domain::{Id, Text, UniqueList};
use rand::Rng;

/// "No member" in a member reference.
pub(crate) const NOBODY: u32 = u32::MAX;

/// An org unit; its index in [`World::orgs`] is how the generator refers to it.
pub(crate) struct Org {
    pub id: String,
    pub name: String,
    pub kind: OrgKind,
    /// Index into the community lists (the organ branch counts as a community of its own).
    pub community: usize,
    /// Party groups under a branch.
    pub children: Vec<u32>,
}

/// How often a member studies online by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Habit {
    Never,
    Monthly,
    Weekly,
    /// Several times a week: far above the yearly cap on credited online hours.
    Daily,
}

pub(crate) struct Member {
    pub name: String,
    pub birth_year: u16,
    pub joined_on: NaiveDate,
    pub employment: Employment,
    /// The grid branch or party group the member belongs to.
    pub unit: u32,
    /// Positions in the global, community and unit pools, valid while enrolled.
    pos: [u32; 3],
    pub enrolled: bool,
    pub mobile: bool,
    pub frail: bool,
    pub hardship: bool,
    pub probationary: bool,
    /// How many role slots the member holds. Role holders stay put: they do not leave, move,
    /// go away or fall frail while they hold a role, so a slot always has an enrolled holder.
    pub roles: u8,
    pub habit: Habit,
    pub buddy: u32,
    /// Bumped whenever the member leaves, comes back, goes away or returns: tasks scheduled
    /// for an earlier epoch (the next online study, the next contact) are stale.
    pub epoch: u16,
    /// The day index of leaving, for a member who left and may come back.
    pub left_day: u32,
}

impl Member {
    pub fn age(&self, year: i32) -> i32 {
        year - i32::from(self.birth_year)
    }

    /// Can take part in activities held on site.
    pub fn present(&self) -> bool {
        !self.mobile && !self.frail
    }

    /// Can be moved, sent away or struck off without leaving a role unheld.
    pub fn free(&self) -> bool {
        self.roles == 0 && !self.mobile
    }
}

/// A role at an org unit, held by one member at a time.
pub(crate) struct Slot {
    pub role: Role,
    pub org: u32,
    pub holder: u32,
}

const GLOBAL: usize = 0;
const COMMUNITY: usize = 1;
const UNIT: usize = 2;

#[derive(Default)]
pub(crate) struct World {
    pub orgs: Vec<Org>,
    /// Per community (the organ branch last): the org unit that organises its activities.
    pub community_orgs: Vec<u32>,
    /// Per community: its member-holding units (branches and party groups).
    pub units: Vec<Vec<u32>>,
    /// Per community: its grid branches (those that post micro-wishes).
    pub grids: Vec<Vec<u32>>,
    /// Per community (not the organ): its retirees' branch.
    pub retirees: Vec<u32>,
    pub members: Vec<Member>,
    pub global: Vec<u32>,
    pub by_community: Vec<Vec<u32>>,
    pub by_unit: Vec<Vec<u32>>,
    pub slots: Vec<Slot>,
    /// Members who left for a reason that lets them come back.
    pub left: Vec<u32>,
    pub lecturers: Vec<String>,
    /// Venue ids: the party school, the on-site teaching points, the community learning points
    /// (with their community) and the external bases.
    pub school: String,
    pub onsite: Vec<String>,
    pub learning_points: Vec<(String, usize)>,
    pub external: Vec<String>,
}

impl World {
    pub fn member_id(index: u32) -> Id {
        parse_id(format!("M-{:06}", index + 1))
    }

    pub fn org_id(&self, org: u32) -> Id {
        parse_id(self.orgs[org as usize].id.clone())
    }

    pub fn member(&self, index: u32) -> &Member {
        &self.members[index as usize]
    }

    pub fn member_mut(&mut self, index: u32) -> &mut Member {
        &mut self.members[index as usize]
    }

    pub fn community_of(&self, unit: u32) -> usize {
        self.orgs[unit as usize].community
    }

    pub fn add_org(&mut self, id: String, name: String, kind: OrgKind, community: usize) -> u32 {
        self.orgs.push(Org {
            id,
            name,
            kind,
            community,
            children: Vec::new(),
        });
        self.by_unit.push(Vec::new());
        (self.orgs.len() - 1) as u32
    }

    /// A new member record, not yet placed in any pool.
    pub fn add_member(&mut self, member: Member) -> u32 {
        self.members.push(member);
        (self.members.len() - 1) as u32
    }

    /// Puts an enrolled member into the pools of `unit`.
    pub fn place(&mut self, index: u32, unit: u32) {
        let community = self.community_of(unit);
        let member = &mut self.members[index as usize];
        member.unit = unit;
        member.enrolled = true;
        member.pos[GLOBAL] = push(&mut self.global, index);
        member.pos[COMMUNITY] = push(&mut self.by_community[community], index);
        member.pos[UNIT] = push(&mut self.by_unit[unit as usize], index);
    }

    /// Takes a member out of every pool (leaving, or before a transfer).
    pub fn unplace(&mut self, index: u32) {
        let member = &self.members[index as usize];
        let (pos, unit) = (member.pos, member.unit as usize);
        let community = self.orgs[unit].community;
        swap_out(&mut self.global, &mut self.members, pos[GLOBAL], GLOBAL);
        swap_out(
            &mut self.by_community[community],
            &mut self.members,
            pos[COMMUNITY],
            COMMUNITY,
        );
        swap_out(&mut self.by_unit[unit], &mut self.members, pos[UNIT], UNIT);
        self.members[index as usize].enrolled = false;
    }

    /// The members of a branch and of its party groups, into `into`.
    pub fn branch_members(&self, branch: u32, into: &mut Vec<u32>) {
        into.clear();
        into.extend_from_slice(&self.by_unit[branch as usize]);
        for &group in &self.orgs[branch as usize].children {
            into.extend_from_slice(&self.by_unit[group as usize]);
        }
    }

    /// The holders of the "head geese" roles (community secretaries and committee members,
    /// grid and branch secretaries), of one community or of all, without repeats.
    pub fn head_geese(&self, community: Option<usize>, into: &mut Vec<u32>) {
        into.clear();
        into.extend(
            self.slots
                .iter()
                .filter(|slot| {
                    matches!(
                        slot.role,
                        Role::CommunitySecretary
                            | Role::CommitteeMember
                            | Role::GridSecretary
                            | Role::BranchSecretary
                    ) && community.is_none_or(|c| self.orgs[slot.org as usize].community == c)
                })
                .map(|slot| slot.holder),
        );
        into.sort_unstable();
        into.dedup();
    }
}

pub(crate) fn new_member(
    name: String,
    birth_year: u16,
    joined_on: NaiveDate,
    employment: Employment,
) -> Member {
    Member {
        name,
        birth_year,
        joined_on,
        employment,
        unit: 0,
        pos: [0; 3],
        enrolled: false,
        mobile: false,
        frail: false,
        hardship: false,
        probationary: false,
        roles: 0,
        habit: Habit::Never,
        buddy: NOBODY,
        epoch: 0,
        left_day: 0,
    }
}

fn push(pool: &mut Vec<u32>, index: u32) -> u32 {
    pool.push(index);
    (pool.len() - 1) as u32
}

fn swap_out(pool: &mut Vec<u32>, members: &mut [Member], pos: u32, slot: usize) {
    let pos = pos as usize;
    pool.swap_remove(pos);
    if let Some(&moved) = pool.get(pos) {
        members[moved as usize].pos[slot] = pos as u32;
    }
}

/// An id the generator formats itself; a bad one is a bug here.
pub(crate) fn parse_id(text: String) -> Id {
    text.parse()
        .unwrap_or_else(|e| panic!("generated id {text:?}: {e}"))
}

/// Text the generator composes itself; a blank one is a bug here.
pub(crate) fn text(text: impl Into<String>) -> Text {
    let text = text.into();
    text.parse()
        .unwrap_or_else(|e| panic!("generated text {text:?}: {e}"))
}

/// The ids of distinct members.
pub(crate) fn member_ids(members: &[u32]) -> UniqueList<Id> {
    UniqueList::new(members.iter().map(|&m| World::member_id(m)).collect())
        .unwrap_or_else(|at| panic!("member {} listed twice", members[at]))
}

/// Up to `k` distinct members of `pool` for which `keep` holds, in random order: a partial
/// Fisher–Yates shuffle over a copy in `scratch`, stopping once `k` are found.
pub(crate) fn pick(
    rng: &mut impl Rng,
    scratch: &mut Vec<u32>,
    pool: &[u32],
    k: usize,
    mut keep: impl FnMut(u32) -> bool,
) -> Vec<u32> {
    scratch.clear();
    scratch.extend_from_slice(pool);
    let mut picked = Vec::with_capacity(k.min(pool.len()));
    let len = scratch.len();
    for i in 0..len {
        if picked.len() == k {
            break;
        }
        let j = rng.random_range(i..len);
        scratch.swap(i, j);
        if keep(scratch[i]) {
            picked.push(scratch[i]);
        }
    }
    picked
}

/// One random member of `pool` for which `keep` holds, by random probes (most predicates
/// hold for a fair share of a pool); `None` when the probes find none.
pub(crate) fn pick_one(
    rng: &mut impl Rng,
    pool: &[u32],
    mut keep: impl FnMut(u32) -> bool,
) -> Option<u32> {
    if pool.is_empty() {
        return None;
    }
    (0..400)
        .map(|_| pool[rng.random_range(0..pool.len())])
        .find(|&index| keep(index))
}

/// `date` moved forward to a Monday when it falls on a weekend.
pub(crate) fn weekday_on_or_after(date: NaiveDate) -> NaiveDate {
    match date.weekday().num_days_from_monday() {
        5 => date + chrono::Days::new(2),
        6 => date + chrono::Days::new(1),
        _ => date,
    }
}
