//! Recording in the dashboard: a form per record made most often, posted to `/record/{form}`
//! and recorded through exactly the path of `POST /api/v1/events`
//! ([`crate::recording::record_body`]): same validation, scope and idempotency.
//!
//! Every rendered form carries a random key (hidden field `form_key`) sent as the batch's
//! idempotency key, so a double-click or a resubmitted form stores once. Members are entered by
//! id or name; unknown, ambiguous and repeated ones are flagged at their field before anything
//! is sent. A refusal's JSON path (`events[0].data.attendee_ids[3]`) names the field it is shown
//! at. Cross-site posts are refused: besides the SameSite=Strict cookie, the `Origin` (else
//! `Referer`) host must equal the request's `Host`.

use super::{Choice, Ctx, Link, OrPage, PageError, Table, View, basis, enc, respond};
use crate::AppState;
use crate::auth::Role as TokenRole;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use chrono::{NaiveDateTime, TimeZone};
use partyedu_domain::kinds::{
    ClassForm, ContactChannel, Employment, LeaveReason, MeetingKind, Membership, MobileReason,
    Role, StudyPlatform, VisitPurpose, WishCategory,
};
use rand::RngCore;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

type Page = Result<Response, PageError>;

/// How a field is entered and turned into its data value.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Long,
    /// A number (an integer when it reads as one).
    Number,
    /// `datetime-local`, recorded with the deployment's offset.
    DateTime,
    Date,
    /// One of a vocabulary, labelled `prefix.value`.
    Choice(&'static str, Values),
    /// Any of a vocabulary (check boxes).
    Multi(&'static str, Values),
    /// An org unit of the caller's scope.
    Org,
    /// One member by id or name.
    Member,
    /// Members by id or name, one a line or separated by commas.
    Members,
    /// Ids separated by commas.
    Ids,
    /// Carried from the page that offered the form (the record a correction targets).
    Hidden,
    /// A check box: true when ticked.
    Flag,
}

struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

/// A form: the event it records and its fields, named as the catalog names the data fields.
struct Spec {
    slug: &'static str,
    event_type: &'static str,
    /// The field holding the record's id, prefilled with a fresh one (`prefix-…`).
    id: Option<(&'static str, &'static str)>,
    fields: &'static [Field],
    /// Listed on `/record` (corrections are offered on a record's page instead).
    listed: bool,
}

/// A vocabulary's values, as the catalog spells them.
type Values = fn() -> Vec<&'static str>;

macro_rules! vocab {
    ($t:ty) => {
        || <$t>::ALL.iter().map(|v| v.as_str()).collect()
    };
}

const FORMS: &[Spec] = &[
    Spec {
        slug: "class",
        event_type: "ClassHeld",
        id: Some(("class_id", "C")),
        fields: &[
            req("class_id", Kind::Text),
            req("title", Kind::Text),
            req("form", Kind::Choice("form", vocab!(ClassForm))),
            opt("venue_id", Kind::Text),
            req("organizer_org_id", Kind::Org),
            req("starts_at", Kind::DateTime),
            req("duration_minutes", Kind::Number),
            req("study_hours", Kind::Number),
            opt("lecturer_ids", Kind::Ids),
            req("attendee_ids", Kind::Members),
        ],
        listed: true,
    },
    Spec {
        slug: "lecture",
        event_type: "PartyLectureGiven",
        id: Some(("lecture_id", "L")),
        fields: &[
            req("lecture_id", Kind::Text),
            req("title", Kind::Text),
            req("speaker_id", Kind::Member),
            req("audience_org_id", Kind::Org),
            opt("venue_id", Kind::Text),
            req("given_at", Kind::DateTime),
            req("duration_minutes", Kind::Number),
            req("study_hours", Kind::Number),
            req("attendee_ids", Kind::Members),
        ],
        listed: true,
    },
    Spec {
        slug: "visit",
        event_type: "HomeVisitMade",
        id: Some(("visit_id", "HV")),
        fields: &[
            req("visit_id", Kind::Text),
            req("member_id", Kind::Member),
            req("visitor_ids", Kind::Members),
            req("visited_on", Kind::Date),
            req("purposes", Kind::Multi("purpose", vocab!(VisitPurpose))),
            req("study_hours", Kind::Number),
            opt("note", Kind::Long),
        ],
        listed: true,
    },
    Spec {
        slug: "wish-claim",
        event_type: "MicroWishClaimed",
        id: None,
        fields: &[
            req("wish_id", Kind::Text),
            req("member_id", Kind::Member),
            req("claimed_on", Kind::Date),
        ],
        listed: true,
    },
    Spec {
        slug: "wish-fulfil",
        event_type: "MicroWishFulfilled",
        id: None,
        fields: &[
            req("wish_id", Kind::Text),
            req("fulfilled_on", Kind::Date),
            opt("note", Kind::Long),
        ],
        listed: true,
    },
    Spec {
        slug: "online",
        event_type: "OnlineStudyLogged",
        id: Some(("log_id", "OS")),
        fields: &[
            req("log_id", Kind::Text),
            req("member_id", Kind::Member),
            req("platform", Kind::Choice("platform", vocab!(StudyPlatform))),
            req("studied_on", Kind::Date),
            req("study_hours", Kind::Number),
        ],
        listed: true,
    },
    Spec {
        slug: "contact",
        event_type: "MobileMemberContacted",
        id: Some(("contact_id", "MC")),
        fields: &[
            req("contact_id", Kind::Text),
            req("member_id", Kind::Member),
            req("contacted_by", Kind::Member),
            req("contacted_on", Kind::Date),
            req("channel", Kind::Choice("channel", vocab!(ContactChannel))),
            opt("note", Kind::Long),
        ],
        listed: true,
    },
    Spec {
        slug: "wish-release",
        event_type: "MicroWishReleased",
        id: None,
        fields: &[
            req("wish_id", Kind::Text),
            req("member_id", Kind::Member),
            req("released_on", Kind::Date),
            req("reason", Kind::Long),
        ],
        listed: true,
    },
    Spec {
        slug: "meeting",
        event_type: "OrgLifeMeetingHeld",
        id: Some(("meeting_id", "OL")),
        fields: &[
            req("meeting_id", Kind::Text),
            req("branch_id", Kind::Org),
            req("kind", Kind::Choice("meeting", vocab!(MeetingKind))),
            req("held_on", Kind::Date),
            req("attendee_ids", Kind::Members),
            opt("excused_ids", Kind::Members),
        ],
        listed: true,
    },
    Spec {
        slug: "enrol",
        event_type: "MemberEnrolled",
        id: Some(("member_id", "M")),
        fields: &[
            req("member_id", Kind::Text),
            req("name", Kind::Text),
            req("branch_id", Kind::Org),
            req("membership", Kind::Choice("membership", vocab!(Membership))),
            req("joined_on", Kind::Date),
            req("enrolled_on", Kind::Date),
            req("employment", Kind::Choice("employment", vocab!(Employment))),
            opt("frail", Kind::Flag),
            opt("hardship", Kind::Flag),
            opt("birth_year", Kind::Number),
        ],
        listed: true,
    },
    Spec {
        slug: "transfer",
        event_type: "MemberTransferred",
        id: None,
        fields: &[
            req("member_id", Kind::Member),
            req("to_branch_id", Kind::Org),
            req("on", Kind::Date),
        ],
        listed: true,
    },
    Spec {
        slug: "leave",
        event_type: "MemberLeft",
        id: None,
        fields: &[
            req("member_id", Kind::Member),
            req("on", Kind::Date),
            req("reason", Kind::Choice("leave", vocab!(LeaveReason))),
        ],
        listed: true,
    },
    Spec {
        slug: "reenrol",
        event_type: "MemberReenrolled",
        id: None,
        fields: &[
            req("member_id", Kind::Member),
            req("branch_id", Kind::Org),
            req("on", Kind::Date),
        ],
        listed: true,
    },
    Spec {
        slug: "mobile",
        event_type: "MemberWentMobile",
        id: None,
        fields: &[
            req("member_id", Kind::Member),
            req("since", Kind::Date),
            req("destination", Kind::Text),
            req("reason", Kind::Choice("mobile", vocab!(MobileReason))),
        ],
        listed: true,
    },
    Spec {
        slug: "return",
        event_type: "MemberReturned",
        id: None,
        fields: &[req("member_id", Kind::Member), req("on", Kind::Date)],
        listed: true,
    },
    Spec {
        slug: "wish-post",
        event_type: "MicroWishPosted",
        id: Some(("wish_id", "W")),
        fields: &[
            req("wish_id", Kind::Text),
            req("grid_id", Kind::Org),
            req("title", Kind::Text),
            req("category", Kind::Choice("category", vocab!(WishCategory))),
            req("posted_on", Kind::Date),
        ],
        listed: true,
    },
    Spec {
        slug: "wish-withdraw",
        event_type: "MicroWishWithdrawn",
        id: None,
        fields: &[
            req("wish_id", Kind::Text),
            req("withdrawn_on", Kind::Date),
            req("reason", Kind::Long),
        ],
        listed: true,
    },
    Spec {
        slug: "full",
        event_type: "MemberBecameFull",
        id: None,
        fields: &[req("member_id", Kind::Member), req("on", Kind::Date)],
        listed: true,
    },
    Spec {
        slug: "care",
        event_type: "MemberCareStatusChanged",
        id: None,
        fields: &[
            req("member_id", Kind::Member),
            opt("frail", Kind::Flag),
            opt("hardship", Kind::Flag),
            req("on", Kind::Date),
        ],
        listed: true,
    },
    Spec {
        slug: "buddy",
        event_type: "BuddyAssigned",
        id: None,
        fields: &[
            req("member_id", Kind::Member),
            req("buddy_id", Kind::Member),
            req("since", Kind::Date),
        ],
        listed: true,
    },
    Spec {
        slug: "role-assign",
        event_type: "RoleAssigned",
        id: None,
        fields: &[
            req("member_id", Kind::Member),
            req("role", Kind::Choice("role", vocab!(Role))),
            req("org_id", Kind::Org),
            req("on", Kind::Date),
        ],
        listed: true,
    },
    Spec {
        slug: "role-end",
        event_type: "RoleEnded",
        id: None,
        fields: &[
            req("member_id", Kind::Member),
            req("role", Kind::Choice("role", vocab!(Role))),
            req("org_id", Kind::Org),
            req("on", Kind::Date),
        ],
        listed: true,
    },
    Spec {
        slug: "void",
        event_type: "RecordVoided",
        id: None,
        fields: &[req("event_id", Kind::Hidden), req("reason", Kind::Long)],
        listed: false,
    },
    Spec {
        slug: "amend",
        event_type: "AttendanceAmended",
        id: None,
        fields: &[
            req("class_id", Kind::Hidden),
            opt("added", Kind::Members),
            opt("removed", Kind::Members),
            req("reason", Kind::Long),
        ],
        listed: false,
    },
];

/// The event types a void may target (CONTRACT §2, corrections).
pub(crate) const VOIDABLE: &[&str] = &[
    "ClassHeld",
    "PartyLectureGiven",
    "HomeVisitMade",
    "OnlineStudyLogged",
    "MobileMemberContacted",
    "OrgLifeMeetingHeld",
    "AttendanceAmended",
];

fn spec(slug: &str) -> Option<&'static Spec> {
    FORMS.iter().find(|s| s.slug == slug)
}

