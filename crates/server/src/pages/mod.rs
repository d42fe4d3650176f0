//! The dashboard: server-rendered pages over the same query layer as the JSON API.
//!
//! Pages authenticate a token kept in an HttpOnly, SameSite=Strict cookie (or the API's
//! `Authorization` header) through the same lookup as [`Caller`]; every page states its basis
//! (org unit, year, rule set, as-of position and time), carries it in its URL, and every list
//! exports as CSV and XLSX with that basis in its header rows. Nothing is ranked: lists are
//! ordered by org unit and id.

mod basis;
mod export;
mod forms;
pub mod labels;
mod svg;
mod upload;
mod views;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::header::{self, AUTHORIZATION};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
pub use labels::Lang;
use std::collections::BTreeMap;

/// The token cookie and the language cookie.
pub(crate) const TOKEN_COOKIE: &str = "pe_token";
pub(crate) const LANG_COOKIE: &str = "pe_lang";

/// Rows of a list shown on one screen (exports carry them all).
const PAGE_ROWS: usize = 200;

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's routes; every response carries the Content-Security-Policy.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(views::overview))
        .route("/coverage", get(views::coverage))
        .route("/gaps/{status}", get(views::gaps))
        .route("/lectures", get(views::lectures))
        .route("/ledgers/frail", get(views::frail))
        .route("/ledgers/mobile", get(views::mobile))
        .route("/ledgers/wishes", get(views::wishes))
        .route("/ledgers/classes", get(views::classes))
        .route("/members/{id}", get(views::history))
        .route("/status", get(views::status))
        .route("/whatif", get(views::whatif))
        .route("/log", get(views::log))
        .route("/log/events/{id}", get(views::event))
        .route("/record", get(forms::index))
        .route("/record/upload", get(upload::show).post(upload::preview))
        .route("/record/upload/confirm", post(upload::confirm))
        .route("/record/template", get(upload::template))
        .route("/record/{form}", get(forms::show).post(forms::submit))
        .route("/signin", get(views::signin_form).post(views::signin))
        .route("/signout", post(views::signout))
        .route("/assets/app.css", get(stylesheet))
        .layer(axum::middleware::map_response(secure_headers))
}

async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("app.css"),
    )
        .into_response()
}

/// The value of cookie `name` in the request, if any.
pub(crate) fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The caller of `token`, through exactly the lookup the API's `Caller` does.
pub(crate) async fn caller_of_token(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
        .map_err(|_| ApiError::unauthorized("unknown or revoked token"))?;
    let (mut parts, ()) = Request::builder()
        .header(AUTHORIZATION, value)
        .body(())
        .expect("a request of one header builds")
        .into_parts();
    Caller::from_request_parts(&mut parts, state).await
}

/// What a page request carries: who asks, in which language, with which parameters.
pub(crate) struct Ctx {
    pub caller: Caller,
    pub lang: Lang,
    /// The query string's parameters (the last of repeated ones).
    pub params: BTreeMap<String, String>,
    pub path: String,
    /// Set when the request switched the language (remembered in a cookie).
    pub set_lang: bool,
}

fn language(parts: &Parts, params: &BTreeMap<String, String>) -> (Lang, bool) {
    if let Some(lang) = params.get("lang").and_then(|l| Lang::parse(l)) {
        return (lang, true);
    }
    let lang = cookie(parts, LANG_COOKIE)
        .and_then(Lang::parse)
        .unwrap_or(Lang::Zh);
    (lang, false)
}

fn query_params(parts: &Parts) -> BTreeMap<String, String> {
    let query = parts.uri.query().unwrap_or("");
    serde_urlencoded_pairs(query).into_iter().collect()
}

/// `a=1&b=x%20y` as pairs (form encoding: `+` is a space).
fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query value.
pub(crate) fn enc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        context(parts, state, false).await
    }
}

/// The context of a page request; recorders only where `recorders` (the recording pages).
pub(crate) async fn context(
    parts: &mut Parts,
    state: &AppState,
    recorders: bool,
) -> Result<Ctx, PageError> {
    let params = query_params(parts);
    let (lang, set_lang) = language(parts, &params);
    let path = parts.uri.path().to_owned();
    let here = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let to_signin = || PageError::signin(lang, &here);
    let caller = if parts.headers.contains_key(AUTHORIZATION) {
        Caller::from_request_parts(parts, state).await
    } else {
        match cookie(parts, TOKEN_COOKIE) {
            Some(token) => caller_of_token(state, token).await,
            None => return Err(to_signin()),
        }
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => return Err(to_signin()),
        Err(e) => return Err(PageError::from_api(lang, e)),
    };
    if caller.role == Role::Recorder && !recorders {
        // Recorders record; the dashboard reads statistics.
        return Err(PageError::new(lang, StatusCode::FORBIDDEN));
    }
    Ok(Ctx {
        caller,
        lang,
        params,
        path,
        set_lang,
    })
}

