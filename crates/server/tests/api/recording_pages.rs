//! Recording in the dashboard against a real PostgreSQL: refusals at their fields with nothing
//! stored, one form key stores once, only recorders and admins record and only in their scope,
//! cross-site posts refused, a record's page offers its corrections.

use crate::fixture::Api;
use crate::pages::{Reply, page, send};
use crate::statistics::project;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use sqlx::PgPool;

/// Posts form `fields` to `uri` as `who`, from this site (`Origin` = `Host`).
async fn post_form(api: &Api, who: &str, uri: &str, fields: &[(&str, &str)]) -> Reply {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::COOKIE, format!("pe_token={}", api.token(who)))
        .header(header::HOST, "partyedu.test")
        .header(header::ORIGIN, "http://partyedu.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.join("&")))
        .unwrap();
    send(api, request).await
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The form key of the first form on a rendered page.
fn form_key(html: &str) -> String {
    let at = html.find(r#"name="form_key" value=""#).expect("a form key") + 23;
    html[at..].split('"').next().unwrap().to_owned()
}

/// The errors shown at field `name` (empty when it has none).
fn field_errors(html: &str, name: &str) -> String {
    let Some(at) = html.find(&format!(r#"data-field="{name}""#)) else {
        return String::new();
    };
    let rest = &html[at..];
    let end = rest.find("</div>").unwrap();
    let field = &rest[..end];
    field
        .find(r#"<ul class="error""#)
        .map(|e| field[e..].to_owned())
        .unwrap_or_default()
}

async fn seeded(pool: PgPool) -> Api {
    let api = Api::seeded(pool.clone()).await;
    project(&pool).await;
    api
}

fn class_fields<'a>(
    key: &'a str,
    hours: &'a str,
    organiser: &'a str,
    attendees: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("form_key", key),
        ("class_id", "C-FORM-1"),
        ("title", "专题培训"),
        ("form", "concentrated"),
        ("venue_id", "V1"),
        ("organizer_org_id", organiser),
        ("starts_at", "2024-03-05T09:00"),
        ("duration_minutes", "120"),
        ("study_hours", hours),
        ("attendee_ids", attendees),
    ]
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn a_bad_value_is_shown_at_its_field_and_nothing_is_stored(pool: PgPool) {
    let api = seeded(pool).await;
    let before = api.event_count().await;
    let form = page(&api, "admin", "/record/class?lang=en").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text());
    let key = form_key(&form.text());
    // Study hours of 0 are refused by the domain; the page shows it at that field.
    let reply = post_form(
        &api,
        "admin",
        "/record/class?lang=en",
        &class_fields(&key, "0", "CA", "党员MA1\n党员MA2"),
    )
    .await;
    let html = reply.text();
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(
        field_errors(&html, "study_hours").contains("Refused"),
        "{html}"
    );
    assert!(field_errors(&html, "title").is_empty());
    assert!(html.contains("Nothing was stored"));
    // The entered values are kept for correcting, and the same key.
    assert!(html.contains("党员MA2"));
    assert_eq!(form_key(&html), key);
    // Unknown and repeated names are flagged before anything is sent, in the page's language.
    let reply = post_form(
        &api,
        "admin",
        "/record/class",
        &class_fields(&key, "2", "CA", "党员MA1、无此人、MA1"),
    )
    .await;
    let errors = field_errors(&reply.text(), "attendee_ids");
    assert!(
        errors.contains("没有编号或姓名为“无此人”的党员"),
        "{errors}"
    );
    assert!(errors.contains("重复列出"), "{errors}");
    // A refusal at one member of the list names the member entered (MB1 is not enrolled... in
    // the class's date it is; an unknown venue is a refusal at the venue field).
    let mut fields = class_fields(&key, "2", "CA", "党员MA1");
    fields[4] = ("venue_id", "NO-SUCH-VENUE");
    let reply = post_form(&api, "admin", "/record/class", &fields).await;
    assert!(
        !field_errors(&reply.text(), "venue_id").is_empty(),
        "{}",
        reply.text()
    );
    assert_eq!(api.event_count().await, before);
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn a_double_submit_with_one_form_key_stores_once(pool: PgPool) {
    let api = seeded(pool.clone()).await;
    let before = api.event_count().await;
    let key = form_key(&page(&api, "admin", "/record/class").await.text());
    let fields = class_fields(&key, "2.5", "CA", "党员MA1, MA2");
    let first = post_form(&api, "admin", "/record/class", &fields).await;
    let second = post_form(&api, "admin", "/record/class", &fields).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    assert_eq!(api.event_count().await, before + 1);
    // The same form changed after it was stored (the back button): stored nothing, said so,
    // and given a fresh key.
    let mut changed = fields.clone();
    changed[1] = ("class_id", "C-FORM-2");
    let again = post_form(&api, "admin", "/record/class?lang=en", &changed).await;
    assert!(
        again.text().contains("This form was stored already"),
        "{}",
        again.text()
    );
    assert_ne!(form_key(&again.text()), key);
    assert_eq!(api.event_count().await, before + 1);
    let html = first.text();
    assert!(html.contains("C-FORM-1") && html.contains("MA2"));
    // Links to the statistics that include it, read at its position.
    assert!(
        html.contains("/coverage?year=2024&#38;min_position="),
        "{html}"
    );
    assert!(
        html.contains("/members/MA1?year=2024&#38;min_position="),
        "{html}"
    );
    let link = html
        .split("href=\"")
        .find(|s| s.starts_with("/members/MA1?"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    project(&pool).await;
    let history = page(&api, "admin", &link).await;
    assert_eq!(history.status, StatusCode::OK);
    assert!(history.text().contains("专题培训"));
    // The record's page offers the corrections: void with a reason, amend the attendance.
    let (_, body) = api.get("admin", "/api/v1/events?type=ClassHeld").await;
    let id = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["data"]["class_id"] == "C-FORM-1")
        .unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = page(&api, "admin", &format!("/log/events/{id}"))
        .await
        .text();
    assert!(event.contains(r#"action="/record/void""#), "{event}");
    assert!(event.contains(r#"action="/record/amend""#));
    let key = form_key(&event);
    let void = post_form(
        &api,
        "admin",
        "/record/void",
        &[("form_key", &key), ("event_id", &id), ("reason", "录错了")],
    )
    .await;
    assert_eq!(void.status, StatusCode::OK, "{}", void.text());
    assert_eq!(api.event_count().await, before + 2);
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn viewers_see_no_forms_and_cross_site_posts_are_refused(pool: PgPool) {
    let api = seeded(pool).await;
    let before = api.event_count().await;
    let overview = page(&api, "viewer", "/").await.text();
    assert!(!overview.contains(r#"href="/record""#));
    assert!(
        page(&api, "admin", "/")
            .await
            .text()
            .contains(r#"href="/record""#)
    );
    assert_eq!(
        page(&api, "viewer", "/record/class").await.status,
        StatusCode::FORBIDDEN
    );
    let key = "k1";
    let reply = post_form(
        &api,
        "viewer",
        "/record/class",
        &class_fields(key, "2", "CA", "MA1"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // A post from another site (its Origin is not this Host) is refused.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/record/class")
        .header(header::COOKIE, format!("pe_token={}", api.token("admin")))
        .header(header::HOST, "partyedu.test")
        .header(header::ORIGIN, "http://evil.test")
        .body(Body::from("form_key=k2&class_id=C-X"))
        .unwrap();
    assert_eq!(send(&api, request).await.status, StatusCode::FORBIDDEN);
    assert_eq!(api.event_count().await, before);
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn a_scoped_recorder_records_only_in_its_subtree(pool: PgPool) {
    let api = seeded(pool).await;
    let before = api.event_count().await;
    let form = page(&api, "recorder-ca", "/record/class").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text());
    let html = form.text();
    // Its organiser choices are its subtree.
    assert!(html.contains(r#"<option value="CA""#) && html.contains(r#"<option value="GA""#));
    assert!(!html.contains(r#"<option value="CB""#) && !html.contains(r#"<option value="SD""#));
    // A batch outside it (organised by CB) is refused by the recording path, at the field.
    let key = form_key(&html);
    let reply = post_form(
        &api,
        "recorder-ca",
        "/record/class",
        &class_fields(&key, "2", "CB", "MA1"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        field_errors(&reply.text(), "organizer_org_id").contains("超出本账号的组织范围"),
        "{}",
        reply.text()
    );
    assert_eq!(api.event_count().await, before);
    // Inside it, stored; a recorder sees the record (statistics are for readers).
    let reply = post_form(
        &api,
        "recorder-ca",
        "/record/class",
        &class_fields(&key, "2", "CA", "MA1"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(api.event_count().await, before + 1);
}

/// Posts a multipart upload of `file` (named `name`) as sheet `kind`, as the admin.
async fn upload(api: &Api, kind: &str, name: &str, file: &[u8]) -> Reply {
    upload_as(api, "admin", "/record/upload?lang=en", kind, name, file).await
}

/// Posts a multipart upload of `file` (named `name`) as sheet `kind` to `uri` as `who`.
async fn upload_as(api: &Api, who: &str, uri: &str, kind: &str, name: &str, file: &[u8]) -> Reply {
    let boundary = "XBOUNDARYX";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\n{kind}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::COOKIE, format!("pe_token={}", api.token(who)))
        .header(header::HOST, "partyedu.test")
        .header(header::REFERER, "http://partyedu.test/record/upload")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap();
    send(api, request).await
}

/// The value of hidden field `name` on a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name}: {html}"))
        + marker.len();
    html[at..].split('"').next().unwrap().to_owned()
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn an_upload_with_a_bad_cell_stores_nothing_and_fixed_and_confirmed_stores_every_row(
    pool: PgPool,
) {
    let api = seeded(pool).await;
    let before = api.event_count().await;
    let sheet = |date: &str| {
        format!(
            "党员（编号或姓名）,学习日期,学习平台,学习时长（分钟）\n\
             党员MA1,2024-03-01,学习强国,30\nMA2,{date},灯塔大课堂,45\n党员MB1,2024-03-02,other,60\n"
        )
        .into_bytes()
    };
    let page_ = page(&api, "admin", "/record/upload").await.text();
    assert!(page_.contains("/record/template?kind=class-register&#38;format=xlsx&#38;lang=zh-CN"));
    let template = page(
        &api,
        "admin",
        "/record/template?kind=online-hours&format=csv&lang=en",
    )
    .await;
    assert_eq!(template.status, StatusCode::OK);
    assert!(template.text().contains("Member"), "{}", template.text());
    // One bad cell: shown with its row and column, no confirm offered, nothing stored.
    let bad = upload(&api, "online-hours", "hours.csv", &sheet("2024-02-30")).await;
    let html = bad.text();
    assert_eq!(bad.status, StatusCode::OK, "{html}");
    let problem = html.split(r#"<tr class="problem">"#).nth(1).expect(&html);
    assert!(
        problem.starts_with(r#"<td class="num">3</td><td>B</td>"#),
        "{problem}"
    );
    assert!(!html.contains(r#"action="/record/upload/confirm"#));
    assert_eq!(api.event_count().await, before);
    // Fixed: a preview of every row, still nothing stored until confirmed.
    let good = upload(&api, "online-hours", "hours.csv", &sheet("2024-03-01"))
        .await
        .text();
    assert_eq!(good.matches("OnlineStudyLogged").count(), 3, "{good}");
    assert_eq!(api.event_count().await, before);
    let fields = [
        ("kind", hidden(&good, "kind")),
        ("format", hidden(&good, "format")),
        ("file", hidden(&good, "file")),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let stored = post_form(&api, "admin", "/record/upload/confirm?lang=en", &fields).await;
    assert!(
        stored.text().contains("Stored 3 records"),
        "{}",
        stored.text()
    );
    assert_eq!(api.event_count().await, before + 3);
    // Confirmed again: nothing new.
    post_form(&api, "admin", "/record/upload/confirm", &fields).await;
    assert_eq!(api.event_count().await, before + 3);
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn an_uploads_own_problems_are_worded_in_the_pages_language(pool: PgPool) {
    let api = seeded(pool).await;
    let problems = |html: &str| -> Vec<String> {
        html.split(r#"<tr class="problem">"#)
            .skip(1)
            .map(|row| row.split("</tr>").next().unwrap().to_owned())
            .collect()
    };
    // A name of no member, a bad date, a platform that is none, minutes that are no number.
    let sheet = "党员（编号或姓名）,学习日期,学习平台,学习时长（分钟）\n\
                 无此人,2024-03-01,学习强国,30\nMA2,2024-02-30,灯塔大课堂,45\n\
                 MA1,2024-03-02,抖音,60\nMB1,2024-03-02,学习强国,半小时\n";
    let cases = [
        (
            "/record/upload",
            [
                "没有编号或姓名为“无此人”的党员",
                "“2024-02-30”不是形如 2025-03-05 的日期",
                "“抖音”不是学习平台",
                "“半小时”不是整数分钟（或填写学时）",
            ],
        ),
        (
            "/record/upload?lang=en",
            [
                "no member has the id or name `无此人`",
                "`2024-02-30` is not a date like 2025-03-05",
                "`抖音` is not a platform",
                "`半小时` is not a whole number of minutes (or give hours)",
            ],
        ),
    ];
    for (uri, wordings) in cases {
        let reply = upload_as(
            &api,
            "admin",
            uri,
            "online-hours",
            "h.csv",
            sheet.as_bytes(),
        )
        .await;
        let rows = problems(&reply.text());
        assert_eq!(rows.len(), 4, "{uri}: {}", reply.text());
        for (row, wording) in rows.iter().zip(wordings) {
            assert!(
                row.contains(&html_escape(wording)),
                "{uri}: {row} lacks {wording}"
            );
        }
    }
    // A header without the sheet's columns: named in the page's language, both headings given.
    let reply = upload_as(
        &api,
        "admin",
        "/record/upload",
        "class-register",
        "c.csv",
        "名称\n一\n".as_bytes(),
    )
    .await;
    let rows = problems(&reply.text());
    assert!(!rows.is_empty(), "{}", reply.text());
    assert!(rows.iter().all(|r| r.contains("表头中没有")), "{rows:?}");
}

/// `text` as the pages escape it (quotes and the backtick are written as entities).
fn html_escape(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn every_form_renders_in_both_languages_and_registry_changes_record(pool: PgPool) {
    let api = seeded(pool).await;
    let index = page(&api, "admin", "/record").await.text();
    let forms: Vec<String> = index
        .split(r#"href="/record/"#)
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect();
    assert!(forms.len() >= 22, "{forms:?}");
    for form in &forms {
        for lang in ["zh-CN", "en"] {
            let sep = if form.contains('?') { '&' } else { '?' };
            let reply = page(&api, "admin", &format!("/record/{form}{sep}lang={lang}")).await;
            assert_eq!(reply.status, StatusCode::OK, "{form}");
            assert!(!reply.text().contains("⟦missing label⟧"), "{form} {lang}");
        }
    }
    let before = api.event_count().await;
    let key = form_key(&page(&api, "admin", "/record/enrol").await.text());
    let enrol = post_form(
        &api,
        "admin",
        "/record/enrol",
        &[
            ("form_key", &key),
            ("member_id", "MN1"),
            ("name", "新党员"),
            ("branch_id", "GA"),
            ("membership", "probationary"),
            ("joined_on", "2024-01-01"),
            ("enrolled_on", "2024-01-02"),
            ("employment", "retired"),
            ("frail", "true"),
        ],
    )
    .await;
    assert_eq!(enrol.status, StatusCode::OK, "{}", enrol.text());
    let (_, body) = api.get("admin", "/api/v1/streams/member:MN1").await;
    let data = &body["events"][0]["data"];
    assert_eq!(
        (data["frail"].clone(), data["hardship"].clone()),
        (true.into(), false.into())
    );
    // A transfer to a community (not a branch) is refused at the branch field.
    let key = form_key(&page(&api, "admin", "/record/transfer").await.text());
    let transfer = post_form(
        &api,
        "admin",
        "/record/transfer",
        &[
            ("form_key", &key),
            ("member_id", "新党员"),
            ("to_branch_id", "CB"),
            ("on", "2024-02-01"),
        ],
    )
    .await;
    assert!(
        !field_errors(&transfer.text(), "to_branch_id").is_empty(),
        "{}",
        transfer.text()
    );
    let transfer = post_form(
        &api,
        "admin",
        "/record/transfer",
        &[
            ("form_key", &key),
            ("member_id", "新党员"),
            ("to_branch_id", "GB"),
            ("on", "2024-02-01"),
        ],
    )
    .await;
    assert_eq!(transfer.status, StatusCode::OK, "{}", transfer.text());
    // A class's attendance amended through the correction form.
    let key = form_key(&page(&api, "admin", "/record/class").await.text());
    post_form(
        &api,
        "admin",
        "/record/class",
        &class_fields(&key, "2", "CA", "MA1"),
    )
    .await;
    let key = form_key(
        &page(&api, "admin", "/record/amend?class_id=C-FORM-1")
            .await
            .text(),
    );
    let amend = post_form(
        &api,
        "admin",
        "/record/amend",
        &[
            ("form_key", &key),
            ("class_id", "C-FORM-1"),
            ("added", "党员MA2"),
            ("reason", "漏记"),
        ],
    )
    .await;
    assert_eq!(amend.status, StatusCode::OK, "{}", amend.text());
    assert_eq!(api.event_count().await, before + 4);
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn attendees_are_picked_by_branch(pool: PgPool) {
    let api = seeded(pool).await;
    let html = page(
        &api,
        "admin",
        "/record/class?title=T&attendee_ids=MB1&fill_branch=GA",
    )
    .await
    .text();
    let list = html
        .split(r#"name="attendee_ids""#)
        .nth(1)
        .unwrap()
        .split("</textarea>")
        .next()
        .unwrap();
    assert!(list.ends_with("MB1\nMA1\nMA2"), "{list}");
    assert!(html.contains(r#"name="fill_branch""#) && html.contains(r#"formmethod="get""#));
    // Only branches of the caller's scope are offered, and only those are filled.
    let html = page(&api, "recorder-ca", "/record/class?fill_branch=GB")
        .await
        .text();
    assert!(!html.contains(r#"<option value="GB""#));
    assert!(!html.contains("MB1"));
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn refusals_of_the_stored_state_are_worded_in_the_pages_language_at_their_field(
    pool: PgPool,
) {
    let api = seeded(pool).await;
    let before = api.event_count().await;
    let key = form_key(&page(&api, "admin", "/record/class").await.text());
    let refused = |reply: &Reply, field: &str| {
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text()
        );
        field_errors(&reply.text(), field)
    };
    // A future date, at the start field: in Chinese on a zh-CN page, in English on an en one.
    let mut fields = class_fields(&key, "2", "CA", "党员MA1");
    fields[6] = ("starts_at", "2099-03-05T09:00");
    let zh = refused(
        &post_form(&api, "admin", "/record/class", &fields).await,
        "starts_at",
    );
    assert!(zh.contains("2099年3月5日晚于明天"), "{zh}");
    assert!(!zh.contains("later than"), "{zh}");
    let en = post_form(&api, "admin", "/record/class?lang=en", &fields).await;
    let en = refused(&en, "starts_at");
    assert!(en.contains("2099-03-05 is later than tomorrow"), "{en}");
    // Before the member was enrolled: at the attendee list, naming what was entered.
    fields[6] = ("starts_at", "2019-06-01T09:00");
    let zh = refused(
        &post_form(&api, "admin", "/record/class", &fields).await,
        "attendee_ids",
    );
    assert!(
        zh.contains("党员MA1: 党员 MA1 在2019年6月1日不在册"),
        "{zh}"
    );
    // Study hours the value type refuses; an unknown lecturer (ids are not looked up before
    // sending).
    fields[6] = ("starts_at", "2024-03-05T09:00");
    fields[8] = ("study_hours", "2.555");
    let reply = post_form(&api, "admin", "/record/class", &fields).await;
    let hours = refused(&reply, "study_hours");
    assert!(hours.contains("学时须为 0 到 24 之间"), "{hours}");
    fields[8] = ("study_hours", "2");
    fields.push(("lecturer_ids", "L-NONE"));
    let reply = post_form(&api, "admin", "/record/class", &fields).await;
    let lecturers = refused(&reply, "lecturer_ids");
    assert!(
        lecturers.contains("没有编号为 L-NONE 的授课人"),
        "{lecturers}"
    );
    // A wish already claimed: the second claim is refused at the wish.
    let api = &api;
    let claim = |key: String, member: &'static str| async move {
        let fields = [
            ("form_key", key.as_str()),
            ("wish_id", "W1"),
            ("member_id", member),
            ("claimed_on", "2024-05-03"),
        ];
        post_form(api, "admin", "/record/wish-claim", &fields).await
    };
    let first = claim(
        form_key(&page(api, "admin", "/record/wish-claim").await.text()),
        "MA1",
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let second = claim(
        form_key(&page(api, "admin", "/record/wish-claim").await.text()),
        "党员MA2",
    )
    .await;
    let zh = refused(&second, "wish_id");
    assert!(zh.contains("该微心愿已被 MA1 认领"), "{zh}");
    assert!(second.text().contains("未保存任何内容"));
    assert_eq!(api.event_count().await, before + 1);
}

/// The errors shown at the top of the first form (those of no one visible field).
fn form_errors(html: &str) -> String {
    html.split(r#"<p class="error" role="alert">"#)
        .skip(1)
        .map(|e| e.split("</p>").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The forms the admin is offered on `/record` (slugs).
async fn form_slugs(api: &Api) -> Vec<String> {
    page(api, "admin", "/record")
        .await
        .text()
        .split(r#"href="/record/"#)
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn viewers_and_auditors_of_any_scope_see_no_form_and_are_refused_every_recording_route(
    pool: PgPool,
) {
    let api = seeded(pool).await;
    let before = api.event_count().await;
    let mut routes = form_slugs(&api).await;
    routes.extend(["void", "amend"].map(str::to_owned));
    assert!(
        routes.contains(&"upload".to_owned()) && routes.len() >= 25,
        "{routes:?}"
    );
    let sheet =
        "党员（编号或姓名）,学习日期,学习平台,学习时长（分钟）\nMA1,2024-03-01,学习强国,30\n";
    for who in ["viewer", "viewer-ca", "auditor", "auditor-ca"] {
        let overview = page(&api, who, "/").await;
        assert_eq!(overview.status, StatusCode::OK, "{who}");
        assert!(
            !overview.text().contains(r#"href="/record"#),
            "{who} is offered forms"
        );
        for route in [
            "/record".to_owned(),
            "/record/template?kind=online-hours".to_owned(),
        ]
        .into_iter()
        .chain(routes.iter().map(|r| format!("/record/{r}")))
        {
            let reply = page(&api, who, &route).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who} GET {route}");
            assert!(!reply.text().contains("form_key"), "{who} GET {route}");
        }
        for slug in &routes {
            let reply = post_form(
                &api,
                who,
                &format!("/record/{slug}"),
                &[("form_key", "k"), ("member_id", "MA1"), ("class_id", "C-1")],
            )
            .await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who} POST {slug}");
        }
        let reply = upload_as(
            &api,
            who,
            "/record/upload",
            "online-hours",
            "h.csv",
            sheet.as_bytes(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who} upload");
        let file = sheet
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let confirm = [
            ("kind", "online-hours"),
            ("format", "csv"),
            ("file", file.as_str()),
        ];
        let reply = post_form(&api, who, "/record/upload/confirm", &confirm).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who} confirm");
    }
    // Recorders of either scope and admins are offered them (a recorder's dashboard is the
    // forms).
    for who in ["recorder", "recorder-ca", "admin"] {
        let forms = page(&api, who, "/record").await;
        assert_eq!(forms.status, StatusCode::OK, "{who}");
        assert!(forms.text().contains(r#"href="/record/class""#), "{who}");
        assert_eq!(
            page(&api, who, "/record/upload").await.status,
            StatusCode::OK,
            "{who}"
        );
    }
    assert_eq!(api.event_count().await, before);
}

/// A form posted outside the scope: (form, fields, the field its refusal is shown at — empty
/// for the top of the form —, what the refusal says).
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn a_scoped_recorder_is_refused_outside_its_subtree_through_every_form(pool: PgPool) {
    let api = seeded(pool).await;
    // Another wish, in GB (outside CA), and a class organised by CB, for the forms that refer
    // to a stored record.
    let (status, body) = api
        .post_events(
            "admin",
            serde_json::json!({"events": [
                crate::fixture::ev("MicroWishPosted", serde_json::json!({"wish_id": "W-GB",
                    "grid_id": "GB", "title": "修理路灯", "category": "volunteer_service",
                    "posted_on": "2024-05-02"})),
                crate::fixture::class("C-CB", "CB", &["MB1"]),
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let class_event = body["events"][1]["event_id"].as_str().unwrap().to_owned();
    let mut another_class = class_fields("", "2", "CA", "MA1\n党员MB1");
    another_class[1] = ("class_id", "C-FORM-2");
    let cases: Vec<Case> = vec![
        (
            "class",
            class_fields("", "2", "CB", "MA1"),
            "organizer_org_id",
            "组织 CB 不在",
        ),
        (
            "class",
            another_class,
            "attendee_ids",
            "党员MB1（MB1） 所在的 GB 不在",
        ),
        (
            "lecture",
            vec![
                ("lecture_id", "L-S1"),
                ("title", "党课"),
                ("speaker_id", "MB1"),
                ("audience_org_id", "CA"),
                ("given_at", "2024-03-06T09:00"),
                ("duration_minutes", "60"),
                ("study_hours", "1"),
                ("attendee_ids", "MA1"),
            ],
            "speaker_id",
            "MB1 所在的 GB 不在",
        ),
        (
            "lecture",
            vec![
                ("lecture_id", "L-S2"),
                ("title", "党课"),
                ("speaker_id", "MA1"),
                ("audience_org_id", "CB"),
                ("given_at", "2024-03-06T09:00"),
                ("duration_minutes", "60"),
                ("study_hours", "1"),
                ("attendee_ids", "MA2"),
            ],
            "audience_org_id",
            "组织 CB 不在",
        ),
        (
            "visit",
            vec![
                ("visit_id", "HV-S1"),
                ("member_id", "MB1"),
                ("visitor_ids", "MA1"),
                ("visited_on", "2024-03-07"),
                ("purposes", "home_study_delivery"),
                ("study_hours", "1"),
            ],
            "member_id",
            "MB1 所在的 GB",
        ),
        (
            "online",
            vec![
                ("log_id", "OS-S1"),
                ("member_id", "MB1"),
                ("platform", "other"),
                ("studied_on", "2024-03-07"),
                ("study_hours", "1"),
            ],
            "member_id",
            "MB1 所在的 GB",
        ),
        (
            "contact",
            vec![
                ("contact_id", "MC-S1"),
                ("member_id", "MB1"),
                ("contacted_by", "MA1"),
                ("contacted_on", "2024-03-07"),
                ("channel", "phone"),
            ],
            "member_id",
            "MB1 所在的 GB",
        ),
        (
            "meeting",
            vec![
                ("meeting_id", "OL-S1"),
                ("branch_id", "GB"),
                ("kind", "themed_party_day"),
                ("held_on", "2024-03-08"),
                ("attendee_ids", "MA1"),
            ],
            "branch_id",
            "组织 GB 不在",
        ),
        (
            "wish-post",
            vec![
                ("wish_id", "W-S1"),
                ("grid_id", "GB"),
                ("title", "送书"),
                ("category", "volunteer_service"),
                ("posted_on", "2024-05-03"),
            ],
            "grid_id",
            "组织 GB 不在",
        ),
        (
            "wish-claim",
            vec![
                ("wish_id", "W-GB"),
                ("member_id", "MA1"),
                ("claimed_on", "2024-05-04"),
            ],
            "wish_id",
            "组织 GB 不在",
        ),
        (
            "enrol",
            vec![
                ("member_id", "MN-S1"),
                ("name", "新人"),
                ("branch_id", "GB"),
                ("membership", "probationary"),
                ("joined_on", "2024-01-01"),
                ("enrolled_on", "2024-01-02"),
                ("employment", "retired"),
            ],
            "branch_id",
            "组织 GB 不在",
        ),
        (
            "role-assign",
            vec![
                ("member_id", "MA1"),
                ("role", "committee_member"),
                ("org_id", "CB"),
                ("on", "2024-03-09"),
            ],
            "org_id",
            "组织 CB 不在",
        ),
        (
            "amend",
            vec![("class_id", "C-CB"), ("added", "MA2"), ("reason", "漏记")],
            "",
            "组织 CB 不在",
        ),
        (
            "void",
            vec![("event_id", class_event.as_str()), ("reason", "录错了")],
            "",
            "组织 CB 不在",
        ),
        (
            "role-end",
            vec![
                ("member_id", "MA1"),
                ("role", "committee_member"),
                ("org_id", "CB"),
                ("on", "2024-04-13"),
            ],
            "org_id",
            "组织 CB 不在",
        ),
        (
            "wish-release",
            vec![
                ("wish_id", "W-GB"),
                ("member_id", "MA1"),
                ("released_on", "2024-05-05"),
                ("reason", "没空"),
            ],
            "wish_id",
            "组织 GB 不在",
        ),
        (
            "wish-withdraw",
            vec![
                ("wish_id", "W-GB"),
                ("withdrawn_on", "2024-05-06"),
                ("reason", "已解决"),
            ],
            "wish_id",
            "组织 GB 不在",
        ),
        (
            "mobile",
            vec![
                ("member_id", "MB1"),
                ("since", "2024-04-01"),
                ("destination", "深圳"),
                ("reason", "work"),
            ],
            "member_id",
            "MB1 所在的 GB",
        ),
        (
            "buddy",
            vec![
                ("member_id", "MB1"),
                ("buddy_id", "MA1"),
                ("since", "2024-04-02"),
            ],
            "member_id",
            "MB1 所在的 GB",
        ),
        (
            "return",
            vec![("member_id", "MB1"), ("on", "2024-04-10")],
            "member_id",
            "MB1 所在的 GB",
        ),
        (
            "care",
            vec![
                ("member_id", "MB1"),
                ("frail", "true"),
                ("on", "2024-04-11"),
            ],
            "member_id",
            "MB1 所在的 GB",
        ),
        (
            "full",
            vec![("member_id", "MN-S1"), ("on", "2024-04-12")],
            "member_id",
            "MN-S1 所在的 GB",
        ),
        (
            "transfer",
            vec![
                ("member_id", "MA2"),
                ("to_branch_id", "GB"),
                ("on", "2024-06-01"),
            ],
            "to_branch_id",
            "组织 GB 不在",
        ),
        (
            "leave",
            vec![
                ("member_id", "MB1"),
                ("on", "2024-12-01"),
                ("reason", "other"),
            ],
            "member_id",
            "MB1 所在的 GB",
        ),
        (
            "reenrol",
            vec![
                ("member_id", "MB1"),
                ("branch_id", "GB"),
                ("on", "2024-12-02"),
            ],
            "branch_id",
            "组织 GB 不在",
        ),
    ];
    for (slug, fields, at, says) in cases {
        let uri = format!("/record/{slug}");
        let key = form_key(&page(&api, "recorder-ca", &uri).await.text());
        let mut posted = vec![("form_key", key.as_str())];
        posted.extend(fields.iter().filter(|(k, _)| *k != "form_key"));
        let before = api.event_count().await;
        let reply = post_form(&api, "recorder-ca", &uri, &posted).await;
        let html = reply.text();
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{slug}: {html}"
        );
        // At a field, or (a correction's hidden target) at the top of the form.
        let errors = if at.is_empty() {
            form_errors(&html)
        } else {
            field_errors(&html, at)
        };
        assert!(
            errors.contains("超出本账号的组织范围") && errors.contains(says),
            "{slug} at {at}: {errors}\n{html}"
        );
        assert_eq!(api.event_count().await, before, "{slug}");
        // The same form from a whole-subdistrict recorder is stored: only the scope refused it.
        let key = form_key(&page(&api, "recorder", &uri).await.text());
        posted[0] = ("form_key", key.as_str());
        let reply = post_form(&api, "recorder", &uri, &posted).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{slug} unscoped: {}",
            reply.text()
        );
        assert_eq!(api.event_count().await, before + 1, "{slug}");
    }
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn a_scoped_recorder_uploads_for_its_subtree_and_rows_outside_are_refused_at_their_cell(
    pool: PgPool,
) {
    let api = seeded(pool).await;
    let before = api.event_count().await;
    let header = "党员（编号或姓名）,学习日期,学习平台,学习时长（分钟）\n";
    let inside = format!("{header}党员MA1,2024-03-01,学习强国,30\nMA2,2024-03-01,灯塔大课堂,45\n");
    let mixed = format!("{inside}党员MB1,2024-03-02,other,60\n");
    let uri = "/record/upload";
    // A row of a member outside CA: refused at its member cell, in the page's language; no
    // confirm offered, nothing stored.
    let reply = upload_as(
        &api,
        "recorder-ca",
        uri,
        "online-hours",
        "h.csv",
        mixed.as_bytes(),
    )
    .await;
    let html = reply.text();
    assert_eq!(reply.status, StatusCode::OK, "{html}");
    let problems: Vec<&str> = html.split(r#"<tr class="problem">"#).skip(1).collect();
    assert_eq!(problems.len(), 1, "{html}");
    assert!(
        problems[0].starts_with(r#"<td class="num">4</td><td>A</td>"#)
            && problems[0].contains("MB1 所在的 GB 不在本账号的范围 CA 之内"),
        "{}",
        problems[0]
    );
    assert!(!html.contains(r#"action="/record/upload/confirm"#));
    // Confirmed anyway (a forged confirm): refused the same way, nothing stored.
    let hex = |text: &str| text.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let file = hex(&mixed);
    let confirm = [
        ("kind", "online-hours"),
        ("format", "csv"),
        ("file", file.as_str()),
    ];
    let reply = post_form(&api, "recorder-ca", "/record/upload/confirm", &confirm).await;
    assert!(reply.text().contains("MB1 所在的 GB"), "{}", reply.text());
    assert_eq!(api.event_count().await, before);
    // A class register organised outside CA: at the organiser cell.
    let register = "班次编号,班次名称,形式,组织单位编号,开始时间,时长（分钟）,学时,参加人员\n\
                    C-UP,专题培训,集中培训,CB,2024-03-05 09:00,120,2,MA1\n";
    let reply = upload_as(
        &api,
        "recorder-ca",
        uri,
        "class-register",
        "c.csv",
        register.as_bytes(),
    )
    .await;
    let html = reply.text();
    let problem = html.split(r#"<tr class="problem">"#).nth(1).expect(&html);
    assert!(
        problem.starts_with(r#"<td class="num">2</td><td>D</td>"#)
            && problem.contains("组织 CB 不在"),
        "{problem}"
    );
    // Within its subtree: previewed clean, confirmed, stored.
    let good = upload_as(
        &api,
        "recorder-ca",
        uri,
        "online-hours",
        "h.csv",
        inside.as_bytes(),
    )
    .await
    .text();
    assert!(good.contains(r#"action="/record/upload/confirm"#), "{good}");
    let fields = [
        ("kind", hidden(&good, "kind")),
        ("format", hidden(&good, "format")),
        ("file", hidden(&good, "file")),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let stored = post_form(&api, "recorder-ca", "/record/upload/confirm", &fields).await;
    assert!(
        stored.text().contains("已录入 2 条记录"),
        "{}",
        stored.text()
    );
    assert_eq!(api.event_count().await, before + 2);
}

/// The members a page offers to tick (the values of its `pick_member` check boxes).
fn offered(html: &str) -> Vec<String> {
    html.split(r#"name="pick_member" value=""#)
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

/// The text of member list `name` on a page.
fn member_list(html: &str, name: &str) -> String {
    html.split(&format!(r#"name="{name}""#))
        .nth(1)
        .and_then(|s| s.split_once('>'))
        .map(|(_, s)| s.split("</textarea>").next().unwrap().to_owned())
        .unwrap_or_default()
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn attendees_are_found_by_name_or_id_within_the_scope_without_script(pool: PgPool) {
    let api = seeded(pool).await;
    let before = api.event_count().await;
    // By a part of the name: every enrolled member of the caller's scope, to tick.
    let html = page(&api, "admin", "/record/class?member_q=党员M&do=search")
        .await
        .text();
    assert_eq!(offered(&html), ["MA1", "MA2", "MB1"], "{html}");
    assert!(html.contains(r#"name="member_q""#) && !html.contains("<script"));
    let html = page(&api, "recorder-ca", "/record/class?member_q=党员&do=search")
        .await
        .text();
    assert_eq!(offered(&html), ["MA1", "MA2"], "{html}");
    // By a part of the id, ignoring case; those listed already are not offered again; the
    // branch picker's value does not add its branch unless its own button was pressed.
    let html = page(
        &api,
        "recorder-ca",
        "/record/class?attendee_ids=MA1&member_q=ma&do=search&fill_branch=GA",
    )
    .await
    .text();
    assert_eq!(offered(&html), ["MA2"], "{html}");
    assert_eq!(member_list(&html, "attendee_ids"), "MA1");
    let html = page(&api, "admin", "/record/class?member_q=无此人&do=search")
        .await
        .text();
    assert!(offered(&html).is_empty());
    assert!(html.contains("没有姓名或编号含“无此人”"), "{html}");
    // Ticked and added: appended to the list, one a line.
    let html = page(
        &api,
        "recorder-ca",
        "/record/class?title=T&attendee_ids=MA1&pick_member=MA2&pick_member=MA1&member_q=ma&do=pick",
    )
    .await
    .text();
    assert_eq!(member_list(&html, "attendee_ids"), "MA1\nMA2");
    assert!(offered(&html).is_empty() && html.contains(r#"value="T""#));
    // Enter in the search field posts the form: it searches and stores nothing, keeping the
    // key and the entries.
    let key = form_key(&page(&api, "admin", "/record/class").await.text());
    let mut fields = class_fields(&key, "2", "CA", "MA1");
    fields.push(("member_q", "党员MB"));
    let reply = post_form(&api, "admin", "/record/class", &fields).await;
    let html = reply.text();
    assert_eq!(reply.status, StatusCode::OK, "{html}");
    assert!(html.contains("尚未保存"), "{html}");
    assert_eq!(
        (offered(&html), form_key(&html)),
        (vec!["MB1".to_owned()], key.clone())
    );
    assert_eq!(api.event_count().await, before);
    // Ticked and submitted at once: recorded with the ticked member.
    fields.pop();
    fields.push(("pick_member", "MB1"));
    let reply = post_form(&api, "admin", "/record/class", &fields).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let (_, body) = api.get("admin", "/api/v1/streams/class:C-FORM-1").await;
    assert_eq!(
        body["events"][0]["data"]["attendee_ids"],
        serde_json::json!(["MA1", "MB1"]),
        "{body}"
    );
}
