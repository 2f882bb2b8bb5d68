//! What the trail keeps of each field of an event: a length limit and a character rule. Every
//! event passes through [`AuditEvent::bounded`] before it is queued and again right before it
//! is hashed and written, whoever built it, so no caller-chosen text (a token claim, a listing
//! filter, a header) reaches the permanent rows unbounded.
//!
//! And what is kept of an event the database refuses even so: [`AuditEvent::quarantined`],
//! then [`AuditEvent::placeholder`]. An event is never dropped.

use sha2::{Digest, Sha256};

use super::event::AuditEvent;

/// The most bytes (UTF-8) each stored field holds. Longer values are cut at a character
/// boundary and end in `…`; the README lists the same numbers.
pub const MAX_SYSTEM_BYTES: usize = 128;
pub const MAX_PERSON_BYTES: usize = 256;
pub const MAX_ROLE_BYTES: usize = 128;
pub const MAX_ACTION_BYTES: usize = 128;
pub const MAX_RESOURCE_BYTES: usize = 2048;
pub const MAX_OUTCOME_BYTES: usize = 64;
pub const MAX_REQUEST_ID_BYTES: usize = 128;
/// Details (JSON) longer than this are replaced by a note of their size and SHA-256. A
/// destruction list of 1,000 documents needs about 80 KiB.
pub const MAX_DETAILS_BYTES: usize = 256 * 1024;

/// The field limit of an event the database refused: short, ASCII only.
const QUARANTINE_BYTES: usize = 64;

const CUT: char = '…';
/// What an unrecordable character is stored as.
const REPLACEMENT: char = '\u{FFFD}';

/// Whether the trail stores `c` as it is. Not: control characters (NUL, line breaks, escape,
/// DEL, C1), which PostgreSQL refuses (NUL) or which forge lines in whatever displays the
/// trail; nor characters that reorder or hide text on screen (bidirectional controls,
/// zero-width characters, line and paragraph separators), which let a name pass for another.
pub fn is_recordable(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        ))
}

/// Checks a caller's text that the trail will record (a listing filter): refused rather than
/// altered, so that the query and its record say the same.
pub fn check_recordable(text: &str, max_bytes: usize) -> Result<(), String> {
    if text.len() > max_bytes {
        return Err(format!(
            "must be at most {max_bytes} bytes, got {}",
            text.len()
        ));
    }
    if !text.chars().all(is_recordable) {
        return Err("must not contain control, bidirectional or zero-width characters".into());
    }
    Ok(())
}

/// Applies the character rule and the limit to `text` in place; leaves it untouched (and
/// unallocated) when it complies.
fn bound(text: &mut String, max_bytes: usize) {
    if !text.chars().all(is_recordable) {
        *text = text
            .chars()
            .map(|c| if is_recordable(c) { c } else { REPLACEMENT })
            .collect();
    }
    cut(text, max_bytes);
}

