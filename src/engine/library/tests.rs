use std::path::Path;

use sha2::{Digest, Sha256};

use super::import::imported_name;
use super::*;
use crate::engine::gguf::tests::Builder;

struct Fixture {
    dir: tempfile::TempDir,
    model: Vec<u8>,
}

impl Fixture {
    /// A models folder, a catalog file, and a valid GGUF file outside the folder.
    fn new(catalog: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("models")).unwrap();
        fs::write(dir.path().join("models.toml"), catalog).unwrap();
        let model = Builder::model().build();
        fs::write(dir.path().join("tiny.gguf"), &model).unwrap();
        Self { dir, model }
    }

    fn models(&self) -> PathBuf {
        self.dir.path().join("models")
    }

    fn source(&self) -> PathBuf {
        self.dir.path().join("tiny.gguf")
    }

    fn library(&self) -> Library {
        Library::open(&self.models(), &self.dir.path().join("models.toml")).unwrap()
    }

    fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.model))
    }
}

fn catalog_entry(name: &str, role: &str, file: &str, sha256: Option<&str>) -> String {
    let sha = sha256.map(|s| format!("sha256 = \"{s}\"\n")).unwrap_or_default();
    format!(
        "[[model]]\nname = \"{name}\"\nrole = \"{role}\"\nsource = \"https://example.com/{file}\"\nfile = \"{file}\"\n{sha}\n"
    )
}

fn only_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn an_unknown_file_is_imported_with_its_role_listed_and_removed() {
    let fixture = Fixture::new(&catalog_entry("big", "fast", "big.gguf", None));
    let library = fixture.library();
    let imported = library.import(&fixture.source(), &[ModelRole::Fast]).unwrap();
    assert_eq!(imported.name, "tiny");
    assert_eq!(imported.roles, [ModelRole::Fast]);
    assert_eq!(
        imported.moved,
        [RoleMove {
            role: ModelRole::Fast,
            from: Some("big".into()),
            to: Some("tiny".into())
        }],
        "the import says which model played the role before"
    );
    assert!(!imported.catalog_model);
    assert_eq!(imported.sha256, fixture.sha256());
    assert_eq!(imported.architecture.as_deref(), Some("llama"));
    assert_eq!(imported.quantization, Some("Q4_0"));
    assert_eq!(
        fs::read(fixture.models().join("tiny.gguf")).unwrap(),
        fixture.model
    );
    assert_eq!(
        only_files(&fixture.models()),
        [
            ".imported.toml.lock",
            "imported.toml",
            "tiny.gguf",
            "tiny.gguf.sha256"
        ],
        "no temporary files are left behind"
    );

    // A fresh look at the folder (as another process would have) sees the import.
    let library = fixture.library();
    let player = library.for_role(ModelRole::Fast).unwrap();
    assert_eq!(
        player.name, "tiny",
        "an imported model with a role wins over the catalog's"
    );
    assert_eq!(player.context_size, 2048, "context from the GGUF metadata");
    assert_eq!(library.find("fast").unwrap().name, "tiny");
    let listed = library.list();
    let tiny = listed.iter().find(|m| m.name == "tiny").unwrap();
    assert_eq!(tiny.origin, Origin::Imported);
    assert_eq!(tiny.state, FileState::Present);
    assert_eq!(tiny.roles, [ModelRole::Fast]);
    assert_eq!(tiny.given_roles, [ModelRole::Fast]);
    assert_eq!(tiny.size_bytes, Some(fixture.model.len() as u64));
    let big = listed.iter().find(|m| m.name == "big").unwrap();
    assert_eq!(big.state, FileState::Missing);
    assert!(big.roles.is_empty());
    assert_eq!(big.catalog_role, Some(ModelRole::Fast));

    let removed = library.remove("TINY").unwrap();
    assert_eq!(removed.name, "tiny");
    assert_eq!(
        removed.released,
        [RoleMove {
            role: ModelRole::Fast,
            from: Some("tiny".into()),
            to: Some("big".into())
        }]
    );
    assert_eq!(removed.deleted.len(), 2, "the model and its checksum record");
    let library = fixture.library();
    assert_eq!(library.for_role(ModelRole::Fast).unwrap().name, "big");
    assert!(library.list().iter().all(|m| m.name != "tiny"));
}

