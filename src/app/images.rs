//! Stimulus loading: a trial is shown only when every image is downloaded and decoded.
//!
//! Images are fetched as bytes and shown through `blob:` URLs, so the page never carries a
//! stimulus' file name (which would give the answer away: `max_9.png`). Each image is
//! decoded (`HTMLImageElement.decode()`) before its trial starts, and kept in the page's
//! [`Images`] for the rest of the page's life; failures are retried with backoff.

use std::collections::HashMap;

use exemplar_core::manifest::Manifest;
use leptos::prelude::{LocalStorage, StoredValue, UpdateValue, WithValue};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::browser::{self, sleep};

struct Loaded {
    url: String,
    /// Kept alive so the decoded bitmap stays with the page.
    _img: web_sys::HtmlImageElement,
}

#[derive(Default)]
struct Store {
    /// Loaded stimuli by path.
    loaded: HashMap<String, Loaded>,
    /// A built site's manifest: where each stimulus is and what it must hash to.
    manifest: Option<Manifest>,
}

/// The page's stimuli (a handle: cheap to copy). One per page, made when the app mounts:
/// the `blob:` URLs are the document's, decoded once and shown by every session the page
/// opens (the preview opens one per participant id and does not fetch them again), and
/// read by the engine.
#[derive(Clone, Copy)]
pub struct Images(StoredValue<Store, LocalStorage>);

impl Default for Images {
    fn default() -> Images {
        Images::new()
    }
}

impl Images {
    /// Nothing loaded, no manifest. Lives as long as the reactive owner it is made under
    /// (the app's, for the page's life).
    pub fn new() -> Images {
        Images(StoredValue::new_local(Store::default()))
    }

    /// Uses a built site's manifest for every later load.
    pub fn set_manifest(self, manifest: Manifest) {
        self.0.update_value(|s| s.manifest = Some(manifest));
    }

    /// Where a stimulus is fetched from, and the SHA-256 it must have (with a manifest).
    fn locate(self, path: &str) -> Result<(String, Option<String>), String> {
        self.0.with_value(|s| match &s.manifest {
            None => Ok((path.to_string(), None)),
            Some(manifest) => manifest
                .files
                .get(path)
                .map(|e| (e.url.clone(), Some(e.sha256.clone())))
                .ok_or_else(|| "not in the built site's manifest".to_string()),
        })
    }

    /// The `blob:` URL of a loaded stimulus.
    pub fn url(self, path: &str) -> Option<String> {
        self.0
            .with_value(|s| s.loaded.get(path).map(|l| l.url.clone()))
    }

    /// Loads every image (relative to `base`), all at once; returns the ones that failed
    /// after `attempts` tries each, with the reason.
    pub async fn load_all<'a>(
        self,
        base: &str,
        paths: impl IntoIterator<Item = &'a str>,
        attempts: u32,
    ) -> Vec<String> {
        let pending: Vec<&str> = paths
            .into_iter()
            .filter(|p| self.url(p).is_none())
            .collect();
        let results = futures::future::join_all(
            pending
                .iter()
                .map(|path| self.load_with_retries(base, path, attempts)),
        )
        .await;
        pending
            .iter()
            .zip(results)
            .filter_map(|(path, r)| r.err().map(|e| format!("{path}: {e}")))
            .collect()
    }

    /// Where a stimulus is fetched from (a built site's hashed name), relative to the
    /// experiment folder.
    pub fn source(self, path: &str) -> Option<String> {
        self.locate(path).ok().map(|(src, _)| src)
    }

    async fn load_with_retries(self, base: &str, path: &str, attempts: u32) -> Result<(), String> {
        let mut failures = 0;
        loop {
            if self.url(path).is_some() {
                return Ok(()); // a concurrent preload got it meanwhile
            }
            let (src, sha256) = self.locate(path)?;
            // Offline, the service worker may still have the file.
            match load_one(&format!("{base}{src}"), sha256.as_deref()).await {
                Ok(loaded) => {
                    self.0.update_value(|s| {
                        s.loaded.insert(path.to_string(), loaded);
                    });
                    return Ok(());
                }
                // Offline is not the image's fault: wait for the network instead of using
                // up the attempts (and skipping the trial) during a short outage.
                Err(_) if !browser::window().navigator().on_line() => {
                    super::delivery::sleep_or_wake(5_000).await;
                }
                Err(e) => {
                    failures += 1;
                    if failures >= attempts.max(1) {
                        return Err(e);
                    }
                    sleep(250 * (1 << failures.min(5))).await;
                }
            }
        }
    }
}

async fn load_one(url: &str, sha256: Option<&str>) -> Result<Loaded, String> {
    let response = gloo_net::http::Request::get(url)
        .send()
        .await
        .map_err(|e| format!("network error: {e}"))?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let bytes = response
        .binary()
        .await
        .map_err(|e| format!("read error: {e}"))?;
    if let Some(expected) = sha256 {
        if let Some(actual) = digest_hex(&bytes).await {
            if actual != expected {
                return Err(format!(
                    "content does not match the manifest (sha256 {actual}, expected {expected})"
                ));
            }
        }
    }
    let array = js_sys::Uint8Array::from(bytes.as_slice());
    let parts = js_sys::Array::of1(&array);
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts)
        .map_err(|_| "cannot make a blob".to_string())?;
    let blob_url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|_| "cannot make a blob URL".to_string())?;
    let img = web_sys::HtmlImageElement::new().map_err(|_| "cannot make an image".to_string())?;
    img.set_src(&blob_url);
    match JsFuture::from(img.decode()).await {
        Ok(_) => Ok(Loaded {
            url: blob_url,
            _img: img,
        }),
        Err(e) => {
            web_sys::Url::revoke_object_url(&blob_url).ok();
            let msg = e
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_else(|| "undecodable".into());
            Err(format!("cannot decode the image ({msg})"))
        }
    }
}

/// SHA-256 through WebCrypto; `None` where the page is not a secure context (plain http
/// other than localhost), where browsers do not offer it: then nothing can be checked.
async fn digest_hex(bytes: &[u8]) -> Option<String> {
    let subtle = browser::window().crypto().ok()?.subtle();
    if subtle.is_undefined() {
        return None;
    }
    let promise = subtle.digest_with_str_and_u8_array("SHA-256", bytes).ok()?;
    let buffer = JsFuture::from(promise).await.ok()?;
    let digest = js_sys::Uint8Array::new(&buffer).to_vec();
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}
