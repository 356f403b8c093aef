use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::{Emulated, Repo, Sifbake};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// Files a GitHub runner gives a step, and the variables that name them.
struct Runner {
    dir: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        Runner {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// GitHub Actions variables for a push of `reference` at `sha` with no previous commit
    /// (every target compared by digest), the workspace being `repo`.
    fn push(&self, repo: &Repo, reference: &str, sha: &str) -> Vec<(String, String)> {
        let event = self.path("event.json");
        std::fs::write(
            &event,
            serde_json::json!({"before": ZERO, "repository": {"default_branch": "main"}})
                .to_string(),
        )
        .expect("payload");
        [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", reference),
            ("GITHUB_SHA", sha),
            ("GITHUB_EVENT_PATH", event.to_str().expect("path")),
            ("GITHUB_WORKSPACE", repo.path().to_str().expect("path")),
            ("GITHUB_OUTPUT", self.path("output").to_str().expect("path")),
            (
                "GITHUB_STEP_SUMMARY",
                self.path("summary.md").to_str().expect("path"),
            ),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// The step outputs, read as the runner reads `$GITHUB_OUTPUT`.
    fn outputs(&self) -> BTreeMap<String, String> {
        parse_outputs(&self.read("output"))
    }
}

/// Reads `name<<DELIMITER` heredocs and `name=value` lines, as the runner does.
fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for line in lines.by_ref() {
                if line == delimiter {
                    break;
                }
                value.push(line);
            }
            outputs.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_owned(), value.to_owned());
        }
    }
    outputs
}

