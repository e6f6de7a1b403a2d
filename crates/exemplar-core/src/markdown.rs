//! Markdown for participant pages, rendered so that nothing from the file can run.
//!
//! Raw HTML in the text is shown as text. Links and images keep only `http(s):`,
//! `mailto:` (links) and relative targets; relative image paths are resolved against the
//! experiment folder's URL. Anything else (for example `javascript:`) becomes `#`.

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};

/// Renders `text` to HTML that is safe to put into the page. `base` is prefixed to
/// relative image paths (the experiment folder's URL, ending in `/`, or empty).
pub fn render(text: &str, base: &str) -> String {
    let parser = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(
        |event| match event {
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => Event::Start(Tag::Link {
                link_type,
                dest_url: safe_url(dest_url, "", true),
                title,
                id,
            }),
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => Event::Start(Tag::Image {
                link_type,
                dest_url: safe_url(dest_url, base, false),
                title,
                id,
            }),
            other => other,
        },
    );
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, parser);
    out
}

fn safe_url<'a>(url: CowStr<'a>, base: &str, is_link: bool) -> CowStr<'a> {
    let lower = url.trim().to_ascii_lowercase();
    let scheme = lower
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| !s.contains('/') && !s.contains('?') && !s.contains('#'));
    match scheme {
        Some("http" | "https") => url,
        Some("mailto") if is_link => url,
        Some(_) => CowStr::Borrowed("#"),
        None if lower.starts_with("//") => CowStr::Borrowed("#"),
        None if !is_link && !base.is_empty() && !lower.starts_with('/') => {
            CowStr::from(format!("{base}{url}"))
        }
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn raw_html_is_shown_as_text() {
        let out = render(
            "Hi <script>alert(1)</script>\n\n<img src=x onerror=alert(1)>",
            "",
        );
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
    }

    #[test]
    fn dangerous_urls_are_neutralised() {
        let out = render(
            "[x](javascript:alert(1)) [y](JavaScript:alert(1)) ![z](data:image/svg+xml,<svg>)",
            "",
        );
        assert!(!out.to_lowercase().contains("javascript:"), "{out}");
        assert!(!out.contains("data:"), "{out}");
        assert_eq!(out.matches("href=\"#\"").count(), 2, "{out}");
    }

    #[test]
    fn images_resolve_against_the_experiment_folder() {
        let out = render(
            "![example](img/trial.png) ![abs](https://example.org/a.png)",
            "experiment/",
        );
        assert!(out.contains("src=\"experiment/img/trial.png\""), "{out}");
        assert!(out.contains("src=\"https://example.org/a.png\""), "{out}");
    }

    #[test]
    fn ordinary_markdown_renders() {
        let out = render(
            "# Title\n\nSome **bold** text and a [link](https://example.org).",
            "",
        );
        assert!(out.contains("<h1>Title</h1>"));
        assert!(out.contains("<strong>bold</strong>"));
        assert!(out.contains("href=\"https://example.org\""));
    }
}
