//! P1 planning: `sifbake plan` in git mode against `git diff --name-only` over the same
//! range; hashing throughput over about 1 GiB of `%files` inputs; growth with the number of
//! targets.

use std::path::Path;
use std::time::Duration;

use crate::figures::{Figure, Figures, Goal};
use crate::generate::{self, History, Spec};
use crate::measure::{Invocation, median, timed};

/// Commits after the first; the range planned is all of them.
const COMMITS: usize = 10;

pub fn run(work: &Path, quick: bool, figures: &mut Figures) -> Result<(), String> {
    let repetitions = if quick { 3 } else { 15 };
    let large = if quick { 200 } else { 1_000 };
    let repo = work.join(format!("targets-{large}"));
    let spec = planning_spec(large);
    eprintln!("P1: generating {large} targets, {} files…", large * 20);
    generate::repository(&repo, &spec)?;

    let GitMode {
        plan,
        diff,
        validate,
        building,
    } = git_mode(&repo, repetitions)?;
    figures.record(Figure {
        part: "P1",
        name: format!("plan (git mode), {large} targets, {} files", large * 20),
        value: millis(plan),
        unit: "ms",
        goal: None,
        detail: format!(
            "median of {repetitions}; a GitHub push of {COMMITS} commits; {building} targets to build"
        ),
    });
    figures.record(Figure {
        part: "P1",
        name: "  of which reading the project (sifbake validate)".to_owned(),
        value: millis(validate),
        unit: "ms",
        goal: None,
        detail: "manifest, every definition, listing every %files directory; no git".to_owned(),
    });
    figures.record(Figure {
        part: "P1",
        name: "git diff --name-only, same range".to_owned(),
        value: millis(diff),
        unit: "ms",
        goal: None,
        detail: String::new(),
    });
    figures.record(Figure {
        part: "P1",
        name: "plan (git mode) / git diff".to_owned(),
        value: plan.as_secs_f64() / diff.as_secs_f64(),
        unit: "×",
        goal: Some(Goal::AtMost(2.0)),
        detail: String::new(),
    });

    digest_mode(work, quick, figures)?;
    scaling(work, quick, &repo, plan, figures)
}

/// 20 files a target: the definition and 19 data files of 1 KiB; ten bases, the rest
/// built on them.
fn planning_spec(targets: usize) -> Spec {
    let bases = (targets / 100).clamp(1, 10);
    Spec {
        collection: "tools",
        levels: if targets > bases {
            vec![bases, targets - bases]
        } else {
            vec![targets]
        },
        files_per_target: 19,
        file_bytes: 1024,
        directive: None,
        git: Some(History {
            commits: COMMITS,
            touch: 3,
        }),
    }
}

/// Medians of the git-mode plan and of what it is compared with.
struct GitMode {
    plan: Duration,
    diff: Duration,
    validate: Duration,
    building: usize,
}

/// The git-mode plan, `git diff` and `sifbake validate`, interleaved so noise hits all
/// alike.
fn git_mode(repo: &Path, repetitions: usize) -> Result<GitMode, String> {
    let head = generate::git(repo, &["rev-parse", "HEAD"])?;
    let base = generate::git(repo, &["rev-parse", &format!("HEAD~{COMMITS}")])?;
    let plan = plan_command(repo, &base, &head)?;
    let diff = Invocation::new("git", repo).args(["diff", "--name-only", &base, &head]);
    let validate = Invocation::new(crate::sifbake(), repo).args(["validate"]);
    // Warm the page cache and git's index for both.
    let (_, stdout) = timed(&plan)?;
    timed(&diff)?;
    let document: serde_json::Value =
        serde_json::from_slice(&stdout).map_err(|e| format!("plan JSON: {e}"))?;
    if document["changes"]["mode"] != "diff" {
        return Err(format!(
            "the plan did not compare with git: {}",
            document["changes"]
        ));
    }
    let building = document["targets"].as_array().map_or(0, |targets| {
        targets.iter().filter(|t| t["action"] == "build").count()
    });
    if building == 0 {
        return Err("the plan builds nothing: the generated history changed no input".into());
    }
    let mut plans = Vec::new();
    let mut diffs = Vec::new();
    let mut validates = Vec::new();
    for _ in 0..repetitions {
        plans.push(timed(&plan)?.0);
        diffs.push(timed(&diff)?.0);
        validates.push(timed(&validate)?.0);
    }
    Ok(GitMode {
        plan: median(plans),
        diff: median(diffs),
        validate: median(validates),
        building,
    })
}

