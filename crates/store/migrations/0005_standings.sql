-- Materialised standings (crates/projections/src/standings.rs): for every rule set kept
-- materialised and every year in view, each member's standing and the coverage counts, kept by
-- the facts projector in the transaction of its checkpoint, so the dashboard's statistics are
-- answered without folding participations at query time.
--
-- A view is one (generation, rule set hash, year, reference date). Its rows are versioned by
-- log position like the facts (`from_pos`, `to_pos`): a reader asks for the rows valid at its
-- as-of position and gets one consistent answer whatever the projector commits meanwhile.
-- Closed versions older than `pruned_below` are deleted; a reader asking for an older position
-- answers from the facts instead.

CREATE TABLE rm_views (
    generation      integer NOT NULL,
    rules_hash      text    NOT NULL,
    year            integer NOT NULL,
    reference_date  date    NOT NULL,
    rules_id        text    NOT NULL,
    -- Built for members with ids up to this one (NULL: none yet); built in chunks.
    built_through   text,
    members_built   bigint  NOT NULL DEFAULT 0,
    -- Set when every member is built: from this position on the rows are complete.
    ready_from      bigint,
    pruned_below    bigint  NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (generation, rules_hash, year, reference_date)
);

CREATE TABLE rm_standings (
    generation      integer NOT NULL,
    rules_hash      text    NOT NULL,
    year            integer NOT NULL,
    reference_date  date    NOT NULL,
    member_id       text    NOT NULL,
    branch_id       text    NOT NULL,
    name            text    NOT NULL,
    groups          text[]  NOT NULL,
    credited_centi  bigint  NOT NULL,
    required_centi  bigint  NOT NULL,
    reached         boolean NOT NULL,
    compliant       boolean NOT NULL,
    from_pos        bigint  NOT NULL,
    to_pos          bigint
);
-- The current version of a member (what the projector replaces).
CREATE UNIQUE INDEX rm_standings_current ON rm_standings
    (generation, rules_hash, year, reference_date, member_id) WHERE to_pos IS NULL;
-- Gap lists: members in id order, versions side by side.
CREATE INDEX rm_standings_members ON rm_standings
    (generation, rules_hash, year, reference_date, member_id, from_pos);
-- Pruning closed versions.
CREATE INDEX rm_standings_closed ON rm_standings (generation, to_pos) WHERE to_pos IS NOT NULL;

-- Members counted per org unit (every unit on the chain from the member's branch up) and group.
CREATE TABLE rm_coverage (
    generation      integer NOT NULL,
    rules_hash      text    NOT NULL,
    year            integer NOT NULL,
    reference_date  date    NOT NULL,
    org_id          text    NOT NULL,
    grp             text    NOT NULL,
    in_scope        bigint  NOT NULL,
    reached         bigint  NOT NULL,
    compliant       bigint  NOT NULL,
    from_pos        bigint  NOT NULL,
    to_pos          bigint
);
CREATE UNIQUE INDEX rm_coverage_current ON rm_coverage
    (generation, rules_hash, year, reference_date, org_id, grp) WHERE to_pos IS NULL;
CREATE INDEX rm_coverage_view ON rm_coverage (generation, rules_hash, year, reference_date);
CREATE INDEX rm_coverage_closed ON rm_coverage (generation, to_pos) WHERE to_pos IS NOT NULL;

-- A class's or a lecture's attendees, counted per record by the class register and the
-- lecture tallies (without it each scanned every participation), and the home visits and
-- contacts of the frail and mobile ledgers: rare kinds, so small partial indexes.
CREATE INDEX rm_participations_record ON rm_participations (generation, record_id)
    WHERE kind IN ('class', 'party_lecture');
CREATE INDEX rm_participations_ledger ON rm_participations (generation, kind, member_id)
    WHERE kind IN ('home_visit', 'mobile_contact');
