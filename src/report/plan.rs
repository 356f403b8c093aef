//! The plan as a table, a JSON document, or a GitHub Actions matrix.

use std::io::{self, Write};

use serde::Serialize;

use crate::plan::{Action, Plan, PlannedTarget};

/// The version of the plan document (`sifbake plan --format json`); README.md documents it.
pub const PLAN_SCHEMA: &str = "sifbake/plan/v1";

/// The `--format json` document.
#[derive(Serialize)]
pub struct PlanDocument<'a> {
    pub schema: &'static str,
    #[serde(flatten)]
    pub plan: &'a Plan,
}

/// One entry of the GitHub Actions matrix.
#[derive(Serialize)]
pub struct MatrixEntry<'a> {
    pub target: &'a str,
    pub arch: &'a str,
    #[serde(rename = "ref")]
    pub reference: String,
    pub action: Action,
}

/// The GitHub Actions matrix: `{"include": [...]}`, one entry per image to build or retag.
/// An empty plan gives `{"include": []}`; the `has-changes` output tells workflows to skip
/// the matrix job instead of failing on an empty matrix.
#[derive(Serialize)]
pub struct Matrix<'a> {
    pub include: Vec<MatrixEntry<'a>>,
}

/// Returns the matrix of a plan.
pub fn matrix(plan: &Plan) -> Matrix<'_> {
    matrix_of(plan, |_| true)
}

/// Returns the matrix of the targets of a plan that `keep` keeps.
pub fn matrix_of(plan: &Plan, keep: impl Fn(&PlannedTarget) -> bool) -> Matrix<'_> {
    Matrix {
        include: plan
            .targets
            .iter()
            .filter(|target| keep(target))
            .flat_map(|target| {
                target
                    .images
                    .iter()
                    .filter(|image| image.action != Action::Skip)
                    .map(move |image| MatrixEntry {
                        target: &target.name,
                        arch: &image.arch,
                        reference: target.reference.to_string(),
                        action: image.action,
                    })
            })
            .collect(),
    }
}

/// Writes the plan as a table for people. `color` styles the action column.
pub fn write_text(out: &mut dyn Write, plan: &Plan, color: bool) -> io::Result<()> {
    let count = |action: Action| plan.targets.iter().filter(|t| t.action == action).count();
    let short_sha: String = plan.context.sha.chars().take(7).collect();
    let compared = match plan.changes.mode {
        "diff" => {
            let base = plan.changes.base.as_deref().unwrap_or_default();
            let short = &base[..base.len().min(7)];
            if plan.changes.how.contains(short) {
                format!("compared with {}", plan.changes.how)
            } else {
                format!("compared with {} ({short})", plan.changes.how)
            }
        }
        "all" => "every target requested (--all)".to_owned(),
        _ => format!("no base commit: {}", plan.changes.how),
    };
    writeln!(
        out,
        "Plan for {} at {short_sha} ({}), {compared}: {} to build, {} to retag, {} to skip",
        plan.context.describe(),
        plan.context.event,
        count(Action::Build),
        count(Action::Retag),
        count(Action::Skip),
    )?;
    let header = ["TARGET", "ACTION", "ARCH", "REASON", "TAGS"];
    let rows: Vec<[String; 5]> = plan
        .targets
        .iter()
        .map(|target| {
            let archs: Vec<String> = target
                .images
                .iter()
                .map(|image| {
                    if image.action == target.action {
                        image.arch.clone()
                    } else {
                        format!("{}({})", image.arch, action_name(image.action))
                    }
                })
                .collect();
            let tags = match target.images.iter().find(|i| !i.tags.is_empty()) {
                Some(image) if target.images.len() > 1 => {
                    let rule_tags: Vec<&str> = image
                        .tags
                        .iter()
                        .filter(|t| Some(*t) != image.digest_tag.as_ref())
                        .map(String::as_str)
                        .collect();
                    let mut text = rule_tags.join(", ");
                    if !text.is_empty() {
                        text.push_str(", ");
                    }
                    text.push_str("inputs-… per arch");
                    text
                }
                Some(image) => image.tags.join(", "),
                None => "-".to_owned(),
            };
            [
                target.name.clone(),
                action_name(target.action).to_owned(),
                archs.join(","),
                target.reason.message(),
                tags,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5], action: Option<Action>| {
        let mut text = String::new();
        for (column, cell) in cells.iter().enumerate() {
            let padded = if column + 1 == cells.len() {
                (*cell).to_owned()
            } else {
                format!("{cell:<width$}  ", width = widths[column])
            };
            match (column, action) {
                (1, Some(action)) if color => text.push_str(&styled(&padded, action)),
                _ => text.push_str(&padded),
            }
        }
        text.trim_end().to_owned()
    };
    writeln!(out, "{}", line(header, None))?;
    for (row, target) in rows.iter().zip(&plan.targets) {
        let cells = [&row[0], &row[1], &row[2], &row[3], &row[4]].map(String::as_str);
        writeln!(out, "{}", line(cells, Some(target.action)))?;
    }
    for target in plan.targets.iter().filter(|t| !t.mirrors.is_empty()) {
        writeln!(
            out,
            "mirrors of {}: {}",
            target.name,
            target.mirrors.join(", ")
        )?;
        for image in &target.images {
            for check in &image.mirrors {
                writeln!(out, "  {}", mirror_line(&image.arch, check))?;
            }
        }
    }
    for note in &plan.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

/// `oras://ghcr.io/acme/base (arm64): push`, or `unknown` and why.
fn mirror_line(arch: &str, check: &crate::plan::MirrorCheck) -> String {
    use crate::plan::MirrorState;
    let state = match check.state {
        MirrorState::Push => "push".to_owned(),
        MirrorState::Tag => "tag (the image is there)".to_owned(),
        MirrorState::UpToDate => "up to date".to_owned(),
        MirrorState::Unknown => format!(
            "unknown ({})",
            check.reason.as_deref().unwrap_or("not asked")
        ),
    };
    format!("{} ({arch}): {state}", check.reference)
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Build => "build",
        Action::Retag => "retag",
        Action::Skip => "skip",
    }
}

/// Colours an action; the word itself carries the meaning, so no colour is ever required.
fn styled(text: &str, action: Action) -> String {
    let style = match action {
        Action::Build => anstyle::AnsiColor::Yellow.on_default().bold(),
        Action::Retag => anstyle::AnsiColor::Cyan.on_default(),
        Action::Skip => anstyle::Style::new().dimmed(),
    };
    format!("{}{text}{}", style.render(), style.render_reset())
}
