//! The manifest loader (`project::load`: YAML, schema, targets, definition files, globs,
//! the graph and the preflight checks) on arbitrary bytes as `sifbake.yaml`, in a
//! repository that holds a few definition files to name. It must return diagnostics or a
//! project, never panic, and every diagnostic must render as the CLI renders it.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// A repository kept for the whole run: definition files the input may name.
fn repository() -> &'static PathBuf {
    static REPOSITORY: OnceLock<PathBuf> = OnceLock::new();
    REPOSITORY.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("sifbake-fuzz-manifest-")
            .tempdir()
            .expect("tempdir")
            .keep();
        let files = [
            ("defs/base.def", "Bootstrap: docker\nFrom: alpine:3.20\n"),
            (
                "defs/python.def",
                "Bootstrap: library\nFrom: acme/tools/base\n\n%files\n    ../req/*.txt /opt/\n\n%post\n    echo {{ PY }}\n",
            ),
            (
                "defs/stages.def",
                "Bootstrap: docker\nFrom: alpine\nStage: build\n\nBootstrap: localimage\nFrom: base.sif\n\n%files from build\n    /a /b\n",
            ),
            ("req/a.txt", "a\n"),
            ("containers/one/Singularity.def", "Bootstrap: docker\nFrom: alpine\n"),
        ];
        for (path, text) in files {
            let full = dir.join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, text).expect("write");
        }
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let root = repository();
    let manifest = root.join("sifbake.yaml");
    std::fs::write(&manifest, data).expect("write the manifest");
    let request = sifbake::manifest::LoadRequest {
        manifest,
        root: Some(root.clone()),
        display_base: root.clone(),
    };
    let diagnostics = match sifbake::project::load(&request) {
        Ok(project) => project.warnings,
        Err(diagnostics) => diagnostics,
    };
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    for diagnostic in &diagnostics {
        let mut out = String::new();
        handler
            .render_report(&mut out, diagnostic)
            .expect("a diagnostic renders");
    }
});
