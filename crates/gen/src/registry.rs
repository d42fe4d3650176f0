//! Registry events: opening the ledger (org units, venues, members, lecturers, roles), and the
//! members' lives after that: joining, leaving and coming back, moving, going away and
//! returning, care status, becoming full members, role changes, renamed and new units, and
//! corrected details.

use std::io;

use chrono::{Datelike, Days, NaiveDate};
use partyedu_domain::events::{
    BuddyAssigned, LecturerEnlisted, MemberBecameFull, MemberCareStatusChanged,
    MemberDetailsCorrected, MemberEnrolled, MemberLeft, MemberReenrolled, MemberReturned,
    MemberTransferred, MemberWentMobile, OrgUnitEstablished, OrgUnitRenamed, RoleAssigned,
    RoleEnded, VenueOpened,
};
use partyedu_domain::kinds::{
    Employment, LeaveReason, LecturerKind, Membership, MobileReason, OrgKind, Role, VenueKind,
};
use rand::Rng;
use rand::seq::IndexedRandom;

use crate::sim::{DATED, REGISTRY, Sim, Task};
use crate::vocab;
use crate::world::{
    Habit, Member, NOBODY, Slot, World, new_member, parse_id, pick, pick_one, text,
};

/// Yearly rates, as fractions of the enrolled members.
const JOIN: f64 = 0.04;
const LEAVE: f64 = 0.03;
const TRANSFER: f64 = 0.03;
const GO_MOBILE: f64 = 0.022;
const CARE_CHANGE: f64 = 0.02;
/// Of those who left other than by death, the share a year who come back.
const COME_BACK: f64 = 0.10;
/// The share of members away (mobile) when the ledger opens.
const AWAY_AT_START: f64 = 0.03;

/// Who a new member record is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Newcomer {
    /// On the rolls when the ledger opens.
    Initial,
    /// Works in the subdistrict organ.
    Staff,
    /// Newly admitted to the party: probationary for a year.
    Recruit,
    /// A member transferring in from elsewhere.
    TransferIn,
}

