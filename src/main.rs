use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = agentbox::cli::Cli::parse();
    agentbox::cli::run(cli)
}
