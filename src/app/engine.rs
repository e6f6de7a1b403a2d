//! The page's side of the engine worker (`src/bin/engine_worker.rs`): started on the
//! first request, fed the decoded pixels of images already loaded for the trial, and
//! answering with the unit's activations. One worker per page: the app makes its
//! [`Engine`] when it mounts and hands it to every session on the page (the preview opens
//! a session per participant id; the worker and the models it loaded stay).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use exemplar_core::checks::TrialActivations;
use exemplar_core::experiment::{BatchFiles, CheckModel};
use exemplar_core::plan::PlannedTrial;
use futures::channel::oneshot;
use js_sys::{Array, Uint8Array};
use leptos::prelude::{GetValue, LocalStorage, SetValue, StoredValue, UpdateValue};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[path = "../engine_protocol.rs"]
mod protocol;

use super::browser;
use super::images::Images;

/// What the worker computed.
#[derive(Clone, Debug, Deserialize)]
pub struct Computed {
    /// `activations[i][k]`: image i, channel k.
    pub activations: Vec<Vec<f32>>,
    /// `gpu` or `cpu`.
    pub backend: String,
    pub adapter: Option<String>,
    /// Why WebGPU was not used, if it was not.
    pub gpu_error: Option<String>,
    /// Time in the worker (preprocessing, model load the first time, compute).
    pub ms: f64,
}

#[derive(Deserialize)]
enum Reply {
    #[serde(rename = "ok")]
    Ok(Computed),
    #[serde(rename = "error")]
    Error(String),
}

struct Client {
    worker: web_sys::Worker,
    next_id: u32,
    waiting: HashMap<u32, oneshot::Sender<String>>,
    ready: Option<Vec<oneshot::Sender<()>>>,
}

/// The page's engine worker, once started, and the page's stimuli it reads the pixels of
/// (a handle: cheap to copy).
#[derive(Clone, Copy)]
pub struct Engine {
    client: StoredValue<Option<Rc<RefCell<Client>>>, LocalStorage>,
    images: Images,
}

