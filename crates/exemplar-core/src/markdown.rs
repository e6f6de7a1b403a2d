//! Markdown for participant pages, rendered so that nothing from the file can run.
//!
//! Raw HTML in the text is shown as text. Links and images keep only `http(s):`,
//! `mailto:` (links) and relative targets; relative image paths are resolved against the
//! experiment folder's URL. Anything else (for example `javascript:`) becomes `#`.
//!
//! The participant's page has no Markdown parser: `exemplar build` (and `exemplar serve`
//! for an unbuilt folder) renders every page text of the experiment once, with an empty
//! base, into `pages.json` beside `experiment.json` ([`RenderedPages`]). The page looks
//! each text up there, and still passes the HTML through its own allow-list (the elements
//! [`render`] writes, and URLs checked again by [`safe_url`]) before showing it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};
use serde::{Deserialize, Serialize};

use crate::Experiment;

/// The format of `pages.json` that this crate writes.
pub const PAGES_FORMAT: &str = "exemplar.pages/1";

/// `pages.json`: every Markdown text of an experiment's pages, rendered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedPages {
    /// [`PAGES_FORMAT`].
    pub format: String,
    /// The Markdown text, as in `experiment.json` → its HTML ([`render`] with an empty
    /// base: relative image paths stay relative to the experiment folder).
    pub pages: BTreeMap<String, String>,
}

/// Renders every text the participant's pages show as Markdown
/// ([`crate::experiment::Experiment::markdown_texts`]).
pub fn render_pages(exp: &Experiment) -> RenderedPages {
    RenderedPages {
        format: PAGES_FORMAT.into(),
        pages: exp
            .markdown_texts()
            .map(|t| (t.to_string(), render(t, "")))
            .collect(),
    }
}

/// The elements [`render`] writes (pulldown-cmark with tables and strikethrough), which
/// are all the page keeps of rendered HTML; lower case.
#[rustfmt::skip]
pub const ELEMENTS: &[&str] = &[
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "em", "strong", "del", "code",
    "pre", "blockquote", "a", "img", "br", "hr", "table", "thead", "tbody", "tr", "th", "td",
];

/// The attributes the page keeps on an element of [`ELEMENTS`] (`href` and `src` only
/// through [`safe_url`]; `style` only as [`render`] writes it on table cells).
pub fn attribute_allowed(element: &str, attribute: &str, value: &str) -> bool {
    match (element, attribute) {
        ("a", "href" | "title") | ("img", "src" | "alt" | "title") | ("ol", "start") => true,
        ("th" | "td", "style") => matches!(
            value,
            "text-align: left" | "text-align: center" | "text-align: right"
        ),
        _ => false,
    }
}

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
                dest_url: safe_cow(dest_url, "", true),
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
                dest_url: safe_cow(dest_url, base, false),
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

fn safe_cow<'a>(url: CowStr<'a>, base: &str, is_link: bool) -> CowStr<'a> {
    match safe_url(&url, base, is_link) {
        Cow::Borrowed(_) => url,
        Cow::Owned(changed) => CowStr::from(changed),
    }
}

/// A link's (`is_link`) or an image's URL as a page may use it: `http(s):`, `mailto:`
/// (links only) and relative ones are kept, relative image paths prefixed with `base` (the
/// experiment folder's URL, ending in `/`, or empty); anything else becomes `#`.
pub fn safe_url<'a>(url: &'a str, base: &str, is_link: bool) -> Cow<'a, str> {
    let lower = url.trim().to_ascii_lowercase();
    let scheme = lower
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| !s.contains('/') && !s.contains('?') && !s.contains('#'));
    match scheme {
        Some("http" | "https") => Cow::Borrowed(url),
        Some("mailto") if is_link => Cow::Borrowed(url),
        Some(_) => Cow::Owned("#".into()),
        None if lower.starts_with("//") => Cow::Owned("#".into()),
        None if !is_link && !base.is_empty() && !lower.starts_with('/') => {
            Cow::Owned(format!("{base}{url}"))
        }
        None => Cow::Borrowed(url),
    }
}

#[cfg(test)]
mod tests {
    use super::{attribute_allowed, render, render_pages, safe_url, ELEMENTS};

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

    #[test]
    fn every_page_text_is_rendered_once_with_relative_images() {
        let mut exp = crate::experiment::Experiment::from_json(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../demo/experiment.json"
            ))
            .unwrap(),
        )
        .unwrap();
        exp.pages.end = "![done](img/done.png)".into();
        let rendered = render_pages(&exp);
        assert_eq!(rendered.format, super::PAGES_FORMAT);
        for text in exp.markdown_texts() {
            assert_eq!(rendered.pages.get(text), Some(&render(text, "")), "{text}");
        }
        assert!(rendered.pages[&exp.pages.end].contains("src=\"img/done.png\""));
        assert!(rendered
            .pages
            .contains_key(exp.text(crate::texts::T::FullscreenPage)));
    }

    /// The page's allow-list keeps everything the renderer writes (so nothing is lost
    /// between `exemplar build` and the participant), and no more.
    #[test]
    fn the_allow_list_covers_what_the_renderer_writes() {
        let text = "# a\n## b\n### c\n#### d\n##### e\n###### f\n\npara *em* **strong** ~~del~~ `code`  \nbreak\n\n\
                    > quote\n\n1. one\n2. two\n\ntext\n\n5. five\n\n- x\n\n```\npre\n```\n\n---\n\n\
                    [l](https://e.org \"t\") ![i](a.png \"t\")\n\n| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n";
        let html = render(text, "");
        let mut rest = html.as_str();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(at) = rest.find('<') {
            rest = &rest[at + 1..];
            let end = rest.find('>').unwrap();
            let tag = rest[..end]
                .trim_start_matches('/')
                .trim_end_matches('/')
                .trim();
            let mut words = tag.splitn(2, ' ');
            let name = words.next().unwrap();
            assert!(
                ELEMENTS.contains(&name),
                "<{name}> is written but not allowed: {html}"
            );
            seen.insert(name.to_string());
            let mut attrs = words.next().unwrap_or("");
            while let Some(eq) = attrs.find("=\"") {
                let attr = attrs[..eq].trim();
                let close = attrs[eq + 2..].find('"').unwrap();
                let value = &attrs[eq + 2..eq + 2 + close];
                assert!(
                    attribute_allowed(name, attr, value),
                    "{name} {attr}={value:?} not allowed"
                );
                attrs = &attrs[eq + 3 + close..];
            }
            rest = &rest[end..];
        }
        assert_eq!(seen.len(), ELEMENTS.len(), "seen {seen:?}");
        assert!(!attribute_allowed("a", "onclick", "x"));
        assert!(!attribute_allowed("td", "style", "background: url(x)"));
        assert!(!attribute_allowed("img", "srcset", "x"));
    }

    #[test]
    fn urls_are_checked_alike_for_the_page() {
        assert_eq!(
            safe_url("img/a.png", "https://h/e/", false),
            "https://h/e/img/a.png"
        );
        assert_eq!(safe_url(" JavaScript:alert(1)", "", true), "#");
        assert_eq!(safe_url("//evil.example/x", "", true), "#");
        assert_eq!(safe_url("mailto:a@b", "", false), "#");
        assert_eq!(safe_url("mailto:a@b", "", true), "mailto:a@b");
        assert_eq!(safe_url("/abs.png", "https://h/e/", false), "/abs.png");
    }
}
