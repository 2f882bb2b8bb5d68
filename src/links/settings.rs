//! The `[page_links]` settings.

use std::net::SocketAddr;

use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::LinkLifetimes;

/// Who signs page links, and so where browsers fetch them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PageLinkMode {
    /// No links: SignPageUrls answers FAILED_PRECONDITION.
    #[default]
    Off,
    /// Custodian signs them and serves them on `listen_addr` (any object store).
    Served,
    /// The S3 store presigns them and serves them itself (browsers must reach the store).
    Presigned,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PageLinkSettings {
    pub mode: PageLinkMode,
    /// Where served links are answered (mode `served`).
    pub listen_addr: SocketAddr,
    /// The start of every served link as browsers reach it, e.g. `https://archive.example.net`
    /// behind an ingress; empty: `http://{listen_addr}`.
    pub public_base_url: String,
    /// The HMAC key served links are signed with (mode `served`), at least 32 bytes. Every
    /// replica needs the same one; changing it voids the links out there.
    pub signing_key: SecretString,
    /// How long a link lives when the caller asks for no lifetime.
    pub default_lifetime_secs: u64,
    /// The longest a link may live, whatever the caller asks (and never past its token).
    pub max_lifetime_secs: u64,
}

impl Default for PageLinkSettings {
    fn default() -> Self {
        Self {
            mode: PageLinkMode::Off,
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 50052)),
            public_base_url: String::new(),
            signing_key: SecretString::from(String::new()),
            default_lifetime_secs: 300,
            max_lifetime_secs: 900,
        }
    }
}

impl PageLinkSettings {
    pub fn lifetimes(&self) -> LinkLifetimes {
        let secs = |secs: u64| chrono::Duration::seconds(secs.min(i64::MAX as u64) as i64);
        LinkLifetimes {
            default: secs(self.default_lifetime_secs),
            max: secs(self.max_lifetime_secs),
        }
    }

    /// The base of served links: `public_base_url`, or the listener's own address.
    pub fn base_url(&self, listening_on: SocketAddr) -> String {
        if self.public_base_url.is_empty() {
            format!("http://{listening_on}")
        } else {
            self.public_base_url.clone()
        }
    }
}
