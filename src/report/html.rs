//! The report as one self-contained HTML page (inline CSS and SVG charts).

use super::Report;
use super::markdown::summary_table;

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

/// Converts simple Markdown (`#`/`##` headings, pipe tables, paragraphs) into HTML.
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
            if let Some(h) = t.strip_prefix("## ") {
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

/// The HTML page, with the two SVG charts inlined.
pub fn to_html(r: &Report, curves_svg: &str, tradeoff_svg: &str) -> String {
    let mut per_class = String::from("| class |");
    for name in r.models.keys() {
        per_class.push_str(&format!(" {name} F1 |"));
    }
    per_class.push('\n');
    for (k, class) in r.class_names.iter().enumerate() {
        per_class.push_str(&format!("| {class} |"));
        for m in r.models.values() {
            per_class.push_str(&format!(" {:.3} |", m.quality.per_class[k].f1));
        }
        per_class.push('\n');
    }
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>distill report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 14px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f3f3f3; }}
.meta {{ color: #555; font-size: 13px; }}
</style></head><body>
<h1>distill report</h1>
<p class="meta">distill {version} · seed {seed} · student seeds {seeds:?} · {eval_set} · preprocessing <code>{pre}</code><br>
training data fingerprint <code>{fp}</code></p>
<h2>Comparison</h2>
{table}
<h2>Training curves</h2>
{curves}
<h2>Accuracy against latency</h2>
{tradeoff}
<h2>Per-class F1</h2>
{per_class}
{adversarial}
</body></html>
"#,
        version = escape(&r.distill_version),
        seed = r.seed,
        seeds = r.student_seeds,
        eval_set = escape(&r.eval_set),
        pre = escape(&r.preprocessing),
        fp = escape(&r.dataset_fingerprint),
        table = tables_to_html(&summary_table(r)),
        curves = curves_svg,
        tradeoff = tradeoff_svg,
        per_class = tables_to_html(&per_class),
        adversarial = super::discriminator_table(
            &r.models
                .iter()
                .map(|(n, m)| (n.clone(), &m.history[..]))
                .collect::<Vec<_>>()
        )
        .map(|t| format!(
            "<h2>Adversarial discriminator accuracy per epoch</h2>\n{}",
            tables_to_html(&t)
        ))
        .unwrap_or_default()
            + &r
                .models
                .get("student_kd")
                .and_then(|m| super::markdown::loss_terms_table(&m.history))
                .map(|t| format!(
                    "<h2>What drives the KD student's loss</h2>\n<p>Each weighted summand of the objective, mean over the epoch's training samples (ce = α·CE; each term = (1 − α)·w·term).</p>\n{}",
                    tables_to_html(&t)
                ))
                .unwrap_or_default(),
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
