//! One operation of the checks library, timed from the outside by `tests/bench/checks.py`
//! against the standard tool doing the same work. Prints a one-line summary of what it did.
//!
//!   timing sha512 FILE
//!   timing verify ARTIFACT ASC KEYS
//!   timing archive ARCHIVE      (read to the end with every safety check)
//!   timing rat-dir DIR          (classify the head of every file)

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool")]

use std::path::Path;
use std::process::ExitCode;

use checks::{Input, Limits};

fn input(path: &str) -> Input {
    let name = Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Input::new(name, path)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let summary = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["sha512", file] => match std::fs::File::open(file).and_then(checks::digest::sha512_of) {
            Ok((hex, bytes)) => format!("{hex}  {bytes} bytes"),
            Err(e) => format!("error: {e}"),
        },
        ["verify", artifact, asc, keys] => {
            let keys = match std::fs::read(keys) {
                Ok(bytes) => bytes,
                Err(e) => return fail(&format!("cannot read {keys}: {e}")),
            };
            let results = checks::signature::check(
                &input(artifact),
                &input(asc),
                &keys,
                &checks::signature::SignaturePolicy::default(),
            );
            let good = results.iter().any(|r| r.status.as_str() == "success" && r.message.contains("good signature"));
            if !good {
                return fail(&format!("no good signature: {results:?}"));
            }
            "good signature".to_owned()
        }
        ["keys", keys] => {
            let bytes = std::fs::read(keys).unwrap_or_default();
            let started = std::time::Instant::now();
            let parsed = checks::openpgp::parse_keys(&bytes);
            let cheap = started.elapsed();
            let certificates =
                parsed.into_iter().filter_map(|k| checks::openpgp::Certificate::from_key(k).ok()).count();
            format!("parse {cheap:?}, validate {certificates} keys {:?}", started.elapsed() - cheap)
        }
        ["archive", archive] => {
            let results = checks::archive::check(&input(archive), &Limits::default());
            let failed = results.iter().filter(|r| r.status.as_str() == "failure").count();
            format!("{} results, {failed} failures", results.len())
        }
        ["rat-dir", dir] => {
            let results = checks::rat::check_tree(Path::new(dir), "warning");
            format!("{} results", results.len())
        }
        _ => return fail("usage: timing sha512 FILE | verify ARTIFACT ASC KEYS | archive ARCHIVE | rat-dir DIR"),
    };
    println!("{summary}");
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}
