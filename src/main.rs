fn main() -> std::process::ExitCode {
    sifbake::run()
}
