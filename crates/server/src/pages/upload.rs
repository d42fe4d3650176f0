//! Spreadsheet upload in the dashboard: a template to download, an upload that previews every
//! row as it will be recorded and every problem at its row and column, and a confirm that
//! records the file atomically through [`sheets::import_sheet`] — nothing is stored before.
//!
//! Between preview and confirm the file travels back in the confirm form (hex, in a hidden
//! field), never in the log or on the server. The preview judges the file as the confirm will
//! (domain rules, and a scoped token's subtree: a row outside it is refused at its cell), and
//! every problem is worded in the page's language where the recording path gave its reason.

use super::forms::{RecordCtx, same_origin};
use super::{Cell, Choice, Ctx, Link, OrPage, PageError, Table, View, respond};
use crate::AppState;
use crate::sheets::{self, SheetError, SheetFormat, SheetKind};
use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

type Page = Result<Response, PageError>;

/// The upload form, and once a clean file was previewed, its confirm form.
#[derive(Clone, Debug)]
pub(crate) struct UploadForm {
    pub action: String,
    pub confirm_action: String,
    pub kinds: Vec<Choice>,
    /// (kind, format, the file in hex) of a clean preview.
    pub confirm: Option<(String, String, String)>,
}

fn upload_form(ctx: &Ctx, chosen: Option<SheetKind>) -> UploadForm {
    let q = if ctx.lang == super::Lang::En {
        "?lang=en"
    } else {
        ""
    };
    UploadForm {
        action: format!("/record/upload{q}"),
        confirm_action: format!("/record/upload/confirm{q}"),
        kinds: SheetKind::ALL
            .into_iter()
            .map(|k| Choice {
                value: k.as_str().to_owned(),
                label: ctx.lang.value("sheet", k.as_str()),
                selected: Some(k) == chosen,
            })
            .collect(),
        confirm: None,
    }
}

fn upload_view(ctx: &Ctx, chosen: Option<SheetKind>) -> View {
    let mut view = View::new(ctx, "page.upload");
    for kind in SheetKind::ALL {
        for format in ["csv", "xlsx"] {
            view.links.push(Link {
                label: format!(
                    "{}: {} ({})",
                    ctx.t("upload.template"),
                    ctx.lang.value("sheet", kind.as_str()),
                    format.to_uppercase()
                ),
                href: format!(
                    "/record/template?kind={}&format={format}&lang={}",
                    kind.as_str(),
                    ctx.lang.code()
                ),
            });
        }
    }
    view.upload = Some(upload_form(ctx, chosen));
    view
}

/// `GET /record/upload`.
pub(crate) async fn show(RecordCtx(ctx): RecordCtx) -> Page {
    respond(&ctx, upload_view(&ctx, None))
}

/// `GET /record/template?kind=&format=csv|xlsx&lang=`: the empty sheet `partyedu template` writes.
pub(crate) async fn template(RecordCtx(ctx): RecordCtx) -> Page {
    let lang = ctx.lang;
    let kind: SheetKind = ctx
        .param("kind")
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| PageError::bad_request(lang))?;
    let (bytes, mime, ext) = match ctx.param("format") {
        Some("xlsx") => (
            sheets::template_xlsx(kind, lang)
                .map_err(|e| PageError::from_api(lang, crate::error::ApiError::internal(&e)))?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        _ => (
            sheets::template_csv(kind, lang),
            "text/csv; charset=utf-8",
            "csv",
        ),
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}-{}.{ext}\"",
                    kind.as_str(),
                    lang.code()
                ),
            ),
        ],
        bytes,
    )
        .into_response())
}

fn format_of(name: &str) -> Option<SheetFormat> {
    SheetFormat::of_path(std::path::Path::new(name))
}

/// A sheet's problems as a table (row, column, problem).
fn problems_table(ctx: &Ctx, problems: &[sheets::CellProblem]) -> Table {
    let mut table = Table::new(
        ctx,
        "problems",
        ctx.t("upload.problems"),
        &["col.row", "col.column", "col.problem"],
    );
    table.exportable = false;
    for p in problems {
        table.push(vec![
            Cell::int(ctx.lang, p.row as i64),
            Cell::text(p.column.clone()),
            Cell::text(match &p.cause {
                Some(sheets::Cause::Reason(reason)) => ctx.lang.reason(reason),
                Some(sheets::Cause::Scope(scope)) => {
                    super::forms::scope_wording(ctx.lang, scope, None)
                }
                Some(sheets::Cause::Sheet(problem)) => problem.wording(ctx.lang),
                None => p.problem.clone(),
            }),
        ]);
        if let Some(row) = table.rows.last_mut() {
            row.class = "problem";
        }
    }
    table
}

