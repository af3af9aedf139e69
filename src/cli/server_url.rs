//! The address of a running agentbox that a command talks to (`--url`, `AGENTBOX_URL`), and
//! how far its certificate is trusted.

use std::net::IpAddr;

use reqwest::Url;

/// Parses `--url`: an http:// or https:// address with a host.
pub fn parse(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|err| format!("--url {url:?} is not a URL: {err}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(format!("--url {url:?} must be an http:// or https:// address"));
    }
    Ok(parsed)
}

/// Whether `url` points at this machine's loopback address, where `serve` makes a self-signed
/// certificate on first start: the only place such a certificate is accepted.
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificates_only_on_loopback() {
        for (url, loopback) in [
            ("https://127.0.0.1:8443", true),
            ("https://localhost:8443/", true),
            ("https://[::1]:8443", true),
            ("https://agentbox.example.com", false),
            ("https://10.0.0.5:8443", false),
        ] {
            assert_eq!(is_loopback(&parse(url).unwrap()), loopback, "{url}");
        }
    }

    #[test]
    fn only_http_addresses_with_a_host() {
        assert!(parse("not a url").is_err());
        assert!(
            parse("ftp://127.0.0.1")
                .unwrap_err()
                .contains("http:// or https://")
        );
        assert!(parse("http://127.0.0.1:9/").is_ok());
    }
}
