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

/// mimalloc's option number for how long freed memory is held before it is given back to the system
/// (`mi_option_purge_delay` in `mimalloc.h`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A run that replays logs gives freed memory back within 10 ms, the delay mimalloc.h documents (this build
    // holds it far longer): logs are read in bursts of short-lived records, and holding their memory raised the
    // peak by a fifth (50 ms: a tenth more, for 4% of speed). `classify --text` holds little, and runs faster with the long delay.
    // A user's MIMALLOC_PURGE_DELAY still decides.
    if cli.replays_logs() && std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain FFI call with a valid option number and value, made before any other thread starts, so
        // that nothing reads the option while it is set.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
    }
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
