//! The activation engine in a dedicated Web Worker, so that computing activations (on
//! WebGPU, or on the CPU where WebGPU is missing) never blocks the page a participant or
//! researcher is looking at. It is its own wasm module, loaded only when a check is
//! asked for: participants of a study without checks never download it.
//!
//! Protocol (structured clone): the page posts `{id, json, pixels}` where `json` is a
//! [`Request`] and `pixels` one `Uint8Array` of RGBA bytes per image; the worker answers
//! `{id, json}` with a [`Reply`]. It posts `{id: -1, json: "ready"}` once it listens.

#[cfg(target_arch = "wasm32")]
#[path = "../engine_protocol.rs"]
mod protocol;

#[cfg(target_arch = "wasm32")]
mod worker {
    use std::cell::RefCell;
    use std::collections::{HashMap, VecDeque};
    use std::rc::Rc;

    use exemplar_engine::{Backend, Engine, GpuContext, Preprocess};
    use js_sys::{Array, Uint8Array};

    use super::protocol;
    use serde::{Deserialize, Serialize};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

    /// Activations of some channels of one layer for some images.
    #[derive(Deserialize)]
    struct Request {
        model_url: String,
        layer: String,
        /// The channels whose means are wanted; none: every channel (an embedding).
        channels: Vec<usize>,
        /// `imagenet` or `inception`, then the overrides (0: no resize or crop).
        preset: String,
        resize: Option<u32>,
        crop: Option<u32>,
        mean: Option<[f32; 3]>,
        std: Option<[f32; 3]>,
        /// Width and height of each image.
        sizes: Vec<(u32, u32)>,
        /// `gpu` (fall back to the CPU without WebGPU), `gpu-only` or `cpu`.
        backend: String,
    }

    #[derive(Serialize)]
    enum Reply {
        #[serde(rename = "ok")]
        Ok {
            /// `activations[i][k]`: image i, channel k.
            activations: Vec<Vec<f32>>,
            backend: &'static str,
            adapter: Option<String>,
            /// Why the GPU was not used, when it was asked for.
            gpu_error: Option<String>,
            ms: f64,
        },
        #[serde(rename = "error")]
        Error(String),
    }

    #[derive(Default)]
    struct State {
        models: HashMap<String, Rc<Vec<u8>>>,
        engines: HashMap<(String, String, bool), Rc<Engine>>,
        gpu: Option<Result<GpuContext, String>>,
    }

    // The worker's own state for its whole life: no leptos here, and every message
    // handler (a JS callback) must reach the loaded models and the GPU device, so a
    // worker-global is the right owner. The page starts a fresh worker if this one dies.
    thread_local! {
        static STATE: RefCell<State> = RefCell::new(State::default());
    }

    fn scope() -> DedicatedWorkerGlobalScope {
        js_sys::global().unchecked_into()
    }

    fn now() -> f64 {
        scope().performance().map_or(0.0, |p| p.now())
    }

    async fn model_bytes(url: &str) -> Result<Rc<Vec<u8>>, String> {
        if let Some(b) = STATE.with(|s| s.borrow().models.get(url).cloned()) {
            return Ok(b);
        }
        let fail = |e: JsValue| format!("could not load the model {url}: {e:?}");
        let response: web_sys::Response = JsFuture::from(scope().fetch_with_str(url))
            .await
            .map_err(fail)?
            .unchecked_into();
        if !response.ok() {
            return Err(format!(
                "could not load the model {url}: HTTP {}",
                response.status()
            ));
        }
        let buffer = JsFuture::from(response.array_buffer().map_err(fail)?)
            .await
            .map_err(fail)?;
        let bytes = Rc::new(Uint8Array::new(&buffer).to_vec());
        STATE.with(|s| s.borrow_mut().models.insert(url.to_string(), bytes.clone()));
        Ok(bytes)
    }

    async fn gpu() -> Result<GpuContext, String> {
        if let Some(g) = STATE.with(|s| s.borrow().gpu.clone()) {
            return g;
        }
        let g = GpuContext::new().await.map_err(|e| e.to_string());
        STATE.with(|s| s.borrow_mut().gpu = Some(g.clone()));
        g
    }

