//! Getting records to the endpoint: one request per batch, in each adapter's wire format,
//! with a timeout, and a verdict the send loop can act on (retry or keep as refused).

use std::cell::RefCell;

use super::kept::Kept;
use exemplar_core::experiment::{Collect, Experiment};
use exemplar_core::untrusted;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::browser;

/// Why a batch was not acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub enum SendError {
    /// Worth retrying: no answer, a timeout, 408, 429 or 5xx. `retry_after_ms` is the
    /// server's `Retry-After`, when it sent one.
    Transient {
        reason: String,
        retry_after_ms: Option<u32>,
    },
    /// The endpoint refused these records (another 4xx): retrying will not help.
    Permanent(String),
    /// HTTP 409 naming the records whose ids the endpoint already holds with other
    /// content: it stored every other record of the batch.
    Conflicts {
        reason: String,
        conflicts: Vec<String>,
    },
}

/// Sends one batch as the experiment's adapter does.
pub async fn send(exp: &Experiment, records: &[Kept]) -> Result<(), SendError> {
    let timeout = exp.delivery.timeout_ms;
    let ids: Vec<&str> = records.iter().map(|r| r.record_id.as_str()).collect();
    match &exp.collect {
        Collect::None | Collect::Download {} => Ok(()),
        Collect::Http { url, headers }
        | Collect::Mturk { url, headers }
        | Collect::Prolific { url, headers } => {
            let body = envelope(records);
            let headers: Headers = Box::new(headers.iter());
            post(url, headers, "application/json", body, timeout, &ids).await
        }
        Collect::Jatos {} => {
            // The page runs at /publix/<study result>/<component>/…: "resultData" beside it
            // is the component's result data; POST appends (as jatos.appendResultData).
            let body = jsonl(records);
            post(
                "resultData",
                Box::new(std::iter::empty()),
                "text/plain",
                body,
                timeout,
                &ids,
            )
            .await
        }
        Collect::Datapipe { experiment_id, url } => {
            let (first, last) = (
                records.first().map_or(0, |r| r.seq),
                records.last().map_or(0, |r| r.seq),
            );
            let session = records.first().map_or("", |r| r.session_id.as_str());
            let body = serde_json::json!({
                "experimentID": experiment_id,
                // One unique, stable file name per batch: a resend names the same file.
                "filename": format!("{session}-{first:06}-{last:06}.jsonl"),
                "data": jsonl(records),
            });
            let body = body.to_string();
            post(
                url,
                Box::new(std::iter::empty()),
                "application/json",
                body,
                timeout,
                &ids,
            )
            .await
        }
    }
}

pub use super::kept::{envelope, jsonl};

type Headers<'a> = Box<dyn Iterator<Item = (&'a String, &'a String)> + 'a>;

