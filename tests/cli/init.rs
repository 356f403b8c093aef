//! `sifbake init` on generated repository trees: what it writes passes `sifbake validate`,
//! names the dependencies sifbake finds, and never replaces a file.

use std::fs;

use crate::support::{Sifbake, copy_tree, repo_root, tree};

const DOCKER: &str = "Bootstrap: docker\nFrom: alpine:3.20\n";

/// Runs `sifbake init` then `sifbake validate` in `dir`; returns the manifest written.
fn init_then_validate(dir: &std::path::Path, init_args: &[&str]) -> String {
    let init = Sifbake::new(dir).arg("init").args(init_args).run();
    assert_eq!(init.code(), 0, "init: {}", init.stderr());
    let manifest = fs::read_to_string(dir.join("sifbake.yaml")).expect("sifbake.yaml written");
    let validate = Sifbake::new(dir).arg("validate").run();
    assert_eq!(
        validate.code(),
        0,
        "validate of\n{manifest}\n{}",
        validate.stderr()
    );
    manifest
}

#[test]
fn examples_without_their_manifest_get_one_with_globs_library_and_dependencies() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&repo_root().join("examples"), dir.path());
    fs::remove_file(dir.path().join("sifbake.yaml")).expect("remove the manifest");
    let manifest = init_then_validate(dir.path(), &[]);
    assert!(manifest.starts_with("# yaml-language-server: $schema="));
    assert!(manifest.contains("library: library://acme-lab/tools"));
    assert!(manifest.contains("glob: \"containers/*/Singularity.def\""));
    assert!(manifest.contains("# builds on python (From: acme-lab/tools/python:latest)"));
    assert!(manifest.contains("# builds on base (From: acme-lab/tools/base:latest)"));
}

#[test]
fn singularity_hub_folders_with_files_from_the_root_get_a_glob_and_defaults_context() {
    let files = "Bootstrap: docker\nFrom: alpine:3.20\n\n%files\n    shared/entrypoint.sh /opt/\n";
    let dir = tree(&[
        ("bwa/Singularity", files),
        ("samtools/Singularity", files),
        ("fastqc/Singularity", files),
        ("shared/entrypoint.sh", "echo\n"),
        ("README.md", "tools\n"),
    ]);
    let manifest = init_then_validate(dir.path(), &["--library", "library://lab/bio"]);
    assert!(manifest.contains("library: library://lab/bio"));
    assert!(manifest.contains("context: ."));
    assert!(manifest.contains("glob: \"*/Singularity\""));
    let reading = Sifbake::new(dir.path())
        .args(["validate", "--format", "json"])
        .run()
        .expect_code(0);
    for image in ["lab/bio/bwa", "lab/bio/fastqc", "lab/bio/samtools"] {
        assert!(reading.stdout().contains(image), "{image}");
    }
}

#[test]
fn local_images_and_a_placeholder_library_validate() {
    let dir = tree(&[
        ("images/base.def", DOCKER),
        (
            "images/app.def",
            "Bootstrap: localimage\nFrom: base.sif\n\n%files\n    app.conf /etc/app.conf\n",
        ),
        ("images/app.conf", "x=1\n"),
        ("Singularity.gpu", DOCKER),
    ]);
    let init = Sifbake::new(dir.path()).arg("init").run();
    assert_eq!(init.code(), 0, "{}", init.stderr());
    assert!(
        init.stderr()
            .contains("`defaults.library` is a placeholder")
    );
    let manifest = fs::read_to_string(dir.path().join("sifbake.yaml")).expect("written");
    assert!(
        manifest.contains("# builds on base (From: base.sif)"),
        "{manifest}"
    );
    assert!(!manifest.contains("context:"), "{manifest}");
    Sifbake::new(dir.path())
        .arg("validate")
        .run()
        .expect_code(0);
}

#[test]
fn never_overwrites_and_stdout_writes_nothing() {
    let dir = tree(&[("base.def", DOCKER), ("sifbake.yaml", "# mine\n")]);
    let run = Sifbake::new(dir.path()).arg("init").run().expect_code(2);
    assert!(run.stderr().contains("exists already"));
    assert_eq!(
        fs::read_to_string(dir.path().join("sifbake.yaml")).expect("kept"),
        "# mine\n"
    );
    let printed = Sifbake::new(dir.path())
        .args(["init", "--stdout"])
        .run()
        .expect_code(0);
    assert!(printed.stdout().contains("def: \"base.def\""));
    Sifbake::new(dir.path())
        .args(["init", "-f", "other.yaml"])
        .run()
        .expect_code(0);
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".sifbake-init-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_tree_without_definition_files_is_an_error_and_writes_nothing() {
    let dir = tree(&[("README.md", "nothing\n"), ("lib.def", "EXPORTS\n")]);
    let run = Sifbake::new(dir.path()).arg("init").run().expect_code(2);
    assert!(run.stderr().contains("no definition files"));
    assert!(!dir.path().join("sifbake.yaml").exists());
}

/// The commented tag rules are the defaults written out: `latest` is the rule that follows
/// releases, not `raw: latest` on the default branch; uncommented, they validate.
#[test]
fn the_commented_tag_rules_uncommented_validate_and_use_the_latest_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&repo_root().join("examples"), dir.path());
    fs::remove_file(dir.path().join("sifbake.yaml")).expect("remove the manifest");
    let manifest = init_then_validate(dir.path(), &[]);
    assert!(manifest.contains("  #   - latest\n"), "{manifest}");
    assert!(!manifest.contains("raw: latest"), "{manifest}");
    let uncommented: String = manifest
        .lines()
        .map(|line| match line.strip_prefix("  # ") {
            Some(rest) if rest.starts_with("tags:") || rest.starts_with("  - ") => {
                format!("  {rest}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect();
    assert!(
        uncommented.contains("\n  tags:\n    - branch\n"),
        "{uncommented}"
    );
    fs::write(dir.path().join("sifbake.yaml"), &uncommented).expect("write");
    let validate = Sifbake::new(dir.path()).arg("validate").run();
    assert_eq!(validate.code(), 0, "{uncommented}\n{}", validate.stderr());
}