    async fn engine(req: &Request) -> Result<(Rc<Engine>, Option<String>), String> {
        let want_gpu = req.backend != "cpu";
        let (ctx, gpu_error) = if want_gpu {
            match gpu().await {
                Ok(g) => (Some(g), None),
                Err(e) => (None, Some(e)),
            }
        } else {
            (None, None)
        };
        if let (true, Some(e)) = (req.backend == "gpu-only", &gpu_error) {
            return Err(format!("no WebGPU: {e}"));
        }
        let key = (req.model_url.clone(), req.layer.clone(), ctx.is_some());
        if let Some(e) = STATE.with(|s| s.borrow().engines.get(&key).cloned()) {
            return Ok((e, gpu_error));
        }
        let bytes = model_bytes(&req.model_url).await?;
        let engine =
            Rc::new(Engine::load(&bytes, &req.layer, ctx.as_ref()).map_err(|e| e.to_string())?);
        STATE.with(|s| s.borrow_mut().engines.insert(key, engine.clone()));
        Ok((engine, gpu_error))
    }

    async fn handle(json: &str, pixels: Array) -> Reply {
        let started = now();
        let req: Request = match serde_json::from_str(json) {
            Ok(r) => r,
            Err(e) => return Reply::Error(format!("bad request: {e}")),
        };
        if pixels.length() as usize != req.sizes.len() {
            return Reply::Error("one pixel buffer per image size is needed".into());
        }
        let mut pre = match Preprocess::preset(&req.preset) {
            Ok(p) => p,
            Err(e) => return Reply::Error(e.to_string()),
        };
        if let Some(n) = req.resize {
            pre.resize = (n > 0).then_some(n);
        }
        if let Some(n) = req.crop {
            pre.crop = (n > 0).then_some(n);
        }
        pre.mean = req.mean.unwrap_or(pre.mean);
        pre.std = req.std.unwrap_or(pre.std);
        let mut tensors = Vec::with_capacity(req.sizes.len());
        for (i, &(w, h)) in req.sizes.iter().enumerate() {
            let rgba = Uint8Array::new(&pixels.get(i as u32)).to_vec();
            match pre.apply_rgba(&rgba, w, h) {
                Ok(t) => tensors.push(t),
                Err(e) => return Reply::Error(format!("image {i}: {e}")),
            }
        }
        let (engine, gpu_error) = match engine(&req).await {
            Ok(e) => e,
            Err(e) => return Reply::Error(e),
        };
        let mut channels = req.channels.clone();
        if channels.is_empty() {
            let Some(first) = tensors.first() else {
                return Reply::Error("no images".into());
            };
            let mut input = vec![1];
            input.extend(&first.shape);
            match engine.channels(&input) {
                Ok(n) => channels = (0..n).collect(),
                Err(e) => return Reply::Error(format!("tensor {}: {e}", req.layer)),
            }
        }
        match engine.activations(&tensors, &channels).await {
            Ok(activations) => Reply::Ok {
                activations,
                backend: match engine.backend() {
                    Backend::Gpu => "gpu",
                    Backend::Cpu => "cpu",
                },
                adapter: engine.adapter().map(String::from),
                gpu_error,
                ms: now() - started,
            },
            Err(e) => Reply::Error(e.to_string()),
        }
    }

    fn post(id: f64, json: &str) {
        let _ = scope().post_message(&protocol::message(id, json, None).0);
    }

    /// Requests waiting for the one being handled. They are handled one at a time, in
    /// the order they came: a GPU request pushes WebGPU error scopes on the device and
    /// pops them after awaiting the queue, and two requests interleaving there would pop
    /// each other's scopes (wgpu panics on that); the GPU runs one submission at a time
    /// anyway, so nothing is lost by waiting.
    #[derive(Default)]
    struct Queue {
        waiting: VecDeque<(f64, String, Array)>,
        busy: bool,
    }

    // Worker-global for the same reason as `STATE`: the queue orders every message the
    // worker receives.
    thread_local! {
        static QUEUE: RefCell<Queue> = RefCell::new(Queue::default());
    }

    async fn drain() {
        while let Some((id, json, pixels)) = QUEUE.with(|q| {
            let mut q = q.borrow_mut();
            let next = q.waiting.pop_front();
            q.busy = next.is_some();
            next
        }) {
            let reply = handle(&json, pixels).await;
            post(id, &serde_json::to_string(&reply).unwrap_or_default());
        }
    }

    pub fn start() {
        console_error_panic_hook::set_once();
        let onmessage = Closure::<dyn Fn(MessageEvent)>::new(|e: MessageEvent| {
            let request = protocol::read(&e.data());
            let idle = QUEUE.with(|q| {
                let mut q = q.borrow_mut();
                q.waiting.push_back(request);
                !q.busy
            });
            if idle {
                QUEUE.with(|q| q.borrow_mut().busy = true);
                wasm_bindgen_futures::spawn_local(drain());
            }
        });
        scope().set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
        onmessage.forget();
        post(protocol::READY, "ready");
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {
    worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("The engine worker runs in the browser: `trunk build --release` builds it.");
}
