//! Generates the gRPC code from `proto/` with protox (pure Rust, no protoc) and writes the
//! descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "proto/custodian/v1/customers.proto",
    "proto/custodian/v1/documents.proto",
    "proto/custodian/v1/pages.proto",
    "proto/custodian/v1/document_types.proto",
    "proto/custodian/v1/audit.proto",
    "proto/custodian/v1/retention.proto",
    "proto/custodian/v1/disposal.proto",
    "proto/custodian/v1/completeness.proto",
    "proto/custodian/v1/export.proto",
    "proto/custodian/v1/lending.proto",
    "proto/custodian/v1/paper.proto",
    "proto/custodian/v1/search.proto",
    "proto/custodian/v1/statistics.proto",
    "proto/custodian/v1/scan_quality.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    // sqlx::migrate! embeds the files of migrations/ and cannot ask cargo to watch them on stable.
    println!("cargo:rerun-if-changed=migrations");
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("custodian_descriptor.bin"),
        fds.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        // Page bytes stay `Bytes` so chunks move between the network and the store uncopied.
        .bytes(".custodian.v1")
        .compile_fds(fds)?;
    Ok(())
}
