//! Paths that leave the repository: `%files` sources, `inputs`, `context:`, `def:` and glob
//! targets that escape it (`..`, absolute paths, symbolic links to files or directories
//! outside, globs through such links) are refused before sifbake contacts the service, so
//! nothing is uploaded; and a build context holds only files inside the repository.

use std::path::Path;

use crate::support::{Emulated, Repo};

/// A repository and, beside it, a directory it must never read from.
struct Layout {
    repo: Repo,
    outside: tempfile::TempDir,
}

impl Layout {
    fn new(manifest: &str, files: &[(&str, &str)]) -> Layout {
        let outside = tempfile::tempdir().expect("outside");
        std::fs::write(outside.path().join("secret.txt"), "secret\n").expect("secret");
        std::fs::write(
            outside.path().join("evil.def"),
            "Bootstrap: docker\nFrom: alpine:3.20\n",
        )
        .expect("evil.def");
        let repo = Repo::empty();
        let mut all = vec![("sifbake.yaml", manifest)];
        all.extend_from_slice(files);
        for (path, text) in all {
            let full = repo.path().join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, text).expect("write");
        }
        Layout { repo, outside }
    }

    /// Links `link` (repository-relative) to `target` (relative to the outside directory).
    fn link_out(self, link: &str, target: &str) -> Layout {
        let full = self.repo.path().join(link);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(self.outside.path().join(target), full).expect("symlink");
        self
    }
}

const ONE_TARGET: &str = "version: 1\ndefaults:\n  library: library://acme/paths\ntargets:\n  app:\n    def: defs/app.def\n";

fn def_with_files(source: &str) -> String {
    format!("Bootstrap: docker\nFrom: alpine:3.20\n\n%files\n    {source} /opt/x\n")
}