/// A form as the template shows it.
#[derive(Clone, Debug)]
pub(crate) struct FormView {
    pub action: String,
    pub title: String,
    pub key: String,
    /// Where "add the branch's members" re-opens the form as filled (GET).
    pub fill_action: String,
    pub fields: Vec<FieldView>,
    /// Refusals that concern no one field.
    pub errors: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `number`, `date`, `datetime-local`, `textarea`, `select`, `checkboxes`, `hidden`.
    pub input: &'static str,
    pub value: String,
    pub options: Vec<Choice>,
    pub required: bool,
    pub hint: &'static str,
    pub errors: Vec<String>,
    /// For the first member list of a form with org choices: branches to add the members of.
    pub picker: Vec<Choice>,
    /// For the first member list: a search of the caller's members to tick and add.
    pub search: Option<MemberSearch>,
}

/// A member search (a GET of the form as filled, `member_q`): the enrolled members of the
/// caller's scope whose id or name holds the text, each a check box (`pick_member`) that adds
/// the member to the list — by "Add the ticked members" (the form re-opened as filled) or by
/// submitting the form itself. Server-rendered: no script.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemberSearch {
    pub query: String,
    pub matches: Vec<Choice>,
    /// Whether a search was made (so that "no member matches" can be said).
    pub searched: bool,
    /// More members match than are shown.
    pub more: bool,
}

