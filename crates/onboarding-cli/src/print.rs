//! Output for people and for machines.

use onboarding_ledger::projections::AuditEntry;

/// Prints a one-line confirmation.
pub fn done(json: bool, message: &str) {
    if json {
        println!("{}", serde_json::json!({ "ok": true, "message": message }));
    } else {
        println!("{message}");
    }
}

/// Prints the ids a command created.
pub fn ids(json: bool, ids: &[(&str, String)], message: &str) {
    if json {
        let map: serde_json::Map<String, serde_json::Value> = ids
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
            .collect();
        println!("{}", serde_json::Value::Object(map));
    } else {
        let list: Vec<String> = ids.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("{message}: {}", list.join(", "));
    }
}

/// Prints an audit trail as a table.
pub fn trail(entries: &[AuditEntry]) {
    for e in entries {
        println!(
            "    #{:<5} {}  {:<8} {:<2} {:<20} {:<24} {}",
            e.position,
            e.recorded_at.format("%H:%M:%S%.3f"),
            e.aggregate_type,
            e.sequence,
            e.event_type,
            e.actor,
            e.summary
        );
    }
}
