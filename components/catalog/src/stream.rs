//! Streaming a track's audio: who may listen (a Bearer token checked through `riff:music/auth`)
//! and how much (`riff:music/payment`'s entitlement: free listeners hear a preview), and which
//! bytes (`Range`, see [`crate::range`]). Only this module serves anything but JSON.

use riff_guest::{ApiError, ApiResult};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::sqlite3::Connection;

use crate::bindings::riff::music::{auth, payment, types};
use crate::import::DEMO_DIR;
use crate::range::{self, RangeReply};
use crate::storage;

/// `GET`/`HEAD /v1/tracks/{id}/stream`.
pub fn stream(db: &Connection, req: &Request, id: &str) -> ApiResult {
    let token = riff_guest::bearer_token(req)?;
    let claims = auth::verify_token(&token).map_err(|e| match e {
        types::Error::Internal(m) => ApiError::internal(m),
        other => ApiError::invalid_token(service_message(&other)),
    })?;
    let plan = payment::entitlement(&claims.user_id).map_err(|e| match e {
        types::Error::Internal(m) => ApiError::internal(m),
        other => ApiError::internal(service_message(&other)),
    })?;
    let audio =
        storage::audio(db, id)?.ok_or_else(|| ApiError::not_found(format!("track {id:?} has no audio")))?;
    if audio.contains("..") {
        return Err(ApiError::internal("bad audio path in catalog"));
    }
    let mut bytes = std::fs::read(format!("{DEMO_DIR}/{audio}"))
        .map_err(|e| ApiError::internal(format!("audio for {id:?} unavailable: {e}")))?;
    let preview = plan == payment::Plan::Free;
    if preview {
        // Free listeners hear a preview: the stream (and every range of it) ends there.
        bytes.truncate(preview_len(&bytes, preview_seconds()));
    }
    let total = bytes.len() as u64;
    let range = req.header("range").and_then(|h| h.as_str());
    let head = req.method() == &Method::Head;
    let builder = |status: u16| {
        let mut b = Response::builder();
        b.status(status).header("content-type", "audio/wav").header("accept-ranges", "bytes");
        if preview {
            b.header("x-riff-preview-seconds", preview_seconds().to_string());
        }
        b
    };
    Ok(match range::resolve(range, total) {
        RangeReply::Full => {
            let body = if head { Vec::new() } else { bytes };
            builder(200).header("content-length", total.to_string()).body(body).build()
        }
        RangeReply::Partial { start, end } => {
            let slice = bytes[start as usize..=end as usize].to_vec();
            let len = slice.len();
            builder(206)
                .header("content-range", format!("bytes {start}-{end}/{total}"))
                .header("content-length", len.to_string())
                .body(if head { Vec::new() } else { slice })
                .build()
        }
        RangeReply::Unsatisfiable => {
            let e = ApiError::new(416, format!("range not satisfiable: the track has {total} bytes"));
            let mut r = builder(416);
            r.header("content-range", format!("bytes */{total}"));
            r.header("content-type", "application/json");
            r.body(serde_json::to_vec(&e.body()).unwrap_or_default()).build()
        }
    })
}

/// Seconds a free listener may hear (`preview_seconds` variable, 30 by default).
fn preview_seconds() -> u64 {
    spin_sdk::variables::get("preview_seconds").ok().and_then(|v| v.parse().ok()).unwrap_or(30)
}

/// Bytes of a WAV file holding its first `seconds`: the 44-byte header plus `seconds` times
/// the header's byte rate (the whole file when it is shorter, or not a WAV we understand).
pub fn preview_len(wav: &[u8], seconds: u64) -> usize {
    let Some(rate) = wav.get(28..32).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64) else {
        return wav.len();
    };
    if &wav[..4.min(wav.len())] != b"RIFF" || rate == 0 {
        return wav.len();
    }
    (44 + seconds.saturating_mul(rate)).min(wav.len() as u64) as usize
}

fn service_message(e: &types::Error) -> String {
    match e {
        types::Error::NotFound(m)
        | types::Error::Invalid(m)
        | types::Error::Unauthorized(m)
        | types::Error::Forbidden(m)
        | types::Error::Conflict(m)
        | types::Error::Internal(m) => m.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::preview_len;

    fn wav(byte_rate: u32, data: usize) -> Vec<u8> {
        let mut w = b"RIFF".to_vec();
        w.resize(28, 0);
        w.extend_from_slice(&byte_rate.to_le_bytes());
        w.resize(44 + data, 0);
        w
    }

    #[test]
    fn previews_cut_wavs_at_whole_seconds() {
        assert_eq!(preview_len(&wav(8_000, 32_000), 1), 8_044);
        assert_eq!(preview_len(&wav(8_000, 32_000), 30), 32_044, "shorter than the preview: whole");
        let text = b"not a wav at all, but long enough to have a header....";
        assert_eq!(preview_len(text, 1), text.len());
        assert_eq!(preview_len(b"tiny", 1), 4);
    }
}
