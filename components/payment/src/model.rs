//! The payment API's answers as serde types, in the shapes Stripe gives the same objects
//! (`"object": "subscription"`, amounts in cents, times in Unix seconds). Answers pass through
//! the idempotency store as JSON values, so handlers turn these into a `Value` with [`value`].
//! Fields are in alphabetical order, as in `riff_guest::model`.

use serde::Serialize;
use serde_json::Value;

use crate::billing::{Plan, Subscription, CURRENCY};
use crate::gateway::Card;

/// A body as the JSON value the idempotency store keeps.
pub fn value(body: &impl Serialize) -> Value {
    // These types hold only strings, numbers and booleans: they always serialize.
    serde_json::to_value(body).unwrap_or(Value::Null)
}

/// A plan (Stripe's price object).
#[derive(Debug, Serialize)]
pub struct PlanObject {
    pub amount: i64,
    pub currency: &'static str,
    pub id: &'static str,
    pub interval: &'static str,
    pub interval_count: u32,
    pub nickname: &'static str,
    pub object: &'static str,
}

impl From<Plan> for PlanObject {
    fn from(plan: Plan) -> Self {
        Self {
            amount: plan.amount(),
            currency: CURRENCY,
            id: plan.id(),
            interval: "month",
            interval_count: 1,
            nickname: match plan {
                Plan::Free => "Free (30-second previews)",
                Plan::Premium => "Premium (whole tracks)",
            },
            object: "plan",
        }
    }
}

/// `GET /v1/plans`.
#[derive(Serialize)]
pub struct Plans {
    pub plans: Vec<PlanObject>,
}

/// A subscription as it stands at some moment (its status depends on the time).
#[derive(Debug, Serialize)]
pub struct SubscriptionObject {
    pub cancel_at_period_end: bool,
    pub created: u64,
    pub current_period_end: u64,
    pub current_period_start: u64,
    pub id: String,
    pub object: &'static str,
    pub plan: PlanObject,
    pub status: &'static str,
}

impl SubscriptionObject {
    pub fn at(s: &Subscription, now: u64) -> Self {
        Self {
            cancel_at_period_end: s.cancel_at_period_end,
            created: s.created / 1000,
            current_period_end: s.period_end / 1000,
            current_period_start: s.period_start / 1000,
            id: s.id.clone(),
            object: "subscription",
            plan: s.plan.into(),
            status: s.status_at(now).as_str(),
        }
    }
}

