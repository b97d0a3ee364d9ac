//! Database URLs: how one is shown in logs and messages (every credential hidden), and
//! what of a PostgreSQL URL is handed to sqlx.
//!
//! A PostgreSQL URL can carry a secret in the user info (`user:PASSWORD@host`) and in
//! query parameters (`password=`, `sslpassword=`). Showing is deny-by-default: only the
//! values of parameters known to be harmless are shown, because a parameter under a
//! spelling we do not know (`Password`, `pass%77ord`) may still be a credential.

/// What a hidden value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Query parameters whose values are shown: libpq's and sqlx's names for settings that are
/// not secrets. `passfile` is a path, shown as given; its contents are never read here.
const SHOWN_PARAMS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "sslcrl",
    "passfile",
    "connect_timeout",
    "application_name",
    "fallback_application_name",
    "options",
    "target_session_attrs",
    "statement-cache-capacity",
    "client_encoding",
    "gssencmode",
    "channel_binding",
    "keepalives",
    "keepalives_idle",
];

/// The parameters sqlx 0.8 reads from a PostgreSQL URL (it matches names exactly). Any
/// other parameter it logs, value included, as "ignoring unrecognized connect parameter",
/// so those are taken out before the URL reaches it.
const SQLX_PARAMS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// `url` for logs and messages: the user info's password, the value of every query
/// parameter not known to be harmless, and any fragment replaced by [`REDACTED`].
/// SQLite URLs carry no credentials and are returned as they are.
///
/// A URL whose password was written with an unescaped `/`, `?` or `#` splits in the wrong
/// place: the password's tail then shows up after the host, with an `@` in it. Any `@`
/// after the host therefore hides everything after the scheme.
pub fn redact(url: &str) -> String {
    if url.starts_with("sqlite:") {
        return url.to_owned();
    }
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        // Not a URL shipgate can use; it may be anything, a bare password included.
        return REDACTED.to_owned();
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if tail.contains('@') {
        return format!("{scheme}{REDACTED}");
    }

    let mut shown = String::from(scheme);
    // The last `@` ends the user info: a password may itself contain `@`.
    let hosts = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    shown.push_str(user);
                    shown.push(':');
                    shown.push_str(REDACTED);
                }
                None => shown.push_str(userinfo),
            }
            shown.push('@');
            &authority[at + 1..]
        }
        None => authority,
    };
    shown.push_str(hosts);

    // A `#` inside a password value would start a fragment; the fragment means nothing to
    // PostgreSQL, so it is hidden whole rather than guessed at.
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (tail, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (before_fragment, None),
    };
    shown.push_str(path);
    if let Some(query) = query {
        shown.push('?');
        shown.push_str(&query.split('&').map(redact_param).collect::<Vec<_>>().join("&"));
    }
    if let Some(fragment) = fragment {
        shown.push('#');
        if !fragment.is_empty() {
            shown.push_str(REDACTED);
        }
    }
    shown
}

/// One `key=value` of a query, its value hidden unless the key is known to be harmless.
fn redact_param(param: &str) -> String {
    match param.split_once('=') {
        Some((key, _)) if !is_shown(key) => format!("{key}={REDACTED}"),
        // A bare word is no known setting: it may be a piece of a misplaced password.
        None if !param.is_empty() && !is_shown(param) => REDACTED.to_owned(),
        _ => param.to_owned(),
    }
}

fn is_shown(raw_key: &str) -> bool {
    let key = percent_decode(raw_key).to_ascii_lowercase();
    SHOWN_PARAMS.contains(&key.as_str())
}

