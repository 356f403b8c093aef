//! sif/v2 (the SIF reference implementation, conformance/cmd/sifcheck) reads every emulated build.
