"""schemathesis hooks for tests/api_fuzz.rs (loaded through SCHEMATHESIS_HOOKS).

Two things only, each because the document cannot say it, never to hide a mismatch:

1. The run's own token is never revoked: `DELETE /api/v1/tokens/{name}` with the name of the
   token the run authenticates with would turn every later request into a `401` (which every
   check accepts), so the rest of the run would test nothing. Every other name is fuzzed.

2. `positive_data_acceptance` ("schema-valid data is accepted") may meet a `400` that no JSON
   Schema can state, because it depends on the state of the log or the clock, or relates two
   values of one request. Such a refusal is let through only when every problem the answer names
   is one of the rules below (matched on the API's own words, per operation), so any other `400`
   to schema-valid data — a range, pattern, length or required field the document does not state
   — still fails the run. Each rule is stated in the operation's description or the event catalog.
   The refusals let through are counted in PARTYEDU_FUZZ_TALLY (a file), which the test reports.
"""

import json
import os
import re

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

OWN_TOKEN = os.environ.get("PARTYEDU_FUZZ_TOKEN_NAME", "")
TALLY = os.environ.get("PARTYEDU_FUZZ_TALLY")

STATISTICS = (
    # CONTRACT §6: a position the log has not reached yet (its head changes with every write).
    (r"^position \d+ is beyond the log's head at position \d+$", "beyond the head"),
    # `as_of` after now.
    (r"^is in the future: the log cannot say how it will stand$", "as_of in the future"),
    # Two parameters that exclude each other.
    (r"^give `as_of` or `as_of_position`, not both$", "as_of with as_of_position"),
)

TREE = (
    # A tree size larger than the audit tree now.
    (r"^the tree has \d+ leaves, not \d+$", "beyond the tree"),
)

EVENTS = (
    # A date after local tomorrow (the clock); CONTRACT §2 "Validation".
    (r" is later than tomorrow \(\d{4}-\d{2}-\d{2}\); future events cannot be recorded$", "future date"),
    # At most two decimal places: JSON Schema's `multipleOf: 0.01` is tested in binary floating
    # point by validators and generators alike (0.29 fails it, 57 * 0.01 = 0.5700000000000001
    # passes), so the StudyHours schema states it in words; the range is stated.
    (r"^study hours must be a number from 0 to 24 with at most two decimal places, got ", "more than two decimals"),
    # birth_year up to this year (the clock); the document states the minimum, 1900.
    (r"^must lie between 1900 and \d+$", "birth year after this year"),
    # Rules between fields of one event (CONTRACT §2, docs/events.md).
    (r"^member \S+ is also in \w+$", "a member in both lists"),
    (r"^a member cannot be their own buddy$", "own buddy"),
    (r"^a member cannot contact themselves$", "contacting oneself"),
    (r"needs a parent; only a subdistrict is a root$", "a non-root without a parent"),
    (r"^a correction names at least one of name and birth_year$", "an empty correction"),
    (r"^an amendment adds or removes at least one member$", "an empty amendment"),
)