/// Members a search shows at most.
const SEARCH_LIMIT: usize = 50;

/// A page context for recording: recorders and admins only (others get 403).
pub(crate) struct RecordCtx(pub Ctx);

impl FromRequestParts<AppState> for RecordCtx {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let ctx = super::context(parts, state, true).await?;
        if !records(&ctx) {
            return Err(PageError::new(ctx.lang, StatusCode::FORBIDDEN));
        }
        Ok(RecordCtx(ctx))
    }
}

/// Whether the caller may record.
pub(crate) fn records(ctx: &Ctx) -> bool {
    matches!(ctx.caller.role, TokenRole::Recorder | TokenRole::Admin)
}

fn random_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The org units a form may name: the caller's subtree.
async fn org_choices(state: &AppState, ctx: &Ctx) -> Result<Vec<(String, String)>, PageError> {
    let basis = basis::resolve(state, ctx).await?;
    let root = ctx.caller.scope.as_ref().map(|s| s.as_str().to_owned());
    Ok(basis
        .orgs
        .subtree(root.as_deref())
        .into_iter()
        .map(|u| (u.id.clone(), format!("{} ({})", u.name, u.id)))
        .collect())
}

/// The members enrolled in `branch` today, by id (from the read models as of the basis).
async fn branch_members(
    state: &AppState,
    ctx: &Ctx,
    branch: &str,
) -> Result<Vec<String>, PageError> {
    let basis = basis::resolve(state, ctx).await?;
    let today = chrono::Utc::now().with_timezone(&state.tz).date_naive();
    sqlx::query_scalar(
        "SELECT member_id FROM (SELECT DISTINCT ON (member_id) member_id, enrolled, branch_id \
           FROM rm_member_registry WHERE generation = $1 AND position <= $2 AND effective_on <= $3 \
           ORDER BY member_id, effective_on DESC, position DESC) latest \
         WHERE enrolled AND branch_id = $4 ORDER BY member_id",
    )
    .bind(basis.scope.generation)
    .bind(basis.scope.as_of)
    .bind(today)
    .bind(branch)
    .fetch_all(&state.reads)
    .await
    .page(ctx)
}