fn with(sifbake: Sifbake, vars: &[(String, String)]) -> Sifbake {
    sifbake.envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn is_hash_ref(reference: &str) -> bool {
    let Some((container, hash)) = reference.rsplit_once(":sha256.") else {
        return false;
    };
    container.starts_with("library://acme-lab/")
        && hash.len() == 64
        && hash.chars().all(|c| c.is_ascii_hexdigit())
}

#[test]
fn a_github_build_writes_outputs_summary_junit_and_dotenv() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    let runner = Runner::new();
    let vars = runner.push(&repo, "refs/heads/main", &sha);
    let run = with(emulated.sifbake(repo.path()), &vars)
        .args(["build", "--junit", "reports/junit.xml"])
        .env("SIFBAKE_DOTENV", runner.path("build.env"))
        .run()
        .expect_code(0);
    let stderr = run.stderr();

    // The token is masked before anything could print it, and only then used.
    let mask = stderr
        .find(&format!("::add-mask::{}", crate::support::TOKEN))
        .unwrap_or_else(|| panic!("no mask: {stderr}"));
    let using = stderr
        .find("sifbake: using the")
        .expect("token source line");
    assert!(mask < using, "{stderr}");
    assert!(!stderr.contains("::error"), "{stderr}");

    let outputs = runner.outputs();
    assert_eq!(
        outputs.keys().collect::<Vec<_>>(),
        [
            "built-refs",
            "has-changes",
            "labels",
            "matrix",
            "plan",
            "result",
            "tag-names",
            "tags",
            "tags-json",
            "version"
        ]
    );
    assert_eq!(outputs["has-changes"], "true");
    let plan: Value = serde_json::from_str(&outputs["plan"]).expect("plan JSON");
    assert_eq!(plan["schema"], "sifbake/plan/v1");
    let matrix: Value = serde_json::from_str(&outputs["matrix"]).expect("matrix JSON");
    assert_eq!(matrix["include"].as_array().expect("include").len(), 7);
    let result: Value = serde_json::from_str(&outputs["result"]).expect("result JSON");
    assert_eq!(result["counts"]["built"], 7);
    let refs: Vec<&str> = outputs["built-refs"].lines().collect();
    assert_eq!(refs.len(), 7, "{refs:?}");
    assert!(refs.iter().all(|r| is_hash_ref(r)), "{refs:?}");
    let python_hash = result["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["name"] == "python")
        .and_then(|t| t["images"][0]["image"]["hash"].as_str())
        .expect("python hash")
        .to_owned();
    assert!(
        refs.contains(&format!("library://acme-lab/tools/python:{python_hash}").as_str()),
        "{refs:?}"
    );

    let summary = runner.read("summary.md");
    assert!(
        summary.starts_with("### sifbake build: branch `main` at `"),
        "{summary}"
    );
    assert!(summary.contains("7 built, 0 retagged in "), "{summary}");
    assert!(
        summary.contains("| Target | Arch | Status | Duration | Ref | Tags | Size | Pull |"),
        "{summary}"
    );
    assert_eq!(summary.matches("| ✅ built |").count(), 7, "{summary}");
    assert!(
        summary.contains("`singularity pull --arch arm64 library://acme-lab/tools/base:main`"),
        "{summary}"
    );

    let junit = std::fs::read_to_string(repo.path().join("reports/junit.xml")).expect("junit");
    assert_eq!(junit.matches("<testcase ").count(), 7, "{junit}");
    assert!(
        junit.contains(r#"<testcase name="base (arm64)" classname="base""#),
        "{junit}"
    );
    assert!(!junit.contains("<failure"), "{junit}");

    let dotenv = runner.read("build.env");
    let variables: BTreeMap<&str, &str> = dotenv
        .lines()
        .map(|l| l.split_once('=').expect("NAME=value"))
        .collect();
    assert_eq!(variables["SIFBAKE_HAS_CHANGES"], "true");
    assert_eq!(variables["SIFBAKE_EXIT_CODE"], "0");
    assert_eq!(variables["SIFBAKE_PUBLISH"], "push");
    assert_eq!(
        variables["SIFBAKE_BUILT_REFS"]
            .split(' ')
            .collect::<Vec<_>>(),
        refs
    );
}

#[test]
fn failed_builds_are_annotated_on_their_definition_file_and_reported_with_their_log() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let base = std::fs::read_to_string(repo.path().join("defs/base.def")).expect("base.def");
    let sha = repo.commit_files(
        "break the base",
        &[(
            "defs/base.def",
            &base.replace(
                "# emulator: duration=2s",
                "# emulator: fail=\"compiler exploded\"",
            ),
        )],
    );
    let runner = Runner::new();
    let vars = runner.push(&repo, "refs/heads/main", &sha);
    let run = with(emulated.sifbake(repo.path()), &vars)
        .args(["build", "--junit"])
        .arg(runner.path("junit.xml"))
        .run()
        .expect_code(1);
    let stderr = run.stderr();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    for (line, arch) in errors.iter().zip(["amd64", "arm64"]) {
        assert!(
            line.starts_with(&format!(
                "::error file=defs/base.def,title=sifbake%3A base ({arch}) failed::build "
            )),
            "{line}"
        );
        assert!(
            line.ends_with("produced no image: FATAL: While performing build: compiler exploded"),
            "the builder's reason, from the log: {line}"
        );
    }

    let junit = runner.read("junit.xml");
    assert_eq!(junit.matches("<failure ").count(), 2, "{junit}");
    assert!(junit.contains("compiler exploded"), "the log tail: {junit}");
    assert_eq!(junit.matches("<skipped ").count(), 3, "{junit}");

    let summary = runner.read("summary.md");
    assert!(summary.contains("| ❌ failed |"), "{summary}");
    assert!(summary.contains("#### Why"), "{summary}");
    assert!(
        summary.contains("- **python** (amd64) skipped: it builds on \\`base\\` (amd64), which did not succeed: build "),
        "{summary}"
    );
    let result: Value = serde_json::from_str(&runner.outputs()["result"]).expect("result JSON");
    assert_eq!(result["exit_code"], 1);
}

/// A manifest (in `ci/`) whose twelve targets name definition files that do not exist.
fn twelve_missing_definitions(repo: &Path) {
    let mut manifest =
        String::from("version: 1\ndefaults:\n  library: library://acme/x\ntargets:\n");
    for index in 0..12 {
        manifest.push_str(&format!("  t{index:02}:\n    def: missing{index:02}.def\n"));
    }
    std::fs::create_dir_all(repo.join("ci")).expect("mkdir");
    std::fs::write(repo.join("ci/sifbake.yaml"), manifest).expect("manifest");
}

#[test]
fn manifest_errors_become_annotations_and_the_rest_go_to_the_summary() {
    let repo = Repo::empty();
    twelve_missing_definitions(repo.path());
    repo.commit("bad manifest");
    let sha = repo.git(&["rev-parse", "HEAD"]);
    let runner = Runner::new();
    let vars = runner.push(&repo, "refs/heads/main", &sha);
    let run = with(Sifbake::new(repo.path()), &vars)
        .args(["plan", "-f", "ci/sifbake.yaml", "--dotenv"])
        .arg(runner.path("plan.env"))
        .run()
        .expect_code(2);
    let stderr = run.stderr();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 10, "the runner's limit: {stderr}");
    assert_eq!(
        errors[0],
        "::error file=ci/sifbake.yaml,line=6,col=10,endColumn=23,title=sifbake%3A manifest%3A%3Adef-not-found::cannot read definition file `ci/missing00.def`: No such file or directory (os error 2)%0Ahint: paths in the manifest are relative to the manifest's directory"
    );
    let summary = runner.read("summary.md");
    assert!(
        summary.starts_with("### sifbake plan stopped: 12 errors"),
        "{summary}"
    );
    assert_eq!(
        summary.matches("- error: ci/sifbake.yaml:").count(),
        12,
        "all twelve, the two the runner does not show among them: {summary}"
    );
    assert!(
        summary.contains(
            "- error: ci/sifbake.yaml:28:10: cannot read definition file \\`ci/missing11.def\\`"
        ),
        "{summary}"
    );
    assert!(!summary.contains("More problems"), "{summary}");
    assert_eq!(
        runner.outputs().len(),
        0,
        "no outputs from an invalid manifest"
    );
    assert_eq!(runner.read("plan.env"), "");
}

