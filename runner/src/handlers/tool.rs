//! Running an outside program for a task (`git`, `svn`, `svnmucc`): with nothing of the
//! runner's environment but `PATH` and what the caller sets, in a process group of its own that
//! is killed when the task's deadline passes, the task is cancelled or the program outlives its
//! own time limit, so helpers it started (git-remote-https, an ssh tunnel) end with it. What it
//! prints is kept only up to a bound: a hostile server can make a client print without end.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// The longest one command may take when the task's deadline is further.
const TIMEOUT: Duration = Duration::from_secs(600);
/// What is kept of a program's error output.
const STDERR_KEPT: u64 = 64 << 10;

/// One run of a program.
#[derive(Debug)]
pub struct Command<'a> {
    pub program: &'a str,
    pub args: Vec<String>,
    pub dir: &'a Path,
    /// Set besides `PATH` (everything else is cleared).
    pub env: Vec<(&'static str, OsString)>,
    /// Written to the program's standard input, which is then closed (a password).
    pub stdin: Option<String>,
    /// Bytes of standard output kept (`0`: it is discarded).
    pub keep_stdout: u64,
}

/// How a program ended.
#[derive(Debug)]
pub struct Ran {
    pub success: bool,
    /// Its error output's lines, joined, at most 500 characters.
    pub said: String,
    /// Its standard output, up to `keep_stdout` bytes.
    pub stdout: Vec<u8>,
    /// Whether it printed more than that.
    pub stdout_cut: bool,
}

/// Reads all of `from`, keeping the first `keep` bytes and whether there was more.
async fn drain(mut from: impl AsyncRead + Unpin, keep: u64) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let _ = (&mut from).take(keep).read_to_end(&mut kept).await;
    let rest = tokio::io::copy(&mut from, &mut tokio::io::sink()).await.unwrap_or(0);
    (kept, rest > 0)
}

/// Runs `command` to its end within `limits`; `Err` says why it could not run or was stopped.
pub async fn run(command: Command<'_>, limits: &checks::Limits) -> Result<Ran, String> {
    let name = format!("{} {}", command.program, subcommand(&command.args));
    let mut process = tokio::process::Command::new(command.program);
    process
        .current_dir(command.dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // UTF-8, so that names and messages beyond ASCII pass (svn converts from the locale).
        .env("LC_ALL", "C.UTF-8")
        .envs(command.env.iter().map(|(k, v)| (k, v)))
        .args(&command.args)
        .stdin(if command.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(if command.keep_stdout > 0 { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = process.spawn().map_err(|e| format!("cannot run {}: {e}", command.program))?;
    let group = child.id().and_then(|id| rustix::process::Pid::from_raw(i32::try_from(id).ok()?));
    let kill_group = || {
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    };
    if let (Some(mut stdin), Some(text)) = (child.stdin.take(), command.stdin) {
        tokio::spawn(async move {
            let _ = stdin.write_all(text.as_bytes()).await;
        });
    }
    let stderr = child.stderr.take().ok_or_else(|| format!("{name} has no error output"))?;
    let errors = tokio::spawn(drain(stderr, STDERR_KEPT));
    let output = child.stdout.take().map(|stdout| tokio::spawn(drain(stdout, command.keep_stdout)));
    let started = Instant::now();
    let limit = limits.deadline.map_or(TIMEOUT, |d| d.saturating_duration_since(started).min(TIMEOUT));
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.map_err(|e| format!("{name}: {e}"))?,
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                if limits.expired() || started.elapsed() > limit {
                    kill_group();
                    let _ = child.wait().await;
                    return Err(format!("{name} was stopped after {:?}", started.elapsed()));
                }
            }
        }
    };
    kill_group();
    let (kept, _) = errors.await.unwrap_or_default();
    let (stdout, stdout_cut) = match output {
        Some(reading) => reading.await.unwrap_or_default(),
        None => (Vec::new(), false),
    };
    let said = String::from_utf8_lossy(&kept).lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join(" ");
    Ok(Ran { success: status.success(), said: said.chars().take(500).collect(), stdout, stdout_cut })
}

/// The subcommand of `args` (after any `-c name=value` options), for messages.
fn subcommand(args: &[String]) -> &str {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "-c" {
            iter.next();
        } else if !arg.starts_with('-') {
            return arg;
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, keep_stdout: u64, stdin: Option<&str>) -> Command<'static> {
        Command {
            program: "sh",
            args: vec!["-c".into(), script.into()],
            dir: Path::new("/"),
            env: vec![("SECRET_LIKE", "kept".into())],
            stdin: stdin.map(str::to_owned),
            keep_stdout,
        }
    }

    #[tokio::test]
    async fn output_is_bounded_and_the_environment_is_the_callers() {
        let limits = checks::Limits::default();
        let ran =
            run(sh("echo \"$SECRET_LIKE ${HOME:-none}\"; echo oops >&2; exit 3", 100, None), &limits).await.unwrap();
        assert!(!ran.success);
        assert_eq!(String::from_utf8_lossy(&ran.stdout), "kept none\n", "HOME is not inherited");
        assert_eq!(ran.said, "oops");
        let ran = run(sh("head -c 100000 /dev/zero", 10, None), &limits).await.unwrap();
        assert_eq!((ran.stdout.len(), ran.stdout_cut), (10, true));
        let ran = run(sh("read line; echo \"got $line\"", 100, Some("secret\n")), &limits).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&ran.stdout), "got secret\n");
    }

    #[tokio::test]
    async fn a_program_past_the_deadline_is_killed_with_its_children() {
        let limits =
            checks::Limits { deadline: Some(Instant::now() + Duration::from_millis(300)), ..checks::Limits::default() };
        let started = Instant::now();
        let stopped = run(sh("sleep 30 & sleep 30", 0, None), &limits).await.unwrap_err();
        assert!(stopped.contains("was stopped"), "{stopped}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }
}
