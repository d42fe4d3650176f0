//! Recording from the spreadsheets administrators keep: a class register (one row per class or
//! per attendee) and the online-study lists the platforms export, as XLSX or CSV (UTF-8, or
//! GB18030 as Excel saves it in China), with templates in zh-CN and English.
//!
//! A sheet goes through the same path as the API: every row becomes an event judged by the
//! domain; a file with any problem stores nothing, and each problem names its row and column
//! (as Excel shows them: row 7, column C). Event ids are derived from the rows' content (a
//! class from its id, a study log from its member, date, platform and hours), so uploading the
//! same file again stores nothing new. A scoped recorder's sheet may touch only its subtree:
//! a row outside it is refused at its cell like any other problem.

pub use crate::pages::Lang;
use crate::recorder::{RecordError, Recorder, ScopeProblem, Submission, Submitted};
use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use partyedu_domain::kinds::{ClassForm, StudyPlatform};
use partyedu_domain::{Event, Id, Reason};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The kinds of sheet partyedu reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SheetKind {
    /// Classes held with their attendees: rows of one class id make one `ClassHeld`.
    ClassRegister,
    /// Online study hours per member and day, as the study platforms export them.
    OnlineHours,
}

impl SheetKind {
    pub const ALL: [SheetKind; 2] = [SheetKind::ClassRegister, SheetKind::OnlineHours];

    pub fn as_str(self) -> &'static str {
        match self {
            SheetKind::ClassRegister => "class-register",
            SheetKind::OnlineHours => "online-hours",
        }
    }

    fn columns(self) -> &'static [Column] {
        match self {
            SheetKind::ClassRegister => CLASS_COLUMNS,
            SheetKind::OnlineHours => ONLINE_COLUMNS,
        }
    }
}

impl FromStr for SheetKind {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        SheetKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| format!("unknown sheet `{text}`: class-register or online-hours"))
    }
}

impl fmt::Display for SheetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A column of a sheet: its field, its headers in both languages, and an example value.
struct Column {
    key: &'static str,
    zh: &'static str,
    en: &'static str,
    required: bool,
    example: &'static str,
}

const fn column(
    key: &'static str,
    zh: &'static str,
    en: &'static str,
    required: bool,
    example: &'static str,
) -> Column {
    Column {
        key,
        zh,
        en,
        required,
        example,
    }
}

const CLASS_COLUMNS: &[Column] = &[
    column("class_id", "班次编号", "Class id", true, "C-2025-001"),
    column(
        "title",
        "班次名称",
        "Title",
        true,
        "学习贯彻党的二十届三中全会精神专题培训",
    ),
    column("form", "形式", "Form", true, "集中培训"),
    column(
        "organizer_org_id",
        "组织单位编号",
        "Organiser (org id)",
        true,
        "SD",
    ),
    column("venue_id", "场地编号", "Venue id", false, "V-SCHOOL"),
    column(
        "starts_at",
        "开始时间",
        "Starts at",
        true,
        "2025-03-05 09:00",
    ),
    column(
        "duration_minutes",
        "时长（分钟）",
        "Duration (minutes)",
        true,
        "210",
    ),
    column("study_hours", "学时", "Study hours", true, "4"),
    column("lecturer_ids", "授课人编号", "Lecturer ids", false, "L-01"),
    column(
        "attendees",
        "参加人员",
        "Attendees (ids or names)",
        true,
        "王建国；李红",
    ),
];

const ONLINE_COLUMNS: &[Column] = &[
    column(
        "member",
        "党员（编号或姓名）",
        "Member (id or name)",
        true,
        "王建国",
    ),
    column("studied_on", "学习日期", "Date", true, "2025-03-05"),
    column("platform", "学习平台", "Platform", true, "学习强国"),
    column("minutes", "学习时长（分钟）", "Minutes", false, "45"),
    column("hours", "学时", "Hours", false, ""),
];

/// The platforms by the names their own exports use.
const PLATFORM_NAMES: &[(StudyPlatform, &[&str])] = &[
    (
        StudyPlatform::XuexiQiangguo,
        &["学习强国", "Xuexi Qiangguo"],
    ),
    (
        StudyPlatform::LighthouseClassroom,
        &["灯塔大课堂", "灯塔-党建在线", "Lighthouse Classroom"],
    ),
    (
        StudyPlatform::ShandongOnlineAcademy,
        &["山东党员网络学院", "Shandong Online Academy"],
    ),
    (StudyPlatform::Other, &["其他", "Other"]),
];

