-- Read models of the statistics (crates/projections). The store's Rust code knows none of
-- them; they live in this migration history so that one migrator prepares a database.
--
-- Every table carries `generation`: a rebuild writes a new generation beside the live one and
-- `rm_projections.live_generation` is switched in one transaction (no table renames, so no
-- exclusive lock queues behind long reads). Facts carry the log positions that made and
-- unmade them (`from_pos`, `to_pos`, `voided_pos`), so a query can answer as of any position.
-- The facts are the same under every rule set: rule sets are applied when querying.

CREATE TABLE rm_projections (
    name             text PRIMARY KEY,
    live_generation  integer NOT NULL
);

-- One checkpoint per (projection, generation): the last position folded in. Written in the
-- same transaction as the facts it covers.
CREATE TABLE rm_checkpoints (
    name        text    NOT NULL,
    generation  integer NOT NULL,
    position    bigint  NOT NULL,
    -- recorded_at of the event at `position`: lag in seconds and as-of reference dates.
    event_recorded_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- How many events this generation has folded (progress; positions are sparse).
    events_folded bigint NOT NULL DEFAULT 0,
    -- A rebuild in progress knows how far it has to go.
    target_position bigint,
    target_events bigint,
    started_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, generation)
);

CREATE TABLE rm_org_units (
    generation  integer NOT NULL,
    org_id      text    NOT NULL,
    kind        text    NOT NULL,
    parent_id   text,
    established_on date NOT NULL,
    position    bigint  NOT NULL,
    PRIMARY KEY (generation, org_id)
);

CREATE TABLE rm_org_names (
    generation  integer NOT NULL,
    org_id      text    NOT NULL,
    name        text    NOT NULL,
    position    bigint  NOT NULL
);
CREATE INDEX rm_org_names_key ON rm_org_names (generation, org_id, position);

-- The member's registry state after each registry event, effective on its date.
CREATE TABLE rm_member_registry (
    generation   integer NOT NULL,
    member_id    text    NOT NULL,
    effective_on date    NOT NULL,
    position     bigint  NOT NULL,
    enrolled     boolean NOT NULL,
    branch_id    text    NOT NULL,
    frail        boolean NOT NULL,
    mobile       boolean NOT NULL
);
CREATE INDEX rm_member_registry_key ON rm_member_registry (generation, member_id, effective_on, position);

-- Names take effect for every date (a correction fixes a clerical mistake), by position.
CREATE TABLE rm_member_names (
    generation  integer NOT NULL,
    member_id   text    NOT NULL,
    name        text    NOT NULL,
    position    bigint  NOT NULL
);
CREATE INDEX rm_member_names_key ON rm_member_names (generation, member_id, position);

CREATE TABLE rm_roles (
    generation  integer NOT NULL,
    member_id   text    NOT NULL,
    role        text    NOT NULL,
    org_id      text    NOT NULL,
    from_date   date    NOT NULL,
    position    bigint  NOT NULL,
    until_date  date,
    ended_pos   bigint
);
CREATE INDEX rm_roles_key ON rm_roles (generation, member_id, role, org_id);