#[test]
fn a_file_the_catalog_knows_becomes_that_model_verified() {
    let fixture = Fixture::new("");
    let sha = fixture.sha256();
    fs::write(
        fixture.dir.path().join("models.toml"),
        catalog_entry("known", "code", "Known-Q4.gguf", Some(&sha)),
    )
    .unwrap();
    let library = fixture.library();
    let imported = library.import(&fixture.source(), &[]).unwrap();
    assert_eq!(imported.name, "known");
    assert_eq!(imported.roles, [ModelRole::Code]);
    assert!(imported.catalog_model && imported.verified);
    assert!(fixture.models().join("Known-Q4.gguf").is_file());
    assert!(
        !fixture.models().join(IMPORTED_FILE).exists(),
        "catalog models need no record"
    );
    let info = &fixture.library().list()[0];
    assert_eq!((info.state, info.verified), (FileState::Present, true));

    // A catalog model can be given another role too: it keeps its own.
    let imported = fixture
        .library()
        .import(&fixture.source(), &[ModelRole::Fast])
        .unwrap();
    assert_eq!(imported.roles, [ModelRole::Fast, ModelRole::Code]);
    let library = fixture.library();
    assert_eq!(library.for_role(ModelRole::Fast).unwrap().name, "known");
    assert_eq!(library.given_roles_of("known"), [ModelRole::Fast]);
}

#[test]
fn a_catalog_file_name_with_another_hash_is_refused() {
    let other = "0".repeat(64);
    let fixture = Fixture::new(&catalog_entry("named", "fast", "tiny.gguf", Some(&other)));
    let err = fixture.library().import(&fixture.source(), &[]).unwrap_err();
    assert!(matches!(err, EngineError::Refused(_)), "{err}");
    assert!(err.to_string().contains("not the catalog's"), "{err}");
    assert_eq!(only_files(&fixture.models()), Vec::<String>::new());

    // Without a sha256 in the catalog, the file name is enough (unverified).
    let fixture = Fixture::new(&catalog_entry("named", "fast", "tiny.gguf", None));
    let imported = fixture.library().import(&fixture.source(), &[]).unwrap();
    assert!(imported.catalog_model && !imported.verified);
    assert_eq!(imported.name, "named");
}

#[test]
fn corrupt_and_truncated_files_are_refused_and_leave_nothing() {
    let fixture = Fixture::new("");
    let library = fixture.library();
    let truncated = fixture.dir.path().join("cut.gguf");
    fs::write(&truncated, &fixture.model[..fixture.model.len() - 10]).unwrap();
    let err = library.import(&truncated, &[]).unwrap_err();
    assert!(err.is_usage());
    assert!(err.to_string().contains("truncated"), "{err}");

    let not_gguf = fixture.dir.path().join("notes.gguf");
    fs::write(&not_gguf, "hello, I am text").unwrap();
    let err = library.import(&not_gguf, &[]).unwrap_err();
    assert!(err.to_string().contains("not a GGUF file"), "{err}");

    let err = library
        .import(&fixture.dir.path().join("absent.gguf"), &[])
        .unwrap_err();
    assert!(err.to_string().contains("absent.gguf"), "{err}");
    assert_eq!(only_files(&fixture.models()), Vec::<String>::new());
}