/// One problem of a sheet, where Excel shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellProblem {
    /// 1-based, as Excel numbers rows (the header is row 1).
    pub row: usize,
    /// A, B, … (empty for a problem of the whole row or file).
    pub column: String,
    /// In English.
    pub problem: String,
    /// What the recording path refused, for wording it in another language (none for a
    /// problem of the sheet itself).
    pub cause: Option<Cause>,
}

/// Why a cell was refused, for wording it in the page's language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The domain's rejection.
    Reason(Reason),
    /// Outside the recorder's scope.
    Scope(ScopeProblem),
    /// What the sheet itself gets wrong, before anything reaches the recording path.
    Sheet(SheetProblem),
}

/// A problem of the sheet itself: its header, a cell that cannot be read as what its column
/// holds, a name that names no member or several.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SheetProblem {
    Empty,
    MissingColumn {
        zh: &'static str,
        en: &'static str,
    },
    NoClassId,
    NoMember {
        text: String,
    },
    SharedName {
        text: String,
        ids: Vec<String>,
    },
    ListedTwice {
        name: String,
        id: String,
        class_id: String,
    },
    NotAForm {
        text: String,
    },
    NotATime {
        text: String,
    },
    NotMinutes {
        text: String,
        or_hours: bool,
    },
    DiffersFromFirst {
        text: String,
        row: usize,
        first: String,
    },
    NotADate {
        text: String,
    },
    NotAPlatform {
        text: String,
    },
}

impl SheetProblem {
    /// The problem in `lang`; English is what the CLI and the API say.
    pub fn wording(&self, lang: Lang) -> String {
        use SheetProblem as P;
        let zh = lang == Lang::Zh;
        match self {
            P::Empty if zh => "表格为空：需要一行表头".to_owned(),
            P::Empty => "the sheet is empty: it needs a header row".to_owned(),
            P::MissingColumn { zh: z, en } if zh => format!("表头中没有“{z}”（{en}）列"),
            P::MissingColumn { zh: z, en } => format!("no column `{z}` / `{en}` in the header"),
            P::NoClassId if zh => "缺少课程编号".to_owned(),
            P::NoClassId => "the class id is missing".to_owned(),
            P::NoMember { text } if zh => format!("没有编号或姓名为“{text}”的党员"),
            P::NoMember { text } => format!("no member has the id or name `{text}`"),
            P::SharedName { text, ids } if zh => format!(
                "有 {} 名党员名叫“{text}”（{}）：请填写党员编号",
                ids.len(),
                ids.join("、")
            ),
            P::SharedName { text, ids } => format!(
                "`{text}` is the name of {} members ({}): write the member id",
                ids.len(),
                ids.join(", ")
            ),
            P::ListedTwice { name, id, class_id } if zh => {
                format!("“{name}”（{id}）在课程 {class_id} 中重复列出")
            }
            P::ListedTwice { name, id, class_id } => {
                format!("`{name}` ({id}) is listed twice for class {class_id}")
            }
            P::NotAForm { text } if zh => format!("“{text}”不是一种课程形式"),
            P::NotAForm { text } => format!("`{text}` is not a class form"),
            P::NotATime { text } if zh => {
                format!("“{text}”不是形如 2025-03-05 09:00 的时间")
            }
            P::NotATime { text } => format!("`{text}` is not a time like 2025-03-05 09:00"),
            P::NotMinutes { text, or_hours } if zh => format!(
                "“{text}”不是整数分钟{}",
                if *or_hours {
                    "（或填写学时）"
                } else {
                    ""
                }
            ),
            P::NotMinutes { text, or_hours } => format!(
                "`{text}` is not a whole number of minutes{}",
                if *or_hours { " (or give hours)" } else { "" }
            ),
            P::DiffersFromFirst { text, row, first } if zh => {
                format!("“{text}”与同一课程第 {row} 行不一致（“{first}”）")
            }
            P::DiffersFromFirst { text, row, first } => {
                format!("`{text}` differs from row {row} of the same class (`{first}`)")
            }
            P::NotADate { text } if zh => format!("“{text}”不是形如 2025-03-05 的日期"),
            P::NotADate { text } => format!("`{text}` is not a date like 2025-03-05"),
            P::NotAPlatform { text } if zh => {
                format!("“{text}”不是学习平台（学习强国、灯塔大课堂、山东党员网络学院、其他）")
            }
            P::NotAPlatform { text } => {
                format!("`{text}` is not a platform (学习强国, 灯塔大课堂, 山东党员网络学院, 其他)")
            }
        }
    }

