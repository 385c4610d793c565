//! The report as one self-contained HTML page (inline CSS and SVG charts).

use super::Report;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes `s` and renders its inline Markdown: `**bold**` and `` `code` ``.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let (mut bold, mut code) = (false, false);
    let mut rest = escape(s);
    while !rest.is_empty() {
        if !code && rest.starts_with("**") {
            out.push_str(if bold { "</b>" } else { "<b>" });
            bold = !bold;
            rest.drain(..2);
        } else if rest.starts_with('`') {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
            rest.drain(..1);
        } else {
            let c = rest.remove(0);
            out.push(c);
        }
    }
    if bold {
        out.push_str("</b>");
    }
    if code {
        out.push_str("</code>");
    }
    out
}

/// The page style shared by the HTML reports.
pub(crate) const PAGE_CSS: &str = "body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; } table { border-collapse: collapse; margin: 1em 0; font-size: 14px; } th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; } th:first-child, td:first-child { text-align: left; } th { background: #f3f3f3; } .meta { color: #555; font-size: 13px; }";

/// Converts simple Markdown (`#`/`##`/`###` headings, pipe tables, paragraphs) into HTML.
pub(crate) fn markdown_to_html_body(md: &str) -> String {
    tables_to_html(md)
}

/// Converts the Markdown pipe tables of `md` into HTML tables; `#`/`##` lines become headings
/// and other lines paragraphs.
fn tables_to_html(md: &str) -> String {
    let mut out = String::new();
    let mut in_table = false;
    for line in md.lines() {
        let t = line.trim();
        if t.starts_with('|') {
            if t.starts_with("|---") {
                continue;
            }
            let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
            if !in_table {
                out.push_str("<table><tr>");
                for c in &cells {
                    out.push_str(&format!("<th>{}</th>", inline(c)));
                }
                out.push_str("</tr>\n");
                in_table = true;
            } else {
                out.push_str("<tr>");
                for c in &cells {
                    out.push_str(&format!("<td>{}</td>", inline(c)));
                }
                out.push_str("</tr>\n");
            }
        } else {
            if in_table {
                out.push_str("</table>\n");
                in_table = false;
            }
            if let Some(h) = t.strip_prefix("### ") {
                out.push_str(&format!("<h3>{}</h3>\n", escape(h)));
            } else if let Some(h) = t.strip_prefix("## ") {
                out.push_str(&format!("<h2>{}</h2>\n", escape(h)));
            } else if let Some(h) = t.strip_prefix("# ") {
                out.push_str(&format!("<h1>{}</h1>\n", escape(h)));
            } else if !t.is_empty() {
                out.push_str(&format!("<p>{}</p>\n", inline(t)));
            }
        }
    }
    if in_table {
        out.push_str("</table>\n");
    }
    out
}

/// The HTML page: the Markdown report rendered, with each chart (`![..](name.svg)`) inlined
/// from `charts` (file name, SVG).
pub fn to_html(r: &Report, charts: &[(&str, &str)]) -> String {
    let md = super::to_markdown(r);
    let mut body = String::new();
    let mut chunk = String::new();
    for line in md.lines() {
        let t = line.trim();
        let chart = t
            .strip_prefix("![")
            .and_then(|rest| rest.split_once("]("))
            .and_then(|(_, file)| file.strip_suffix(')'))
            .and_then(|file| charts.iter().find(|(name, _)| *name == file));
        match chart {
            Some((_, svg)) => {
                body.push_str(&tables_to_html(&chunk));
                chunk.clear();
                body.push_str(&format!("<div class=\"chart\">{svg}</div>\n"));
            }
            None => {
                chunk.push_str(line);
                chunk.push('\n');
            }
        }
    }
    body.push_str(&tables_to_html(&chunk));
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>distill report</title>\n<style>{PAGE_CSS} h2 {{ margin-top: 1.6em; }} .chart {{ margin: 1em 0; }}</style></head><body>\n{body}</body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::inline;

    #[test]
    fn inline_markdown_is_escaped_and_rendered() {
        assert_eq!(
            inline("kd **(best)** on `a<b`"),
            "kd <b>(best)</b> on <code>a&lt;b</code>"
        );
    }
}
