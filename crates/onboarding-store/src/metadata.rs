//! Who did what, why, and because of what: the metadata stored with every event.
//!
//! The caller sets it through a [`CommandContext`]; the store writes it beside each event of the
//! command (as the `cqrs-es` metadata map, so stock `postgres-es` readers see it too).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Metadata keys as stored. A schema: never rename one.
pub mod keys {
    /// Who (a person's login or a system's name).
    pub const ACTOR: &str = "actor";
    /// Why, where given.
    pub const REASON: &str = "reason";
    /// Groups every event of one business flow.
    pub const CORRELATION_ID: &str = "correlation_id";
    /// What caused this event: a command id, a Paxos event id, another event.
    pub const CAUSATION_ID: &str = "causation_id";
    /// Where the request came from (`cli`, `api`, `webhook`, `demo`, ...).
    pub const ORIGIN: &str = "origin";
    /// The id of the command that produced the event.
    pub const COMMAND_ID: &str = "command_id";
}

/// The metadata of one stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// Who.
    pub actor: String,
    /// Why, where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The business flow.
    pub correlation_id: String,
    /// The cause.
    pub causation_id: String,
    /// Where the request came from.
    pub origin: String,
    /// The command that produced the event.
    pub command_id: String,
}

impl EventMetadata {
    /// Reads the metadata map of a stored event; absent keys read as empty text, so events
    /// written by other tools still load.
    pub fn from_map(map: &HashMap<String, String>) -> Self {
        let get = |k: &str| map.get(k).cloned().unwrap_or_default();
        Self {
            actor: get(keys::ACTOR),
            reason: map.get(keys::REASON).cloned(),
            correlation_id: get(keys::CORRELATION_ID),
            causation_id: get(keys::CAUSATION_ID),
            origin: get(keys::ORIGIN),
            command_id: get(keys::COMMAND_ID),
        }
    }

    /// Reads the metadata JSON object of a stored event.
    pub fn from_json(value: &serde_json::Value) -> Self {
        let map: HashMap<String, String> = value
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Self::from_map(&map)
    }
}

/// The caller's side of the metadata: set once per request, applied to each command it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    actor: String,
    reason: Option<String>,
    correlation_id: String,
    causation_id: Option<String>,
    origin: String,
}

impl CommandContext {
    /// A context for `actor` from `origin`, starting a new correlation.
    pub fn new(actor: impl Into<String>, origin: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            reason: None,
            correlation_id: Uuid::now_v7().to_string(),
            causation_id: None,
            origin: origin.into(),
        }
    }

    /// Records why.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Joins an existing correlation (e.g. the one of the request that started the flow).
    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = correlation_id.into();
        self
    }

    /// Names the cause (a Paxos event id, the position of an event). Without it, each command's
    /// own id is its events' cause.
    pub fn caused_by(mut self, causation_id: impl Into<String>) -> Self {
        self.causation_id = Some(causation_id.into());
        self
    }

    /// The actor.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The reason, where given.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The correlation id.
    pub fn correlation_id(&self) -> &str {
        &self.correlation_id
    }

    /// The metadata map for one command, identified by `command_id`.
    pub fn metadata_for(&self, command_id: Uuid) -> HashMap<String, String> {
        let command_id = command_id.to_string();
        let mut map = HashMap::with_capacity(6);
        map.insert(keys::ACTOR.to_owned(), self.actor.clone());
        if let Some(reason) = &self.reason {
            map.insert(keys::REASON.to_owned(), reason.clone());
        }
        map.insert(keys::CORRELATION_ID.to_owned(), self.correlation_id.clone());
        map.insert(
            keys::CAUSATION_ID.to_owned(),
            self.causation_id
                .clone()
                .unwrap_or_else(|| format!("command:{command_id}")),
        );
        map.insert(keys::ORIGIN.to_owned(), self.origin.clone());
        map.insert(keys::COMMAND_ID.to_owned(), command_id);
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_through_the_stored_map() {
        let ctx = CommandContext::new("alice", "cli")
            .with_reason("KYC refresh")
            .caused_by("paxos-event:42");
        let id = Uuid::now_v7();
        let m = EventMetadata::from_map(&ctx.metadata_for(id));
        assert_eq!(m.actor, "alice");
        assert_eq!(m.reason.as_deref(), Some("KYC refresh"));
        assert_eq!(m.causation_id, "paxos-event:42");
        assert_eq!(m.origin, "cli");
        assert_eq!(m.command_id, id.to_string());
        assert_eq!(m.correlation_id, ctx.correlation_id());
    }

    #[test]
    fn without_an_explicit_cause_the_command_is_the_cause() {
        let id = Uuid::now_v7();
        let m = EventMetadata::from_map(&CommandContext::new("a", "api").metadata_for(id));
        assert_eq!(m.causation_id, format!("command:{id}"));
    }
}
