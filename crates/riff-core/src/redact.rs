//! Backend URLs with their secrets hidden, for error messages and logs: a runtime config's URLs
//! carry passwords (`postgres://riff:secret@db/riff`), and an error naming the server it could
//! not reach must not print them. One function for every backend, so all hide the same forms.

/// Whether a user name without a password (`scheme://name@host`) is itself a secret: NATS takes
/// it as a token, Redis and PostgreSQL as a user name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareUser {
    IsName,
    IsToken,
}

/// `url` (or a comma-separated list of them) with every password — `user:password@`, a token
/// (`token@`, see [`BareUser`]), a `pass=`/`password=` query parameter — replaced by `***`. The
/// user information is taken to end at the last `@`, as URL parsers do, so an unescaped `/`, `?`
/// or `#` in a password is hidden too.
///
/// ```
/// use riff_core::redact::{url, BareUser};
/// assert_eq!(url("postgres://riff:secret@db:5432/riff", BareUser::IsName), "postgres://riff:***@db:5432/riff");
/// assert_eq!(url("nats://s3cret@a:4222,nats://b:4222", BareUser::IsToken), "nats://***@a:4222,nats://b:4222");
/// ```
pub fn url(url: &str, bare_user: BareUser) -> String {
    url.split(',').map(|one| one_url(one.trim(), bare_user)).collect::<Vec<_>>().join(",")
}

fn one_url(url: &str, bare_user: BareUser) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let rest = match rest.rsplit_once('@') {
        Some((userinfo, host)) => match (userinfo.split_once(':'), bare_user) {
            (Some((user, _password)), _) => format!("{user}:***@{host}"),
            (None, BareUser::IsToken) => format!("***@{host}"),
            (None, BareUser::IsName) => format!("{userinfo}@{host}"),
        },
        None => rest.to_string(),
    };
    let rest = match rest.split_once('?') {
        Some((path, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name @ ("pass" | "password"), _)) => format!("{name}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", pairs.join("&"))
        }
        None => rest,
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{rest}"),
        None => rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_password_is_hidden() {
        for (given, redacted) in [
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://:secret@host", "redis://:***@host"),
            ("rediss://user:secret@host:6380/1", "rediss://user:***@host:6380/1"),
            ("redis://user:se/cr?et@host", "redis://user:***@host"),
            ("redis://user@host", "redis://user@host"),
            ("redis+unix:///run/redis.sock?db=1&pass=secret", "redis+unix:///run/redis.sock?db=1&pass=***"),
            ("user:secret@host", "user:***@host"),
            ("postgres://riff:p@ss@db/riff?sslmode=require", "postgres://riff:***@db/riff?sslmode=require"),
        ] {
            assert_eq!(url(given, BareUser::IsName), redacted, "{given}");
        }
    }

    #[test]
    fn tokens_and_lists() {
        assert_eq!(url("nats://tok@a:4222", BareUser::IsToken), "nats://***@a:4222");
        assert_eq!(url("nats://u:p@a, nats://b", BareUser::IsToken), "nats://u:***@a,nats://b");
        assert_eq!(url("nats://a:4222", BareUser::IsToken), "nats://a:4222");
    }
}
