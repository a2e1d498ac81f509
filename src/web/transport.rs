//! `fetch` with a timeout: a request that never answers is aborted, so an event cannot sit
//! "in flight" forever behind a hung connection.

use gloo_timers::callback::Timeout;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, Request, RequestInit, RequestMode, Response};

use super::js::read_text;
use crate::core::io::{Answer, HttpRequest};

/// How long a request may take before it is aborted and retried.
pub const REQUEST_TIMEOUT_MS: u32 = 10_000;

/// Bytes of an error body read (Gameball's are a few hundred); the rest is not downloaded.
pub const MAX_ERROR_BODY_BYTES: u32 = 16 * 1024;

fn reason(error: &JsValue) -> String {
    // Stringify: a thrown non-Error must never become a panic.
    js_sys::JSON::stringify(error)
        .ok()
        .and_then(|s| s.as_string())
        .filter(|s| s != "{}")
        .or_else(|| error.as_string())
        .or_else(|| {
            error
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| "network error".into())
}

/// Sends `request` and waits for its answer; every failure becomes [`Answer::NoAnswer`].
/// With `keepalive` the browser finishes the request even if the page goes away.
pub async fn send(request: &HttpRequest, keepalive: bool) -> Answer {
    match try_send(request, keepalive).await {
        Ok(answer) => answer,
        Err(error) => Answer::NoAnswer {
            reason: reason(&error),
        },
    }
}

async fn try_send(request: &HttpRequest, keepalive: bool) -> Result<Answer, JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let headers = Headers::new()?;
    for (name, value) in &request.headers {
        headers.append(name, value)?;
    }
    let controller = AbortController::new()?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_mode(RequestMode::Cors);
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&request.body));
    init.set_signal(Some(&controller.signal()));
    if keepalive {
        // Not in web-sys's RequestInit: set on the plain init object.
        js_sys::Reflect::set(&init, &JsValue::from_str("keepalive"), &JsValue::TRUE)?;
    }
    // A redirect is never followed (it could carry the events to another server): the
    // answer is an opaque one of status 0, retried like a server error.
    js_sys::Reflect::set(&init, &JsValue::from_str("redirect"), &"manual".into())?;
    let req = Request::new_with_str_and_init(&request.url, &init)?;
    // Cancelled as it drops, once the answer (or the failure) is in.
    let _timeout = Timeout::new(REQUEST_TIMEOUT_MS, move || controller.abort());
    read(JsFuture::from(window.fetch_with_request(&req)).await).await
}

async fn read(fetched: Result<JsValue, JsValue>) -> Result<Answer, JsValue> {
    let response: Response = fetched?.dyn_into()?;
    let headers = response.headers();
    let retry_after = headers.get("Retry-After").ok().flatten();
    let request_id = headers.get("X-Request-Id").ok().flatten();
    let status = response.status();
    // The body only matters for errors, and only its start (see `readText`).
    let body = if (200..300).contains(&status) {
        String::new()
    } else {
        JsFuture::from(read_text(&response, MAX_ERROR_BODY_BYTES))
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    Ok(Answer::Http {
        status,
        retry_after,
        request_id,
        body,
    })
}
