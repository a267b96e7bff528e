//! The recommendation service.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /v1/recommendations?seed_artists=&seed_tracks=&seed_genres=&limit=` | `{"seeds": [...], "tracks": [...]}` (Spotify's shape) |
//! | `GET /v1/me/recommendations?limit=&include_history=` | the same for the listener (Bearer token) |
//! | `GET /v1/recommendations/status` | what the model was trained on, and when |
//!
//! The model (`riff-recommend`) learns which artists go together from everyone's plays, which
//! arrive on the `plays` topic; it is retrained in the queue handler, never on a request (see
//! [`store`]). A listener's history is their plays, saved tracks and followed artists (the
//! profile service's typed interface). Tracks come from the catalog's `top-tracks`: those of the
//! artists the model scores, of the listener's own artists, and of their genres, ranked by
//! artist score and then popularity; tracks the listener played or saved are left out unless
//! `include_history=true`. A listener without history — or a model without data — gets the
//! most popular tracks of the seeds' genres.

pub mod params;
pub mod rank;
pub mod store;

use std::collections::{HashMap, HashSet};

use riff_guest::events::{Played, PLAYS};
use riff_guest::router::{Route, Router, GET_HEAD};
use riff_guest::{bearer_token, json_response, query_pairs, respond, ApiError, ApiResult};
use riff_recommend::Query;
use serde::Serialize;
use serde_json::Value;
use spin_sdk::http::{Request, Response};

use params::Seeds;

mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/music", "../../wit/platform"],
        inline: "
            package riff:recommend-component;
            world recommend {
                import riff:music/auth@0.1.0;
                import riff:music/catalog@0.1.0;
                import riff:music/profile@0.1.0;
                export riff:music/recommend@0.1.0;
                export riff:platform/queue-handler@0.1.0;
            }
        ",
        world: "riff:recommend-component/recommend",
        generate_all,
    });
}

use bindings::exports::riff::music::recommend as wit;
use bindings::exports::riff::platform::queue_handler::{Guest as QueueGuest, Message};
use bindings::riff::music::{auth, catalog, profile, types};

riff_guest::service_error_fn!(types);

/// Artists the model is asked for, and candidate tracks fetched from the catalog.
const ARTISTS_CONSIDERED: usize = 50;
const CANDIDATE_TRACKS: u32 = 500;

#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
async fn handle(req: Request) -> Response {
    respond(route(&req).await)
}

enum Endpoint {
    Status,
    ForSeeds,
    ForListener,
}

static ROUTER: Router<Endpoint> = Router::new(&[
    Route::new(GET_HEAD, "/v1/recommendations/status", Endpoint::Status),
    Route::new(GET_HEAD, "/v1/recommendations", Endpoint::ForSeeds),
    Route::new(GET_HEAD, "/v1/me/recommendations", Endpoint::ForListener),
]);

/// Spotify's recommendations object: `{seeds, tracks}`.
#[derive(Serialize)]
struct Recommendations {
    seeds: Vec<Seed>,
    tracks: Vec<Value>,
}

/// One seed and how many tracks it gave (Spotify's recommendation seed object).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Seed {
    after_filtering_size: usize,
    after_relinking_size: usize,
    href: Option<String>,
    id: String,
    initial_pool_size: usize,
    #[serde(rename = "type")]
    kind: &'static str,
}

async fn route(req: &Request) -> ApiResult {
    let found = ROUTER.resolve(req.method(), req.path())?;
    let query = query_pairs(req.query());
    let db = store::open()?;
    match found.handler {
        Endpoint::Status => Ok(json_response(200, &store::status(&db)?)),
        Endpoint::ForSeeds => {
            let seeds = Seeds::parse(&query)?;
            let limit = params::limit(&query)?;
            let (tracks, seeds) = for_seeds(&db, &seeds, limit)?;
            let tracks = render(&tracks).await?;
            Ok(json_response(200, &Recommendations { seeds, tracks }))
        }
        Endpoint::ForListener => {
            let user = auth::verify_token(&bearer_token(req)?).map_err(service_error)?.user_id;
            let limit = params::limit(&query)?;
            let include_history = params::include_history(&query)?;
            let tracks = for_listener(&db, &user, limit, include_history)?;
            let tracks = render(&tracks).await?;
            Ok(json_response(200, &Recommendations { seeds: Vec::new(), tracks }))
        }
    }
}

