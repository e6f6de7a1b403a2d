//! The messages between the page (`src/app/engine.rs`) and the engine worker
//! (`src/bin/engine_worker.rs`), in one place for both sides: a structured-clone object
//! `{id, json, pixels?}`. `json` is the request or the reply as JSON text, `pixels` one
//! `Uint8Array` of RGBA bytes per image (requests only; their buffers are transferred:
//! see [`message`]). The worker says it listens with [`READY`] as the id.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// The id of the worker's "ready" message.
pub const READY: f64 = -1.0;

/// A message: a request (with pixels) or a reply (without), and its transfer list: the
/// buffers under the pixel arrays, which `postMessage` then moves to the worker (the page
/// can no longer read them) instead of copying them.
pub fn message(id: f64, json: &str, pixels: Option<&Array>) -> (Object, Array) {
    let msg = Object::new();
    let _ = Reflect::set(&msg, &"id".into(), &id.into());
    let _ = Reflect::set(&msg, &"json".into(), &json.into());
    let mut transfer = Array::new();
    if let Some(p) = pixels {
        let _ = Reflect::set(&msg, &"pixels".into(), p);
        transfer = p
            .iter()
            .filter_map(|px| px.dyn_into::<js_sys::Uint8Array>().ok())
            .map(|px| JsValue::from(px.buffer()))
            .collect();
    }
    (msg, transfer)
}

/// A message's id, JSON text and pixel buffers (empty when absent); an unreadable id is
/// `NaN`, which matches no request.
pub fn read(data: &JsValue) -> (f64, String, Array) {
    let field = |name: &str| Reflect::get(data, &name.into()).ok();
    let id = field("id").and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    let json = field("json")
        .and_then(|v| v.as_string())
        .unwrap_or_default();
    let pixels = field("pixels")
        .and_then(|v| v.dyn_into::<Array>().ok())
        .unwrap_or_default();
    (id, json, pixels)
}