/// Cuts `text` to at most `max_bytes`, ending in `…` when anything was cut.
fn cut(text: &mut String, max_bytes: usize) {
    if text.len() <= max_bytes {
        return;
    }
    let mut end = max_bytes.saturating_sub(CUT.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push(CUT);
}

/// `text` in printable ASCII: `\` doubled, anything else as `\u{…}`, cut to `max_bytes`.
fn ascii(text: &str, max_bytes: usize) -> String {
    let mut escaped = String::with_capacity(text.len().min(max_bytes + 8));
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            ' '..='~' => escaped.push(c),
            other => escaped.push_str(&format!("\\u{{{:x}}}", other as u32)),
        }
        if escaped.len() > max_bytes {
            break;
        }
    }
    if escaped.len() > max_bytes {
        let mut end = max_bytes.saturating_sub(3);
        while !escaped.is_char_boundary(end) {
            end -= 1;
        }
        escaped.truncate(end);
        escaped.push_str("...");
    }
    escaped
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl AuditEvent {
    /// The event as the trail stores it: every text field within its limit and free of
    /// unrecordable characters (replaced by U+FFFD). Applying it twice changes nothing.
    pub fn bounded(mut self) -> Self {
        bound(&mut self.system, MAX_SYSTEM_BYTES);
        bound(&mut self.person, MAX_PERSON_BYTES);
        bound(&mut self.role, MAX_ROLE_BYTES);
        bound(&mut self.action, MAX_ACTION_BYTES);
        bound(&mut self.resource.name, MAX_RESOURCE_BYTES);
        bound(&mut self.outcome, MAX_OUTCOME_BYTES);
        bound(&mut self.request_id, MAX_REQUEST_ID_BYTES);
        if let Some(details) = &mut self.details {
            // serde_json escapes control characters inside strings and writes no whitespace,
            // so a replaced character leaves the JSON valid.
            bound(details, usize::MAX);
            if details.len() > MAX_DETAILS_BYTES {
                *details = serde_json::json!({
                    "omitted": format!(
                        "details of {} bytes, over the trail's limit of {MAX_DETAILS_BYTES}",
                        details.len()
                    ),
                    "sha256": sha256_hex(details.as_bytes()),
                })
                .to_string();
            }
        }
        self
    }

    /// A stricter form of an event the database refused (`why` says how): every text field in
    /// printable ASCII (other characters escaped as `\u{…}`) and cut to 64 bytes, the resource
    /// name to 256, no account or document reference, and the details replaced by a note of
    /// the refusal with the SHA-256 of what they were.
    pub fn quarantined(&self, why: &str) -> Self {
        Self {
            occurred_at: self.occurred_at,
            system: ascii(&self.system, QUARANTINE_BYTES),
            person: ascii(&self.person, QUARANTINE_BYTES),
            role: ascii(&self.role, QUARANTINE_BYTES),
            action: ascii(&self.action, QUARANTINE_BYTES),
            resource: super::Resource::named(ascii(&self.resource.name, 4 * QUARANTINE_BYTES)),
            outcome: ascii(&self.outcome, QUARANTINE_BYTES),
            request_id: ascii(&self.request_id, MAX_REQUEST_ID_BYTES),
            details: Some(
                serde_json::json!({
                    "quarantined": why,
                    "account": self.resource.account.as_ref().map(|a| ascii(a.as_str(), QUARANTINE_BYTES)),
                    "document_id": self.resource.document_id.map(|id| id.to_string()),
                    "details_sha256": self.details.as_deref().map(|d| sha256_hex(d.as_bytes())),
                })
                .to_string(),
            ),
        }
    }

    /// The last resort for an event the database refuses even quarantined: fixed text but for
    /// the time, the action, the outcome and the request id (ASCII, short), with SHA-256
    /// fingerprints of the person and of the whole event, so an investigator can still tell
    /// whose call it was by checking a guess.
    pub fn placeholder(&self, why: &str) -> Self {
        let fingerprint = {
            let mut hash = Sha256::new();
            let fields = [
                self.system.as_str(),
                self.person.as_str(),
                self.role.as_str(),
                self.action.as_str(),
                self.resource.name.as_str(),
                self.resource.account.as_ref().map_or("", |a| a.as_str()),
                self.outcome.as_str(),
                self.request_id.as_str(),
                self.details.as_deref().unwrap_or(""),
            ];
            for field in fields {
                hash.update((field.len() as u64).to_be_bytes());
                hash.update(field.as_bytes());
            }
            hex::encode(hash.finalize())
        };
        Self {
            occurred_at: self.occurred_at,
            system: "-".into(),
            person: "-".into(),
            role: "-".into(),
            action: ascii(&self.action, QUARANTINE_BYTES)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect(),
            resource: super::Resource::named("unrecordable-event"),
            outcome: ascii(&self.outcome, QUARANTINE_BYTES)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect(),
            request_id: ascii(&self.request_id, MAX_REQUEST_ID_BYTES)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect(),
            details: Some(
                serde_json::json!({
                    "unrecordable": why,
                    "person_sha256": sha256_hex(self.person.as_bytes()),
                    "event_sha256": fingerprint,
                })
                .to_string(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{AccountNumber, Resource};

    fn event(person: &str) -> AuditEvent {
        AuditEvent {
            occurred_at: Utc::now(),
            system: "marketing".into(),
            person: person.into(),
            role: "counter-clerk".into(),
            action: "GetCustomer".into(),
            resource: Resource::named("customers/1200000001")
                .account(&AccountNumber::parse("1200000001").unwrap()),
            outcome: "ok".into(),
            request_id: "r-1".into(),
            details: None,
        }
    }

    #[test]
    fn a_compliant_event_is_stored_as_it_is() {
        let original = event("张三-clerk 7");
        assert_eq!(original.clone().bounded(), original);
    }

    #[test]
    fn control_bidi_and_zero_width_characters_are_replaced() {
        let bounded = event("clerk\0-7\u{202E}\u{200B}\n\u{1b}[31m").bounded();
        assert_eq!(
            bounded.person,
            "clerk\u{FFFD}-7\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}[31m"
        );
        assert!(bounded.person.chars().all(is_recordable_or_replacement));
    }

    fn is_recordable_or_replacement(c: char) -> bool {
        is_recordable(c) || c == REPLACEMENT
    }

    #[test]
    fn long_fields_are_cut_at_a_character_boundary_and_marked() {
        let mut long = event(&"张".repeat(1000));
        long.resource.name = "x".repeat(1 << 20);
        long.request_id = "r".repeat(500);
        let bounded = long.bounded();
        assert!(bounded.person.len() <= MAX_PERSON_BYTES);
        assert!(bounded.person.ends_with('…'));
        assert!(bounded.person.starts_with("张张"));
        assert_eq!(bounded.resource.name.len(), MAX_RESOURCE_BYTES);
        assert!(bounded.request_id.len() <= MAX_REQUEST_ID_BYTES);
        assert_eq!(bounded.clone().bounded(), bounded, "idempotent");
    }

    #[test]
    fn oversized_details_become_a_note_with_their_digest() {
        let mut big = event("clerk");
        big.details = Some(serde_json::json!({ "x": "y".repeat(MAX_DETAILS_BYTES) }).to_string());
        let bounded = big.bounded();
        let details: serde_json::Value =
            serde_json::from_str(bounded.details.as_deref().unwrap()).unwrap();
        assert!(details["omitted"].as_str().unwrap().contains("bytes"));
        assert_eq!(details["sha256"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn details_stay_valid_json_after_the_character_rule() {
        let mut with_bidi = event("clerk");
        with_bidi.details = Some(serde_json::json!({ "reason": "a\u{202E}b\0c" }).to_string());
        let bounded = with_bidi.bounded();
        let details: serde_json::Value =
            serde_json::from_str(bounded.details.as_deref().unwrap()).unwrap();
        assert_eq!(details["reason"], "a\u{FFFD}b\u{0}c");
    }

    #[test]
    fn a_quarantined_event_is_short_ascii_and_keeps_who_in_escaped_form() {
        let quarantined = event(&format!("张{}", "x".repeat(200))).quarantined("SQLSTATE 22021");
        assert!(quarantined.person.starts_with("\\u{5f20}xxx"));
        assert!(quarantined.person.len() <= QUARANTINE_BYTES);
        assert!(quarantined.resource.account.is_none());
        let details: serde_json::Value =
            serde_json::from_str(quarantined.details.as_deref().unwrap()).unwrap();
        assert_eq!(details["quarantined"], "SQLSTATE 22021");
        assert_eq!(details["account"], "1200000001");
        for field in [
            &quarantined.system,
            &quarantined.person,
            &quarantined.request_id,
        ] {
            assert!(field.bytes().all(|b| (b' '..=b'~').contains(&b)), "{field}");
        }
    }

    #[test]
    fn a_placeholder_keeps_only_fixed_text_and_fingerprints() {
        let original = event("poison");
        let placeholder = original.placeholder("SQLSTATE 22023");
        assert_eq!(placeholder.person, "-");
        assert_eq!(placeholder.action, "GetCustomer");
        assert_eq!(placeholder.request_id, "r-1");
        let details: serde_json::Value =
            serde_json::from_str(placeholder.details.as_deref().unwrap()).unwrap();
        assert_eq!(details["person_sha256"], sha256_hex(b"poison"));
    }

    #[test]
    fn recordable_filters_are_checked_not_altered() {
        assert!(check_recordable("clerk-7", MAX_PERSON_BYTES).is_ok());
        assert!(check_recordable("clerk\0", MAX_PERSON_BYTES).is_err());
        assert!(check_recordable(&"x".repeat(MAX_PERSON_BYTES + 1), MAX_PERSON_BYTES).is_err());
    }
}
