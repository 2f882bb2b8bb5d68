//! The generated gRPC code of `proto/custodian/v1`, for the server and for clients.

#[allow(clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("custodian.v1");
}

/// The encoded descriptors of the API, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/custodian_descriptor.bin"));
