//! `agentbox config example`: a documented `agentbox.toml`, generated from the key table.

use std::fmt::Write;

use super::keys::{KEYS, KeyDef};

/// Renders every key with its documentation, environment name and default, commented out so
/// the file changes nothing until the operator edits it.
pub fn example_file() -> String {
    let mut out = String::from(
        "# agentbox.toml: every setting with its default.\n\
         # Precedence: built-in defaults < this file < AGENTBOX_* environment < command-line flags.\n\
         # The file is read from $AGENTBOX_CONFIG, or ./agentbox.toml when that exists.\n",
    );
    // TOML puts every key after a [table] header into that table: top-level keys come first.
    let mut ordered: Vec<(&str, &str, &KeyDef)> = KEYS
        .iter()
        .map(|def| {
            let (table, name) = def.key.split_once('.').unwrap_or(("", def.key));
            (table, name, def)
        })
        .collect();
    ordered.sort_by_key(|(table, _, _)| *table);
    let mut section = "";
    for (table, name, def) in ordered {
        if table != section {
            section = table;
            let _ = write!(out, "\n[{table}]\n");
        }
        render(&mut out, def, name);
    }
    out
}

fn render(out: &mut String, def: &KeyDef, name: &str) {
    let _ = writeln!(out, "\n# {}", def.doc);
    let _ = writeln!(out, "# Environment: {}", def.env);
    match def.default {
        Some(value) if is_bare(value) => {
            let _ = writeln!(out, "# {name} = {value}");
        }
        Some(value) => {
            let _ = writeln!(out, "# {name} = {value:?}");
        }
        None if def.secret => {
            let _ = writeln!(out, "# {name} = \"\"   # secret: prefer the environment variable");
        }
        None => {
            let _ = writeln!(out, "# {name} = \"\"");
        }
    }
}

/// Numbers and booleans are written without quotes.
fn is_bare(value: &str) -> bool {
    value == "true" || value == "false" || value.parse::<i64>().is_ok()
}
