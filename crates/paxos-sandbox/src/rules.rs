//! The documented rules the OpenAPI schema does not express (its `PersonDetails` lists no required
//! fields, for instance), checked after the schema: required fields of persons and institutions,
//! the passthrough verification record, document number formats, order amounts, the network of
//! a sandbox deposit.
//!
//! Like schema violations, messages name the field, never its value.

use serde_json::Value;

use crate::spec::Violation;

fn violation(path: &str, message: &str) -> Violation {
    Violation {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn present(body: &Value, pointer: &str) -> bool {
    match body.pointer(pointer) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

fn require(out: &mut Vec<Violation>, body: &Value, pointers: &[&str]) {
    for p in pointers {
        if !present(body, p) {
            out.push(violation(p, "is required"));
        }
    }
}

fn str_at<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.pointer(pointer).and_then(Value::as_str)
}

/// `xxx-xx-xxxx` for SSN and ITIN, `xx-xxxxxxx` for EIN.
fn check_cip_format(out: &mut Vec<Violation>, body: &Value, details: &str) {
    let kind = str_at(body, &format!("{details}/cip_id_type"));
    let Some(number) = str_at(body, &format!("{details}/cip_id")) else {
        return;
    };
    let groups: &[usize] = match kind {
        Some("SSN" | "ITIN") => &[3, 2, 4],
        Some("EIN") => &[2, 7],
        _ => return,
    };
    let parts: Vec<&str> = number.split('-').collect();
    let ok = parts.len() == groups.len()
        && parts
            .iter()
            .zip(groups)
            .all(|(p, n)| p.len() == *n && p.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        let format = if groups.len() == 3 {
            "xxx-xx-xxxx"
        } else {
            "xx-xxxxxxx"
        };
        out.push(violation(
            &format!("{details}/cip_id"),
            &format!("must have the format {format} for its cip_id_type"),
        ));
    }
}

/// Rules of `CreateIdentity` beyond the schema.
pub fn create_identity(body: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let person = present(body, "/person_details");
    let institution = present(body, "/institution_details");
    match (person, institution) {
        (true, true) => out.push(violation(
            "",
            "give person_details or institution_details, not both",
        )),
        (false, false) => out.push(violation(
            "",
            "person_details or institution_details is required",
        )),
        _ => {}
    }
    if !present(body, "/ref_id") {
        out.push(violation(
            "/ref_id",
            "is required by the sandbox (idempotency)",
        ));
    }
    if person {
        require(
            &mut out,
            body,
            &[
                "/person_details/first_name",
                "/person_details/last_name",
                "/person_details/date_of_birth",
                "/person_details/address",
                "/person_details/nationality",
                "/person_details/cip_id",
                "/person_details/cip_id_type",
                "/person_details/cip_id_country",
                "/customer_due_diligence/estimated_yearly_income",
                "/customer_due_diligence/expected_transfer_value",
                "/customer_due_diligence/source_of_wealth",
                "/customer_due_diligence/employment_status",
                "/customer_due_diligence/employment_industry_sector",
            ],
        );
        if str_at(body, "/person_details/verifier_type") == Some("PASSTHROUGH") {
            require(
                &mut out,
                body,
                &[
                    "/person_details/passthrough_verifier_type",
                    "/person_details/passthrough_verified_at",
                    "/person_details/passthrough_verification_id",
                    "/person_details/passthrough_verification_status",
                    "/person_details/passthrough_verification_fields",
                ],
            );
            if let Some(s) = str_at(body, "/person_details/passthrough_verification_status") {
                if s != "APPROVED" && s != "DENIED" {
                    out.push(violation(
                        "/person_details/passthrough_verification_status",
                        "must be APPROVED or DENIED",
                    ));
                }
            }
        }
        let us_resident = str_at(body, "/person_details/address/country") == Some("USA");
        let cip_type = str_at(body, "/person_details/cip_id_type");
        if us_resident && cip_type.is_some_and(|t| t != "SSN" && t != "ITIN") {
            out.push(violation(
                "/person_details/cip_id_type",
                "must be SSN or ITIN for a US resident",
            ));
        }
        check_cip_format(&mut out, body, "/person_details");
        if present(body, "/institution_members") {
            out.push(violation(
                "/institution_members",
                "only institutions have members",
            ));
        }
    }
    if institution {
        require(
            &mut out,
            body,
            &[
                "/institution_details/name",
                "/institution_details/business_address",
                "/institution_details/incorporation_address",
                "/institution_details/institution_type",
                "/institution_details/institution_sub_type",
                "/institution_details/cip_id",
                "/institution_details/cip_id_type",
                "/institution_details/cip_id_country",
                "/institution_details/govt_registration_date",
                "/institution_details/regulation_status",
                "/institution_details/trading_type",
            ],
        );
        check_cip_format(&mut out, body, "/institution_details");
        if let Some(members) = body.get("institution_members").and_then(Value::as_array) {
            for (i, m) in members.iter().enumerate() {
                let mut member = Vec::new();
                require(&mut member, m, &["/identity_id", "/roles"]);
                out.extend(member.into_iter().map(|mut v| {
                    v.path = format!("/institution_members/{i}{}", v.path);
                    v
                }));
            }
        }
    }
    out
}

/// Rules of `CreateAccount` beyond the schema.
pub fn create_account(body: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    require(&mut out, body, &["/account/identity_id", "/account/ref_id"]);
    out
}

/// Rules of `CreateOrder` beyond the schema: which amounts each order type needs, and
/// `identity_id` with `identity_account_id`.
pub fn create_order(body: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let side = str_at(body, "/side");
    let needs = |out: &mut Vec<Violation>, field: &str, why: &str| {
        if !present(body, &format!("/{field}")) {
            out.push(violation(&format!("/{field}"), why));
        }
    };
    match str_at(body, "/type") {
        Some("LIMIT" | "POST_ONLY_LIMIT") => {
            needs(&mut out, "base_amount", "is required for limit orders");
            needs(&mut out, "price", "is required for limit orders");
        }
        Some("MARKET") if side == Some("BUY") => {
            needs(&mut out, "quote_amount", "is required for market buys");
        }
        Some("MARKET") => needs(&mut out, "base_amount", "is required for market sells"),
        Some(kind @ ("STOP_MARKET" | "STOP_LIMIT")) => {
            needs(&mut out, "base_amount", "is required for stop orders");
            needs(&mut out, "stop_price", "is required for stop orders");
            if kind == "STOP_LIMIT" {
                needs(&mut out, "price", "is required for stop limit orders");
            }
            if side == Some("BUY") {
                out.push(violation(
                    "/side",
                    "only sell stop loss orders are supported",
                ));
            }
        }
        _ => {}
    }
    if present(body, "/identity_id") != present(body, "/identity_account_id") {
        out.push(violation(
            "/identity_account_id",
            "identity_id and identity_account_id go together or not at all",
        ));
    }
    if str_at(body, "/time_in_force") == Some("GTT") {
        needs(&mut out, "expiration_date", "is required for GTT orders");
    }
    out
}

/// The fiat currencies of Paxos's market enumerations: deposited without a network.
const FIAT: &[&str] = &["USD", "EUR", "SGD", "GBP", "BRL", "MXN"];

/// Coins whose chain carries nothing but the coin itself: each goes only on its own network,
/// and that network takes no other asset.
const SINGLE_ASSET_NETWORKS: &[(&str, &str)] = &[
    ("BTC", "BITCOIN"),
    ("BCH", "BITCOIN_CASH"),
    ("LTC", "LITECOIN"),
];

/// Rules of `CreateSandboxDeposit` beyond the schema: "Always specify `crypto_network` when
/// making a crypto sandbox deposit. Omit the parameter when depositing fiat." Every asset that is
/// not fiat counts as crypto; a network must be able to carry the asset.
pub fn create_sandbox_deposit(body: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let Some(asset) = str_at(body, "/asset").map(str::trim) else {
        return out;
    };
    let network = str_at(body, "/crypto_network");
    let path = "/crypto_network";
    match network {
        Some(_) if FIAT.contains(&asset) => {
            out.push(violation(path, "must be omitted for a fiat deposit"));
        }
        None if !FIAT.contains(&asset) && !asset.is_empty() => {
            out.push(violation(path, "is required for a crypto deposit"));
        }
        Some(network) => {
            let fits = match SINGLE_ASSET_NETWORKS.iter().find(|(a, _)| *a == asset) {
                Some((_, own)) => network == *own,
                None => !SINGLE_ASSET_NETWORKS.iter().any(|(_, n)| *n == network),
            };
            if !fits {
                out.push(violation(path, "does not carry the asset"));
            }
        }
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_person_needs_its_documented_fields() {
        let v = create_identity(&json!({"ref_id": "r", "person_details": {"first_name": "A"}}));
        let paths: Vec<_> = v.iter().map(|v| v.path.as_str()).collect();
        assert!(paths.contains(&"/person_details/last_name"));
        assert!(paths.contains(&"/customer_due_diligence/source_of_wealth"));
        assert!(!paths.contains(&"/person_details/first_name"));
    }

    #[test]
    fn ssn_format_is_checked() {
        let v = create_identity(&json!({"ref_id": "r", "person_details": {
            "cip_id": "123456789", "cip_id_type": "SSN"}}));
        assert!(v.iter().any(|v| v.path == "/person_details/cip_id"));
    }

    #[test]
    fn a_crypto_deposit_needs_a_network_that_carries_it() {
        let broken = |body: Value| {
            create_sandbox_deposit(&body)
                .into_iter()
                .map(|v| v.message)
                .collect::<Vec<_>>()
        };
        let ok: Vec<String> = Vec::new();
        assert_eq!(
            broken(json!({"asset": "BTC", "amount": "1"})),
            ["is required for a crypto deposit"]
        );
        assert_eq!(
            broken(json!({"asset": "BTC", "amount": "1", "crypto_network": "BITCOIN"})),
            ok
        );
        assert_eq!(
            broken(json!({"asset": "BTC", "amount": "1", "crypto_network": "ETHEREUM"})),
            ["does not carry the asset"]
        );
        assert_eq!(
            broken(json!({"asset": "PAXG", "amount": "1", "crypto_network": "LITECOIN"})),
            ["does not carry the asset"]
        );
        assert_eq!(
            broken(json!({"asset": "PYUSD", "amount": "1", "crypto_network": "SOLANA"})),
            ok
        );
    }

    #[test]
    fn a_fiat_deposit_names_no_network() {
        assert!(create_sandbox_deposit(&json!({"asset": "USD", "amount": "1"})).is_empty());
        let v = create_sandbox_deposit(
            &json!({"asset": "USD", "amount": "1", "crypto_network": "ETHEREUM"}),
        );
        assert_eq!(v[0].path, "/crypto_network");
        assert_eq!(v[0].message, "must be omitted for a fiat deposit");
    }

    #[test]
    fn order_amounts_follow_the_type() {
        let v = create_order(&json!({"side": "BUY", "type": "MARKET", "market": "BTCUSD"}));
        assert_eq!(v[0].path, "/quote_amount");
        let v = create_order(&json!({"side": "SELL", "type": "LIMIT", "market": "BTCUSD",
            "base_amount": "1", "price": "1", "identity_id": "x"}));
        assert_eq!(v[0].path, "/identity_account_id");
    }
}
