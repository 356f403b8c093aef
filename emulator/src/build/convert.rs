//! B9: `POST v1/convert-def-file` (PROTOCOL.md §2.6).
//!
//! Sylabs' `scs-build` CLI asks the build service to parse the definition before every build
//! (scs-build-client `internal/app/buildclient/files.go`, `parseDefinition`) and reads only
//! `buildData.files` from the reply, to know which `%files` sources go into the build context.
//! Without this endpoint every `scs-build build` fails before submitting anything.
//!
//! The reply has the shape of SingularityCE's `types.Definition`: the client decodes one
//! object, so the `%files` sections of every stage are returned together, sections with the
//! same arguments merged as SingularityCE's parser merges them.

use axum::body::Bytes;
use axum::response::Response;
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::deffile;
use crate::envelope::{self, ApiError};

/// B9: parses the raw definition in the body.
pub async fn convert_def_file(body: Bytes) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("definition is not valid UTF-8"))?;
    // SingularityCE's parser refuses only an empty definition; a missing header is reported
    // by the build itself, as for a submission without this step.
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("empty definition file"));
    }
    let definition = deffile::parse(text);
    let mut header = Map::new();
    if let Some(first) = definition.stages.first() {
        let fields = [
            ("bootstrap", &first.bootstrap),
            ("from", &first.from),
            ("stage", &first.name),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                header.insert(key.to_owned(), json!(value));
            }
        }
    }
    let raw = base64::engine::general_purpose::STANDARD.encode(&body);
    Ok(envelope::data(json!({
        "header": header,
        "imageData": {"metadata": null, "labels": {}, "imageScripts": {}},
        "buildData": {"files": files_sections(&definition), "buildScripts": {}},
        "customData": null,
        "raw": raw,
        "fullraw": raw,
        "appOrder": [],
    })))
}

/// Returns `buildData.files`: one `{args, files}` object per distinct `%files` argument list.
fn files_sections(definition: &deffile::Definition) -> Vec<Value> {
    let mut sections: Vec<(String, Vec<Value>)> = Vec::new();
    for section in definition.stages.iter().flat_map(|stage| &stage.files) {
        let args = section.args.join(" ");
        let files = section.entries.iter().map(|entry| {
            json!({
                "source": entry.source,
                "destination": entry.destination.clone().unwrap_or_default(),
            })
        });
        match sections.iter_mut().find(|(existing, _)| *existing == args) {
            Some((_, existing)) => existing.extend(files),
            None => sections.push((args, files.collect())),
        }
    }
    sections
        .into_iter()
        .map(|(args, files)| json!({"args": args, "files": files}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_sections_with_the_same_arguments_across_stages() {
        let definition = deffile::parse(
            "Bootstrap: docker\nFrom: a\nStage: one\n%files\n  a.txt /a\n%files from one\n  /a /b\nBootstrap: docker\nFrom: b\n%files\n  c.txt\n",
        );
        let sections = files_sections(&definition);
        assert_eq!(
            Value::Array(sections),
            json!([
                {"args": "", "files": [
                    {"source": "a.txt", "destination": "/a"},
                    {"source": "c.txt", "destination": ""},
                ]},
                {"args": "from one", "files": [{"source": "/a", "destination": "/b"}]},
            ])
        );
    }
}
