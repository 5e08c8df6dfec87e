//! Secrets typed at a terminal (a password, a token): read with the echo off, so they never
//! show on the screen or in a recording of it. Behind the `terminal` feature.

use std::io::{BufRead, IsTerminal};

/// One line of standard input, without its line end. At a terminal, `prompt` is written to
/// standard error and the line is read with the echo off (and the echo is restored after,
/// whatever happened); from a pipe, the line is read as it comes.
pub fn read_secret_line(prompt: &str) -> std::io::Result<String> {
    let stdin = std::io::stdin();
    let read_line = || -> std::io::Result<String> {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    };
    if !stdin.is_terminal() {
        return read_line();
    }
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let before = tcgetattr(&stdin)?;
    let mut silent = before.clone();
    silent.local_modes.remove(LocalModes::ECHO);
    // The echo goes off before the prompt shows: nothing typed after it can be echoed.
    tcsetattr(&stdin, OptionalActions::Now, &silent)?;
    eprint!("{prompt}");
    let line = read_line();
    tcsetattr(&stdin, OptionalActions::Now, &before)?;
    eprintln!();
    line
}
