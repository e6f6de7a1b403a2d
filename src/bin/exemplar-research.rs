//! The researcher's page (`research.html`): the participant's page plus the preview,
//! the simulated participant, "Check all", the data panel and the Markdown parser. The
//! participant's page sends `?mode=preview` and `?simulate=` links here.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    exemplar_client::app::start(Some(exemplar_client::app::research_tools()));
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("The exemplar app runs in the browser: build it with `trunk build --release`.");
}
