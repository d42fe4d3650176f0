//! The `partyedu` binary: parses the command line, sets up logging, and runs a subcommand.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use partyedu_server::AppState;
use partyedu_store::EventStore;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "partyedu",
    version,
    about = "Party-member education records and statistics"
)]
struct Cli {
    /// PostgreSQL to use; the database is created when missing.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://root@localhost:5432/partyedu",
        global = true,
        hide_env_values = true
    )]
    database_url: String,
    /// Log line format.
    #[arg(long, env = "PARTYEDU_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database, then serve the HTTP API until SIGINT or SIGTERM.
    Serve {
        /// Address to listen on; port 0 picks a free port (printed in the log).
        #[arg(long, env = "PARTYEDU_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve { listen } => serve(&cli.database_url, listen).await,
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(database_url: &str, listen: SocketAddr) -> anyhow::Result<()> {
    let pool = partyedu_store::prepare_database(database_url)
        .await
        .context("preparing the database")?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    // End-to-end tests and operators read the bound address from this line.
    tracing::info!(address = %listener.local_addr()?, "listening");
    let state = AppState {
        store: EventStore::new(pool),
    };
    partyedu_server::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
