//! Input rules and the failed-login limiter: pure functions, tested natively.

use serde::{Deserialize, Serialize};

pub const MIN_PASSWORD: usize = 8;
pub const MAX_PASSWORD: usize = 128;
/// Failed logins allowed per username within [`FAILURE_WINDOW_SECONDS`].
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW_SECONDS: u64 = 15 * 60;

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

/// Failed logins of one username in the current window.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    /// When the window started (seconds since the epoch).
    pub since: u64,
}

impl Failures {
    /// Seconds until another attempt is allowed, if the username is locked now.
    pub fn locked_for(&self, now: u64) -> Option<u64> {
        let window_end = self.since + FAILURE_WINDOW_SECONDS;
        (self.count >= MAX_FAILURES && now < window_end).then(|| window_end - now)
    }

    /// Record one more failure at `now`.
    pub fn record(self, now: u64) -> Failures {
        if now >= self.since + FAILURE_WINDOW_SECONDS {
            Failures { count: 1, since: now }
        } else {
            Failures { count: self.count + 1, since: self.since }
        }
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
    fn lockout_after_five_failures_for_the_window() {
        let mut f = Failures::default();
        for i in 0..MAX_FAILURES {
            assert_eq!(f.locked_for(1_000 + u64::from(i)), None);
            f = f.record(1_000 + u64::from(i));
        }
        assert_eq!(f.locked_for(1_010), Some(FAILURE_WINDOW_SECONDS - 10));
        assert_eq!(f.locked_for(1_000 + FAILURE_WINDOW_SECONDS), None);
        assert_eq!(f.record(1_000 + FAILURE_WINDOW_SECONDS).count, 1, "a new window starts afresh");
    }
}