/// Each escape: its layout, and what stderr must say (with the location).
fn escapes() -> Vec<(&'static str, Layout, Vec<&'static str>)> {
    let plain = "Bootstrap: docker\nFrom: alpine:3.20\n";
    vec![
        (
            "%files ..",
            Layout::new(ONE_TARGET, &[("defs/app.def", &def_with_files("../../x.txt"))]),
            vec!["defs/app.def:5:1", "leaves the repository"],
        ),
        (
            "%files absolute",
            Layout::new(ONE_TARGET, &[("defs/app.def", &def_with_files("/etc/hostname"))]),
            vec!["defs/app.def:5:1", "is an absolute path"],
        ),
        (
            "%files link to a file outside",
            Layout::new(ONE_TARGET, &[("defs/app.def", &def_with_files("link.txt"))])
                .link_out("defs/link.txt", "secret.txt"),
            vec!["defs/app.def:5:1", "outside the repository"],
        ),
        (
            "%files glob through a link to a directory outside",
            Layout::new(ONE_TARGET, &[("defs/app.def", &def_with_files("linkdir/*"))])
                .link_out("defs/linkdir", ""),
            vec!["defs/app.def:5:1", "outside the repository"],
        ),
        (
            "%files directory holding a link out",
            Layout::new(
                ONE_TARGET,
                &[
                    ("defs/app.def", &def_with_files("data")),
                    ("defs/data/ok.txt", "ok\n"),
                ],
            )
            .link_out("defs/data/sneaky.txt", "secret.txt"),
            vec!["defs/app.def:5:1", "outside the repository"],
        ),
        (
            "%files ** reaching a link out",
            Layout::new(
                ONE_TARGET,
                &[
                    ("defs/app.def", &def_with_files("data/**/*.txt")),
                    ("defs/data/a/ok.txt", "ok\n"),
                ],
            )
            .link_out("defs/data/a/b", ""),
            vec!["defs/app.def:5:1", "outside the repository"],
        ),
        (
            "context: ..",
            Layout::new(
                &format!("{ONE_TARGET}    context: ../..\n"),
                &[("defs/app.def", plain)],
            ),
            vec!["sifbake.yaml:7:14", "leaves the repository"],
        ),
        (
            "context: a link out",
            Layout::new(
                &format!("{ONE_TARGET}    context: ctx\n"),
                &[("defs/app.def", &def_with_files("secret.txt"))],
            )
            .link_out("ctx", ""),
            vec!["defs/app.def:5:1", "outside the repository"],
        ),
        (
            "inputs ..",
            Layout::new(
                &format!("{ONE_TARGET}    inputs: [\"../*.txt\"]\n"),
                &[("defs/app.def", plain)],
            ),
            vec!["sifbake.yaml:7:14", "leaves the repository"],
        ),
        (
            "inputs absolute",
            Layout::new(
                &format!("{ONE_TARGET}    inputs: [\"/etc/*\"]\n"),
                &[("defs/app.def", plain)],
            ),
            vec!["sifbake.yaml:7:14", "is an absolute path"],
        ),
        (
            "inputs through a link to a directory outside",
            Layout::new(
                &format!("{ONE_TARGET}    inputs: [\"linkdir/**\"]\n"),
                &[("defs/app.def", plain)],
            )
            .link_out("linkdir", ""),
            vec!["sifbake.yaml:7:14", "outside the repository"],
        ),
        (
            "inputs matching a link out",
            Layout::new(
                &format!("{ONE_TARGET}    inputs: [\"req/*.txt\"]\n"),
                &[("defs/app.def", plain), ("req/ok.txt", "ok\n")],
            )
            .link_out("req/secret.txt", "secret.txt"),
            vec!["sifbake.yaml:7:14", "outside the repository"],
        ),
        (
            "def: a link out",
            Layout::new(ONE_TARGET, &[]).link_out("defs/app.def", "evil.def"),
            vec!["sifbake.yaml:6:10", "outside the repository"],
        ),
        (
            "def: ..",
            Layout::new(
                "version: 1\ndefaults:\n  library: library://acme/paths\ntargets:\n  app:\n    def: ../evil.def\n",
                &[],
            ),
            vec!["sifbake.yaml:6:10", "leaves the repository"],
        ),
        (
            "glob target through a link out",
            Layout::new(
                "version: 1\ndefaults:\n  library: library://acme/paths\ntargets:\n  each:\n    glob: \"linkdir/*.def\"\n",
                &[],
            )
            .link_out("linkdir", ""),
            vec!["sifbake.yaml:6:11", "outside the repository"],
        ),
    ]
}

