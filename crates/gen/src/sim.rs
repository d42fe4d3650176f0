//! The day-by-day run of the history: an agenda of tasks per day, the yearly and monthly
//! plans that fill it, and the order events are written in within a day.
//!
//! Within a day: registry events first (all dated the day itself, so a member leaving today is
//! gone before today's activities are drawn, and `MemberLeft` never falls before an activity
//! already written), then the activities with a date of their own, then the corrections the
//! office records in the morning (voids, amendments, corrected details, dated by their
//! recording time), then classes and lectures by their start time. `occurred_at` therefore
//! never decreases through the output. Everything a task refers to was written on an earlier
//! day or earlier the same day, and tasks planned past `until` are never run.

use std::io::{self, Write};

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, TimeZone};
use chrono_tz::Tz;
use partyedu_domain::kinds::{ClassForm, MeetingKind, OrgKind, Role};
use partyedu_domain::time::{in_zone, local_midnight};
use partyedu_domain::{Date, Id};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::GenConfig;
use crate::emit::{Emitter, Occurred};
use crate::world::{World, parse_id, weekday_on_or_after};

/// The article's figures are for about this many members; activity counts scale from it.
const ARTICLE_MEMBERS: f64 = 4000.0;
/// Fewer members than this make no subdistrict worth the name.
const MIN_MEMBERS: usize = 10;
/// Days after the ledger opens before the first activity is recorded.
const SETUP_DAYS: u32 = 3;
/// Yearly joining less leaving and coming back, roughly: the initial rolls are this much
/// smaller a year, so that about `members` are enrolled at the end.
const NET_GROWTH: f64 = 0.012;

/// Ordering keys within a day, in seconds after local midnight where they are times.
pub(crate) const REGISTRY: u32 = 0;
pub(crate) const DATED: u32 = 1;
/// Corrections are recorded between 08:00 and 08:30, before anything is held.
const MORNING: u32 = 8 * 3600;
const MORNING_SPAN: u32 = 1800;

/// Sizes derived from the number of members.
pub(crate) struct Scale {
    /// `members / 4000`: the multiplier of the article's yearly figures (1 for the article).
    pub factor: f64,
    pub initial_members: usize,
    pub communities: usize,
    pub grid_branches: usize,
    pub leaders: usize,
    /// Members of the subdistrict organ's own branch, the leaders among them.
    pub organ_staff: usize,
    /// Committee members per community, besides its secretary.
    pub committee: usize,
    /// How much more often than the plain history's members they attend (the article's).
    pub attendance: f64,
    /// The article's subdistrict ([`GenConfig::article`]).
    pub article: bool,
    pub lecturers: usize,
}

impl Scale {
    fn new(config: &GenConfig) -> Self {
        let members = config.members.max(MIN_MEMBERS);
        let communities = members.div_ceil(600).clamp(2, 7);
        let leaders = (members / 500).clamp(1, 8);
        let growth = (1.0 + NET_GROWTH).powi(config.years.max(1) as i32);
        let factor = if config.article {
            1.0
        } else {
            members as f64 / ARTICLE_MEMBERS
        };
        Scale {
            factor,
            initial_members: ((members as f64 / growth).round() as usize).max(MIN_MEMBERS),
            communities: if config.article { 6 } else { communities },
            grid_branches: (members / 100).max(communities),
            leaders,
            organ_staff: leaders + (members / 400).clamp(2, 20),
            committee: (members / communities / 120).clamp(1, 5),
            lecturers: ((10.0 * factor).round() as usize).clamp(3, 30),
            // Measured on the demo: 1.0 leaves the median member near 18 of the 32 hours; 3.2, with
            // the article's longer concentrated training, brings about four in five to them.
            attendance: if config.article { 3.2 } else { 1.0 },
            article: config.article,
        }
    }

    /// A yearly count from the article's figure, at least `floor`.
    pub fn per_year(&self, article: f64, floor: usize) -> usize {
        ((article * self.factor).round() as usize).max(floor)
    }
}

