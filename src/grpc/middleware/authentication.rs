//! Authentication: every call but health carries a signed bearer token naming the calling
//! system and the person it acts for. Verified here, it becomes the call's [`Actor`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tonic::{Request, Status};

use super::checkpoint::{CheckpointLayer, Gatekeeper};
use super::reply_progress::CallerSlot;
use super::tls::ConnectionInfo;
use super::{Methods, is_health_check};
use crate::domain::{AccountNumber, Actor, Archive, OrgUnitCode, Refusal};

/// A key tokens may be signed with.
#[derive(Clone)]
pub struct TrustedKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

impl TrustedKey {
    /// Reads a PEM public key for `algorithm` (`EdDSA`, `RS256`, `ES256`, …; never `none` or
    /// an HMAC algorithm, whose secret would have to be shared with every issuer).
    pub fn from_pem(algorithm: &str, pem: &[u8]) -> anyhow::Result<Self> {
        let algorithm: Algorithm = algorithm
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown token algorithm {algorithm:?}"))?;
        let key = match algorithm {
            Algorithm::EdDSA => DecodingKey::from_ed_pem(pem)?,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => DecodingKey::from_rsa_pem(pem)?,
            Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem)?,
            other => {
                anyhow::bail!("token algorithm {other:?} is not accepted: use an asymmetric one")
            }
        };
        Ok(Self { algorithm, key })
    }
}

/// The claims Custodian reads from a token.
#[derive(Debug, Deserialize)]
struct Claims {
    /// The person the call is made for.
    sub: Option<String>,
    /// The calling system (RFC 9068).
    client_id: Option<String>,
    role: Option<String>,
    org_unit: Option<String>,
    account_number: Option<String>,
    exp: u64,
}

/// Tokens verified recently, so a caller that reuses its token for many calls pays for the
/// signature check once a minute rather than on every call. Keyed by the token's SHA-256.
#[derive(Default)]
struct VerifiedTokens {
    entries: Mutex<HashMap<[u8; 32], Verified>>,
}

#[derive(Clone)]
struct Verified {
    actor: Actor,
    expires_at: u64,
    verified_at: Instant,
}

/// Entries are dropped all at once beyond this many (a crude bound, ample for real callers).
const CACHED_TOKENS: usize = 10_000;
/// A cached token is verified again after this long, so a withdrawn key stops working soon.
const REVERIFY_AFTER: Duration = Duration::from_secs(60);

impl VerifiedTokens {
    fn get(&self, key: &[u8; 32], now: u64, leeway: u64) -> Option<(Actor, u64)> {
        let entries = self.entries.lock().ok()?;
        let verified = entries.get(key)?;
        (now <= verified.expires_at + leeway && verified.verified_at.elapsed() < REVERIFY_AFTER)
            .then(|| (verified.actor.clone(), verified.expires_at))
    }

    fn put(&self, key: [u8; 32], actor: &Actor, expires_at: u64) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHED_TOKENS {
                entries.clear();
            }
            let verified = Verified {
                actor: actor.clone(),
                expires_at,
                verified_at: Instant::now(),
            };
            entries.insert(key, verified);
        }
    }
}

/// Verifies tokens and turns them into actors; records refusals in the audit trail.
#[derive(Clone)]
pub struct Authenticator {
    keys: Arc<Vec<TrustedKey>>,
    issuer: String,
    audience: String,
    leeway_secs: u64,
    archive: Archive,
    verified: Arc<VerifiedTokens>,
}

impl Authenticator {
    pub fn new(
        keys: Vec<TrustedKey>,
        issuer: String,
        audience: String,
        leeway_secs: u64,
        archive: Archive,
    ) -> Self {
        Self {
            keys: Arc::new(keys),
            issuer,
            audience,
            leeway_secs,
            archive,
            verified: Arc::default(),
        }
    }