fn start_worker(engine: Engine) -> Result<Rc<RefCell<Client>>, String> {
    // The worker script is wasm-bindgen's `no-modules` output next to the page.
    let js = browser::resolve_url("engine_worker.js");
    let wasm = browser::resolve_url("engine_worker_bg.wasm");
    let source = format!("importScripts({js:?}); wasm_bindgen({{ module_or_path: {wasm:?} }});");
    let parts = Array::of1(&source.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
        .map_err(|e| format!("{e:?}"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| format!("{e:?}"))?;
    let worker =
        web_sys::Worker::new(&url).map_err(|e| format!("could not start the engine: {e:?}"))?;
    let client = Rc::new(RefCell::new(Client {
        worker: worker.clone(),
        next_id: 0,
        waiting: HashMap::new(),
        ready: Some(Vec::new()),
    }));
    let weak = Rc::downgrade(&client);
    let onmessage =
        Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let Some(client) = weak.upgrade() else { return };
            let (id, json, _) = protocol::read(&e.data());
            let mut c = client.borrow_mut();
            if id == protocol::READY {
                for tx in c.ready.take().unwrap_or_default() {
                    let _ = tx.send(());
                }
            } else if let Some(tx) = (id >= 0.0)
                .then(|| c.waiting.remove(&(id as u32)))
                .flatten()
            {
                let _ = tx.send(json);
            }
        });
    worker.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    // A worker that dies (a trap in its wasm) answers nothing more: its waiting requests
    // fail now ("the engine stopped") instead of never, the error stays the engine's
    // (not the page's), and the next request starts a fresh worker.
    let weak = Rc::downgrade(&client);
    let onerror = Closure::<dyn Fn(web_sys::Event)>::new(move |e: web_sys::Event| {
        e.prevent_default();
        let message = js_sys::Reflect::get(&e, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_default();
        web_sys::console::warn_1(&format!("exemplar: the engine worker stopped: {message}").into());
        let Some(client) = weak.upgrade() else { return };
        engine.client.update_value(|slot| {
            if slot.as_ref().is_some_and(|c| Rc::ptr_eq(c, &client)) {
                *slot = None;
            }
        });
        let mut c = client.borrow_mut();
        c.worker.terminate();
        c.waiting.clear();
        c.ready = None;
    });
    worker.set_onerror(Some(onerror.as_ref().unchecked_ref()));
    onerror.forget();
    Ok(client)
}

impl Engine {
    /// No worker yet: the first request starts it. Lives as long as the reactive owner it
    /// is made under (the app's, for the page's life).
    pub fn new(images: Images) -> Engine {
        Engine {
            client: StoredValue::new_local(None),
            images,
        }
    }
}

async fn client(engine: Engine) -> Result<Rc<RefCell<Client>>, String> {
    let client = match engine.client.get_value() {
        Some(c) => c,
        None => {
            let c = start_worker(engine)?;
            engine.client.set_value(Some(c.clone()));
            c
        }
    };
    let wait = {
        let mut c = client.borrow_mut();
        c.ready.as_mut().map(|waiters| {
            let (tx, rx) = oneshot::channel();
            waiters.push(tx);
            rx
        })
    };
    if let Some(rx) = wait {
        rx.await
            .map_err(|_| "the engine did not start".to_string())?;
    }
    Ok(client)
}

/// RGBA pixels of an image already loaded into `images` (its `blob:` URL), decoded by the
/// browser without colour management: embedded gamma or ICC profiles (which ImageNet
/// PNGs often carry) are ignored, as PIL and the `image` crate ignore them, so the model
/// sees the file's own values, not what the screen shows.
async fn pixels(images: Images, path: &str) -> Result<(u32, u32, Uint8Array), String> {
    let url = images
        .url(path)
        .ok_or_else(|| format!("{path} is not loaded"))?;
    let window = browser::window();
    let fail = |e: JsValue| format!("{path}: {e:?}");
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&url))
        .await
        .map_err(fail)?
        .unchecked_into();
    let blob: web_sys::Blob = JsFuture::from(response.blob().map_err(fail)?)
        .await
        .map_err(fail)?
        .unchecked_into();
    let options = web_sys::ImageBitmapOptions::new();
    options.set_color_space_conversion(web_sys::ColorSpaceConversion::None);
    options.set_premultiply_alpha(web_sys::PremultiplyAlpha::None);
    let bitmap: web_sys::ImageBitmap = JsFuture::from(
        window
            .create_image_bitmap_with_blob_and_image_bitmap_options(&blob, &options)
            .map_err(fail)?,
    )
    .await
    .map_err(|_| format!("{path} could not be decoded"))?
    .unchecked_into();
    let (w, h) = (bitmap.width(), bitmap.height());
    let doc = window.document().ok_or("no document")?;
    let canvas: web_sys::HtmlCanvasElement =
        doc.create_element("canvas").map_err(fail)?.unchecked_into();
    canvas.set_width(w);
    canvas.set_height(h);
    let ctx: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .ok_or("no 2d canvas")?
        .unchecked_into();
    ctx.draw_image_with_image_bitmap(&bitmap, 0.0, 0.0)
        .map_err(fail)?;
    bitmap.close();
    let data = ctx
        .get_image_data(0.0, 0.0, w as f64, h as f64)
        .map_err(fail)?;
    // A view of the ImageData's own bytes (`data.data()` would copy them into wasm and
    // back), whose buffer the request then transfers to the worker.
    let rgba: js_sys::Uint8ClampedArray = js_sys::Reflect::get(&data, &"data".into())
        .map_err(fail)?
        .unchecked_into();
    Ok((
        w,
        h,
        Uint8Array::new_with_byte_offset_and_length(
            &rgba.buffer(),
            rgba.byte_offset(),
            rgba.length(),
        ),
    ))
}

/// Where the worker may compute.
#[derive(Clone, Copy, PartialEq)]
pub enum Backend {
    /// WebGPU, or the CPU without it (`?engine=cpu`: the CPU even with WebGPU).
    Any,
    /// WebGPU or nothing (a participant's CPU is not for us).
    GpuOnly,
}

