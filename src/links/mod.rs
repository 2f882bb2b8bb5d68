//! Page links over plain HTTP: the listener that serves the links Custodian signs itself
//! (`page_links.mode = "served"`), for browsers and deployments whose object store browsers
//! cannot reach. A link is checked (`ServedLinks::verify`) and its content streamed from the
//! archive's store, with what browsers and caches expect of immutable content: its length, an
//! `ETag` that is its digest, byte ranges, and caching for as long as the link lives.

mod server;
mod settings;

pub use server::{router, serve};
pub use settings::{PageLinkMode, PageLinkSettings};