/// The payment method a listener set, and which gateway holds it.
#[derive(Serialize)]
pub struct PaymentMethodObject {
    pub card: Card,
    pub gateway: &'static str,
    pub id: String,
    pub object: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// An invoice (amounts in cents, times in Unix seconds). Beside Stripe's fields
/// (`attempt_count`, `next_payment_attempt`, `amount_refunded`): each payment attempt and each
/// refund, oldest first.
#[derive(Serialize)]
pub struct InvoiceObject {
    pub amount_due: i64,
    pub amount_paid: i64,
    pub amount_refunded: i64,
    pub attempt_count: usize,
    pub attempts: Vec<AttemptObject>,
    pub created: i64,
    pub currency: String,
    pub gateway: String,
    pub id: String,
    pub next_payment_attempt: Option<i64>,
    pub object: &'static str,
    pub period_end: i64,
    pub period_start: i64,
    pub refunds: Vec<RefundObject>,
    pub status: String,
    pub subscription: String,
}

/// One attempt to take an invoice's payment: `succeeded` or `declined` (with the gateway's
/// message).
#[derive(Debug, Clone, Serialize)]
pub struct AttemptObject {
    pub attempt: i64,
    pub created: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub outcome: String,
}

/// A refund (Stripe's refund object, with the invoice it belongs to).
#[derive(Debug, Clone, Serialize)]
pub struct RefundObject {
    pub amount: i64,
    pub created: i64,
    pub currency: String,
    pub id: String,
    pub invoice: String,
    pub object: &'static str,
    pub reason: Option<String>,
    pub status: &'static str,
}

/// A webhook's acknowledgement: `{"received": true}`, with `"duplicate": true` for an event
/// already applied.
#[derive(Serialize)]
pub struct Received {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    pub received: bool,
}

/// Stripe's error body for a declined card.
#[derive(Serialize)]
pub struct DeclineBody {
    pub error: Decline,
}

#[derive(Serialize)]
pub struct Decline {
    pub code: &'static str,
    pub decline_code: &'static str,
    pub message: String,
    pub status: u16,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl DeclineBody {
    pub fn new(message: &str) -> Self {
        Self {
            error: Decline {
                code: "card_declined",
                decline_code: "generic_decline",
                message: message.to_string(),
                status: 402,
                kind: "card_error",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::Status;
    use serde_json::json;

    // The answers as the service assembled them before they were types.

    fn same_bytes(new: &impl Serialize, old: Value) {
        assert_eq!(serde_json::to_string(new).unwrap(), serde_json::to_string(&old).unwrap());
    }

    fn plan_json(plan: Plan) -> Value {
        json!({
            "id": plan.id(),
            "object": "plan",
            "amount": plan.amount(),
            "currency": CURRENCY,
            "interval": "month",
            "interval_count": 1,
            "nickname": match plan { Plan::Free => "Free (30-second previews)", Plan::Premium => "Premium (whole tracks)" },
        })
    }

    #[test]
    fn plans_and_subscriptions() {
        for plan in [Plan::Free, Plan::Premium] {
            same_bytes(&PlanObject::from(plan), plan_json(plan));
        }
        let s = Subscription {
            id: "sub_1".into(),
            plan: Plan::Premium,
            status: Status::Active,
            period_start: 1_000_000,
            period_end: 2_000_000,
            cancel_at_period_end: true,
            created: 1_000_500,
        };
        same_bytes(
            &SubscriptionObject::at(&s, 2_000_001),
            json!({
                "id": "sub_1",
                "object": "subscription",
                "plan": plan_json(Plan::Premium),
                "status": "canceled",
                "current_period_start": 1000,
                "current_period_end": 2000,
                "cancel_at_period_end": true,
                "created": 1000,
            }),
        );
    }

    #[test]
    fn methods_invoices_webhooks_declines() {
        let card = Card { brand: "visa".into(), last4: "4242".into() };
        same_bytes(
            &PaymentMethodObject {
                card,
                gateway: "local-test",
                id: "pm_card_visa".into(),
                object: "payment_method",
                kind: "card",
            },
            json!({ "id": "pm_card_visa", "object": "payment_method", "type": "card",
                    "card": { "brand": "visa", "last4": "4242" }, "gateway": "local-test" }),
        );
        let refund = RefundObject {
            amount: 300,
            created: 9,
            currency: "eur".into(),
            id: "re_1".into(),
            invoice: "in_1".into(),
            object: "refund",
            reason: None,
            status: "succeeded",
        };
        same_bytes(
            &InvoiceObject {
                amount_due: 999,
                amount_paid: 0,
                amount_refunded: 300,
                attempt_count: 1,
                attempts: vec![AttemptObject {
                    attempt: 1,
                    created: 5,
                    message: Some("declined".into()),
                    outcome: "declined".into(),
                }],
                created: 5,
                currency: "eur".into(),
                gateway: "stripe".into(),
                id: "in_1".into(),
                next_payment_attempt: Some(8),
                object: "invoice",
                period_end: 7,
                period_start: 6,
                refunds: vec![refund.clone()],
                status: "open".into(),
                subscription: "sub_1".into(),
            },
            json!({
                "id": "in_1", "object": "invoice", "subscription": "sub_1",
                "amount_due": 999, "amount_paid": 0, "amount_refunded": 300,
                "attempt_count": 1,
                "attempts": [{ "attempt": 1, "created": 5, "message": "declined", "outcome": "declined" }],
                "currency": "eur",
                "status": "open", "created": 5, "period_start": 6, "period_end": 7, "gateway": "stripe",
                "next_payment_attempt": 8,
                "refunds": [{ "id": "re_1", "object": "refund", "amount": 300, "currency": "eur",
                              "invoice": "in_1", "reason": null, "status": "succeeded", "created": 9 }],
            }),
        );
        same_bytes(&Received { duplicate: None, received: true }, json!({ "received": true }));
        same_bytes(
            &Received { duplicate: Some(true), received: true },
            json!({ "received": true, "duplicate": true }),
        );
        same_bytes(
            &DeclineBody::new("no"),
            json!({ "error": { "status": 402, "type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "no" } }),
        );
    }
}