/// `sifbake plan` as a GitHub Actions push of `base..head` runs it: the base is the push
/// event's `before`.
fn plan_command(repo: &Path, base: &str, head: &str) -> Result<Invocation, String> {
    let event = repo.with_extension("event.json");
    let payload = serde_json::json!({
        "ref": "refs/heads/main",
        "before": base,
        "after": head,
        "repository": {"default_branch": "main"},
    });
    std::fs::write(&event, payload.to_string()).map_err(|e| e.to_string())?;
    Ok(Invocation::new(crate::sifbake(), repo)
        .args(["plan", "--format", "json"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_SHA", head)
        .env("GITHUB_EVENT_PATH", &event.display().to_string()))
}

/// Every input hashed (`--all`): bytes of `%files` data over the plan's wall time.
fn digest_mode(work: &Path, quick: bool, figures: &mut Figures) -> Result<(), String> {
    let repo = work.join("digest");
    let spec = Spec {
        collection: "data",
        levels: vec![if quick { 16 } else { 64 }],
        files_per_target: 16,
        file_bytes: 1 << 20,
        directive: None,
        git: Some(History {
            commits: 0,
            touch: 0,
        }),
    };
    eprintln!(
        "P1: generating {} MiB of %files inputs…",
        spec.data_bytes() >> 20
    );
    generate::repository(&repo, &spec)?;
    let head = generate::git(&repo, &["rev-parse", "HEAD"])?;
    let plan = Invocation::new(crate::sifbake(), &repo).args([
        "plan",
        "--format",
        "json",
        "--all",
        "--ref",
        "refs/heads/main",
        "--sha",
        &head,
        "--default-branch",
        "main",
    ]);
    // Once to bring the files into the page cache: this measures hashing, not the disk.
    timed(&plan)?;
    let runs = (0..if quick { 2 } else { 5 })
        .map(|_| timed(&plan).map(|(wall, _)| wall))
        .collect::<Result<Vec<_>, _>>()?;
    let wall = median(runs);
    figures.record(Figure {
        part: "P1",
        name: format!(
            "input digests, {} MiB in {} files (--all)",
            spec.data_bytes() >> 20,
            spec.targets() * spec.files_per_target
        ),
        value: spec.data_bytes() as f64 / wall.as_secs_f64() / 1e9,
        unit: "GB/s",
        goal: Some(Goal::AtLeast(1.0)),
        detail: format!(
            "whole plan {:.0} ms, warm page cache, half text (CRLF-normalised) half binary",
            millis(wall)
        ),
    });
    // The data is large; it has served its purpose.
    let _ = std::fs::remove_dir_all(&repo);
    Ok(())
}

/// Plan time for a small, the large and a very large manifest.
fn scaling(
    work: &Path,
    quick: bool,
    large_repo: &Path,
    large_plan: Duration,
    figures: &mut Figures,
) -> Result<(), String> {
    let sizes: [usize; 3] = if quick {
        [10, 200, 1_000]
    } else {
        [10, 1_000, 5_000]
    };
    let repetitions = if quick { 3 } else { 5 };
    let mut times = Vec::new();
    for &size in &sizes {
        let wall = if size == sizes[1] {
            debug_assert!(large_repo.ends_with(format!("targets-{size}")));
            large_plan
        } else {
            let repo = work.join(format!("targets-{size}"));
            eprintln!("P1: generating {size} targets, {} files…", size * 20);
            generate::repository(&repo, &planning_spec(size))?;
            git_mode(&repo, repetitions)?.plan
        };
        times.push(wall);
        figures.record(Figure {
            part: "P1",
            name: format!("plan (git mode), {size} targets"),
            value: wall.as_secs_f64() * 1e6 / size as f64,
            unit: "µs/target",
            goal: None,
            detail: format!("{:.0} ms in all", millis(wall)),
        });
    }
    let factor = sizes[2] / sizes[1];
    figures.record(Figure {
        part: "P1",
        name: format!("plan time growth, {factor}× the targets"),
        value: times[2].as_secs_f64() / times[1].as_secs_f64(),
        unit: "×",
        // Linear growth, with room for noise: a quadratic step would show as 25×.
        goal: Some(Goal::AtMost(factor as f64 * 1.25)),
        detail: format!("{} → {} targets", sizes[1], sizes[2]),
    });
    Ok(())
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
