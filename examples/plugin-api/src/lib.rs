//! The contract between the example backend and its plugins, in the spirit of Backstage's
//! `@backstage/backend-plugin-api`: a plugin is created from a [`PluginEnvironment`] and
//! gives the backend its routes, its start and stop, and the metrics it exports. The
//! backend mounts the routes under `/api/{id}`, reports the plugin not ready until its start
//! completes, and never reaches into it otherwise.
//!
//! Requests reach a plugin's routes authenticated: the backend puts the caller's
//! [`BackstageCredentials`](backstage_telemetry::BackstageCredentials) in the request's
//! extensions (read them with `axum::Extension`).

use std::future::Future;
use std::pin::Pin;

use axum::Router;
use backstage_telemetry::metrics::MetricsService;
pub use scheduler::Scheduler;

/// A plugin's start: the backend marks the plugin ready when this completes.
pub type Starting = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the backend gives a plugin when it creates it.
#[derive(Clone, Debug)]
pub struct PluginEnvironment {
    /// The plugin's own metrics service (`backstage.plugin.{id}.*`), for instruments made at
    /// run time, such as gauges whose callbacks read the plugin's state.
    pub metrics: MetricsService,
    /// Runs the plugin's background tasks until the backend shuts down.
    pub scheduler: Scheduler,
}

/// A backend plugin, as the backend sees it.
pub trait BackendPlugin: Send + Sync + 'static {
    /// The plugin id, as in its crate's `[package.metadata.backstage] pluginId`: the routes
    /// are mounted under `/api/{id}` and its health is reported under this name.
    fn id(&self) -> &'static str;

    /// The plugin's routes, relative to `/api/{id}`.
    fn router(&self) -> Router;

    /// Starts the plugin's background work; the plugin is ready when this completes.
    fn start(&self) -> Starting {
        Box::pin(async {})
    }

    /// Stops what the plugin runs outside the scheduler (at shutdown, after the requests in
    /// flight finished).
    fn stop(&self) {}
}

/// Words that make a parameter name credential-like wherever they appear in it
/// (`private_token`, `X-Amz-Security-Token`, `client_secret`, `db_password`).
const CREDENTIAL_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "credential",
    "apikey",
    "api_key",
    "api-key",
    "session",
    "authorization",
];

/// Names that are credential-like as a whole only: as parts of names they are too common
/// (`keyword`, `author`, `statement`).
const CREDENTIAL_NAMES: &[&str] = &[
    "auth",
    "code",
    "key",
    "pwd",
    "sig",
    "state",
    "awsaccesskeyid",
];

/// Whether a query or fragment parameter named `name` holds a credential: after
/// percent-decoding, in any case, a name such as `code`, `key`, `sig` or `state`, or one
/// containing `token`, `secret`, `password`, `signature`, `credential`, `api_key` or
/// `session`. The one list behind server spans, logs and listings.
///
/// ```
/// use backend_plugin_api::is_credential_name;
/// assert!(is_credential_name("ACCESS_TOKEN"));
/// assert!(is_credential_name("%74oken"));
/// assert!(is_credential_name("private_token"));
/// assert!(!is_credential_name("author"));
/// ```
pub fn is_credential_name(name: &str) -> bool {
    let name = percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .to_ascii_lowercase();
    CREDENTIAL_NAMES.contains(&name.as_str())
        || CREDENTIAL_WORDS.iter().any(|word| name.contains(word))
}

/// `query` (`a=1&b=2`, without the `?`) with the value of every credential-like parameter
/// ([`is_credential_name`]) replaced by `REDACTED`; borrowed when there is none.
///
/// ```
/// use backend_plugin_api::redacted_query;
/// assert_eq!(redacted_query("Token=abc&page=2"), "Token=REDACTED&page=2");
/// ```
pub fn redacted_query(query: &str) -> std::borrow::Cow<'_, str> {
    let secret =
        |pair: &str| matches!(pair.split_once('='), Some((name, _)) if is_credential_name(name));
    if !query.split('&').any(secret) {
        return std::borrow::Cow::Borrowed(query);
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_credential_name(name) => format!("{name}=REDACTED"),
            _ => pair.to_owned(),
        })
        .collect();
    std::borrow::Cow::Owned(pairs.join("&"))
}

/// `url` as it may be logged, put on a span or shown: without the `user:password@` of its
/// authority (also of a scheme-relative `//user:pw@host`), and with the value of every
/// credential-like parameter ([`is_credential_name`]) of its query and of its fragment
/// (`#access_token=..`, as OAuth's implicit flow sends it) replaced by `REDACTED`.
///
/// ```
/// use backend_plugin_api::redacted_url;
/// assert_eq!(
///     redacted_url("https://robot:pw@git.example.com/org/repo.yaml?ref=main&Token=abc"),
///     "https://git.example.com/org/repo.yaml?ref=main&Token=REDACTED"
/// );
/// ```
pub fn redacted_url(url: &str) -> String {
    let authority_start = match url.find("://") {
        Some(i) => i + 3,
        None if url.starts_with("//") => 2,
        None => 0,
    };
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let host_start = url[authority_start..authority_end]
        .rfind('@')
        .map_or(authority_start, |at| authority_start + at + 1);
    let rest = &url[host_start..];
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (rest, None),
    };
    let mut redacted = String::with_capacity(url.len());
    redacted.push_str(&url[..authority_start]);
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            redacted.push_str(path);
            redacted.push('?');
            redacted.push_str(&redacted_query(query));
        }
        None => redacted.push_str(before_fragment),
    }
    if let Some(fragment) = fragment {
        redacted.push('#');
        redacted.push_str(&redacted_query(fragment));
    }
    redacted
}

