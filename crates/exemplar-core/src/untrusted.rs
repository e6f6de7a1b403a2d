//! Checks on what reaches the app from outside the experiment file: URL parameters and
//! endpoint answers. A URL parameter never becomes a navigation target or a fetch origin
//! without passing one of these; the app only calls them.

/// The origins an MTurk `turkSubmitTo` may name: the live site and the sandbox.
pub const MTURK_ORIGINS: [&str; 2] = ["https://www.mturk.com", "https://workersandbox.mturk.com"];

/// The origin of `url` as a browser serializes it (`URL.origin`): lowercase scheme and
/// host, the default port left out. Only `http` and `https` URLs with a plain host name
/// (or an IPv4/IPv6 address) are understood; user info (`user@`), whitespace, control
/// characters and backslashes are refused rather than guessed at. A path, query or
/// fragment after the authority is allowed (it does not change the origin).
pub fn origin_of(url: &str) -> Result<String, String> {
    if url.is_empty() {
        return Err("it is empty".into());
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\' || !c.is_ascii())
    {
        return Err("it contains whitespace, control, non-ASCII characters or a backslash".into());
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "it is not an absolute http(s) URL".to_string())?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return Err(format!("its scheme is {scheme}:, not https: or http:")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("it names a user (user@host)".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| "its IPv6 address is not closed".to_string())?;
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err("its IPv6 address is malformed".into());
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| "text follows its IPv6 address".to_string())?,
            ),
        };
        (format!("[{}]", addr.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.is_empty()
            || host.starts_with('.')
            || host.contains("..")
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(format!("its host {host:?} is not a plain host name"));
        }
        (host.trim_end_matches('.').to_ascii_lowercase(), port)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) if p.chars().all(|c| c.is_ascii_digit()) && p.len() <= 5 => {
            let n: u32 = p.parse().map_err(|_| "its port is not a number")?;
            if n > 65535 {
                return Err(format!("its port {n} is out of range"));
            }
            let n = n.to_string();
            (n != default_port).then_some(n)
        }
        Some(p) => return Err(format!("its port {p:?} is not a number")),
    };
    Ok(match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    })
}

/// Where an MTurk assignment may be submitted: `turkSubmitTo` must be exactly MTurk's
/// live or sandbox origin (a trailing `/` allowed, nothing else after it). Returns the
/// origin from [`MTURK_ORIGINS`], never the given text, so what the form posts to is
/// always one of those two constants.
pub fn mturk_submit_origin(turk_submit_to: &str) -> Result<&'static str, String> {
    let refuse = |why: String| {
        Err(format!(
            "turkSubmitTo is not MTurk's ({why}); only {} are followed",
            MTURK_ORIGINS.join(" and ")
        ))
    };
    let origin = match origin_of(turk_submit_to) {
        Ok(o) => o,
        Err(e) => return refuse(e),
    };
    let after = &turk_submit_to[turk_submit_to.find("://").map_or(0, |i| i + 3)..];
    let path = after.find(['/', '?', '#']).map_or("", |i| &after[i..]);
    if !path.is_empty() && path != "/" {
        return refuse(format!("it has a path or query {path:?}"));
    }
    match MTURK_ORIGINS.iter().find(|o| **o == origin) {
        Some(o) => Ok(o),
        None => refuse(format!("its origin is {origin}")),
    }
}

