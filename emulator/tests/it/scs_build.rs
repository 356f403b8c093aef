//! scs-build (Sylabs official build CLI, built from conformance/go.mod) against the emulator.