/// The form `spec` with `values` filled in (and a fresh key unless one is given).
fn form_view(
    ctx: &Ctx,
    spec: &Spec,
    values: &BTreeMap<String, Vec<String>>,
    orgs: &[(String, String)],
    key: Option<String>,
) -> FormView {
    let lang = ctx.lang;
    let first = |name: &str| {
        values
            .get(name)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    let first_list = spec
        .fields
        .iter()
        .find(|f| matches!(f.kind, Kind::Members))
        .map(|f| f.name);
    let fields = spec
        .fields
        .iter()
        .map(|f| {
            let mut value = first(f.name);
            if value.is_empty()
                && let Some((id, prefix)) = spec.id
                && id == f.name
            {
                value = format!("{prefix}-{}", &random_key()[..10]);
            }
            let (input, options) = match f.kind {
                Kind::Text | Kind::Member | Kind::Ids => ("text", Vec::new()),
                Kind::Long | Kind::Members => ("textarea", Vec::new()),
                Kind::Number => ("number", Vec::new()),
                Kind::Date => ("date", Vec::new()),
                Kind::DateTime => ("datetime-local", Vec::new()),
                Kind::Hidden => ("hidden", Vec::new()),
                Kind::Flag => ("checkbox", Vec::new()),
                Kind::Choice(prefix, all) | Kind::Multi(prefix, all) => {
                    let chosen = values.get(f.name).cloned().unwrap_or_default();
                    let options = all()
                        .into_iter()
                        .map(|v| Choice {
                            value: (*v).to_owned(),
                            label: lang.value(prefix, v),
                            selected: chosen.iter().any(|c| c == v),
                        })
                        .collect();
                    let input = if matches!(f.kind, Kind::Multi(..)) {
                        "checkboxes"
                    } else {
                        "select"
                    };
                    (input, options)
                }
                Kind::Org => (
                    "select",
                    orgs.iter()
                        .map(|(id, label)| Choice {
                            value: id.clone(),
                            label: label.clone(),
                            selected: *id == value,
                        })
                        .collect(),
                ),
            };
            FieldView {
                name: f.name,
                label: lang.t(&format!("field.{}", f.name)),
                input,
                value,
                options,
                required: f.required,
                hint: match f.kind {
                    Kind::Members => lang.t("rec.members_hint"),
                    Kind::Member => lang.t("rec.member_hint"),
                    Kind::Ids => lang.t("rec.ids_hint"),
                    _ => "",
                },
                errors: Vec::new(),
                picker: if first_list == Some(f.name) {
                    orgs.iter()
                        .map(|(id, label)| Choice {
                            value: id.clone(),
                            label: label.clone(),
                            selected: false,
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                search: (first_list == Some(f.name)).then(MemberSearch::default),
            }
        })
        .collect();
    FormView {
        action: format!("/record/{}{}", spec.slug, lang_query(ctx)),
        title: lang.value("form_title", spec.slug),
        fill_action: format!("/record/{}", spec.slug),
        key: key.unwrap_or_else(random_key),
        fields,
        errors: Vec::new(),
    }
}

fn lang_query(ctx: &Ctx) -> &'static str {
    if ctx.lang == super::Lang::En {
        "?lang=en"
    } else {
        ""
    }
}

/// `GET /record`: the forms this caller may use.
pub(crate) async fn index(RecordCtx(ctx): RecordCtx) -> Page {
    let mut view = View::new(&ctx, "page.record");
    for s in FORMS.iter().filter(|s| s.listed) {
        view.links.push(Link {
            label: ctx.lang.value("form_title", s.slug),
            href: format!("/record/{}{}", s.slug, lang_query(&ctx)),
        });
    }
    view.links.push(Link {
        label: ctx.t("page.upload").to_owned(),
        href: format!("/record/upload{}", lang_query(&ctx)),
    });
    respond(&ctx, view)
}

/// `GET /record/{form}`: the empty form (prefilled from the query, as a record's page does).
pub(crate) async fn show(
    State(state): State<AppState>,
    RecordCtx(ctx): RecordCtx,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
) -> Page {
    let spec = spec(&slug).ok_or_else(|| PageError::new(ctx.lang, StatusCode::NOT_FOUND))?;
    let orgs = org_choices(&state, &ctx).await?;
    // Every value of a repeated parameter (check boxes), as a post reads them.
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in super::serde_urlencoded_pairs(query.as_deref().unwrap_or("")) {
        values.entry(k).or_default().push(v);
    }
    let list = spec.fields.iter().find(|f| matches!(f.kind, Kind::Members));
    // "Add the branch's members" (a GET of the form as filled, its button `do=fill`): the
    // branch's members today are appended, by id, to the first member list.
    if let Some(branch) = ctx
        .param("fill_branch")
        .filter(|b| orgs.iter().any(|(id, _)| id == b))
        .filter(|_| ctx.param("do").is_none_or(|d| d == "fill"))
        && let Some(list) = list
    {
        let ids = branch_members(&state, &ctx, branch).await?;
        add_members(&mut values, list.name, ids);
    }
    // "Add the ticked members" of a search.
    if let Some(list) = list {
        let picked = values.remove("pick_member").unwrap_or_default();
        add_members(&mut values, list.name, picked);
    }
    let mut form = form_view(&ctx, spec, &values, &orgs, None);
    if let Some(query) = ctx
        .param("member_q")
        .filter(|_| ctx.param("do") != Some("pick"))
    {
        search(&state, &ctx, &mut form, query).await?;
    }
    let mut view = View::new(&ctx, "page.record");
    view.forms.push(form);
    respond(&ctx, view)
}

/// Shows on `form` the members of the caller's scope matching `query`, but those listed.
async fn search(
    state: &AppState,
    ctx: &Ctx,
    form: &mut FormView,
    query: &str,
) -> Result<(), PageError> {
    let Some(field) = form.fields.iter_mut().find(|f| f.search.is_some()) else {
        return Ok(());
    };
    let found = state
        .recorder
        .find_members(query, ctx.caller.scope.as_ref(), SEARCH_LIMIT + 1)
        .await
        .map_err(crate::recording::record_error)
        .page(ctx)?;
    let listed = split(&field.value);
    let mut matches: Vec<Choice> = found
        .into_iter()
        .filter(|(id, name, _)| !listed.contains(id) && !listed.contains(name))
        .map(|(id, name, branch)| Choice {
            label: format!("{name} ({id}) · {branch}"),
            value: id,
            selected: false,
        })
        .collect();
    let more = matches.len() > SEARCH_LIMIT;
    matches.truncate(SEARCH_LIMIT);
    field.search = Some(MemberSearch {
        query: query.to_owned(),
        matches,
        searched: true,
        more,
    });
    Ok(())
}

/// Appends `ids` not listed yet to member list `list` (one a line).
fn add_members(
    values: &mut BTreeMap<String, Vec<String>>,
    list: &str,
    ids: impl IntoIterator<Item = String>,
) {
    let entry = values.entry(list.to_owned()).or_default();
    let mut text = entry.first().cloned().unwrap_or_default();
    for id in ids {
        if !split(&text).contains(&id) {
            if !text.trim().is_empty() {
                text.push('\n');
            }
            text.push_str(&id);
        }
    }
    *entry = vec![text];
}

/// The form of a correction on a record's page (void; for a class, amend attendance).
pub(crate) fn corrections(
    ctx: &Ctx,
    event_type: &str,
    event_id: &str,
    data: &Value,
) -> Vec<FormView> {
    if !records(ctx) || !VOIDABLE.contains(&event_type) {
        return Vec::new();
    }
    let one = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), vec![v.to_owned()])]);
    let mut forms = vec![form_view(
        ctx,
        spec("void").expect("listed"),
        &one("event_id", event_id),
        &[],
        None,
    )];
    if event_type == "ClassHeld"
        && let Some(class) = data.get("class_id").and_then(Value::as_str)
    {
        forms.push(form_view(
            ctx,
            spec("amend").expect("listed"),
            &one("class_id", class),
            &[],
            None,
        ));
    }
    forms
}

