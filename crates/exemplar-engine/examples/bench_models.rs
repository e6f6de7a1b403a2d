//! Writes the truncated ONNX models of the in-browser engine benchmark
//! (`tests/e2e/bench_engine.mjs`), each with its target tensor as the graph output, so
//! that another runtime (onnxruntime-web) computes exactly the tensor our engine does:
//!
//! ```sh
//! cargo run -p exemplar-engine --example bench_models -- OUT_DIR
//! ```
//!
//! - `googlenet112_inception_a.onnx`: the `test_model` example's GoogLeNet (torchvision
//!   form, seed 2024), input `[N, 3, 112, 112]`, up to inception a (`concat31`).
//! - `resnet224_block3.onnx`: the ResNet-style bottleneck stack of the tests (seed 2024),
//!   input `[N, 3, 224, 224]`, up to the third of its four blocks (28x28).
//!
//! Nodes and weights the target does not need are left out of the file (our engine prunes
//! them itself; the other runtime then has no more to do than ours). Prints a JSON array
//! describing the files (file, target, input size, channels).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashSet;

use exemplar_engine::onnx::ModelProto;
use prost::Message;

/// The model whose only output is `target`, without what `target` does not depend on.
fn truncated(builder: &common::ModelBuilder, target: &str) -> Vec<u8> {
    let mut m = ModelProto::decode(builder.bytes_with_outputs(&[target]).as_slice())
        .expect("the builder writes valid protobuf");
    let g = m.graph.as_mut().expect("the builder writes a graph");
    let mut needed: HashSet<String> = HashSet::from([target.to_string()]);
    let mut keep = vec![false; g.node.len()];
    for (i, node) in g.node.iter().enumerate().rev() {
        if node.output.iter().any(|o| needed.contains(o)) {
            keep[i] = true;
            needed.extend(node.input.iter().cloned());
        }
    }
    let mut k = keep.iter();
    g.node.retain(|_| *k.next().unwrap());
    g.initializer.retain(|t| needed.contains(&t.name));
    m.encode_to_vec()
}

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: bench_models OUT_DIR");
        std::process::exit(2);
    };
    let out = std::path::Path::new(&out);
    let (googlenet, g) = common::nets::googlenet(2024, false, None, 112);
    let (resnet, r) = common::nets::resnet(2024, 224);
    // (file, builder, target, label, input size, channels of the target)
    let models = [
        (
            "googlenet112_inception_a.onnx",
            &googlenet,
            &g[4],
            "GoogLeNet-style, inception a",
            112,
            16 + 32 + 8 + 8,
        ),
        (
            "resnet224_block3.onnx",
            &resnet,
            &r[3],
            "ResNet-style, block 3 of 4",
            224,
            16 * 4,
        ),
    ];
    let mut described = Vec::new();
    for (file, builder, target, label, size, channels) in models {
        let path = out.join(file);
        if let Err(e) = std::fs::write(&path, truncated(builder, target)) {
            eprintln!("could not write {}: {e}", path.display());
            std::process::exit(1);
        }
        described.push(format!(
            "{{\"file\":\"{file}\",\"target\":\"{target}\",\"label\":\"{label}\",\"input\":{size},\"channels\":{channels}}}"
        ));
    }
    println!("[{}]", described.join(","));
}
