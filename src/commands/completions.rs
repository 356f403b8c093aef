//! `sifbake completions SHELL` and `sifbake man`: shell completion scripts and man pages,
//! generated from the clap definitions so they always match the flags the binary takes.

use std::io;
use std::path::Path;

use clap::CommandFactory;

use super::Output;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit;

/// Runs `sifbake completions`: the script for one shell on stdout.
pub fn completions(args: &CompletionsArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "sifbake", out.stdout);
    Ok(exit::SUCCESS)
}

/// Runs `sifbake man`: sifbake(1) on stdout, or every page written to a directory.
pub fn man(args: &ManArgs, out: &mut Output<'_>) -> io::Result<u8> {
    let command = Cli::command();
    match &args.out_dir {
        None => {
            clap_mangen::Man::new(command).render(out.stdout)?;
            Ok(exit::SUCCESS)
        }
        Some(dir) => match write_pages(command, dir) {
            Ok(count) => {
                writeln!(out.stderr, "wrote {count} man pages to {}", dir.display())?;
                Ok(exit::SUCCESS)
            }
            Err(error) => {
                writeln!(
                    out.stderr,
                    "error: cannot write man pages to {}: {error}",
                    dir.display()
                )?;
                Ok(exit::BAD_INPUT)
            }
        },
    }
}

/// Writes sifbake.1 and one page per command (sifbake-build.1, …); returns how many.
fn write_pages(command: clap::Command, dir: &Path) -> io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    // `generate_to` names pages after the command path, as `git help` expects them.
    clap_mangen::generate_to(command.clone(), dir)?;
    Ok(1 + command
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl FnOnce(&mut Output<'_>) -> io::Result<u8>) -> (u8, String) {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let code = f(&mut Output {
            stdout: &mut stdout,
            stderr: &mut stderr,
            color: false,
            stdout_color: false,
        })
        .expect("write to memory");
        (code, String::from_utf8(stdout).expect("utf-8"))
    }

    #[test]
    fn every_shell_completes_the_commands_and_their_flags() {
        use clap::ValueEnum;
        for shell in clap_complete::Shell::value_variants() {
            let (code, script) = run(|out| completions(&CompletionsArgs { shell: *shell }, out));
            assert_eq!(code, exit::SUCCESS);
            // Fish writes long flags as `-l emulate`, the others as `--emulate`.
            for word in ["build", "validate", "emulate", "directory", "completions"] {
                assert!(script.contains(word), "{shell}: no `{word}` in the script");
            }
        }
    }

    #[test]
    fn man_page_documents_every_command() {
        let (code, page) = run(|out| man(&ManArgs { out_dir: None }, out));
        assert_eq!(code, exit::SUCCESS);
        assert!(page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH sifbake 1"));
        for command in [
            "validate",
            "inspect",
            "plan",
            "build",
            "tag",
            "completions",
            "man",
        ] {
            assert!(
                page.contains(&format!("sifbake\\-{command}")),
                "no {command} in the page"
            );
        }
    }

    #[test]
    fn man_out_dir_writes_a_page_per_command() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (code, _) = run(|out| {
            man(
                &ManArgs {
                    out_dir: Some(dir.path().to_path_buf()),
                },
                out,
            )
        });
        assert_eq!(code, exit::SUCCESS);
        for page in ["sifbake.1", "sifbake-build.1", "sifbake-completions.1"] {
            let text = std::fs::read_to_string(dir.path().join(page)).expect(page);
            assert!(text.contains(".TH"), "{page} is no man page");
        }
    }
}