#[test]
fn partial_and_unlisted_files_are_listed() {
    let fixture = Fixture::new(&catalog_entry("big", "fast", "big.gguf", None));
    fs::write(fixture.models().join("big.gguf.part"), [0u8; 100]).unwrap();
    fs::write(fixture.models().join("stray.gguf"), [0u8; 7]).unwrap();
    fs::write(fixture.models().join("notes.txt"), "x").unwrap();
    let library = fixture.library();
    let listed = library.list();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].state, FileState::Partial);
    assert_eq!(listed[0].partial_bytes, Some(100));
    assert_eq!(listed[1].name, "stray.gguf");
    assert_eq!(listed[1].origin, Origin::Unlisted);

    let removed = library.remove("big").unwrap();
    assert_eq!(removed.deleted, [fixture.models().join("big.gguf.part")]);
    library.remove("stray.gguf").unwrap();
    assert!(!fixture.models().join("stray.gguf").exists());
}

#[test]
fn unknown_names_and_roles_are_refused_by_rm() {
    let fixture = Fixture::new(&catalog_entry("big", "fast", "big.gguf", None));
    let library = fixture.library();
    let err = library.remove("nope").unwrap_err();
    assert!(err.is_usage());
    assert!(err.to_string().contains("unknown model `nope`"), "{err}");
    assert!(
        err.to_string().contains("big"),
        "the known names are listed: {err}"
    );
    let err = library.remove("fast").unwrap_err();
    assert!(
        err.to_string().contains("not a role; role fast is played by big"),
        "{err}"
    );
    let err = library.remove("../models.toml").unwrap_err();
    assert!(err.is_usage());
    assert!(fixture.dir.path().join("models.toml").exists());
}

#[test]
fn reimports_replace_their_own_file_but_not_a_stranger() {
    let fixture = Fixture::new("");
    let library = fixture.library();
    library.import(&fixture.source(), &[]).unwrap();
    // Importing the same file again is fine, and adds a role: it keeps those it had.
    fixture
        .library()
        .import(&fixture.source(), &[ModelRole::Fast])
        .unwrap();
    let imported = fixture
        .library()
        .import(&fixture.source(), &[ModelRole::Code])
        .unwrap();
    assert_eq!(imported.roles, [ModelRole::Fast, ModelRole::Code]);
    assert_eq!(fixture.library().for_role(ModelRole::Code).unwrap().name, "tiny");
    assert_eq!(fixture.library().for_role(ModelRole::Fast).unwrap().name, "tiny");

    let other_dir = tempfile::tempdir().unwrap();
    let newer = other_dir.path().join("tiny.gguf");
    fs::write(&newer, Builder::model().string("general.extra", "x").build()).unwrap();
    fixture.library().import(&newer, &[]).unwrap();
    assert_eq!(
        fs::read(fixture.models().join("tiny.gguf")).unwrap(),
        fs::read(&newer).unwrap()
    );

    // A file someone put in the folder by hand is not overwritten.
    fs::write(fixture.models().join("stranger.gguf"), b"mine").unwrap();
    let stranger = other_dir.path().join("stranger.gguf");
    fs::write(&stranger, &fixture.model).unwrap();
    let err = fixture.library().import(&stranger, &[]).unwrap_err();
    assert!(
        err.to_string().contains("already has another stranger.gguf"),
        "{err}"
    );
    assert_eq!(fs::read(fixture.models().join("stranger.gguf")).unwrap(), b"mine");
}

#[test]
fn names_of_imported_files_are_made_safe() {
    assert_eq!(
        imported_name("My Model (v2).gguf"),
        ("My-Model--v2-".into(), "My-Model--v2-.gguf".into())
    );
    assert_eq!(imported_name("__x.GGUF").0, "x");
    assert_eq!(imported_name("fast.gguf").0, "fast-model");
    assert_eq!(imported_name("???.gguf").0, "model");
}

