//! The one router every service answers through, so that all of them agree on what a wrong
//! path and a wrong method are: a path no route's pattern matches is a 404 (`no such endpoint`);
//! a path some pattern matches, asked with a method none of those routes takes, is a 405 whose
//! `Allow` header lists the methods those routes do take, in the order they are declared. Both
//! are decided before a handler runs, so before any token is checked.
//!
//! A service declares its routes once, as a `static`:
//!
//! ```ignore
//! static ROUTER: Router<Handler> = Router::new(&[
//!     Route::new(GET_HEAD, "/v1/artists/{id}", artist),
//!     Route::new(&["POST"], "/v1/admin/catalog/import", import),
//! ]);
//! let found = ROUTER.resolve(req.method(), req.path())?;
//! (found.handler)(req, &found.params)
//! ```
//!
//! The handler type `H` is the service's choice: a function pointer for a synchronous service,
//! or an enum it `match`es for an async one. Patterns are literal segments and `{name}`
//! segments; a `{name}` segment matches any one segment (an empty one too, as the services'
//! hand-written matching did), without percent-decoding it. Methods are matched exactly, so a
//! route that answers `HEAD` says so (see [`GET_HEAD`]); `OPTIONS` is a 405 like any other
//! method a route does not list (the host answers CORS preflights before a service sees them).
//! Trailing slashes are ignored (`/v1/artists/` is `/v1/artists`) unless the router is
//! [`Router::strict_trailing_slash`].

use spin_sdk::http::Method;

use crate::{ApiError, ApiResult};

/// The methods of a read-only resource: `GET`, and `HEAD` answered the same way.
pub const GET_HEAD: &[&str] = &["GET", "HEAD"];

/// One route: the methods it takes, its path pattern, and what handles it.
pub struct Route<H> {
    methods: &'static [&'static str],
    pattern: &'static str,
    handler: H,
}

impl<H> Route<H> {
    pub const fn new(methods: &'static [&'static str], pattern: &'static str, handler: H) -> Self {
        Self { methods, pattern, handler }
    }
}

/// A service's routes, tried in the order declared.
pub struct Router<H: 'static> {
    routes: &'static [Route<H>],
    strict_trailing_slash: bool,
}

/// What a request resolved to: the route's handler and the values of its `{name}` segments.
pub struct Found<'r, H> {
    pub handler: &'r H,
    pub params: Params,
}

/// The values of a matched pattern's `{name}` segments.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The value of segment `{name}`. Asking for a name the route's pattern does not declare
    /// is a bug in the service, and panics with that name.
    pub fn get(&self, name: &str) -> &str {
        match self.0.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => value,
            None => panic!("the route's pattern has no {{{name}}} segment"),
        }
    }
}

impl<H> Router<H> {
    pub const fn new(routes: &'static [Route<H>]) -> Self {
        Self { routes, strict_trailing_slash: false }
    }

    /// Match paths exactly as sent: `/v1/auth/login/` is then not `/v1/auth/login` (the auth
    /// service has always answered so).
    pub const fn strict_trailing_slash(mut self) -> Self {
        self.strict_trailing_slash = true;
        self
    }

    /// The route for `method` and `path` (the path without its query), or the 404 or 405 to
    /// answer instead.
    pub fn resolve(&self, method: &Method, path: &str) -> ApiResult<Found<'_, H>> {
        let path = if self.strict_trailing_slash { path } else { path.trim_end_matches('/') };
        let method = method.to_string();
        let mut allow: Vec<&'static str> = Vec::new();
        for route in self.routes {
            let Some(params) = match_pattern(route.pattern, path) else { continue };
            if route.methods.contains(&method.as_str()) {
                return Ok(Found { handler: &route.handler, params });
            }
            for m in route.methods {
                if !allow.contains(m) {
                    allow.push(m);
                }
            }
        }
        if allow.is_empty() {
            Err(ApiError::not_found(format!("no such endpoint: {path}")))
        } else {
            Err(ApiError::method_not_allowed(&allow))
        }
    }
}

