use super::*;

const GOOD: &str = r#"
[[model]]
name = "small"
role = "fast"
source = "https://example.com/small.gguf"
file = "small.gguf"
sha256 = "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"

[[model]]
name = "small-2"
role = "fast"
source = "http://127.0.0.1:9000/small-2.gguf"
file = "small-2.gguf"
default = true
context_size = 2048
gpu_layers = 0
chat_template = "{{ messages }}"

[model.sampling]
temperature = 0
top_k = 0
"#;

fn problems(text: &str) -> Vec<Problem> {
    Catalog::parse(text, "models.toml").unwrap_err().problems
}

/// The single problem of `text`, as "line N: message".
fn problem(text: &str) -> String {
    let found = problems(text);
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].to_string()
}

fn entry(extra: &str) -> String {
    format!(
        "[[model]]\nname = \"m\"\nrole = \"code\"\nsource = \"https://example.com/m.gguf\"\nfile = \"m.gguf\"\n{extra}"
    )
}

#[test]
fn the_built_in_catalog_names_every_role_with_an_https_source() {
    let catalog = Catalog::parse(BUILT_IN, "models.toml").unwrap();
    for role in ModelRole::ALL {
        let model = catalog
            .for_role(role)
            .unwrap_or_else(|| panic!("no model for {role}"));
        assert!(
            model
                .source
                .as_deref()
                .unwrap()
                .starts_with("https://huggingface.co/")
        );
        assert!(
            Path::new(&model.file)
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("gguf"))
        );
    }
    assert_eq!(
        catalog.for_role(ModelRole::Fast).unwrap().name,
        "llama-3.2-3b-instruct"
    );
    assert_eq!(catalog.for_role(ModelRole::Reasoning).unwrap().name, "qwq-32b");
    assert_eq!(
        catalog.for_role(ModelRole::Code).unwrap().name,
        "deepseek-r1-distill-qwen-7b"
    );
    assert!(catalog.by_name("llama-3.2-3b-instruct").unwrap().sha256.is_some());
}

#[test]
fn a_missing_file_falls_back_to_the_built_in_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("models.toml");
    let catalog = Catalog::load(&missing).unwrap();
    assert_eq!(catalog.origin, CatalogOrigin::BuiltIn { missing });
    assert!(catalog.for_role(ModelRole::Fast).is_some());

    let path = dir.path().join("mine.toml");
    std::fs::write(&path, GOOD).unwrap();
    let catalog = Catalog::load(&path).unwrap();
    assert_eq!(catalog.origin, CatalogOrigin::File(path));
    assert_eq!(catalog.entries().len(), 2);
}

#[test]
fn entries_are_found_by_name_or_role_and_defaults_win() {
    let catalog = Catalog::parse(GOOD, "models.toml").unwrap();
    let small = catalog.by_name("SMALL").unwrap();
    assert_eq!(
        small.sha256.as_deref().unwrap()[..6],
        *"abcdef",
        "hex is lower-cased"
    );
    assert_eq!(small.context_size, DEFAULT_CONTEXT_SIZE);
    assert_eq!(small.gpu_layers, DEFAULT_GPU_LAYERS);
    assert_eq!(small.sampling, Sampling::default());
    assert_eq!(small.line, 2);

    let preferred = catalog.for_role(ModelRole::Fast).unwrap();
    assert_eq!(preferred.name, "small-2", "`default = true` wins over file order");
    assert_eq!(preferred.context_size, 2048);
    assert_eq!(preferred.gpu_layers, 0);
    assert!(preferred.sha256.is_none());
    assert!(preferred.sampling.temperature.abs() < f32::EPSILON);
    assert_eq!(preferred.sampling.top_k, 0);
    assert!((preferred.sampling.top_p - Sampling::default().top_p).abs() < f32::EPSILON);
    assert!(catalog.for_role(ModelRole::Embedding).is_none());
}