impl Ctx {
    /// A parameter, `None` when absent or empty.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// `path` with the basis parameters of this request (year, org, group, rules,
    /// as_of_position), replaced or extended by `extra` (an empty value drops a parameter).
    pub fn link(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let mut params: BTreeMap<&str, &str> = ["year", "org", "group", "rules", "as_of_position"]
            .into_iter()
            .filter_map(|k| self.param(k).map(|v| (k, v)))
            .collect();
        for (k, v) in extra {
            params.insert(k, v);
        }
        let query: Vec<String> = params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect();
        if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", query.join("&"))
        }
    }

    /// This page's URL with `extra` changed, keeping every parameter it has.
    pub fn here(&self, extra: &[(&str, &str)]) -> String {
        let mut params: BTreeMap<&str, &str> = self
            .params
            .iter()
            .filter(|(k, _)| !["lang", "format", "table"].contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for (k, v) in extra {
            params.insert(k, v);
        }
        let query: Vec<String> = params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect();
        if query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, query.join("&"))
        }
    }

    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// Whether the caller may read the raw log (auditor or admin, whole subdistrict).
    pub fn reads_log(&self) -> bool {
        matches!(self.caller.role, Role::Auditor | Role::Admin) && self.caller.scope.is_none()
    }
}

/// A page that could not be shown, as an HTML page (or a redirect to sign in).
#[derive(Debug)]
pub(crate) struct PageError {
    lang: Lang,
    status: StatusCode,
    redirect: Option<String>,
}

impl PageError {
    pub fn new(lang: Lang, status: StatusCode) -> Self {
        PageError {
            lang,
            status,
            redirect: None,
        }
    }

    fn signin(lang: Lang, next: &str) -> Self {
        PageError {
            lang,
            status: StatusCode::SEE_OTHER,
            redirect: Some(format!("/signin?next={}", enc(next))),
        }
    }

    pub fn from_api(lang: Lang, err: ApiError) -> Self {
        Self::new(lang, err.status())
    }

    pub fn bad_request(lang: Lang) -> Self {
        Self::new(lang, StatusCode::BAD_REQUEST)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let Some(to) = self.redirect {
            return Redirect::to(&to).into_response();
        }
        let lang = self.lang;
        let key = match self.status.as_u16() {
            400 => "error.400",
            403 => "error.403",
            404 => "error.404",
            503 => "error.503",
            _ => "error.500",
        };
        let mut view = View::bare(lang, lang.t("page.error").to_owned());
        view.notes.push(lang.t(key).to_owned());
        view.links.push(Link {
            label: lang.t("nav.overview").to_owned(),
            href: "/".to_owned(),
        });
        let mut response = html(&view);
        *response.status_mut() = self.status;
        response
    }
}

/// Shorthand for handlers: an API error as a page error in `ctx`'s language.
pub(crate) trait OrPage<T> {
    fn page(self, ctx: &Ctx) -> Result<T, PageError>;
}

impl<T, E: Into<ApiError>> OrPage<T> for Result<T, E> {
    fn page(self, ctx: &Ctx) -> Result<T, PageError> {
        self.map_err(|e| PageError::from_api(ctx.lang, e.into()))
    }
}

/// What an export cell holds: typed, so a spreadsheet gets numbers and dates.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Text(String),
    Int(i64),
    Num(f64),
    Date(NaiveDate),
    Empty,
}

/// One table cell: its text on screen (formatted per language), where it links, how it is
/// marked, and its typed value for exports.
#[derive(Clone, Debug)]
pub(crate) struct Cell {
    pub text: String,
    pub href: Option<String>,
    pub class: &'static str,
    pub value: Value,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        let text = text.into();
        Cell {
            value: Value::Text(text.clone()),
            text,
            href: None,
            class: "",
        }
    }

    pub fn int(lang: Lang, n: i64) -> Cell {
        Cell {
            text: lang.int(n),
            href: None,
            class: "num",
            value: Value::Int(n),
        }
    }

    /// A log position: an identifier, printed without separators (it is typed into forms).
    pub fn position(n: i64) -> Cell {
        Cell {
            text: n.to_string(),
            href: None,
            class: "num",
            value: Value::Int(n),
        }
    }

    pub fn num(lang: Lang, n: f64) -> Cell {
        Cell {
            text: lang.hours(n),
            href: None,
            class: "num",
            value: Value::Num(n),
        }
    }

    /// A share (0..1) shown as a percentage, exported as the share.
    pub fn rate(lang: Lang, rate: Option<f64>) -> Cell {
        Cell {
            text: lang.rate(rate),
            href: None,
            class: "num",
            value: rate.map_or(Value::Empty, Value::Num),
        }
    }

    pub fn date(lang: Lang, date: Option<NaiveDate>) -> Cell {
        match date {
            Some(d) => Cell {
                text: lang.date(d),
                href: None,
                class: "date",
                value: Value::Date(d),
            },
            None => Cell::text(""),
        }
    }

    pub fn yes_no(lang: Lang, yes: bool) -> Cell {
        Cell::text(lang.t(if yes { "yes" } else { "no" }))
    }

    pub fn link(mut self, href: impl Into<String>) -> Cell {
        self.href = Some(href.into());
        self
    }

    pub fn class(mut self, class: &'static str) -> Cell {
        self.class = class;
        self
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Row {
    pub cells: Vec<Cell>,
    pub class: &'static str,
}

impl Row {
    pub fn new(cells: Vec<Cell>) -> Row {
        Row { cells, class: "" }
    }
}

/// A list on a page: its caption, headers and rows; exportable as CSV and XLSX.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub id: &'static str,
    pub caption: String,
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
    /// Rows in the whole list (the page may show a slice).
    pub total: usize,
    pub first: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub csv: String,
    pub xlsx: String,
    pub summary: String,
    /// Whether the page offers it as CSV and XLSX (not a page answering a post).
    pub exportable: bool,
}

