//! The values of the GitHub Actions step outputs (`github.rs` writes them): what a plan and
//! a result tell later steps and jobs.

use std::io;

use crate::plan::Plan;

use super::built_refs::built_refs;
use super::plan::{PLAN_SCHEMA, PlanDocument, matrix};
use super::result::ResultDocument;

/// Named output values, in the order they are written.
pub type Outputs = Vec<(&'static str, String)>;

/// Returns `has-changes`, `matrix` and `plan` (the plan document as compact JSON).
pub fn plan_outputs(plan: &Plan) -> io::Result<Outputs> {
    let has_changes = if plan.has_changes { "true" } else { "false" };
    let matrix = serde_json::to_string(&matrix(plan)).map_err(io::Error::other)?;
    let document = serde_json::to_string(&PlanDocument {
        schema: PLAN_SCHEMA,
        plan,
    })
    .map_err(io::Error::other)?;
    Ok(vec![
        ("has-changes", has_changes.to_owned()),
        ("matrix", matrix),
        ("plan", document),
    ])
}

/// Returns `result` (the result document as compact JSON) and `built-refs` (one ref per
/// line; empty when nothing was built or retagged).
pub fn result_outputs(document: &ResultDocument<'_>) -> io::Result<Outputs> {
    let result = serde_json::to_string(document).map_err(io::Error::other)?;
    let refs: Vec<String> = built_refs(document)
        .into_iter()
        .map(|r| r.reference)
        .collect();
    Ok(vec![("result", result), ("built-refs", refs.join("\n"))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Publish;
    use crate::report::result::tests::{document, image};

    #[test]
    fn result_outputs_hold_compact_json_and_one_ref_per_line() {
        let mut doc = document(Publish::Push);
        doc.targets[0].images = vec![
            image("amd64", "built", Some(("acme/tools/base", "sha256.aa"))),
            image("arm64", "built", Some(("acme/tools/base", "sha256.bb"))),
        ];
        let outputs = result_outputs(&doc).expect("outputs");
        assert_eq!(outputs[0].0, "result");
        assert!(!outputs[0].1.contains('\n'), "compact: {}", outputs[0].1);
        let value: serde_json::Value = serde_json::from_str(&outputs[0].1).expect("json");
        assert_eq!(value["schema"], "sifbake/result/v1");
        assert_eq!(
            outputs[1],
            (
                "built-refs",
                "library://acme/tools/base:sha256.aa\nlibrary://acme/tools/base:sha256.bb"
                    .to_owned()
            )
        );
        let empty = result_outputs(&document(Publish::Push)).expect("outputs");
        assert_eq!(empty[1].1, "");
    }
}