/// Recommendations from seeds: the seeds' artists and genres, and what the model puts next
/// to those artists.
fn for_seeds(
    db: &spin_sdk::sqlite3::Connection,
    seeds: &Seeds,
    limit: u32,
) -> ApiResult<(Vec<types::Track>, Vec<Seed>)> {
    let seed_tracks = catalog::get_tracks(&seeds.tracks).map_err(service_error)?;
    let seed_artists = catalog::get_artists(&seeds.artists).map_err(service_error)?;
    let mut artists: Vec<String> = Vec::new();
    let mut genres: Vec<String> = seeds.genres.iter().map(|g| g.to_lowercase()).collect();
    for (id, track) in seeds.tracks.iter().zip(&seed_tracks) {
        let track =
            track.as_ref().ok_or_else(|| ApiError::bad_request(format!("unknown seed track {id:?}")))?;
        artists.push(track.artist_id.clone());
        genres.extend(track.genre.iter().map(|g| g.to_lowercase()));
    }
    for (id, artist) in seeds.artists.iter().zip(&seed_artists) {
        let artist =
            artist.as_ref().ok_or_else(|| ApiError::bad_request(format!("unknown seed artist {id:?}")))?;
        artists.push(artist.id.clone());
        genres.extend(artist.genres.iter().map(|g| g.to_lowercase()));
    }
    let learned = store::with_model(db, |model| {
        model.map(|m| m.recommend_from_seeds(&artists, &Query::top(ARTISTS_CONSIDERED).include_history()))
    })?
    .unwrap_or_default();
    let own: HashMap<String, f32> = artists.iter().map(|a| (a.clone(), 1.0)).collect();
    let exclude: HashSet<String> = seeds.tracks.iter().cloned().collect();
    let plan = rank::Plan::new(&own, &learned, genres, exclude);
    let (tracks, pool) = candidates_and_rank(&plan, limit)?;

    let seed_objects: Vec<Seed> =
        [("ARTIST", &seeds.artists), ("TRACK", &seeds.tracks), ("GENRE", &seeds.genres)]
            .into_iter()
            .flat_map(|(kind, ids)| {
                ids.iter().map(move |id| Seed {
                    after_filtering_size: pool.1,
                    after_relinking_size: pool.1,
                    href: match kind {
                        "ARTIST" => Some(riff_guest::model::href("artist", id)),
                        "TRACK" => Some(riff_guest::model::href("track", id)),
                        _ => None,
                    },
                    id: id.clone(),
                    initial_pool_size: pool.0,
                    kind,
                })
            })
            .collect();
    Ok((tracks, seed_objects))
}

/// Recommendations for a listener from their plays, saved tracks and followed artists.
fn for_listener(
    db: &spin_sdk::sqlite3::Connection,
    user: &str,
    limit: u32,
    include_history: bool,
) -> ApiResult<Vec<types::Track>> {
    let mut own = store::listened(db, user)?;
    let mut played = store::played_tracks(db, user)?;
    // Plays the queue has not delivered here yet are in the profile already.
    for play in profile::recently_played(user, 50).map_err(service_error)? {
        played.insert(play.track_id);
    }
    let saved = profile::saved_tracks(user).map_err(service_error)?;
    for artist in profile::followed_artists(user).map_err(service_error)? {
        *own.entry(artist).or_default() += 1.0;
    }
    // The history's tracks tell its artists and genres.
    let known: Vec<String> = played.iter().chain(&saved).take(100).cloned().collect();
    let mut genres = Vec::new();
    for track in catalog::get_tracks(&known).map_err(service_error)?.into_iter().flatten() {
        if saved.contains(&track.id) {
            *own.entry(track.artist_id.clone()).or_default() += 1.0;
        } else {
            own.entry(track.artist_id.clone()).or_insert(1.0);
        }
        genres.extend(track.genre.map(|g| g.to_lowercase()));
    }
    if own.is_empty() {
        // Cold start: the most popular tracks of every genre.
        genres = catalog::list_genres()
            .map_err(service_error)?
            .into_iter()
            .map(|g| g.name.to_lowercase())
            .collect();
    }
    let history: Vec<(String, f32)> = own.iter().map(|(a, w)| (a.clone(), *w)).collect();
    let learned = store::with_model(db, |model| {
        model.map(|m| m.recommend(&history, &Query::top(ARTISTS_CONSIDERED).include_history()))
    })?
    .unwrap_or_default();
    let exclude: HashSet<String> =
        if include_history { HashSet::new() } else { played.into_iter().chain(saved).collect() };
    let plan = rank::Plan::new(&own, &learned, genres, exclude);
    Ok(candidates_and_rank(&plan, limit)?.0)
}

