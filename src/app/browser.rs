//! Small shims over the browser APIs the app needs (wasm cannot use std's time, files or
//! randomness). Nothing here knows about experiments.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

pub fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

/// A decimal number of a URL parameter (`0.8`, `12`, `1e2`), parsed by the browser's
/// `Number` (which keeps a float parser out of the participant's wasm); `None` for
/// anything else, hexadecimal and blank text included.
pub fn parse_number(text: &str) -> Option<f64> {
    let decimal = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    let n = js_sys::Number::from(wasm_bindgen::JsValue::from_str(text)).value_of();
    (decimal && !n.is_nan()).then_some(n)
}

/// `performance.now()`: the clock of event timestamps and animation frames.
pub fn now() -> f64 {
    window().performance().map_or(0.0, |p| p.now())
}

/// Milliseconds since the Unix epoch.
pub fn epoch_ms() -> f64 {
    js_sys::Date::now()
}

/// A URL query parameter.
pub fn query_param(name: &str) -> Option<String> {
    let search = window().location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
        .filter(|v| !v.is_empty())
}

/// The page's query string (with its `?`).
pub fn query_string() -> String {
    window().location().search().unwrap_or_default()
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// Reads a value from `localStorage`.
pub fn load(key: &str) -> Option<String> {
    storage()?.get_item(key).ok().flatten()
}

/// Writes a value to `localStorage`; false if the browser refused (private mode, quota).
pub fn store(key: &str, value: &str) -> bool {
    storage().is_some_and(|s| s.set_item(key, value).is_ok())
}

/// A random hex id from the browser's cryptographic generator.
pub fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if let Ok(crypto) = window().crypto() {
        let _ = crypto.get_random_values_with_u8_array(&mut buf);
    }
    if buf.iter().all(|&b| b == 0) {
        // No WebCrypto (very old browsers): Math.random is enough for an id.
        buf.iter_mut()
            .for_each(|b| *b = (js_sys::Math::random() * 256.0) as u8);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Inner window size and device pixel ratio.
pub fn window_size() -> (f64, f64, f64) {
    let w = window();
    let num = |v: Result<JsValue, JsValue>| v.ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
    (
        num(w.inner_width()),
        num(w.inner_height()),
        w.device_pixel_ratio(),
    )
}

/// What the records say about the browser and window.
pub fn environment() -> exemplar_core::record::Environment {
    let w = window();
    let (window_width, window_height, device_pixel_ratio) = window_size();
    let screen = w.screen().ok();
    exemplar_core::record::Environment {
        user_agent: w.navigator().user_agent().unwrap_or_default(),
        window_width,
        window_height,
        screen_width: screen.as_ref().and_then(|s| s.width().ok()).unwrap_or(0) as f64,
        screen_height: screen.as_ref().and_then(|s| s.height().ok()).unwrap_or(0) as f64,
        device_pixel_ratio,
    }
}

/// Whether the page is fullscreen now.
pub fn is_fullscreen() -> bool {
    window()
        .document()
        .and_then(|d| d.fullscreen_element())
        .is_some()
}

/// Asks for fullscreen; browsers may refuse (headless, iframes), which is not an error.
pub fn request_fullscreen() {
    if let Some(el) = window().document().and_then(|d| d.document_element()) {
        if let Ok(promise) = js_sys::Reflect::get(&el, &"requestFullscreen".into())
            .and_then(|f| f.dyn_into::<js_sys::Function>())
            .and_then(|f| f.call0(&el))
        {
            if let Ok(p) = promise.dyn_into::<js_sys::Promise>() {
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = JsFuture::from(p).await;
                });
            }
        }
    }
}

/// Resolves after `ms` milliseconds.
pub async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
    });
    let _ = JsFuture::from(promise).await;
}

/// Calls `f` with the timestamp of the next animation frame: the frame that paints what
/// is in the DOM now.
pub fn next_frame(f: impl FnOnce(f64) + 'static) {
    let cb = Closure::once_into_js(f);
    let _ = window().request_animation_frame(cb.unchecked_ref());
}

/// The browser's own report of when it painted some elements (Element Timing): keeps
/// watching while it lives, and stops when dropped.
pub struct PaintWatch {
    observer: web_sys::PerformanceObserver,
    _callback: Closure<dyn FnMut(JsValue, web_sys::PerformanceObserver)>,
}

