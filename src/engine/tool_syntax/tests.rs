use serde_json::json;

use super::grammar_rules::rename_rules;
use super::*;

const ALL: [ToolSyntax; 6] = ToolSyntax::ALL;

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "kpi_values".into(),
            description: "Values of a KPI".into(),
            parameters: json!({"type": "object", "properties": {"kpi": {"type": "string"}}, "required": ["kpi"]}),
        },
        ToolSpec {
            name: "list_kpis".into(),
            description: "The KPIs".into(),
            parameters: json!({"type": "object", "properties": {}}),
        },
    ]
}

#[test]
fn templates_are_read_by_their_markers() {
    let cases = [
        ("{{'<｜tool▁calls▁begin｜>'}}", ToolSyntax::DeepSeekR1),
        ("{{- \"[TOOL_CALLS][\" }}", ToolSyntax::Mistral),
        ("<|im_start|>… <tool_call>\n{…}</tool_call>", ToolSyntax::Hermes),
        (
            "<|start_header_id|>… {%- if tools is not none %}",
            ToolSyntax::Llama3,
        ),
        (
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
            ToolSyntax::SmolLm2,
        ),
        ("<|start_header_id|>{{ message.content }}", ToolSyntax::Json),
        ("{{ messages }}", ToolSyntax::Json),
    ];
    for (template, syntax) in cases {
        assert_eq!(ToolSyntax::detect(template), syntax, "{template}");
    }
}

#[test]
fn written_calls_parse_back_in_every_syntax() {
    let calls = [
        ("kpi_values".to_owned(), json!({"kpi": "revenue"})),
        ("list_kpis".to_owned(), json!({})),
    ];
    for syntax in ALL {
        // Bare-JSON syntaxes make one call per answer.
        let calls = if syntax.calls_lead() {
            &calls[..1]
        } else {
            &calls[..]
        };
        let written = syntax.write_calls(calls);
        let parsed = parse_calls(syntax, &written, &tools())
            .unwrap_or_else(|err| panic!("{syntax:?}: {err}\n{written}"));
        assert_eq!(parsed, calls, "{syntax:?}: {written}");
    }
}

#[test]
fn bad_calls_are_refused_with_the_reason() {
    let refused = [
        (
            ToolSyntax::Hermes,
            "<tool_call>{\"name\": \"kpi_values\", \"arguments\": {\"kpi\": \"re",
            "not closed",
        ),
        (
            ToolSyntax::Hermes,
            "<tool_call>{\"name\": \"drop\", \"arguments\": {}}</tool_call>",
            "unknown tool",
        ),
        (
            ToolSyntax::Json,
            "{\"name\": \"kpi_values\", \"arguments\": {}}",
            "needs argument kpi",
        ),
        (
            ToolSyntax::Json,
            "{\"name\": \"kpi_values\", \"arguments\": [1]}",
            "not an object",
        ),
        (
            ToolSyntax::Mistral,
            "[TOOL_CALLS][{\"arguments\": {}}]",
            "without a name",
        ),
        (
            ToolSyntax::DeepSeekR1,
            "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>list_kpis\n```json\n{}",
            "not closed",
        ),
    ];
    for (syntax, output, reason) in refused {
        let err = parse_calls(syntax, output, &tools()).unwrap_err().to_string();
        assert!(err.contains(reason), "{syntax:?} {output}: {err}");
    }
}

#[test]
fn calls_written_by_other_conventions_are_read_too() {
    // Arguments as a JSON string, `parameters` for `arguments`, OpenAI's `function` wrapper.
    let outputs = [
        r#"{"name": "kpi_values", "arguments": "{\"kpi\": \"revenue\"}"}"#,
        r#"{"name": "kpi_values", "parameters": {"kpi": "revenue"}}"#,
        r#"{"type": "function", "function": {"name": "kpi_values", "arguments": {"kpi": "revenue"}}}"#,
    ];
    for output in outputs {
        let parsed = parse_calls(ToolSyntax::Json, output, &tools()).unwrap();
        assert_eq!(
            parsed,
            vec![("kpi_values".to_owned(), json!({"kpi": "revenue"}))],
            "{output}"
        );
    }
    let llama = format!("{PYTHON_TAG}{{\"name\": \"list_kpis\", \"parameters\": {{}}}}");
    assert_eq!(
        parse_calls(ToolSyntax::Llama3, &llama, &tools()).unwrap()[0].0,
        "list_kpis"
    );
}

#[test]
fn rule_names_are_prefixed_but_literals_classes_and_counts_are_not() {
    let gbnf = "root ::= \"{\" space kpi-kv \"}\" space\nchar ::= [^\"\\\\a-z] | \"root\"\nspace ::= | \" \" | \"\\n\"{1,2} [ \\t]{0,20}\n";
    let renamed = rename_rules(gbnf, "t0-");
    assert_eq!(
        renamed,
        "t0-root ::= \"{\" t0-space t0-kpi-kv \"}\" t0-space\nt0-char ::= [^\"\\\\a-z] | \"root\"\nt0-space ::= | \" \" | \"\\n\"{1,2} [ \\t]{0,20}\n"
    );
}

#[test]
fn each_syntax_has_a_grammar_rooted_at_its_trigger() {
    for syntax in ALL {
        let gbnf = call_grammar(syntax, &tools()).unwrap();
        let root = gbnf.lines().next().unwrap();
        assert!(root.starts_with("root ::= "), "{syntax:?}: {root}");
        // Each tool's arguments are its own renamed rules.
        assert!(
            gbnf.contains("t0-root ::=") && gbnf.contains("t1-root ::="),
            "{syntax:?}"
        );
        let opening = match syntax {
            ToolSyntax::Hermes | ToolSyntax::SmolLm2 => "\"<tool_call>\"",
            ToolSyntax::Mistral => "\"[TOOL_CALLS]\"",
            ToolSyntax::DeepSeekR1 => "\"<｜tool▁calls▁begin｜>\"",
            ToolSyntax::Llama3 | ToolSyntax::Json => "call",
        };
        assert!(root.contains(opening), "{syntax:?}: {root}");
    }
}

#[test]
fn the_instructions_name_the_tools_and_show_the_syntax() {
    let text = ToolSyntax::SmolLm2.instructions(&tools());
    assert!(
        text.contains("\"name\":\"kpi_values\"") && text.contains("Values of a KPI"),
        "{text}"
    );
    assert!(text.contains("<tool_call>[{\"name\":\"<tool name>\""), "{text}");
    let json = ToolSyntax::Json.instructions(&tools());
    assert!(json.contains("answer with only this JSON object"), "{json}");
}
