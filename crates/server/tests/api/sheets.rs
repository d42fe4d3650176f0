//! Recording from spreadsheets: a class register and the platforms' online-study lists, as
//! CSV (UTF-8 or GB18030) and XLSX; all or nothing, each problem at its cell, idempotent.

use crate::fixture::{Api, ev};
use partyedu_server::recorder::Recorder;
use partyedu_server::sheets::{
    CellProblem, Lang, SheetError, SheetFormat, SheetKind, import_sheet, read_rows, template_xlsx,
};
use partyedu_store::EventStore;
use serde_json::json;
use sqlx::PgPool;

const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

async fn import(
    pool: &PgPool,
    kind: SheetKind,
    bytes: &[u8],
    format: SheetFormat,
) -> Result<usize, SheetError> {
    let recorder = Recorder::new(EventStore::new(pool.clone()), TZ);
    import_sheet(&recorder, kind, bytes, format, "cli:test", |_, _| {}).await
}

fn problems(result: Result<usize, SheetError>) -> Vec<CellProblem> {
    match result {
        Err(SheetError::Problems(problems)) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

/// 500 rows of a platform's export with one impossible date: nothing is stored and the
/// problem names its cell; fixed, every row is stored once; uploaded again, nothing new.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn a_bad_cell_among_500_rows_stores_nothing_and_is_named(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    let before = api.event_count().await;
    let sheet = |bad: bool| {
        let mut text = "党员（编号或姓名）,学习日期,学习平台,学习时长（分钟）\n".to_owned();
        for i in 0..500u32 {
            let member = ["党员MA1", "MA2", "党员MB1"][i as usize % 3];
            let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
                + chrono::Days::new(u64::from(i % 300));
            let date = if bad && i == 249 {
                "2024-02-30".to_owned()
            } else {
                day.to_string()
            };
            let platform = ["学习强国", "灯塔大课堂", "山东党员网络学院"][i as usize % 3];
            text += &format!("{member},{date},{platform},{}\n", 20 + i % 40);
        }
        text.into_bytes()
    };
    let found = problems(
        import(
            &pool,
            SheetKind::OnlineHours,
            &sheet(true),
            SheetFormat::Csv,
        )
        .await,
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].row, found[0].column.as_str()),
        (251, "B"),
        "{}",
        found[0]
    );
    assert!(found[0].problem.contains("2024-02-30"), "{}", found[0]);
    assert_eq!(api.event_count().await, before, "nothing stored");

    let stored = import(
        &pool,
        SheetKind::OnlineHours,
        &sheet(false),
        SheetFormat::Csv,
    )
    .await
    .unwrap();
    assert_eq!(stored, 500);
    assert_eq!(api.event_count().await, before + 500);
    let again = import(
        &pool,
        SheetKind::OnlineHours,
        &sheet(false),
        SheetFormat::Csv,
    )
    .await
    .unwrap();
    assert_eq!(again, 0, "uploaded again, nothing new");
    assert_eq!(api.event_count().await, before + 500);
}

/// The same class register saved as UTF-8 and as GB18030 records the same events: the second
/// upload stores nothing new. Attendees are named by name or id, over one or several rows.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn utf8_and_gb18030_registers_import_identically(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    let text = "班次编号,班次名称,形式,组织单位编号,场地编号,开始时间,时长（分钟）,学时,授课人编号,参加人员\n\
        C-S1,学习贯彻全会精神专题培训,集中培训,CA,V1,2024-03-05 09:00,210,4,,党员MA1；党员MA2\n\
        C-S2,红色教育基地现场教学,现场教学,CA,,2024-04-10 08:30,240,4,,党员MA1\n\
        C-S2,,,,,,,,,MA2\n";
    let stored = import(
        &pool,
        SheetKind::ClassRegister,
        text.as_bytes(),
        SheetFormat::Csv,
    )
    .await
    .unwrap();
    assert_eq!(stored, 2);
    let (gb, _, _) = encoding_rs::GB18030.encode(text);
    assert!(std::str::from_utf8(&gb).is_err(), "really GB18030 bytes");
    let again = import(&pool, SheetKind::ClassRegister, &gb, SheetFormat::Csv)
        .await
        .unwrap();
    assert_eq!(again, 0, "the GB18030 file is the same register");
    let attendees: serde_json::Value = sqlx::query_scalar(
        "SELECT json_agg(data->'attendee_ids' ORDER BY position)::jsonb FROM events \
         WHERE type = 'ClassHeld' AND data->>'class_id' LIKE 'C-S%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(attendees, json!([["MA1", "MA2"], ["MA1", "MA2"]]));
    crate::statistics::project(&pool).await;
    let (_, history) = api
        .get("admin", "/api/v1/members/MA2/history?year=2024")
        .await;
    let titles: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"红色教育基地现场教学"), "{titles:?}");
}

