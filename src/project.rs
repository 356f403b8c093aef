//! A checked project: the manifest loaded, its graph built and its preflight lint run.
//! Every command that reads a manifest starts here, so they all agree on what is valid.

#![warn(clippy::print_stdout, clippy::print_stderr)]

use crate::diagnostic::{Diagnostic, has_errors};
use crate::graph::Graph;
use crate::lint;
use crate::manifest::{self, LoadRequest, Manifest};

/// A manifest that passed every check, with its warnings.
#[derive(Clone, Debug)]
pub struct Project {
    pub manifest: Manifest,
    pub graph: Graph,
    pub warnings: Vec<Diagnostic>,
}

/// Loads and checks a manifest. Returns every error and warning found when any is an error.
pub fn load(request: &LoadRequest) -> Result<Project, Vec<Diagnostic>> {
    let manifest = manifest::load(request)?;
    let mut diagnostics = manifest.warnings.clone();
    let graph = match Graph::build(&manifest) {
        Ok(graph) => Some(graph),
        Err(cycles) => {
            diagnostics.extend(cycles);
            None
        }
    };
    diagnostics.extend(lint::check(&manifest, graph.as_ref()));
    match graph {
        Some(graph) if !has_errors(&diagnostics) => Ok(Project {
            manifest,
            graph,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}
