//! The manifest's JSON Schema, generated from the serde types that parse it
//! (`schema.rs`) and published as `schema/sifbake.schema.json` for editors
//! (`# yaml-language-server: $schema=…`) and CI (`check-jsonschema`). A test keeps the
//! published file equal to what these types give.

use schemars::generate::SchemaSettings;

use super::schema::ManifestFile;

/// Where the schema is published, relative to the repository root.
pub const SCHEMA_PATH: &str = "schema/sifbake.schema.json";

/// Returns the manifest's JSON Schema as the published file holds it.
///
/// Draft 7, not schemars' default 2020-12: yaml-language-server, the editor integration
/// the examples point at, validates draft 7 fully and newer drafts only in part.
pub fn json_schema() -> String {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<ManifestFile>();
    schema.insert(
        "$id".to_owned(),
        format!("https://raw.githubusercontent.com/sifbake/sifbake/main/{SCHEMA_PATH}").into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when `schema/sifbake.schema.json` is not what the manifest types give; with
    /// `SIFBAKE_UPDATE_SCHEMA=1` it writes the file instead (then commit it).
    #[test]
    fn published_schema_is_generated_from_the_manifest_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_PATH);
        let generated = json_schema();
        if std::env::var_os("SIFBAKE_UPDATE_SCHEMA").is_some_and(|v| v == "1") {
            std::fs::write(&path, &generated).expect("write the schema");
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            published == generated,
            "{SCHEMA_PATH} differs from the schema of the manifest types; regenerate it with \
             `SIFBAKE_UPDATE_SCHEMA=1 cargo test --lib json_schema` and commit it"
        );
    }

    #[test]
    fn schema_denies_unknown_keys_and_knows_defaults_context() {
        let schema: serde_json::Value =
            serde_json::from_str(&json_schema()).expect("the schema is JSON");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        let defaults = &schema["definitions"]["DefaultsSpec"];
        assert_eq!(defaults["additionalProperties"], false);
        assert!(defaults["properties"]["context"].is_object());
        let target = &schema["definitions"]["TargetSpec"]["properties"];
        assert!(target["ref"].is_object(), "serde's rename is followed");
        assert_eq!(
            schema["required"],
            serde_json::json!(["version", "targets"])
        );
    }
}
