//! The smoke run of the fuzz targets (src/fuzz.rs) in every test run: each committed corpus
//! input (`fuzz/corpus/<target>`, kept by `scripts/fuzz`, crash inputs added once fixed), then
//! a fixed number of seeded mutations of them, through the target's entry point. The fuzzing
//! itself — coverage-guided, for minutes per target — is `scripts/fuzz`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use agentbox::fuzz::{TARGETS, Target};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Mutations per target and run, each of a corpus input picked at random: enough to pass
/// broken lengths and cut markers through every parser, few enough for about a second.
const MUTATIONS_PER_TARGET: usize = 5_000;

#[test]
fn every_target_has_a_corpus_and_a_libfuzzer_binary() {
    for target in TARGETS {
        assert!(
            !corpus(target).is_empty(),
            "fuzz/corpus/{} holds no inputs",
            target.name
        );
        let source = root()
            .join("fuzz/fuzz_targets")
            .join(format!("{}.rs", target.name));
        assert!(source.is_file(), "{} has no libFuzzer target", source.display());
    }
    let binaries = std::fs::read_dir(root().join("fuzz/fuzz_targets"))
        .unwrap()
        .count();
    assert_eq!(
        binaries,
        TARGETS.len(),
        "fuzz/fuzz_targets holds a target src/fuzz.rs does not list"
    );
}

#[test]
fn the_corpora_replay_without_a_crash() {
    for target in TARGETS {
        for (name, input) in corpus(target) {
            run(target, &name, &input);
        }
    }
}

#[test]
fn mutations_of_the_corpora_do_not_crash() {
    let mut rng = StdRng::seed_from_u64(0x00a6_e47b_0c5e);
    for target in TARGETS {
        let inputs = corpus(target);
        for round in 0..MUTATIONS_PER_TARGET {
            let (name, input) = &inputs[rng.gen_range(0..inputs.len())];
            let mutated = mutate(input, &mut rng);
            run(target, &format!("{name}, mutation {round}"), &mutated);
        }
    }
}

fn run(target: &Target, name: &str, input: &[u8]) {
    assert!(
        catch_unwind(AssertUnwindSafe(|| (target.run)(input))).is_ok(),
        "fuzz target {} failed on {name} ({} bytes: {:?})",
        target.name,
        input.len(),
        String::from_utf8_lossy(&input[..input.len().min(200)])
    );
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The corpus files of `target`, by name.
fn corpus(target: &Target) -> Vec<(String, Vec<u8>)> {
    let folder = root().join("fuzz/corpus").join(target.name);
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| (file_name(&path), std::fs::read(&path).unwrap()))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// One of the mutations libFuzzer starts with: a byte changed, inserted or removed, a cut, or a
/// piece repeated — the shapes that break length fields and markers.
fn mutate(input: &[u8], rng: &mut StdRng) -> Vec<u8> {
    /// Bytes that open or end what the parsers look for.
    const MARKER_BYTES: [u8; 6] = [0, 0xff, b'{', b'"', b'\n', b'<'];

    let mut out = input.to_vec();
    if out.is_empty() {
        out.push(rng.r#gen());
        return out;
    }
    let at = rng.gen_range(0..out.len());
    match rng.gen_range(0..6) {
        0 => out[at] = rng.r#gen(),
        1 => out[at] ^= 1 << rng.gen_range(0..8),
        2 => out.insert(at, MARKER_BYTES[rng.gen_range(0..MARKER_BYTES.len())]),
        3 => {
            out.remove(at);
        }
        4 => out.truncate(at),
        _ => {
            let end = rng.gen_range(at..=out.len().min(at + 16));
            let piece = out[at..end].to_vec();
            out.splice(at..at, piece);
        }
    }
    out
}
