//! Running the built binary and reading its output.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The project's root, where `samples/` and `tests/fixtures/` are.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared`, when it is present (the oracle and the shared corpus live there).
pub fn shared() -> Option<PathBuf> {
    let p = root().join("../shared");
    p.join("bench/gen.py").exists().then_some(p)
}

/// A finished run of the binary.
pub struct Run {
    /// The command line, for messages.
    pub command: String,
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns the run.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "{}", self.describe());
        self
    }

    /// Asserts an exit code and returns the run.
    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "{}", self.describe());
        self
    }

    /// Everything about the run, for a failure message.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nexit code: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }

    /// Standard output decoded as CSV rows keyed by header.
    pub fn csv(&self) -> Vec<HashMap<String, String>> {
        csv_rows(&self.stdout)
    }
}

/// Decodes CSV text into rows keyed by header.
pub fn csv_rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().expect("a header").clone();
    r.records()
        .map(|rec| headers.iter().map(String::from).zip(rec.expect("a row").iter().map(String::from)).collect())
        .collect()
}

/// Reads a CSV file into rows keyed by header.
pub fn csv_file(path: &Path) -> Vec<HashMap<String, String>> {
    csv_rows(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Runs `bounces ARGS` in the project root.
pub fn bounces<S: AsRef<str>>(args: &[S]) -> Run {
    bounces_stdin(args, None)
}

/// Starts `bounces ARGS` in the repository's folder with `stdin` as standard input, and its output and errors
/// piped, for a test that reads or closes them as the binary runs.
pub fn spawn<S: AsRef<str>>(args: &[S], stdin: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bounces"))
        .args(args.iter().map(AsRef::as_ref))
        .current_dir(root())
        .env_remove("COLUMNS")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs")
}

/// Runs `bounces ARGS` with `stdin` as standard input.
pub fn bounces_stdin<S: AsRef<str>>(args: &[S], stdin: Option<&[u8]>) -> Run {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let mut child = spawn(&args, if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let out = child.wait_with_output().expect("the binary finishes");
    Run {
        command: format!("bounces {}", args.join(" ")),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
