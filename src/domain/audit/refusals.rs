//! Calls refused before they reach a use case (no token, or one that does not verify) are
//! recorded, but not one row each: refusals of the same kind (action and reason) from the same
//! peer (IP address) within a short window become one event with their count. A flood of
//! unauthenticated calls so costs a few rows per window, in memory that stays bounded, and
//! never takes the place of an authenticated call's event.

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, SubsecRound, Utc};

use super::event::{AuditEvent, Resource};

/// Distinct (peer, action, reason) kinds kept per window; refusals of further kinds are
/// counted into one catch-all event, so memory and rows stay bounded whatever the flood.
pub const MAX_REFUSAL_KINDS: usize = 1_000;

/// One call refused for want of valid credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The caller's IP address, when the transport knows it.
    pub peer: Option<IpAddr>,
    /// The RPC called (`unknown-method` for one the server does not have).
    pub action: String,
    /// Why it was refused, as the caller was told.
    pub reason: String,
    pub request_id: String,
    pub at: DateTime<Utc>,
    /// The calling system, when the call was authenticated (`-` otherwise).
    pub system: String,
    /// `unauthenticated`, or `resource_exhausted` for a system over its rate.
    pub outcome: &'static str,
}

impl Refusal {
    pub fn new(peer: Option<IpAddr>, action: &str, reason: &str, request_id: String) -> Self {
        Self {
            peer,
            action: action.into(),
            reason: reason.into(),
            request_id,
            // The database keeps microseconds; hash exactly what is stored.
            at: Utc::now().trunc_subsecs(6),
            system: "-".into(),
            outcome: "unauthenticated",
        }
    }