    /// The actor a bearer token names with the token's expiry (`exp`, Unix seconds), or why
    /// it names none.
    pub fn verify(&self, token: &str, request_id: String) -> Result<(Actor, u64), String> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = jsonwebtoken::get_current_timestamp();
        if let Some((actor, expires_at)) = self.verified.get(&key, now, self.leeway_secs) {
            let actor = Actor {
                request_id,
                ..actor
            };
            return Ok((actor, expires_at));
        }
        let (actor, expires_at) = self.verify_signature(token, request_id)?;
        self.verified.put(key, &actor, expires_at);
        Ok((actor, expires_at))
    }

    fn verify_signature(&self, token: &str, request_id: String) -> Result<(Actor, u64), String> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| "the bearer token is not a JWT".to_string())?;
        let mut last_error = String::from("no verification key is configured");
        for trusted in self.keys.iter().filter(|k| k.algorithm == header.alg) {
            let mut validation = Validation::new(trusted.algorithm);
            validation.set_issuer(&[&self.issuer]);
            validation.set_audience(&[&self.audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            validation.leeway = self.leeway_secs;
            validation.validate_nbf = true;
            match jsonwebtoken::decode::<Claims>(token, &trusted.key, &validation) {
                Ok(data) => {
                    let expires_at = data.claims.exp;
                    return actor_from(data.claims, request_id).map(|actor| (actor, expires_at));
                }
                Err(error) => last_error = describe(&error),
            }
        }
        if !self.keys.iter().any(|k| k.algorithm == header.alg) {
            last_error = format!("tokens signed with {:?} are not accepted", header.alg);
        }
        Err(last_error)
    }
}

fn actor_from(claims: Claims, request_id: String) -> Result<Actor, String> {
    let required = |value: Option<String>, claim: &str| {
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("the token lacks the {claim} claim"))
    };
    Ok(Actor {
        person: required(claims.sub, "sub (the acting person)")?,
        system: required(claims.client_id, "client_id (the calling system)")?,
        role: required(claims.role, "role")?,
        org_unit: claims
            .org_unit
            .map(|code| OrgUnitCode::parse(&code))
            .transpose()
            .map_err(|reason| format!("the token's org_unit claim is malformed: {reason}"))?,
        account: claims
            .account_number
            .map(|account| AccountNumber::parse(&account))
            .transpose()
            .map_err(|reason| format!("the token's account_number claim is malformed: {reason}"))?,
        request_id,
    })
}

fn describe(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidSignature => "the token's signature does not verify".into(),
        ErrorKind::InvalidAudience => "the token is meant for another audience".into(),
        ErrorKind::InvalidIssuer => "the token comes from an unknown issuer".into(),
        ErrorKind::InvalidAlgorithm => "the token's algorithm does not match the key".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token lacks the {claim} claim"),
        _ => "the token is malformed".into(),
    }
}

impl Authenticator {
    /// The actor of a call from its metadata, or the refusal, recorded in the audit trail as
    /// `action` from `peer` (coalesced with the same refusals from the same peer).
    fn authenticate(
        &self,
        action: &str,
        headers: &http::HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<(Actor, u64), Status> {
        let request_id = headers
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .filter(|id| !id.is_empty() && id.len() <= 128)
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let verified = match token {
            Some(token) => self.verify(token.trim(), request_id.clone()),
            None => Err("a bearer token is required in the authorization metadata".into()),
        };
        verified.map_err(|reason| {
            self.archive
                .record_refusal(Refusal::new(peer, action, &reason, request_id));
            Status::unauthenticated(reason)
        })
    }
}

/// How calls get their actor.
#[derive(Clone)]
pub enum Gate {
    /// From a verified bearer token: always, except in benchmarks (boxed: it is large, and
    /// cloned once per connection).
    Tokens(Box<Authenticator>),
    /// One fixed actor for every call, without any token: only for measuring what security
    /// costs, compiled only with the `bench-bypass` feature.
    #[cfg(feature = "bench-bypass")]
    Fixed(Actor),
}

impl Gate {
    /// The archive that records what the middleware refuses or cuts off; `None` without
    /// tokens, where nothing is recorded.
    pub(super) fn archive(&self) -> Option<&Archive> {
        match self {
            Gate::Tokens(authenticator) => Some(&authenticator.archive),
            #[cfg(feature = "bench-bypass")]
            Gate::Fixed(_) => None,
        }
    }
}

/// Gives every call but health its [`Actor`], or refuses it UNAUTHENTICATED before any
/// service decodes it.
pub type AuthenticationLayer = CheckpointLayer<Authentication>;

#[derive(Clone)]
pub struct Authentication {
    pub(super) gate: Gate,
    pub(super) methods: Arc<Methods>,
}

impl Gatekeeper for Authentication {
    type Place = ();

