//! The `shequn` binary: parses the command line, loads configuration,
//! starts logging and dispatches. Everything else lives in the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = shequn::cli::Cli::parse();
    let settings = match shequn::config::Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shequn: invalid configuration: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    shequn::telemetry::init(&settings.log);
    match shequn::cli::run(cli, settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shequn: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
