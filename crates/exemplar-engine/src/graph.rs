//! The engine's own graph: ONNX nodes the targets need, in order, with parsed attributes
//! and constant tensors, shared by the CPU and GPU backends; and the passes over it
//! (BatchNormalization folded into the Conv before it, the shape and byte count of every
//! tensor for an input shape).
//!
//! The rooms: `op.rs` holds the operators ([`Op`], [`Node`], window geometry),
//! `import.rs` turns the ONNX protos into a [`Graph`] (pruning to the target, Split
//! outputs as nodes of their own), `fold.rs` evaluates constant subgraphs, `shape.rs`
//! infers output shapes.
//!
//! Loading folds constants (`fold.rs`): every node whose inputs are all known constants
//! is evaluated once and replaced by its value, so the shape arithmetic of exporters
//! (`Shape → Gather → Unsqueeze → Concat → Reshape`, `ConstantOfShape`, `Cast`, `Range`,
//! `Equal`/`Where`, …) never reaches a backend. A `Shape` of a tensor computed from the
//! input depends on the input's shape, whose batch axis is usually symbolic: such nodes,
//! and the nodes that read what they compute, stay [`Op::Pending`] and are folded for
//! each concrete input shape by [`Graph::resolve`] (the GPU caches one plan per shape).

mod convert;
mod fold;
mod import;
mod op;
mod shape;

pub(crate) use op::*;
pub(crate) use shape::*;

pub use convert::COMPUTED;
pub use fold::FOLDABLE;
pub(crate) use fold::{pad_copy, strided, where_copy};

use std::collections::HashMap;
use std::sync::Arc;

use crate::{EngineError, LoadOptions, Result, Tensor};

/// The graph pruned to what the target needs, with constants and BatchNormalization
/// folded.
#[derive(Clone, Debug)]
pub(crate) struct Graph {
    pub input: String,
    /// The input's declared shape; `None` for symbolic axes.
    pub input_decl: Vec<Option<usize>>,
    /// The tensors a run returns (at least one, all distinct).
    pub targets: Vec<String>,
    pub nodes: Vec<Node>,
    /// Constants that do not depend on the input's shape (the weights): uploaded once.
    pub consts: Arc<HashMap<String, Tensor>>,
    /// Constants folded for one input shape (only in a graph [`Graph::resolve`] made).
    pub shape_consts: HashMap<String, Tensor>,
    /// What [`Graph::resolve`] needs when some nodes are [`Op::Pending`].
    pending: Option<Arc<import::Pending>>,
    /// The caps on tensor sizes the graph was loaded under, also held at every run.
    pub limits: LoadOptions,
    /// The CPU's packed convolution weights (shared with the graphs resolved from it).
    pub cpu_packs: Arc<crate::cpu::Packs>,
}

impl Graph {
    /// A constant the nodes read (a weight, or one folded for this input shape).
    pub fn constant(&self, name: &str) -> Option<&Tensor> {
        self.consts
            .get(name)
            .or_else(|| self.shape_consts.get(name))
    }

