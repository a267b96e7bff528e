//! Plans, subscription states and what a request may do to them: plain Rust, tested natively.
//!
//! Statuses and transitions follow Stripe's: a paid premium subscription is `active` for a
//! period ([`period_ms`], a month); at its end it renews (a new period and invoice) or, when the
//! charge is declined, becomes `past_due`; cancelling sets `cancel_at_period_end` (it stays
//! `active` until the period ends, then is `canceled`); resuming clears it while the period
//! lasts. The free plan costs nothing and needs no payment method.
//!
//! **Dunning.** A declined renewal leaves the subscription `past_due` with an `open` invoice,
//! and the renewal run retries the charge on a schedule counted from that first decline
//! ([`RETRY_DAYS`]: after 1, 3 and 5 days; the `retry_seconds` variable sets another, in
//! seconds). While `past_due` the listener has the free plan's entitlement (previews): the
//! period was not paid for, and the money is what the premium plan is. A retry that is paid
//! makes the subscription `active` again with a whole new period from the moment of payment
//! (the listener pays for, and gets, a full period); when the last retry is declined the
//! subscription is `canceled` and the invoice `uncollectible`. Every attempt, the first one
//! included, is recorded on its invoice. [`next_attempt`] and [`after_decline`] decide; the
//! service writes what they decide with conditional UPDATEs.

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

/// The dunning schedule: retries after these many days from the first declined renewal.
pub const RETRY_DAYS: [u64; 3] = [1, 3, 5];

/// The retry schedule in use, as offsets in milliseconds from the first decline: [`RETRY_DAYS`],
/// or the `retry_seconds` variable (`"2,4,6"`) when set. A malformed value is an error that
/// names the variable, not a silent default.
pub fn retry_schedule_ms() -> ApiResult<Vec<u64>> {
    let configured = spin_sdk::variables::get("retry_seconds").unwrap_or_default();
    parse_retry_seconds(&configured)
        .map_err(|e| ApiError::internal(format!("the retry_seconds variable ({configured:?}): {e}")))
}

/// Parse `retry_seconds`: empty means [`RETRY_DAYS`]; otherwise comma-separated whole seconds,
/// each later than the one before.
pub fn parse_retry_seconds(value: &str) -> Result<Vec<u64>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(RETRY_DAYS.iter().map(|d| d * 24 * 60 * 60 * 1000).collect());
    }
    let mut schedule: Vec<u64> = Vec::new();
    for part in value.split(',') {
        let seconds: u64 =
            part.trim().parse().map_err(|_| format!("{:?} is not a whole number of seconds", part.trim()))?;
        if seconds == 0 || schedule.last().is_some_and(|last| seconds * 1000 <= *last) {
            return Err("each retry must come after the decline and after the retry before it".into());
        }
        schedule.push(seconds * 1000);
    }
    Ok(schedule)
}

/// When the next attempt at an `open` invoice is due, given the time of its first (declined)
/// attempt and how many attempts were declined so far; `None` when no retry is left.
pub fn next_attempt(schedule: &[u64], first_decline: u64, declined: usize) -> Option<u64> {
    declined.checked_sub(1).and_then(|i| schedule.get(i)).map(|offset| first_decline + offset)
}

/// What a declined attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDecline {
    /// `past_due`, retried at this time.
    RetryAt(u64),
    /// No retry left: the subscription is canceled, the invoice uncollectible.
    GiveUp,
}

/// The outcome of `declined` declined attempts, the first at `first_decline`.
pub fn after_decline(schedule: &[u64], first_decline: u64, declined: usize) -> AfterDecline {
    next_attempt(schedule, first_decline, declined).map_or(AfterDecline::GiveUp, AfterDecline::RetryAt)
}

/// What the renewal run does with a premium subscription at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing yet.
    Nothing,
    /// The period ended: charge for the next one.
    Renew,
    /// The period ended and it was set to cancel, or the listener cancelled while `past_due`:
    /// end it, charging nothing (an open invoice is voided).
    End,
    /// `past_due`: look at the open invoice's retry schedule.
    Dunning,
}

/// What is due for `sub` at `now` (only a premium plan is ever charged).
pub fn due(sub: &Subscription, now: u64) -> Due {
    match sub.status {
        _ if sub.plan != Plan::Premium => Due::Nothing,
        Status::Active if now >= sub.period_end && sub.cancel_at_period_end => Due::End,
        Status::Active if now >= sub.period_end => Due::Renew,
        Status::PastDue if sub.cancel_at_period_end => Due::End,
        Status::PastDue => Due::Dunning,
        _ => Due::Nothing,
    }
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
    fn retry_schedules() {
        let day = 24 * 60 * 60 * 1000;
        assert_eq!(parse_retry_seconds("").unwrap(), [day, 3 * day, 5 * day]);
        assert_eq!(parse_retry_seconds(" 2, 4 ,6").unwrap(), [2000, 4000, 6000]);
        assert_eq!(parse_retry_seconds("5").unwrap(), [5000]);
        for bad in ["2,1", "0", "a", "1,,2", "2,2", "-1"] {
            assert!(parse_retry_seconds(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dunning_decisions() {
        let schedule = [10, 30, 50];
        // The renewal's decline was attempt 1: the first retry is 10 after it, and so on.
        assert_eq!(next_attempt(&schedule, 100, 1), Some(110));
        assert_eq!(next_attempt(&schedule, 100, 2), Some(130));
        assert_eq!(next_attempt(&schedule, 100, 3), Some(150));
        assert_eq!(next_attempt(&schedule, 100, 4), None, "three retries, then no more");
        assert_eq!(next_attempt(&schedule, 100, 0), None, "nothing declined: nothing to retry");
        assert_eq!(after_decline(&schedule, 100, 3), AfterDecline::RetryAt(150));
        assert_eq!(after_decline(&schedule, 100, 4), AfterDecline::GiveUp);
        assert_eq!(after_decline(&[], 100, 1), AfterDecline::GiveUp, "no retries configured");
    }

    #[test]
    fn what_is_due() {
        let now = 1_000;
        let sub = premium(now);
        assert_eq!(due(&sub, now), Due::Nothing);
        assert_eq!(due(&sub, sub.period_end), Due::Renew);
        let cancelling = Subscription { cancel_at_period_end: true, ..sub.clone() };
        assert_eq!(due(&cancelling, sub.period_end - 1), Due::Nothing, "premium until the end");
        assert_eq!(due(&cancelling, sub.period_end), Due::End, "ended, not charged");
        let past_due = Subscription { status: Status::PastDue, ..sub.clone() };
        assert_eq!(due(&past_due, now), Due::Dunning);
        let given_up = cancel(&past_due, now).unwrap();
        assert_eq!(due(&given_up, now), Due::End, "cancelled while past due: no more retries");
        assert_eq!(past_due.entitles(now), Plan::Free, "past due hears previews");
        let free = Subscription { plan: Plan::Free, ..sub.clone() };
        assert_eq!(due(&free, sub.period_end), Due::Nothing, "free is never charged");
        let canceled = Subscription { status: Status::Canceled, ..sub };
        assert_eq!(due(&canceled, now + PERIOD_MS * 2), Due::Nothing);
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
