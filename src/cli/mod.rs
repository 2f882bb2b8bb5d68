//! The `custodian` command: `serve` and `migrate` for operators, and a small client for people
//! who want to try the API without writing code.

mod client;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::settings::Settings;
use crate::startup::{App, shutdown_signal};
use crate::storage::Database;

#[derive(Debug, Parser)]
#[command(
    name = "custodian",
    version,
    about = "The customer archive of an electric utility"
)]
pub struct Cli {
    /// A TOML settings file; `CUSTODIAN_*` environment variables override it.
    #[arg(long, global = true, env = "CUSTODIAN_CONFIG_FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the gRPC server until Ctrl-C or SIGTERM.
    Serve,
    /// Applies pending database migrations, then exits.
    Migrate,
    #[command(flatten)]
    Client(client::ClientCommand),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve => {
                let settings = self.settings()?;
                crate::telemetry::init(&settings.log);
                let app = App::build(settings).await?;
                app.run(shutdown_signal()).await
            }
            Command::Migrate => {
                let settings = self.settings()?;
                crate::telemetry::init(&settings.log);
                let database = Database::connect_lazy(
                    &settings.database.url,
                    1,
                    std::time::Duration::from_secs(settings.database.acquire_timeout_secs),
                )?;
                database.migrate().await.context("migration failed")?;
                tracing::info!("database is up to date");
                Ok(())
            }
            Command::Client(command) => command.run().await,
        }
    }

    fn settings(&self) -> anyhow::Result<Settings> {
        Settings::load(self.config.as_deref()).context("invalid settings")
    }
}