impl Table {
    pub fn new(ctx: &Ctx, id: &'static str, caption: &str, headers: &[&str]) -> Table {
        Table {
            id,
            caption: caption.to_owned(),
            headers: headers.iter().map(|h| ctx.t(h).to_owned()).collect(),
            rows: Vec::new(),
            total: 0,
            first: 0,
            prev: None,
            next: None,
            csv: ctx.here(&[("format", "csv"), ("table", id)]),
            xlsx: ctx.here(&[("format", "xlsx"), ("table", id)]),
            summary: String::new(),
            exportable: true,
        }
    }

    pub fn push(&mut self, cells: Vec<Cell>) {
        self.rows.push(Row::new(cells));
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Figure {
    pub label: String,
    pub value: String,
    pub href: String,
}

#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub label: String,
    pub href: String,
}

#[derive(Clone, Debug)]
pub(crate) struct NavItem {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

/// Who is signed in, as the header says it.
#[derive(Clone, Debug)]
pub(crate) struct Who {
    pub name: String,
    pub role: &'static str,
    pub role_label: String,
    pub scope: String,
}

/// The basis as the header states it.
#[derive(Clone, Debug)]
pub(crate) struct BasisView {
    pub org: String,
    pub year: String,
    pub rules: String,
    pub as_of: String,
    pub reference_date: String,
    /// The same in one line (print, spreadsheets).
    pub line: String,
}

#[derive(Clone, Debug)]
pub(crate) struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The basis controls: a GET form back to the page.
#[derive(Clone, Debug)]
pub(crate) struct Controls {
    pub action: String,
    pub hidden: Vec<(String, String)>,
    pub year: String,
    pub orgs: Vec<Choice>,
    pub groups: Vec<Choice>,
    pub rules: Vec<Choice>,
    pub as_of: String,
    pub reset: String,
}

/// Everything a page shows; rendered by `templates/page.html`.
#[derive(Template)]
#[template(path = "page.html")]
pub(crate) struct View {
    pub lang: Lang,
    pub title: String,
    pub who: Option<Who>,
    pub nav: Vec<NavItem>,
    pub lang_href: String,
    pub basis: Option<BasisView>,
    pub controls: Option<Controls>,
    pub notes: Vec<String>,
    pub figures: Vec<Figure>,
    pub chart: Option<String>,
    pub links: Vec<Link>,
    pub tables: Vec<Table>,
    pub pre: Vec<(String, String)>,
    /// The sign-in form (only on the sign-in page).
    pub signin: Option<SigninForm>,
    /// The log view's filter form.
    pub log_filter: Option<LogFilter>,
    /// A recording form (`/record/…`), and the corrections a record's page offers.
    pub forms: Vec<forms::FormView>,
    /// The spreadsheet upload (`/record/upload`).
    pub upload: Option<upload::UploadForm>,
}

#[derive(Clone, Debug)]
pub(crate) struct LogFilter {
    pub types: Vec<Choice>,
    pub stream: String,
    pub from: String,
    pub after: String,
}

#[derive(Clone, Debug)]
pub(crate) struct SigninForm {
    pub next: String,
    pub error: bool,
}

impl View {
    pub fn bare(lang: Lang, title: String) -> View {
        View {
            lang,
            title,
            who: None,
            nav: Vec::new(),
            lang_href: format!("?lang={}", lang.other().code()),
            basis: None,
            controls: None,
            notes: Vec::new(),
            figures: Vec::new(),
            chart: None,
            links: Vec::new(),
            tables: Vec::new(),
            pre: Vec::new(),
            signin: None,
            log_filter: None,
            forms: Vec::new(),
            upload: None,
        }
    }

