//! One long-running `defparse -batch -contents` process: SingularityCE's parser, asked about
//! file contents without writing any file.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::Value;

pub struct Defparse {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    line: String,
}

impl Defparse {
    pub fn start(binary: &Path) -> Defparse {
        let mut child = Command::new(binary)
            .args(["-batch", "-contents"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", binary.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::with_capacity(1 << 16, child.stdout.take().expect("piped stdout"));
        Defparse {
            child,
            stdin: Some(stdin),
            stdout,
            line: String::new(),
        }
    }

    /// Asks about one text and waits for the answer.
    pub fn ask(&mut self, text: &str) -> Value {
        let stdin = self.stdin.as_mut().expect("defparse's stdin is open");
        send(stdin, text);
        stdin.flush().expect("write to defparse");
        self.answer()
    }

    /// Asks about every text, writing from another thread while `each` reads the answers in
    /// order: SingularityCE parses one case while sifbake's parser checks the previous one.
    pub fn ask_all(&mut self, texts: &[String], mut each: impl FnMut(usize, Value)) {
        let Defparse {
            child,
            stdin,
            stdout,
            line,
        } = self;
        let stdin = stdin.as_mut().expect("defparse's stdin is open");
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut writer = std::io::BufWriter::with_capacity(1 << 16, stdin);
                for text in texts {
                    send(&mut writer, text);
                }
                writer.flush().expect("write to defparse");
            });
            for index in 0..texts.len() {
                each(index, answer(child, stdout, line));
            }
        });
    }

    fn answer(&mut self) -> Value {
        answer(&mut self.child, &mut self.stdout, &mut self.line)
    }
}

/// Reads one answer line (into `line`, reused: answers are many).
fn answer(child: &mut Child, stdout: &mut BufReader<ChildStdout>, line: &mut String) -> Value {
    line.clear();
    let read = stdout.read_line(line).expect("read from defparse");
    assert!(
        read > 0,
        "defparse ended early (status {:?})",
        child.try_wait()
    );
    serde_json::from_str(line).unwrap_or_else(|error| panic!("defparse answered {line:?}: {error}"))
}

/// The `-contents` protocol: the length in decimal, a newline, the bytes.
fn send(out: &mut impl Write, text: &str) {
    writeln!(out, "{}", text.len())
        .and_then(|()| out.write_all(text.as_bytes()))
        .expect("write to defparse");
}

impl Drop for Defparse {
    fn drop(&mut self) {
        // Closing stdin ends the batch; the process then exits on its own.
        drop(self.stdin.take());
        let status = self.child.wait();
        if !std::thread::panicking() {
            let status = status.expect("wait for defparse");
            assert!(status.success(), "defparse failed: {status}");
        }
    }
}