/// Fetch the plan's candidate tracks from the catalog and rank them; also returns the pool
/// size before and after filtering (Spotify's `initialPoolSize`, `afterFilteringSize`).
fn candidates_and_rank(plan: &rank::Plan, limit: u32) -> ApiResult<(Vec<types::Track>, (usize, usize))> {
    let artists: Vec<String> = plan.artists().cloned().collect();
    let mut pool = catalog::top_tracks(&artists, &plan.genres, CANDIDATE_TRACKS).map_err(service_error)?;
    if pool.len() < limit as usize {
        // Too few of the listener's kind: fill with what is popular overall.
        let genres: Vec<String> =
            catalog::list_genres().map_err(service_error)?.into_iter().map(|g| g.name).collect();
        pool.extend(catalog::top_tracks(&[], &genres, CANDIDATE_TRACKS).map_err(service_error)?);
    }
    let before = pool.len();
    fn view(t: &types::Track) -> rank::Candidate<'_> {
        rank::Candidate {
            id: &t.id,
            artist_id: &t.artist_id,
            genre: t.genre.as_deref(),
            popularity: t.popularity,
        }
    }
    let after = plan.rank(pool.clone(), usize::MAX, view).len();
    Ok((plan.rank(pool, limit as usize, view), (before, after)))
}

/// The catalog's JSON for `tracks`, in order.
async fn render(tracks: &[types::Track]) -> ApiResult<Vec<Value>> {
    let ids: Vec<String> = tracks.iter().map(|t| t.id.clone()).collect();
    riff_guest::catalog::objects("track", &ids).await
}

struct Service;

impl QueueGuest for Service {
    fn handle(message: Message) -> Result<(), String> {
        let outcome = (|| -> ApiResult<()> {
            if message.topic != PLAYS {
                return Err(ApiError::bad_request(format!("unexpected topic {:?}", message.topic)));
            }
            let play: Played = serde_json::from_slice(&message.payload)
                .map_err(|e| ApiError::bad_request(format!("not a play event: {e}")))?;
            let db = store::open()?;
            store::record_play(&db, &message.id, &play)?;
            store::maybe_retrain(&db)
        })();
        outcome.map_err(|e| e.message)
    }
}

impl wit::Guest for Service {
    fn recommend(
        user_id: Option<String>,
        seeds: wit::Seeds,
        limit: u32,
    ) -> Result<Vec<types::Track>, types::Error> {
        let as_error = |e: ApiError| match e.status {
            400 => types::Error::Invalid(e.message),
            404 => types::Error::NotFound(e.message),
            _ => types::Error::Internal(e.message),
        };
        if !(1..=params::MAX_LIMIT).contains(&limit) {
            return Err(types::Error::Invalid(format!("limit must be from 1 to {}", params::MAX_LIMIT)));
        }
        let db = store::open().map_err(as_error)?;
        let seeds = Seeds { artists: seeds.artists, tracks: seeds.tracks, genres: seeds.genres };
        match user_id {
            Some(user) if seeds.is_empty() => for_listener(&db, &user, limit, false).map_err(as_error),
            _ => {
                seeds.check().map_err(as_error)?;
                for_seeds(&db, &seeds, limit).map(|(tracks, _)| tracks).map_err(as_error)
            }
        }
    }
}

bindings::export!(Service with_types_in bindings);
