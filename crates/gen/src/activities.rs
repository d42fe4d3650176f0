//! Activities and their corrections: classes, party lectures, home visits, online study,
//! calls to mobile members, org-life meetings, study lists, the micro-wish lifecycle, and the
//! amendments and voids the office records afterwards.

use std::io;

use partyedu_domain::events::{
    AttendanceAmended, ClassHeld, HomeVisitMade, MicroWishClaimed, MicroWishFulfilled,
    MicroWishPosted, MicroWishReleased, MicroWishWithdrawn, MobileMemberContacted,
    OnlineStudyLogged, OrgLifeMeetingHeld, PartyLectureGiven, RecordVoided, StudyListIssued,
    StudyListItem,
};
use partyedu_domain::kinds::{
    ClassForm, ContactChannel, Employment, MeetingKind, OrgKind, StudyPlatform, VisitPurpose,
};
use partyedu_domain::values::NonEmptySet;
use partyedu_domain::{Id, StudyHours, Timestamp};
use rand::Rng;
use rand::seq::IndexedRandom;
use uuid::Uuid;

use crate::sim::{Amendment, ClassPlan, DATED, LecturePlan, Seq, Sim, Task, WishState};
use crate::vocab;
use crate::world::{Habit, NOBODY, World, member_ids, parse_id, pick, pick_one, text};

/// The most attendees one class or lecture takes (the largest hall).
const CLASS_CAP: usize = 600;
const LECTURE_CAP: usize = 600;

/// How a class is held, by its form.
struct ClassShape {
    titles: &'static [&'static str],
    lecturers: usize,
    venue: Option<String>,
    minutes: u32,
    /// Study hours, in hundredths.
    centi: u32,
}

fn hours(centi: u32) -> StudyHours {
    StudyHours::from_centi(centi).expect("generated study hours lie within a day")
}

fn minutes(minutes: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(minutes).expect("generated durations are positive")
}

/// `share` of `len` candidates, rounded up, within `cap`.
fn share_of(len: usize, share: f64, cap: usize) -> usize {
    ((len as f64 * share).ceil() as usize).min(cap)
}