/// Whether a POST comes from this site: the `Origin` (else `Referer`) host is the `Host`.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok())
        .and_then(|u| u.split_once("://"))
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest));
    matches!((host, from), (Some(h), Some(f)) if h.eq_ignore_ascii_case(f))
}

/// `POST /record/{form}`: flags what the form itself can tell, records the rest through the
/// API's path, and shows every refusal at its field, or the stored record.
pub(crate) async fn submit(
    State(state): State<AppState>,
    RecordCtx(ctx): RecordCtx,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let lang = ctx.lang;
    if !same_origin(&headers) {
        return Err(PageError::new(lang, StatusCode::FORBIDDEN));
    }
    let spec = spec(&slug).ok_or_else(|| PageError::new(lang, StatusCode::NOT_FOUND))?;
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in super::serde_urlencoded_pairs(&String::from_utf8_lossy(&body)) {
        values.entry(k).or_default().push(v);
    }
    let key = values
        .get("form_key")
        .and_then(|v| v.first())
        .filter(|k| (1..=100).contains(&k.len()))
        .cloned()
        .ok_or_else(|| PageError::bad_request(lang))?;
    // Members ticked in a search and submitted without "Add the ticked members" are added.
    if let Some(list) = spec.fields.iter().find(|f| matches!(f.kind, Kind::Members)) {
        let picked = values.remove("pick_member").unwrap_or_default();
        add_members(&mut values, list.name, picked);
    }
    let orgs = if spec.fields.iter().any(|f| matches!(f.kind, Kind::Org)) {
        org_choices(&state, &ctx).await?
    } else {
        Vec::new()
    };
    let mut form = form_view(&ctx, spec, &values, &orgs, Some(key.clone()));
    // Enter in the member search (or Submit with a search typed and not run) posts the form:
    // it searches, storing nothing, the entries and the key kept.
    if let Some(query) = values
        .get("member_q")
        .and_then(|q| q.first())
        .map(|q| q.trim())
        .filter(|q| !q.is_empty())
    {
        search(&state, &ctx, &mut form, query).await?;
        let mut view = View::new(&ctx, "page.record");
        view.notes.push(ctx.t("rec.searched").to_owned());
        view.forms.push(form);
        return respond(&ctx, view);
    }
    let roster = state
        .recorder
        .roster()
        .await
        .map_err(crate::recording::record_error)
        .page(&ctx)?;
    // The data, and for each member list the text each resolved id came from.
    let mut data = Map::new();
    let mut entered: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (f, view) in spec.fields.iter().zip(form.fields.iter_mut()) {
        let text = view.value.trim().to_owned();
        let chosen = values.get(f.name).cloned().unwrap_or_default();
        let empty = match f.kind {
            Kind::Multi(..) => chosen.is_empty(),
            Kind::Flag => false,
            _ => text.is_empty(),
        };
        if empty {
            if f.required && !matches!(f.kind, Kind::Members) {
                view.errors.push(lang.t("rec.required").to_owned());
            }
            if !matches!(f.kind, Kind::Members | Kind::Ids) {
                continue;
            }
        }
        let value = match f.kind {
            Kind::Text | Kind::Long | Kind::Date | Kind::Org | Kind::Hidden => json!(text),
            Kind::Choice(..) => json!(text),
            Kind::Multi(..) => json!(chosen),
            Kind::Flag => json!(text == "true"),
            Kind::Number => text
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| text.parse::<f64>().map(Value::from))
                .unwrap_or_else(|_| json!(text)),
            Kind::DateTime => json!(local_time(&text, state.tz).unwrap_or(text)),
            Kind::Ids => json!(split(&text)),
            Kind::Member => match member(&roster, &text, lang) {
                Ok(id) => json!(id),
                Err(problem) => {
                    view.errors.push(problem);
                    continue;
                }
            },
            Kind::Members => {
                let mut ids: Vec<String> = Vec::new();
                let mut texts = Vec::new();
                for name in split(&text) {
                    match member(&roster, &name, lang) {
                        Ok(id) if ids.contains(&id) => view.errors.push(
                            lang.t("rec.duplicate")
                                .replace("{name}", &name)
                                .replace("{id}", &id),
                        ),
                        Ok(id) => {
                            ids.push(id);
                            texts.push(name);
                        }
                        Err(problem) => view.errors.push(problem),
                    }
                }
                entered.insert(f.name, texts);
                json!(ids)
            }
        };
        data.insert(f.name.to_owned(), value);
    }
    let flagged = form.fields.iter().any(|f| !f.errors.is_empty());
    if !flagged {
        let request = json!({
            "events": [{"type": spec.event_type, "data": data}],
            "idempotency_key": format!("form:{key}"),
        });
        match crate::recording::record_request(
            &state,
            &ctx.caller,
            request.to_string().as_bytes(),
            None,
        )
        .await
        {
            Ok(stored) => return stored_page(&state, &ctx, spec, &data, &stored),
            Err(refused) => place_refusal(&mut form, spec, &data, &entered, refused, lang)?,
        }
    }
    let mut view = View::new(&ctx, "page.record");
    view.notes.push(ctx.t("rec.nothing_stored").to_owned());
    view.forms.push(form);
    let mut response = respond(&ctx, view)?;
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

