//! Callers: the test tokens (claims, issuer, audience, signing key) and the interceptor that
//! sends one with every call.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::pages::fixture;

pub const ISSUER: &str = "https://idp.test.custodian";
pub const AUDIENCE: &str = "custodian";

/// A channel whose calls carry one caller's bearer token.
pub type Authorized = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer …` to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// Sends `token`, or no `authorization` at all.
    pub fn new(token: Option<&str>) -> Self {
        Self(token.map(|token| {
            MetadataValue::try_from(format!("Bearer {token}")).expect("a token is ASCII")
        }))
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    }
}

/// The claims of a test token and how it is signed.
#[derive(Debug, Clone)]
pub struct Token {
    pub system: Option<String>,
    pub person: Option<String>,
    pub role: Option<String>,
    pub org_unit: Option<String>,
    pub account: Option<String>,
    pub issuer: String,
    pub audience: String,
    /// Seconds from now.
    pub expires_in: i64,
    pub not_before_in: i64,
    pub algorithm: jsonwebtoken::Algorithm,
    pub key_file: String,
}

impl Token {
    /// A token of `system` acting in `role` for person `tester` within `org_unit`.
    pub fn new(system: &str, role: &str, org_unit: Option<&str>) -> Self {
        Self {
            system: Some(system.into()),
            person: Some("tester".into()),
            role: Some(role.into()),
            org_unit: org_unit.map(Into::into),
            account: None,
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            expires_in: 600,
            not_before_in: -5,
            algorithm: jsonwebtoken::Algorithm::EdDSA,
            key_file: "issuer-ed25519.pem".into(),
        }
    }

    /// The default caller of the tests: a custodian of province 12.
    pub fn custodian() -> Self {
        Self::new("archive-desk", "province-custodian", Some("12"))
    }

    pub fn mint(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut claims = serde_json::json!({
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now + self.not_before_in,
            "exp": now + self.expires_in,
        });
        let fields = [
            ("sub", &self.person),
            ("client_id", &self.system),
            ("role", &self.role),
            ("org_unit", &self.org_unit),
            ("account_number", &self.account),
        ];
        for (claim, value) in fields {
            if let Some(value) = value {
                claims[claim] = serde_json::Value::String(value.clone());
            }
        }
        let pem = std::fs::read(fixture(&self.key_file)).expect("the fixture key exists");
        let key = match self.algorithm {
            jsonwebtoken::Algorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_pem(&pem),
            _ => jsonwebtoken::EncodingKey::from_rsa_pem(&pem),
        }
        .expect("the fixture key parses");
        jsonwebtoken::encode(&jsonwebtoken::Header::new(self.algorithm), &claims, &key)
            .expect("the token signs")
    }
}
