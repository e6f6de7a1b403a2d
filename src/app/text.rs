//! The pages' texts as HTML, without a Markdown parser in the participant's page.
//!
//! `exemplar build` (and `exemplar serve` for an unbuilt folder) writes `pages.json` beside
//! the experiment: every page text rendered ([`exemplar_core::markdown::RenderedPages`]).
//! The page looks a text up there; the researcher's page renders what is missing itself
//! (it links the parser), the participant's page shows it as plain paragraphs. Whatever its
//! source, the HTML goes through [`sanitise`] before it is shown: parsed into an inert
//! document (nothing runs, nothing loads), only the elements and attributes the renderer
//! writes are kept, and every URL is checked again.

use std::cell::RefCell;
use std::collections::BTreeMap;

use exemplar_core::markdown::{self, RenderedPages};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DomParser, Element, Node, SupportedType};

thread_local! {
    static RENDERED: RefCell<BTreeMap<String, String>> = const { RefCell::new(BTreeMap::new()) };
}

/// Keeps the site's rendered pages for [`html`].
pub fn set_rendered(pages: RenderedPages) {
    RENDERED.with(|r| *r.borrow_mut() = pages.pages);
}

/// The HTML to show for a page text (Markdown), checked by [`sanitise`]; relative image
/// paths resolve against `base`, the experiment folder's URL.
pub fn html(text: &str, base: &str) -> String {
    let rendered = RENDERED
        .with(|r| r.borrow().get(text).cloned())
        .or_else(|| super::research().map(|r| (r.markdown)(text)))
        .unwrap_or_else(|| {
            web_sys::console::warn_1(
                &"exemplar: this page text is not in pages.json (build the site with `exemplar build`): shown as plain text".into(),
            );
            plain(text)
        });
    sanitise(&rendered, base)
}

/// Markdown shown as plain paragraphs (escaped), split at blank lines.
fn plain(text: &str) -> String {
    let mut out = String::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        out.push_str("<p>");
        for c in paragraph.chars() {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '"' => out.push_str("&quot;"),
                c => out.push(c),
            }
        }
        out.push_str("</p>");
    }
    out
}

/// `html` with only the elements and attributes of [`markdown::ELEMENTS`] and
/// [`markdown::attribute_allowed`]; `href` and `src` pass [`markdown::safe_url`] (relative
/// images resolved against `base`). Anything else is removed with its content.
pub fn sanitise(html: &str, base: &str) -> String {
    let Some(body) = DomParser::new()
        .and_then(|p| p.parse_from_string(html, SupportedType::TextHtml))
        .ok()
        .and_then(|doc| doc.body())
    else {
        return String::new();
    };
    clean(&body, base);
    body.inner_html()
}

fn clean(parent: &Node, base: &str) {
    let children = parent.child_nodes();
    let nodes: Vec<Node> = (0..children.length())
        .filter_map(|i| children.item(i))
        .collect();
    for node in nodes {
        match node.node_type() {
            Node::TEXT_NODE => {}
            Node::ELEMENT_NODE => {
                let element: Element = node.clone().unchecked_into();
                let name = element.tag_name().to_ascii_lowercase();
                if !markdown::ELEMENTS.contains(&name.as_str()) {
                    let _ = parent.remove_child(&node);
                    continue;
                }
                let attributes = element.get_attribute_names();
                for i in 0..attributes.length() {
                    let Some(attribute) = attributes.get(i).as_string() else {
                        continue;
                    };
                    let value = element.get_attribute(&attribute).unwrap_or_default();
                    let attr = attribute.to_ascii_lowercase();
                    if !markdown::attribute_allowed(&name, &attr, &value) {
                        let _ = element.remove_attribute(&attribute);
                    } else if attr == "href" || attr == "src" {
                        let safe = markdown::safe_url(&value, base, attr == "href");
                        if safe != value {
                            let _ = element.set_attribute(&attribute, &safe);
                        }
                    }
                }
                clean(&node, base);
            }
            _ => {
                let _ = parent.remove_child(&node);
            }
        }
    }
}

/// The shipped language closest to the browser's (`navigator.language`): the language of
/// the pages shown before the experiment has said its own.
pub fn browser_language() -> exemplar_core::texts::Shipped {
    let tag = super::browser::window()
        .navigator()
        .language()
        .unwrap_or_default();
    exemplar_core::texts::Shipped::of(&tag)
}

/// A plain text whose `` `spans` `` are shown as code (escaped, as all text nodes are).
pub fn with_code(text: &str) -> impl IntoView {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            let part = part.to_string();
            if i % 2 == 1 {
                view! { <code>{part}</code> }.into_any()
            } else {
                part.into_any()
            }
        })
        .collect_view()
}