#[test]
fn a_definition_file_problem_is_annotated_on_its_line_from_a_subdirectory() {
    let repo = Repo::empty();
    std::fs::create_dir_all(repo.path().join("ci/defs")).expect("mkdir");
    std::fs::write(
        repo.path().join("ci/sifbake.yaml"),
        "version: 1\ndefaults:\n  library: library://acme/x\ntargets:\n  app:\n    def: defs/app.def\n",
    )
    .expect("manifest");
    std::fs::write(
        repo.path().join("ci/defs/app.def"),
        "# from the local daemon\nBootstrap: docker-daemon\nFrom: alpine:3.20\n",
    )
    .expect("def");
    repo.commit("local bootstrap");
    let sha = repo.git(&["rev-parse", "HEAD"]);
    let runner = Runner::new();
    let vars = runner.push(&repo, "refs/heads/main", &sha);
    // Started in ci/, as `working-directory: ci` would: paths stay relative to the workspace.
    let run = with(Sifbake::new(&repo.path().join("ci")), &vars)
        .args(["build", "--emulate", "--junit"])
        .arg(runner.path("junit.xml"))
        .run()
        .expect_code(2);
    let errors: Vec<String> = run
        .stderr()
        .lines()
        .filter(|l| l.starts_with("::error "))
        .map(str::to_owned)
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr());
    assert!(
        errors[0].starts_with(
            "::error file=ci/defs/app.def,line=2,col=1,endColumn=25,title=sifbake%3A lint%3A%3Alocal-bootstrap::`Bootstrap: docker-daemon` cannot be built remotely"
        ),
        "{}",
        errors[0]
    );
    let junit = runner.read("junit.xml");
    assert!(
        junit.contains(
            r#"<failure message="sifbake stopped before it built anything: 1 error" type="lint::local-bootstrap">"#
        ),
        "{junit}"
    );
    assert!(junit.contains("defs/app.def:2:1"), "{junit}");
}

