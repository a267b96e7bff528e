//! Plans, subscription states and what a request may do to them: plain Rust, tested natively.
//!
//! Statuses and transitions follow Stripe's: a paid premium subscription is `active` for a
//! period ([`period_ms`], a month); at its end it renews (a new period and invoice) or, when the
//! charge is declined, becomes `past_due`; cancelling sets `cancel_at_period_end` (it stays
//! `active` until the period ends, then is `canceled`); resuming clears it while the period
//! lasts. The free plan costs nothing and needs no payment method.

use riff_guest::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

/// A billing period: 30 days.
pub const PERIOD_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// The billing period in use: [`PERIOD_MS`], or the `period_seconds` variable when set (tests
/// use a short one to see renewals).
pub fn period_ms() -> u64 {
    spin_sdk::variables::get("period_seconds")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(PERIOD_MS, |s| s * 1000)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Premium,
}

impl Plan {
    pub fn parse(id: &str) -> ApiResult<Plan> {
        match id {
            "free" => Ok(Plan::Free),
            "premium" => Ok(Plan::Premium),
            other => Err(ApiError::bad_request(format!("no plan {other:?}: choose free or premium"))),
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Premium => "premium",
        }
    }

    /// Price per period in cents.
    pub fn amount(self) -> i64 {
        match self {
            Plan::Free => 0,
            Plan::Premium => 999,
        }
    }
}

pub const CURRENCY: &str = "eur";

/// Stripe's subscription statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Incomplete,
    Trialing,
    Active,
    PastDue,
    Canceled,
    Unpaid,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Incomplete => "incomplete",
            Status::Trialing => "trialing",
            Status::Active => "active",
            Status::PastDue => "past_due",
            Status::Canceled => "canceled",
            Status::Unpaid => "unpaid",
        }
    }

    pub fn parse(s: &str) -> Status {
        match s {
            "trialing" => Status::Trialing,
            "active" => Status::Active,
            "past_due" => Status::PastDue,
            "canceled" => Status::Canceled,
            "unpaid" => Status::Unpaid,
            _ => Status::Incomplete,
        }
    }
}

/// A stored subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub plan: Plan,
    pub status: Status,
    pub period_start: u64,
    pub period_end: u64,
    pub cancel_at_period_end: bool,
    pub created: u64,
}

impl Subscription {
    /// Its status at `now`: a cancelled subscription ends with its period.
    pub fn status_at(&self, now: u64) -> Status {
        if self.status == Status::Active && self.cancel_at_period_end && now >= self.period_end {
            Status::Canceled
        } else {
            self.status
        }
    }

    /// The plan it entitles to at `now`.
    pub fn entitles(&self, now: u64) -> Plan {
        match self.status_at(now) {
            Status::Active | Status::Trialing if now < self.period_end || self.plan == Plan::Free => {
                self.plan
            }
            _ => Plan::Free,
        }
    }
}

/// Cancelling: allowed while active, effective at the period's end.
pub fn cancel(sub: &Subscription, now: u64) -> ApiResult<Subscription> {
    match sub.status_at(now) {
        Status::Active | Status::Trialing | Status::PastDue if !sub.cancel_at_period_end => {
            Ok(Subscription { cancel_at_period_end: true, ..sub.clone() })
        }
        Status::Active | Status::Trialing | Status::PastDue => {
            Err(ApiError::conflict("the subscription is already set to cancel at the end of its period"))
        }
        other => Err(ApiError::conflict(format!("a {} subscription cannot be cancelled", other.as_str()))),
    }
}

/// Resuming: undoes a pending cancellation while the period lasts.
pub fn resume(sub: &Subscription, now: u64) -> ApiResult<Subscription> {
    if sub.status_at(now) != Status::Active || !sub.cancel_at_period_end {
        return Err(ApiError::conflict("only an active subscription set to cancel can be resumed"));
    }
    Ok(Subscription { cancel_at_period_end: false, ..sub.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn premium(now: u64) -> Subscription {
        Subscription {
            id: "sub_1".into(),
            plan: Plan::Premium,
            status: Status::Active,
            period_start: now,
            period_end: now + PERIOD_MS,
            cancel_at_period_end: false,
            created: now,
        }
    }

    #[test]
    fn cancel_at_period_end_then_resume() {
        let now = 1_000_000;
        let sub = premium(now);
        let cancelled = cancel(&sub, now).unwrap();
        assert!(cancelled.cancel_at_period_end);
        assert_eq!(cancelled.status_at(now + 1), Status::Active, "active until the period ends");
        assert_eq!(cancelled.entitles(now + 1), Plan::Premium);
        assert_eq!(cancelled.status_at(now + PERIOD_MS), Status::Canceled);
        assert_eq!(cancelled.entitles(now + PERIOD_MS), Plan::Free);
        assert!(cancel(&cancelled, now).is_err(), "twice is a conflict");
        let resumed = resume(&cancelled, now + 5).unwrap();
        assert!(!resumed.cancel_at_period_end);
        assert!(resume(&resumed, now).is_err());
        assert!(resume(&cancelled, now + PERIOD_MS).is_err(), "too late once the period ended");
    }

    #[test]
    fn plans_and_statuses() {
        assert_eq!(Plan::parse("premium").unwrap().amount(), 999);
        assert_eq!(Plan::parse("gold").unwrap_err().status, 400);
        assert_eq!(Status::parse("past_due").as_str(), "past_due");
        let expired = Subscription { period_end: 10, ..premium(0) };
        assert_eq!(expired.entitles(11), Plan::Free, "a lapsed period entitles to nothing more");
    }
}