#[test]
fn one_model_plays_several_roles_and_roles_change_hands_only_when_asked() {
    let catalog = [
        catalog_entry("big", "fast", "big.gguf", None),
        catalog_entry("huge", "reasoning", "huge.gguf", None),
    ]
    .concat();
    let fixture = Fixture::new(&catalog);
    let imported = fixture
        .library()
        .import(&fixture.source(), &[ModelRole::Fast, ModelRole::Reasoning])
        .unwrap();
    assert_eq!(imported.roles, [ModelRole::Fast, ModelRole::Reasoning]);
    assert_eq!(imported.moved.len(), 2, "{:?}", imported.moved);

    // Taking one back leaves the other, and the role goes back to the catalog's model.
    let change = fixture
        .library()
        .change_roles("tiny", &[], &[ModelRole::Reasoning])
        .unwrap();
    assert_eq!(change.roles, [ModelRole::Fast]);
    assert_eq!(
        change.moved,
        [RoleMove {
            role: ModelRole::Reasoning,
            from: Some("tiny".into()),
            to: Some("huge".into())
        }]
    );
    // Giving a catalog model a role takes it from the import, and only that role.
    let change = fixture
        .library()
        .change_roles("big", &[ModelRole::Fast], &[])
        .unwrap();
    assert_eq!(change.roles, [ModelRole::Fast]);
    let library = fixture.library();
    assert!(library.roles_of("tiny").is_empty());
    assert_eq!(library.roles_of("huge"), [ModelRole::Reasoning]);

    // What cannot be done is refused, saying what to do instead.
    let err = library
        .change_roles("huge", &[], &[ModelRole::Reasoning])
        .unwrap_err();
    assert!(matches!(err, EngineError::RoleRefused(_)), "{err}");
    assert!(
        err.to_string().contains("give reasoning to another model"),
        "{err}"
    );
    let err = library.change_roles("tiny", &[], &[ModelRole::Code]).unwrap_err();
    assert!(err.to_string().contains("was not given role code"), "{err}");
    let err = library.change_roles("nope", &[ModelRole::Code], &[]).unwrap_err();
    assert!(matches!(err, EngineError::UnknownModel { .. }), "{err}");
    let err = library.change_roles("fast", &[ModelRole::Code], &[]).unwrap_err();
    assert!(err.to_string().contains("role fast is played by big"), "{err}");
}

#[test]
fn an_imported_toml_with_a_single_role_per_model_still_loads() {
    let fixture = Fixture::new(&catalog_entry("big", "fast", "big.gguf", None));
    fs::copy(fixture.source(), fixture.models().join("tiny.gguf")).unwrap();
    fs::write(
        fixture.models().join(IMPORTED_FILE),
        "[[model]]\nname = \"gone\"\nrole = \"fast\"\nfile = \"gone.gguf\"\n\n\
         [[model]]\nname = \"tiny\"\nrole = \"fast\"\nfile = \"tiny.gguf\"\ncontext_size = 2048\n\n\
         [[model]]\nname = \"old\"\nrole = \"code\"\nfile = \"old.gguf\"\n",
    )
    .unwrap();
    let library = fixture.library();
    assert_eq!(
        library.for_role(ModelRole::Fast).unwrap().name,
        "tiny",
        "as before: the latest import of the role whose file is present"
    );
    assert_eq!(library.given_roles_of("old"), [ModelRole::Code]);

    // The next change writes the mapping, and the file reads the same.
    library
        .change_roles("tiny", &[ModelRole::Reasoning], &[])
        .unwrap();
    let text = fs::read_to_string(fixture.models().join(IMPORTED_FILE)).unwrap();
    assert!(text.contains("[roles]") && !text.contains("role = "), "{text}");
    let library = fixture.library();
    assert_eq!(library.roles_of("tiny"), [ModelRole::Fast, ModelRole::Reasoning]);
    assert_eq!(library.entries().count(), 4);

    // A bad [roles] table is reported with its line.
    fs::write(
        fixture.models().join(IMPORTED_FILE),
        "[roles]\nfast = \"tiny\"\nwizard = \"tiny\"\n",
    )
    .unwrap();
    let err = Library::open(&fixture.models(), &fixture.dir.path().join("models.toml")).unwrap_err();
    assert!(
        err.to_string().contains("line 3") && err.to_string().contains("unknown role"),
        "{err}"
    );
}
