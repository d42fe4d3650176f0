//! Lists as CSV (UTF-8 with BOM, guarded against formula injection) and XLSX (headers in the
//! page's language, column widths, frozen header row, dates as dates), the basis in the
//! first rows of both.

use super::{Table, Value};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use rust_xlsxwriter::{Format, FormatAlign, Workbook, XlsxError};

/// A cell that a spreadsheet would read as a formula gets a leading apostrophe.
pub(crate) fn guard(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn csv_field(text: &str) -> String {
    let text = guard(text);
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn plain(value: &Value, text: &str) -> String {
    match value {
        Value::Text(t) => t.clone(),
        Value::Int(n) => n.to_string(),
        Value::Num(n) => n.to_string(),
        Value::Date(d) => d.to_string(),
        Value::Empty => text.to_owned(),
    }
}

fn file_name(title: &str, ext: &str) -> String {
    // ASCII fallback plus the UTF-8 name (RFC 6266).
    let encoded = super::enc(&format!("{title}.{ext}"));
    format!("attachment; filename=\"partyedu.{ext}\"; filename*=UTF-8''{encoded}")
}

pub(crate) fn csv(title: &str, basis: &str, table: &Table) -> Response {
    let mut out = String::from("\u{feff}");
    let line = |cells: Vec<String>| -> String {
        let mut text = cells
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(",");
        text.push_str("\r\n");
        text
    };
    out += &line(vec![format!("{title} · {}", table.caption)]);
    out += &line(vec![basis.to_owned()]);
    out += &line(table.headers.clone());
    for row in &table.rows {
        out += &line(row.cells.iter().map(|c| plain(&c.value, &c.text)).collect());
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, file_name(title, "csv")),
        ],
        out,
    )
        .into_response()
}

/// Display width in spreadsheet units: a Han character is about two.
fn width(text: &str) -> f64 {
    text.chars()
        .map(|c| if c.is_ascii() { 1.1 } else { 2.1 })
        .sum()
}

pub(crate) fn xlsx(title: &str, basis: &str, table: &Table) -> Result<Response, XlsxError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(table.id)?;
    let bold = Format::new().set_bold();
    let heading = Format::new()
        .set_bold()
        .set_background_color("#F2E6E6")
        .set_align(FormatAlign::Center);
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let text_format = Format::new().set_num_format("@");
    sheet.write_string_with_format(0, 0, format!("{title} · {}", table.caption), &bold)?;
    sheet.write_string(1, 0, basis)?;
    const HEAD: u32 = 2;
    let mut widths: Vec<f64> = table.headers.iter().map(|h| width(h) + 2.0).collect();
    for (c, h) in table.headers.iter().enumerate() {
        sheet.write_string_with_format(HEAD, c as u16, h, &heading)?;
    }
    for (r, row) in table.rows.iter().enumerate() {
        let r = HEAD + 1 + r as u32;
        for (c, cell) in row.cells.iter().enumerate() {
            let col = c as u16;
            match &cell.value {
                Value::Text(t) => {
                    sheet.write_string_with_format(r, col, t, &text_format)?;
                }
                Value::Int(n) => {
                    sheet.write_number(r, col, *n as f64)?;
                }
                Value::Num(n) => {
                    sheet.write_number(r, col, *n)?;
                }
                Value::Date(d) => {
                    sheet.write_datetime_with_format(r, col, d, &date)?;
                }
                Value::Empty => {}
            }
            let w = match &cell.value {
                Value::Date(_) => 12.0,
                _ => width(&plain(&cell.value, &cell.text)) + 2.0,
            };
            if let Some(slot) = widths.get_mut(c) {
                *slot = slot.max(w);
            }
        }
    }
    for (c, w) in widths.iter().enumerate() {
        sheet.set_column_width(c as u16, w.min(60.0))?;
    }
    sheet.set_freeze_panes(HEAD + 1, 0)?;
    sheet.set_repeat_rows(0, HEAD)?;
    sheet.set_paper_size(9); // A4
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    sheet.set_footer("&C&P / &N");
    let bytes = book.save_to_buffer()?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (header::CONTENT_DISPOSITION, file_name(title, "xlsx")),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_quotes_doubled() {
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(csv_field("-2"), "'-2");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\tx"), "'\tx");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(csv_field("党员"), "党员");
    }
}
