//! The `madoguchi` command: parses arguments and hands over to [`madoguchi::cli::run`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = madoguchi::cli::Cli::parse();
    madoguchi::telemetry::init();
    match madoguchi::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{}", madoguchi::cli::error_report(&err));
            ExitCode::from(1)
        }
    }
}
