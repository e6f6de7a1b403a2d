//! The exemplar participant app (leptos, client-side rendering). Built for wasm32 by
//! Trunk; natively this binary only says so, so `cargo test --workspace` can build it.

#[cfg(target_arch = "wasm32")]
mod app;

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    app::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("The exemplar app runs in the browser: build it with `trunk build --release`.");
}
