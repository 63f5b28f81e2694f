//! Output for people and for machines.
//!
//! Everything the command prints on standard output goes through [`Stdout`] (through [`out!`]
//! and [`outln!`] for text): once the reader has gone (`onboarding demo | head`), the process
//! ends quietly with status 0 where `println!` would panic. (Rust programs ignore SIGPIPE, and
//! restoring its default action would take `unsafe`, which this workspace forbids.)

use std::io::{self, Write};

use onboarding_ledger::projections::AuditEntry;

/// Standard output that ends the process quietly, with status 0, once its reader has gone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        unless_closed(io::stdout().write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        unless_closed(io::stdout().flush())
    }
}

/// `result`, unless it says that the reader of standard output has gone: then there is no one
/// left to tell anything, and the process ends without a word.
fn unless_closed<T>(result: io::Result<T>) -> io::Result<T> {
    if let Err(e) = &result {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
    result
}

/// Writes text on standard output. A closed output ends the process quietly; any other failure
/// to write (a full disk, say) ends it with an error on standard error.
pub fn text(args: std::fmt::Arguments<'_>) {
    if let Err(e) = Stdout.write_fmt(args) {
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
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

pub(crate) use {out, outln};

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
