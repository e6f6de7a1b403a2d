//! Offline: registers `sw.js` (a service worker, `assets/sw.js`) and asks it to keep every
//! file the study will need, so that after one load a reload with the network off still
//! shows the preview or continues a started session. When the service worker has kept
//! them all, `<html data-offline-ready="N">` says so (N files).

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::browser;

/// The page itself and every same-origin file it has loaded so far (app, styles,
/// experiment, manifest): these came before the service worker was in control.
pub fn loaded_files() -> Vec<String> {
    let w = browser::window();
    let origin = w.location().origin().unwrap_or_default();
    let mut urls = vec![w.location().href().unwrap_or_default()];
    if let Some(p) = w.performance() {
        for entry in p.get_entries_by_type("resource") {
            if let Some(name) = Reflect::get(&entry, &"name".into())
                .ok()
                .and_then(|n| n.as_string())
            {
                if name.starts_with(&origin) && !urls.contains(&name) {
                    urls.push(name);
                }
            }
        }
    }
    urls
}

/// Registers the service worker and has it keep `urls` (absolute) besides
/// [`loaded_files`]. Does nothing where service workers are unavailable (an insecure
/// origin, some private modes): the study then simply needs the network.
pub fn enable(urls: Vec<String>) {
    let navigator = browser::window().navigator();
    let Some(container) = Reflect::get(&navigator, &"serviceWorker".into())
        .ok()
        .filter(|v| !v.is_undefined())
        .and_then(|v| v.dyn_into::<web_sys::ServiceWorkerContainer>().ok())
    else {
        return;
    };
    let on_message = Closure::<dyn Fn(web_sys::MessageEvent)>::new(|e: web_sys::MessageEvent| {
        let data = e.data();
        let Some(kept) = Reflect::get(&data, &"precached".into())
            .ok()
            .and_then(|v| v.as_f64())
        else {
            return;
        };
        if let Some(failed) = Reflect::get(&data, &"failed".into())
            .ok()
            .map(|v| Array::from(&v))
        {
            if failed.length() > 0 {
                web_sys::console::warn_2(&"exemplar: not kept for offline use:".into(), &failed);
            }
        }
        if let Some(root) = browser::window()
            .document()
            .and_then(|d| d.document_element())
        {
            let _ = root.set_attribute("data-offline-ready", &(kept as u64).to_string());
        }
    });
    container.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let registered = container.register(&browser::resolve_url("sw.js"));
    let ready = container.ready();
    wasm_bindgen_futures::spawn_local(async move {
        if JsFuture::from(registered).await.is_err() {
            return;
        }
        let Ok(ready) = ready else { return };
        let Ok(registration) = JsFuture::from(ready).await else {
            return;
        };
        let registration: web_sys::ServiceWorkerRegistration = registration.unchecked_into();
        let Some(active) = registration.active() else {
            return;
        };
        let mut all = loaded_files();
        for u in urls {
            if !all.contains(&u) {
                all.push(u);
            }
        }
        let message = Object::new();
        let list: Array = all.into_iter().map(JsValue::from).collect();
        let _ = Reflect::set(&message, &"precache".into(), &list);
        let _ = active.post_message(&message);
    });
}