#[test]
fn more_than_ten_failed_images_are_annotated_ten_times_and_all_listed_in_the_summary() {
    let emulated = Emulated::start();
    let repo = Repo::empty();
    let mut manifest =
        String::from("version: 1\ndefaults:\n  library: library://acme/broken\ntargets:\n");
    for index in 0..12 {
        manifest.push_str(&format!("  t{index:02}:\n    def: t{index:02}.def\n"));
        std::fs::write(
            repo.path().join(format!("t{index:02}.def")),
            format!(
                "# emulator: fail=\"out of disk {index}\"\nBootstrap: docker\nFrom: alpine:3.20\n"
            ),
        )
        .expect("def");
    }
    std::fs::write(repo.path().join("sifbake.yaml"), manifest).expect("manifest");
    let sha = repo.commit("twelve broken images");
    let runner = Runner::new();
    let vars = runner.push(&repo, "refs/heads/main", &sha);
    let run = with(emulated.sifbake(repo.path()), &vars)
        .args(["build"])
        .run()
        .expect_code(1);
    let stderr = run.stderr();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 10, "{stderr}");
    assert!(
        errors[0].starts_with("::error file=t00.def,title=sifbake%3A t00 (amd64) failed::"),
        "{}",
        errors[0]
    );
    let summary = runner.read("summary.md");
    assert_eq!(summary.matches("| ❌ failed |").count(), 12, "{summary}");
    let more = summary
        .split("#### More problems (GitHub shows 10 annotations of each kind per step)")
        .nth(1)
        .unwrap_or_else(|| panic!("no overflow section: {summary}"));
    let listed: Vec<&str> = more.lines().filter(|l| l.starts_with("- ")).collect();
    assert_eq!(listed.len(), 2, "{more}");
    assert!(
        listed[0].starts_with("- t10.def: sifbake: t10 (amd64) failed: build "),
        "{}",
        listed[0]
    );
}

#[test]
fn an_output_too_large_for_github_is_left_out_with_a_warning() {
    let repo = Repo::empty();
    std::fs::write(
        repo.path().join("sifbake.yaml"),
        "version: 1\ndefaults:\n  library: library://acme/many\ntargets:\n  each:\n    glob: \"c/*/Singularity.def\"\n",
    )
    .expect("manifest");
    for index in 0..2500 {
        let dir = repo.path().join(format!("c/tool-{index:04}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("Singularity.def"),
            "Bootstrap: docker\nFrom: alpine:3.20\n",
        )
        .expect("def");
    }
    let sha = repo.commit("2,500 images");
    let runner = Runner::new();
    let vars = runner.push(&repo, "refs/heads/main", &sha);
    let run = with(Sifbake::new(repo.path()), &vars)
        .args(["plan", "--format", "json"])
        .run()
        .expect_code(0);
    assert!(
        run.stdout().len() > 1024 * 1024,
        "the test needs a big plan"
    );
    let stderr = run.stderr();
    assert!(
        stderr.contains("::warning title=sifbake::the step output `plan` would hold "),
        "{stderr}"
    );
    let outputs = runner.outputs();
    assert!(!outputs.contains_key("plan"), "{:?}", outputs.keys());
    assert_eq!(outputs["has-changes"], "true");
    let summary = runner.read("summary.md");
    assert!(summary.len() <= 1024 * 1024);
    assert!(
        summary.contains("| tool-0000 | amd64 |"),
        "the table starts"
    );
}

#[test]
fn report_files_are_relative_to_the_working_directory_not_to_dash_c() {
    let repo = Repo::empty();
    std::fs::create_dir_all(repo.path().join("images")).expect("mkdir");
    std::fs::write(
        repo.path().join("images/sifbake.yaml"),
        "version: 1\ndefaults:\n  library: library://acme/x\ntargets:\n  app:\n    def: app.def\n",
    )
    .expect("manifest");
    std::fs::write(
        repo.path().join("images/app.def"),
        "Bootstrap: docker\nFrom: alpine:3.20\n",
    )
    .expect("def");
    repo.commit("one image");
    Sifbake::new(repo.path())
        .args(["-C", "images", "plan", "--dotenv", "reports/plan.env"])
        .run()
        .expect_code(0);
    let written = std::fs::read_to_string(repo.path().join("reports/plan.env"))
        .expect("in the working directory, where CI collects artifacts");
    assert!(
        written.starts_with("SIFBAKE_HAS_CHANGES=true\nSIFBAKE_VERSION=main\n")
            && written.contains("\nSIFBAKE_CHANGED_TARGETS=app\n"),
        "{written}"
    );
    assert!(!repo.path().join("images/reports").exists());
}

#[test]
fn plan_writes_its_outputs_and_summary_and_the_summary_can_be_turned_off() {
    let repo = Repo::from_examples();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    let runner = Runner::new();
    let vars = runner.push(&repo, "refs/heads/main", &sha);
    let run = with(Sifbake::new(repo.path()), &vars)
        .args(["plan", "--format", "json"])
        .run()
        .expect_code(0);
    let outputs = runner.outputs();
    assert_eq!(outputs["has-changes"], "true");
    let document: Value = serde_json::from_str(&run.stdout()).expect("stdout");
    let output: Value = serde_json::from_str(&outputs["plan"]).expect("plan output");
    assert_eq!(document, output, "the output is the document");
    assert!(!outputs.contains_key("result"));
    let summary = runner.read("summary.md");
    assert!(
        summary.starts_with("### sifbake plan: branch `main`"),
        "{summary}"
    );
    assert!(
        summary.contains("6 to build, 0 to retag, 0 unchanged"),
        "{summary}"
    );
    assert_eq!(summary.matches("| 🔨 build |").count(), 7, "{summary}");

    let quiet = Runner::new();
    let vars = quiet.push(&repo, "refs/heads/main", &sha);
    with(Sifbake::new(repo.path()), &vars)
        .env("SIFBAKE_SUMMARY", "false")
        .args(["plan"])
        .run()
        .expect_code(0);
    assert_eq!(quiet.read("summary.md"), "");
    assert_eq!(quiet.outputs()["has-changes"], "true");
}

#[test]
fn outside_github_actions_there_are_no_annotations_and_no_masks() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--targets", "bwa"])
        .run()
        .expect_code(0);
    assert!(!run.stderr().contains("::"), "{}", run.stderr());
    assert!(!run.stdout().contains("::"), "{}", run.stdout());
}