    fn admit<B>(&self, request: &mut http::Request<B>) -> Result<Option<()>, Status> {
        // Health stays reachable without a token, for probes and load balancers.
        if is_health_check(request.uri().path()) {
            return Ok(None);
        }
        let (actor, expires_at) = match &self.gate {
            Gate::Tokens(authenticator) => {
                let action = self.methods.action_of(request.uri().path());
                let (actor, expires_at) =
                    authenticator.authenticate(action, request.headers(), peer_of(request))?;
                let connection = request.extensions().get::<ConnectionInfo>();
                // Under mutual TLS the token must come from the system the certificate names.
                if connection.is_some_and(|c| !c.certificate_names(&actor.system)) {
                    let reason = "the client certificate does not name the token's client_id";
                    authenticator.archive.record_refusal(Refusal::new(
                        peer_of(request),
                        action,
                        reason,
                        actor.request_id,
                    ));
                    return Err(Status::unauthenticated(reason));
                }
                (actor, Some(expires_at))
            }
            #[cfg(feature = "bench-bypass")]
            Gate::Fixed(actor) => (actor.clone(), None),
        };
        if let Some(expires_at) = expires_at {
            let secs = i64::try_from(expires_at).unwrap_or(i64::MAX);
            request.extensions_mut().insert(TokenExpiry(secs));
        }
        if let Some(slot) = request.extensions().get::<CallerSlot>() {
            slot.fill(&actor);
        }
        // tonic hands the request's extensions on to the service's `Request`.
        request.extensions_mut().insert(actor);
        Ok(None)
    }
}

/// The caller's IP address: tonic's transport puts the connection's [`ConnectionInfo`] in
/// every request's extensions before the middleware sees it. The port is left out, so that a
/// caller opening connection after connection is still one peer.
pub(super) fn peer_of<B>(request: &http::Request<B>) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectionInfo>()
        .and_then(|connection| connection.tcp.remote_addr())
        .map(|address| address.ip())
}

/// The actor the authentication layer attached to a request.
/// When the caller's token expires (`exp`, Unix seconds): what it grants must not outlive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenExpiry(pub i64);

/// The expiry of the call's token; `None` where calls carry none (the benchmark's bypass).
pub fn token_expiry<T>(request: &Request<T>) -> Option<chrono::DateTime<chrono::Utc>> {
    let TokenExpiry(secs) = request.extensions().get::<TokenExpiry>()?;
    chrono::DateTime::from_timestamp(*secs, 0)
}

pub fn actor<T>(request: &Request<T>) -> Result<Actor, Status> {
    request
        .extensions()
        .get::<Actor>()
        .cloned()
        .ok_or_else(|| Status::internal("the request bypassed authentication"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor {
            system: "marketing".into(),
            person: "clerk-1".into(),
            role: "counter-clerk".into(),
            org_unit: None,
            account: None,
            request_id: "r".into(),
        }
    }

    #[test]
    fn a_cached_token_is_served_until_it_expires() {
        let cache = VerifiedTokens::default();
        cache.put([1; 32], &actor(), 1_000);
        assert_eq!(cache.get(&[1; 32], 999, 0), Some((actor(), 1_000)));
        assert_eq!(
            cache.get(&[1; 32], 1_005, 10),
            Some((actor(), 1_000)),
            "within the leeway"
        );
        assert_eq!(cache.get(&[1; 32], 1_001, 0), None, "expired");
        assert_eq!(cache.get(&[2; 32], 999, 0), None, "another token");
    }

    #[test]
    fn hmac_and_none_algorithms_are_not_accepted_as_keys() {
        for algorithm in ["HS256", "none"] {
            assert!(
                TrustedKey::from_pem(algorithm, b"secret").is_err(),
                "{algorithm}"
            );
        }
    }
}
