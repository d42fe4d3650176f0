//! The facts projection: folds the log into the `rm_*` tables the statistics are computed from.
//!
//! Facts are rule-independent (who took part in what, with which hours, when) and temporal:
//! every row keeps the log positions that made it (`position` / `from_pos`) and unmade it
//! (`to_pos`, `ended_pos`, `voided_pos`), so a query can see the facts as of any position and a
//! later correction never erases what an earlier statistic was based on.
//!
//! Rows are buffered and written in bulk (`UNNEST`); the few statements that update earlier
//! rows (voids, amendments that remove, role ends) flush the buffers first so they see every
//! row made before them in the same batch.

use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;
use partyedu_domain::Event;
use partyedu_domain::kinds::VisitPurpose;
use partyedu_domain::time::local_midnight;
use partyedu_domain::{Date, Id, Timestamp};
use sqlx::{PgConnection, Row};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

/// One event as the fold sees it.
pub struct Fact<'a> {
    pub event_id: Uuid,
    pub position: i64,
    pub event: &'a Event,
}

/// A member's registry state after an event.
#[derive(Clone, Debug)]
struct Registry {
    enrolled: bool,
    branch: String,
    frail: bool,
    mobile: bool,
}

/// What an amendment needs to know of its class.
#[derive(Clone, Debug)]
struct ClassInfo {
    event_id: Uuid,
    /// The position of the class's `ClassHeld`.
    position: i64,
    occurred_at: String,
    occurred_on: NaiveDate,
    year: i32,
    title: String,
    hours_centi: i32,
    form: String,
}

#[derive(Default)]
struct Participations {
    member_id: Vec<String>,
    kind: Vec<&'static str>,
    record_id: Vec<String>,
    event_id: Vec<Uuid>,
    event_position: Vec<i64>,
    occurred_at: Vec<String>,
    occurred_on: Vec<NaiveDate>,
    year: Vec<i32>,
    title: Vec<String>,
    hours_centi: Vec<i32>,
    form: Vec<Option<String>>,
    home_study: Vec<bool>,
    source_event_id: Vec<Uuid>,
    from_pos: Vec<i64>,
}

#[derive(Default)]
struct RegistryRows {
    member_id: Vec<String>,
    effective_on: Vec<NaiveDate>,
    position: Vec<i64>,
    enrolled: Vec<bool>,
    branch_id: Vec<String>,
    frail: Vec<bool>,
    mobile: Vec<bool>,
}

#[derive(Default)]
struct NameRows {
    id: Vec<String>,
    name: Vec<String>,
    position: Vec<i64>,
}

/// The fold of one projector. Its caches are only valid for the generation it writes and are
/// dropped when a batch fails (the batch's rows were rolled back with it).
pub struct FactsFold {
    tz: Tz,
    generation: i32,
    registry: HashMap<String, Registry>,
    classes: HashMap<String, ClassInfo>,
    participations: Participations,
    registry_rows: RegistryRows,
    member_names: NameRows,
    org_names: NameRows,
    /// Members whose facts the batch changed (what the materialised standings recompute).
    touched: BTreeSet<String>,
}

/// Where a participation row comes from, besides the member.
struct Record<'a> {
    kind: &'static str,
    record_id: &'a str,
    event_id: Uuid,
    event_position: i64,
    occurred_at: String,
    occurred_on: NaiveDate,
    title: String,
    hours_centi: i32,
    form: Option<String>,
    home_study: bool,
}

impl FactsFold {
    pub fn new(tz: Tz, generation: i32) -> Self {
        Self {
            tz,
            generation,
            registry: HashMap::new(),
            classes: HashMap::new(),
            participations: Participations::default(),
            registry_rows: RegistryRows::default(),
            member_names: NameRows::default(),
            org_names: NameRows::default(),
            touched: BTreeSet::new(),
        }
    }

