//! HTTP route matching with Spin's rules.
//!
//! Patterns are exact paths (`/v1/genres`), paths with named segments (`/v1/artists/:id`) and
//! prefixes ending in a wildcard (`/static/...`). When several match, the most specific wins:
//! exact beats parameterised beats wildcard, and among wildcards the longest prefix wins. That is
//! what lets `/v1/artists/:id/albums` and `/v1/artists/...` live side by side.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    segments: Vec<Segment>,
    wildcard: bool,
}

impl RoutePattern {
    pub fn parse(route: &str) -> Result<Self, String> {
        if !route.starts_with('/') {
            return Err(format!("{route:?} must start with '/'"));
        }
        let mut parts: Vec<&str> = route.split('/').skip(1).collect();
        let wildcard = parts.last() == Some(&"...");
        if wildcard {
            parts.pop();
        }
        if parts.last() == Some(&"") {
            parts.pop(); // "/" and trailing slashes
        }
        let mut segments = Vec::new();
        for part in parts {
            if part == "..." {
                return Err(format!("{route:?}: '...' may only end a route"));
            }
            if part.is_empty() {
                return Err(format!("{route:?} has an empty segment"));
            }
            if let Some(name) = part.strip_prefix(':') {
                let valid = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !valid {
                    return Err(format!("{route:?}: bad parameter name {part:?}"));
                }
                if segments.iter().any(|s| matches!(s, Segment::Param(n) if n == name)) {
                    return Err(format!("{route:?}: parameter {part:?} appears twice"));
                }
                segments.push(Segment::Param(name.to_string()));
            } else {
                segments.push(Segment::Literal(part.to_string()));
            }
        }
        Ok(Self { segments, wildcard })
    }

    /// The route without its wildcard, as Spin's `spin-component-route` header gives it.
    pub fn base(&self) -> String {
        let mut s = String::new();
        for seg in &self.segments {
            s.push('/');
            match seg {
                Segment::Literal(l) => s.push_str(l),
                Segment::Param(p) => {
                    s.push(':');
                    s.push_str(p)
                }
            }
        }
        s
    }

    /// Sort key: larger is more specific.
    fn specificity(&self) -> (bool, usize, usize) {
        let literals = self.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
        (!self.wildcard, self.segments.len(), literals)
    }

    fn matches(&self, path_segments: &[&str]) -> Option<RouteMatch> {
        if path_segments.len() < self.segments.len()
            || (!self.wildcard && path_segments.len() != self.segments.len())
        {
            return None;
        }
        let mut params = Vec::new();
        for (seg, actual) in self.segments.iter().zip(path_segments) {
            match seg {
                Segment::Literal(l) if l == actual => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) if !actual.is_empty() => params.push((name.clone(), actual.to_string())),
                Segment::Param(_) => return None,
            }
        }
        let rest = &path_segments[self.segments.len()..];
        let path_info = if rest.is_empty() { String::new() } else { format!("/{}", rest.join("/")) };
        Some(RouteMatch { params, path_info })
    }
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = self.base();
        match (base.is_empty(), self.wildcard) {
            (true, true) => f.write_str("/..."),
            (true, false) => f.write_str("/"),
            (false, true) => write!(f, "{base}/..."),
            (false, false) => f.write_str(&base),
        }
    }
}

/// What a match captured.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteMatch {
    /// `:name` segments and their values.
    pub params: Vec<(String, String)>,
    /// The part of the path after the route's base (`spin-path-info`), "" for exact routes.
    pub path_info: String,
}

/// A route table mapping patterns to targets of type `T` (component ids in riff).
#[derive(Debug, Clone)]
pub struct Router<T> {
    routes: Vec<(RoutePattern, String, T)>,
}

/// The winning route for a request path.
#[derive(Debug, Clone)]
pub struct Routed<'a, T> {
    pub target: &'a T,
    pub pattern: &'a RoutePattern,
    /// The route as written in the manifest (`spin-matched-route`).
    pub route: &'a str,
    pub matched: RouteMatch,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Self { routes: Vec::new() }
    }
}

impl<T> Router<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, route: &str, target: T) -> Result<(), String> {
        let pattern = RoutePattern::parse(route)?;
        if self.routes.iter().any(|(p, _, _)| *p == pattern) {
            return Err(format!("duplicate route {route:?}"));
        }
        self.routes.push((pattern, route.to_string(), target));
        // Most specific first, so the first match wins.
        self.routes.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.specificity()));
        Ok(())
    }

    /// Route a request path (without query string). Percent-encoding is left as sent.
    pub fn route(&self, path: &str) -> Option<Routed<'_, T>> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let mut segments: Vec<&str> =
            if trimmed.is_empty() { Vec::new() } else { trimmed.split('/').collect() };
        // "/a/" routes as "/a", as Spin does.
        if segments.last() == Some(&"") {
            segments.pop();
        }
        self.routes.iter().find_map(|(pattern, route, target)| {
            pattern.matches(&segments).map(|matched| Routed { target, pattern, route, matched })
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.routes.iter().map(|(_, r, t)| (r.as_str(), t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router<&'static str> {
        let mut r = Router::new();
        for (route, target) in [
            ("/", "root"),
            ("/static/...", "static"),
            ("/v1/artists/:id", "artist"),
            ("/v1/artists/:id/albums", "albums"),
            ("/v1/artists/top", "top"),
            ("/v1/...", "v1"),
            ("/files/:name/...", "files"),
        ] {
            r.add(route, target).unwrap();
        }
        r
    }

    #[test]
    fn exact_beats_param_beats_wildcard() {
        let r = router();
        assert_eq!(*r.route("/v1/artists/top").unwrap().target, "top");
        let m = r.route("/v1/artists/42").unwrap();
        assert_eq!(*m.target, "artist");
        assert_eq!(m.matched.params, vec![("id".to_string(), "42".to_string())]);
        assert_eq!(*r.route("/v1/artists/42/albums").unwrap().target, "albums");
        assert_eq!(*r.route("/v1/artists/42/other").unwrap().target, "v1");
        assert_eq!(*r.route("/v1").unwrap().target, "v1");
    }

    #[test]
    fn wildcard_path_info() {
        let r = router();
        let m = r.route("/static/css/site.css").unwrap();
        assert_eq!(*m.target, "static");
        assert_eq!(m.matched.path_info, "/css/site.css");
        assert_eq!(m.pattern.base(), "/static");
        let m = r.route("/files/a/b/c").unwrap();
        assert_eq!(m.matched.params, vec![("name".into(), "a".into())]);
        assert_eq!(m.matched.path_info, "/b/c");
    }

    #[test]
    fn root_and_misses() {
        let r = router();
        assert_eq!(*r.route("/").unwrap().target, "root");
        assert!(r.route("/nope").is_none());
        let mut catch_all = Router::new();
        catch_all.add("/...", "all").unwrap();
        assert_eq!(catch_all.route("/anything/at/all").unwrap().matched.path_info, "/anything/at/all");
    }

    #[test]
    fn bad_patterns() {
        assert!(RoutePattern::parse("nope").is_err());
        assert!(RoutePattern::parse("/a/.../b").is_err());
        assert!(RoutePattern::parse("/a//b").is_err());
        assert!(RoutePattern::parse("/:id/:id").is_err());
        let mut r = Router::new();
        r.add("/a/...", 1).unwrap();
        assert!(r.add("/a/...", 2).is_err());
    }

    #[test]
    fn display_round_trips() {
        for p in ["/", "/...", "/a/:b/...", "/a/b"] {
            assert_eq!(RoutePattern::parse(p).unwrap().to_string(), p);
        }
    }
}
