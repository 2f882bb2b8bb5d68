//! Custodian at county scale (issue 6): a deterministic county generator and the workloads
//! that measure Custodian against the limits of the same machine, in one run.
//!
//! ```text
//! cargo bench --bench county -- generate --preset small|county --seed 1
//! cargo bench --bench county -- run --preset county --baseline small
//! ```
//!
//! `make bench-county` does both for the small preset against the local services. The
//! backends come from the `CUSTODIAN_*` environment of `scripts/services.sh env`; each preset
//! has its own database (`custodian_bench_<preset>`, or `BENCH_DATABASE` when set), and every
//! object lives below the
//! `bench-county/` prefix of the bucket.

mod calls;
#[path = "../common/mod.rs"]
mod common;
mod cpu;
mod dataset;
mod finding;
mod large;
mod lending;
mod loader;
mod objects;
mod renditions;
mod report;
mod screens;
mod server;
mod storage;
mod targets;
mod transfer;
mod workloads;

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

/// Where every object of the benchmark lives in the bucket.
pub const OBJECT_PREFIX: &str = "bench-county";

#[derive(Parser)]
#[command(name = "county", about = "Custodian at county scale")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates (or recreates) the preset's database and uploads its page objects.
    Generate {
        #[arg(long, value_enum, default_value = "small")]
        preset: Preset,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Runs the workloads and prints the table.
    Run(Box<workloads::RunArgs>),
    /// Deletes every object below the benchmark's prefix except the generated page images
    /// (what an interrupted run may have left behind).
    Clean {
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// The sizes of county the generator makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// 1,000 accounts, about 10,000 documents: a quick run.
    Small,
    /// 300,000 accounts, about 3 million documents: one county supply company.
    County,
}

impl Preset {
    pub fn accounts(self) -> u64 {
        match self {
            Self::Small => 1_000,
            Self::County => 300_000,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::County => "county",
        }
    }

    /// The database of this preset: `custodian_bench_<preset>`, or what `BENCH_DATABASE`
    /// names, so that branches whose migrations differ keep one county each.
    pub fn database_name(self) -> String {
        std::env::var("BENCH_DATABASE")
            .ok()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| format!("custodian_bench_{}", self.name()))
    }

    /// The database of this preset, next to the one `CUSTODIAN_DATABASE__URL` names.
    pub fn database_url(self) -> anyhow::Result<String> {
        let admin = env("CUSTODIAN_DATABASE__URL")?;
        let (server, _) = admin
            .rsplit_once('/')
            .ok_or_else(|| anyhow::anyhow!("CUSTODIAN_DATABASE__URL has no database name"))?;
        Ok(format!("{server}/{}", self.database_name()))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if common::run_by_cargo_test() {
        return Ok(());
    }
    // `cargo bench` passes `--bench` to every bench binary: drop it.
    let args = std::env::args().filter(|arg| arg != "--bench");
    match Cli::parse_from(args).command {
        Command::Generate { preset, seed } => generate(preset, seed).await,
        Command::Run(args) => workloads::run(*args).await,
        Command::Clean { seed } => {
            let removed = objects::clean(&object_store()?, &objects::PagePool::new(seed)).await?;
            println!("removed {removed} objects");
            Ok(())
        }
    }
}

async fn generate(preset: Preset, seed: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let store = object_store()?;
    let phase = Instant::now();
    let pool = std::sync::Arc::new(objects::PagePool::new(seed));
    let uploaded = objects::upload(&store, &pool).await?;
    println!(
        "page objects: {} shared small + {} realistic-size, {uploaded} uploaded, in {:.1} s",
        pool.small.len(),
        pool.large.len(),
        phase.elapsed().as_secs_f64()
    );
    loader::load(preset, seed, pool).await?;
    println!(
        "generated preset {} (seed {seed}) in {:.1} s",
        preset.name(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The benchmark's part of the bucket, opened the way the server opens it.
pub fn object_store() -> anyhow::Result<std::sync::Arc<dyn object_store::ObjectStore>> {
    use custodian::storage::{ObjectStoreKind, ObjectStoreSettings, PayloadSigning, S3Settings};
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    let settings = ObjectStoreSettings {
        kind: ObjectStoreKind::S3,
        prefix: OBJECT_PREFIX.into(),
        s3: Some(S3Settings {
            endpoint: env("CUSTODIAN_OBJECT_STORE__S3__ENDPOINT")?,
            bucket: env("CUSTODIAN_OBJECT_STORE__S3__BUCKET")?,
            region: "us-east-1".into(),
            access_key_id: env("CUSTODIAN_OBJECT_STORE__S3__ACCESS_KEY_ID")?,
            secret_access_key: SecretString::from(env(
                "CUSTODIAN_OBJECT_STORE__S3__SECRET_ACCESS_KEY",
            )?),
            allow_http: true,
            // The server started by `run` inherits the same variable: both sides sign alike.
            payload_signing: match std::env::var("CUSTODIAN_OBJECT_STORE__S3__PAYLOAD_SIGNING") {
                // Read as the server reads it, so a value it refuses is refused here too.
                Ok(value) => PayloadSigning::deserialize(value.as_str().into_deserializer())
                    .map_err(|error: serde::de::value::Error| {
                        anyhow::anyhow!("CUSTODIAN_OBJECT_STORE__S3__PAYLOAD_SIGNING: {error}")
                    })?,
                Err(_) => PayloadSigning::Auto,
            },
        }),
        ..ObjectStoreSettings::default()
    };
    Ok(custodian::storage::open_object_store(&settings)?)
}

pub fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|_| {
        anyhow::anyhow!(
            "{name} is not set: run through `make bench-county` or \
             `eval \"$(scripts/services.sh env)\"`"
        )
    })
}

/// Found at run time: the binary may come from another clone sharing the target directory.
pub fn repository_file(relative: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join(relative)
}