/// A class to hold: its form, who organises it (a community, or the subdistrict), and how
/// many of the candidates attend (`share` of them, within the venue's limits).
pub(crate) struct ClassPlan {
    pub form: ClassForm,
    pub community: Option<usize>,
    pub share: f64,
}

/// A party lecture by the holder of a role slot, to an org unit's members.
pub(crate) struct LecturePlan {
    pub slot: usize,
    pub audience: u32,
    pub share: f64,
}

/// An open or claimed micro-wish, carried from step to step.
pub(crate) struct WishState {
    pub id: Id,
    pub community: usize,
    /// `NOBODY` while open.
    pub claimer: u32,
    pub released: bool,
}

/// A correction of a class's attendance, decided when the class is written.
pub(crate) struct Amendment {
    pub class_id: Id,
    pub added: Vec<u32>,
    pub removed: Vec<u32>,
    /// The amendment itself turns out wrong and is voided a few days later.
    pub voided_later: bool,
}

pub(crate) enum Task {
    DailyRegistry,
    BecomeFull(u32),
    Return {
        member: u32,
        epoch: u16,
    },
    RotateRole(usize),
    RenameUnit,
    NewPartyGroup,
    OnlineStudy {
        member: u32,
        epoch: u16,
    },
    Contact {
        member: u32,
        epoch: u16,
    },
    HomeVisit,
    Meeting {
        unit: u32,
        kind: MeetingKind,
    },
    StudyList,
    PostWish,
    Wish(Box<WishState>),
    Amend(Box<Amendment>),
    Void {
        target: Uuid,
        reasons: &'static [&'static str],
    },
    CorrectDetails,
    Class(ClassPlan),
    Lecture(LecturePlan),
}

/// Ids of activities, numbered per year.
#[derive(Clone, Copy)]
pub(crate) enum Seq {
    Class,
    Lecture,
    Visit,
    Log,
    Contact,
    Meeting,
    List,
    Wish,
}

impl Seq {
    fn prefix(self) -> (&'static str, usize) {
        match self {
            Seq::Class => ("C", 3),
            Seq::Lecture => ("PL", 3),
            Seq::Visit => ("HV", 4),
            Seq::Log => ("OS", 7),
            Seq::Contact => ("MC", 5),
            Seq::Meeting => ("MT", 6),
            Seq::List => ("SL", 2),
            Seq::Wish => ("W", 4),
        }
    }
}

/// "Every n-th one": rare corrections come at a steady rate, so that even a short history has
/// its share, from a random phase.
pub(crate) struct Cadence {
    every: u32,
    count: u32,
}

impl Cadence {
    fn new(rng: &mut impl Rng, every: u32) -> Self {
        Cadence {
            every,
            count: rng.random_range(0..every),
        }
    }

    pub fn hit(&mut self) -> bool {
        self.count += 1;
        if self.count >= self.every {
            self.count = 0;
        }
        self.count == 0
    }
}

pub(crate) struct Cadences {
    pub class_amended: Cadence,
    pub class_voided: Cadence,
    pub amendment_voided: Cadence,
    pub lecture: Cadence,
    pub visit: Cadence,
    pub online: Cadence,
    pub contact: Cadence,
    pub meeting: Cadence,
}

pub(crate) struct Sim<'w, W: Write> {
    pub rng: StdRng,
    pub world: World,
    pub out: Emitter<'w, W>,
    pub scale: Scale,
    pub cadence: Cadences,
    tz: Tz,
    start: NaiveDate,
    pub today: NaiveDate,
    pub day: u32,
    last_day: u32,
    agenda: Vec<Vec<(u32, Task)>>,
    seqs: [u32; 8],
    /// Where the leaders' lectures go next (they take the communities in turn).
    next_audience: usize,
    /// Who records what concerns each community: its office; the subdistrict's organisation
    /// office, last, records what concerns the subdistrict and its organ branch.
    actors: Vec<String>,
    /// Sampling buffers: candidates, and the shuffle's copy.
    pub group: Vec<u32>,
    pub scratch: Vec<u32>,
}

