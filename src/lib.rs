//! sifbake: build Singularity definition files on a remote build service from CI.
//!
//! Data flows one way: parse (`manifest`, `deffile`) → resolve (`graph`) → plan → execute →
//! report. A module only uses modules to its left in that chain, plus `libref`.

pub mod deffile;
