//! Build script. `sqlx::migrate!` embeds `migrations/`, so a changed migration must rebuild the
//! crate; with the `ui` feature (the default) the web UI in `assets/ui` is built into
//! `assets/ui/dist`, which `rust-embed` puts into the binary (and reads from disk in debug
//! builds, so `npm run build -- --watch` shows UI changes without rebuilding the binary).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        // The release tarball carries the runtime libraries a bare machine may lack (libgomp,
        // llama.cpp's OpenMP) in `lib/` beside the binary; the system's copies serve otherwise.
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,$ORIGIN/lib");
    }
    if std::env::var_os("CARGO_FEATURE_UI").is_some() {
        let root =
            PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
        if let Err(message) = build_ui(&root.join("assets/ui")) {
            // A panic is the one way a build script fails with a message cargo shows in full.
            panic!(
                "\n\nbuilding the web UI failed: {message}\n\n\
                 The default `ui` feature builds assets/ui with Node.js 20+ and npm. Install them, \
                 or build without the UI: cargo build --release --no-default-features\n"
            );
        }
    }
}

/// The UI's sources: cargo reruns this script only when one of them changes. `dist/` and
/// `node_modules/` are outputs and must not be listed (each build would trigger the next).
const UI_INPUTS: &[&str] = &[
    "src",
    "public",
    "build",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];

fn build_ui(ui: &Path) -> Result<(), String> {
    for input in UI_INPUTS {
        println!("cargo:rerun-if-changed={}", ui.join(input).display());
    }
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    match Command::new(npm).arg("--version").output() {
        Ok(output) if output.status.success() => {}
        _ => return Err("`npm` was not found on PATH".into()),
    }
    // `npm ci` only when the installed packages are missing or older than the lock file: it
    // deletes node_modules first, so running it on every build would cost half a minute each.
    if needs_install(ui) {
        run(Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(ui))?;
    }
    run(Command::new(npm).args(["run", "build"]).current_dir(ui))?;
    if !ui.join("dist/index.html").is_file() {
        return Err("`npm run build` finished without writing assets/ui/dist/index.html".into());
    }
    Ok(())
}

fn needs_install(ui: &Path) -> bool {
    let installed = ui.join("node_modules/.package-lock.json");
    let modified = |path: &Path| path.metadata().and_then(|m| m.modified()).ok();
    match (modified(&installed), modified(&ui.join("package-lock.json"))) {
        (Some(installed), Some(lock)) => installed < lock,
        _ => true,
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    // The output goes to cargo's build log (shown on failure, or with -vv); stdout would be
    // read by cargo for `cargo:` directives, so npm writes to stderr.
    let status = command
        .stdout(std::process::Stdio::from(std::io::stderr()))
        .status()
        .map_err(|err| format!("could not start {shown}: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status}); its output is above"))
    }
}
