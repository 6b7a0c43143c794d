//! The `bounces` binary: parse the command line, run, and map the outcome to an exit code (0 success, 1 nothing
//! found, 2 error). A closed pipe (`bounces classify big.log | head`) ends quietly with 0.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use bounces::cmd::{Cli, NothingFound, run};

/// mimalloc instead of the system allocator: reading a log allocates a few short strings per line on every core,
/// which glibc's allocator serves several times slower.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if err.chain().any(|e| e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
            {
                return ExitCode::SUCCESS;
            }
            // The message may quote the input: escaped line by line, it cannot drive the terminal.
            let message = format!("{err:#}");
            let lines: Vec<_> = message.split('\n').map(bounces::output::escape_controls).collect();
            let _ = writeln!(io::stderr(), "bounces: {}", lines.join("\n"));
            if err.downcast_ref::<NothingFound>().is_some() { ExitCode::from(1) } else { ExitCode::from(2) }
        }
    }
}
