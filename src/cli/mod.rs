//! The `custodian` command: `serve`, `migrate`, audit verification and the rendition backfill
//! for operators, a
//! development token minter, the importer of legacy archives, and a small client for people who want to try the API without
//! writing code.

mod client;
mod dev_token;
mod export;
mod import;
mod lending;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::settings::Settings;
use crate::startup::{App, chain_key, shutdown_signal};
use crate::storage::{AuditCheckpoints, Database, open_object_store};
use crate::telemetry::Telemetry;

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
    /// Runs the gRPC server until Ctrl-C or SIGTERM; SIGHUP reloads the access policy.
    Serve,
    /// Applies pending database migrations, then exits.
    Migrate,
    /// Recomputes the audit chain straight from the database, checks that it reaches the newest
    /// checkpoint in the object store, and reports where it breaks.
    VerifyAuditChain,
    /// Lists the stored pages whose last fixity check failed (bytes that no longer hash to
    /// their address, or a missing object) with the documents that show them; exits non-zero
    /// if there is any.
    FixityFailures,
    /// Queues the renditions (thumbnail, preview) of pages stored before renditions existed,
    /// for the servers' rendition workers to make.
    BackfillRenditions {
        /// Also queue again the pages whose renditions failed (after a decoder upgrade) or were
        /// skipped as too large (after `renditions.max_page_bytes` or `max_pixels` is raised).
        #[arg(long)]
        retry_failed: bool,
    },
    /// Recounts the statistics (archives, documents, pages, bytes) from the documents and
    /// customers themselves and compares them with the rollups kept with every change; prints
    /// each difference and exits non-zero if there is any. Scans everything.
    CheckStatistics,
    /// Prints a signed development token (never use the dev key in production).
    DevToken(dev_token::DevTokenArgs),
    /// Brings legacy archives in from a JSON Lines manifest: checks it whole, files with
    /// their original dates, resumes where an interrupted run stopped, verifies at the end.
    Import(import::ImportArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve => {
                let settings = self.settings()?;
                let (telemetry, dispatch) = Telemetry::build(&settings.log, &settings.telemetry)?;
                tracing::dispatcher::set_global_default(dispatch)?;
                let outcome = match App::build(settings).await {
                    Ok(app) => app.run(shutdown_signal()).await,
                    Err(error) => Err(error),
                };
                telemetry.shutdown().await;
                outcome
            }
            Command::Migrate => {
                let settings = self.settings()?;
                crate::telemetry::init_logs(&settings.log);
                database(&settings)?
                    .migrate()
                    .await
                    .context("migration failed")?;
                tracing::info!("database is up to date");
                Ok(())
            }
            Command::VerifyAuditChain => {
                let settings = self.settings()?;
                let store = open_object_store(&settings.object_store)
                    .context("invalid object store settings")?;
                let checkpoint = AuditCheckpoints::new(store)
                    .latest()
                    .await
                    .context("cannot read the audit chain's checkpoints")?;
                let (verification, _) = database(&settings)?
                    .verify_audit_chain(checkpoint, None)
                    .await
                    .context("cannot verify the audit chain")?;
                match verification.broken_at {
                    None => {
                        println!(
                            "audit chain intact: {} events verified",
                            verification.checked
                        );
                        Ok(())
                    }
                    Some((seq, reason)) => {
                        anyhow::bail!("audit chain broken at event {seq}: {reason}")
                    }
                }
            }
            Command::FixityFailures => {
                let settings = self.settings()?;
                let failures = database(&settings)?
                    .fixity_failures()
                    .await
                    .context("cannot list the fixity failures")?;
                for failure in &failures {
                    let documents: Vec<String> =
                        failure.documents.iter().map(ToString::to_string).collect();
                    println!(
                        "{}\t{}\t{}\t{}",
                        failure.sha256.to_hex(),
                        failure.check_time.to_rfc3339(),
                        failure.failure,
                        documents.join(" ")
                    );
                }
                if failures.is_empty() {
                    println!("no fixity failures");
                    Ok(())
                } else {
                    anyhow::bail!("{} stored pages failed their fixity check", failures.len())
                }
            }
            Command::BackfillRenditions { retry_failed } => {
                let settings = self.settings()?;
                let queued = database(&settings)?
                    .backfill_renditions(retry_failed)
                    .await
                    .context("cannot queue the renditions")?;
                println!("queued {queued} pages for their renditions");
                Ok(())
            }
            Command::CheckStatistics => {
                let settings = self.settings()?;
                let differences = database(&settings)?
                    .statistics_discrepancies()
                    .await
                    .context("cannot recount the statistics")?;
                for difference in &differences {
                    println!("{difference}");
                }
                if differences.is_empty() {
                    println!("statistics agree with a recount");
                    Ok(())
                } else {
                    anyhow::bail!("{} statistics differ from a recount", differences.len())
                }
            }
            Command::DevToken(args) => args.run(),
            Command::Import(args) => args.run().await,
            Command::Client(command) => command.run().await,
        }
    }

    fn settings(&self) -> anyhow::Result<Settings> {
        Settings::load(self.config.as_deref()).context("invalid settings")
    }
}

fn database(settings: &Settings) -> anyhow::Result<Database> {
    Ok(Database::connect_lazy(
        &settings.database.url,
        1,
        std::time::Duration::from_secs(settings.database.acquire_timeout_secs),
        chain_key(&settings.auth),
    )?)
}
