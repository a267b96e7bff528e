//! The addresses a guest passes to `open`: parsed into sqlx connect options, and checked against
//! the component's `allowed_outbound_hosts` first, as Spin checks them.
//!
//! PostgreSQL takes what libpq and Spin take: a URL (`postgres://user:pass@host:port/db?...`,
//! `postgresql://` too) or a `key=value` string (`host=localhost user=postgres dbname=mydb`).
//! Every TCP host named must be allowed as `postgres://host:port` (no port: 5432); a Unix-socket
//! host is refused, as Spin refuses it. MySQL takes a URL (`mysql://user:pass@host:port/db`),
//! allowed as `mysql://host:port` (no port: 3306).
//!
//! A denied address is `connection-failed("address postgres://host:port is not permitted")` —
//! Spin's variant and wording. For MySQL Spin repeats the whole address, password included; riff
//! names the scheme, host and port only, so a password never lands in a guest's logs through us.

use std::str::FromStr;

use riff_manifest::allow_list::AllowList;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// Why an address cannot be opened: an unparsable one, or one the grants do not cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// Not a PostgreSQL / MySQL address at all (Spin: `connection-failed` for PostgreSQL,
    /// `other` for MySQL, with the parser's message).
    Invalid(String),
    /// Parsed, but `allowed_outbound_hosts` does not grant it.
    NotPermitted(String),
}

impl std::fmt::Display for AddressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddressError::Invalid(m) | AddressError::NotPermitted(m) => f.write_str(m),
        }
    }
}

/// A PostgreSQL address the component may open: the options to connect with.
pub fn postgres(address: &str, allow: &AllowList) -> Result<PgConnectOptions, AddressError> {
    let parsed = parse_postgres(address)?;
    for (host, port) in &parsed.hosts {
        if host.starts_with('/') {
            return Err(AddressError::Invalid("Unix sockets are not supported on WebAssembly".into()));
        }
        let checked = port.unwrap_or(5432);
        if !allow.allows("postgres", host, checked) {
            let shown = match port {
                Some(p) => format!("{host}:{p}"),
                None => host.clone(),
            };
            return Err(AddressError::NotPermitted(format!("address postgres://{shown} is not permitted")));
        }
    }
    if !parsed.has_user {
        return Err(AddressError::Invalid("invalid connection string: no user".into()));
    }
    Ok(parsed.options)
}

/// A MySQL address the component may open: the options to connect with.
pub fn mysql(address: &str, allow: &AllowList) -> Result<MySqlConnectOptions, AddressError> {
    let url = url::Url::parse(address).map_err(|e| AddressError::Invalid(format!("invalid address: {e}")))?;
    if url.scheme() != "mysql" {
        return Err(AddressError::Invalid(format!(
            "invalid address: scheme {:?}, expected mysql://user:password@host:port/database",
            url.scheme()
        )));
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| {
        AddressError::Invalid("invalid address: no host (mysql://user:password@host:port/database)".into())
    })?;
    let port = url.port().unwrap_or(3306);
    if !allow.allows("mysql", host, port) {
        let shown = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        return Err(AddressError::NotPermitted(format!("address mysql://{shown} is not permitted")));
    }
    MySqlConnectOptions::from_str(address).map_err(|e| AddressError::Invalid(format!("invalid address: {e}")))
}

struct ParsedPostgres {
    options: PgConnectOptions,
    /// Every host the address names, with its port if it gives one.
    hosts: Vec<(String, Option<u16>)>,
    has_user: bool,
}

fn parse_postgres(address: &str) -> Result<ParsedPostgres, AddressError> {
    let invalid = |m: String| AddressError::Invalid(format!("invalid connection string: {m}"));
    // Both forms become libpq's key/value pairs, applied explicitly: nothing is taken from the
    // host's environment (`PGHOST`, `PGPASSWORD`, ...) or its `.pgpass`.
    let pairs = if address.starts_with("postgres://") || address.starts_with("postgresql://") {
        url_pairs(address).map_err(invalid)?
    } else {
        key_values(address).map_err(invalid)?
    };
    if pairs.is_empty() {
        return Err(invalid("empty".into()));
    }
    let mut options = PgConnectOptions::new_without_pgpass();
    let mut hosts: Vec<String> = Vec::new();
    let mut ports: Vec<u16> = Vec::new();
    let (mut user, mut dbname) = (None, None);
    for (key, value) in pairs {
        match key.as_str() {
            "host" | "hostaddr" => hosts = value.split(',').map(|h| h.trim().to_string()).collect(),
            "port" => {
                ports = value
                    .split(',')
                    .map(|p| p.trim().parse::<u16>().map_err(|_| invalid(format!("bad port {p:?}"))))
                    .collect::<Result<_, _>>()?
            }
            "user" => user = Some(value),
            "password" => options = options.password(&value),
            "dbname" => dbname = Some(value),
            "application_name" => options = options.application_name(&value),
            "options" => options = options.options(parse_pg_options(&value)),
            "sslmode" => {
                options = options.ssl_mode(PgSslMode::from_str(&value).map_err(|e| invalid(e.to_string()))?)
            }
            "connect_timeout"
            | "keepalives"
            | "keepalives_idle"
            | "target_session_attrs"
            | "channel_binding" => {}
            other => return Err(invalid(format!("unknown option {other:?}"))),
        }
    }
    // A missing user is reported after the grant check, as a connection would report it.
    let user = user.filter(|u| !u.is_empty());
    if hosts.iter().all(|h| h.is_empty()) {
        return Err(invalid("no host".into()));
    }
    if hosts.len() > 1 {
        return Err(invalid("several hosts are not supported; name one".into()));
    }
    if ports.len() > 1 {
        return Err(invalid("several ports are not supported; name one".into()));
    }
    let host = hosts.remove(0).trim_matches(|c| c == '[' || c == ']').to_string();
    let port = ports.first().copied();
    options = options.host(&host).port(port.unwrap_or(5432));
    if let Some(user) = &user {
        // libpq: the database defaults to the user's name.
        options = options.username(user).database(dbname.as_deref().unwrap_or(user));
    }
    Ok(ParsedPostgres { options, hosts: vec![(host, port)], has_user: user.is_some() })
}