    /// The problem at `row` (1-based) and `column` (a letter, or empty for the whole row).
    fn at(self, row: usize, column: String) -> CellProblem {
        CellProblem {
            row,
            column,
            problem: self.wording(Lang::En),
            cause: Some(Cause::Sheet(self)),
        }
    }
}

impl fmt::Display for CellProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column.is_empty() {
            write!(f, "row {}: {}", self.row, self.problem)
        } else {
            write!(
                f,
                "row {}, column {}: {}",
                self.row, self.column, self.problem
            )
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error("the sheet has {} problem(s); nothing was stored", .0.len())]
    Problems(Vec<CellProblem>),
    #[error("the file cannot be read as {what}: {reason}")]
    Unreadable { what: &'static str, reason: String },
    #[error(transparent)]
    Record(RecordError),
}

/// A file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SheetFormat {
    Csv,
    Xlsx,
}

impl SheetFormat {
    /// By the file name's extension.
    pub fn of_path(path: &std::path::Path) -> Option<SheetFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(SheetFormat::Csv),
            "xlsx" => Some(SheetFormat::Xlsx),
            _ => None,
        }
    }
}

/// Column letters as Excel shows them: 0 → A, 25 → Z, 26 → AA.
fn letter(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

/// The rows of a file as text cells.
pub fn read_rows(bytes: &[u8], format: SheetFormat) -> Result<Vec<Vec<String>>, SheetError> {
    match format {
        SheetFormat::Csv => {
            // Excel on Chinese Windows saves GB18030; elsewhere UTF-8, often with a BOM.
            let text = match std::str::from_utf8(bytes) {
                Ok(text) => text.trim_start_matches('\u{feff}').to_owned(),
                Err(_) => {
                    let (text, _, bad) = encoding_rs::GB18030.decode(bytes);
                    if bad {
                        return Err(SheetError::Unreadable {
                            what: "CSV",
                            reason: "neither UTF-8 nor GB18030 text".to_owned(),
                        });
                    }
                    text.into_owned()
                }
            };
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(text.as_bytes());
            reader
                .records()
                .map(|r| {
                    r.map(|record| record.iter().map(str::to_owned).collect())
                        .map_err(|e| SheetError::Unreadable {
                            what: "CSV",
                            reason: e.to_string(),
                        })
                })
                .collect()
        }
        SheetFormat::Xlsx => {
            use calamine::{Data, Reader};
            let unreadable = |e: &dyn fmt::Display| SheetError::Unreadable {
                what: "XLSX",
                reason: e.to_string(),
            };
            let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec()))
                .map_err(|e| unreadable(&e))?;
            let range = book
                .worksheet_range_at(0)
                .ok_or_else(|| unreadable(&"the workbook has no sheet"))?
                .map_err(|e| unreadable(&e))?;
            Ok(range
                .rows()
                .map(|row| {
                    row.iter()
                        .map(|cell| match cell {
                            Data::Empty => String::new(),
                            Data::String(s) => s.clone(),
                            Data::Float(f) if f.fract() == 0.0 => format!("{f:.0}"),
                            Data::Float(f) => f.to_string(),
                            Data::Int(i) => i.to_string(),
                            Data::Bool(b) => b.to_string(),
                            Data::DateTime(d) => match d.as_datetime() {
                                Some(at) if at.time() == chrono::NaiveTime::MIN => {
                                    at.date().to_string()
                                }
                                Some(at) => at.format("%Y-%m-%d %H:%M").to_string(),
                                None => d.to_string(),
                            },
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect())
        }
    }
}

/// The empty sheet of `kind`: its header in `lang` and one example row.
pub fn template_rows(kind: SheetKind, lang: Lang) -> Vec<Vec<String>> {
    let header = kind
        .columns()
        .iter()
        .map(|c| match lang {
            Lang::Zh => c.zh,
            Lang::En => c.en,
        })
        .map(str::to_owned)
        .collect();
    let example = kind
        .columns()
        .iter()
        .map(|c| c.example.to_owned())
        .collect();
    vec![header, example]
}

/// The template as CSV (UTF-8 with a BOM, so that Excel opens it right).
pub fn template_csv(kind: SheetKind, lang: Lang) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    for row in template_rows(kind, lang) {
        writer.write_record(row).expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}

/// The template as XLSX: a bold, frozen header row and columns wide enough to read.
pub fn template_xlsx(kind: SheetKind, lang: Lang) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (r, row) in template_rows(kind, lang).iter().enumerate() {
        for (c, text) in row.iter().enumerate() {
            if r == 0 {
                sheet.write_string_with_format(0, c as u16, text, &bold)?;
                sheet.set_column_width(c as u16, (text.chars().count() as f64 * 2.2).max(14.0))?;
            } else {
                sheet.write_string(r as u32, c as u16, text)?;
            }
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    book.save_to_buffer()
}

/// Members by id and by name, to resolve a cell that names a member.
pub struct Roster {
    ids: std::collections::BTreeSet<String>,
    by_name: BTreeMap<String, Vec<String>>,
}

impl Roster {
    pub fn new(members: impl IntoIterator<Item = (String, String)>) -> Roster {
        let mut roster = Roster {
            ids: Default::default(),
            by_name: BTreeMap::new(),
        };
        for (id, name) in members {
            roster.by_name.entry(name).or_default().push(id.clone());
            roster.ids.insert(id);
        }
        roster
    }

    /// The members whose id is `text`, else whose name is `text`: one, several (a name shared)
    /// or none.
    pub fn lookup(&self, text: &str) -> Vec<String> {
        if self.ids.contains(text) {
            return vec![text.to_owned()];
        }
        self.by_name.get(text).cloned().unwrap_or_default()
    }

    /// The member a cell names: an id, else a name that exactly one member has.
    fn resolve(&self, text: &str) -> Result<String, SheetProblem> {
        match self.lookup(text).as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(SheetProblem::NoMember {
                text: text.to_owned(),
            }),
            ids => Err(SheetProblem::SharedName {
                text: text.to_owned(),
                ids: ids.to_vec(),
            }),
        }
    }
}

/// One event built from a sheet, with the rows and columns its fields came from.
struct Built {
    event_type: &'static str,
    data: Map<String, Value>,
    event_id: Uuid,
    /// The first row of the event.
    row: usize,
    /// For each attendee, in order, the row it was listed on.
    attendee_rows: Vec<usize>,
}

/// Reads `bytes` as a sheet of `kind` and records it whole, or nothing; `importer` becomes
/// `metadata.imported_by`. Returns how many events were stored (0 for a file already stored).
pub async fn import_sheet(
    recorder: &Recorder,
    kind: SheetKind,
    bytes: &[u8],
    format: SheetFormat,
    importer: &str,
    progress: impl FnMut(usize, usize),
) -> Result<usize, SheetError> {
    import_sheet_as(recorder, kind, bytes, format, importer, None, progress).await
}

/// [`import_sheet`] for a recorder limited to the subtree of `scope`.
pub async fn import_sheet_as(
    recorder: &Recorder,
    kind: SheetKind,
    bytes: &[u8],
    format: SheetFormat,
    importer: &str,
    scope: Option<&Id>,
    progress: impl FnMut(usize, usize),
) -> Result<usize, SheetError> {
    let (rows, built) = built(recorder, kind, bytes, format).await?;
    let locate = locator(kind, &rows);
    let submission = submission(&built, &locate, importer, scope)?;
    recorder
        .record_in_chunks(submission, 10_000, progress)
        .await
        .map_err(|err| refusal(err, &built, &locate))
}

/// The events of a sheet as one submission, or the problems the catalog finds in them.
fn submission(
    built: &[Built],
    locate: &impl Fn(&Built, &str, String) -> CellProblem,
    importer: &str,
    scope: Option<&Id>,
) -> Result<Submission, SheetError> {
    let mut problems = Vec::new();
    let mut events = Vec::new();
    for b in built {
        match Event::parse(b.event_type, Value::Object(b.data.clone())) {
            Ok(event) => {
                let mut metadata = Map::new();
                metadata.insert("imported_by".to_owned(), json!(importer));
                metadata.insert("sheet_row".to_owned(), json!(b.row));
                events.push(Submitted {
                    event,
                    event_id: Some(b.event_id),
                    actor: importer.to_owned(),
                    occurred_at: None,
                    metadata,
                });
            }
            Err(err) => {
                let reason = err.reason();
                let mut cell = locate(b, &err.path, err.problem);
                cell.cause = Some(Cause::Reason(reason));
                problems.push(cell);
            }
        }
    }
    if !problems.is_empty() {
        return Err(SheetError::Problems(problems));
    }
    Ok(Submission {
        events,
        scope: scope.cloned(),
        idempotency_key: None,
    })
}

/// A refusal of the recording path at the cells it concerns: a rejection at its field's, a
/// scope problem at the member's (or the org unit's) cell.
fn refusal(
    err: RecordError,
    built: &[Built],
    locate: &impl Fn(&Built, &str, String) -> CellProblem,
) -> SheetError {
    let at = |index: usize, path: &str, problem: String, cause: Cause| {
        let mut cell = match built.get(index) {
            Some(b) => locate(b, path, problem),
            None => CellProblem {
                row: 0,
                column: String::new(),
                problem,
                cause: None,
            },
        };
        cell.cause = Some(cause);
        cell
    };
    match err {
        RecordError::Rejected(rejections) => SheetError::Problems(
            rejections
                .into_iter()
                .map(|r| {
                    let (index, path) = split_event_path(&r.path);
                    at(index, path, r.problem, Cause::Reason(r.reason))
                })
                .collect(),
        ),
        RecordError::OutOfScope(problems) => SheetError::Problems(
            problems
                .into_iter()
                .map(|p| {
                    let data = built.get(p.index).map(|b| &b.data);
                    let holds = |key: &str, id: &str| {
                        data.and_then(|d| d.get(key)).is_some_and(|v| match v {
                            Value::Array(items) => items.iter().any(|i| i == id),
                            other => other == id,
                        })
                    };
                    let path = match &p.member {
                        Some(m) => data
                            .and_then(|d| d.get("attendee_ids"))
                            .and_then(Value::as_array)
                            .and_then(|ids| ids.iter().position(|i| i == m.as_str()))
                            .map_or_else(
                                || "member_id".to_owned(),
                                |k| format!("attendee_ids[{k}]"),
                            ),
                        None => ["organizer_org_id"]
                            .into_iter()
                            .find(|key| holds(key, p.org.as_str()))
                            .unwrap_or_default()
                            .to_owned(),
                    };
                    let problem = match &p.member {
                        Some(m) => format!(
                            "member {m} belongs to {}, outside this token's scope {}",
                            p.org, p.root
                        ),
                        None => format!(
                            "org unit {} is outside this token's scope {}",
                            p.org, p.root
                        ),
                    };
                    at(p.index, &path, problem, Cause::Scope(p))
                })
                .collect(),
        ),
        other => SheetError::Record(other),
    }
}

/// The sheet's rows and the events built from them.
async fn built(
    recorder: &Recorder,
    kind: SheetKind,
    bytes: &[u8],
    format: SheetFormat,
) -> Result<(Vec<Vec<String>>, Vec<Built>), SheetError> {
    let rows = read_rows(bytes, format)?;
    let roster = recorder.roster().await.map_err(SheetError::Record)?;
    let built = build(kind, &rows, &roster, recorder.tz())?;
    Ok((rows, built))
}

/// One event a sheet will record: the row it starts on, its type and data.
pub struct PreviewRow {
    pub row: usize,
    pub event_type: &'static str,
    pub data: Value,
}

/// The events `bytes` would record, judged as [`import_sheet_as`] would judge them against
/// the log as it stands (domain rules and scope included), without storing anything.
pub async fn preview_sheet(
    recorder: &Recorder,
    kind: SheetKind,
    bytes: &[u8],
    format: SheetFormat,
    scope: Option<&Id>,
) -> Result<Vec<PreviewRow>, SheetError> {
    let (rows, built) = built(recorder, kind, bytes, format).await?;
    let locate = locator(kind, &rows);
    let submission = submission(&built, &locate, "preview", scope)?;
    recorder
        .check(&submission)
        .await
        .map_err(|err| refusal(err, &built, &locate))?;
    Ok(built
        .into_iter()
        .map(|b| PreviewRow {
            row: b.row,
            event_type: b.event_type,
            data: Value::Object(b.data),
        })
        .collect())
}

/// `events[3].data.study_hours` → (3, `study_hours`).
fn split_event_path(path: &str) -> (usize, &str) {
    path.strip_prefix("events[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(index, rest)| Some((index.parse().ok()?, rest)))
        .map_or((usize::MAX, path), |(index, rest): (usize, &str)| {
            (
                index,
                rest.trim_start_matches('.').trim_start_matches("data."),
            )
        })
}

/// Where a problem at a data path of a built event stands in the sheet.
fn locator(
    kind: SheetKind,
    rows: &[Vec<String>],
) -> impl Fn(&Built, &str, String) -> CellProblem + '_ {
    let header = header_map(kind, rows.first().map(Vec::as_slice).unwrap_or_default());
    move |built, path, problem| {
        let path = path.trim_start_matches("data.").trim_start_matches('.');
        let field = path.split(['[', '.']).next().unwrap_or_default();
        let (key, row) = match field {
            "attendee_ids" => {
                let k = path
                    .strip_prefix("attendee_ids[")
                    .and_then(|r| r.split(']').next())
                    .and_then(|n| n.parse::<usize>().ok());
                let row = k
                    .and_then(|k| built.attendee_rows.get(k).copied())
                    .unwrap_or(built.row);
                ("attendees", row)
            }
            "member_id" => ("member", built.row),
            "study_hours" if kind == SheetKind::OnlineHours => ("minutes", built.row),
            other => (other, built.row),
        };
        CellProblem {
            row,
            column: header.get(key).map(|&c| letter(c)).unwrap_or_default(),
            problem,
            cause: None,
        }
    }
}

/// Field key → column index, from the header row (either language, case and spaces ignored).
fn header_map(kind: SheetKind, header: &[String]) -> BTreeMap<&'static str, usize> {
    let norm = |s: &str| s.split_whitespace().collect::<String>().to_lowercase();
    let mut map = BTreeMap::new();
    for (index, cell) in header.iter().enumerate() {
        let cell = norm(cell);
        if let Some(c) = kind
            .columns()
            .iter()
            .find(|c| [c.zh, c.en, c.key].iter().any(|h| norm(h) == cell))
        {
            map.insert(c.key, index);
        }
    }
    map
}

/// Turns the rows into events, or says every problem found.
fn build(
    kind: SheetKind,
    rows: &[Vec<String>],
    roster: &Roster,
    tz: chrono_tz::Tz,
) -> Result<Vec<Built>, SheetError> {
    let Some(header) = rows.first() else {
        return Err(SheetError::Problems(vec![
            SheetProblem::Empty.at(1, String::new()),
        ]));
    };
    let columns = header_map(kind, header);
    let missing: Vec<CellProblem> = kind
        .columns()
        .iter()
        .filter(|c| c.required && !columns.contains_key(c.key))
        .map(|c| SheetProblem::MissingColumn { zh: c.zh, en: c.en }.at(1, String::new()))
        .collect();
    if !missing.is_empty() {
        return Err(SheetError::Problems(missing));
    }
    let mut sheet = Sheet {
        rows,
        columns,
        problems: Vec::new(),
    };
    let built = match kind {
        SheetKind::ClassRegister => sheet.classes(roster, tz),
        SheetKind::OnlineHours => sheet.online_hours(roster),
    };
    if sheet.problems.is_empty() {
        Ok(built)
    } else {
        Err(SheetError::Problems(sheet.problems))
    }
}

/// A sheet being read: its cells by field, and the problems found so far.
struct Sheet<'a> {
    rows: &'a [Vec<String>],
    columns: BTreeMap<&'static str, usize>,
    problems: Vec<CellProblem>,
}

/// Namespace of the ids of events made from sheets (a UUID v5 of the row's identity).
const SHEET_NAMESPACE: Uuid = Uuid::from_u128(0x7061_7274_7965_6475_2d73_6865_6574_7331);

impl Sheet<'_> {
    fn cell(&self, row: usize, key: &str) -> &str {
        self.columns
            .get(key)
            .and_then(|&c| self.rows[row].get(c))
            .map_or("", |s| s.trim())
    }

    fn problem(&mut self, row: usize, key: &str, problem: SheetProblem) {
        let column = self
            .columns
            .get(key)
            .map(|&c| letter(c))
            .unwrap_or_default();
        self.problems.push(problem.at(row + 1, column));
    }

    /// The data rows: every row after the header with any cell filled.
    fn data_rows(&self) -> Vec<usize> {
        (1..self.rows.len())
            .filter(|&r| self.rows[r].iter().any(|c| !c.trim().is_empty()))
            .collect()
    }

    fn classes(&mut self, roster: &Roster, tz: chrono_tz::Tz) -> Vec<Built> {
        let mut built: Vec<Built> = Vec::new();
        let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
        for row in self.data_rows() {
            let class_id = self.cell(row, "class_id").to_owned();
            if class_id.is_empty() {
                self.problem(row, "class_id", SheetProblem::NoClassId);
                continue;
            }
            let index = match by_id.get(&class_id) {
                Some(&index) => {
                    self.agrees_with_first(row, &built[index]);
                    index
                }
                None => {
                    let data = self.class_data(row, tz);
                    by_id.insert(class_id.clone(), built.len());
                    built.push(Built {
                        event_type: "ClassHeld",
                        data,
                        event_id: Uuid::new_v5(
                            &SHEET_NAMESPACE,
                            format!("ClassHeld:{class_id}").as_bytes(),
                        ),
                        row: row + 1,
                        attendee_rows: Vec::new(),
                    });
                    built.len() - 1
                }
            };
            let names = self.cell(row, "attendees").to_owned();
            for name in names
                .split([';', '；', ',', '，', '、', '\n'])
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                match roster.resolve(name) {
                    Ok(id) => {
                        let class = &mut built[index];
                        let attendees = class
                            .data
                            .get_mut("attendee_ids")
                            .and_then(Value::as_array_mut)
                            .expect("every class has attendee_ids");
                        if attendees.iter().any(|a| a == &json!(id)) {
                            self.problem(
                                row,
                                "attendees",
                                SheetProblem::ListedTwice {
                                    name: name.to_owned(),
                                    id,
                                    class_id: class_id.clone(),
                                },
                            );
                        } else {
                            attendees.push(json!(id));
                            class.attendee_rows.push(row + 1);
                        }
                    }
                    Err(problem) => self.problem(row, "attendees", problem),
                }
            }
        }
        built
    }

    /// The class fields of its first row, as the catalog spells them.
    fn class_data(&mut self, row: usize, tz: chrono_tz::Tz) -> Map<String, Value> {
        let mut data = Map::new();
        for key in ["class_id", "title", "organizer_org_id"] {
            data.insert(key.to_owned(), json!(self.cell(row, key)));
        }
        let venue = self.cell(row, "venue_id");
        if !venue.is_empty() {
            data.insert("venue_id".to_owned(), json!(venue));
        }
        let form = self.cell(row, "form").to_owned();
        match parse_form(&form) {
            Some(f) => data.insert("form".to_owned(), json!(f.as_str())),
            None => {
                self.problem(row, "form", SheetProblem::NotAForm { text: form });
                None
            }
        };
        let starts = self.cell(row, "starts_at").to_owned();
        match parse_time(&starts, tz) {
            Some(at) => data.insert("starts_at".to_owned(), json!(at)),
            None => {
                self.problem(row, "starts_at", SheetProblem::NotATime { text: starts });
                None
            }
        };
        let minutes = self.cell(row, "duration_minutes").to_owned();
        match minutes.parse::<u32>() {
            Ok(m) => data.insert("duration_minutes".to_owned(), json!(m)),
            Err(_) => {
                self.problem(
                    row,
                    "duration_minutes",
                    SheetProblem::NotMinutes {
                        text: minutes,
                        or_hours: false,
                    },
                );
                None
            }
        };
        data.insert(
            "study_hours".to_owned(),
            number_or_text(self.cell(row, "study_hours")),
        );
        let lecturers: Vec<Value> = self
            .cell(row, "lecturer_ids")
            .split([';', '；', ',', '，', '、'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| json!(l))
            .collect();
        data.insert("lecturer_ids".to_owned(), Value::Array(lecturers));
        data.insert("attendee_ids".to_owned(), json!([]));
        data
    }

    /// A later row of a class may leave its class fields empty, or repeat them; never differ.
    fn agrees_with_first(&mut self, row: usize, first: &Built) {
        for key in ["title", "organizer_org_id", "venue_id", "duration_minutes"] {
            let here = self.cell(row, key);
            let there = first.data.get(key).map(value_text).unwrap_or_default();
            if !here.is_empty() && here != there {
                self.problem(
                    row,
                    key,
                    SheetProblem::DiffersFromFirst {
                        text: here.to_owned(),
                        row: first.row,
                        first: there,
                    },
                );
            }
        }
    }

    fn online_hours(&mut self, roster: &Roster) -> Vec<Built> {
        let mut built = Vec::new();
        // Identical rows are separate sessions: their n-th occurrence is part of their id.
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for row in self.data_rows() {
            let member_text = self.cell(row, "member").to_owned();
            let member = match roster.resolve(&member_text) {
                Ok(id) => id,
                Err(problem) => {
                    self.problem(row, "member", problem);
                    continue;
                }
            };
            let date_text = self.cell(row, "studied_on").to_owned();
            let Some(date) = parse_date(&date_text) else {
                self.problem(
                    row,
                    "studied_on",
                    SheetProblem::NotADate { text: date_text },
                );
                continue;
            };
            let platform_text = self.cell(row, "platform").to_owned();
            let Some(platform) = parse_platform(&platform_text) else {
                self.problem(
                    row,
                    "platform",
                    SheetProblem::NotAPlatform {
                        text: platform_text,
                    },
                );
                continue;
            };
            let Some(hours) = self.hours(row) else {
                continue;
            };
            let identity = format!("{member}|{date}|{}|{hours}", platform.as_str());
            let n = seen.entry(identity.clone()).or_default();
            *n += 1;
            let digest = Sha256::digest(format!("{identity}|{n}").as_bytes());
            let log_id = format!("OS-{}", hex::encode(&digest[..8]));
            let mut data = Map::new();
            data.insert("log_id".to_owned(), json!(log_id));
            data.insert("member_id".to_owned(), json!(member));
            data.insert("platform".to_owned(), json!(platform.as_str()));
            data.insert("studied_on".to_owned(), json!(date.to_string()));
            data.insert("study_hours".to_owned(), number_or_text(&hours));
            built.push(Built {
                event_type: "OnlineStudyLogged",
                data,
                event_id: Uuid::new_v5(&SHEET_NAMESPACE, log_id.as_bytes()),
                row: row + 1,
                attendee_rows: Vec::new(),
            });
        }
        built
    }

    /// Study hours from the `hours` cell, else from `minutes` (to the hundredth, rounded half
    /// up): the rule set decides how much of it counts.
    fn hours(&mut self, row: usize) -> Option<String> {
        let hours = self.cell(row, "hours").to_owned();
        if !hours.is_empty() {
            return Some(hours);
        }
        let minutes = self.cell(row, "minutes").to_owned();
        match minutes.parse::<u32>() {
            Ok(m) => {
                let centi = (u64::from(m) * 100 + 30) / 60;
                Some(format!("{}.{:02}", centi / 100, centi % 100))
            }
            Err(_) => {
                self.problem(
                    row,
                    "minutes",
                    SheetProblem::NotMinutes {
                        text: minutes,
                        or_hours: true,
                    },
                );
                None
            }
        }
    }
}

