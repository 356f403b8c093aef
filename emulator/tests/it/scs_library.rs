//! scs-library-client (Sylabs official library client, conformance/cmd/libclient) against the emulator.