    /// The members whose facts changed since the last call.
    pub fn take_touched(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.touched)
    }

    /// Forgets cached state (after a failed batch).
    pub fn reset(&mut self) {
        *self = Self::new(self.tz, self.generation);
    }

    fn local_date(&self, at: Timestamp) -> NaiveDate {
        at.datetime().with_timezone(&self.tz).date_naive()
    }

    fn local_timestamp(&self, at: Timestamp) -> String {
        at.datetime()
            .with_timezone(&self.tz)
            .fixed_offset()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
    }

    fn midnight(&self, date: Date) -> String {
        local_midnight(date, self.tz).to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
    }

    /// A record of a date-only activity (at local midnight), without hours until set.
    fn dated<'a>(
        &self,
        kind: &'static str,
        record_id: &'a Id,
        fact: &Fact<'_>,
        on: Date,
        title: String,
    ) -> Record<'a> {
        Record {
            kind,
            record_id: record_id.as_str(),
            event_id: fact.event_id,
            event_position: fact.position,
            occurred_at: self.midnight(on),
            occurred_on: on.naive(),
            title,
            hours_centi: 0,
            form: None,
            home_study: false,
        }
    }

    /// Folds a batch of events in position order, within the caller's transaction.
    pub async fn apply(&mut self, conn: &mut PgConnection, facts: &[Fact<'_>]) -> sqlx::Result<()> {
        for fact in facts {
            self.apply_one(conn, fact).await?;
        }
        self.flush(conn).await
    }

    async fn apply_one(&mut self, conn: &mut PgConnection, fact: &Fact<'_>) -> sqlx::Result<()> {
        let g = self.generation;
        let pos = fact.position;
        self.touched
            .extend(fact.event.named_members().into_iter().map(Id::to_string));
        match fact.event {
            Event::OrgUnitEstablished(e) => {
                sqlx::query(
                    "INSERT INTO rm_org_units (generation, org_id, kind, parent_id, established_on, position) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(g)
                .bind(e.org_id.as_str())
                .bind(e.kind.as_str())
                .bind(e.parent_id.as_ref().map(Id::as_str))
                .bind(e.established_on.naive())
                .bind(pos)
                .execute(&mut *conn)
                .await?;
                push_name(&mut self.org_names, &e.org_id, e.name.as_str(), pos);
            }
            Event::OrgUnitRenamed(e) => {
                push_name(&mut self.org_names, &e.org_id, e.name.as_str(), pos)
            }
            Event::MemberEnrolled(e) => {
                push_name(&mut self.member_names, &e.member_id, e.name.as_str(), pos);
                let state = Registry {
                    enrolled: true,
                    branch: e.branch_id.to_string(),
                    frail: e.frail,
                    mobile: false,
                };
                self.push_registry(&e.member_id, e.enrolled_on, pos, state);
            }
            Event::MemberDetailsCorrected(e) => {
                if let Some(name) = &e.name {
                    push_name(&mut self.member_names, &e.member_id, name.as_str(), pos);
                }
            }
            Event::MemberTransferred(e) => {
                self.change_registry(conn, &e.member_id, e.on, pos, |r| {
                    r.branch = e.to_branch_id.to_string()
                })
                .await?;
            }
            Event::MemberCareStatusChanged(e) => {
                self.change_registry(conn, &e.member_id, e.on, pos, |r| r.frail = e.frail)
                    .await?;
            }
            Event::MemberWentMobile(e) => {
                self.change_registry(conn, &e.member_id, e.since, pos, |r| r.mobile = true)
                    .await?;
                sqlx::query(
                    "INSERT INTO rm_mobility (generation, member_id, since, destination, position) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(g)
                .bind(e.member_id.as_str())
                .bind(e.since.naive())
                .bind(e.destination.as_str())
                .bind(pos)
                .execute(&mut *conn)
                .await?;
            }
            Event::MemberReturned(e) => {
                self.change_registry(conn, &e.member_id, e.on, pos, |r| r.mobile = false)
                    .await?;
                self.end_mobility(conn, &e.member_id, e.on, pos).await?;
            }
            Event::BuddyAssigned(e) => {
                // A new buddy replaces the one before.
                self.end_buddy(conn, &e.member_id, pos).await?;
                sqlx::query(
                    "INSERT INTO rm_buddies (generation, member_id, buddy_id, since, position) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(g)
                .bind(e.member_id.as_str())
                .bind(e.buddy_id.as_str())
                .bind(e.since.naive())
                .bind(pos)
                .execute(&mut *conn)
                .await?;
            }
            Event::MicroWishPosted(e) => {
                sqlx::query(
                    "INSERT INTO rm_wishes (generation, wish_id, grid_id, category, title, \
                     posted_on, position) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(g)
                .bind(e.wish_id.as_str())
                .bind(e.grid_id.as_str())
                .bind(e.category.as_str())
                .bind(e.title.as_str())
                .bind(e.posted_on.naive())
                .bind(pos)
                .execute(&mut *conn)
                .await?;
            }
            Event::MicroWishClaimed(e) => {
                let member = Some(&e.member_id);
                wish_step(conn, g, &e.wish_id, "claimed", member, e.claimed_on, pos).await?;
            }
            Event::MicroWishReleased(e) => {
                let member = Some(&e.member_id);
                wish_step(conn, g, &e.wish_id, "released", member, e.released_on, pos).await?;
            }
            Event::MicroWishFulfilled(e) => {
                wish_step(conn, g, &e.wish_id, "fulfilled", None, e.fulfilled_on, pos).await?;
            }
            Event::MicroWishWithdrawn(e) => {
                wish_step(conn, g, &e.wish_id, "withdrawn", None, e.withdrawn_on, pos).await?;
            }
            Event::MemberReenrolled(e) => {
                // Care status and being away carry over: only their own events change them.
                self.change_registry(conn, &e.member_id, e.on, pos, |r| {
                    r.enrolled = true;
                    r.branch = e.branch_id.to_string();
                })
                .await?;
            }
            Event::MemberLeft(e) => {
                self.change_registry(conn, &e.member_id, e.on, pos, |r| r.enrolled = false)
                    .await?;
                // Leaving ends every role and the buddy pairing on that date.
                self.flush(conn).await?;
                self.end_buddy(conn, &e.member_id, pos).await?;
                sqlx::query(
                    "UPDATE rm_roles SET until_date = $3, ended_pos = $4 \
                     WHERE generation = $1 AND member_id = $2 AND until_date IS NULL",
                )
                .bind(g)
                .bind(e.member_id.as_str())
                .bind(e.on.naive())
                .bind(pos)
                .execute(&mut *conn)
                .await?;
            }
            Event::RoleAssigned(e) => {
                sqlx::query(
                    "INSERT INTO rm_roles (generation, member_id, role, org_id, from_date, position) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(g)
                .bind(e.member_id.as_str())
                .bind(e.role.as_str())
                .bind(e.org_id.as_str())
                .bind(e.on.naive())
                .bind(pos)
                .execute(&mut *conn)
                .await?;
            }
            Event::RoleEnded(e) => {
                sqlx::query(
                    "UPDATE rm_roles SET until_date = $5, ended_pos = $6 WHERE generation = $1 \
                     AND member_id = $2 AND role = $3 AND org_id = $4 AND until_date IS NULL",
                )
                .bind(g)
                .bind(e.member_id.as_str())
                .bind(e.role.as_str())
                .bind(e.org_id.as_str())
                .bind(e.on.naive())
                .bind(pos)
                .execute(&mut *conn)
                .await?;
            }
            Event::ClassHeld(e) => {
                let on = self.local_date(e.starts_at);
                let info = ClassInfo {
                    event_id: fact.event_id,
                    position: pos,
                    occurred_at: self.local_timestamp(e.starts_at),
                    occurred_on: on,
                    year: on.year(),
                    title: e.title.as_str().to_owned(),
                    hours_centi: e.study_hours.centi() as i32,
                    form: e.form.as_str().to_owned(),
                };
                sqlx::query(
                    "INSERT INTO rm_classes (generation, class_id, event_id, occurred_at, occurred_on, \
                     year, title, hours_centi, form, organizer_org_id, venue_id, position) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(g)
                .bind(e.class_id.as_str())
                .bind(info.event_id)
                .bind(&info.occurred_at)
                .bind(info.occurred_on)
                .bind(info.year)
                .bind(&info.title)
                .bind(info.hours_centi)
                .bind(&info.form)
                .bind(e.organizer_org_id.as_str())
                .bind(e.venue_id.as_ref().map(Id::as_str))
                .bind(pos)
                .execute(&mut *conn)
                .await?;
                let record = class_record(e.class_id.as_str(), &info);
                for member in &e.attendee_ids {
                    self.push_participation(member, &record, fact.event_id, pos);
                }
                self.classes.insert(e.class_id.to_string(), info);
            }
            Event::AttendanceAmended(e) => {
                let info = self.class_info(conn, &e.class_id).await?;
                let record = class_record(e.class_id.as_str(), &info);
                for member in &e.added {
                    self.push_participation(member, &record, fact.event_id, pos);
                }
                if !e.removed.is_empty() {
                    self.flush(conn).await?;
                    let removed: Vec<&str> = e.removed.iter().map(Id::as_str).collect();
                    sqlx::query(
                        "UPDATE rm_participations SET to_pos = $4, closed_by = $5 \
                         WHERE generation = $1 AND kind = 'class' AND record_id = $2 \
                           AND member_id = ANY($3) AND to_pos IS NULL",
                    )
                    .bind(g)
                    .bind(e.class_id.as_str())
                    .bind(&removed)
                    .bind(pos)
                    .bind(fact.event_id)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            Event::PartyLectureGiven(e) => {
                let on = self.local_date(e.given_at);
                sqlx::query(
                    "INSERT INTO rm_lectures (generation, lecture_id, event_id, speaker_id, \
                     audience_org_id, given_on, year, hours_centi, position) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(g)
                .bind(e.lecture_id.as_str())
                .bind(fact.event_id)
                .bind(e.speaker_id.as_str())
                .bind(e.audience_org_id.as_str())
                .bind(on)
                .bind(on.year())
                .bind(e.study_hours.centi() as i32)
                .bind(pos)
                .execute(&mut *conn)
                .await?;
                let record = Record {
                    kind: "party_lecture",
                    record_id: e.lecture_id.as_str(),
                    event_id: fact.event_id,
                    event_position: pos,
                    occurred_at: self.local_timestamp(e.given_at),
                    occurred_on: on,
                    title: e.title.as_str().to_owned(),
                    hours_centi: e.study_hours.centi() as i32,
                    form: None,
                    home_study: false,
                };
                for member in &e.attendee_ids {
                    self.push_participation(member, &record, fact.event_id, pos);
                }
            }
            Event::HomeVisitMade(e) => {
                let title = match &e.note {
                    Some(note) => note.as_str().to_owned(),
                    None => e
                        .purposes
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                let mut record = self.dated("home_visit", &e.visit_id, fact, e.visited_on, title);
                record.hours_centi = e.study_hours.centi() as i32;
                record.home_study = e.purposes.contains(&VisitPurpose::HomeStudyDelivery);
                self.push_participation(&e.member_id, &record, fact.event_id, pos);
            }
            Event::OnlineStudyLogged(e) => {
                let title = e.platform.as_str().to_owned();
                let mut record = self.dated("online_study", &e.log_id, fact, e.studied_on, title);
                record.hours_centi = e.study_hours.centi() as i32;
                self.push_participation(&e.member_id, &record, fact.event_id, pos);
            }
            Event::MobileMemberContacted(e) => {
                let title = match &e.note {
                    Some(note) => note.as_str().to_owned(),
                    None => e.channel.as_str().to_owned(),
                };
                let record =
                    self.dated("mobile_contact", &e.contact_id, fact, e.contacted_on, title);
                self.push_participation(&e.member_id, &record, fact.event_id, pos);
            }
            Event::OrgLifeMeetingHeld(e) => {
                let title = e.kind.as_str().to_owned();
                let record = self.dated("org_life_meeting", &e.meeting_id, fact, e.held_on, title);
                for member in &e.attendee_ids {
                    self.push_participation(member, &record, fact.event_id, pos);
                }
            }
            Event::RecordVoided(e) => {
                self.flush(conn).await?;
                self.void(conn, e.event_id, e.reason.as_str(), fact.event_id, pos)
                    .await?;
            }
            // Not part of any statistic or ledger yet.
            Event::MemberBecameFull(_)
            | Event::VenueOpened(_)
            | Event::LecturerEnlisted(_)
            | Event::StudyListIssued(_) => {}
        }
        Ok(())
    }

    async fn end_buddy(
        &mut self,
        conn: &mut PgConnection,
        member: &Id,
        pos: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE rm_buddies SET ended_pos = $3 \
             WHERE generation = $1 AND member_id = $2 AND ended_pos IS NULL",
        )
        .bind(self.generation)
        .bind(member.as_str())
        .bind(pos)
        .execute(conn)
        .await
        .map(drop)
    }

    async fn end_mobility(
        &mut self,
        conn: &mut PgConnection,
        member: &Id,
        on: Date,
        pos: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE rm_mobility SET returned_on = $3, returned_pos = $4 \
             WHERE generation = $1 AND member_id = $2 AND returned_pos IS NULL",
        )
        .bind(self.generation)
        .bind(member.as_str())
        .bind(on.naive())
        .bind(pos)
        .execute(conn)
        .await
        .map(drop)
    }

    /// A void marks the target record's rows voided; a void of an amendment undoes it: the
    /// rows it added close, the rows it removed stand again (as new rows from this position,
    /// keeping their origin, so a later void of an earlier amendment still finds them).
    async fn void(
        &mut self,
        conn: &mut PgConnection,
        target: Uuid,
        reason: &str,
        void_id: Uuid,
        pos: i64,
    ) -> sqlx::Result<()> {
        let g = self.generation;
        let voided: Vec<String> = sqlx::query_scalar(
            "UPDATE rm_participations SET voided_pos = $3, void_reason = $4 \
             WHERE generation = $1 AND event_id = $2 AND voided_pos IS NULL \
               AND event_position = (SELECT position FROM events WHERE event_id = $2) \
             RETURNING member_id",
        )
        .bind(g)
        .bind(target)
        .bind(pos)
        .bind(reason)
        .fetch_all(&mut *conn)
        .await?;
        let mut touched = voided;
        for table in ["rm_classes", "rm_lectures"] {
            let sql = format!(
                "UPDATE {table} SET voided_pos = $3 \
                 WHERE generation = $1 AND event_id = $2 AND voided_pos IS NULL"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(g)
                .bind(target)
                .bind(pos)
                .execute(&mut *conn)
                .await?;
        }
        touched.extend(
            sqlx::query_scalar::<_, String>(
                "UPDATE rm_participations SET to_pos = $3, closed_by = $4 WHERE generation = $1 \
                 AND source_event_id = $2 AND source_event_id <> event_id AND to_pos IS NULL \
                 RETURNING member_id",
            )
            .bind(g)
            .bind(target)
            .bind(pos)
            .bind(void_id)
            .fetch_all(&mut *conn)
            .await?,
        );
        touched.extend(sqlx::query_scalar::<_, String>(
            "INSERT INTO rm_participations (generation, member_id, kind, record_id, event_id, \
               event_position, occurred_at, occurred_on, year, title, hours_centi, form, home_study, \
               source_event_id, from_pos) \
             SELECT generation, member_id, kind, record_id, event_id, event_position, occurred_at, \
               occurred_on, year, title, hours_centi, form, home_study, source_event_id, $3 \
             FROM rm_participations WHERE generation = $1 AND closed_by = $2 \
             RETURNING member_id",
        )
        .bind(g)
        .bind(target)
        .bind(pos)
        .fetch_all(&mut *conn)
        .await?);
        self.touched.extend(touched);
        Ok(())
    }

    fn push_participation(&mut self, member: &Id, record: &Record<'_>, source: Uuid, pos: i64) {
        let p = &mut self.participations;
        p.member_id.push(member.to_string());
        p.kind.push(record.kind);
        p.record_id.push(record.record_id.to_owned());
        p.event_id.push(record.event_id);
        p.event_position.push(record.event_position);
        p.occurred_at.push(record.occurred_at.clone());
        p.occurred_on.push(record.occurred_on);
        p.year.push(record.occurred_on.year());
        p.title.push(record.title.clone());
        p.hours_centi.push(record.hours_centi);
        p.form.push(record.form.clone());
        p.home_study.push(record.home_study);
        p.source_event_id.push(source);
        p.from_pos.push(pos);
    }

    fn push_registry(&mut self, member: &Id, on: Date, pos: i64, state: Registry) {
        let r = &mut self.registry_rows;
        r.member_id.push(member.to_string());
        r.effective_on.push(on.naive());
        r.position.push(pos);
        r.enrolled.push(state.enrolled);
        r.branch_id.push(state.branch.clone());
        r.frail.push(state.frail);
        r.mobile.push(state.mobile);
        self.registry.insert(member.to_string(), state);
    }

    /// Appends the member's registry state after `change`, effective `on`.
    async fn change_registry(
        &mut self,
        conn: &mut PgConnection,
        member: &Id,
        on: Date,
        pos: i64,
        change: impl FnOnce(&mut Registry),
    ) -> sqlx::Result<()> {
        let mut state = match self.registry.get(member.as_str()) {
            Some(state) => state.clone(),
            None => {
                let row = sqlx::query(
                    "SELECT enrolled, branch_id, frail, mobile FROM rm_member_registry \
                     WHERE generation = $1 AND member_id = $2 ORDER BY position DESC LIMIT 1",
                )
                .bind(self.generation)
                .bind(member.as_str())
                .fetch_one(&mut *conn)
                .await?;
                Registry {
                    enrolled: row.try_get("enrolled")?,
                    branch: row.try_get("branch_id")?,
                    frail: row.try_get("frail")?,
                    mobile: row.try_get("mobile")?,
                }
            }
        };
        change(&mut state);
        self.push_registry(member, on, pos, state);
        Ok(())
    }

    async fn class_info(&mut self, conn: &mut PgConnection, class: &Id) -> sqlx::Result<ClassInfo> {
        if let Some(info) = self.classes.get(class.as_str()) {
            return Ok(info.clone());
        }
        let row = sqlx::query(
            "SELECT event_id, position, occurred_at, occurred_on, year, title, hours_centi, form \
             FROM rm_classes WHERE generation = $1 AND class_id = $2",
        )
        .bind(self.generation)
        .bind(class.as_str())
        .fetch_one(&mut *conn)
        .await?;
        let info = ClassInfo {
            event_id: row.try_get("event_id")?,
            position: row.try_get("position")?,
            occurred_at: row.try_get("occurred_at")?,
            occurred_on: row.try_get("occurred_on")?,
            year: row.try_get("year")?,
            title: row.try_get("title")?,
            hours_centi: row.try_get("hours_centi")?,
            form: row.try_get("form")?,
        };
        self.classes.insert(class.to_string(), info.clone());
        Ok(info)
    }

    /// Writes the buffered rows.
    async fn flush(&mut self, conn: &mut PgConnection) -> sqlx::Result<()> {
        let g = self.generation;
        let p = std::mem::take(&mut self.participations);
        if !p.member_id.is_empty() {
            let kinds: Vec<&str> = p.kind.clone();
            sqlx::query(
                "INSERT INTO rm_participations (generation, member_id, kind, record_id, event_id, \
                   event_position, occurred_at, occurred_on, year, title, hours_centi, form, \
                   home_study, source_event_id, from_pos) \
                 SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::uuid[], \
                   $6::bigint[], $7::text[], $8::date[], $9::int[], $10::text[], $11::int[], \
                   $12::text[], $13::bool[], $14::uuid[], $15::bigint[])",
            )
            .bind(g)
            .bind(&p.member_id)
            .bind(&kinds)
            .bind(&p.record_id)
            .bind(&p.event_id)
            .bind(&p.event_position)
            .bind(&p.occurred_at)
            .bind(&p.occurred_on)
            .bind(&p.year)
            .bind(&p.title)
            .bind(&p.hours_centi)
            .bind(&p.form)
            .bind(&p.home_study)
            .bind(&p.source_event_id)
            .bind(&p.from_pos)
            .execute(&mut *conn)
            .await?;
        }
        let r = std::mem::take(&mut self.registry_rows);
        if !r.member_id.is_empty() {
            sqlx::query(
                "INSERT INTO rm_member_registry (generation, member_id, effective_on, position, \
                   enrolled, branch_id, frail, mobile) \
                 SELECT $1, * FROM unnest($2::text[], $3::date[], $4::bigint[], $5::bool[], \
                   $6::text[], $7::bool[], $8::bool[])",
            )
            .bind(g)
            .bind(&r.member_id)
            .bind(&r.effective_on)
            .bind(&r.position)
            .bind(&r.enrolled)
            .bind(&r.branch_id)
            .bind(&r.frail)
            .bind(&r.mobile)
            .execute(&mut *conn)
            .await?;
        }
        for (table, key, rows) in [
            (
                "rm_member_names",
                "member_id",
                std::mem::take(&mut self.member_names),
            ),
            (
                "rm_org_names",
                "org_id",
                std::mem::take(&mut self.org_names),
            ),
        ] {
            if rows.id.is_empty() {
                continue;
            }
            let sql = format!(
                "INSERT INTO {table} (generation, {key}, name, position) \
                 SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[])"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(g)
                .bind(&rows.id)
                .bind(&rows.name)
                .bind(&rows.position)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

async fn wish_step(
    conn: &mut PgConnection,
    generation: i32,
    wish: &Id,
    step: &str,
    member: Option<&Id>,
    on: Date,
    pos: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO rm_wish_steps (generation, wish_id, step, member_id, on_date, position) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(generation)
    .bind(wish.as_str())
    .bind(step)
    .bind(member.map(Id::as_str))
    .bind(on.naive())
    .bind(pos)
    .execute(conn)
    .await
    .map(drop)
}

fn push_name(rows: &mut NameRows, id: &Id, name: &str, pos: i64) {
    rows.id.push(id.to_string());
    rows.name.push(name.to_owned());
    rows.position.push(pos);
}

fn class_record<'a>(class_id: &'a str, info: &ClassInfo) -> Record<'a> {
    Record {
        kind: "class",
        record_id: class_id,
        event_id: info.event_id,
        event_position: info.position,
        occurred_at: info.occurred_at.clone(),
        occurred_on: info.occurred_on,
        title: info.title.clone(),
        hours_centi: info.hours_centi,
        form: Some(info.form.clone()),
        home_study: false,
    }
}