impl Drop for PaintWatch {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// Calls `f` once with the latest paint time (`renderTime`, on the `performance.now()`
/// clock) among `elements`, once the browser has reported painting every one of them.
/// `None` where the browser has no Element Timing (Firefox, Safari), or reports no render
/// time for them: then nothing will be reported.
pub fn on_painted(
    elements: Vec<web_sys::Element>,
    f: impl FnOnce(f64) + 'static,
) -> Option<PaintWatch> {
    let supported = js_sys::Reflect::get(&window().into(), &"PerformanceObserver".into())
        .and_then(|ctor| js_sys::Reflect::get(&ctor, &"supportedEntryTypes".into()))
        .ok()
        .map(|types| js_sys::Array::from(&types).includes(&"element".into(), 0))
        .unwrap_or(false);
    if !supported || elements.is_empty() {
        return None;
    }
    let mut painted: Vec<Option<f64>> = vec![None; elements.len()];
    let mut f = Some(f);
    let callback = Closure::<dyn FnMut(JsValue, web_sys::PerformanceObserver)>::new(
        move |list: JsValue, observer: web_sys::PerformanceObserver| {
            let list: web_sys::PerformanceObserverEntryList = list.unchecked_into();
            for entry in list.get_entries() {
                let Ok(element) = js_sys::Reflect::get(&entry, &"element".into()) else {
                    continue;
                };
                let Some(i) = elements
                    .iter()
                    .position(|e| JsValue::from(e.clone()) == element)
                else {
                    continue;
                };
                // 0 means the browser would not say (a cross-origin image without
                // Timing-Allow-Origin); blob: images are the page's own.
                let t = js_sys::Reflect::get(&entry, &"renderTime".into())
                    .ok()
                    .and_then(|v| v.as_f64());
                if let Some(t) = t.filter(|t| *t > 0.0) {
                    painted[i] = Some(t);
                }
            }
            if painted.iter().all(Option::is_some) {
                observer.disconnect();
                if let Some(f) = f.take() {
                    f(painted.iter().flatten().fold(0.0, |a, b| a.max(*b)));
                }
            }
        },
    );
    let observer = web_sys::PerformanceObserver::new(callback.as_ref().unchecked_ref()).ok()?;
    let init = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&init, &"type".into(), &"element".into());
    // Paints reported before the observer started are delivered too.
    let _ = js_sys::Reflect::set(&init, &"buffered".into(), &true.into());
    observer.observe(init.unchecked_ref());
    Some(PaintWatch {
        observer,
        _callback: callback,
    })
}

/// Resolves a URL relative to the page.
pub fn resolve_url(relative: &str) -> String {
    let base = window().location().href().unwrap_or_default();
    web_sys::Url::new_with_base(relative, &base)
        .map(|u| u.href())
        .unwrap_or_else(|_| relative.to_string())
}

/// A URL resolved against the page, as the browser's parser reads it: `(href, origin)`.
pub fn parse_url(relative: &str) -> Option<(String, String)> {
    let base = window().location().href().ok()?;
    let url = web_sys::Url::new_with_base(relative, &base).ok()?;
    Some((url.href(), url.origin()))
}

/// The page's own origin.
pub fn page_origin() -> String {
    window().location().origin().unwrap_or_default()
}

/// The `content` of `<meta name="{name}">` in the page, if there is one.
pub fn meta_content(name: &str) -> Option<String> {
    let doc = window().document()?;
    let meta = doc
        .query_selector(&format!("meta[name=\"{name}\"]"))
        .ok()??;
    meta.get_attribute("content")
}

/// Takes the Web Lock `name` for as long as the page lives, if no other page holds it:
/// `Some(true)` held, `Some(false)` another tab or window holds it, `None` the browser
/// has no Web Locks (`navigator.locks`) or refused the request.
pub async fn hold_lock(name: &str) -> Option<bool> {
    let locks = js_sys::Reflect::get(&window().navigator(), &"locks".into()).ok()?;
    if locks.is_undefined() || locks.is_null() {
        return None;
    }
    let request = js_sys::Reflect::get(&locks, &"request".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE).ok()?;
    let name = JsValue::from_str(name);
    let granted = js_sys::Promise::new(&mut |resolve, _reject| {
        let answer = resolve.clone();
        // Called with the lock, or with null when another page holds it. Returning a
        // promise that never settles keeps the lock until the page goes away.
        let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
            let held = !lock.is_null() && !lock.is_undefined();
            let _ = answer.call1(&JsValue::NULL, &JsValue::from_bool(held));
            if held {
                js_sys::Promise::new(&mut |_, _| {}).into()
            } else {
                JsValue::UNDEFINED
            }
        });
        match request
            .call3(&locks, &name, &options, &callback)
            .map(|p| p.dyn_into::<js_sys::Promise>())
        {
            Ok(Ok(p)) => {
                // A refused request (e.g. SecurityError) rejects: answer "no locks".
                let resolve = resolve.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    if JsFuture::from(p).await.is_err() {
                        let _ = resolve.call1(&JsValue::NULL, &JsValue::UNDEFINED);
                    }
                });
            }
            _ => {
                let _ = resolve.call1(&JsValue::NULL, &JsValue::UNDEFINED);
            }
        }
    });
    JsFuture::from(granted).await.ok()?.as_bool()
}