async fn post(
    url: &str,
    headers: Headers<'_>,
    content_type: &str,
    body: String,
    timeout_ms: u32,
    ids: &[&str],
) -> Result<(), SendError> {
    let controller = web_sys::AbortController::new().ok();
    let signal = controller.as_ref().map(|c| c.signal());
    let timer = controller.clone().and_then(|c| {
        let abort = Closure::once_into_js(move || c.abort());
        browser::window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                abort.unchecked_ref(),
                timeout_ms as i32,
            )
            .ok()
    });
    let mut request = gloo_net::http::Request::post(url)
        .header("Content-Type", content_type)
        .abort_signal(signal.as_ref());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let result = match request.body(body) {
        Ok(r) => r.send().await,
        Err(e) => {
            return Err(SendError::Permanent(format!(
                "cannot build the request: {e}"
            )))
        }
    };
    if let Some(t) = timer {
        browser::window().clear_timeout_with_handle(t);
    }
    let response = result.map_err(|e| SendError::Transient {
        reason: if signal.as_ref().is_some_and(|s| s.aborted()) {
            format!("no answer within {} s", timeout_ms / 1000)
        } else {
            format!("the endpoint is not reachable ({e})")
        },
        retry_after_ms: None,
    })?;
    let status = response.status();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let retry_after_ms = response
        .headers()
        .get("retry-after")
        .and_then(|v| parse_retry_after(&v));
    let text = response.text().await.unwrap_or_default();
    let detail: String = text.chars().take(300).collect();
    let reason = format!(
        "the endpoint answered HTTP {status}{}",
        if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        }
    );
    if let Some(conflicts) = untrusted::conflicts_in_answer(status, &text, ids) {
        return Err(SendError::Conflicts { reason, conflicts });
    }
    if status == 408 || status == 429 || status >= 500 {
        Err(SendError::Transient {
            reason,
            retry_after_ms,
        })
    } else {
        Err(SendError::Permanent(reason))
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn parse_retry_after(value: &str) -> Option<u32> {
    if let Ok(secs) = value.trim().parse::<u32>() {
        return Some(secs.saturating_mul(1000));
    }
    let at = js_sys::Date::parse(value);
    (!at.is_nan()).then(|| (at - browser::epoch_ms()).clamp(0.0, 3_600_000.0) as u32)
}

/// Last-chance delivery as the page goes away (`pagehide`, tab hidden): the records are
/// handed to the browser, which sends them even after the page is gone. Nothing is
/// removed from the outbox: without an answer we cannot know they arrived, so the next
/// load sends them again and the endpoint keeps one of each.
pub fn send_on_exit(collect: &Collect, records: &[Kept]) {
    let Some((url, headers)) = collect.endpoint() else {
        return;
    };
    // Browsers cap what may be in flight after a page is gone at 64 KiB.
    let mut take = records.len();
    let mut body = envelope(records);
    while body.len() > 60_000 && take > 1 {
        take /= 2;
        body = envelope(&records[..take]);
    }
    let window = browser::window();
    if headers.is_empty() {
        // text/plain needs no CORS preflight, which a beacon cannot make.
        let _ = window
            .navigator()
            .send_beacon_with_opt_str(url, Some(&body));
    } else {
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        // `keepalive` lets the request outlive the page (not exposed by web-sys).
        let _ = js_sys::Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE);
        init.set_body(&JsValue::from_str(&body));
        if let Ok(h) = web_sys::Headers::new() {
            let _ = h.set("Content-Type", "application/json");
            for (name, value) in headers {
                let _ = h.set(name, value);
            }
            init.set_headers(&h);
        }
        let _ = window.fetch_with_str_and_init(url, &init);
    }
}

// Page-wide on purpose: being back online is the browser's event, not a session's, and
// it ends every wait on the page (a session's delivery backoff and an image load's wait
// for the network alike), so one list of sleepers serves them all.
thread_local! {
    static WAKERS: RefCell<Vec<js_sys::Function>> = const { RefCell::new(Vec::new()) };
}

/// Sleeps `ms`, or less if [`wake`] is called (the browser came back online).
pub async fn sleep_or_wake(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = browser::window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
        WAKERS.with(|w| w.borrow_mut().push(resolve));
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Ends every [`sleep_or_wake`] now.
pub fn wake() {
    for f in WAKERS.with(|w| std::mem::take(&mut *w.borrow_mut())) {
        let _ = f.call0(&JsValue::NULL);
    }
}

/// Offers text as a file download (the participant's copy of unsaved records).
pub fn download(filename: &str, text: &str) {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/x-ndjson");
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    let doc = browser::window().document();
    if let Some(a) = doc
        .as_ref()
        .and_then(|d| d.create_element("a").ok())
        .and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    {
        a.set_href(&url);
        a.set_download(filename);
        if let Some(body) = doc.as_ref().and_then(|d| d.body()) {
            let _ = body.append_child(&a);
            a.click();
            let _ = body.remove_child(&a);
        }
    }
}

/// Submits the MTurk assignment (ExternalQuestion): a form POST to
/// `<turkSubmitTo>/mturk/externalSubmit` with the assignment id.
pub fn submit_mturk(turk_submit_to: &str, assignment_id: &str, session_id: &str) {
    let Some(doc) = browser::window().document() else {
        return;
    };
    let Ok(form) = doc
        .create_element("form")
        .map(|e| e.unchecked_into::<web_sys::HtmlFormElement>())
    else {
        return;
    };
    form.set_method("POST");
    form.set_action(&format!(
        "{}/mturk/externalSubmit",
        turk_submit_to.trim_end_matches('/')
    ));
    for (name, value) in [("assignmentId", assignment_id), ("session_id", session_id)] {
        if let Ok(input) = doc
            .create_element("input")
            .map(|e| e.unchecked_into::<web_sys::HtmlInputElement>())
        {
            input.set_type("hidden");
            input.set_name(name);
            input.set_value(value);
            let _ = form.append_child(&input);
        }
    }
    if let Some(body) = doc.body() {
        let _ = body.append_child(&form);
        let _ = form.submit();
    }
}
