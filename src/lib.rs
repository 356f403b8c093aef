//! sifbake: build Singularity definition files on a remote build service from CI.
//!
//! Data flows one way: parse (`manifest`, `deffile`) → resolve (`graph`, `lint`) → plan →
//! execute → report. A module only uses modules to its left in that chain, plus the shared
//! vocabulary (`libref`, `diagnostic`).
pub mod deffile;
pub mod diagnostic;
pub mod graph;
pub mod libref;
pub mod lint;
pub mod manifest;
pub mod project;
