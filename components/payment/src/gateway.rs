//! Where money moves: a gateway that speaks Stripe's HTTP API (Stripe itself, or localstripe in
//! the tests), chosen when the `stripe_secret_key` variable is set, and otherwise the offline
//! **local test gateway**, which understands Stripe's test payment-method names, never moves
//! money, and labels what it creates `"gateway": "local-test"`.
//!
//! Payment methods are Stripe's test names (`pm_card_visa`, `pm_card_mastercard`,
//! `pm_card_chargeDeclined`); a decline is a 402 in Stripe's error shape. Charges and refunds
//! carry an idempotency key (for a renewal: the subscription, its period and the attempt's
//! number; for a refund: the invoice and the amount refunded before), so a repeated call is
//! never taken or given back twice at the gateway either. A declined attempt gets its own key
//! for the next try, since Stripe replays the answer it gave a key, a decline included.
//!
//! Refunds use Stripe's refund API, `POST /v1/refunds` with `payment_intent` (the charges are
//! payment intents) and `amount`; localstripe implements the same call.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use riff_guest::{ApiError, ApiResult};
use serde_json::Value;
use spin_sdk::http::{Method, Request, Response};

/// A card the gateway refused: answered 402 in Stripe's error shape.
pub fn declined(message: &str) -> ApiError {
    ApiError::new(402, message.to_string())
}

/// What is shown of a card.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Card {
    pub brand: String,
    pub last4: String,
}

pub enum Gateway {
    Local,
    Stripe { base: String, key: String },
}

fn variable(name: &str) -> String {
    spin_sdk::variables::get(name).unwrap_or_default().trim().to_string()
}

/// The local gateway's test cards: (brand, last4, declines when charged).
fn local_card(method: &str) -> ApiResult<(&'static str, &'static str, bool)> {
    match method {
        "pm_card_visa" => Ok(("visa", "4242", false)),
        "pm_card_mastercard" => Ok(("mastercard", "4444", false)),
        "pm_card_chargeDeclined" => Ok(("visa", "0002", true)),
        other => Err(ApiError::bad_request(format!(
            "unknown payment method {other:?}: use pm_card_visa, pm_card_mastercard or pm_card_chargeDeclined"
        ))),
    }
}