/// The activations of `channel` of `layer` for each image (paths of loaded stimuli).
pub async fn activations(
    engine: Engine,
    model_url: &str,
    model: &CheckModel,
    layer: &str,
    channel: u32,
    paths: &[String],
    backend: Backend,
) -> Result<(Vec<f32>, Computed), String> {
    let c = compute(engine, model_url, model, layer, &[channel], paths, backend).await?;
    let values = c
        .activations
        .iter()
        .map(|row| row.first().copied().unwrap_or(f32::NAN))
        .collect();
    Ok((values, c))
}

/// Each image's embedding: the channel means of every channel of `output`
/// (`checks.encoder`), as `exemplar mis` takes them.
pub async fn embeddings(
    engine: Engine,
    model_url: &str,
    model: &CheckModel,
    output: &str,
    paths: &[String],
    backend: Backend,
) -> Result<Computed, String> {
    // No channels asked for: the worker answers with all of them.
    compute(engine, model_url, model, output, &[], paths, backend).await
}

/// Channel means of `channels` of `layer` (every channel when empty) for each image.
async fn compute(
    engine: Engine,
    model_url: &str,
    model: &CheckModel,
    layer: &str,
    channels: &[u32],
    paths: &[String],
    backend: Backend,
) -> Result<Computed, String> {
    let buffers = Array::new();
    let mut sizes = Vec::new();
    for p in paths {
        let (w, h, px) = pixels(engine.images, p).await?;
        sizes.push((w, h));
        buffers.push(&px);
    }
    let backend = match backend {
        Backend::GpuOnly => "gpu-only",
        Backend::Any if browser::query_param("engine").as_deref() == Some("cpu") => "cpu",
        Backend::Any => "gpu",
    };
    let request = serde_json::json!({
        "model_url": model_url, "layer": layer, "channels": channels,
        "preset": model.preset, "resize": model.resize, "crop": model.crop,
        "mean": model.mean, "std": model.std,
        "sizes": sizes, "backend": backend,
    });
    let client = client(engine).await?;
    let (tx, rx) = oneshot::channel();
    {
        let mut c = client.borrow_mut();
        let id = c.next_id;
        c.next_id += 1;
        c.waiting.insert(id, tx);
        let (msg, transfer) = protocol::message(id as f64, &request.to_string(), Some(&buffers));
        // The pixel buffers move to the worker instead of being copied: a structured
        // clone of sixteen 224 x 224 images blocked the page for about 5 ms, and the
        // worker for as long again to read them (tests/e2e/bench_engine.mjs).
        if let Err(e) = c.worker.post_message_with_transfer(&msg, &transfer) {
            c.waiting.remove(&id);
            return Err(format!("could not reach the engine: {e:?}"));
        }
    }
    let json = rx.await.map_err(|_| "the engine stopped".to_string())?;
    match serde_json::from_str::<Reply>(&json) {
        Ok(Reply::Ok(c)) => Ok(c),
        Ok(Reply::Error(e)) => Err(e),
        Err(e) => Err(format!("unreadable answer from the engine: {e}")),
    }
}

/// The images of a trial in the order [`TrialActivations`] wants them: min references,
/// max references (as many as its condition shows), min query, max query.
pub fn trial_images(t: &PlannedTrial) -> Vec<String> {
    t.min_references
        .iter()
        .chain(&t.max_references)
        .cloned()
        .chain([t.min_query.clone(), t.max_query.clone()])
        .collect()
}

/// The same for a batch's files (all 20).
pub fn batch_images(f: &BatchFiles) -> Vec<String> {
    f.min_references
        .iter()
        .chain(&f.max_references)
        .cloned()
        .chain([f.min_query.clone(), f.max_query.clone()])
        .collect()
}

/// Splits values (in [`trial_images`] order, `min` and `max` references) into a trial's
/// activations.
pub fn split(values: &[f32], min: usize, max: usize) -> Option<TrialActivations> {
    (values.len() == min + max + 2).then(|| TrialActivations {
        min_references: values[..min].to_vec(),
        max_references: values[min..min + max].to_vec(),
        min_query: values[min + max],
        max_query: values[min + max + 1],
    })
}