/// A cell that holds a number as the catalog's number, else as text (which the catalog then
/// refuses with its reason).
fn number_or_text(text: &str) -> Value {
    serde_json::from_str::<serde_json::Number>(text).map_or_else(|_| json!(text), Value::Number)
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_form(text: &str) -> Option<ClassForm> {
    ClassForm::ALL.iter().copied().find(|f| {
        let code = f.as_str();
        text == code
            || [Lang::Zh, Lang::En]
                .iter()
                .any(|l| l.value("form", code) == text)
    })
}

fn parse_platform(text: &str) -> Option<StudyPlatform> {
    StudyPlatform::ALL.iter().copied().find(|p| {
        text == p.as_str()
            || PLATFORM_NAMES
                .iter()
                .any(|(platform, names)| platform == p && names.contains(&text))
    })
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(text, f).ok())
}

/// A local time (`2025-03-05 09:00`, with `/` or `T` too) or an RFC 3339 timestamp, as RFC 3339.
fn parse_time(text: &str, tz: chrono_tz::Tz) -> Option<String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(at.to_rfc3339());
    }
    let local = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())?;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|at| at.fixed_offset().to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_lettered_as_excel_does() {
        assert_eq!(
            [0, 1, 25, 26, 27, 701].map(letter),
            ["A", "B", "Z", "AA", "AB", "ZZ"].map(str::to_owned)
        );
    }

    #[test]
    fn platforms_and_forms_read_in_either_language() {
        assert_eq!(
            parse_platform("灯塔大课堂"),
            Some(StudyPlatform::LighthouseClassroom)
        );
        assert_eq!(
            parse_platform("xuexi_qiangguo"),
            Some(StudyPlatform::XuexiQiangguo)
        );
        assert_eq!(parse_form("集中培训"), Some(ClassForm::Concentrated));
        assert_eq!(parse_form("Field trip"), Some(ClassForm::FieldTrip));
        assert_eq!(parse_form("lecture"), None);
    }

    #[test]
    fn templates_carry_both_headers() {
        for kind in SheetKind::ALL {
            let zh = template_rows(kind, Lang::Zh);
            let en = template_rows(kind, Lang::En);
            assert_eq!(header_map(kind, &zh[0]), header_map(kind, &en[0]));
            assert_eq!(header_map(kind, &zh[0]).len(), kind.columns().len());
        }
        assert!(template_csv(SheetKind::OnlineHours, Lang::Zh).starts_with(b"\xEF\xBB\xBF"));
    }
}
