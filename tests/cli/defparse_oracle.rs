//! SingularityCE parser oracle (conformance/cmd/defparse) against sifbake inspect.
