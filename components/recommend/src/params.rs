//! `GET /v1/recommendations` parameters, validated at the edge (400 with a reason, never 500).

use riff_guest::{ApiError, ApiResult};

/// Spotify's limits: 1 to 5 seeds in all, 1 to 100 tracks (20 by default).
pub const MAX_SEEDS: usize = 5;
pub const MAX_LIMIT: u32 = 100;
pub const DEFAULT_LIMIT: u32 = 20;

#[derive(Debug, Default, PartialEq)]
pub struct Seeds {
    pub artists: Vec<String>,
    pub tracks: Vec<String>,
    pub genres: Vec<String>,
}

impl Seeds {
    pub fn len(&self) -> usize {
        self.artists.len() + self.tracks.len() + self.genres.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `seed_artists`, `seed_tracks`, `seed_genres`: comma-separated, 1 to 5 in all.
    pub fn parse(query: &[(String, String)]) -> ApiResult<Self> {
        let list = |key: &str| -> Vec<String> {
            query
                .iter()
                .filter(|(k, _)| k == key)
                .flat_map(|(_, v)| v.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.rsplit(':').next().unwrap_or(s).to_string()) // accept riff:artist:<id> too
                .collect()
        };
        let seeds =
            Seeds { artists: list("seed_artists"), tracks: list("seed_tracks"), genres: list("seed_genres") };
        seeds.check()?;
        Ok(seeds)
    }

    pub fn check(&self) -> ApiResult<()> {
        if self.is_empty() {
            return Err(ApiError::bad_request("give at least one of seed_artists, seed_tracks, seed_genres"));
        }
        if self.len() > MAX_SEEDS {
            return Err(ApiError::bad_request(format!(
                "at most {MAX_SEEDS} seeds in all, got {}",
                self.len()
            )));
        }
        if let Some(bad) = self.artists.iter().chain(&self.tracks).find(|id| !valid_id(id)) {
            return Err(ApiError::bad_request(format!("{bad:?} is not an id")));
        }
        if let Some(bad) = self.genres.iter().find(|g| g.len() > 64) {
            return Err(ApiError::bad_request(format!("{bad:?} is not a genre")));
        }
        Ok(())
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `limit`: 1 to 100, 20 by default.
pub fn limit(query: &[(String, String)]) -> ApiResult<u32> {
    match query.iter().find(|(k, _)| k == "limit") {
        None => Ok(DEFAULT_LIMIT),
        Some((_, v)) => v.parse::<u32>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
            ApiError::bad_request(format!("limit must be a number from 1 to {MAX_LIMIT}, got {v:?}"))
        }),
    }
}

/// `include_history=true`: allow tracks the listener played or saved.
pub fn include_history(query: &[(String, String)]) -> ApiResult<bool> {
    match query.iter().find(|(k, _)| k == "include_history").map(|(_, v)| v.as_str()) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => {
            Err(ApiError::bad_request(format!("include_history must be true or false, got {other:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn seeds() {
        let s =
            Seeds::parse(&q(&[("seed_artists", "ar01,riff:artist:ar02"), ("seed_genres", "jazz")])).unwrap();
        assert_eq!(s.artists, ["ar01", "ar02"]);
        assert_eq!(s.genres, ["jazz"]);
        assert!(Seeds::parse(&q(&[])).unwrap_err().message.contains("at least one"));
        let six = q(&[("seed_tracks", "a,b,c,d,e,f")]);
        assert!(Seeds::parse(&six).unwrap_err().message.contains("at most 5"));
        assert!(Seeds::parse(&q(&[("seed_artists", "../x")])).unwrap_err().message.contains("not an id"));
    }

    #[test]
    fn limits_and_flags() {
        assert_eq!(limit(&q(&[])).unwrap(), 20);
        assert_eq!(limit(&q(&[("limit", "100")])).unwrap(), 100);
        for bad in ["0", "101", "x", "-1"] {
            assert_eq!(limit(&q(&[("limit", bad)])).unwrap_err().status, 400);
        }
        assert!(include_history(&q(&[("include_history", "true")])).unwrap());
        assert!(include_history(&q(&[("include_history", "yes")])).is_err());
    }
}