impl<W: io::Write> Sim<'_, W> {
    /// Day one: the ledger opens with the org tree, the venues, the members on the rolls, the
    /// lecturer team and the role holders; some members are away already.
    pub(crate) fn setup(&mut self) -> io::Result<()> {
        self.org_tree()?;
        self.venues()?;
        let organ = self.subdistrict();
        for i in 0..self.scale.initial_members {
            if i < self.scale.organ_staff {
                self.enrol_new(Newcomer::Staff, organ)?;
            } else {
                let community = self.rng.random_range(0..self.scale.communities);
                self.enrol_new(Newcomer::Initial, community)?;
            }
        }
        self.lecturers()?;
        self.initial_roles()?;
        let away = (self.world.global.len() as f64 * AWAY_AT_START).round() as usize;
        for _ in 0..away {
            if let Some(member) = self.mobile_candidate() {
                self.go_mobile(member)?;
            }
        }
        for member in 0..self.world.members.len() as u32 {
            if !self.world.member(member).mobile {
                self.start_chains(member);
            }
        }
        Ok(())
    }

    fn org_tree(&mut self) -> io::Result<()> {
        let communities = self.scale.communities;
        let organ_community = self.subdistrict();
        let world = &mut self.world;
        world.by_community = vec![Vec::new(); communities + 1];
        world.units = vec![Vec::new(); communities + 1];
        world.grids = vec![Vec::new(); communities + 1];
        let sd = world.add_org(
            "SD-FSXQ".into(),
            vocab::SUBDISTRICT.into(),
            OrgKind::Subdistrict,
            organ_community,
        );
        self.establish(sd, None)?;
        for c in 0..communities {
            let name = vocab::COMMUNITIES.get(c).map_or_else(
                || format!("浮山新区第{}社区", c + 1),
                |name| (*name).to_owned(),
            );
            let org = self
                .world
                .add_org(format!("C{:02}", c + 1), name, OrgKind::Community, c);
            self.establish(org, Some(sd))?;
            self.world.community_orgs.push(org);
        }
        // The organ's own activities are the subdistrict's.
        self.world.community_orgs.push(sd);
        let organ = self.world.add_org(
            "SD-FSXQ-JG".into(),
            vocab::ORGAN_BRANCH.into(),
            OrgKind::GridBranch,
            organ_community,
        );
        self.establish(organ, Some(sd))?;
        self.world.units[organ_community].push(organ);
        for g in 0..self.scale.grid_branches {
            let (c, number) = (g % communities, g / communities + 1);
            let community_org = self.world.community_orgs[c];
            let community_name = &self.world.orgs[community_org as usize].name;
            let name = format!("{community_name}第{number}网格党支部");
            let id = format!("C{:02}-G{number:02}", c + 1);
            let branch = self.world.add_org(id, name, OrgKind::GridBranch, c);
            self.establish(branch, Some(community_org))?;
            self.world.units[c].push(branch);
            self.world.grids[c].push(branch);
            if self.rng.random_bool(1.0 / 3.0) {
                for _ in 0..self.rng.random_range(2..=3) {
                    self.add_party_group(branch)?;
                }
            }
        }
        for c in 0..communities {
            let community_org = self.world.community_orgs[c];
            let name = format!(
                "{}离退休党员党支部",
                self.world.orgs[community_org as usize].name
            );
            let id = format!("C{:02}-LT", c + 1);
            let branch = self.world.add_org(id, name, OrgKind::GridBranch, c);
            self.establish(branch, Some(community_org))?;
            self.world.retirees.push(branch);
        }
        Ok(())
    }

    fn establish(&mut self, org: u32, parent: Option<u32>) -> io::Result<()> {
        let unit = &self.world.orgs[org as usize];
        let event = OrgUnitEstablished {
            org_id: self.world.org_id(org),
            name: text(unit.name.as_str()),
            kind: unit.kind,
            parent_id: parent.map(|p| self.world.org_id(p)),
            established_on: self.date(),
        };
        let organ = self.subdistrict();
        self.emit_dated(event, organ)?;
        Ok(())
    }

    fn add_party_group(&mut self, branch: u32) -> io::Result<u32> {
        let parent = &self.world.orgs[branch as usize];
        let number = parent.children.len() + 1;
        let (id, name) = (
            format!("{}-P{number}", parent.id),
            format!("{}第{number}党小组", parent.name),
        );
        let community = parent.community;
        let group = self.world.add_org(id, name, OrgKind::PartyGroup, community);
        self.world.orgs[branch as usize].children.push(group);
        self.world.units[community].push(group);
        self.establish(group, Some(branch))?;
        Ok(group)
    }

    fn venues(&mut self) -> io::Result<()> {
        let communities = self.scale.communities;
        let sd = self.world.community_orgs[communities];
        let mut venues = vec![(
            "V-SCHOOL".to_owned(),
            vocab::SCHOOL.to_owned(),
            VenueKind::PartySchool,
            sd,
        )];
        for (i, name) in vocab::ONSITE_POINTS.iter().enumerate() {
            // The renovation project lies in 浮山后四社区; the exhibition hall is the subdistrict's.
            let org = if i == 0 {
                self.world.community_orgs[3.min(communities - 1)]
            } else {
                sd
            };
            venues.push((
                format!("V-ONSITE-{}", i + 1),
                (*name).to_owned(),
                VenueKind::OnsiteTeachingPoint,
                org,
            ));
        }
        for i in 0..6 {
            let c = i % communities;
            let org = self.world.community_orgs[c];
            let place = if i < communities {
                "党员活动室"
            } else {
                "网格党群服务站"
            };
            let name = format!("{}{place}学习点", self.world.orgs[org as usize].name);
            venues.push((
                format!("V-LP-{}", i + 1),
                name,
                VenueKind::CommunityLearningPoint,
                org,
            ));
            self.world
                .learning_points
                .push((format!("V-LP-{}", i + 1), c));
        }
        for (i, name) in vocab::EXTERNAL_BASES.iter().enumerate() {
            venues.push((
                format!("V-EXT-{}", i + 1),
                (*name).to_owned(),
                VenueKind::ExternalBase,
                sd,
            ));
        }
        for (id, name, kind, org) in venues {
            match kind {
                VenueKind::PartySchool => self.world.school = id.clone(),
                VenueKind::OnsiteTeachingPoint => self.world.onsite.push(id.clone()),
                VenueKind::ExternalBase => self.world.external.push(id.clone()),
                VenueKind::CommunityLearningPoint => {}
            }
            let event = VenueOpened {
                venue_id: parse_id(id),
                name: text(name),
                kind,
                org_id: self.world.org_id(org),
                opened_on: self.date(),
            };
            self.emit_dated(event, self.subdistrict())?;
        }
        Ok(())
    }

    /// A person of the given sort, as of today.
    fn person(&mut self, newcomer: Newcomer) -> Member {
        let rng = &mut self.rng;
        let year = self.today.year();
        let (employment, age) = match newcomer {
            Newcomer::Staff => (Employment::InService, rng.random_range(28..=55)),
            Newcomer::Recruit if rng.random_bool(0.85) => {
                (Employment::InService, rng.random_range(20..=40))
            }
            Newcomer::Recruit => (Employment::Other, rng.random_range(20..=40)),
            Newcomer::Initial | Newcomer::TransferIn => match rng.random::<f64>() {
                // Retirees lean to their sixties and seventies; some are past ninety.
                r if r < 0.25 => (
                    Employment::Retired,
                    60 + (rng.random::<f64>().powf(1.6) * 33.0) as i32,
                ),
                r if r < 0.93 => (Employment::InService, rng.random_range(23..=59)),
                _ => (Employment::Other, rng.random_range(20..=64)),
            },
        };
        let birth_year = (year - age).max(1900);
        let probationary = newcomer == Newcomer::Recruit
            || (newcomer == Newcomer::Initial && rng.random_bool(0.02));
        let joined_on = if probationary {
            self.today - Days::new(rng.random_range(5..=300))
        } else {
            let join_age = rng.random_range(18..=(age - 1).clamp(18, 45));
            let date = NaiveDate::from_ymd_opt(
                birth_year + join_age,
                rng.random_range(1..=12),
                rng.random_range(1..=28),
            )
            .expect("a day of the year");
            // A full member has been in the party for more than a year.
            date.min(self.today - Days::new(400))
        };
        let frail_odds = match (employment, age) {
            (Employment::Retired, 80..) => 0.55,
            (Employment::Retired, 75..) => 0.3,
            (Employment::Retired, 70..) => 0.15,
            (Employment::Retired, _) => 0.05,
            _ if newcomer == Newcomer::Initial || newcomer == Newcomer::TransferIn => 0.005,
            _ => 0.0,
        };
        let mut member = new_member(
            vocab::person_name(rng),
            birth_year as u16,
            joined_on,
            employment,
        );
        member.frail = rng.random_bool(frail_odds);
        member.hardship = newcomer != Newcomer::Staff && rng.random_bool(0.015);
        member.probationary = probationary;
        // The article's members use the study platforms more (its 灯塔大课堂, 学习强国).
        let never = if self.scale.article { 0.05 } else { 0.35 };
        member.habit = match rng.random::<f64>() {
            _ if member.frail => {
                if rng.random_bool(0.2) {
                    Habit::Monthly
                } else {
                    Habit::Never
                }
            }
            r if r < never => Habit::Never,
            r if r < 0.65 => Habit::Monthly,
            r if r < 0.93 => Habit::Weekly,
            _ => Habit::Daily,
        };
        member
    }

    /// A branch or party group of `community` for a member; retirees half the time in the
    /// retirees' branch.
    fn choose_unit(&mut self, community: usize, retired: bool) -> u32 {
        match self.world.retirees.get(community) {
            Some(&branch) if retired && self.rng.random_bool(0.5) => branch,
            _ => *self.world.units[community]
                .choose(&mut self.rng)
                .expect("every community has a branch"),
        }
    }

    fn enrol_new(&mut self, newcomer: Newcomer, community: usize) -> io::Result<u32> {
        let member = self.person(newcomer);
        let unit = self.choose_unit(community, member.employment == Employment::Retired);
        let index = self.world.add_member(member);
        let member = self.world.member(index);
        let event = MemberEnrolled {
            member_id: World::member_id(index),
            name: text(member.name.as_str()),
            branch_id: self.world.org_id(unit),
            membership: if member.probationary {
                Membership::Probationary
            } else {
                Membership::Full
            },
            joined_on: partyedu_domain::Date::from_naive(member.joined_on),
            enrolled_on: self.date(),
            birth_year: Some(member.birth_year),
            employment: member.employment,
            frail: member.frail,
            hardship: member.hardship,
        };
        let full_on = member.joined_on + Days::new(365);
        let probationary = member.probationary;
        self.emit_dated(event, community)?;
        self.world.place(index, unit);
        if probationary {
            let after = (full_on - self.today).num_days().max(1) as u32;
            self.schedule(after, REGISTRY, Task::BecomeFull(index));
        }
        if self.day > 0 {
            self.start_chains(index);
        }
        Ok(index)
    }

    fn lecturers(&mut self) -> io::Result<()> {
        const KINDS: [LecturerKind; 10] = [
            LecturerKind::PropagandaTeam,
            LecturerKind::Exemplar,
            LecturerKind::RoleModel,
            LecturerKind::VeteranMember,
            LecturerKind::PropagandaTeam,
            LecturerKind::Expert,
            LecturerKind::Exemplar,
            LecturerKind::VeteranMember,
            LecturerKind::PropagandaTeam,
            LecturerKind::Official,
        ];
        for i in 0..self.scale.lecturers {
            let kind = KINDS[i % KINDS.len()];
            let members = &self.world.members;
            let member = match kind {
                LecturerKind::Expert | LecturerKind::Official => None,
                LecturerKind::VeteranMember => pick_one(&mut self.rng, &self.world.global, |m| {
                    let m = &members[m as usize];
                    m.present() && m.employment == Employment::Retired
                }),
                _ => pick_one(&mut self.rng, &self.world.global, |m| {
                    members[m as usize].present()
                }),
            };
            let name = match member {
                Some(m) => self.world.member(m).name.clone(),
                None => vocab::person_name(&mut self.rng),
            };
            let id = format!("L-{:02}", i + 1);
            let event = LecturerEnlisted {
                lecturer_id: parse_id(id.clone()),
                name: text(name),
                kind,
                member_id: member.map(World::member_id),
                enlisted_on: self.date(),
            };
            self.emit_dated(event, self.subdistrict())?;
            self.world.lecturers.push(id);
        }
        Ok(())
    }

    fn initial_roles(&mut self) -> io::Result<()> {
        let organ_community = self.subdistrict();
        let sd = self.world.community_orgs[organ_community];
        let organ = self.world.units[organ_community][0];
        for _ in 0..self.scale.leaders {
            self.add_slot(Role::SubdistrictLeader, sd)?;
        }
        self.add_slot(Role::BranchSecretary, organ)?;
        for c in 0..self.scale.communities {
            let community = self.world.community_orgs[c];
            self.add_slot(Role::CommunitySecretary, community)?;
            for _ in 0..self.scale.committee {
                self.add_slot(Role::CommitteeMember, community)?;
            }
        }
        for org in 0..self.world.orgs.len() as u32 {
            let role = match self.world.orgs[org as usize].kind {
                _ if org == organ => continue,
                OrgKind::GridBranch if self.world.retirees.contains(&org) => Role::BranchSecretary,
                OrgKind::GridBranch => Role::GridSecretary,
                OrgKind::PartyGroup => Role::PartyGroupLeader,
                OrgKind::Subdistrict | OrgKind::Community => continue,
            };
            self.add_slot(role, org)?;
        }
        Ok(())
    }

    /// A new role slot at `org` with a holder, when someone suitable is enrolled there.
    fn add_slot(&mut self, role: Role, org: u32) -> io::Result<()> {
        if let Some(holder) = self.role_candidate(role, org, NOBODY) {
            self.assign(role, org, holder)?;
            self.world.slots.push(Slot { role, org, holder });
        }
        Ok(())
    }

    fn assign(&mut self, role: Role, org: u32, holder: u32) -> io::Result<()> {
        let event = RoleAssigned {
            member_id: World::member_id(holder),
            role,
            org_id: self.world.org_id(org),
            on: self.date(),
        };
        self.emit_dated(event, self.world.orgs[org as usize].community)?;
        self.world.member_mut(holder).roles += 1;
        Ok(())
    }

    /// Someone to hold `role` at `org`: present, under 70, preferably without another role,
    /// never `except`, and never someone who holds this very role there already.
    fn role_candidate(&mut self, role: Role, org: u32, except: u32) -> Option<u32> {
        let unit = &self.world.orgs[org as usize];
        match role {
            Role::SubdistrictLeader => {
                let organ = self.world.units[self.subdistrict()][0];
                self.group.clone_from(&self.world.by_unit[organ as usize]);
            }
            Role::CommunitySecretary | Role::CommitteeMember => {
                self.group
                    .clone_from(&self.world.by_community[unit.community]);
            }
            Role::GridSecretary | Role::BranchSecretary => {
                self.world.branch_members(org, &mut self.group);
            }
            Role::PartyGroupLeader => self.group.clone_from(&self.world.by_unit[org as usize]),
        }
        let (world, year) = (&self.world, self.today.year());
        let suitable = |m: u32| {
            let member = world.member(m);
            m != except && member.present() && member.age(year) < 70
        };
        pick_one(&mut self.rng, &self.group, |m| {
            suitable(m) && world.member(m).roles == 0
        })
        .or_else(|| {
            pick_one(&mut self.rng, &self.group, |m| {
                suitable(m)
                    && !world
                        .slots
                        .iter()
                        .any(|s| s.holder == m && s.role == role && s.org == org)
            })
        })
    }

    /// The day's joining, leaving, coming back, moving, going away and care changes.
    pub(crate) fn daily_registry(&mut self) -> io::Result<()> {
        let per_day = self.world.global.len() as f64 / 365.0;
        for _ in 0..self.count(per_day * JOIN) {
            let (newcomer, community) = if self.rng.random_bool(0.03) {
                (Newcomer::Staff, self.subdistrict())
            } else if self.rng.random_bool(0.4) {
                (
                    Newcomer::Recruit,
                    self.rng.random_range(0..self.scale.communities),
                )
            } else {
                (
                    Newcomer::TransferIn,
                    self.rng.random_range(0..self.scale.communities),
                )
            };
            self.enrol_new(newcomer, community)?;
        }
        for _ in 0..self.count(per_day * LEAVE) {
            self.leave()?;
        }
        for _ in 0..self.count(per_day * TRANSFER) {
            self.transfer()?;
        }
        for _ in 0..self.count(per_day * GO_MOBILE) {
            if let Some(member) = self.mobile_candidate() {
                self.go_mobile(member)?;
            }
        }
        for _ in 0..self.count(per_day * CARE_CHANGE) {
            self.care_change()?;
        }
        let back = self.world.left.len() as f64 * COME_BACK / 365.0;
        for _ in 0..self.count(back) {
            self.reenrol()?;
        }
        Ok(())
    }

    fn leave(&mut self) -> io::Result<()> {
        let (reason, old) = match self.rng.random::<f64>() {
            r if r < 0.35 => (LeaveReason::Deceased, true),
            r if r < 0.9 => (LeaveReason::TransferredOut, false),
            _ => (LeaveReason::Other, false),
        };
        let (world, year) = (&self.world, self.today.year());
        let Some(member) = pick_one(&mut self.rng, &world.global, |m| {
            let m = world.member(m);
            m.free() && (!old || m.age(year) >= 72)
        }) else {
            return Ok(());
        };
        let event = MemberLeft {
            member_id: World::member_id(member),
            on: self.date(),
            reason,
        };
        self.emit_dated(
            event,
            self.world.community_of(self.world.member(member).unit),
        )?;
        self.world.unplace(member);
        let day = self.day;
        let record = self.world.member_mut(member);
        record.epoch += 1;
        record.left_day = day;
        if reason != LeaveReason::Deceased {
            self.world.left.push(member);
        }
        Ok(())
    }

    fn reenrol(&mut self) -> io::Result<()> {
        let Some(i) =
            (!self.world.left.is_empty()).then(|| self.rng.random_range(0..self.world.left.len()))
        else {
            return Ok(());
        };
        let member = self.world.left[i];
        // Nobody is back within a couple of months.
        if self.day < self.world.member(member).left_day + 60 {
            return Ok(());
        }
        self.world.left.swap_remove(i);
        let community = self.rng.random_range(0..self.scale.communities);
        let retired = self.world.member(member).employment == Employment::Retired;
        let unit = self.choose_unit(community, retired);
        let event = MemberReenrolled {
            member_id: World::member_id(member),
            branch_id: self.world.org_id(unit),
            on: self.date(),
        };
        self.emit_dated(event, community)?;
        self.world.place(member, unit);
        self.world.member_mut(member).epoch += 1;
        if self.world.member(member).probationary {
            let after = self.rng.random_range(30..=120);
            self.schedule(after, REGISTRY, Task::BecomeFull(member));
        }
        self.start_chains(member);
        Ok(())
    }

    fn transfer(&mut self) -> io::Result<()> {
        let world = &self.world;
        let Some(member) = pick_one(&mut self.rng, &world.global, |m| world.member(m).free())
        else {
            return Ok(());
        };
        let (from, retired) = {
            let m = self.world.member(member);
            (m.unit, m.employment == Employment::Retired)
        };
        let community = self.world.community_of(from);
        let to = if community < self.scale.communities && self.rng.random_bool(0.75) {
            self.choose_unit(community, retired)
        } else {
            let elsewhere = self.rng.random_range(0..self.scale.communities);
            self.choose_unit(elsewhere, retired)
        };
        if to == from {
            return Ok(());
        }
        let event = MemberTransferred {
            member_id: World::member_id(member),
            to_branch_id: self.world.org_id(to),
            on: self.date(),
        };
        self.emit_dated(event, self.world.community_of(to))?;
        self.world.unplace(member);
        self.world.place(member, to);
        Ok(())
    }

    fn mobile_candidate(&mut self) -> Option<u32> {
        let (world, year) = (&self.world, self.today.year());
        pick_one(&mut self.rng, &world.global, |m| {
            let m = world.member(m);
            m.free() && m.present() && m.employment == Employment::InService && m.age(year) < 55
        })
    }

    fn go_mobile(&mut self, member: u32) -> io::Result<()> {
        let reason = match self.rng.random::<f64>() {
            r if r < 0.6 => MobileReason::Work,
            r if r < 0.85 => MobileReason::Business,
            r if r < 0.95 => MobileReason::Study,
            _ => MobileReason::Other,
        };
        let event = MemberWentMobile {
            member_id: World::member_id(member),
            since: self.date(),
            destination: text(vocab::pick(&mut self.rng, vocab::DESTINATIONS)),
            reason,
        };
        self.emit_dated(
            event,
            self.world.community_of(self.world.member(member).unit),
        )?;
        let record = self.world.member_mut(member);
        record.mobile = true;
        record.epoch += 1;
        let epoch = record.epoch;
        self.assign_buddy(member)?;
        let after = self.rng.random_range(120..=720);
        self.schedule(after, REGISTRY, Task::Return { member, epoch });
        self.start_chains(member);
        Ok(())
    }

    /// A buddy for a mobile member: one of their community's secretaries or committee
    /// members, else anyone present there. `None` when nobody else is enrolled there.
    pub(crate) fn assign_buddy(&mut self, member: u32) -> io::Result<Option<u32>> {
        let community = self.world.community_of(self.world.member(member).unit);
        self.world.head_geese(Some(community), &mut self.group);
        let world = &self.world;
        let buddy = pick_one(&mut self.rng, &self.group, |b| b != member).or_else(|| {
            pick_one(&mut self.rng, &world.by_community[community], |b| {
                b != member && world.member(b).present()
            })
        });
        if let Some(buddy) = buddy {
            let event = BuddyAssigned {
                member_id: World::member_id(member),
                buddy_id: World::member_id(buddy),
                since: self.date(),
            };
            self.emit_dated(event, community)?;
            self.world.member_mut(member).buddy = buddy;
        }
        Ok(buddy)
    }

    pub(crate) fn come_back(&mut self, member: u32, epoch: u16) -> io::Result<()> {
        let record = self.world.member(member);
        if !record.enrolled || !record.mobile || record.epoch != epoch {
            return Ok(());
        }
        let event = MemberReturned {
            member_id: World::member_id(member),
            on: self.date(),
        };
        self.emit_dated(event, self.world.community_of(record.unit))?;
        let record = self.world.member_mut(member);
        record.mobile = false;
        record.buddy = NOBODY;
        record.epoch += 1;
        self.start_chains(member);
        Ok(())
    }

    /// Schedules the member's recurring events of the current epoch: their own online study,
    /// and their buddy's calls while they are away.
    pub(crate) fn start_chains(&mut self, member: u32) {
        let record = self.world.member(member);
        let epoch = record.epoch;
        if record.mobile {
            let after = self.rng.random_range(15..=60);
            self.schedule(after, DATED, Task::Contact { member, epoch });
        }
        if let Some(gap) = self.study_gap(member) {
            let after = self.rng.random_range(1..=gap);
            self.schedule(after, DATED, Task::OnlineStudy { member, epoch });
        }
    }

    fn care_change(&mut self) -> io::Result<()> {
        let (world, year) = (&self.world, self.today.year());
        let rng = &mut self.rng;
        let change = rng.random::<f64>();
        let found = pick_one(rng, &world.global, |m| {
            let m = world.member(m);
            m.free()
                && match change {
                    c if c < 0.65 => !m.frail && m.age(year) >= 68,
                    c if c < 0.8 => m.frail,
                    _ => true,
                }
        });
        let Some(member) = found else {
            return Ok(());
        };
        let on = self.date();
        let record = self.world.member_mut(member);
        if change < 0.8 {
            record.frail = !record.frail;
        } else {
            record.hardship = !record.hardship;
        }
        let event = MemberCareStatusChanged {
            member_id: World::member_id(member),
            frail: record.frail,
            hardship: record.hardship,
            on,
        };
        let unit = record.unit;
        self.emit_dated(event, self.world.community_of(unit))?;
        Ok(())
    }

    pub(crate) fn become_full(&mut self, member: u32) -> io::Result<()> {
        let record = self.world.member(member);
        if !record.enrolled || !record.probationary {
            return Ok(());
        }
        let event = MemberBecameFull {
            member_id: World::member_id(member),
            on: self.date(),
        };
        self.emit_dated(event, self.world.community_of(record.unit))?;
        self.world.member_mut(member).probationary = false;
        Ok(())
    }

    /// A role changes hands (a re-election, a secretary stepping down).
    pub(crate) fn rotate_role(&mut self, slot: usize) -> io::Result<()> {
        let Slot { role, org, holder } = self.world.slots[slot];
        let Some(successor) = self.role_candidate(role, org, holder) else {
            return Ok(());
        };
        let event = RoleEnded {
            member_id: World::member_id(holder),
            role,
            org_id: self.world.org_id(org),
            on: self.date(),
        };
        self.emit_dated(event, self.world.orgs[org as usize].community)?;
        self.world.member_mut(holder).roles -= 1;
        self.assign(role, org, successor)?;
        self.world.slots[slot].holder = successor;
        Ok(())
    }

    /// A grid branch takes a brand name (“红帆”网格…).
    pub(crate) fn rename_unit(&mut self) -> io::Result<()> {
        let c = self.rng.random_range(0..self.scale.communities);
        let Some(&branch) = self.world.grids[c].choose(&mut self.rng) else {
            return Ok(());
        };
        let community = &self.world.orgs[self.world.community_orgs[c] as usize].name;
        let brand = vocab::pick(&mut self.rng, vocab::GRID_BRANDS);
        let name = format!("{community}“{brand}”网格党支部");
        if name == self.world.orgs[branch as usize].name {
            return Ok(());
        }
        let event = OrgUnitRenamed {
            org_id: self.world.org_id(branch),
            name: text(name.as_str()),
            on: self.date(),
        };
        self.emit_dated(event, c)?;
        self.world.orgs[branch as usize].name = name;
        Ok(())
    }

    /// A grid branch forms a new party group: a few of its members move into it, and one of
    /// them leads it.
    pub(crate) fn new_party_group(&mut self) -> io::Result<()> {
        let c = self.rng.random_range(0..self.scale.communities);
        let Some(&branch) = self.world.grids[c].choose(&mut self.rng) else {
            return Ok(());
        };
        let size = self.rng.random_range(3..=6);
        let world = &self.world;
        let movers = pick(
            &mut self.rng,
            &mut self.scratch,
            &world.by_unit[branch as usize],
            size,
            |m| world.member(m).free() && world.member(m).present(),
        );
        if movers.len() < 3 {
            return Ok(());
        }
        let group = self.add_party_group(branch)?;
        for member in movers {
            let event = MemberTransferred {
                member_id: World::member_id(member),
                to_branch_id: self.world.org_id(group),
                on: self.date(),
            };
            self.emit_dated(event, c)?;
            self.world.unplace(member);
            self.world.place(member, group);
        }
        self.add_slot(Role::PartyGroupLeader, group)
    }

    /// A clerical slip in a member's name or birth year is corrected.
    pub(crate) fn correct_details(&mut self, key: u32) -> io::Result<()> {
        let Some(member) = pick_one(&mut self.rng, &self.world.global, |_| true) else {
            return Ok(());
        };
        let latest = (self.today.year() - 18) as u16;
        let record = &self.world.members[member as usize];
        let event = if self.rng.random_bool(0.6) {
            let name = vocab::corrected_name(&mut self.rng, &record.name);
            MemberDetailsCorrected {
                member_id: World::member_id(member),
                name: Some(text(name.as_str())),
                birth_year: None,
                reason: text(vocab::pick(&mut self.rng, vocab::NAME_REASONS)),
            }
        } else {
            let old = record.birth_year;
            let shift = self.rng.random_range(1..=2);
            let year = if self.rng.random_bool(0.5) && old + shift <= latest {
                old + shift
            } else {
                old - shift
            };
            MemberDetailsCorrected {
                member_id: World::member_id(member),
                name: None,
                birth_year: Some(year),
                reason: text(vocab::pick(&mut self.rng, vocab::YEAR_REASONS)),
            }
        };
        let record = &mut self.world.members[member as usize];
        if let Some(name) = &event.name {
            record.name = name.to_string();
        }
        if let Some(year) = event.birth_year {
            record.birth_year = year;
        }
        let at = self.at(key);
        let organ = self.subdistrict();
        self.emit_at(event, at, organ)?;
        Ok(())
    }
}
