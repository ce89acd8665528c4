//! Webhook nodes: the request the runtime sends (plain `http://`, POST,
//! JSON) and how its answer comes back. The shard never waits on it: the
//! session holds (`noop` polls) until the runtime reports or the timeout.

/// A parsed `http://host[:port]/path` URL: (host, port, path).
pub fn parse_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok()?),
        None => (authority, 80),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let path_ok = path.len() <= 1024 && path.bytes().all(|b| b.is_ascii_graphic());
    if !host_ok || !path_ok || port == 0 {
        return None;
    }
    Some((host.to_string(), port, path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn urls_parse_or_are_refused() {
        assert_eq!(
            parse_url("http://crm.example:8080/hook?x=1"),
            Some(("crm.example".into(), 8080, "/hook?x=1".into()))
        );
        assert_eq!(
            parse_url("http://10.0.0.1"),
            Some(("10.0.0.1".into(), 80, "/".into()))
        );
        for bad in [
            "https://x/",
            "ftp://x",
            "http://",
            "http://a:0/",
            "http://a b/",
            "http://a:99999/",
        ] {
            assert_eq!(parse_url(bad), None, "{bad}");
        }
    }
}
