//! One CI job per target and architecture: `--arch`, and `--no-deps` building on the
//! images an earlier job published, against the emulator.

use crate::support::{Emulated, Repo, Run};

/// `(target, arch, status)` of every image a result document lists.
fn images(run: &Run) -> Vec<(String, String, String)> {
    let result = run.json();
    let mut images = Vec::new();
    for target in result["targets"].as_array().expect("targets") {
        for image in target["images"].as_array().expect("images") {
            images.push((
                target["name"].as_str().unwrap_or_default().to_owned(),
                image["arch"].as_str().unwrap_or_default().to_owned(),
                image["status"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    images
}

fn built(target: &str, arch: &str) -> (String, String, String) {
    (target.to_owned(), arch.to_owned(), "built".to_owned())
}

#[test]
fn arch_builds_only_that_architecture() {
    let repo = Repo::from_examples();
    let emulated = Emulated::start();
    let run = emulated
        .sifbake(repo.path())
        .args(["build", "--targets", "base", "--arch", "arm64"])
        .args(["--format", "json"])
        .run()
        .expect_code(0);
    assert_eq!(
        images(&run),
        vec![built("base", "arm64")],
        "{}",
        run.stderr()
    );
    assert!(
        emulated
            .image("library://acme-lab/tools/base", "main", "amd64")
            .is_none(),
        "amd64 was not asked for"
    );
}

#[test]
fn an_arch_no_target_has_is_an_error_naming_the_flag() {
    let repo = Repo::from_examples();
    let run = crate::support::Sifbake::new(repo.path())
        .args(["plan", "--arch", "amd46"])
        .run()
        .expect_code(2);
    assert!(
        run.stderr()
            .contains("`--arch` names `amd46`, which no selected target is built for"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("did you mean `amd64`?"),
        "{}",
        run.stderr()
    );
}

#[test]
fn no_deps_fails_until_the_dependency_is_built_then_pins_to_its_image() {
    let repo = Repo::from_examples();
    let emulated = Emulated::start();
    let job = |args: &[&str]| {
        emulated
            .sifbake(repo.path())
            .arg("build")
            .args(args)
            .args(["--default-branch", "main", "--format", "json"])
            .run()
    };

    // Level 1 before level 0: a clear error, nothing submitted.
    let early = job(&["--targets", "python", "--no-deps", "--arch", "amd64"]).expect_code(1);
    // miette wraps long lines; compare the words.
    let stderr = early
        .stderr()
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        stderr.contains("`--no-deps`: `python` (amd64) builds on `base` (amd64), which is not built yet: the library has no image `library://acme-lab/tools/base:inputs-"),
        "{stderr}"
    );
    assert!(stderr.contains("(plan level 0)"), "{stderr}");
    assert!(emulated.submitted_definitions().is_empty());

    // Level 0, then level 1 on its image: each job builds only its own image.
    let base = job(&["--targets", "base", "--arch", "amd64"]).expect_code(0);
    assert_eq!(images(&base), vec![built("base", "amd64")]);
    let hash = emulated
        .image("library://acme-lab/tools/base", "main", "amd64")
        .expect("base published")
        .hash;
    let python = job(&["--targets", "python", "--no-deps", "--arch", "amd64"]).expect_code(0);
    assert_eq!(
        images(&python),
        vec![built("python", "amd64")],
        "{}",
        python.stderr()
    );
    let definitions = emulated.submitted_definitions();
    assert_eq!(definitions.len(), 2, "base once, python once");
    let pinned = format!("From: acme-lab/tools/base:{hash}");
    assert!(
        definitions[1].lines().any(|line| line.trim() == pinned),
        "python's From: is pinned to base's image ({pinned}):\n{}",
        definitions[1]
    );

    // Without `--no-deps` the same selection takes its base along: found, only retagged.
    let whole = job(&["--targets", "python", "--arch", "amd64"]).expect_code(0);
    let statuses: Vec<String> = images(&whole).into_iter().map(|i| i.2).collect();
    assert_eq!(statuses, vec!["retagged", "retagged"]);
}

#[test]
fn no_deps_needs_targets() {
    let repo = Repo::from_examples();
    let run = crate::support::Sifbake::new(repo.path())
        .args(["plan", "--no-deps"])
        .run()
        .expect_code(2);
    assert!(run.stderr().contains("--targets"), "{}", run.stderr());
}

#[test]
fn the_plan_with_no_deps_lists_only_the_named_targets_with_their_reasons() {
    let repo = Repo::from_examples();
    let run = crate::support::Sifbake::new(repo.path())
        .args([
            "plan",
            "--targets",
            "analysis",
            "--no-deps",
            "--format",
            "json",
        ])
        .run()
        .expect_code(0);
    let plan = run.json();
    let names: Vec<&str> = plan["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, vec!["analysis"]);
    assert_eq!(plan["targets"][0]["level"], 2);
    assert_eq!(plan["has_changes"], true);
}

#[test]
fn github_levels_gives_a_matrix_per_level_of_the_graph() {
    let repo = Repo::from_examples();
    let run = crate::support::Sifbake::new(repo.path())
        .args(["plan", "--format", "github-levels"])
        .run()
        .expect_code(0);
    let stdout = run.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"levels=3"), "{stdout}");
    let level = |n: usize| -> Vec<(String, String)> {
        let prefix = format!("level{n}=");
        let line = lines
            .iter()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {prefix} in {stdout}"));
        let matrix: serde_json::Value = serde_json::from_str(line).expect("json");
        matrix["include"]
            .as_array()
            .expect("include")
            .iter()
            .map(|entry| {
                assert_eq!(entry["action"], "build");
                (
                    entry["target"].as_str().unwrap_or_default().to_owned(),
                    entry["arch"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let pair = |t: &str, a: &str| (t.to_owned(), a.to_owned());
    assert_eq!(
        level(0),
        vec![
            pair("base", "amd64"),
            pair("base", "arm64"),
            pair("bwa", "amd64"),
            pair("samtools", "amd64")
        ]
    );
    assert_eq!(level(1), vec![pair("python", "amd64"), pair("r", "amd64")]);
    assert_eq!(level(2), vec![pair("analysis", "amd64")]);
    assert_eq!(lines.len(), 4, "{stdout}");
}

#[test]
fn gitlab_pipeline_has_a_job_per_image_that_needs_its_bases_jobs() {
    let repo = Repo::from_examples();
    let run = crate::support::Sifbake::new(repo.path())
        .args(["plan", "--format", "gitlab-pipeline", "--arch", "amd64"])
        .run()
        .expect_code(0);
    let pipeline: serde_json::Value =
        serde_saphyr::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}:\n{}", run.stdout()));
    assert_eq!(
        pipeline["stages"],
        serde_json::json!(["sifbake-level-0", "sifbake-level-1", "sifbake-level-2"])
    );
    // Each job installs sifbake as the GitLab component does, then builds.
    let template = &pipeline[".sifbake-image"];
    assert_eq!(template["script"][0], "export SIFBAKE_COMMAND=build");
    let script = template["script"][1]
        .as_str()
        .expect("the component's script");
    let component =
        std::fs::read_to_string(crate::support::repo_root().join("templates/sifbake.yml"))
            .expect("the component");
    let indented: Vec<String> = script
        .trim_end()
        .lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("      {line}")
            }
        })
        .collect();
    assert!(
        component.contains(&indented.join("\n")),
        "the child's script is the component's"
    );
    assert!(script.contains("case \"${SIFBAKE_INSTALL:-release}\" in"));
    assert_eq!(template["variables"]["SIFBAKE_INSTALL"], "release");
    assert_eq!(
        template["variables"]["SIFBAKE_RELEASE"],
        env!("CARGO_PKG_VERSION")
    );
    let jobs: Vec<&str> = pipeline
        .as_object()
        .expect("mapping")
        .keys()
        .filter(|k| !k.starts_with('.') && *k != "stages")
        .map(String::as_str)
        .collect();
    assert_eq!(jobs.len(), 6, "no arm64 job with --arch amd64: {jobs:?}");
    let analysis = &pipeline["analysis amd64"];
    assert_eq!(analysis["stage"], "sifbake-level-2");
    assert_eq!(
        analysis["needs"],
        serde_json::json!(["python amd64", "r amd64"])
    );
    assert_eq!(analysis["variables"]["SIFBAKE_TARGETS"], "analysis");
    assert_eq!(analysis["variables"]["SIFBAKE_ARCH"], "amd64");
    assert_eq!(analysis["variables"]["SIFBAKE_NO_DEPS"], "true");
    assert_eq!(pipeline["base amd64"]["needs"], serde_json::json!([]));
}

#[test]
fn gitlab_pipeline_with_nothing_to_build_is_one_job_that_says_so() {
    let repo = Repo::from_examples();
    let head = repo.git(&["rev-parse", "HEAD"]);
    let run = crate::support::Sifbake::new(repo.path())
        .args(["plan", "--format", "gitlab-pipeline", "--since"])
        .arg(head.trim())
        .run()
        .expect_code(0);
    let pipeline: serde_json::Value = serde_saphyr::from_str(&run.stdout()).expect("yaml");
    let jobs: Vec<&String> = pipeline
        .as_object()
        .expect("mapping")
        .keys()
        .filter(|k| !k.starts_with('.') && *k != "stages")
        .collect();
    assert_eq!(jobs, vec!["sifbake nothing to build"], "{}", run.stdout());
}

#[test]
fn no_deps_in_an_ephemeral_run_says_to_build_in_one_job() {
    let repo = Repo::from_examples();
    let emulated = Emulated::start();
    let run = emulated
        .sifbake(repo.path())
        .args([
            "build",
            "--targets",
            "python",
            "--no-deps",
            "--arch",
            "amd64",
        ])
        .args(["--ref", "refs/pull/7/head"])
        .run()
        .expect_code(1);
    let stderr = run
        .stderr()
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(stderr.contains("which is not built yet"), "{stderr}");
    assert!(
        stderr.contains("this run builds ephemeral images"),
        "{stderr}"
    );
    assert!(emulated.submitted_definitions().is_empty());
}