#[test]
fn gitlab_gets_junit_and_a_dotenv_report_for_downstream_jobs() {
    let emulated = Emulated::start();
    let repo = Repo::from_examples();
    let sha = repo.git(&["rev-parse", "HEAD"]);
    let reports = tempfile::tempdir().expect("tempdir");
    let run = emulated
        .sifbake(repo.path())
        .envs([
            ("GITLAB_CI", "true"),
            ("CI_PIPELINE_SOURCE", "push"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_REF_NAME", "main"),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_COMMIT_SHA", sha.as_str()),
            ("CI_COMMIT_BEFORE_SHA", ZERO),
        ])
        .env("SIFBAKE_JUNIT", reports.path().join("junit.xml"))
        .env("SIFBAKE_DOTENV", reports.path().join("sifbake.env"))
        .args(["build", "--targets", "python"])
        .run()
        .expect_code(0);
    let stderr = run.stderr();
    assert!(
        stderr.contains("section_start:") && stderr.contains("[collapsed=true]"),
        "collapsible sections: {stderr}"
    );
    assert!(!stderr.contains("::add-mask::"), "{stderr}");
    let junit = std::fs::read_to_string(reports.path().join("junit.xml")).expect("junit");
    assert!(
        junit.contains(r#"<testsuite name="sifbake build" tests="3""#),
        "base (2 archs) and python: {junit}"
    );
    let dotenv = std::fs::read_to_string(reports.path().join("sifbake.env")).expect("dotenv");
    assert!(dotenv.len() <= 5120);
    let refs = dotenv
        .lines()
        .find_map(|l| l.strip_prefix("SIFBAKE_BUILT_REFS="))
        .expect("refs");
    assert_eq!(refs.split(' ').count(), 3, "{dotenv}");
    assert!(refs.split(' ').all(is_hash_ref), "{dotenv}");
    assert!(
        dotenv.contains("SIFBAKE_CHANGED_TARGETS=base python\n"),
        "{dotenv}"
    );
}