/// A `postgres://user:password@host:port/dbname?key=value` URL as libpq's pairs.
fn url_pairs(address: &str) -> Result<Vec<(String, String)>, String> {
    let url = url::Url::parse(address).map_err(|e| e.to_string())?;
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'%', Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    let mut pairs = Vec::new();
    if let Some(host) = url.host_str() {
        pairs.push(("host".to_string(), host.to_string()));
    }
    if let Some(port) = url.port() {
        pairs.push(("port".to_string(), port.to_string()));
    }
    if !url.username().is_empty() {
        pairs.push(("user".to_string(), decode(url.username())));
    }
    if let Some(password) = url.password() {
        pairs.push(("password".to_string(), decode(password)));
    }
    let path = url.path().trim_start_matches('/');
    if !path.is_empty() {
        pairs.push(("dbname".to_string(), decode(path)));
    }
    pairs.extend(url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())));
    Ok(pairs)
}

/// `-c name=value -c other=value`, as libpq's `options` carries them.
fn parse_pg_options(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut words = value.split_whitespace();
    while let Some(word) = words.next() {
        let setting = match word {
            "-c" => words.next().unwrap_or_default(),
            w => w.strip_prefix("-c").or_else(|| w.strip_prefix("--")).unwrap_or(w),
        };
        if let Some((k, v)) = setting.split_once('=') {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// libpq's `key = value` pairs: whitespace-separated, a value optionally single-quoted with
/// backslash escapes.
fn key_values(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("expected key=value, found {key:?} without a value"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.push(chars.next().ok_or("unterminated quoted value")?),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err("unterminated quoted value".into()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    value.push(chars.next().ok_or("dangling backslash")?);
                    continue;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn postgres_urls_and_key_values_are_checked_against_the_grants() {
        let grants = allow(&["postgres://127.0.0.1", "postgres://db.internal:6543"]);
        assert!(postgres("postgres://u:p@127.0.0.1/app", &grants).is_ok());
        assert!(postgres("postgres://u:p@127.0.0.1:5432/app", &grants).is_ok(), "the default port");
        assert!(postgres("host=127.0.0.1 user=postgres dbname=app", &grants).is_ok());
        assert!(postgres("host=db.internal port=6543 user='a b' password='it\\'s'", &grants).is_ok());
        assert_eq!(
            postgres("postgres://u:secret@127.0.0.1:5433/app", &grants).unwrap_err(),
            AddressError::NotPermitted("address postgres://127.0.0.1:5433 is not permitted".into())
        );
        assert_eq!(
            postgres("host=other.example user=x password=secret", &grants).unwrap_err(),
            AddressError::NotPermitted("address postgres://other.example is not permitted".into())
        );
        assert!(matches!(postgres("host=/var/run/postgresql", &grants), Err(AddressError::Invalid(_))));
        assert!(matches!(postgres("nonsense", &grants), Err(AddressError::Invalid(_))));
        assert!(
            matches!(postgres("postgres://127.0.0.1/app", &grants), Err(AddressError::Invalid(m)) if m.contains("no user"))
        );
        assert!(matches!(
            postgres("postgres://127.0.0.1", &allow(&["mysql://127.0.0.1"])),
            Err(AddressError::NotPermitted(_))
        ));
    }

    #[test]
    fn mysql_urls_are_checked_without_repeating_the_password() {
        let grants = allow(&["mysql://127.0.0.1"]);
        assert!(mysql("mysql://root@127.0.0.1/app", &grants).is_ok());
        assert!(mysql("mysql://root@127.0.0.1:3306/app", &grants).is_ok());
        let denied = mysql("mysql://root:secret@127.0.0.1:3307/app", &grants).unwrap_err();
        assert_eq!(
            denied,
            AddressError::NotPermitted("address mysql://127.0.0.1:3307 is not permitted".into())
        );
        assert!(!denied.to_string().contains("secret"));
        assert!(matches!(mysql("postgres://127.0.0.1/app", &grants), Err(AddressError::Invalid(_))));
        assert!(matches!(mysql("not a url", &grants), Err(AddressError::Invalid(_))));
    }

    #[test]
    fn key_value_strings_follow_libpq_quoting() {
        let kv = key_values("host = localhost  password='a \\' b' dbname=x\\ y").unwrap();
        assert_eq!(
            kv,
            [
                ("host".into(), "localhost".into()),
                ("password".into(), "a ' b".into()),
                ("dbname".into(), "x y".into())
            ]
        );
        assert!(key_values("host").is_err());
        assert!(key_values("password='open").is_err());
    }
}
