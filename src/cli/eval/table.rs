//! The results table `agentbox eval` prints.

use std::fmt::Write;

use crate::domain::EvalCaseResult;

/// Widest "failed check" column before it is cut with an ellipsis.
const MAX_DETAIL_CHARS: usize = 60;

/// One line per case under a header; columns padded to their widest cell.
pub fn render(results: &[EvalCaseResult]) -> String {
    let header = [
        "CASE",
        "AGENT/MODEL",
        "RESULT",
        "FAILED CHECK",
        "LATENCY",
        "TOKENS IN/OUT",
    ];
    let rows: Vec<[String; 6]> = results.iter().map(row).collect();
    let mut widths = header.map(|title| title.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String; 6]| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if index > 0 {
                text.push_str("  ");
            }
            // Numbers align right, words left.
            let _ = if index >= 4 {
                write!(text, "{cell:>width$}")
            } else {
                write!(text, "{cell:<width$}")
            };
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&header.map(str::to_owned));
    for row in &rows {
        line(row);
    }
    out
}

fn row(result: &EvalCaseResult) -> [String; 6] {
    let target = match (&result.agent, &result.model) {
        (Some(agent), Some(model)) => format!("{agent}/{model}"),
        (Some(name), None) | (None, Some(name)) => name.clone(),
        (None, None) => "-".to_owned(),
    };
    let verdict = if result.passed { "pass" } else { "FAIL" };
    let detail = result
        .error
        .as_ref()
        .map(|error| format!("error: {error}"))
        .or_else(|| result.failed_check.clone())
        .unwrap_or_else(|| "-".to_owned());
    let latency = result.latency_ms.map_or_else(|| "-".to_owned(), latency);
    let tokens = match (result.prompt_tokens, result.completion_tokens) {
        (None, None) => "-".to_owned(),
        (prompt, completion) => format!(
            "{}/{}",
            prompt.map_or_else(|| "?".to_owned(), |n| n.to_string()),
            completion.map_or_else(|| "?".to_owned(), |n| n.to_string())
        ),
    };
    [
        one_line(&result.name, MAX_DETAIL_CHARS),
        target,
        verdict.to_owned(),
        one_line(&detail, MAX_DETAIL_CHARS),
        latency,
        tokens,
    ]
}

/// `850 ms`, `12.3 s`.
fn latency(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        #[allow(clippy::cast_precision_loss)]
        let seconds = ms as f64 / 1000.0;
        format!("{seconds:.1} s")
    }
}

/// Newlines become spaces and long text ends in `…`, so every case stays on one line.
fn one_line(text: &str, max_chars: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max_chars {
        flat
    } else {
        let mut cut: String = flat.chars().take(max_chars - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, passed: bool) -> EvalCaseResult {
        EvalCaseResult {
            name: name.to_owned(),
            agent: Some("assistant".to_owned()),
            model: None,
            passed,
            failed_check: None,
            error: None,
            latency_ms: Some(850),
            prompt_tokens: Some(12),
            completion_tokens: Some(30),
        }
    }

    #[test]
    fn the_table_lines_up() {
        let mut kpis = result("analyst lists KPIs", false);
        kpis.agent = Some("analyst".to_owned());
        kpis.model = Some("fast".to_owned());
        kpis.failed_check = Some("tool_called: list_kpis".to_owned());
        kpis.latency_ms = Some(12_345);
        let mut broken = result("broken", false);
        broken.error = Some("/api/v1/sessions 404 not_found:\nno agent named x".to_owned());
        broken.latency_ms = None;
        broken.prompt_tokens = None;
        broken.completion_tokens = None;
        let table = render(&[result("greets", true), kpis, broken]);
        let expected = "\
CASE                AGENT/MODEL   RESULT  FAILED CHECK                                             LATENCY  TOKENS IN/OUT
greets              assistant     pass    -                                                         850 ms          12/30
analyst lists KPIs  analyst/fast  FAIL    tool_called: list_kpis                                    12.3 s          12/30
broken              assistant     FAIL    error: /api/v1/sessions 404 not_found: no agent named x        -              -
";
        assert_eq!(table, expected, "\n{table}");
    }

    #[test]
    fn long_details_are_cut() {
        let mut long = result("long", false);
        long.failed_check = Some(format!("contains: {:?}", "x".repeat(200)));
        let table = render(&[long]);
        let line = table.lines().nth(1).unwrap();
        assert!(line.contains('…'), "{line}");
        assert!(line.chars().count() < 150, "{line}");
    }
}