/// A sheet error on the page: its problems, or why the file cannot be read.
fn refused(ctx: &Ctx, view: &mut View, err: SheetError) -> Result<(), PageError> {
    view.notes.push(ctx.t("rec.nothing_stored").to_owned());
    match err {
        SheetError::Problems(problems) => view.tables.push(problems_table(ctx, &problems)),
        // The reader's own detail (csv, calamine) stays as it says it; what it means is worded.
        SheetError::Unreadable { what, reason } if ctx.lang == super::Lang::Zh => view
            .notes
            .push(format!("无法按 {what} 格式读取该文件：{reason}")),
        SheetError::Unreadable { .. } => view.notes.push(err.to_string()),
        SheetError::Record(e) => return Err(crate::recording::record_error(e)).page(ctx),
    }
    Ok(())
}

/// `POST /record/upload` (multipart: `kind`, `file`): the preview, storing nothing.
pub(crate) async fn preview(
    State(state): State<AppState>,
    RecordCtx(ctx): RecordCtx,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Page {
    let lang = ctx.lang;
    if !same_origin(&headers) {
        return Err(PageError::new(lang, StatusCode::FORBIDDEN));
    }
    let (mut kind, mut file) = (None, None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| PageError::bad_request(lang))?
    {
        match field.name() {
            Some("kind") => {
                let text = field
                    .text()
                    .await
                    .map_err(|_| PageError::bad_request(lang))?;
                kind = text.parse::<SheetKind>().ok();
            }
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|_| PageError::bad_request(lang))?;
                file = Some((name, bytes));
            }
            _ => {}
        }
    }
    let kind = kind.ok_or_else(|| PageError::bad_request(lang))?;
    let mut view = upload_view(&ctx, Some(kind));
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        view.notes.push(ctx.t("upload.no_file").to_owned());
        return respond(&ctx, view);
    };
    let Some(format) = format_of(&name) else {
        view.notes.push(ctx.t("upload.bad_format").to_owned());
        return respond(&ctx, view);
    };
    let scope = ctx.caller.scope.as_ref();
    match sheets::preview_sheet(&state.recorder, kind, &bytes, format, scope).await {
        Ok(rows) => {
            let mut table = Table::new(
                &ctx,
                "preview",
                ctx.t("upload.preview"),
                &["col.row", "col.type", "col.data"],
            );
            for r in &rows {
                table.push(vec![
                    Cell::int(lang, r.row as i64),
                    Cell::text(r.event_type),
                    Cell::text(r.data.to_string()),
                ]);
            }
            table.exportable = false;
            view.notes.push(ctx.t("upload.clean").to_owned());
            view.tables.push(table);
            if let Some(form) = view.upload.as_mut() {
                let format = if format == SheetFormat::Xlsx {
                    "xlsx"
                } else {
                    "csv"
                };
                form.confirm = Some((
                    kind.as_str().to_owned(),
                    format.to_owned(),
                    hex::encode(&bytes),
                ));
            }
        }
        Err(err) => refused(&ctx, &mut view, err)?,
    }
    respond(&ctx, view)
}

/// `POST /record/upload/confirm` (`kind`, `format`, `file` in hex): records the file whole.
/// Its events' ids come from its content, so a second confirm stores nothing new.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    RecordCtx(ctx): RecordCtx,
    headers: HeaderMap,
    body: Bytes,
) -> Page {
    let lang = ctx.lang;
    if !same_origin(&headers) {
        return Err(PageError::new(lang, StatusCode::FORBIDDEN));
    }
    let pairs = super::serde_urlencoded_pairs(&String::from_utf8_lossy(&body));
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let kind: SheetKind = get("kind")
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| PageError::bad_request(lang))?;
    let format = match get("format") {
        Some("xlsx") => SheetFormat::Xlsx,
        Some("csv") => SheetFormat::Csv,
        _ => return Err(PageError::bad_request(lang)),
    };
    let bytes = get("file")
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| PageError::bad_request(lang))?;
    let mut view = upload_view(&ctx, Some(kind));
    match sheets::import_sheet_as(
        &state.recorder,
        kind,
        &bytes,
        format,
        &ctx.caller.name,
        ctx.caller.scope.as_ref(),
        |_, _| {},
    )
    .await
    {
        Ok(stored) => {
            view.notes.push(
                ctx.t("upload.stored")
                    .replace("{n}", &lang.int(stored as i64)),
            );
            let position = state.store.head_position().await.page(&ctx)?;
            let path = if kind == SheetKind::ClassRegister {
                "/ledgers/classes"
            } else {
                "/coverage"
            };
            if ctx.caller.role == crate::auth::Role::Admin {
                view.links.insert(
                    0,
                    Link {
                        label: ctx
                            .t(if kind == SheetKind::ClassRegister {
                                "nav.classes"
                            } else {
                                "nav.coverage"
                            })
                            .to_owned(),
                        href: format!("{path}?min_position={position}"),
                    },
                );
            }
        }
        Err(err) => refused(&ctx, &mut view, err)?,
    }
    respond(&ctx, view)
}