#[test]
fn each_kind_of_mistake_is_reported_with_its_line() {
    let cases: &[(String, &str, &str)] = &[
        (
            entry("").replace("\"code\"", "\"coding\""),
            "line 3",
            "unknown role \"coding\"",
        ),
        (entry("sha256 = \"abc\""), "line 6", "64 hexadecimal characters"),
        (entry("sha256 = \"zz\""), "line 6", "sha256"),
        (
            entry("").replace("https://example.com", "http://example.com"),
            "line 4",
            "https://",
        ),
        (
            entry("").replace("https://example.com/m.gguf", "not a url"),
            "line 4",
            "not a URL",
        ),
        (
            entry("").replace("\"m.gguf\"", "\"../m.gguf\""),
            "line 5",
            "plain file name",
        ),
        (
            entry("").replace("\"m.gguf\"", "\"sub/m.gguf\""),
            "line 5",
            "plain file name",
        ),
        (
            entry("").replace("\"m.gguf\"", "\"m.bin\""),
            "line 5",
            "must end with .gguf",
        ),
        (entry("").replace("name = \"m\"\n", ""), "line 1", "has no `name`"),
        (
            entry("").replace("role = \"code\"\n", ""),
            "line 1",
            "model `m` has no `role`",
        ),
        (
            entry("").replace("file = \"m.gguf\"\n", ""),
            "line 1",
            "has no `file`",
        ),
        (
            entry("").replace("\"m\"", "\"bad name\""),
            "line 2",
            "model name \"bad name\"",
        ),
        (entry("").replace("\"m\"", "\"fast\""), "line 2", "is a role name"),
        (entry("size_bytes = 0"), "line 6", "more than 0"),
        (entry("size_bytes = -5"), "line 6", "-5"),
        (entry("context_size = 10"), "line 6", "context_size"),
        (
            entry("sampling = { temperature = 9.0 }"),
            "line 6",
            "sampling.temperature = 9",
        ),
        (entry("sampling = { top_k = 5000 }"), "line 6", "top_k"),
        (entry("sha265 = \"x\""), "line 6", "unknown field `sha265`"),
        (entry("gpu_layers = \"all\""), "line 6", "expected u32"),
        (
            entry("chat_template = \"  \""),
            "line 6",
            "chat_template is empty",
        ),
        (entry("imported_from = \"/tmp/x\""), "line 6", "imported.toml"),
        (entry("[model\n"), "line 6", ""),
    ];
    for (text, line, needle) in cases {
        let message = problem(text);
        assert!(
            message.starts_with(line) && message.contains(needle),
            "expected {line}: …{needle}… for\n{text}\ngot: {message}"
        );
    }
}

#[test]
fn clashes_between_entries_name_both_lines() {
    let twice = format!("{}\n{}", entry(""), entry(""));
    let found = problems(&twice);
    let text: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|p| p.starts_with("line 7")
                && p.contains("duplicate model name `m` (first defined on line 1)")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|p| p.contains("already used by model `m`")),
        "{text:?}"
    );

    let defaults = format!(
        "{}\n{}",
        entry("default = true"),
        entry("default = true")
            .replace("\"m\"", "\"n\"")
            .replace("m.gguf", "n.gguf")
    );
    assert!(problem(&defaults).contains("a second `default = true` for role code (the first is on line 1)"));
}

#[test]
fn every_problem_is_reported_at_once_on_one_line() {
    let text = format!(
        "{}\n{}",
        entry("sha256 = \"abc\""),
        entry("")
            .replace("\"m\"", "\"n\"")
            .replace("\"code\"", "\"nope\"")
    );
    let err = Catalog::parse(&text, "models.toml").unwrap_err();
    assert_eq!(err.problems.len(), 2);
    let message = err.to_string();
    assert!(message.starts_with("models.toml: line 6: "), "{message}");
    assert!(message.contains("; line 9: unknown role"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn roles_parse_case_insensitively_and_list_the_choices() {
    assert_eq!(" Fast ".parse::<ModelRole>(), Ok(ModelRole::Fast));
    let err = "slow".parse::<ModelRole>().unwrap_err();
    assert!(err.contains("fast, reasoning, code or embedding"), "{err}");
}

#[test]
fn imported_records_need_no_role_or_source() {
    let text = "[[model]]\nname = \"mine\"\nfile = \"mine.gguf\"\nimported_from = \"/media/usb/mine.gguf\"\n";
    let entries = parse_entries(text, "imported.toml", FileKind::Imported).unwrap();
    assert_eq!(entries[0].role, None);
    assert_eq!(entries[0].imported_from.as_deref(), Some("/media/usb/mine.gguf"));
    assert!(parse_entries(text, "models.toml", FileKind::Catalog).is_err());
}
