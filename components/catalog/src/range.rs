//! HTTP `Range` requests on a byte stream (RFC 9110 §14): one range per request, as media
//! players send. Pure functions, tested natively.

/// What to send for a request with an optional `Range` header over `total` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeReply {
    /// 200 with the whole body.
    Full,
    /// 206 with bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// 416: the range does not overlap the body.
    Unsatisfiable,
}

pub fn resolve(header: Option<&str>, total: u64) -> RangeReply {
    let Some(header) = header else { return RangeReply::Full };
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeReply::Full; // unknown unit: ignore the header, as RFC 9110 allows
    };
    if spec.contains(',') {
        // Several ranges would need multipart/byteranges; serve the whole body instead.
        return RangeReply::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeReply::Full };
    let (first, last) = (first.trim(), last.trim());
    if total == 0 {
        return RangeReply::Unsatisfiable;
    }
    match (first.parse::<u64>().ok(), last.parse::<u64>().ok()) {
        // bytes=-N: the last N bytes
        (None, Some(n)) if first.is_empty() => {
            if n == 0 {
                RangeReply::Unsatisfiable
            } else {
                RangeReply::Partial { start: total.saturating_sub(n), end: total - 1 }
            }
        }
        (Some(start), None) if last.is_empty() => {
            if start >= total {
                RangeReply::Unsatisfiable
            } else {
                RangeReply::Partial { start, end: total - 1 }
            }
        }
        (Some(start), Some(end)) if start <= end => {
            if start >= total {
                RangeReply::Unsatisfiable
            } else {
                RangeReply::Partial { start, end: end.min(total - 1) }
            }
        }
        _ => RangeReply::Full, // malformed: ignore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(resolve(None, 100), RangeReply::Full);
        assert_eq!(resolve(Some("bytes=0-9"), 100), RangeReply::Partial { start: 0, end: 9 });
        assert_eq!(resolve(Some("bytes=90-"), 100), RangeReply::Partial { start: 90, end: 99 });
        assert_eq!(resolve(Some("bytes=-10"), 100), RangeReply::Partial { start: 90, end: 99 });
        assert_eq!(resolve(Some("bytes=-1000"), 100), RangeReply::Partial { start: 0, end: 99 });
        assert_eq!(resolve(Some("bytes=50-1000"), 100), RangeReply::Partial { start: 50, end: 99 });
        assert_eq!(resolve(Some("bytes=100-"), 100), RangeReply::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=200-300"), 100), RangeReply::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=-0"), 100), RangeReply::Unsatisfiable);
        assert_eq!(resolve(Some("bytes=9-0"), 100), RangeReply::Full);
        assert_eq!(resolve(Some("items=0-9"), 100), RangeReply::Full);
        assert_eq!(resolve(Some("bytes=0-1,5-6"), 100), RangeReply::Full);
    }
}
