//! Output for people and for machines.
//!
//! Everything the command prints on standard output goes through [`Stdout`] (through [`out!`]
//! and [`outln!`] for text): once the reader has gone (`onboarding demo | head`), further output
//! is dropped and the command runs to its end, so its exit status is still its own (a `verify`
//! that finds the chain broken still fails), where `println!` would panic. Standard error goes
//! through [`errln!`], which never panics either. (Rust programs ignore SIGPIPE, and restoring
//! its default action would take `unsafe`, which this workspace forbids.)

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use onboarding_ledger::projections::AuditEntry;

/// Set once standard output's reader has gone.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Standard output that drops what is written once its reader has gone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if CLOSED.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        unless_closed(io::stdout().write(buf), buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if CLOSED.load(Ordering::Relaxed) {
            return Ok(());
        }
        unless_closed(io::stdout().flush(), ())
    }
}

/// `result`, unless it says that the reader of standard output has gone: then there is no one
/// left to tell anything, and `dropped` stands for what would have been written.
fn unless_closed<T>(result: io::Result<T>, dropped: T) -> io::Result<T> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            CLOSED.store(true, Ordering::Relaxed);
            Ok(dropped)
        }
        other => other,
    }
}

/// Writes text on standard output (dropped once its reader has gone); any other failure to
/// write (a full disk, say) ends the process with an error on standard error.
pub fn text(args: std::fmt::Arguments<'_>) {
    if let Err(e) = Stdout.write_fmt(args) {
        error_text(format_args!("error: cannot write to standard output: {e}"));
        std::process::exit(1);
    }
}

/// Writes a line on standard error, ignoring a failure (there is nowhere left to report it):
/// `eprintln!` would panic once standard error's reader has gone.
pub fn error_text(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr(), "{args}");
}

/// Prints a line on standard error through [`error_text`], like `eprintln!`, without its panics.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::print::error_text(format_args!($($arg)*))
    };
}

/// Prints on standard output through [`text`], like `print!`, without its panics.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::print::text(format_args!($($arg)*))
    };
}

/// Prints a line on standard output through [`text`], like `println!`, without its panics.
macro_rules! outln {
    () => {
        $crate::print::text(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::print::text(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, out, outln};

/// Prints a one-line confirmation.
pub fn done(json: bool, message: &str) {
    if json {
        outln!("{}", serde_json::json!({ "ok": true, "message": message }));
    } else {
        outln!("{message}");
    }
}

/// Prints the ids a command created.
pub fn ids(json: bool, ids: &[(&str, String)], message: &str) {
    if json {
        let map: serde_json::Map<String, serde_json::Value> = ids
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
            .collect();
        outln!("{}", serde_json::Value::Object(map));
    } else {
        let list: Vec<String> = ids.iter().map(|(k, v)| format!("{k} {v}")).collect();
        outln!("{message}: {}", list.join(", "));
    }
}

/// Prints an audit trail as a table.
pub fn trail(entries: &[AuditEntry]) {
    for e in entries {
        outln!(
            "    #{:<5} {}  {:<8} {:<2} {:<20} {:<24} {}",
            e.position,
            e.recorded_at.format("%H:%M:%S%.3f"),
            e.aggregate_type,
            e.sequence,
            e.event_type,
            e.actor,
            e.summary
        );
    }
}
