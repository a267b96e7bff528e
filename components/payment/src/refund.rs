//! Refunds: who may take money back, how much, and what it does to the subscription. Plain
//! Rust, tested natively; the service (`POST /v1/me/invoices/{id}/refund`) runs it inside the
//! transaction that then calls the gateway and records the refund.
//!
//! **Who.** The listener who paid, on their own invoice, within [`WINDOW_DAYS`] days of the
//! payment (the `refund_window_days` variable sets another number): a self-service
//! "changed my mind" refund, as a music service offers. Another listener's invoice is a 404, as
//! if it did not exist. Older charges are an operator's business at the gateway's dashboard.
//!
//! **How much.** `amount` in cents, a whole number from 1 to what is left of the payment after
//! earlier refunds; without it, all that is left. A request for more is a 400 that says how much
//! is left; an invoice already refunded in full is a 409; an invoice that took no money (free,
//! or an open one in dunning) is a 409 too.
//!
//! **Once.** The check and the write happen in one SQL transaction (transactions on a database
//! run one at a time), and the gateway's refund carries an idempotency key made of the invoice
//! and the amount already refunded, so two identical requests at the same moment refund once:
//! the second sees the first's refund and is refused (or, with the same `Idempotency-Key`,
//! gets the first's answer).
//!
//! **Effect.** Refunding in full the invoice that paid the current period ends the subscription
//! at once (`canceled`, back to previews): the listener has their money back for it. A partial
//! refund (a goodwill gesture) changes nothing else.

use riff_guest::{ApiError, ApiResult};
use serde::Deserialize;

/// How long after a payment its payer may refund it.
pub const WINDOW_DAYS: u64 = 14;

/// The refund window in use in milliseconds: [`WINDOW_DAYS`], or `refund_window_days`.
pub fn window_ms() -> ApiResult<u64> {
    let configured = spin_sdk::variables::get("refund_window_days").unwrap_or_default();
    parse_window_days(&configured)
        .map_err(|e| ApiError::internal(format!("the refund_window_days variable ({configured:?}): {e}")))
}

/// Empty: [`WINDOW_DAYS`]; otherwise whole days (0 turns self-service refunds off).
pub fn parse_window_days(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let days = if value.is_empty() {
        WINDOW_DAYS
    } else {
        value.parse::<u64>().map_err(|_| format!("{value:?} is not a whole number of days"))?
    };
    Ok(days * 24 * 60 * 60 * 1000)
}

/// `POST /v1/me/invoices/{id}/refund`'s body (an empty body is `{}`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    pub amount: Option<i64>,
    pub reason: Option<String>,
}

/// The reasons Stripe's refund API takes.
pub const REASONS: &[&str] = &["duplicate", "fraudulent", "requested_by_customer"];

/// What the check needs to know of an invoice.
#[derive(Debug, Clone, PartialEq)]
pub struct Paid {
    /// The invoice's status (`paid`, `open`, `uncollectible`).
    pub status: String,
    pub amount_paid: i64,
    pub amount_refunded: i64,
    /// When the money was taken.
    pub paid_at: u64,
    /// The gateway's charge (or payment intent); `None` when no money was taken.
    pub charge: Option<String>,
}

/// The amount to refund, or why not.
pub fn check(invoice: &Paid, body: &RefundBody, now: u64, window_ms: u64) -> ApiResult<i64> {
    if let Some(reason) = &body.reason {
        if !REASONS.contains(&reason.as_str()) {
            return Err(ApiError::bad_request(format!(
                "reason must be one of {}, not {reason:?}",
                REASONS.join(", ")
            )));
        }
    }
    if let Some(amount) = body.amount {
        if amount <= 0 {
            return Err(ApiError::bad_request(format!(
                "amount must be a positive whole number of cents, not {amount}"
            )));
        }
    }
    if invoice.status != "paid" || invoice.charge.is_none() || invoice.amount_paid <= 0 {
        return Err(ApiError::conflict("this invoice took no payment: there is nothing to refund"));
    }
    let left = invoice.amount_paid - invoice.amount_refunded;
    if left <= 0 {
        return Err(ApiError::conflict("this invoice is already refunded in full"));
    }
    if window_ms == 0 {
        return Err(ApiError::forbidden("self-service refunds are off (refund_window_days is 0)"));
    }
    if now.saturating_sub(invoice.paid_at) > window_ms {
        return Err(ApiError::forbidden(format!(
            "payments can be refunded here within {} days; this one is older",
            window_ms / (24 * 60 * 60 * 1000)
        )));
    }
    match body.amount {
        Some(amount) if amount > left => Err(ApiError::bad_request(format!(
            "amount {amount} is more than the {left} cents left to refund on this invoice"
        ))),
        Some(amount) => Ok(amount),
        None => Ok(left),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 60 * 60 * 1000;

    fn paid() -> Paid {
        Paid {
            status: "paid".into(),
            amount_paid: 999,
            amount_refunded: 0,
            paid_at: 10 * DAY,
            charge: Some("pi_1".into()),
        }
    }

    fn body(amount: Option<i64>) -> RefundBody {
        RefundBody { amount, reason: None }
    }

    #[test]
    fn amounts() {
        let window = 14 * DAY;
        let now = 11 * DAY;
        assert_eq!(check(&paid(), &body(None), now, window).unwrap(), 999, "all of it");
        assert_eq!(check(&paid(), &body(Some(300)), now, window).unwrap(), 300);
        for bad in [0, -5] {
            assert_eq!(check(&paid(), &body(Some(bad)), now, window).unwrap_err().status, 400);
        }
        let e = check(&paid(), &body(Some(1000)), now, window).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("999"), "{}", e.message);
        let partly = Paid { amount_refunded: 300, ..paid() };
        assert_eq!(check(&partly, &body(None), now, window).unwrap(), 699, "what is left");
        assert_eq!(check(&partly, &body(Some(700)), now, window).unwrap_err().status, 400);
        let all = Paid { amount_refunded: 999, ..paid() };
        let e = check(&all, &body(None), now, window).unwrap_err();
        assert_eq!((e.status, e.message.contains("already refunded")), (409, true));
    }

    #[test]
    fn only_payments_within_the_window() {
        let window = 14 * DAY;
        assert!(check(&paid(), &body(None), 24 * DAY, window).is_ok(), "on the last day");
        assert_eq!(check(&paid(), &body(None), 24 * DAY + 1, window).unwrap_err().status, 403);
        assert_eq!(check(&paid(), &body(None), 10 * DAY, 0).unwrap_err().status, 403, "a window of 0: off");
        for (status, charge) in [("open", None), ("uncollectible", None), ("paid", None)] {
            let unpaid = Paid { status: status.into(), charge, amount_paid: 0, ..paid() };
            assert_eq!(check(&unpaid, &body(None), 11 * DAY, window).unwrap_err().status, 409);
        }
    }

    #[test]
    fn reasons_and_windows() {
        let with = |reason: &str| RefundBody { amount: None, reason: Some(reason.into()) };
        assert!(check(&paid(), &with("requested_by_customer"), 11 * DAY, 14 * DAY).is_ok());
        assert_eq!(check(&paid(), &with("bored"), 11 * DAY, 14 * DAY).unwrap_err().status, 400);
        assert_eq!(parse_window_days("").unwrap(), 14 * DAY);
        assert_eq!(parse_window_days("3").unwrap(), 3 * DAY);
        assert!(parse_window_days("three").is_err());
        assert!(parse_window_days("-1").is_err());
    }
}
