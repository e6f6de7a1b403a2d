//! The exemplar app's code (leptos, client-side rendering), built for wasm32 by Trunk
//! into two pages that share it: the participant's (`index.html`, binary `exemplar-app`)
//! and the researcher's (`research.html`, binary `exemplar-research`: preview,
//! simulation, "Check all", the data panel). Natively this library is empty, so
//! `cargo test --workspace` can build the package.

#[cfg(target_arch = "wasm32")]
pub mod app;