    /// A page for `ctx`'s caller: header, navigation, language switch.
    pub fn new(ctx: &Ctx, title_key: &str) -> View {
        let mut view = View::bare(ctx.lang, ctx.t(title_key).to_owned());
        let role = ctx.caller.role.as_str();
        view.who = Some(Who {
            name: ctx.caller.name.clone(),
            role,
            role_label: ctx.lang.value("token", role),
            scope: ctx
                .caller
                .scope
                .as_ref()
                .map_or_else(|| ctx.t("auth.whole").to_owned(), |s| s.as_str().to_owned()),
        });
        let mut items = vec![
            ("nav.overview", "/"),
            ("nav.coverage", "/coverage"),
            ("nav.unreached", "/gaps/unreached"),
            ("nav.noncompliant", "/gaps/noncompliant"),
            ("nav.lectures", "/lectures"),
            ("nav.frail", "/ledgers/frail"),
            ("nav.mobile", "/ledgers/mobile"),
            ("nav.wishes", "/ledgers/wishes"),
            ("nav.classes", "/ledgers/classes"),
            ("nav.whatif", "/whatif"),
            ("nav.projections", "/status"),
        ];
        if ctx.caller.role == Role::Recorder {
            items.clear();
        }
        if ctx.reads_log() {
            items.push(("nav.log", "/log"));
        }
        if forms::records(ctx) {
            items.push(("nav.record", "/record"));
        }
        view.nav = items
            .into_iter()
            .map(|(key, path)| NavItem {
                label: ctx.t(key),
                href: if ["/log", "/status", "/record"].contains(&path) {
                    path.to_owned()
                } else {
                    ctx.link(path, &[])
                },
                current: ctx.path == path,
            })
            .collect();
        view.lang_href = ctx.here(&[("lang", ctx.lang.other().code())]);
        view
    }

    /// The print header of a table: the basis line when there is one.
    pub fn basis_line(&self) -> String {
        self.basis.as_ref().map_or_else(
            || self.title.clone(),
            |b| format!("{} · {}", self.title, b.line),
        )
    }
}

/// Renders a page as HTML.
pub(crate) fn html(view: &View) -> Response {
    match view.render() {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(err) => ApiError::internal(&err).into_response(),
    }
}

/// The page as HTML, or one of its tables as CSV or XLSX (`format=csv|xlsx&table=ID`); tables
/// longer than a screen are paged in HTML (`offset`), never in exports.
pub(crate) fn respond(ctx: &Ctx, mut view: View) -> Result<Response, PageError> {
    let format = ctx.param("format");
    if let Some(format @ ("csv" | "xlsx")) = format {
        let wanted = ctx.param("table");
        let table = view
            .tables
            .iter()
            .find(|t| wanted.is_none_or(|w| w == t.id))
            .ok_or_else(|| PageError::new(ctx.lang, StatusCode::NOT_FOUND))?;
        let basis = view.basis_line();
        return Ok(if format == "csv" {
            export::csv(&view.title, &basis, table)
        } else {
            export::xlsx(&view.title, &basis, table)
                .map_err(|e| PageError::from_api(ctx.lang, ApiError::internal(&e)))?
        });
    }
    let offset: usize = ctx
        .param("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    for table in &mut view.tables {
        table.total = table.rows.len();
        if table.rows.len() > PAGE_ROWS {
            let start = offset.min(table.rows.len());
            let end = (start + PAGE_ROWS).min(table.rows.len());
            table.rows = table.rows.drain(start..end).collect();
            table.first = start;
            if start > 0 {
                table.prev =
                    Some(ctx.here(&[("offset", &start.saturating_sub(PAGE_ROWS).to_string())]));
            }
            if end < table.total {
                table.next = Some(ctx.here(&[("offset", &end.to_string())]));
            }
        }
        let n = ctx.lang.int(table.total as i64);
        table.summary = if table.rows.len() < table.total {
            format!(
                "{} · {}",
                ctx.t("list.rows").replace("{n}", &n),
                ctx.t("list.shown")
                    .replace("{from}", &(table.first + 1).to_string())
                    .replace("{to}", &(table.first + table.rows.len()).to_string())
            )
        } else {
            ctx.t("list.rows").replace("{n}", &n)
        };
    }
    let mut response = html(&view);
    if ctx.set_lang {
        let cookie = format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Strict; HttpOnly",
            ctx.lang.code()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_round_trip() {
        let pairs = serde_urlencoded_pairs(&format!("a={}&b=x+y&c=%", enc("网格 A&=1")));
        assert_eq!(pairs[0], ("a".to_owned(), "网格 A&=1".to_owned()));
        assert_eq!(pairs[1].1, "x y");
        assert_eq!(pairs[2].1, "%");
    }
}