impl<'w, W: Write> Sim<'w, W> {
    pub(crate) fn new(config: &GenConfig, out: &'w mut W) -> Self {
        let years = config.years.max(1) as i32;
        let start = NaiveDate::from_ymd_opt(config.until.year() - years + 1, 1, 1)
            .expect("the history starts on a valid 1 January");
        let last_day = (config.until - start).num_days() as u32;
        let mut rng = StdRng::seed_from_u64(config.seed);
        let cadence = Cadences {
            class_amended: Cadence::new(&mut rng, 12),
            class_voided: Cadence::new(&mut rng, 30),
            amendment_voided: Cadence::new(&mut rng, 3),
            lecture: Cadence::new(&mut rng, 40),
            visit: Cadence::new(&mut rng, 30),
            online: Cadence::new(&mut rng, 1500),
            contact: Cadence::new(&mut rng, 60),
            meeting: Cadence::new(&mut rng, 400),
        };
        let scale = Scale::new(config);
        let actors = (1..=scale.communities)
            .map(|c| format!("office-c{c:02}"))
            .chain(["office-fushan".to_owned()])
            .collect();
        Sim {
            rng,
            world: World::default(),
            out: Emitter::new(out, config.seed, config.tz, start),
            scale,
            cadence,
            tz: config.tz,
            start,
            today: start,
            day: 0,
            last_day,
            agenda: (0..=last_day).map(|_| Vec::new()).collect(),
            seqs: [0; 8],
            next_audience: 0,
            actors,
            group: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub(crate) fn run(mut self) -> io::Result<crate::GenSummary> {
        for day in 0..=self.last_day {
            self.day = day;
            self.today = self.start + Days::new(u64::from(day));
            self.out.set_day(self.today);
            if day == 0 {
                self.setup()?;
            } else {
                self.plan_day();
            }
            if day == 0 || self.today.ordinal() == 1 {
                self.plan_year();
            }
            if day == 0 || self.today.day() == 1 {
                self.plan_month();
            }
            let mut tasks = std::mem::take(&mut self.agenda[day as usize]);
            tasks.sort_by_key(|&(key, _)| key);
            for (key, task) in tasks {
                self.perform(key, task)?;
            }
        }
        Ok(self.out.summary())
    }

    fn perform(&mut self, key: u32, task: Task) -> io::Result<()> {
        match task {
            Task::DailyRegistry => self.daily_registry(),
            Task::BecomeFull(member) => self.become_full(member),
            Task::Return { member, epoch } => self.come_back(member, epoch),
            Task::RotateRole(slot) => self.rotate_role(slot),
            Task::RenameUnit => self.rename_unit(),
            Task::NewPartyGroup => self.new_party_group(),
            Task::OnlineStudy { member, epoch } => self.online_study(member, epoch),
            Task::Contact { member, epoch } => self.contact(member, epoch),
            Task::HomeVisit => self.home_visit(),
            Task::Meeting { unit, kind } => self.meeting(unit, kind),
            Task::StudyList => self.study_list(),
            Task::PostWish => self.post_wish(),
            Task::Wish(wish) => self.wish_step(*wish),
            Task::Amend(amendment) => self.amend(*amendment, key),
            Task::Void { target, reasons } => self.void(target, reasons, key),
            Task::CorrectDetails => self.correct_details(key),
            Task::Class(plan) => self.class(plan, key),
            Task::Lecture(plan) => self.lecture(plan, key),
        }
    }

    /// Puts a task on the agenda of day `day`; past `until` it is dropped.
    fn schedule_day(&mut self, day: u32, key: u32, task: Task) {
        if let Some(tasks) = self.agenda.get_mut(day as usize) {
            tasks.push((key, task));
        }
    }

    /// A task `after` days from today (at least one: today's agenda is already being run).
    pub fn schedule(&mut self, after: u32, key: u32, task: Task) {
        debug_assert!(after >= 1, "tasks are planned for later days");
        self.schedule_day(self.day.saturating_add(after), key, task);
    }

    /// A correction the office records in the morning of a working day, `after` days or a
    /// little later.
    pub fn schedule_correction(&mut self, after: u32, task: Task) {
        let date = weekday_on_or_after(self.today + Days::new(u64::from(after)));
        let key = MORNING + self.rng.random_range(0..MORNING_SPAN);
        self.schedule_day(self.index_of(date), key, task);
    }

    fn index_of(&self, date: NaiveDate) -> u32 {
        (date - self.start).num_days().max(0) as u32
    }

    /// Today at `secs` after local midnight, with the zone's offset.
    pub fn at(&self, secs: u32) -> DateTime<FixedOffset> {
        let local = self
            .today
            .and_hms_opt(secs / 3600, secs / 60 % 60, secs % 60)
            .expect("ordering keys of timed tasks are times of day");
        match self.tz.from_local_datetime(&local).earliest() {
            Some(at) => in_zone(at, self.tz),
            // A DST gap swallowed the hour: the day's first instant is as good a time.
            None => local_midnight(Date::from_naive(self.today), self.tz),
        }
    }

    pub fn date(&self) -> Date {
        Date::from_naive(self.today)
    }

    pub fn year(&self) -> i32 {
        self.today.year()
    }

    /// The next id of an activity kind this year, e.g. `C-2024-017`.
    pub fn next_id(&mut self, seq: Seq) -> Id {
        let counter = &mut self.seqs[seq as usize];
        *counter += 1;
        let (prefix, width) = seq.prefix();
        parse_id(format!(
            "{prefix}-{}-{:0width$}",
            self.today.year(),
            *counter
        ))
    }

    /// `expected` rounded up or down at random, keeping the expectation: the count of an
    /// event of a yearly rate on one day.
    pub fn count(&mut self, expected: f64) -> usize {
        let whole = expected.floor();
        whole as usize + usize::from(self.rng.random::<f64>() < expected - whole)
    }

    /// Writes an event whose date is today, recorded by `community`'s office.
    pub fn emit_dated(
        &mut self,
        event: impl Into<partyedu_domain::Event>,
        community: usize,
    ) -> io::Result<Uuid> {
        self.out
            .emit(event, Occurred::Midnight, &self.actors[community])
    }

    /// Writes an event that occurred at `at`, recorded by `community`'s office.
    pub fn emit_at(
        &mut self,
        event: impl Into<partyedu_domain::Event>,
        at: DateTime<FixedOffset>,
        community: usize,
    ) -> io::Result<Uuid> {
        self.out
            .emit(event, Occurred::At(at), &self.actors[community])
    }

    /// The community number standing for the subdistrict itself (and its organ branch).
    pub fn subdistrict(&self) -> usize {
        self.scale.communities
    }

    /// A random day index in `lo..=hi`, moved off weekends unless `any_day`.
    fn random_day(&mut self, lo: u32, hi: u32, any_day: bool) -> u32 {
        let day = self.rng.random_range(lo..=hi);
        if any_day {
            day
        } else {
            let date = self.start + Days::new(u64::from(day));
            self.index_of(weekday_on_or_after(date))
        }
    }

    /// The day the first activities may be planned on, from today.
    fn first_active_day(&self) -> u32 {
        self.day.max(SETUP_DAYS)
    }

    /// Today's random registry changes and detail corrections.
    fn plan_day(&mut self) {
        self.schedule_day(self.day, REGISTRY, Task::DailyRegistry);
        if self.today.weekday().num_days_from_monday() < 5 {
            let expected = self.world.global.len() as f64 * 0.005 / 260.0;
            for _ in 0..self.count(expected) {
                let key = MORNING + self.rng.random_range(0..MORNING_SPAN);
                self.schedule_day(self.day, key, Task::CorrectDetails);
            }
        }
    }

    /// The year's classes, lectures, home visits, wishes, role changes and renamings.
    fn plan_year(&mut self) {
        self.seqs = [0; 8];
        let lo = self.first_active_day();
        let year_end = NaiveDate::from_ymd_opt(self.year(), 12, 31).expect("31 December");
        // The article's last year holds its whole plan by the history's last day.
        let hi = if self.scale.article {
            self.index_of(year_end).min(self.last_day)
        } else {
            self.index_of(year_end)
        };
        if lo > hi {
            return;
        }
        self.plan_classes(lo, hi);
        self.plan_lectures(lo, hi);
        let visits = self.scale.per_year(75.0, 2);
        self.spread(visits, lo, hi, || Task::HomeVisit);
        let wishes = self.scale.per_year(70.0, 3);
        self.spread(wishes, lo, hi, || Task::PostWish);
        for slot in 0..self.world.slots.len() {
            if self.rng.random_bool(0.08) {
                let day = self.random_day(lo, hi, false);
                self.schedule_day(day, REGISTRY, Task::RotateRole(slot));
            }
        }
        for task in [Task::RenameUnit, Task::NewPartyGroup] {
            let day = self.random_day(lo, hi, false);
            self.schedule_day(day, REGISTRY, task);
        }
    }

    /// `n` dated tasks on random working days in `lo..=hi`.
    fn spread(&mut self, n: usize, lo: u32, hi: u32, task: impl Fn() -> Task) {
        for _ in 0..n {
            let day = self.random_day(lo, hi, false);
            self.schedule_day(day, DATED, task());
        }
    }

    fn plan_classes(&mut self, lo: u32, hi: u32) {
        /// How a class form is held over a year.
        struct Yearly {
            form: ClassForm,
            /// The article's yearly count (for about 4,000 members).
            article: f64,
            /// Organised by the communities in turn, else by the subdistrict.
            by_community: bool,
            /// Attendances a candidate makes a year, over the organiser's classes of the form
            /// (0 for the forms whose attendance is a group of a fixed size).
            rate: f64,
            /// Start times, in minutes after midnight.
            starts: &'static [u32],
            /// Held on weekends too.
            any_day: bool,
        }
        const fn yearly(
            form: ClassForm,
            article: f64,
            by_community: bool,
            rate: f64,
            starts: &'static [u32],
            any_day: bool,
        ) -> Yearly {
            Yearly {
                form,
                article,
                by_community,
                rate,
                starts,
                any_day,
            }
        }
        const FORMS: [Yearly; 7] = [
            // 47 in all, 20 field trips, 10 forums and competitions (the article's table).
            yearly(ClassForm::Concentrated, 7.0, true, 1.0, &[540, 870], false),
            yearly(ClassForm::Seminar, 5.0, false, 1.5, &[540], false),
            yearly(ClassForm::Online, 3.0, false, 0.35, &[900, 1170], false),
            yearly(ClassForm::FieldTrip, 20.0, true, 0.0, &[510], true),
            yearly(ClassForm::Forum, 6.0, true, 1.0, &[870], false),
            yearly(ClassForm::Competition, 4.0, false, 0.6, &[540], true),
            yearly(ClassForm::NightSchool, 2.0, true, 0.0, &[1140], false),
        ];
        let communities = self.scale.communities;
        for Yearly {
            form,
            article,
            by_community,
            rate,
            starts,
            any_day,
        } in FORMS
        {
            let n = self.scale.per_year(article, 1);
            let first = self.rng.random_range(0..communities);
            for i in 0..n {
                let community = by_community.then_some((first + i) % communities);
                // How many classes of this form the same organiser holds this year.
                let held = if by_community {
                    n / communities + usize::from(i % communities < n % communities)
                } else {
                    n
                };
                let share = rate * self.scale.attendance / held.max(1) as f64;
                let day = self.random_day(lo, hi, any_day);
                let start = starts[self.rng.random_range(0..starts.len())] * 60;
                let plan = ClassPlan {
                    form,
                    community,
                    share,
                };
                self.schedule_day(day, start, Task::Class(plan));
            }
        }
    }

    /// Leaders lecture once a quarter to the communities in turn; community secretaries once
    /// or twice a year to their community; branch secretaries once a year to their branch.
    fn plan_lectures(&mut self, lo: u32, hi: u32) {
        for slot in 0..self.world.slots.len() {
            let (role, org) = (self.world.slots[slot].role, self.world.slots[slot].org);
            let (windows, share) = match role {
                // The article's leaders give 30-odd lectures a year between them, voids and
                // role changes notwithstanding.
                Role::SubdistrictLeader if self.scale.article => {
                    (self.rng.random_range(4..=5), 0.35)
                }
                Role::SubdistrictLeader => (4, 0.35),
                Role::CommunitySecretary => (self.rng.random_range(1..=2), 0.3),
                Role::GridSecretary | Role::BranchSecretary => (1, 0.7),
                Role::CommitteeMember | Role::PartyGroupLeader => continue,
            };
            // One lecture in each of `windows` equal parts of the year.
            let year_start =
                self.index_of(NaiveDate::from_ymd_opt(self.year(), 1, 1).expect("1 January"));
            let span = (hi - year_start + 1) / windows;
            for w in 0..windows {
                let from = (year_start + w * span).max(lo);
                let to = (year_start + (w + 1) * span - 1).min(hi);
                if from > to {
                    continue;
                }
                let audience = if role == Role::SubdistrictLeader {
                    let community = self.next_audience % self.scale.communities;
                    self.next_audience += 1;
                    self.world.community_orgs[community]
                } else {
                    org
                };
                let day = self.random_day(from, to, false);
                let start = if self.rng.random_bool(0.5) {
                    9 * 3600 + 1800
                } else {
                    15 * 3600
                };
                let plan = LecturePlan {
                    slot,
                    audience,
                    share: share * self.scale.attendance,
                };
                self.schedule_day(day, start, Task::Lecture(plan));
            }
        }
    }

    /// The month's study list and every branch's and party group's meetings.
    fn plan_month(&mut self) {
        let lo = self.first_active_day();
        let month = self.today.month();
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(self.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(self.year(), month + 1, 1)
        }
        .expect("the first of next month");
        let hi = self.index_of(next) - 1;
        if lo > hi {
            return;
        }
        let list_day = self.random_day(lo, hi.min(lo + 9), false);
        self.schedule_day(list_day, DATED, Task::StudyList);
        for unit in 0..self.world.orgs.len() as u32 {
            let kinds: &[MeetingKind] = match self.world.orgs[unit as usize].kind {
                OrgKind::GridBranch => match month {
                    1 => &[
                        MeetingKind::ThemedPartyDay,
                        MeetingKind::BranchCommitteeMeeting,
                        MeetingKind::OrgLifeMeeting,
                    ],
                    3 | 6 | 9 | 12 => &[
                        MeetingKind::ThemedPartyDay,
                        MeetingKind::BranchCommitteeMeeting,
                        MeetingKind::BranchGeneralMeeting,
                    ],
                    _ => &[
                        MeetingKind::ThemedPartyDay,
                        MeetingKind::BranchCommitteeMeeting,
                    ],
                },
                OrgKind::PartyGroup => &[MeetingKind::PartyGroupMeeting],
                OrgKind::Subdistrict | OrgKind::Community => &[],
            };
            for &kind in kinds {
                let day = self.random_day(lo, hi, kind == MeetingKind::ThemedPartyDay);
                self.schedule_day(day, DATED, Task::Meeting { unit, kind });
            }
        }
    }
}
