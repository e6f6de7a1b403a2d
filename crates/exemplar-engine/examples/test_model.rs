//! Writes a small GoogLeNet-style ONNX model with seeded random weights (the torchvision
//! form the tests build, with BatchNormalization and ceil-mode pools), for the browser
//! tests and for trying the command line without downloading a model:
//!
//! ```sh
//! cargo run -p exemplar-engine --example test_model -- model.onnx
//! ```
//!
//! Prints the names of its inner tensors (stem, pool1, conv3, pool2, inception a,
//! inception b, pool3, inception c), one per line.

// common/mod.rs allows dead code itself (a second allow here is clippy's
// duplicated_attributes).
#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: test_model OUT.onnx");
        std::process::exit(2);
    };
    // Input [N, 3, 112, 112] (a symbolic batch axis): small enough that a browser's
    // software WebGPU computes a trial in seconds. Preprocess with resize 128, crop 112.
    let (model, names) = common::nets::googlenet(2024, false, None, 112);
    if let Err(e) = std::fs::write(&out, model.bytes()) {
        eprintln!("could not write {out}: {e}");
        std::process::exit(1);
    }
    for n in names {
        println!("{n}");
    }
}