    /// The refusal of an authenticated call of `system` that is over its rate of calls.
    pub fn over_rate(mut self, system: &str) -> Self {
        self.system = system.into();
        self.outcome = "resource_exhausted";
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Kind {
    peer: Option<IpAddr>,
    action: String,
    reason: String,
    system: String,
    outcome: &'static str,
}

/// Refusals of one kind within one window.
#[derive(Debug, Clone)]
struct Refused {
    first_request_id: String,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    count: u64,
}

impl Refused {
    fn starting(refusal: Refusal) -> Self {
        Self {
            first_request_id: refusal.request_id,
            first: refusal.at,
            last: refusal.at,
            count: 1,
        }
    }

    fn add(&mut self, at: DateTime<Utc>) {
        self.count += 1;
        self.last = self.last.max(at);
    }
}

/// The refusals not yet recorded, grouped by kind.
#[derive(Debug, Default)]
pub struct RefusalWindow {
    kinds: HashMap<Kind, Refused>,
    /// Refusals of kinds beyond [`MAX_REFUSAL_KINDS`].
    others: Option<Refused>,
}

impl RefusalWindow {
    /// Counts a refusal in. Never waits, never drops one.
    pub fn add(&mut self, refusal: Refusal) {
        let kind = Kind {
            peer: refusal.peer,
            action: refusal.action.clone(),
            reason: refusal.reason.clone(),
            system: refusal.system.clone(),
            outcome: refusal.outcome,
        };
        if let Some(refused) = self.kinds.get_mut(&kind) {
            refused.add(refusal.at);
        } else if self.kinds.len() < MAX_REFUSAL_KINDS {
            self.kinds.insert(kind, Refused::starting(refusal));
        } else if let Some(others) = &mut self.others {
            others.add(refusal.at);
        } else {
            self.others = Some(Refused::starting(refusal));
        }
    }

    /// Whether no refusal waits.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty() && self.others.is_none()
    }

    /// The events of the kinds whose window (from their first refusal) has passed by `now`,
    /// oldest first; those kinds start afresh.
    pub fn take_due(&mut self, now: DateTime<Utc>, window: chrono::Duration) -> Vec<AuditEvent> {
        let due: Vec<Kind> = self
            .kinds
            .iter()
            .filter(|(_, refused)| refused.first + window <= now)
            .map(|(kind, _)| kind.clone())
            .collect();
        let mut events: Vec<(DateTime<Utc>, AuditEvent)> = due
            .into_iter()
            .filter_map(|kind| {
                let refused = self.kinds.remove(&kind)?;
                Some((refused.first, event(Some(&kind), &refused)))
            })
            .collect();
        if self
            .others
            .as_ref()
            .is_some_and(|o| o.first + window <= now)
            && let Some(others) = self.others.take()
        {
            events.push((others.first, event(None, &others)));
        }
        events.sort_by_key(|(first, _)| *first);
        events.into_iter().map(|(_, event)| event).collect()
    }

    /// Every waiting refusal's event, window passed or not (at shutdown).
    pub fn take_all(&mut self) -> Vec<AuditEvent> {
        self.take_due(DateTime::<Utc>::MAX_UTC, chrono::Duration::zero())
    }
}

/// The event of `refused` refusals of `kind` (`None`: the catch-all of further kinds).
fn event(kind: Option<&Kind>, refused: &Refused) -> AuditEvent {
    let (action, reason, peer, system, outcome) = match kind {
        Some(kind) => (
            kind.action.as_str(),
            kind.reason.as_str(),
            kind.peer
                .map_or_else(|| "unknown".to_string(), |ip| ip.to_string()),
            kind.system.as_str(),
            kind.outcome,
        ),
        None => (
            "-",
            "refusals of more kinds than the trail keeps apart in one window",
            "various".to_string(),
            "-",
            "refused",
        ),
    };
    AuditEvent {
        occurred_at: refused.first,
        system: system.into(),
        person: "-".into(),
        role: "-".into(),
        action: action.into(),
        resource: Resource::named("-"),
        outcome: outcome.into(),
        request_id: refused.first_request_id.clone(),
        details: Some(
            serde_json::json!({
                "reason": reason,
                "peer": peer,
                "count": refused.count,
                "last_time": refused.last.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            })
            .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(peer: [u8; 4], reason: &str, at: DateTime<Utc>) -> Refusal {
        Refusal {
            peer: Some(IpAddr::from(peer)),
            action: "GetCustomer".into(),
            reason: reason.into(),
            request_id: format!("r-{}", at.timestamp_micros()),
            at,
            system: "-".into(),
            outcome: "unauthenticated",
        }
    }

    fn count(event: &AuditEvent) -> u64 {
        let details: serde_json::Value =
            serde_json::from_str(event.details.as_deref().unwrap()).unwrap();
        details["count"].as_u64().unwrap()
    }

    #[test]
    fn refusals_of_one_kind_from_one_peer_become_one_event_with_their_count() {
        let start = Utc::now();
        let mut window = RefusalWindow::default();
        for i in 0..200 {
            window.add(refusal(
                [10, 0, 0, 1],
                "no token",
                start + chrono::Duration::milliseconds(i),
            ));
        }
        window.add(refusal([10, 0, 0, 2], "no token", start));
        window.add(refusal([10, 0, 0, 1], "expired", start));
        let second = chrono::Duration::seconds(1);
        assert!(
            window.take_due(start, second).is_empty(),
            "the window is still open"
        );
        let events = window.take_due(start + second, second);
        assert_eq!(events.len(), 3);
        let mut counts: Vec<u64> = events.iter().map(count).collect();
        counts.sort();
        assert_eq!(counts, vec![1, 1, 200]);
        let flood = events.iter().find(|e| count(e) == 200).unwrap();
        assert_eq!(flood.occurred_at, start);
        assert_eq!(flood.request_id, format!("r-{}", start.timestamp_micros()));
        assert!(
            flood
                .details
                .as_deref()
                .unwrap()
                .contains("\"peer\":\"10.0.0.1\"")
        );
        assert!(window.is_empty());
    }

    #[test]
    fn kinds_beyond_the_limit_are_counted_into_one_catch_all_event() {
        let start = Utc::now();
        let mut window = RefusalWindow::default();
        let peers = MAX_REFUSAL_KINDS as u32 + 500;
        for peer in 0..peers {
            window.add(refusal(peer.to_be_bytes(), "no token", start));
        }
        let events = window.take_all();
        assert_eq!(events.len(), MAX_REFUSAL_KINDS + 1);
        assert_eq!(events.iter().map(count).sum::<u64>(), u64::from(peers));
        assert!(events.iter().any(|e| count(e) == 500 && e.action == "-"));
    }
}