impl<W: io::Write> Sim<'_, W> {
    /// Schedules a void of `target` a few days on, every so often as `cadence` says.
    fn maybe_void(&mut self, target: Uuid, hit: bool) {
        if hit {
            let after = self.rng.random_range(1..=10);
            let reasons = vocab::VOID_REASONS;
            self.schedule_correction(after, Task::Void { target, reasons });
        }
    }

    pub(crate) fn class(&mut self, plan: ClassPlan, key: u32) -> io::Result<()> {
        let ClassPlan {
            form,
            community,
            share,
        } = plan;
        match form {
            ClassForm::Seminar | ClassForm::Forum | ClassForm::Competition => {
                self.world.head_geese(community, &mut self.group);
            }
            _ => {
                let pool = match community {
                    Some(c) => &self.world.by_community[c],
                    None => &self.world.global,
                };
                self.group.clone_from(pool);
            }
        }
        let k = match form {
            ClassForm::FieldTrip => self.rng.random_range(25..=45),
            ClassForm::NightSchool => self.rng.random_range(25..=60),
            _ => share_of(self.group.len(), share, CLASS_CAP),
        };
        let world = &self.world;
        let candidate = |m: u32| {
            let m = world.member(m);
            match form {
                // Members away and frail members follow online classes too.
                ClassForm::Online => true,
                ClassForm::NightSchool => m.present() && m.employment == Employment::Retired,
                _ => m.present(),
            }
        };
        let mut attendees = pick(&mut self.rng, &mut self.scratch, &self.group, k, candidate);
        if attendees.is_empty() {
            return Ok(());
        }
        attendees.sort_unstable();
        let shape = self.class_shape(form, community);
        let campaign = (form == ClassForm::Concentrated && self.rng.random_bool(0.5))
            .then(|| text(vocab::pick(&mut self.rng, vocab::CAMPAIGNS)));
        let lecturer_ids = self
            .world
            .lecturers
            .choose_multiple(&mut self.rng, shape.lecturers)
            .map(|id| parse_id(id.clone()))
            .collect();
        let class_id = self.next_id(Seq::Class);
        let starts_at = self.at(key);
        let event = ClassHeld {
            class_id: class_id.clone(),
            title: text(vocab::pick(&mut self.rng, shape.titles)),
            form,
            organizer_org_id: self
                .world
                .org_id(self.world.community_orgs[community.unwrap_or(self.subdistrict())]),
            venue_id: shape.venue.map(parse_id),
            starts_at: Timestamp::from_datetime(starts_at),
            duration_minutes: minutes(shape.minutes),
            study_hours: hours(shape.centi),
            lecturer_ids: partyedu_domain::UniqueList::new(lecturer_ids)
                .expect("lecturers are chosen without repeats"),
            attendee_ids: member_ids(&attendees),
            campaign,
        };
        let organiser = community.unwrap_or(self.subdistrict());
        let event_id = self.emit_at(event, starts_at, organiser)?;
        if self.cadence.class_amended.hit() {
            self.plan_amendment(class_id, &attendees);
        } else {
            // The article's table counts the classes held: there a class's mistakes are
            // amended, never voided away.
            let hit = self.cadence.class_voided.hit() && !self.scale.article;
            self.maybe_void(event_id, hit);
        }
        Ok(())
    }

    /// How a class of `form` is held: its titles, lecturers, venue, length and study hours
    /// (local practice: a half day is 4 hours, a day 8).
    fn class_shape(&mut self, form: ClassForm, community: Option<usize>) -> ClassShape {
        let learning_point = self.learning_point(community);
        let school = Some(self.world.school.clone());
        let rng = &mut self.rng;
        let shape = |titles, lecturers, venue, minutes, centi| ClassShape {
            titles,
            lecturers,
            venue,
            minutes,
            centi,
        };
        let article = self.scale.article;
        match form {
            // The article's full-coverage training runs a day or two (集中轮训).
            ClassForm::Concentrated if article && rng.random_bool(0.4) => {
                shape(vocab::CONCENTRATED_TITLES, 2, school, 840, 1600)
            }
            ClassForm::Concentrated if article => {
                shape(vocab::CONCENTRATED_TITLES, 2, school, 420, 800)
            }
            ClassForm::Concentrated if rng.random_bool(0.3) => {
                shape(vocab::CONCENTRATED_TITLES, 2, school, 420, 800)
            }
            ClassForm::Concentrated => shape(
                vocab::CONCENTRATED_TITLES,
                rng.random_range(1..=2),
                learning_point.or(school),
                210,
                400,
            ),
            ClassForm::Seminar => shape(vocab::SEMINAR_TITLES, 1, school, 150, 300),
            ClassForm::Online => {
                shape(vocab::ONLINE_TITLES, rng.random_range(0..=1), None, 90, 150)
            }
            ClassForm::FieldTrip => {
                let places: Vec<&String> = self
                    .world
                    .onsite
                    .iter()
                    .chain(&self.world.external)
                    .collect();
                let place = places.choose(rng).map(|id| (*id).clone());
                shape(
                    vocab::FIELD_TRIP_TITLES,
                    rng.random_range(0..=1),
                    place,
                    240,
                    400,
                )
            }
            ClassForm::Forum => shape(vocab::FORUM_TITLES, 0, learning_point.or(school), 150, 300),
            ClassForm::Competition => shape(vocab::COMPETITION_TITLES, 0, school, 180, 300),
            ClassForm::NightSchool => shape(
                vocab::NIGHT_SCHOOL_TITLES,
                1,
                learning_point.or(school),
                90,
                200,
            ),
        }
    }

    /// A learning point of the community, if it has one.
    fn learning_point(&mut self, community: Option<usize>) -> Option<String> {
        let community = community?;
        let points: Vec<&String> = self
            .world
            .learning_points
            .iter()
            .filter(|(_, c)| *c == community)
            .map(|(id, _)| id)
            .collect();
        points.choose(&mut self.rng).map(|id| (*id).clone())
    }

    /// Decides a later correction of a class's attendance: members who attended but were not
    /// on the sheet, and members put on it by mistake. Candidates are in `self.group`.
    fn plan_amendment(&mut self, class_id: Id, attendees: &[u32]) {
        let removed: Vec<u32> = if attendees.len() > 2 && self.rng.random_bool(0.5) {
            let n = self.rng.random_range(1..=2);
            attendees
                .choose_multiple(&mut self.rng, n)
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        let mut added = Vec::new();
        let wanted = if removed.is_empty() {
            self.rng.random_range(1..=3)
        } else {
            self.rng.random_range(0..=2)
        };
        let world = &self.world;
        for _ in 0..wanted {
            let found = pick_one(&mut self.rng, &self.group, |m| {
                world.member(m).present()
                    && attendees.binary_search(&m).is_err()
                    && !added.contains(&m)
            });
            added.extend(found);
        }
        if added.is_empty() && removed.is_empty() {
            return;
        }
        let amendment = Amendment {
            class_id,
            added,
            removed,
            voided_later: self.cadence.amendment_voided.hit(),
        };
        let after = self.rng.random_range(1..=6);
        self.schedule_correction(after, Task::Amend(Box::new(amendment)));
    }

    pub(crate) fn amend(&mut self, amendment: Amendment, key: u32) -> io::Result<()> {
        let mut added = amendment.added;
        let mut removed = amendment.removed;
        added.sort_unstable();
        removed.sort_unstable();
        let reasons = match (added.is_empty(), removed.is_empty()) {
            (false, true) => vocab::AMEND_ADD_REASONS,
            (true, false) => vocab::AMEND_REMOVE_REASONS,
            _ => vocab::AMEND_BOTH_REASONS,
        };
        let event = AttendanceAmended {
            class_id: amendment.class_id,
            added: member_ids(&added),
            removed: member_ids(&removed),
            reason: text(vocab::pick(&mut self.rng, reasons)),
        };
        let at = self.at(key);
        let event_id = self.emit_at(event, at, self.subdistrict())?;
        if amendment.voided_later {
            let after = self.rng.random_range(1..=4);
            let reasons = vocab::AMEND_VOID_REASONS;
            self.schedule_correction(
                after,
                Task::Void {
                    target: event_id,
                    reasons,
                },
            );
        }
        Ok(())
    }

    pub(crate) fn void(
        &mut self,
        target: Uuid,
        reasons: &'static [&'static str],
        key: u32,
    ) -> io::Result<()> {
        let event = RecordVoided {
            event_id: target,
            reason: text(vocab::pick(&mut self.rng, reasons)),
        };
        let at = self.at(key);
        self.emit_at(event, at, self.subdistrict())?;
        Ok(())
    }

    pub(crate) fn lecture(&mut self, plan: LecturePlan, key: u32) -> io::Result<()> {
        let LecturePlan {
            slot,
            audience,
            share,
        } = plan;
        let speaker = self.world.slots[slot].holder;
        let org = &self.world.orgs[audience as usize];
        let community = org.community;
        match org.kind {
            OrgKind::Community => self.group.clone_from(&self.world.by_community[community]),
            OrgKind::Subdistrict => self.group.clone_from(&self.world.global),
            OrgKind::GridBranch | OrgKind::PartyGroup => {
                self.world.branch_members(audience, &mut self.group);
            }
        }
        let k = share_of(self.group.len(), share, LECTURE_CAP);
        let world = &self.world;
        let mut attendees = pick(&mut self.rng, &mut self.scratch, &self.group, k, |m| {
            m != speaker && world.member(m).present()
        });
        if attendees.is_empty() {
            return Ok(());
        }
        attendees.sort_unstable();
        let venue = match org.kind {
            OrgKind::Community => self
                .learning_point(Some(community))
                .or_else(|| Some(self.world.school.clone())),
            _ => None,
        };
        let long = self.rng.random_bool(0.5);
        let given_at = self.at(key);
        let event = PartyLectureGiven {
            lecture_id: self.next_id(Seq::Lecture),
            speaker_id: World::member_id(speaker),
            title: text(vocab::pick(&mut self.rng, vocab::LECTURE_TITLES)),
            audience_org_id: self.world.org_id(audience),
            given_at: Timestamp::from_datetime(given_at),
            duration_minutes: minutes(if long { 120 } else { 90 }),
            study_hours: hours(if long { 200 } else { 150 }),
            attendee_ids: member_ids(&attendees),
            venue_id: venue.map(parse_id),
        };
        let event_id = self.emit_at(event, given_at, community)?;
        let hit = self.cadence.lecture.hit();
        self.maybe_void(event_id, hit);
        Ok(())
    }

    /// Study delivered, books brought, a care visit or a "political birthday" at a frail
    /// member's home, by one or two of their community's secretaries and committee members.
    pub(crate) fn home_visit(&mut self) -> io::Result<()> {
        let world = &self.world;
        let Some(visited) = pick_one(&mut self.rng, &world.global, |m| {
            let m = world.member(m);
            m.frail && !m.mobile
        }) else {
            return Ok(());
        };
        let community = world.community_of(world.member(visited).unit);
        self.world.head_geese(Some(community), &mut self.group);
        let n = self.rng.random_range(1..=2);
        let world = &self.world;
        let mut visitors = pick(&mut self.rng, &mut self.scratch, &self.group, n, |m| {
            m != visited
        });
        if visitors.is_empty() {
            visitors.extend(pick_one(
                &mut self.rng,
                &world.by_community[community],
                |m| m != visited && world.member(m).present(),
            ));
        }
        visitors.sort_unstable();
        let mut purposes = match self.rng.random_range(0..10) {
            0..4 => vec![
                VisitPurpose::HomeStudyDelivery,
                VisitPurpose::BooksDelivered,
            ],
            4..7 => vec![VisitPurpose::HomeStudyDelivery],
            7..8 => vec![VisitPurpose::CareVisit],
            _ => vec![VisitPurpose::BooksDelivered, VisitPurpose::CareVisit],
        };
        // A visit in the month the member joined the party celebrates it.
        if chrono::Datelike::month(&world.member(visited).joined_on)
            == chrono::Datelike::month(&self.today)
        {
            purposes.push(VisitPurpose::PoliticalBirthday);
        }
        let delivers = purposes.contains(&VisitPurpose::HomeStudyDelivery);
        let centi = if delivers {
            self.rng.random_range(1..=2) * 100
        } else {
            0
        };
        let note = self
            .rng
            .random_bool(0.5)
            .then(|| text(vocab::pick(&mut self.rng, vocab::VISIT_NOTES)));
        let event = HomeVisitMade {
            visit_id: self.next_id(Seq::Visit),
            member_id: World::member_id(visited),
            visitor_ids: member_ids(&visitors),
            visited_on: self.date(),
            purposes: purpose_set(&purposes),
            study_hours: hours(centi),
            note,
        };
        let event_id = self.emit_dated(event, community)?;
        let hit = self.cadence.visit.hit();
        self.maybe_void(event_id, hit);
        Ok(())
    }

    /// The member's online study habit; away from home, at least weekly.
    fn habit_of(&self, member: u32) -> Habit {
        let record = self.world.member(member);
        if record.mobile {
            record.habit.max(Habit::Weekly)
        } else {
            record.habit
        }
    }

    /// Days until the member's next online study, `None` for a member who does not.
    pub(crate) fn study_gap(&mut self, member: u32) -> Option<u32> {
        let range = match self.habit_of(member) {
            Habit::Never => return None,
            Habit::Monthly => 20..=45,
            Habit::Weekly => 6..=14,
            Habit::Daily => 2..=5,
        };
        Some(self.rng.random_range(range))
    }

    pub(crate) fn online_study(&mut self, member: u32, epoch: u16) -> io::Result<()> {
        let record = self.world.member(member);
        if !record.enrolled || record.epoch != epoch {
            return Ok(());
        }
        let community = self.world.community_of(record.unit);
        // Hours a session, in quarters: a monthly or weekly habit stays around the yearly cap
        // of credited online hours (16), a daily one goes far beyond it.
        let quarters = match self.habit_of(member) {
            Habit::Monthly => 2..=6,
            Habit::Weekly => 1..=2,
            Habit::Never | Habit::Daily => 2..=6,
        };
        let platform = match self.rng.random_range(0..20) {
            0..10 => StudyPlatform::XuexiQiangguo,
            10..16 => StudyPlatform::LighthouseClassroom,
            16..19 => StudyPlatform::ShandongOnlineAcademy,
            _ => StudyPlatform::Other,
        };
        let event = OnlineStudyLogged {
            log_id: self.next_id(Seq::Log),
            member_id: World::member_id(member),
            platform,
            studied_on: self.date(),
            study_hours: hours(self.rng.random_range(quarters) * 25),
        };
        let event_id = self.emit_dated(event, community)?;
        let hit = self.cadence.online.hit();
        self.maybe_void(event_id, hit);
        if let Some(gap) = self.study_gap(member) {
            self.schedule(gap, DATED, Task::OnlineStudy { member, epoch });
        }
        Ok(())
    }

    /// The buddy's regular call to a member who is away (a new buddy first, if theirs left).
    pub(crate) fn contact(&mut self, member: u32, epoch: u16) -> io::Result<()> {
        let record = self.world.member(member);
        if !record.enrolled || !record.mobile || record.epoch != epoch {
            return Ok(());
        }
        let community = self.world.community_of(record.unit);
        let buddy = record.buddy;
        let buddy = if buddy != NOBODY && self.world.member(buddy).enrolled {
            Some(buddy)
        } else {
            self.assign_buddy(member)?
        };
        if let Some(buddy) = buddy {
            let channel = match self.rng.random_range(0..20) {
                0..12 => ContactChannel::Phone,
                12..16 => ContactChannel::Video,
                16..19 => ContactChannel::Message,
                _ => ContactChannel::InPerson,
            };
            let note = self
                .rng
                .random_bool(0.5)
                .then(|| text(vocab::pick(&mut self.rng, vocab::CONTACT_NOTES)));
            let event = MobileMemberContacted {
                contact_id: self.next_id(Seq::Contact),
                member_id: World::member_id(member),
                contacted_by: World::member_id(buddy),
                contacted_on: self.date(),
                channel,
                note,
            };
            let event_id = self.emit_dated(event, community)?;
            let hit = self.cadence.contact.hit();
            self.maybe_void(event_id, hit);
        }
        let after = self.rng.random_range(25..=75);
        self.schedule(after, DATED, Task::Contact { member, epoch });
        Ok(())
    }

    /// A meeting of a branch (with its party groups) or of a party group. Members away or
    /// frail are excused, as are a few who cannot come.
    pub(crate) fn meeting(&mut self, unit: u32, kind: MeetingKind) -> io::Result<()> {
        if kind == MeetingKind::PartyGroupMeeting {
            self.group.clone_from(&self.world.by_unit[unit as usize]);
        } else {
            self.world.branch_members(unit, &mut self.group);
        }
        let world = &self.world;
        let (mut attendees, mut excused) = (Vec::new(), Vec::new());
        if kind == MeetingKind::BranchCommitteeMeeting {
            attendees.extend(
                world
                    .slots
                    .iter()
                    .filter(|slot| slot.org == unit)
                    .map(|slot| slot.holder),
            );
            let n = self.rng.random_range(2..=4);
            let committee = pick(&mut self.rng, &mut self.scratch, &self.group, n, |m| {
                world.member(m).present() && !attendees.contains(&m)
            });
            attendees.extend(committee);
        } else {
            for &m in &self.group {
                if world.member(m).present() {
                    if self.rng.random_bool(0.88) {
                        attendees.push(m);
                    } else if self.rng.random_bool(0.3) {
                        excused.push(m);
                    }
                } else if excused.len() < 6 {
                    excused.push(m);
                }
            }
        }
        if attendees.is_empty() {
            return Ok(());
        }
        attendees.sort_unstable();
        excused.sort_unstable();
        let event = OrgLifeMeetingHeld {
            meeting_id: self.next_id(Seq::Meeting),
            branch_id: self.world.org_id(unit),
            kind,
            held_on: self.date(),
            attendee_ids: member_ids(&attendees),
            excused_ids: member_ids(&excused),
        };
        let community = self.world.community_of(unit);
        let event_id = self.emit_dated(event, community)?;
        let hit = self.cadence.meeting.hit();
        self.maybe_void(event_id, hit);
        Ok(())
    }

    /// The month's list of speeches, documents and books to study.
    pub(crate) fn study_list(&mut self) -> io::Result<()> {
        let n = self.rng.random_range(2..=4);
        let items = vocab::STUDY_ITEMS
            .choose_multiple(&mut self.rng, n)
            .map(|&(title, kind)| StudyListItem {
                title: text(title),
                kind: text(kind),
            })
            .collect();
        let event = StudyListIssued {
            list_id: self.next_id(Seq::List),
            title: text(format!(
                "{}年{}月党员学习清单",
                self.year(),
                chrono::Datelike::month(&self.today)
            )),
            issued_on: self.date(),
            items,
        };
        self.emit_dated(event, self.subdistrict())?;
        Ok(())
    }

    pub(crate) fn post_wish(&mut self) -> io::Result<()> {
        let community = self.rng.random_range(0..self.scale.communities);
        let Some(&grid) = self.world.grids[community].choose(&mut self.rng) else {
            return Ok(());
        };
        let &(title, category) = vocab::WISH_TITLES
            .choose(&mut self.rng)
            .expect("wish titles exist");
        let id = self.next_id(Seq::Wish);
        let event = MicroWishPosted {
            wish_id: id.clone(),
            grid_id: self.world.org_id(grid),
            title: text(title),
            category,
            posted_on: self.date(),
        };
        self.emit_dated(event, community)?;
        let wish = WishState {
            id,
            community,
            claimer: NOBODY,
            released: false,
        };
        let after = self.rng.random_range(1..=12);
        self.schedule(after, DATED, Task::Wish(Box::new(wish)));
        Ok(())
    }

    /// The next step of a wish: an open one is claimed (now and then withdrawn instead); a
    /// claimed one is fulfilled, or once in a while given back.
    pub(crate) fn wish_step(&mut self, mut wish: WishState) -> io::Result<()> {
        let community = wish.community;
        let next_in = if wish.claimer == NOBODY {
            if self.rng.random_bool(0.08) {
                let event = MicroWishWithdrawn {
                    wish_id: wish.id,
                    withdrawn_on: self.date(),
                    reason: text(vocab::pick(&mut self.rng, vocab::WITHDRAW_REASONS)),
                };
                self.emit_dated(event, community)?;
                return Ok(());
            }
            let world = &self.world;
            let claimer = pick_one(&mut self.rng, &world.by_community[community], |m| {
                world.member(m).present()
            });
            match claimer {
                Some(claimer) => {
                    let event = MicroWishClaimed {
                        wish_id: wish.id.clone(),
                        member_id: World::member_id(claimer),
                        claimed_on: self.date(),
                    };
                    self.emit_dated(event, community)?;
                    wish.claimer = claimer;
                    self.rng.random_range(3..=25)
                }
                None => 7,
            }
        } else if !wish.released && self.rng.random_bool(0.15) {
            let event = MicroWishReleased {
                wish_id: wish.id.clone(),
                member_id: World::member_id(wish.claimer),
                released_on: self.date(),
                reason: text(vocab::pick(&mut self.rng, vocab::RELEASE_REASONS)),
            };
            self.emit_dated(event, community)?;
            wish.claimer = NOBODY;
            wish.released = true;
            self.rng.random_range(2..=10)
        } else {
            let note = self
                .rng
                .random_bool(0.5)
                .then(|| text(vocab::pick(&mut self.rng, vocab::FULFIL_NOTES)));
            let event = MicroWishFulfilled {
                wish_id: wish.id,
                fulfilled_on: self.date(),
                note,
            };
            self.emit_dated(event, community)?;
            return Ok(());
        };
        self.schedule(next_in, DATED, Task::Wish(Box::new(wish)));
        Ok(())
    }
}

/// A visit's purposes. `NonEmptySet` has no public constructor: it is made the way the
/// domain makes it, by parsing.
fn purpose_set(purposes: &[VisitPurpose]) -> NonEmptySet<VisitPurpose> {
    serde_json::to_value(purposes)
        .and_then(serde_json::from_value)
        .expect("a visit has distinct purposes")
}
