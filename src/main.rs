//! The `ispmonitor` binary: parse the command line, set up logging, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use ispmonitor::cli::{Cli, Command};
use ispmonitor::{admin, app, catalog, demo, healthcheck, license, telemetry};

/// mimalloc instead of glibc's malloc: a poll allocates and frees thousands of small values
/// (OIDs, label text, samples), and glibc spent over 40 % of the SNMP poller's CPU in
/// `_int_malloc`, `unlink_chunk` and `malloc_consolidate` (perf, 500 simulated routers).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ispmonitor::memory::disable_transparent_huge_pages();
    let cli = Cli::parse();
    telemetry::init(cli.log_level, cli.log_format);
    match cli.command {
        Command::CheckConfig(args) => exit_code(app::check_config(&args.config)),
        Command::MetricsDoc => {
            print!("{}", catalog::markdown());
            ExitCode::SUCCESS
        }
        Command::Openapi => {
            print!("{}", ispmonitor::api::openapi::document_text());
            ExitCode::SUCCESS
        }
        Command::Serve(args) => run_async(app::serve(args)),
        Command::Simulate(args) => run_async(demo::simulate(*args)),
        Command::Demo(args) => run_async(demo::demo(*args)),
        Command::Healthcheck(args) => run_async(healthcheck::check(&args.url)),
        Command::Migrate(args) => run_async(admin::migrate(args)),
        Command::Token(command) => run_async(admin::token(command)),
        Command::License(command) => ExitCode::from(license::commands::run(
            &command,
            std::time::SystemTime::now(),
        )),
        Command::Diagnostics(args) => run_async(async {
            if ispmonitor::diagnostics::run(args).await? {
                Ok(())
            } else {
                Err(anyhow::anyhow!("a check failed (see the report)"))
            }
        }),
    }
}

fn run_async(task: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ispmonitor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ispmonitor: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
