//! Where a URL's requests go, as keys care about it: scheme, host and port. Keys are sent only to
//! the origin a target names, so every decision to send one compares origins.

use url::Url;

/// `scheme://host:port`, the port always written so that `http://h` and `http://h:80` compare
/// equal and `http://h:8080` does not.
pub fn origin(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        // A URL without a host has no origin; its text stands for it (and matches nothing else).
        (None, _) => url.as_str().to_string(),
    }
}

/// Whether two URLs lead to the same server; a URL that does not parse leads nowhere known.
pub fn same_origin(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => origin(&a) == origin(&b),
        _ => false,
    }
}
