//! Integration tests: the emulator on 127.0.0.1:0, driven over HTTP and websockets, and by
//! real third-party tools (the Debian Go library client, siftool) where installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Service discovery, version, token status, authentication.
mod discovery;
// Build service: submission, log stream, outcomes, contexts, bases, directives.
mod build;
// Library: entities to images, tags, uploads, downloads, search, delete.
mod library;
// Image uploads (v1, v2 single, multipart) and downloads with ranges.
mod uploads;
// Fault injection and counters, in-process and through the admin API.
mod faults;
// --data-dir persistence across restarts.
mod persistence;
// The binary: URL on stdout, SIGTERM.
mod cli;
// The Debian Go library client against the emulator.
mod go_client;
// siftool reads the emulator's images.
mod siftool;
// Sylabs' own scs-build CLI (conformance/, pinned) builds against the emulator.
mod scs_build;
// Sylabs' own scs-library-client (conformance/cmd/libclient) against the emulator.
mod scs_library;
// The HKP keystore, and Sylabs' own key client (conformance/cmd/keyclient) against it.
mod keystore;
// Fresh OpenPGP keys for the keystore tests.
mod test_keys;
// The SIF reference implementation (sif/v2, conformance/cmd/sifcheck) reads emulated builds.
mod sif_reference;

// Builds the Go drivers of conformance/.
#[path = "../../../conformance/go_tools.rs"]
mod go_tools;

mod support;
