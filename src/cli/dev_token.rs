//! `custodian dev-token`: mints a token with a local development key, so that a newcomer's
//! setup is secured from the first run. Production tokens come from the utility's identity
//! provider.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Args;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

#[derive(Debug, Args)]
pub struct DevTokenArgs {
    /// The Ed25519 private key (PEM) whose public half the server trusts.
    #[arg(
        long,
        env = "CUSTODIAN_DEV_SIGNING_KEY",
        default_value = ".dev/dev-signing-key.pem"
    )]
    signing_key: PathBuf,
    /// The calling system (a system of the policy).
    #[arg(long, default_value = "archive-desk")]
    system: String,
    /// The acting person.
    #[arg(long, default_value = "dev-custodian")]
    person: String,
    /// The role (a role the policy lets the system assert).
    #[arg(long, default_value = "province-custodian")]
    role: String,
    /// The person's org unit, for org-scoped roles.
    #[arg(long, default_value = "12")]
    org_unit: String,
    /// The person's own account, for the customer role.
    #[arg(long)]
    account: Option<String>,
    #[arg(long, env = "CUSTODIAN_AUTH__ISSUER", default_value = "custodian-dev")]
    issuer: String,
    #[arg(long, env = "CUSTODIAN_AUTH__AUDIENCE", default_value = "custodian")]
    audience: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    ttl: u64,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    client_id: &'a str,
    role: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    org_unit: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_number: Option<&'a str>,
    iat: u64,
    nbf: u64,
    exp: u64,
}

impl DevTokenArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let pem = std::fs::read(&self.signing_key)
            .with_context(|| format!("cannot read {}", self.signing_key.display()))?;
        let key =
            EncodingKey::from_ed_pem(&pem).context("the signing key is not an Ed25519 PEM")?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = Claims {
            iss: &self.issuer,
            aud: &self.audience,
            sub: &self.person,
            client_id: &self.system,
            role: &self.role,
            org_unit: &self.org_unit,
            account_number: self.account.as_deref(),
            iat: now,
            nbf: now,
            exp: now + self.ttl,
        };
        println!(
            "{}",
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key)?
        );
        Ok(())
    }
}
