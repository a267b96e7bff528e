//! `POST /v1/payments/webhook`: events from the gateway, verified as Stripe signs them.
//!
//! `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` with the
//! `webhook_secret` variable; a missing or wrong signature, or a timestamp more than
//! [`TOLERANCE_S`] away, is a 400 and changes nothing. Each event id is applied once: the id is
//! recorded in the same transaction as the change, so a redelivery is acknowledged and ignored.
//!
//! Applied: `invoice.payment_failed` (the customer's subscription becomes `past_due`),
//! `invoice.payment_succeeded` / `invoice.paid` (a `past_due` one becomes `active` again),
//! `customer.subscription.deleted` (`canceled`). Others are acknowledged and ignored.

use hmac::{Hmac, Mac};
use riff_guest::{ApiError, ApiResult};
use serde_json::Value;
use sha2::Sha256;
use spin_sdk::http::{Request, Response};

use crate::model::{value, Received};
use crate::{get_text, text, Tx};

/// How far a signature's timestamp may be from now.
pub const TOLERANCE_S: u64 = 300;

/// Check a `Stripe-Signature` header for `body` at `now` (seconds).
pub fn verify(header: &str, body: &[u8], secret: &str, now: u64) -> Result<(), String> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<u64>().ok(),
            Some(("v1", sig)) => signatures.push(sig.to_string()),
            _ => {}
        }
    }
    let t = timestamp.ok_or("the signature has no timestamp")?;
    if t.abs_diff(now) > TOLERANCE_S {
        return Err(format!("the signature's timestamp is more than {TOLERANCE_S} s away"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = hex::encode(mac.finalize().into_bytes());
    if signatures.iter().any(|s| riff_guest::constant_time_eq(s.as_bytes(), expected.as_bytes())) {
        Ok(())
    } else {
        Err("no signature matches".into())
    }
}

pub fn receive(req: &Request) -> ApiResult<Response> {
    let secret = spin_sdk::variables::get("webhook_secret").unwrap_or_default();
    if secret.is_empty() {
        return Err(ApiError::new(503, "webhooks are off: set the webhook_secret variable"));
    }
    let header = req
        .header("stripe-signature")
        .and_then(|h| h.as_str())
        .ok_or_else(|| ApiError::bad_request("missing Stripe-Signature"))?;
    verify(header, req.body(), &secret, riff_guest::time::now_ms() / 1000)
        .map_err(|e| ApiError::bad_request(format!("bad signature: {e}")))?;
    let event: Value = riff_guest::parse_json_limited(req.body(), 1 << 20)?;
    let id = event["id"].as_str().ok_or_else(|| ApiError::bad_request("the event has no id"))?;
    let kind = event["type"].as_str().unwrap_or_default();
    let tx = Tx::begin()?;
    let fresh = tx.exec(
        "INSERT INTO webhook_events (id, type, received) VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
        &[text(id), text(kind), crate::int(riff_guest::time::now_ms())],
    )?;
    if fresh.rows.is_empty() {
        tx.commit()?;
        let body = Received { duplicate: Some(true), received: true };
        return Ok(crate::json_out(200, &value(&body), false));
    }
    let status = match kind {
        "invoice.payment_failed" => Some(("past_due", None)),
        "invoice.payment_succeeded" | "invoice.paid" => Some(("active", Some("past_due"))),
        "customer.subscription.deleted" => Some(("canceled", None)),
        _ => None,
    };
    if let (Some((to, only_from)), Some(customer)) = (status, event["data"]["object"]["customer"].as_str()) {
        let users = tx.exec("SELECT user_id FROM customers WHERE customer = ?", &[text(customer)])?;
        for row in &users.rows {
            let user = get_text(row, 0);
            match only_from {
                Some(from) => tx.exec(
                    "UPDATE subscriptions SET status = ? WHERE user_id = ? AND status = ?",
                    &[text(to), text(&user), text(from)],
                )?,
                None => tx.exec(
                    "UPDATE subscriptions SET status = ? WHERE user_id = ?",
                    &[text(to), text(&user)],
                )?,
            };
        }
    }
    tx.commit()?;
    Ok(crate::json_out(200, &value(&Received { duplicate: None, received: true }), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: u64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures() {
        let body = br#"{"id":"evt_1"}"#;
        let now = 1_800_000_000;
        assert!(verify(&sign("whsec", now, body), body, "whsec", now).is_ok());
        assert!(verify(&sign("whsec", now, body), body, "other", now).is_err(), "wrong secret");
        assert!(verify(&sign("whsec", now, body), b"{}", "whsec", now).is_err(), "other body");
        assert!(verify(&sign("whsec", now - 301, body), body, "whsec", now).unwrap_err().contains("300"));
        assert!(verify("v1=abc", body, "whsec", now).is_err(), "no timestamp");
        let two = format!("{},v1=deadbeef", sign("whsec", now, body));
        assert!(verify(&two, body, "whsec", now).is_ok(), "any v1 may match");
    }
}