/// Reads a string of at most `MAX` characters, for request fields that end up on spans,
/// in logs or in listings: a longer one is refused (the client gets a 4xx naming the field
/// and the bound, never the value). Use it as
/// `#[serde(deserialize_with = "backend_plugin_api::bounded_string::<_, 40>")]`.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct New {
///     #[serde(deserialize_with = "backend_plugin_api::bounded_string::<_, 5>")]
///     name: String,
/// }
/// let error = serde_json::from_str::<New>(r#"{"name":"far too long"}"#).err().unwrap();
/// assert!(error.to_string().starts_with("at most 5 characters"));
/// assert!(!error.to_string().contains("far too long"));
/// assert_eq!(serde_json::from_str::<New>(r#"{"name":"short"}"#).unwrap().name, "short");
/// ```
pub fn bounded_string<'de, D, const MAX: usize>(deserializer: D) -> Result<String, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error as _;
    let value = <String as serde::Deserialize>::deserialize(deserializer)?;
    if value.chars().count() > MAX {
        return Err(D::Error::custom(format_args!("at most {MAX} characters")));
    }
    Ok(value)
}

/// One page of a list endpoint: `?limit=` (1 to [`Page::MAX_LIMIT`], default
/// [`Page::DEFAULT_LIMIT`]) items from `?offset=` (default 0). Read it with
/// `axum::extract::Query<Page>`; a value out of range is a 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    pub offset: usize,
}

impl Page {
    /// Items per page unless the client asks for fewer or more.
    pub const DEFAULT_LIMIT: usize = 50;
    /// The most items one page holds.
    pub const MAX_LIMIT: usize = 100;

    /// The page of `items`, as `{"items": [...], "totalItems": n, "nextOffset": m}`
    /// (`nextOffset` absent on the last page).
    pub fn of<T: Clone>(&self, items: &[T]) -> Paged<T> {
        let start = self.offset.min(items.len());
        let end = start.saturating_add(self.limit).min(items.len());
        Paged {
            items: items[start..end].to_vec(),
            total_items: items.len(),
            next_offset: (end < items.len()).then_some(end),
        }
    }
}

impl Default for Page {
    fn default() -> Self {
        Page {
            limit: Page::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Page {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            limit: Option<usize>,
            offset: Option<usize>,
        }
        let raw = Raw::deserialize(deserializer)?;
        let limit = raw.limit.unwrap_or(Page::DEFAULT_LIMIT);
        if !(1..=Page::MAX_LIMIT).contains(&limit) {
            return Err(serde::de::Error::custom(format!(
                "limit must be from 1 to {}",
                Page::MAX_LIMIT
            )));
        }
        Ok(Page {
            limit,
            offset: raw.offset.unwrap_or(0),
        })
    }
}

/// A page of items, as list endpoints answer.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total_items: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_userinfo_and_credential_values_only() {
        for (url, expected) in [
            (
                "https://git.example.com/a.yaml",
                "https://git.example.com/a.yaml",
            ),
            (
                "https://u:p@git.example.com/a.yaml?token=t&ref=main#frag",
                "https://git.example.com/a.yaml?token=REDACTED&ref=main#frag",
            ),
            (
                "https://h/a?X-Amz-Signature=s&sig=1&access_token",
                "https://h/a?X-Amz-Signature=REDACTED&sig=REDACTED&access_token",
            ),
            ("no-scheme?password=p", "no-scheme?password=REDACTED"),
            (
                "https://h/a?Token=1&ACCESS_TOKEN=2&Password=3&%74oken=4&private_token=5&author=me",
                "https://h/a?Token=REDACTED&ACCESS_TOKEN=REDACTED&Password=REDACTED&%74oken=REDACTED&private_token=REDACTED&author=me",
            ),
            (
                "https://h/cb#access_token=t&token_type=bearer&expires_in=3600",
                "https://h/cb#access_token=REDACTED&token_type=REDACTED&expires_in=3600",
            ),
            ("//robot:pw@h/a.yaml", "//h/a.yaml"),
            ("https://h/a#section-2", "https://h/a#section-2"),
        ] {
            assert_eq!(redacted_url(url), expected);
        }
    }

    #[test]
    fn pages_are_bounded() {
        let items: Vec<u32> = (0..120).collect();
        let first = Page::default().of(&items);
        assert_eq!(
            (first.items.len(), first.total_items, first.next_offset),
            (50, 120, Some(50))
        );
        let last = Page {
            limit: 100,
            offset: 100,
        }
        .of(&items);
        assert_eq!((last.items.len(), last.next_offset), (20, None));
        let beyond = Page {
            limit: 10,
            offset: 500,
        }
        .of(&items);
        assert!(beyond.items.is_empty());
    }
}