#[test]
fn escapes_are_refused_before_anything_is_uploaded() {
    let emulated = Emulated::start();
    let mut failures = Vec::new();
    for (name, layout, expected) in escapes() {
        layout.repo.commit(name);
        let run = emulated
            .sifbake(layout.repo.path())
            .args(["build", "--all"])
            .run();
        let stderr = run.stderr();
        let mut problems = Vec::new();
        if run.code() != 2 {
            problems.push(format!("exit {}", run.code()));
        }
        for wanted in &expected {
            if !stderr.contains(wanted) {
                problems.push(format!("stderr lacks `{wanted}`"));
            }
        }
        if stderr.contains("secret\n") || run.stdout().contains("secret\n") {
            problems.push("the outside file's content was printed".to_owned());
        }
        // `validate` says the same, without a network.
        let validate = crate::support::Sifbake::new(layout.repo.path())
            .arg("validate")
            .run();
        if validate.code() != 2 || !expected.iter().all(|w| validate.stderr().contains(w)) {
            problems.push(format!(
                "validate: exit {}\n{}",
                validate.code(),
                validate.stderr()
            ));
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}\n{stderr}", problems.join("; ")));
        }
    }
    let counters = emulated.counters();
    assert!(
        counters.requests.is_empty(),
        "the service was contacted: {:?}",
        counters.requests
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Layouts whose paths stay inside: links within the repository, `..` that comes back,
/// directories and globs.
fn inside_layout() -> Layout {
    let manifest = "version: 1\ndefaults:\n  library: library://acme/paths\ntargets:\n  app:\n    def: defs/app.def\n    inputs: [\"req/**\"]\n";
    let def = "Bootstrap: docker\nFrom: alpine:3.20\n\n%files\n    data /opt/data\n    ../shared/*.txt /opt/shared/\n    link.txt /opt/link.txt\n    linkdir/*.cfg /opt/cfg/\n";
    let layout = Layout::new(
        manifest,
        &[
            ("defs/app.def", def),
            ("defs/data/a.txt", "a\n"),
            ("defs/data/sub/b.txt", "b\n"),
            ("shared/one.txt", "one\n"),
            ("shared/two.txt", "two\n"),
            ("conf/x.cfg", "x\n"),
            ("req/r.txt", "r\n"),
        ],
    );
    let root = layout.repo.path();
    std::os::unix::fs::symlink(root.join("shared/one.txt"), root.join("defs/link.txt"))
        .expect("symlink");
    std::os::unix::fs::symlink("../conf", root.join("defs/linkdir")).expect("symlink");
    std::os::unix::fs::symlink("../../shared", root.join("defs/data/loop")).expect("symlink");
    layout
}

#[test]
fn a_build_context_holds_only_files_inside_the_repository() {
    let layout = inside_layout();
    let root = layout.repo.path().canonicalize().expect("root");
    let project = sifbake::project::load(&sifbake::manifest::LoadRequest {
        manifest: root.join("sifbake.yaml"),
        root: Some(root.clone()),
        display_base: root.clone(),
    })
    .unwrap_or_else(|diagnostics| panic!("{diagnostics:?}"));
    let target = &project.manifest.targets[0];
    let scratch = tempfile::tempdir().expect("scratch");
    let archive =
        sifbake::scs::pack_context(&root, &target.context_files, scratch.path()).expect("pack");
    let entries = archive_files(&archive.path);
    let prefix = root.strip_prefix("/").expect("absolute");
    let expected: Vec<String> = [
        "defs/data/a.txt",
        "defs/data/loop/one.txt",
        "defs/data/loop/two.txt",
        "defs/data/sub/b.txt",
        "defs/link.txt",
        "defs/linkdir/x.cfg",
        "shared/one.txt",
        "shared/two.txt",
    ]
    .iter()
    .map(|file| prefix.join(file).display().to_string())
    .collect();
    assert_eq!(entries, expected, "{:?}", target.context_files);
    for entry in &entries {
        assert!(Path::new(entry).starts_with(prefix), "{entry}");
    }

    // The same repository builds against the emulator, which checks every `%files` source
    // against the context it received.
    layout.repo.commit("inside");
    let emulated = Emulated::start();
    emulated
        .sifbake(layout.repo.path())
        .args(["build", "--all"])
        .run()
        .expect_code(0);
    assert_eq!(emulated.counters().contexts_uploaded, 1);
}

/// The regular files in a `.tar.gz`, sorted.
fn archive_files(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).expect("archive");
    let mut decoder = flate2::read::GzDecoder::new(bytes.as_slice());
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut decoder, &mut tar).expect("gunzip");
    let mut files = Vec::new();
    let mut offset = 0;
    // ustar: 512-byte headers; name at 0..100, prefix at 345..500, size (octal) at 124..136,
    // type at 156.
    while offset + 512 <= tar.len() && tar[offset] != 0 {
        let header = &tar[offset..offset + 512];
        let field = |range: std::ops::Range<usize>| {
            String::from_utf8_lossy(&header[range])
                .trim_end_matches('\0')
                .to_owned()
        };
        let name = field(0..100);
        let prefix = field(345..500);
        let size = u64::from_str_radix(field(124..136).trim(), 8).expect("size");
        let full = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if header[156] == b'0' || header[156] == 0 {
            files.push(full);
        }
        let blocks = usize::try_from(size.div_ceil(512)).expect("size");
        offset += 512 * (1 + blocks);
    }
    files.sort();
    files
}