# Refusals judged against the stored state (the domain's conflict rules, in its words). Alone
# they answer `409`, which positive_data_acceptance accepts; in a batch that also breaks a rule
# above they come in its `400` (a batch with both kinds of problem is a 400 listing all, see
# DECISIONS.md), and may be let through with it.
CONFLICTS = [
    r"^event id .+ is already stored with other content \(.+\)$",  # event_id_reused
    r"^.+ id .+ is already used \(ids stay used, also after a void\)$",  # id_used
    r"^unknown org unit .+$",  # unknown_org
    r"^unknown venue .+$",  # unknown_venue
    r"^unknown lecturer .+$",  # unknown_lecturer
    r"^org unit .+ was only established on .+, after .+$",  # org_not_established
    r"^venue .+ was only opened on .+, after .+$",  # venue_not_opened
    r"^lecturer .+ was only enlisted on .+, after .+$",  # lecturer_not_enlisted
    r"^.+ is a .+; members belong to a grid_branch or party_group$",  # not_a_branch
    r"^unknown member .+$",  # unknown_member
    r"^member .+ is not enrolled on .+$",  # not_enrolled
    r"^.+ is before the member's latest registry event \(.+\); a member's registry events are recorded in date order$",  # registry_order
    r"^unknown micro-wish .+$",  # unknown_wish
    r"^micro-wish .+ was fulfilled; nothing happens to it after that$",  # wish_fulfilled
    r"^micro-wish .+ was withdrawn; nothing happens to it after that$",  # wish_withdrawn
    r"^.+ is before the wish's previous step on .+$",  # wish_order
    r"^the micro-wish must be open, but it is claimed by .+$",  # wish_not_open
    r"^the micro-wish must be claimed, but it is open$",  # wish_not_claimed
    r"^only the claimer .+ can release the micro-wish$",  # not_the_claimer
    r"^a .+ cannot sit under a .+ \(.+\)$",  # parent_rank
    r"^member .+ is already a full member$",  # already_full
    r"^member .+ already belongs to .+$",  # same_branch
    r"^member .+ takes part in an activity on .+, on or after leaving on .+; void those records first$",  # activity_after_leaving
    r"^member .+ is already mobile$",  # already_mobile
    r"^member .+ is not mobile$",  # not_mobile
    r"^member .+ is not mobile; only mobile members get a buddy$",  # buddy_not_mobile
    r"^member .+ already holds .+ at .+$",  # role_held
    r"^member .+ does not hold .+ at .+$",  # role_not_held
    r"^member .+ is enrolled; only a member who left can be re-enrolled$",  # still_enrolled
    r"^the correction changes nothing: the member's details are already so$",  # correction_unchanged
    r"^unknown class .+$",  # unknown_class
    r"^class .+ is voided$",  # class_voided
    r"^member .+ already attends the class$",  # already_attends
    r"^member .+ does not attend the class$",  # not_attending
    r"^no stored event has id .+$",  # unknown_event
    r"^event .+ is already voided$",  # already_voided
    r"^the amendment's class .+ is voided$",  # amended_class_voided
    r"^only a class's latest standing attendance amendment can be voided; void the later ones first$",  # not_latest_amendment
    r"^undoing it would bring back member .+, who is not enrolled on .+$",  # undo_brings_back
    r"^a .+ cannot be voided; micro-wish mistakes are corrected by a release$",  # not_voidable_wish
    r"^a .+ cannot be voided; a void is final$",  # not_voidable_void
    r"^a .+ cannot be voided; issue a corrected study list$",  # not_voidable_list
    r"^a .+ cannot be voided; registry mistakes are corrected by registry events$",  # not_voidable_registry
]

RULES = {
    "POST /api/v1/events": EVENTS,
    "GET /api/v1/audit/proof/inclusion": TREE,
    "GET /api/v1/audit/proof/consistency": TREE
    + ((r"^a consistency proof goes from a smaller tree to a larger one, not \d+ to \d+$", "from after to"),),
}
for path in (
    "/api/v1/coverage",
    "/api/v1/coverage/members",
    "/api/v1/lectures/tallies",
    "/api/v1/members/{id}/history",
    "/api/v1/ledgers/frail-visits",
    "/api/v1/ledgers/mobile-contacts",
    "/api/v1/ledgers/wishes",
    "/api/v1/ledgers/classes",
    "/api/v1/headlines",
):
    RULES["GET " + path] = STATISTICS


def _problems(response):
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return None
    if error.get("code") != "invalid_request":
        return None
    details = error.get("details") or []
    return [d.get("problem", "") for d in details] or [error.get("message", "")]


def _tally(names):
    if not TALLY:
        return
    with open(TALLY, "a", encoding="utf-8") as out:
        for name in names:
            out.write(name + "\n")


@schemathesis.hook
def filter_path_parameters(ctx, path_parameters):
    return not (OWN_TOKEN and path_parameters and path_parameters.get("name") == OWN_TOKEN)


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    """Keeps every failure but a `400` to schema-valid data for a rule listed above."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    rules = RULES.get(f"{case.method.upper()} {case.operation.path}", ())
    problems = _problems(response)
    if not problems:
        return True
    names = []
    for problem in problems:
        name = next((n for pattern, n in rules if re.search(pattern, problem)), None)
        if name is not None:
            names.append(name)
        elif not (case.operation.path == "/api/v1/events" and any(re.search(c, problem) for c in CONFLICTS)):
            return True
    if not names:
        return True
    _tally(names)
    return False