/// Names that two members share, names nobody has, a member listed twice and a value that is
/// no class form are each named at their cell; nothing is stored.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn unclear_attendees_are_flagged_at_their_cells(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    let twin = ev(
        "MemberEnrolled",
        json!({"member_id": "MA9", "name": "党员MA1", "branch_id": "GA", "membership": "full",
            "joined_on": "2000-07-01", "enrolled_on": "2020-01-01", "employment": "retired",
            "frail": false, "hardship": false}),
    );
    let (status, body) = api.post_events("admin", json!({"events": [twin]})).await;
    assert_eq!(status, 201, "{body}");
    let before = api.event_count().await;
    let text = "Class id,Title,Form,Organiser (org id),Venue id,Starts at,Duration (minutes),Study hours,Lecturer ids,Attendees (ids or names)\n\
        C-T1,Seminar,lecture,CA,,2024-03-05 09:00,90,2,,党员MA1\n\
        C-T2,Seminar,seminar,CA,,2024-03-05 14:00,90,2,,无名氏;MA2;MA2\n";
    let found = problems(
        import(
            &pool,
            SheetKind::ClassRegister,
            text.as_bytes(),
            SheetFormat::Csv,
        )
        .await,
    );
    let at: Vec<(usize, &str)> = found.iter().map(|p| (p.row, p.column.as_str())).collect();
    assert_eq!(at, [(2, "C"), (2, "J"), (3, "J"), (3, "J")], "{found:?}");
    assert!(found[1].problem.contains("MA1") && found[1].problem.contains("MA9"));
    assert!(found[2].problem.contains("无名氏"));
    assert!(found[3].problem.contains("twice"));
    assert_eq!(api.event_count().await, before);
}

/// A refusal of the domain (an attendee not enrolled on the class's date) comes back at the
/// row and column of that attendee.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn the_domains_refusals_point_at_their_cells(pool: PgPool) {
    let _api = Api::seeded(pool.clone()).await;
    let text = "班次编号,班次名称,形式,组织单位编号,开始时间,时长（分钟）,学时,参加人员\n\
        C-U1,专题培训,集中培训,CA,2024-03-05 09:00,210,4,MA1\n\
        C-U1,,,,,,,MB1\n\
        C-U2,专题培训,集中培训,CA,2019-03-05 09:00,210,25,MA1\n";
    let found = problems(
        import(
            &pool,
            SheetKind::ClassRegister,
            text.as_bytes(),
            SheetFormat::Csv,
        )
        .await,
    );
    // 25 hours is judged from the row alone, before anything is asked of the log.
    assert_eq!(
        found
            .iter()
            .map(|p| (p.row, p.column.as_str()))
            .collect::<Vec<_>>(),
        [(4, "G")],
        "{found:?}"
    );
    let fixed = text.replace(",210,25,MA1", ",210,4,MA1");
    let found = problems(
        import(
            &pool,
            SheetKind::ClassRegister,
            fixed.as_bytes(),
            SheetFormat::Csv,
        )
        .await,
    );
    // MA1 was not enrolled in 2019 (row 4); MB1 is fine in 2024 (row 3).
    assert_eq!(
        found
            .iter()
            .map(|p| (p.row, p.column.as_str()))
            .collect::<Vec<_>>(),
        [(4, "H")],
        "{found:?}"
    );
}

/// The XLSX template reads back with its headers; a filled-in XLSX imports, dates and
/// numbers as Excel stores them.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn xlsx_templates_and_sheets_read_back(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    for lang in [Lang::Zh, Lang::En] {
        let bytes = template_xlsx(SheetKind::OnlineHours, lang).unwrap();
        let rows = read_rows(&bytes, SheetFormat::Xlsx).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0][2],
            if lang == Lang::Zh {
                "学习平台"
            } else {
                "Platform"
            }
        );
    }
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, header) in ["Member (id or name)", "Date", "Platform", "Minutes"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *header).unwrap();
    }
    let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2024, 6, 1).unwrap();
    let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for r in 1..=3u32 {
        sheet.write_string(r, 0, "MA1").unwrap();
        sheet
            .write_datetime_with_format(r, 1, &date, &format)
            .unwrap();
        sheet.write_string(r, 2, "灯塔大课堂").unwrap();
        sheet.write_number(r, 3, 30.0).unwrap();
    }
    let bytes = book.save_to_buffer().unwrap();
    let before = api.event_count().await;
    let stored = import(&pool, SheetKind::OnlineHours, &bytes, SheetFormat::Xlsx)
        .await
        .unwrap();
    assert_eq!(
        stored, 3,
        "three sessions of the same length are three records"
    );
    assert_eq!(api.event_count().await, before + 3);
    let hours: Vec<String> = sqlx::query_scalar(
        "SELECT data->>'study_hours' FROM events WHERE type = 'OnlineStudyLogged' \
         AND data->>'studied_on' = '2024-06-01'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(hours, ["0.5", "0.5", "0.5"]);
}