impl Gateway {
    /// Stripe when `stripe_secret_key` is set (at `stripe_api_base`), else the local one.
    pub fn configured() -> Gateway {
        let key = variable("stripe_secret_key");
        if key.is_empty() {
            return Gateway::Local;
        }
        let base = variable("stripe_api_base");
        let base = if base.is_empty() { "https://api.stripe.com".to_string() } else { base };
        Gateway::Stripe { base: base.trim_end_matches('/').to_string(), key }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Gateway::Local => "local-test",
            Gateway::Stripe { .. } => "stripe",
        }
    }

    /// A customer for `user` at the gateway.
    pub async fn create_customer(&self, user: &str) -> ApiResult<String> {
        match self {
            Gateway::Local => Ok(format!("cus_local_{user}")),
            Gateway::Stripe { .. } => {
                let customer = self.post("/v1/customers", &[("metadata[riff_user]", user)], None).await?;
                string(&customer, "id")
            }
        }
    }

    /// Attach a payment method to a customer; the card it stands for.
    pub async fn attach(&self, customer: &str, method: &str) -> ApiResult<Card> {
        let (brand, last4, _) = local_card(method)?;
        match self {
            Gateway::Local => Ok(Card { brand: brand.into(), last4: last4.into() }),
            Gateway::Stripe { .. } => {
                let path = format!("/v1/payment_methods/{}/attach", stripe_test_name(method));
                let pm = self.post(&path, &[("customer", customer)], None).await?;
                Ok(Card {
                    brand: pm["card"]["brand"].as_str().unwrap_or(brand).to_string(),
                    last4: pm["card"]["last4"].as_str().unwrap_or(last4).to_string(),
                })
            }
        }
    }

    /// Charge `amount` cents for `invoice`; the charge's id. `key` makes the charge idempotent.
    pub async fn charge(
        &self,
        customer: &str,
        method: &str,
        amount: i64,
        invoice: &str,
        key: &str,
    ) -> ApiResult<String> {
        let (_, _, declines) = local_card(method)?;
        match self {
            Gateway::Local if declines => Err(declined("Your card was declined.")),
            Gateway::Local => Ok(format!("ch_local_{key}")),
            Gateway::Stripe { .. } => {
                let amount = amount.to_string();
                let form = [
                    ("amount", amount.as_str()),
                    ("currency", crate::billing::CURRENCY),
                    ("customer", customer),
                    ("payment_method", stripe_test_name(method)),
                    ("confirm", "true"),
                    ("metadata[riff_invoice]", invoice),
                ];
                let intent = self.post("/v1/payment_intents", &form, Some(key)).await?;
                match intent["status"].as_str() {
                    Some("succeeded") => string(&intent, "id"),
                    _ => Err(declined(
                        intent["last_payment_error"]["message"].as_str().unwrap_or("Your card was declined."),
                    )),
                }
            }
        }
    }

    /// Give back `amount` cents of `charge` (what [`Gateway::charge`] returned); the refund's id.
    pub async fn refund(&self, charge: &str, amount: i64, invoice: &str, key: &str) -> ApiResult<String> {
        match self {
            Gateway::Local => Ok(format!("re_local_{key}")),
            Gateway::Stripe { .. } => {
                let amount = amount.to_string();
                // A charge made through a payment intent is refunded through it.
                let target = if charge.starts_with("pi_") { "payment_intent" } else { "charge" };
                let form =
                    [(target, charge), ("amount", amount.as_str()), ("metadata[riff_invoice]", invoice)];
                let refund = self.post("/v1/refunds", &form, Some(key)).await?;
                match refund["status"].as_str() {
                    Some("succeeded" | "pending") => string(&refund, "id"),
                    other => Err(ApiError::new(
                        502,
                        format!("the payment gateway did not refund: status {}", other.unwrap_or("?")),
                    )),
                }
            }
        }
    }

    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: Option<&str>,
    ) -> ApiResult<Value> {
        let Gateway::Stripe { base, key } = self else { unreachable!("only the Stripe gateway posts") };
        let body = form
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, NON_ALPHANUMERIC),
                    utf8_percent_encode(v, NON_ALPHANUMERIC)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let mut request = Request::builder();
        request
            .method(Method::Post)
            .uri(format!("{base}{path}"))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(k) = idempotency_key {
            request.header("idempotency-key", k);
        }
        let response: Response = spin_sdk::http::send(request.body(body).build())
            .await
            .map_err(|e| ApiError::new(502, format!("the payment gateway did not answer: {e}")))?;
        let status = *response.status();
        let json: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        match status {
            200..=299 => Ok(json),
            402 => Err(declined(json["error"]["message"].as_str().unwrap_or("Your card was declined."))),
            _ => Err(ApiError::new(
                502,
                format!(
                    "the payment gateway answered {status}: {}",
                    json["error"]["message"].as_str().unwrap_or("?")
                ),
            )),
        }
    }
}

/// Stripe's name for a test card where it differs from the one riff's API takes.
fn stripe_test_name(method: &str) -> &str {
    match method {
        "pm_card_chargeDeclined" => "pm_card_visa_chargeDeclined",
        other => other,
    }
}

fn string(v: &Value, key: &str) -> ApiResult<String> {
    v[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ApiError::new(502, format!("the payment gateway's answer has no {key}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards() {
        assert_eq!(local_card("pm_card_visa").unwrap(), ("visa", "4242", false));
        assert!(local_card("pm_card_chargeDeclined").unwrap().2);
        assert_eq!(local_card("pm_nope").unwrap_err().status, 400);
        assert_eq!(stripe_test_name("pm_card_chargeDeclined"), "pm_card_visa_chargeDeclined");
        assert_eq!(stripe_test_name("pm_card_visa"), "pm_card_visa");
    }
}
