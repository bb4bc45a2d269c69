//! A one-page HTML report of a run: the scenario's name and its verdict, the
//! SVG space-time diagram, the check results (ok or FAIL, with their detail and
//! the trace lines that led to a failure) and the summary text.
//!
//! The page is self-contained: inline CSS, the SVG inline, no script, no font,
//! image or style fetched from anywhere, and nothing that depends on when it
//! was generated.

use std::fmt::Write as _;

use super::recorded::RecordedEvent;
use super::svg::{self, SvgOptions, esc};
use crate::process::NodeId;
use crate::report::RunReport;

const CSS: &str = "
body{margin:0;padding:24px 32px;font-family:'DejaVu Sans',Verdana,Arial,sans-serif;color:#222;background:#f6f7f9}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:16px;margin:28px 0 10px;color:#333}
.meta{color:#555;font-size:14px;margin:0}
.verdict{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:bold;font-size:13px;margin-left:8px}
.verdict.pass{background:#dff3e4;color:#1e6b35}
.verdict.fail{background:#fbe2df;color:#9b2d20}
.diagram{background:#fff;border:1px solid #d8dce3;border-radius:6px;overflow:auto;max-height:1600px;padding:4px}
table.checks{border-collapse:collapse;background:#fff;border:1px solid #d8dce3;font-size:14px}
table.checks th,table.checks td{padding:6px 12px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top}
table.checks th{background:#eef1f5;font-size:13px}
td.ok{color:#1e6b35;font-weight:bold}
td.fail{color:#9b2d20;font-weight:bold}
td.name{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;white-space:nowrap}
pre{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:12px 16px;font-size:13px;overflow:auto;line-height:1.4}
pre.prefix{margin:6px 0 0;font-size:12px;background:#fdf6f5}
footer{margin-top:28px;color:#888;font-size:12px}
";

/// Renders the report page for a run recorded as `events` over `nodes`.
pub fn render(events: &[RecordedEvent], nodes: &[NodeId], report: &RunReport) -> String {
    let title = esc(&report.scenario);
    let mut o = String::with_capacity(8192 + events.len() * 220);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(o, "<title>distlab: {title}</title>");
    let _ = writeln!(o, "<style>{CSS}</style>\n</head>\n<body>");
    let failed = report.failures().count();
    let verdict = if failed == 0 {
        format!(
            "<span class=\"verdict pass\">ok: {} check{} pass</span>",
            report.results.len(),
            if report.results.len() == 1 { "" } else { "s" }
        )
    } else {
        format!("<span class=\"verdict fail\">FAILED: {failed} of {} checks</span>", report.results.len())
    };
    let _ = writeln!(o, "<header>\n<h1>{title}</h1>");
    let _ = writeln!(
        o,
        "<p class=\"meta\">algorithm <b>{}</b> &#183; {} node{} &#183; seed {}{verdict}</p>\n</header>",
        esc(report.algorithm),
        report.nodes,
        if report.nodes == 1 { "" } else { "s" },
        report.seed
    );

    o.push_str("<section>\n<h2>Space-time diagram</h2>\n<div class=\"diagram\">\n");
    o.push_str(&svg::render(events, nodes, &report.scenario, &SvgOptions::default()));
    o.push_str("</div>\n</section>\n");

    o.push_str("<section>\n<h2>Checks</h2>\n");
    if report.results.is_empty() {
        o.push_str("<p>No checks ran.</p>\n");
    } else {
        o.push_str("<table class=\"checks\">\n<tr><th>verdict</th><th>check</th><th>detail</th></tr>\n");
        for r in &report.results {
            let (class, word) = if r.ok { ("ok", "ok") } else { ("fail", "FAIL") };
            let _ = write!(o, "<tr><td class=\"{class}\">{word}</td><td class=\"name\">{}</td><td>{}", esc(&r.name), esc(&r.detail));
            if !r.ok
                && let Some(at) = r.at
            {
                let _ = write!(o, "<br>broken at event #{} ({})", at.event, super::recorded::ms(at.time));
                if !r.prefix.is_empty() {
                    o.push_str("<pre class=\"prefix\">");
                    for line in &r.prefix {
                        o.push_str(&esc(line));
                        o.push('\n');
                    }
                    o.push_str("</pre>");
                }
            }
            o.push_str("</td></tr>\n");
        }
        o.push_str("</table>\n");
    }
    o.push_str("</section>\n");

    o.push_str("<section>\n<h2>Summary</h2>\n<pre class=\"summary\">");
    o.push_str(&esc(report.summary_text().trim_matches('\n')));
    o.push_str("</pre>\n</section>\n");
    o.push_str("<footer>distlab report: the same scenario and seed give the same page.</footer>\n</body>\n</html>\n");
    o
}
