use super::*;

fn error(text: &str) -> SuiteError {
    parse(text, "evals/bad.yaml").expect_err("the suite is refused")
}

#[test]
fn a_full_suite_parses() {
    let suite = parse(
        r#"
name: smoke
cases:
  - name: greets
    prompt: Say hello.
    checks:
      - contains: hello
      - not_contains: error
      - regex: "(?i)^hello"
  - name: kpis
    agent: analyst
    model: fast
    prompt: Which KPIs exist?
    checks:
      - tool_called: list_kpis
      - json_valid: false
"#,
        "evals/smoke.yaml",
    )
    .unwrap();
    assert_eq!(suite.name, "smoke");
    assert_eq!(suite.cases.len(), 2);
    let greets = &suite.cases[0];
    assert_eq!(greets.agent, DEFAULT_AGENT);
    assert_eq!(greets.model, None);
    assert_eq!(greets.checks.len(), 3);
    assert!(matches!(&greets.checks[0], Check::Contains(text) if text == "hello"));
    assert!(matches!(&greets.checks[2], Check::Regex(regex) if regex.is_match("HELLO there")));
    let kpis = &suite.cases[1];
    assert_eq!(kpis.agent, "analyst");
    assert_eq!(kpis.model.as_deref(), Some("fast"));
    assert!(matches!(&kpis.checks[0], Check::ToolCalled(name) if name == "list_kpis"));
    assert!(matches!(kpis.checks[1], Check::JsonValid(false)));
    assert_eq!(kpis.checks[0].to_string(), "tool_called: list_kpis");
    assert_eq!(greets.checks[2].to_string(), r#"regex: "(?i)^hello""#);
}

#[test]
fn the_suite_name_defaults_to_the_file_name() {
    let suite = parse("cases:\n  - name: a\n    prompt: hi\n", "dir/nightly.yaml").unwrap();
    assert_eq!(suite.name, "nightly");
    assert!(suite.cases[0].checks.is_empty());
}

#[test]
fn an_unknown_check_is_refused_on_its_line() {
    let err = error(
        "cases:
  - name: a
    prompt: hi
    checks:
      - contains: x
      - startswith: y
",
    );
    assert_eq!(err.file, "evals/bad.yaml");
    assert_eq!(err.line, Some(6), "{err}");
    assert!(err.message.contains("unknown field `startswith`"), "{err}");
    assert!(
        err.message.contains("tool_called"),
        "lists the known checks: {err}"
    );
    assert!(err.to_string().starts_with("evals/bad.yaml:6: "), "{err}");
}

#[test]
fn a_check_holds_exactly_one_kind() {
    let err = error(
        "cases:
  - name: a
    prompt: hi
    checks:
      - contains: x
        regex: y
",
    );
    assert_eq!(err.line, Some(5), "{err}");
    assert!(err.message.contains("exactly one"), "{err}");
    let err = error("cases:\n  - name: a\n    prompt: hi\n    checks:\n      - {}\n");
    assert_eq!(err.line, Some(5), "{err}");
    assert!(err.message.contains("needs one of"), "{err}");
}

#[test]
fn a_bad_regex_is_refused_on_its_line() {
    let err = error(
        "cases:
  - name: a
    prompt: hi
    checks:
      - regex: \"(unclosed\"
",
    );
    assert_eq!(err.line, Some(5), "{err}");
    assert!(err.message.contains("`regex` does not compile"), "{err}");
    assert!(!err.message.contains('\n'), "one line: {err}");
}

#[test]
fn case_mistakes_point_at_their_case() {
    let suite = |third: &str| {
        format!(
            "name: s
cases:
  - name: first
    prompt: hi
{third}"
        )
    };
    let err = error(&suite("  - name: first\n    prompt: again\n"));
    assert_eq!(err.line, Some(5), "{err}");
    assert!(err.message.contains("two cases are named \"first\""), "{err}");

    let err = error(&suite("  - name: second\n    checks: []\n"));
    assert_eq!(err.line, Some(5), "{err}");
    assert!(err.message.contains("missing field `prompt`"), "{err}");

    let err = error(&suite("  - name: second\n    prompt: \"  \"\n"));
    assert_eq!(err.line, Some(5), "{err}");
    assert!(err.message.contains("prompt is empty"), "{err}");

    let err = error(&suite("  - name: second\n    prompt: hi\n    temperature: 2\n"));
    assert_eq!(err.line, Some(7), "{err}");
    assert!(err.message.contains("unknown field `temperature`"), "{err}");
}

#[test]
fn broken_files_say_where() {
    let err = error("");
    assert_eq!(err.line, Some(1));
    assert!(err.message.contains("empty"), "{err}");

    let err = error("cases: []\n");
    assert!(err.message.contains("at least one case"), "{err}");

    let err = error("name: x\ncases:\n  - name: a\n    prompt: [unclosed\n");
    assert!(err.line.is_some(), "{err}");

    let err = error("cases:\n  - just a string\n");
    assert_eq!(err.line, Some(2), "{err}");

    let err = error("title: x\ncases:\n  - name: a\n    prompt: hi\n");
    assert_eq!(err.line, Some(1), "{err}");
    assert!(err.message.contains("unknown field `title`"), "{err}");
}