    /// Folds each BatchNormalization that directly follows a Conv (whose output nothing
    /// else reads) into the Conv's weights and bias.
    fn fold_batch_norm(&mut self, consts: &mut HashMap<String, Tensor>) -> Result<()> {
        let mut readers: HashMap<String, usize> = HashMap::new();
        for n in &self.nodes {
            for i in &n.inputs {
                *readers.entry(i.clone()).or_default() += 1;
            }
        }
        let mut remove = vec![false; self.nodes.len()];
        for b in 0..self.nodes.len() {
            if !matches!(self.nodes[b].op, Op::BatchNorm) {
                continue;
            }
            let x = self.nodes[b].inputs[0].clone();
            let Some(c) = self.nodes[..b]
                .iter()
                .position(|n| n.output == x && matches!(n.op, Op::Conv { .. }))
            else {
                continue;
            };
            if readers.get(&x) != Some(&1) || self.targets.contains(&x) {
                continue;
            }
            let (scale, shift) = (
                &consts[&self.nodes[b].inputs[1]],
                &consts[&self.nodes[b].inputs[2]],
            );
            let (wn, bn) = (&self.nodes[c].inputs[1], &self.nodes[c].inputs[2]);
            let (Some(w), Some(bias)) = (consts.get(wn), consts.get(bn)) else {
                continue;
            };
            let m = w.shape[0];
            if scale.len() != m {
                return Err(EngineError::Model(format!(
                    "node '{}' normalises {} channels but the convolution before it has {m}",
                    self.nodes[b].name,
                    scale.len()
                )));
            }
            let per = w.len() / m.max(1);
            let mut w2 = w.clone();
            for (o, chunk) in w2.data.chunks_mut(per.max(1)).enumerate() {
                chunk.iter_mut().for_each(|v| *v *= scale.data[o]);
            }
            let b2 = Tensor {
                shape: vec![m],
                data: (0..m)
                    .map(|o| bias.data[o] * scale.data[o] + shift.data[o])
                    .collect(),
            };
            let out = self.nodes[b].output.clone();
            let (wname, bname) = (
                format!("{out}::folded_weights"),
                format!("{out}::folded_bias"),
            );
            consts.insert(wname.clone(), w2);
            consts.insert(bname.clone(), b2);
            let conv = &mut self.nodes[c];
            conv.inputs[1] = wname;
            conv.inputs[2] = bname;
            conv.output = out;
            remove[b] = true;
        }
        let mut i = 0;
        self.nodes.retain(|_| {
            i += 1;
            !remove[i - 1]
        });
        Ok(())
    }

    /// The shape of every tensor for a given input shape; each within
    /// [`LoadOptions::max_tensor_elements`], all together within
    /// [`LoadOptions::max_total_bytes`].
    pub fn shapes(&self, input: &[usize]) -> Result<HashMap<String, Vec<usize>>> {
        Ok(self.shapes_and_bytes(input)?.0)
    }

    /// The bytes of every tensor of a run on an input of this shape, as if none were
    /// freed (checked against the limits as [`Graph::shapes`] does).
    pub fn run_bytes(&self, input: &[usize]) -> Result<u64> {
        Ok(self.shapes_and_bytes(input)?.1)
    }

    fn shapes_and_bytes(&self, input: &[usize]) -> Result<(HashMap<String, Vec<usize>>, u64)> {
        let limits = self.limits;
        let mut total = limits.elements(input, || format!("input '{}'", self.input))? as u64 * 4;
        let graph = self.resolve(input)?;
        let mut shapes: HashMap<String, Vec<usize>> = HashMap::new();
        shapes.insert(graph.input.clone(), input.to_vec());
        for (k, t) in graph.consts.iter().chain(&graph.shape_consts) {
            shapes.insert(k.clone(), t.shape.clone());
            total = total.saturating_add(t.data.len() as u64 * 4);
        }
        for n in &graph.nodes {
            let ins: Vec<&[usize]> = n
                .inputs
                .iter()
                .map(|i| {
                    shapes
                        .get(i)
                        .map(|s| s.as_slice())
                        .ok_or_else(|| EngineError::Model(format!("tensor '{i}' has no shape")))
                })
                .collect::<Result<_>>()?;
            let out = out_shape(n, &ins).map_err(|e| at_node(n, e))?;
            let count = limits.elements(&out, || output_label(n))?;
            total = total.saturating_add(count as u64 * 4);
            shapes.insert(n.output.clone(), out);
        }
        limits.total(total, || {
            format!("the tensors of a run on an input of shape {input:?}")
        })?;
        Ok((shapes, total))
    }
}

/// "tensor 'y' (output of node 'n', Expand)", for limit errors.
fn output_label(n: &Node) -> String {
    format!(
        "tensor '{}' (output of node '{}', {})",
        n.output, n.name, n.op_type
    )
}

/// Names the node in an input error.
fn at_node(n: &Node, e: EngineError) -> EngineError {
    at_label(&n.name, &n.op_type, e)
}

fn at_label(name: &str, op_type: &str, e: EngineError) -> EngineError {
    match e {
        EngineError::Input(m) => EngineError::Input(format!("at node '{name}' ({op_type}): {m}")),
        EngineError::Limit(m) if !m.contains("node '") => {
            EngineError::Limit(format!("at node '{name}' ({op_type}): {m}"))
        }
        e => e,
    }
}
