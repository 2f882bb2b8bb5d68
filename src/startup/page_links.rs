//! The deployment's page links (`[page_links]`): who signs them and, for links Custodian
//! serves itself, the HTTP listener bound beside the gRPC one.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::domain::{Archive, PageLinks, ServedLinks};
use crate::links::PageLinkMode;
use crate::settings::Settings;
use crate::storage::PresignedLinks;

/// The bound listener of served links, with the signer that checks them.
pub(super) struct LinkListener {
    listener: TcpListener,
    signer: ServedLinks,
}

impl LinkListener {
    pub(super) fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves the links until the task is aborted.
    pub(super) fn spawn(self, archive: Archive) -> JoinHandle<anyhow::Result<()>> {
        tracing::info!(address = ?self.local_addr(), "serving page links");
        tokio::spawn(crate::links::serve(self.listener, archive, self.signer))
    }
}

/// The page links `settings` ask for, and the listener to serve them on when Custodian serves
/// them itself.
pub(super) async fn page_links(
    settings: &Settings,
) -> anyhow::Result<(Option<PageLinks>, Option<LinkListener>)> {
    let config = &settings.page_links;
    let lifetimes = config.lifetimes();
    match config.mode {
        PageLinkMode::Off => Ok((None, None)),
        PageLinkMode::Presigned => {
            let signer = PresignedLinks::open(&settings.object_store)
                .context("invalid page_links settings")?;
            Ok((
                Some(PageLinks {
                    signer: Arc::new(signer),
                    lifetimes,
                }),
                None,
            ))
        }
        PageLinkMode::Served => {
            let listener = TcpListener::bind(config.listen_addr)
                .await
                .with_context(|| {
                    format!("cannot listen on {} for page links", config.listen_addr)
                })?;
            let bound = listener
                .local_addr()
                .context("the page link listener has no local address")?;
            let signer = ServedLinks::new(&config.base_url(bound), config.signing_key.clone())
                .map_err(anyhow::Error::msg)
                .context("invalid page_links settings")?;
            Ok((
                Some(PageLinks {
                    signer: Arc::new(signer.clone()),
                    lifetimes,
                }),
                Some(LinkListener { listener, signer }),
            ))
        }
    }
}
