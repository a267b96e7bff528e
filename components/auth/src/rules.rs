//! Input rules and the login-throttling arithmetic: pure functions, tested natively.

use serde::{Deserialize, Serialize};

pub const MIN_PASSWORD: usize = 8;
pub const MAX_PASSWORD: usize = 128;
/// Login attempts one client address may have checked for one username per window.
pub const MAX_CLIENT_ATTEMPTS: i64 = 5;
/// The attempt window (fixed, aligned to the epoch) and how long a username's failures count.
pub const WINDOW_SECONDS: u64 = 15 * 60;
/// Failures of one username, from all addresses together, after which clients that have been
/// failing take turns: one check per backoff period, doubling up to [`MAX_BACKOFF_SECONDS`].
pub const BACKOFF_AFTER_FAILURES: u32 = 20;
pub const MAX_BACKOFF_SECONDS: u64 = 60;

/// 3–32 characters: lowercase letters, digits, '_', '-', '.', starting with a letter or digit.
pub fn check_username(name: &str) -> Result<(), String> {
    let ok_len = (3..=32).contains(&name.len());
    let ok_first = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok_chars =
        name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'));
    if ok_len && ok_first && ok_chars {
        Ok(())
    } else {
        Err("username must be 3 to 32 characters: lowercase letters, digits, '_', '-' or '.', \
             starting with a letter or digit"
            .into())
    }
}

pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(format!("password must be at least {MIN_PASSWORD} characters"));
    }
    if n > MAX_PASSWORD {
        return Err(format!("password must be at most {MAX_PASSWORD} characters"));
    }
    Ok(())
}

/// The attempt window `now` falls in: its number and the seconds left in it (at least 1).
pub fn attempt_window(now: u64) -> (u64, u64) {
    (now / WINDOW_SECONDS, WINDOW_SECONDS - now % WINDOW_SECONDS)
}

/// Whether the `n`th attempt (1-based, as the atomic counter returned it) of one client for one
/// username in one window may have its password checked.
pub fn client_may_attempt(n: i64) -> bool {
    n <= MAX_CLIENT_ATTEMPTS
}

/// What login throttling keys a client on: its IPv4 address, or the /64 network of an IPv6
/// address (one host usually holds a whole /64, so single IPv6 addresses are free to change).
pub fn client_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(v4) => v4.to_string(),
        Err(_) => "unknown".to_string(),
    }
}

/// Seconds a failing client waits between checks once a username has `failures` failures.
pub fn backoff_seconds(failures: u32) -> u64 {
    match failures.checked_sub(BACKOFF_AFTER_FAILURES) {
        None => 0,
        Some(over) => (1u64 << over.min(6)).min(MAX_BACKOFF_SECONDS),
    }
}

/// Failed logins of one username from all clients. They count until [`WINDOW_SECONDS`] pass
/// without one; past [`BACKOFF_AFTER_FAILURES`] a client that has been failing is checked only
/// from `not_before` on, and each check moves `not_before` on by the backoff.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserFailures {
    pub count: u32,
    /// The last failure (seconds since the epoch).
    pub last: u64,
    /// No failing client is checked before this.
    pub not_before: u64,
}

impl UserFailures {
    /// The record as of `now`: forgotten once a window passed without a failure.
    fn current(self, now: u64) -> UserFailures {
        if now >= self.last.saturating_add(WINDOW_SECONDS) {
            UserFailures::default()
        } else {
            self
        }
    }

    /// One more failure at `now`.
    pub fn record(self, now: u64) -> UserFailures {
        let mut f = self.current(now);
        f.count = f.count.saturating_add(1);
        f.last = now;
        let backoff = backoff_seconds(f.count);
        if backoff > 0 {
            f.not_before = f.not_before.max(now + backoff);
        }
        f
    }

    /// A check for a client that has been failing: `Err(seconds)` to wait while the username is
    /// backed off; `Ok(Some(record))` to store (the turn is taken, the next failing client
    /// waits) when a turn is due; `Ok(None)` when no backoff applies.
    pub fn take_turn(self, now: u64) -> Result<Option<UserFailures>, u64> {
        let f = self.current(now);
        let backoff = backoff_seconds(f.count);
        if backoff == 0 {
            return Ok(None);
        }
        if now < f.not_before {
            return Err(f.not_before - now);
        }
        Ok(Some(UserFailures { not_before: now + backoff, ..f }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["ada", "ada.lovelace", "user_42", "9lives"] {
            assert!(check_username(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "Ada", "_ada", "ada lovelace", "ädä", &"a".repeat(33), ""] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn windows_and_client_attempts() {
        assert_eq!(attempt_window(0), (0, WINDOW_SECONDS));
        assert_eq!(attempt_window(WINDOW_SECONDS - 1), (0, 1));
        assert_eq!(attempt_window(3 * WINDOW_SECONDS + 100), (3, WINDOW_SECONDS - 100));
        assert!((1..=5).all(client_may_attempt));
        assert!(!client_may_attempt(6) && !client_may_attempt(20));
    }

    #[test]
    fn clients_by_address_or_ipv6_network() {
        assert_eq!(client_key("203.0.113.9"), "203.0.113.9");
        assert_eq!(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(client_key("2001:db8:1:2:bbbb::7"), client_key("2001:db8:1:2::1"));
        assert_eq!(client_key("not an address"), "unknown");
    }

    #[test]
    fn backoff_doubles_from_the_threshold_to_the_cap() {
        assert_eq!(backoff_seconds(0), 0);
        assert_eq!(backoff_seconds(BACKOFF_AFTER_FAILURES - 1), 0);
        let steps: Vec<u64> = (0..8).map(|i| backoff_seconds(BACKOFF_AFTER_FAILURES + i)).collect();
        assert_eq!(steps, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff_seconds(u32::MAX), MAX_BACKOFF_SECONDS);
    }

    #[test]
    fn failures_below_the_threshold_never_hold_anyone_back() {
        let mut f = UserFailures::default();
        for i in 0..BACKOFF_AFTER_FAILURES - 1 {
            f = f.record(1_000 + u64::from(i));
            assert_eq!(f.take_turn(1_000 + u64::from(i)), Ok(None));
        }
        assert_eq!(f.count, BACKOFF_AFTER_FAILURES - 1);
    }

    #[test]
    fn failing_clients_take_turns_once_backed_off() {
        let mut f = UserFailures::default();
        for _ in 0..BACKOFF_AFTER_FAILURES + 2 {
            f = f.record(1_000);
        }
        // 22 failures: 4 s between checks, counted from the last failure.
        assert_eq!(f.not_before, 1_004);
        assert_eq!(f.take_turn(1_001), Err(3));
        let taken = f.take_turn(1_004).unwrap().expect("a turn is due");
        assert_eq!(taken.not_before, 1_008, "the turn pushes the next one on");
        assert_eq!(taken.take_turn(1_005), Err(3), "a concurrent second client waits");
        // That turn failed too: 23 failures, 8 s.
        assert_eq!(taken.record(1_005).not_before, 1_013);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_window() {
        let mut f = UserFailures::default();
        for _ in 0..30 {
            f = f.record(1_000);
        }
        assert!(f.take_turn(1_010).is_err());
        let later = 1_000 + WINDOW_SECONDS;
        assert_eq!(f.take_turn(later), Ok(None));
        assert_eq!(f.record(later).count, 1);
    }
}