/// Whether the experiment at a URL may be loaded by the page. `href` and `origin` are
/// what the browser's URL parser made of the (resolved) `?experiment=` value; it must be
/// an `http(s)` URL of the page's own origin or of one of `allowed` (the origins the
/// researcher listed at build time, see [`origin_of`] for their form).
pub fn experiment_source_allowed(
    href: &str,
    origin: &str,
    page_origin: &str,
    allowed: &[String],
) -> Result<(), String> {
    let lower = href.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(format!("{href} is not an http(s) address"));
    }
    // The browser's own serialization must agree with ours: a URL we cannot read the
    // same way is refused.
    let ours = origin_of(href).map_err(|e| format!("{href}: {e}"))?;
    if ours != origin || origin == "null" {
        return Err(format!("{href}: its origin is unclear ({origin})"));
    }
    if origin == page_origin || allowed.iter().any(|a| a == origin) {
        Ok(())
    } else {
        Err(format!(
            "{href} is on another site ({origin}); this study loads experiments only from {}",
            std::iter::once(page_origin)
                .chain(allowed.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// The origins of a list as the build writes it (separated by whitespace or commas);
/// entries that are not a bare origin are left out.
pub fn parse_origin_list(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .filter_map(|s| bare_origin(s).ok())
        .collect()
}

/// An origin as a researcher writes it: `scheme://host[:port]`, optionally with a
/// trailing `/`, nothing else. Returns it as browsers serialize it.
pub fn bare_origin(text: &str) -> Result<String, String> {
    let origin = origin_of(text)?;
    let after = &text[text.find("://").map_or(0, |i| i + 3)..];
    match after.find(['/', '?', '#']).map(|i| &after[i..]) {
        None | Some("/") => Ok(origin),
        Some(rest) => Err(format!(
            "{text} is not a bare origin (scheme://host[:port]): remove {rest:?}"
        )),
    }
}

/// The records an endpoint refused as conflicts, from its answer to a batch: HTTP 409
/// with a JSON body `{"conflicts": ["<record_id>", ...], ...}` means the endpoint stored
/// every other record of the batch. Returns `None` (the whole batch refused) unless the
/// body has such a list, not empty, naming only records of `batch`.
pub fn conflicts_in_answer(status: u16, body: &str, batch: &[&str]) -> Option<Vec<String>> {
    if status != 409 {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let list = value.get("conflicts")?.as_array()?;
    let ids: Vec<String> = list
        .iter()
        .map(|v| v.as_str().map(String::from))
        .collect::<Option<_>>()?;
    (!ids.is_empty() && ids.iter().all(|id| batch.contains(&id.as_str()))).then_some(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_as_browsers_write_them() {
        assert_eq!(
            origin_of("https://www.mturk.com").unwrap(),
            "https://www.mturk.com"
        );
        assert_eq!(
            origin_of("HTTPS://WWW.MTurk.com:443/x?y").unwrap(),
            "https://www.mturk.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/e.json").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin_of("http://a.org:80").unwrap(), "http://a.org");
        assert_eq!(origin_of("http://[::1]:99/").unwrap(), "http://[::1]:99");
        for bad in [
            "",
            "javascript:alert(1)",
            "//www.mturk.com",
            "data:text/html,x",
            "https://user@www.mturk.com",
            "https://www.mturk.com@evil.org",
            "https://evil.org\\@www.mturk.com",
            "https://www.mturk.com :443",
            "https://www.mturk.com:99999",
            "https://www.mturk.com:44x",
            "https://exa_mple.org",
            "ftp://www.mturk.com",
            "https://ẁww.mturk.com",
        ] {
            assert!(origin_of(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn turk_submit_to_only_mturk() {
        assert_eq!(
            mturk_submit_origin("https://www.mturk.com"),
            Ok("https://www.mturk.com")
        );
        assert_eq!(
            mturk_submit_origin("https://workersandbox.mturk.com/"),
            Ok("https://workersandbox.mturk.com")
        );
        assert_eq!(
            mturk_submit_origin("HTTPS://WWW.MTURK.COM:443"),
            Ok("https://www.mturk.com")
        );
        for bad in [
            "javascript:alert(document.cookie)",
            "http://www.mturk.com",
            "https://www.mturk.com.evil.org",
            "https://evil.org/https://www.mturk.com",
            "https://www.mturk.com@evil.org",
            "https://www.mturk.com:8443",
            "https://mturk.com",
            "https://www.mturk.com/mturk/externalSubmit",
            "https://www.mturk.com?x=1",
            "https://www.mturk.com\t",
            "http://127.0.0.1:3000/mturk-sandbox",
        ] {
            let e = mturk_submit_origin(bad).unwrap_err();
            assert!(e.contains("turkSubmitTo"), "{bad}: {e}");
        }
    }

    #[test]
    fn experiments_from_the_page_origin_or_the_list() {
        let page = "http://127.0.0.1:3000";
        let allowed = vec!["https://studies.example.org".to_string()];
        let ok = |href: &str, origin: &str| experiment_source_allowed(href, origin, page, &allowed);
        assert!(ok("http://127.0.0.1:3000/experiment/experiment.json", page).is_ok());
        assert!(ok(
            "https://studies.example.org/a/experiment.json",
            "https://studies.example.org"
        )
        .is_ok());
        let e = ok("http://127.0.0.1:3001/e.json", "http://127.0.0.1:3001").unwrap_err();
        assert!(e.contains("another site"), "{e}");
        assert!(ok("https://elsewhere.org/e.json", "https://elsewhere.org").is_err());
        assert!(ok("data:application/json,{}", "null").is_err());
        assert!(ok("blob:http://127.0.0.1:3000/abc", page).is_err());
        assert!(ok("javascript:1", "null").is_err());
        // The browser's origin and ours must agree.
        assert!(ok("https://elsewhere.org/e.json", page).is_err());
        assert!(experiment_source_allowed("http://x.org/e", "null", "null", &[]).is_err());
    }

    #[test]
    fn origin_lists_keep_bare_origins() {
        assert_eq!(
            parse_origin_list("https://A.org/, http://b.org:8080  https://c.org/path ftp://d.org"),
            vec!["https://a.org".to_string(), "http://b.org:8080".to_string()]
        );
        assert!(bare_origin("https://a.org/x").is_err());
        assert_eq!(bare_origin("https://a.org:443/").unwrap(), "https://a.org");
    }

    #[test]
    fn conflicts_only_from_a_409_naming_batch_records() {
        let batch = ["s-1", "s-2", "s-3"];
        let body = r#"{"error":"conflict","stored":2,"duplicates":0,"conflicts":["s-2"]}"#;
        assert_eq!(
            conflicts_in_answer(409, body, &batch),
            Some(vec!["s-2".to_string()])
        );
        // Not a 409, no body, no list, an empty list, a foreign id, a non-string: the
        // whole batch is refused.
        assert_eq!(conflicts_in_answer(400, body, &batch), None);
        assert_eq!(conflicts_in_answer(409, "conflict", &batch), None);
        assert_eq!(conflicts_in_answer(409, r#"{"error":"x"}"#, &batch), None);
        assert_eq!(
            conflicts_in_answer(409, r#"{"conflicts":[]}"#, &batch),
            None
        );
        assert_eq!(
            conflicts_in_answer(409, r#"{"conflicts":["s-9"]}"#, &batch),
            None
        );
        assert_eq!(
            conflicts_in_answer(409, r#"{"conflicts":["s-1", 2]}"#, &batch),
            None
        );
        assert_eq!(
            conflicts_in_answer(409, r#"{"conflicts":"s-1"}"#, &batch),
            None
        );
    }
}
