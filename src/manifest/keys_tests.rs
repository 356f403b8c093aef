//! `sign:`, `mirrors:` and `labels:` as the loader resolves them, and their errors with the
//! line they point at.

use std::path::Path;

use super::{LoadRequest, Manifest, SignSpec, load};
use crate::diagnostic::Diagnostic;

fn write(root: &Path, path: &str, contents: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, contents).expect("write");
}

/// Loads `manifest` in a repository with `app.def` and `tools/main.def`.
fn load_text(manifest: &str) -> Result<Manifest, Vec<Diagnostic>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let def = "Bootstrap: docker\nFrom: alpine\n";
    write(dir.path(), "app.def", def);
    write(dir.path(), "tools/main.def", def);
    write(dir.path(), "sifbake.yaml", manifest);
    load(&LoadRequest {
        manifest: dir.path().join("sifbake.yaml"),
        root: None,
        display_base: dir.path().to_path_buf(),
    })
}

fn loaded(manifest: &str) -> Manifest {
    load_text(manifest).unwrap_or_else(|d| panic!("{d:#?}"))
}

/// Each error as `line:column message`.
fn errors(manifest: &str) -> Vec<String> {
    let diagnostics = match load_text(manifest) {
        Ok(manifest) => panic!("loaded: {:?}", manifest.targets),
        Err(diagnostics) => diagnostics,
    };
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| match &d.location {
            Some(l) => format!("{}:{} {}", l.line, l.column, d.message),
            None => d.message.clone(),
        })
        .collect()
}

const HEAD: &str = "version: 1\ndefaults:\n  library: library://acme/tools\n";

#[test]
fn a_targets_sign_replaces_the_default_and_false_opts_out() {
    let manifest = loaded(&format!(
        "{HEAD}  sign: {{key: SIGNING_KEY, passphrase: SIGNING_PASS}}\ntargets:\n  app:\n    def: app.def\n  other:\n    def: app.def\n    sign: false\n  third:\n    def: app.def\n    sign: {{key: THIRD_KEY, keystore: true}}\n"
    ));
    let sign = |name: &str| manifest.target(name).expect("target").sign.clone();
    assert_eq!(
        sign("app"),
        Some(SignSpec {
            key_env: "SIGNING_KEY".to_owned(),
            passphrase_env: Some("SIGNING_PASS".to_owned()),
            keystore: false,
        })
    );
    assert_eq!(sign("other"), None);
    assert_eq!(
        sign("third"),
        Some(SignSpec {
            key_env: "THIRD_KEY".to_owned(),
            passphrase_env: None,
            keystore: true,
        })
    );
    let unsigned = loaded(&format!("{HEAD}targets:\n  app:\n    def: app.def\n"));
    assert_eq!(unsigned.targets[0].sign, None);
}

#[test]
fn bad_sign_values_are_errors_at_their_line() {
    assert_eq!(
        errors(&format!(
            "{HEAD}  sign: true\ntargets:\n  app:\n    def: app.def\n"
        )),
        ["4:9 `sign: true` names no signing key"]
    );
    assert_eq!(
        errors(&format!(
            "{HEAD}targets:\n  app:\n    def: app.def\n    sign: {{passphrase: P}}\n"
        )),
        ["7:11 `sign` has no `key`"]
    );
    assert_eq!(
        errors(&format!(
            "{HEAD}targets:\n  app:\n    def: app.def\n    sign: {{key: my-key, passphrase: \"two words\"}}\n"
        )),
        [
            "7:17 `sign.key` is not the name of an environment variable",
            "7:37 `sign.passphrase` is not the name of an environment variable"
        ]
    );
    assert_eq!(
        errors(&format!(
            "{HEAD}targets:\n  app:\n    def: app.def\n    sign: {{key: K, keystore: maybe}}\n"
        ))
        .len(),
        1
    );
}

#[test]
fn a_key_pasted_into_the_manifest_is_refused_and_never_shown() {
    let secret = "xcASECRETKEYMATERIAL";
    let manifest = format!(
        "{HEAD}targets:\n  app:\n    def: app.def\n    sign:\n      key: |\n        -----BEGIN PGP PRIVATE KEY BLOCK-----\n\n        {secret}\n        -----END PGP PRIVATE KEY BLOCK-----\n      keystore: true\n"
    );
    let diagnostics = load_text(&manifest).expect_err("refused");
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let diagnostic = &diagnostics[0];
    assert_eq!(diagnostic.code, "manifest::sign-secret");
    let location = diagnostic.location.as_ref().expect("located");
    assert_eq!((location.line, location.column), (9, 9));
    let shown = format!("{diagnostic:?}");
    assert!(
        !shown.contains(secret) && !shown.contains("BEGIN PGP"),
        "{shown}"
    );
    assert!(
        location.source.text.contains("      keystore: true\n"),
        "only the value is masked: {}",
        location.source.text
    );
    // A one-line value that is not a name is not repeated either: it may be a passphrase.
    let diagnostics = load_text(&format!(
        "{HEAD}targets:\n  app:\n    def: app.def\n    sign: {{key: K, passphrase: \"hunter 2\"}}\n"
    ))
    .expect_err("refused");
    let shown = format!("{diagnostics:?}");
    assert!(!shown.contains("hunter"), "{shown}");
}