/// A PostgreSQL URL as sqlx should see it: without the fragment and without the query
/// parameters sqlx does not read (which it would log with their values). Returns the URL
/// and, for a warning, what was left out: parameter names only, never values.
pub(crate) fn for_sqlx(url: &str) -> (String, Vec<String>) {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut left_out = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let key = percent_decode(param.split_once('=').map_or(param, |(key, _)| key));
        let known = SQLX_PARAMS.contains(&key.as_str()) || (key.starts_with("options[") && key.ends_with(']'));
        if known && param.contains('=') {
            kept.push(param);
        } else if param.contains('=') && is_plain_name(&key) {
            left_out.push(key);
        } else {
            // Not `name=value`: possibly a stray piece of a password, so not named.
            left_out.push("a parameter that is not name=value".to_owned());
        }
    }
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    (url, left_out)
}

fn is_plain_name(key: &str) -> bool {
    !key.is_empty() && key.len() <= 40 && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// `%XX` escapes and `+` decoded, as URL query parsers read a parameter name.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn userinfo_password_is_hidden_and_the_rest_kept() {
        assert_eq!(
            redact("postgres://ship:p@ss:w0rd@db.internal:5432/shipgate"),
            "postgres://ship:[REDACTED]@db.internal:5432/shipgate"
        );
        assert_eq!(redact("postgresql://:s3cret@db/x"), "postgresql://:[REDACTED]@db/x");
        assert_eq!(redact("postgres://ship@db/x"), "postgres://ship@db/x");
        assert_eq!(redact("postgres://db:5432,db2:5433/x"), "postgres://db:5432,db2:5433/x");
    }

    #[test]
    fn password_parameters_are_hidden_whatever_their_case_or_escaping() {
        assert_eq!(
            redact("postgres://postgres@db/x?password=S3cret&sslmode=require"),
            "postgres://postgres@db/x?password=[REDACTED]&sslmode=require"
        );
        assert_eq!(redact("postgres://db/x?PassWord=S3cret"), "postgres://db/x?PassWord=[REDACTED]");
        assert_eq!(redact("postgres://db/x?sslpassword=S3cret"), "postgres://db/x?sslpassword=[REDACTED]");
        assert_eq!(redact("postgres://db/x?SSLPASSWORD=S3cret"), "postgres://db/x?SSLPASSWORD=[REDACTED]");
        assert_eq!(redact("postgres://db/x?pass%77ord=S3cret"), "postgres://db/x?pass%77ord=[REDACTED]");
        assert_eq!(redact("postgres://db/x?password=a=b=c"), "postgres://db/x?password=[REDACTED]");
    }

    #[test]
    fn harmless_parameters_and_passfile_paths_are_shown() {
        let url =
            "postgres://u@db/x?sslmode=verify-full&application_name=shipgate&passfile=/run/pgpass&SSLMODE=require";
        assert_eq!(redact(url), url);
    }

    #[test]
    fn unknown_parameters_fragments_and_bare_words_are_hidden() {
        assert_eq!(redact("postgres://db/x?token=abc"), "postgres://db/x?token=[REDACTED]");
        assert_eq!(redact("postgres://db/x?password=ab#cd"), "postgres://db/x?password=[REDACTED]#[REDACTED]");
        assert_eq!(redact("postgres://db/x?sslmode=require#password=x"), "postgres://db/x?sslmode=require#[REDACTED]");
        assert_eq!(redact("postgres://db/x?hunter2"), "postgres://db/x?[REDACTED]");
    }

    #[test]
    fn a_password_with_unescaped_separators_hides_everything_after_the_scheme() {
        for url in [
            "postgres://u:pa/ss@db/x",
            "postgres://u:pa?ss@db/x",
            "postgres://u:pa#ss@db/x",
            "postgres://u:a@b/c@db/x",
            "postgres://u:a@b?c=d@db/x",
            // Safe but blunt: an unescaped `@` in a parameter hides the host too.
            "postgres://u@db/x?password=p@ss",
        ] {
            assert_eq!(redact(url), "postgres://[REDACTED]", "{url}");
        }
    }

    #[test]
    fn sqlite_urls_are_shown_as_they_are_and_non_urls_not_at_all() {
        assert_eq!(redact("sqlite://shipgate.db"), "sqlite://shipgate.db");
        assert_eq!(redact("sqlite:data/x.db?mode=rwc"), "sqlite:data/x.db?mode=rwc");
        assert_eq!(redact("hunter2hunter2"), REDACTED);
    }

    #[test]
    fn sqlx_gets_only_the_parameters_it_reads() {
        let (url, left_out) =
            for_sqlx("postgres://u@db/x?password=S3cret&sslpassword=k3y&Password=x&sslmode=require&bare#frag");
        assert_eq!(url, "postgres://u@db/x?password=S3cret&sslmode=require");
        assert_eq!(left_out, ["sslpassword", "Password", "a parameter that is not name=value"]);
        assert_eq!(for_sqlx("postgres://u@db/x").0, "postgres://u@db/x");
        assert_eq!(for_sqlx("postgres://u@db/x?sslpassword=k").0, "postgres://u@db/x");
        assert_eq!(for_sqlx("postgres://u@db/x?options[search_path]=a").0, "postgres://u@db/x?options[search_path]=a");
    }

    #[test]
    fn percent_decoding_reads_escapes_and_leaves_broken_ones() {
        assert_eq!(percent_decode("pass%77ord"), "password");
        assert_eq!(percent_decode("a+b%2"), "a b%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    /// A password as a careful user writes it into a URL: every byte outside the
    /// unreserved set percent-escaped.
    fn escaped(password: &str) -> String {
        password
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    fn password_key() -> impl Strategy<Value = String> {
        prop_oneof![Just("password"), Just("sslpassword")].prop_flat_map(|key| {
            proptest::collection::vec(any::<bool>(), key.len()).prop_map(move |upper| {
                key.chars().zip(upper).map(|(c, up)| if up { c.to_ascii_uppercase() } else { c }).collect()
            })
        })
    }

    proptest! {
        /// Wherever a password sits (user info, `password=`, `sslpassword=`, in any case,
        /// among other parameters), neither it nor its escaped form is shown, and the host is.
        #[test]
        fn no_form_of_url_shows_its_password(
            secret in "[ -~]{0,12}",
            user in "[a-z][a-z0-9_]{0,8}",
            host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5})?",
            port in proptest::option::of(1u16..),
            in_userinfo in any::<bool>(),
            key in password_key(),
            before in proptest::option::of("(sslmode=require|application_name=ship)"),
            after in proptest::option::of("(sslmode=disable|connect_timeout=5)"),
        ) {
            let secret = format!("Zq{secret}");
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let mut params: Vec<String> = before.into_iter().collect();
            let url = if in_userinfo {
                params.extend(after);
                let query = if params.is_empty() { String::new() } else { format!("?{}", params.join("&")) };
                format!("postgres://{user}:{}@{host}{port}/shipgate{query}", escaped(&secret))
            } else {
                params.push(format!("{key}={}", escaped(&secret)));
                params.extend(after);
                format!("postgres://{user}@{host}{port}/shipgate?{}", params.join("&"))
            };
            let shown = redact(&url);
            prop_assert!(!shown.contains(&escaped(&secret)), "{shown}");
            prop_assert!(!shown.contains(&secret), "{shown}");
            prop_assert!(shown.contains(&format!("@{host}{port}/shipgate")), "{shown}");
        }

        /// A user info password with unescaped separators (`/`, `?`, `#`, `@`) and any
        /// text after the host still never shows. (`Zq` appears nowhere else in the URL.)
        #[test]
        fn a_userinfo_password_never_shows_even_in_mangled_urls(
            password in "Zq[!-~]{1,16}",
            rest in "[a-z0-9./?#&=@:-]{0,20}",
        ) {
            let url = format!("postgres://u:{password}@db{rest}");
            let shown = redact(&url);
            prop_assert!(!shown.contains(&password), "{url} -> {shown}");
        }
    }
}