/// The `{name}` values when `path` matches `pattern` segment by segment.
fn match_pattern(pattern: &'static str, path: &str) -> Option<Params> {
    let mut wanted = pattern.split('/');
    let mut given = path.split('/');
    let mut params = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(Params(params)),
            (Some(w), Some(g)) => match w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                Some(name) => params.push((name, g.to_string())),
                None if w == g => {}
                None => return None,
            },
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum H {
        Artists,
        Artist,
        ArtistAlbums,
        Playlist,
        PlaylistItems,
        PlaylistItemsAdd,
        Import,
    }

    static ROUTER: Router<H> = Router::new(&[
        Route::new(GET_HEAD, "/v1/artists", H::Artists),
        Route::new(GET_HEAD, "/v1/artists/{id}", H::Artist),
        Route::new(GET_HEAD, "/v1/artists/{id}/albums", H::ArtistAlbums),
        Route::new(&["GET", "PUT", "DELETE"], "/v1/playlists/{id}", H::Playlist),
        Route::new(&["GET"], "/v1/playlists/{id}/items", H::PlaylistItems),
        Route::new(&["POST", "PUT", "DELETE"], "/v1/playlists/{id}/items", H::PlaylistItemsAdd),
        Route::new(&["POST"], "/v1/admin/catalog/import", H::Import),
    ]);

    static STRICT: Router<H> =
        Router::new(&[Route::new(&["POST"], "/v1/auth/login", H::Import)]).strict_trailing_slash();

    fn found(method: Method, path: &str) -> (H, Params) {
        let f = ROUTER.resolve(&method, path).unwrap_or_else(|e| panic!("{path}: {e:?}"));
        (*f.handler, f.params)
    }

    fn params(pairs: &[(&'static str, &str)]) -> Params {
        Params(pairs.iter().map(|(n, v)| (*n, v.to_string())).collect())
    }

    #[test]
    fn routes_and_params() {
        assert_eq!(found(Method::Get, "/v1/artists"), (H::Artists, params(&[])));
        assert_eq!(found(Method::Head, "/v1/artists"), (H::Artists, params(&[])));
        assert_eq!(found(Method::Get, "/v1/artists/ar01"), (H::Artist, params(&[("id", "ar01")])));
        let (h, p) = found(Method::Get, "/v1/artists/ar%2001/albums");
        assert_eq!((h, p.get("id")), (H::ArtistAlbums, "ar%2001"), "segments are not decoded");
        assert_eq!(found(Method::Get, "/v1/playlists/p1/items").0, H::PlaylistItems);
        assert_eq!(found(Method::Post, "/v1/playlists/p1/items").0, H::PlaylistItemsAdd);
        assert_eq!(found(Method::Delete, "/v1/playlists/p1/items").0, H::PlaylistItemsAdd);
        // A {name} segment matches any one segment, an empty one too.
        assert_eq!(found(Method::Get, "/v1/artists//albums"), (H::ArtistAlbums, params(&[("id", "")])));
    }

    #[test]
    fn unknown_paths_are_404_whatever_the_method() {
        for (method, path) in [
            (Method::Get, "/v1/artists/ar01/nothing"),
            (Method::Post, "/v1/nothing"),
            (Method::Get, "/v1"),
            (Method::Get, "/"),
            (Method::Get, ""),
            (Method::Get, "/v1/admin/catalog"),
            (Method::Other("BREW".into()), "/v1/artists/a/b/c"),
        ] {
            let e = ROUTER.resolve(&method, path).err().expect(path);
            assert_eq!((e.status, e.header("allow")), (404, None), "{method} {path}");
        }
        let e = ROUTER.resolve(&Method::Get, "/v1/genres/").err().unwrap();
        assert_eq!(e.message, "no such endpoint: /v1/genres");
    }

    #[test]
    fn wrong_methods_are_405_with_allow() {
        let allow = |method: Method, path: &str| {
            let e = ROUTER.resolve(&method, path).err().expect(path);
            assert_eq!(e.status, 405, "{method} {path}");
            (e.header("allow").unwrap().to_string(), e.message)
        };
        assert_eq!(
            allow(Method::Post, "/v1/artists"),
            ("GET, HEAD".into(), "method not allowed; use GET or HEAD".into())
        );
        assert_eq!(allow(Method::Options, "/v1/artists/ar01").0, "GET, HEAD");
        assert_eq!(allow(Method::Patch, "/v1/playlists/p1").0, "GET, PUT, DELETE");
        assert_eq!(allow(Method::Head, "/v1/playlists/p1").0, "GET, PUT, DELETE", "HEAD only where declared");
        // Methods of every route matching the path, in the order declared, each once.
        assert_eq!(allow(Method::Patch, "/v1/playlists/p1/items").0, "GET, POST, PUT, DELETE");
        assert_eq!(
            allow(Method::Get, "/v1/admin/catalog/import"),
            ("POST".into(), "method not allowed; use POST".into())
        );
        assert_eq!(allow(Method::Other("BREW".into()), "/v1/artists").0, "GET, HEAD");
    }

    #[test]
    fn trailing_slashes() {
        assert_eq!(found(Method::Get, "/v1/artists/").0, H::Artists);
        assert_eq!(found(Method::Get, "/v1/artists//").0, H::Artists);
        assert_eq!(found(Method::Get, "/v1/artists/ar01/").1.get("id"), "ar01");
        assert_eq!(ROUTER.resolve(&Method::Post, "/v1/playlists/p1/").err().unwrap().status, 405);
        // A strict router matches the path as sent.
        assert!(STRICT.resolve(&Method::Post, "/v1/auth/login").is_ok());
        let e = STRICT.resolve(&Method::Post, "/v1/auth/login/").err().unwrap();
        assert_eq!((e.status, e.message.as_str()), (404, "no such endpoint: /v1/auth/login/"));
        assert_eq!(STRICT.resolve(&Method::Get, "/v1/auth/login").err().unwrap().status, 405);
    }

    #[test]
    #[should_panic(expected = "no {name} segment")]
    fn asking_for_an_undeclared_param_is_a_bug() {
        found(Method::Get, "/v1/artists/ar01").1.get("name");
    }
}
