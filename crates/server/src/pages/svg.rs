//! Charts as inline SVG, drawn here: every bar is a link to the members it counts, every
//! value is printed beside its bar (colour is never the only signal), and the same numbers
//! are in the table below the chart.

use std::fmt::Write;

/// Escapes text for SVG/XML content and attributes.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One bar: its share (0..1), its printed value and where it leads.
pub(crate) struct Bar {
    pub share: f64,
    pub text: String,
    pub href: String,
}

/// One category (an org unit) with one bar per series.
pub(crate) struct Category {
    pub label: String,
    pub href: String,
    pub bars: Vec<Bar>,
}

const LABEL_W: f64 = 190.0;
const BAR_W: f64 = 440.0;
const VALUE_W: f64 = 70.0;
const BAR_H: f64 = 13.0;
const GAP: f64 = 12.0;
const CLASSES: [&str; 3] = ["s0", "s1", "s2"];

/// A horizontal bar chart with a legend of `series` names.
pub(crate) fn bars(title: &str, series: &[&str], categories: &[Category]) -> String {
    let per = series.len().max(1) as f64 * (BAR_H + 2.0) + GAP;
    let legend_h = 26.0;
    let height = legend_h + per * categories.len() as f64 + 20.0;
    let width = LABEL_W + BAR_W + VALUE_W;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-labelledby="chart-title" viewBox="0 0 {width} {height}" width="{width}" height="{height}"><title id="chart-title">{}</title>"#,
        esc(title)
    );
    let mut x = LABEL_W;
    for (i, name) in series.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<rect class="{}" x="{x}" y="6" width="14" height="12"/><text x="{}" y="16" class="legend">{}</text>"#,
            CLASSES[i % 3],
            x + 18.0,
            esc(name)
        );
        x += 30.0 + 14.0 * name.chars().count() as f64;
    }
    // Grid lines at 0, 50 and 100 %.
    for tick in [0.0, 0.5, 1.0] {
        let gx = LABEL_W + BAR_W * tick;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{gx}" y1="{legend_h}" x2="{gx}" y2="{}"/><text class="tick" x="{gx}" y="{}">{}%</text>"#,
            height - 16.0,
            height - 4.0,
            (tick * 100.0) as i64
        );
    }
    for (n, cat) in categories.iter().enumerate() {
        let top = legend_h + per * n as f64 + GAP / 2.0;
        let _ = write!(
            svg,
            r#"<a href="{}"><text class="cat" x="{}" y="{}">{}</text></a>"#,
            esc(&cat.href),
            LABEL_W - 8.0,
            top + per / 2.0 - 2.0,
            esc(&cat.label)
        );
        for (i, bar) in cat.bars.iter().enumerate() {
            let y = top + i as f64 * (BAR_H + 2.0);
            let w = (bar.share.clamp(0.0, 1.0) * BAR_W).max(1.0);
            let _ = write!(
                svg,
                r#"<a href="{href}"><title>{label} · {series}: {text}</title><rect class="{class}" x="{LABEL_W}" y="{y}" width="{w:.1}" height="{BAR_H}"/><text class="val" x="{tx:.1}" y="{ty}">{text}</text></a>"#,
                href = esc(&bar.href),
                label = esc(&cat.label),
                series = esc(series.get(i).copied().unwrap_or("")),
                text = esc(&bar.text),
                class = CLASSES[i % 3],
                tx = LABEL_W + w + 4.0,
                ty = y + BAR_H - 2.0,
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_bars_link() {
        let svg = bars(
            "t",
            &["a"],
            &[Category {
                label: "<script>".to_owned(),
                href: "/x?a=1&b=2".to_owned(),
                bars: vec![Bar {
                    share: 0.5,
                    text: "50%".to_owned(),
                    href: "/gaps".to_owned(),
                }],
            }],
        );
        assert!(svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains(r#"href="/x?a=1&amp;b=2""#));
        assert!(svg.contains(r#"width="220.0""#));
    }
}
