//! `runner`: the Trusted Releases runner, and `runner check` to run the checks locally.

use clap::{Parser, Subcommand};
use runner::config::Config;

/// The Trusted Releases runner: claims check tasks from the datastore, runs them, reports.
///
/// With no command it runs the service, configured from the environment (each option below
/// names its variable). `runner check DIR` runs the same checks on a local folder.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(flatten)]
    config: Config,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (the default).
    Run,
    /// Run the release checks on a folder of release files, as the server would; exits 1 if
    /// any check fails. Example: `runner check ./dist --keys KEYS`.
    Check(checks::local::CheckArgs),
}

#[expect(clippy::print_stdout, reason = "the check report is the command's output")]
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    shared_models::logging::init(cli.config.log_format);
    let outcome = match cli.command.unwrap_or(Command::Run) {
        Command::Run => actix_web::rt::System::new().block_on(runner::service::run(cli.config)).map(|()| false),
        Command::Check(args) => checks::local::check(&args, cli.config.limits()).map(|(report, failed)| {
            println!("{report}");
            failed
        }),
    };
    match outcome {
        Ok(false) => std::process::ExitCode::SUCCESS,
        Ok(true) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
