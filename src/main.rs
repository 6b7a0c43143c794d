//! The `bounces` binary: parse the command line, run, and map the outcome to an exit code (0 success, 1 nothing
//! found, 2 error). A closed pipe (`bounces classify big.log | head`) ends quietly with 0.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use libmimalloc_sys as mi;

use bounces::cmd::{Cli, NothingFound, run};

/// mimalloc instead of the system allocator: reading a log allocates a few short strings per line on every core,
/// which glibc's allocator serves several times slower.
#[global_allocator]
static ALLOCATOR: Mimalloc = Mimalloc;

/// mimalloc, asked for plain blocks where the alignment asked for is one every block has. The `mimalloc` crate asks
/// for every block by its alignment (`mi_malloc_aligned`), and mimalloc serves an aligned request for a size that is
/// not a power of two, when the free list at hand is empty or the size is over 1 KiB, by allocating more and
/// aligning inside: a string of 24 or 1,500 bytes went that way, and a tenth of a run's allocations with it.
struct Mimalloc;

/// The alignment every mimalloc block has: a machine word (`MI_INTPTR_SIZE`).
const PLAIN_ALIGN: usize = std::mem::size_of::<usize>();

// SAFETY: each call hands mimalloc's functions what they document. A block of alignment up to a machine word comes
// from `mi_malloc`, `mi_zalloc` or `mi_realloc`, which return blocks aligned to a machine word at least; others
// from the aligned functions, with the alignment. Every block is freed with `mi_free`, which frees both kinds.
unsafe impl std::alloc::GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= PLAIN_ALIGN {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= PLAIN_ALIGN {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        // SAFETY: see the impl; `ptr` came from this allocator.
        unsafe { mi::mi_free(ptr.cast()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl; `ptr` came from this allocator with `layout`.
        unsafe {
            if layout.align() <= PLAIN_ALIGN {
                mi::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

/// mimalloc's option number for how long freed memory is held before it is given back to the system
/// (`mi_option_purge_delay` in `mimalloc.h`).
const MI_OPTION_PURGE_DELAY: mi::mi_option_t = 15;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A run that replays logs gives freed memory back within 10 ms, the delay mimalloc.h documents (this build
    // holds it far longer): logs are read in bursts of short-lived records, and holding their memory raised the
    // peak by a fifth (50 ms: a tenth more, for 4% of speed). `classify --text` holds little, and runs faster with the long delay.
    // A user's MIMALLOC_PURGE_DELAY still decides.
    if cli.replays_logs() && std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain FFI call with a valid option number and value, made before any other thread starts, so
        // that nothing reads the option while it is set.
        unsafe { mi::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
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
