//! Logging set-up: `--log.level`, `--log.format=text|json`, with `RUST_LOG` taking precedence.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    /// Everything, but russh and tokio_postgres stay at info (see `init`).
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (logfmt-like key=value fields).
    Text,
    /// One JSON object per line with timestamp, level, target, fields and span.
    Json,
}

impl LogLevel {
    fn directive(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Installs the global subscriber. Logs go to stderr so stdout stays free for command output.
pub fn init(level: LogLevel, format: LogFormat) {
    // russh stays at info even with --log.level debug or trace: its trace level dumps SSH packets in
    // clear, passwords included (only an explicit RUST_LOG can turn that on). tokio_postgres
    // too: at debug it logs every statement with its parameters.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{},hyper=warn,h2=warn,russh=info,tokio_postgres=info",
            level.directive()
        ))
    });
    // Colours only on a terminal: escape codes in files and journald are noise.
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber; nothing to do.
    let _ = result;
}
