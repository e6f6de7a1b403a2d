//! The participant's page (`index.html`): the session, and nothing a researcher's tool
//! needs (see `exemplar_client::app::Research`). Built for wasm32 by Trunk; natively this
//! binary only says so, so `cargo test --workspace` can build it.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    exemplar_client::app::start(None);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("The exemplar app runs in the browser: build it with `trunk build --release`.");
}