-- One row per member taking part in a record: attendee (class, lecture, meeting) or subject
-- (the visited, the logging, the contacted member).
CREATE TABLE rm_participations (
    generation   integer NOT NULL,
    member_id    text    NOT NULL,
    kind         text    NOT NULL,
    record_id    text    NOT NULL,
    -- The recording event (a class's ClassHeld, also for attendees added by amendment).
    event_id     uuid    NOT NULL,
    event_position bigint NOT NULL,
    occurred_at  text    NOT NULL,
    occurred_on  date    NOT NULL,
    year         integer NOT NULL,
    title        text    NOT NULL,
    hours_centi  integer NOT NULL,
    -- Class form, or NULL.
    form         text,
    -- A home visit with purpose home_study_delivery.
    home_study   boolean NOT NULL DEFAULT false,
    -- The event that made this row (the record, an amendment, or the void of an amendment),
    -- and the positions between which it stands.
    source_event_id uuid NOT NULL,
    from_pos     bigint  NOT NULL,
    closed_by    uuid,
    to_pos       bigint,
    voided_pos   bigint,
    void_reason  text
);
CREATE INDEX rm_participations_year ON rm_participations (generation, year);
CREATE INDEX rm_participations_member ON rm_participations (generation, member_id);
-- Voids find a record's rows by its recording event's position: positions grow, so this index
-- is appended to at its right edge. Keyed by the (random) event ids it cost a random page per
-- row and most of a rebuild's time (BENCHMARKS.md).
CREATE INDEX rm_participations_event ON rm_participations (generation, event_position);
-- Only rows an amendment (or the void of one) made, and rows an amendment closed, are looked up
-- by those ids: partial indexes keep every other row out of them.
CREATE INDEX rm_participations_source ON rm_participations (generation, source_event_id)
    WHERE source_event_id <> event_id;
CREATE INDEX rm_participations_closed ON rm_participations (generation, closed_by)
    WHERE closed_by IS NOT NULL;

CREATE TABLE rm_lectures (
    generation   integer NOT NULL,
    lecture_id   text    NOT NULL,
    event_id     uuid    NOT NULL,
    speaker_id   text    NOT NULL,
    audience_org_id text NOT NULL,
    given_on     date    NOT NULL,
    year         integer NOT NULL,
    hours_centi  integer NOT NULL,
    position     bigint  NOT NULL,
    voided_pos   bigint,
    PRIMARY KEY (generation, lecture_id)
);
CREATE INDEX rm_lectures_year ON rm_lectures (generation, year);
CREATE INDEX rm_lectures_event ON rm_lectures (generation, event_id);

CREATE TABLE rm_classes (
    generation   integer NOT NULL,
    class_id     text    NOT NULL,
    event_id     uuid    NOT NULL,
    occurred_at  text    NOT NULL,
    occurred_on  date    NOT NULL,
    year         integer NOT NULL,
    title        text    NOT NULL,
    hours_centi  integer NOT NULL,
    form         text    NOT NULL,
    organizer_org_id text NOT NULL,
    venue_id     text,
    position     bigint  NOT NULL,
    voided_pos   bigint,
    PRIMARY KEY (generation, class_id)
);
CREATE INDEX rm_classes_event ON rm_classes (generation, event_id);

-- Mobile members: when they went, where, and when they came back.
CREATE TABLE rm_mobility (
    generation   integer NOT NULL,
    member_id    text    NOT NULL,
    since        date    NOT NULL,
    destination  text    NOT NULL,
    position     bigint  NOT NULL,
    returned_on  date,
    returned_pos bigint
);
CREATE INDEX rm_mobility_key ON rm_mobility (generation, member_id);

CREATE TABLE rm_buddies (
    generation   integer NOT NULL,
    member_id    text    NOT NULL,
    buddy_id     text    NOT NULL,
    since        date    NOT NULL,
    position     bigint  NOT NULL,
    ended_pos    bigint
);
CREATE INDEX rm_buddies_key ON rm_buddies (generation, member_id);

CREATE TABLE rm_wishes (
    generation   integer NOT NULL,
    wish_id      text    NOT NULL,
    grid_id      text    NOT NULL,
    category     text    NOT NULL,
    title        text    NOT NULL,
    posted_on    date    NOT NULL,
    position     bigint  NOT NULL,
    PRIMARY KEY (generation, wish_id)
);

-- A wish's lifecycle: claimed, released, fulfilled, withdrawn.
CREATE TABLE rm_wish_steps (
    generation   integer NOT NULL,
    wish_id      text    NOT NULL,
    step         text    NOT NULL,
    member_id    text,
    on_date      date    NOT NULL,
    position     bigint  NOT NULL
);
CREATE INDEX rm_wish_steps_key ON rm_wish_steps (generation, wish_id, position);

-- The live rule set, shared by every instance. Switching is one row update: every answer after
-- the commit is computed under the new rule set (the facts do not depend on it). Absent, the
-- service's configured default is live.
CREATE TABLE rule_selection (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    rule_set    text        NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    changed_by  text        NOT NULL
);