#[test]
fn mirrors_are_templates_a_target_replaces_or_clears() {
    let manifest = loaded(&format!(
        "{HEAD}  mirrors: [\"oras://ghcr.io/acme/{{{{target}}}}\", \"oras://localhost:5000/lab/{{{{ target }}}}\"]\ntargets:\n  app:\n    def: app.def\n  quiet:\n    def: app.def\n    mirrors: []\n  tools:\n    glob: \"tools/*.def\"\n    name: \"{{{{dir}}}}-{{{{name}}}}\"\n    ref: \"library://acme/tools/{{{{dir}}}}\"\n    mirrors: [\"oras://harbor.example.org/{{{{dir}}}}/{{{{name}}}}\"]\n"
    ));
    let mirrors = |name: &str| -> Vec<String> {
        manifest
            .target(name)
            .expect("target")
            .mirrors
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        mirrors("app"),
        ["oras://ghcr.io/acme/app", "oras://localhost:5000/lab/app"]
    );
    assert!(mirrors("quiet").is_empty());
    assert_eq!(
        mirrors("tools-main"),
        ["oras://harbor.example.org/tools/main"]
    );
}

#[test]
fn bad_mirrors_are_errors_at_the_templates_line() {
    assert_eq!(
        errors(&format!(
            "{HEAD}targets:\n  app:\n    def: app.def\n    mirrors:\n      - oras://ghcr.io/acme/app:v1\n"
        )),
        [
            "8:9 invalid mirror `oras://ghcr.io/acme/app:v1`: it has a tag `:v1`; a mirror names a repository and sifbake adds the tags, so remove `:v1`"
        ]
    );
    assert_eq!(
        errors(&format!(
            "{HEAD}  mirrors: [\"docker://ghcr.io/acme/{{{{target}}}}\"]\ntargets:\n  app:\n    def: app.def\n  other:\n    def: app.def\n"
        )),
        [
            "4:13 invalid mirror `docker://ghcr.io/acme/app`: the scheme `docker://` is not `oras://`; mirrors are OCI registries, written `oras://registry/namespace/name` (`docker://ghcr.io/acme/{{target}}` for target `app`)",
            "4:13 invalid mirror `docker://ghcr.io/acme/other`: the scheme `docker://` is not `oras://`; mirrors are OCI registries, written `oras://registry/namespace/name` (`docker://ghcr.io/acme/{{target}}` for target `other`)"
        ]
    );
    assert_eq!(
        errors(&format!(
            "{HEAD}targets:\n  app:\n    def: app.def\n    mirrors: [\"oras://ghcr.io/a/b\", \"oras://GHCR.io/a/b\"]\n"
        )),
        ["7:37 target `app` lists the mirror `oras://ghcr.io/a/b` twice"]
    );
    assert_eq!(
        errors(&format!(
            "{HEAD}  mirrors: [\"oras://ghcr.io/acme/{{{{dir}}}}\"]\ntargets:\n  app:\n    def: app.def\n  other:\n    def: app.def\n"
        )),
        [
            "4:13 `{{dir}}` in mirror `oras://ghcr.io/acme/{{dir}}` only applies to glob targets, and `app` is not one",
            "4:13 `{{dir}}` in mirror `oras://ghcr.io/acme/{{dir}}` only applies to glob targets, and `other` is not one"
        ]
    );
    assert_eq!(
        errors(&format!(
            "{HEAD}  mirrors: [\"oras://ghcr.io/acme/images\"]\ntargets:\n  app:\n    def: app.def\n  other:\n    def: app.def\n"
        )),
        ["4:13 targets `app` and `other` both mirror to `oras://ghcr.io/acme/images` for amd64"]
    );
}

#[test]
fn labels_merge_per_key_and_bad_ones_are_errors_at_their_line() {
    let manifest = loaded(&format!(
        "{HEAD}  labels: {{team: hpc, tier: base, version: 2}}\ntargets:\n  app:\n    def: app.def\n    labels:\n      tier: app\n      org.opencontainers.image.authors: lab@example.org\n"
    ));
    let labels: Vec<(&str, &str)> = manifest.targets[0]
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("org.opencontainers.image.authors", "lab@example.org"),
            ("team", "hpc"),
            ("tier", "app"),
            ("version", "2")
        ]
    );
    assert_eq!(
        errors(&format!(
            "{HEAD}  labels:\n    \"%post\": x\n    \"a b\": y\n    ok: \"\"\n    multi: \"one\\ntwo\"\ntargets:\n  app:\n    def: app.def\n"
        )),
        [
            "5:5 label name `%post` does not start with a letter or digit",
            "6:5 label name `a b` contains whitespace",
            "7:5 label `ok` has an empty value",
            "8:12 the value of label `multi` spans several lines"
        ]
    );
}

#[test]
fn a_quoted_key_over_several_lines_is_masked_on_every_line() {
    let manifest = format!(
        "{HEAD}  sign:\n    key: \"-----BEGIN PGP PRIVATE KEY BLOCK-----\n      lQOYBSECRET\n      -----END PGP PRIVATE KEY BLOCK-----\"\n    passphrase: PASS\ntargets:\n  app:\n    def: app.def\n"
    );
    let diagnostics = load_text(&manifest).expect_err("refused");
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let location = diagnostics[0].location.as_ref().expect("located");
    assert_eq!((location.line, location.column), (5, 10));
    let shown = &location.source.text;
    assert!(
        !shown.contains("SECRET") && !shown.contains("PGP"),
        "{shown}"
    );
    assert!(shown.contains("\n    passphrase: PASS\n"), "{shown}");
}