/// Members are separated by lines, commas, semicolons or 、 (as the sheets separate them).
fn split(text: &str) -> Vec<String> {
    text.split([',', '，', ';', '；', '、', '\n', '\r', '\t'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

fn member(roster: &crate::sheets::Roster, text: &str, lang: super::Lang) -> Result<String, String> {
    match roster.lookup(text).as_slice() {
        [id] => Ok(id.clone()),
        [] => Err(lang.t("rec.unknown_member").replace("{name}", text)),
        ids => Err(lang
            .t("rec.ambiguous_member")
            .replace("{name}", text)
            .replace("{ids}", &ids.join(", "))),
    }
}

/// `2025-03-05T09:00` (a `datetime-local` value) in the deployment's zone, as RFC 3339.
fn local_time(text: &str, tz: chrono_tz::Tz) -> Option<String> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    Some(
        tz.from_local_datetime(&naive)
            .single()?
            .fixed_offset()
            .to_rfc3339(),
    )
}

/// Puts each problem of a refused batch at the field its path names, worded in the page's
/// language from its reason: `events[0].data.X[k]` is field X (for a member list, the k-th
/// member entered). A scope refusal goes to the member list naming the member it concerns, or
/// the field naming the org unit, or the record referred to, or the form's org field.
fn place_refusal(
    form: &mut FormView,
    spec: &Spec,
    data: &Map<String, Value>,
    entered: &BTreeMap<&str, Vec<String>>,
    refused: crate::recording::Refused,
    lang: super::Lang,
) -> Result<(), PageError> {
    use crate::recorder::RecordError;
    use crate::recording::Refused;
    let refused_label = lang.t("rec.refused");
    match refused {
        Refused::Record(RecordError::Rejected(rejections)) => {
            for r in rejections {
                let rest = r
                    .path
                    .split_once(']')
                    .map_or(r.path.as_str(), |(_, r)| r)
                    .trim_start_matches('.')
                    .trim_start_matches("data")
                    .trim_start_matches('.');
                let name = rest.split(['[', '.']).next().unwrap_or_default();
                let index: Option<usize> = rest
                    .strip_prefix(name)
                    .and_then(|r| r.strip_prefix('['))
                    .and_then(|r| r.split(']').next())
                    .and_then(|n| n.parse().ok());
                let who = index
                    .and_then(|k| entered.get(name).and_then(|t| t.get(k)))
                    .map(|t| format!("{t}: "))
                    .unwrap_or_default();
                let text = format!("{refused_label}: {who}{}", lang.reason(&r.reason));
                match form.fields.iter_mut().find(|f| f.name == name) {
                    Some(field) => field.errors.push(text),
                    None => form.errors.push(text),
                }
            }
        }
        Refused::Record(RecordError::OutOfScope(problems)) => {
            let names = |v: &Value| -> Vec<String> {
                match v {
                    Value::Array(items) => items
                        .iter()
                        .filter_map(|i| i.as_str().map(str::to_owned))
                        .collect(),
                    Value::String(s) => vec![s.clone()],
                    _ => Vec::new(),
                }
            };
            for p in problems {
                let org = p.org.as_str();
                let (target, text) = match &p.member {
                    Some(member) => {
                        // The member field naming them, and what was entered for them.
                        let found = spec.fields.iter().find_map(|f| {
                            let k = names(data.get(f.name)?)
                                .iter()
                                .position(|id| id == member.as_str())?;
                            let typed = entered.get(f.name).and_then(|t| t.get(k)).cloned();
                            Some((f.name, typed))
                        });
                        let typed = found.as_ref().and_then(|(_, t)| t.clone());
                        let text = scope_wording(lang, &p, typed.as_deref());
                        (found.map(|(name, _)| name), text)
                    }
                    None => {
                        let named = spec
                            .fields
                            .iter()
                            .find(|f| data.get(f.name).is_some_and(|v| names(v) == [org]))
                            .or_else(|| {
                                spec.fields
                                    .iter()
                                    .find(|f| matches!(f.name, "wish_id" | "class_id" | "event_id"))
                            })
                            .or_else(|| spec.fields.iter().find(|f| matches!(f.kind, Kind::Org)));
                        (named.map(|f| f.name), scope_wording(lang, &p, None))
                    }
                };
                match target.and_then(|t| form.fields.iter_mut().find(|f| f.name == t)) {
                    Some(field) if !field.errors.contains(&text) => field.errors.push(text),
                    Some(_) => {}
                    None => form.errors.push(text),
                }
            }
        }
        Refused::Record(RecordError::Append(
            partyedu_store::AppendError::IdempotencyKeyReused(_),
        )) => {
            // This form was stored already and then changed (back button): a fresh key lets
            // the changed one be stored as a record of its own, if that is what is meant.
            form.errors.push(lang.t("rec.key_used").to_owned());
            form.key = random_key();
        }
        other => {
            let err = crate::error::ApiError::from(other);
            if err.status().is_server_error() {
                return Err(PageError::from_api(lang, err));
            }
            // Nothing a form can send reaches here but a request too large; say the status.
            form.errors
                .push(format!("{refused_label}: {}", err.status()));
        }
    }
    // A hidden field (the record a correction targets) shows nothing: its problems are the
    // form's.
    for field in form.fields.iter_mut().filter(|f| f.input == "hidden") {
        form.errors.append(&mut field.errors);
    }
    Ok(())
}

/// A scope refusal in `lang`: the org unit outside the scope, or the member reached through
/// it (as `typed`, when they were entered otherwise than by id).
pub(crate) fn scope_wording(
    lang: super::Lang,
    p: &crate::recorder::ScopeProblem,
    typed: Option<&str>,
) -> String {
    let text = match &p.member {
        Some(member) => {
            let who = match typed {
                Some(t) if t != member.as_str() => format!("{t}（{member}）"),
                _ => member.to_string(),
            };
            lang.t("rec.scope_member").replace("{member}", &who)
        }
        None => lang.t("rec.scope_org").to_owned(),
    };
    let text = text
        .replace("{org}", p.org.as_str())
        .replace("{root}", p.root.as_str());
    format!("{}: {text}", lang.t("rec.out_of_scope"))
}

/// After a submit: the stored record and the statistics that include it, read at its position.
fn stored_page(
    state: &AppState,
    ctx: &Ctx,
    spec: &Spec,
    data: &Map<String, Value>,
    stored: &[partyedu_store::RecordedEvent],
) -> Page {
    let lang = ctx.lang;
    let mut view = View::new(ctx, "page.recorded");
    view.notes.push(ctx.t("rec.stored").to_owned());
    let mut table = Table::new(
        ctx,
        "stored",
        ctx.t("page.recorded"),
        &["col.title", "col.value"],
    );
    let position = stored.iter().map(|e| e.position).max().unwrap_or(0);
    for event in stored {
        let record = crate::Record::new(event, state.tz);
        let id = record.event_id.to_string();
        let id_cell = super::Cell::text(id.clone());
        let id_cell = if ctx.reads_log() {
            id_cell.link(format!("/log/events/{id}"))
        } else {
            id_cell
        };
        for (key, cell) in [
            ("col.type", super::Cell::text(record.event_type)),
            ("col.event_id", id_cell),
            ("col.position", super::Cell::position(record.position)),
            (
                "col.occurred_at",
                super::Cell::text(lang.timestamp(&record.occurred_at)),
            ),
            ("col.actor", super::Cell::text(record.actor)),
        ] {
            table.push(vec![super::Cell::text(ctx.t(key)), cell]);
        }
        for (k, v) in data {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            table.push(vec![
                super::Cell::text(lang.t(&format!("field.{k}"))),
                super::Cell::text(text),
            ]);
        }
    }
    table.exportable = false;
    view.tables.push(table);
    let min = position.to_string();
    // Statistics are read by viewers, auditors and admins; a recorder sees the record only.
    if ctx.caller.role == TokenRole::Admin {
        let year = stored
            .first()
            .map(|e| {
                e.occurred_at
                    .with_timezone(&state.tz)
                    .format("%Y")
                    .to_string()
            })
            .unwrap_or_default();
        let at = |path: &str| format!("{path}?year={year}&min_position={min}");
        view.links.push(Link {
            label: ctx.t("nav.coverage").to_owned(),
            href: at("/coverage"),
        });
        if spec.event_type == "ClassHeld" {
            view.links.push(Link {
                label: ctx.t("nav.classes").to_owned(),
                href: at("/ledgers/classes"),
            });
        }
        if spec.event_type == "PartyLectureGiven" {
            view.links.push(Link {
                label: ctx.t("nav.lectures").to_owned(),
                href: at("/lectures"),
            });
        }
        let members = [
            "attendee_ids",
            "member_id",
            "speaker_id",
            "visitor_ids",
            "added",
        ]
        .iter()
        .filter_map(|k| data.get(*k))
        .flat_map(|v| match v {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        })
        .filter_map(|v| v.as_str().map(str::to_owned));
        for id in members {
            view.links.push(Link {
                label: format!("{} {id}", ctx.t("page.history")),
                href: format!("/members/{}?year={year}&min_position={min}", enc(&id)),
            });
        }
    }
    view.links.push(Link {
        label: ctx.t("rec.another").to_owned(),
        href: format!("/record/{}{}", spec.slug, lang_query(ctx)),
    });
    respond(ctx, view)
}
