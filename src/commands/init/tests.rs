//! Unit tests of `sifbake init`: naming, grouping, context and library inference.

use super::*;

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

const DOCKER: &str = "Bootstrap: docker\nFrom: alpine:3.20\n";

#[test]
fn names_follow_the_file_or_its_folder() {
    assert_eq!(def_target_name("defs/base.def"), "base");
    assert_eq!(def_target_name("tools/BWA/Singularity"), "bwa");
    assert_eq!(
        def_target_name("tools/bwa/Singularity.0.7.17"),
        "bwa-0.7.17"
    );
    assert_eq!(def_target_name("tools/bwa/Singularity.def"), "bwa");
    assert_eq!(def_target_name("Singularity"), "image");
    assert_eq!(def_target_name("My Image_v2.def"), "my-image_v2");
    assert_eq!(sanitize("--"), None);
}

#[test]
fn sibling_folders_with_one_file_name_become_one_glob_target() {
    let dir = tree(&[
        ("recipes/bwa/Singularity", DOCKER),
        ("recipes/samtools/Singularity", DOCKER),
        ("recipes/lonely/Singularity.def", DOCKER),
        ("base.def", DOCKER),
        ("notes/readme.def", "LIBRARY mylib\nEXPORTS\n"),
    ]);
    let (found, rejected) = find_definitions(dir.path());
    assert_eq!(rejected, ["notes/readme.def"]);
    let entries = plan_entries(&found, &rejected, dir.path());
    let summary: Vec<(&str, &[String])> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.targets.as_slice()))
        .collect();
    assert_eq!(
        summary,
        [
            ("base", &["base".to_owned()][..]),
            ("lonely", &["lonely".to_owned()][..]),
            ("recipes", &["bwa".to_owned(), "samtools".to_owned()][..]),
        ]
    );
    assert_eq!(
        entries[2].source,
        EntrySource::Glob {
            pattern: "recipes/*/Singularity".to_owned(),
            dirs: vec!["bwa".to_owned(), "samtools".to_owned()],
        }
    );
}

#[test]
fn a_folder_that_is_no_valid_name_or_an_unreadable_sibling_keeps_def_targets() {
    let dir = tree(&[
        ("a/One/Singularity", DOCKER),
        ("a/two/Singularity", DOCKER),
        ("b/x/Singularity", DOCKER),
        ("b/y/Singularity", DOCKER),
        ("b/z/Singularity", "not a definition\n"),
    ]);
    let (found, rejected) = find_definitions(dir.path());
    let entries = plan_entries(&found, &rejected, dir.path());
    assert!(
        entries
            .iter()
            .all(|e| matches!(e.source, EntrySource::Def(_))),
        "{entries:?}"
    );
}

#[test]
fn files_written_from_the_root_are_told_apart_from_files_beside_the_definition() {
    let dir = tree(&[
        (
            "envs/a/Singularity",
            "Bootstrap: docker\nFrom: alpine\n%files\n    scripts/run.sh /opt/\n",
        ),
        ("scripts/run.sh", "echo\n"),
        (
            "tool.def",
            "Bootstrap: docker\nFrom: alpine\n%files\n    tool.conf /etc/\n",
        ),
        ("tool.conf", "x\n"),
        (
            "lost.def",
            "Bootstrap: docker\nFrom: alpine\n%files\n    nowhere.txt /\n",
        ),
    ]);
    let (found, _) = find_definitions(dir.path());
    let read = |path: &str| {
        let item = found.iter().find(|f| f.path == path).expect(path);
        reads_from_root(item, dir.path())
    };
    assert_eq!(read("envs/a/Singularity"), Some(true));
    assert_eq!(read("tool.def"), Some(false));
    assert_eq!(read("lost.def"), None);
}

#[test]
fn the_library_is_the_one_from_lines_name_targets_in() {
    let dir = tree(&[
        ("base.def", DOCKER),
        (
            "app.def",
            "Bootstrap: library\nFrom: lab/tools/base:latest\n",
        ),
        (
            "other.def",
            "Bootstrap: library\nFrom: library/default/alpine:3\n",
        ),
    ]);
    let (found, rejected) = find_definitions(dir.path());
    let entries = plan_entries(&found, &rejected, dir.path());
    assert_eq!(
        infer_library(&found, &entries).as_deref(),
        Some("library://lab/tools")
    );
    let unrelated = tree(&[("app.def", "Bootstrap: library\nFrom: alpine:3\n")]);
    let (found, rejected) = find_definitions(unrelated.path());
    let entries = plan_entries(&found, &rejected, unrelated.path());
    assert_eq!(infer_library(&found, &entries), None);
}

#[test]
fn a_def_target_never_takes_a_name_a_glob_target_yields() {
    let dir = tree(&[
        ("c/bwa/Singularity", DOCKER),
        ("c/samtools/Singularity", DOCKER),
        ("defs/bwa.def", DOCKER),
    ]);
    let (found, rejected) = find_definitions(dir.path());
    let entries = plan_entries(&found, &rejected, dir.path());
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["bwa-2", "c"]);
}
