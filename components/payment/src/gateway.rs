//! Where money moves. Only the offline **local test gateway** exists so far: it understands
//! Stripe's test payment-method names and never moves real money, and every object it creates
//! is labelled `"gateway": "local-test"`. A Stripe-speaking gateway (for localstripe and
//! Stripe) is the next step; it will implement the same two calls.

use riff_guest::{ApiError, ApiResult};
use serde_json::{json, Value};

pub const LOCAL: &str = "local-test";

/// A card the gateway refused: answered 402 in Stripe's error shape.
pub fn declined(message: &str) -> ApiError {
    ApiError::new(402, message.to_string())
}

/// Stripe's error body for a decline: `{"error": {"status", "type", "code", "message"}}`.
pub fn decline_body(message: &str) -> Value {
    json!({ "error": { "status": 402, "type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": message } })
}

/// The card behind one of Stripe's test payment-method names.
pub struct Card {
    pub brand: &'static str,
    pub last4: &'static str,
    declines: bool,
}

/// Check a payment method before it is stored.
pub fn payment_method(id: &str) -> ApiResult<Card> {
    let card = match id {
        "pm_card_visa" => Card { brand: "visa", last4: "4242", declines: false },
        "pm_card_mastercard" => Card { brand: "mastercard", last4: "4444", declines: false },
        "pm_card_chargeDeclined" => Card { brand: "visa", last4: "0002", declines: true },
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown payment method {other:?}: the local test gateway takes pm_card_visa, pm_card_mastercard, pm_card_chargeDeclined"
            )))
        }
    };
    Ok(card)
}

/// Charge `amount` cents to a payment method; the charge id on success.
pub fn charge(method: &str, amount: i64, reference: &str) -> ApiResult<String> {
    let card = payment_method(method)?;
    if card.declines {
        return Err(declined("Your card was declined."));
    }
    let _ = amount;
    Ok(format!("ch_local_{reference}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards() {
        assert!(charge("pm_card_visa", 999, "x").unwrap().starts_with("ch_local_"));
        assert_eq!(charge("pm_card_chargeDeclined", 999, "x").unwrap_err().status, 402);
        assert_eq!(charge("pm_nope", 999, "x").unwrap_err().status, 400);
        assert_eq!(payment_method("pm_card_visa").unwrap().last4, "4242");
    }
}
