//! ONNX import: turns the decoded protos (`crate::onnx`) into the engine's [`Graph`].
//!
//! [`Graph::load`] checks the stored tensors against the limits, walks back from the
//! target to prune what it does not need, folds constants (`fold.rs`), gives each Split
//! output a node of its own (`convert.rs`: each node to an [`Op`]) and keeps the
//! nodes that depend on the input's shape as [`Op::Pending`]; [`Graph::resolve`] converts
//! those for one concrete input shape.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::convert::{constant_value, convert, node_label, split_part, unsupported};
use super::{at_label, at_node, fold, out_shape, output_label, Graph, Node, Op};
use crate::onnx::{GraphProto, ModelProto, NodeProto, TensorProto};
use crate::{EngineError, LoadOptions, Result, Tensor};

/// The nodes that depend on the input's shape, as in the file, with the constants they
/// read.
#[derive(Debug)]
pub(super) struct Pending {
    opset: i64,
    /// (index in the file, node), in order.
    protos: Vec<(usize, NodeProto)>,
    consts: HashMap<String, TensorProto>,
}

pub(super) struct Loader<'a> {
    /// The model's version of the default operator set (some operators changed meaning).
    pub(super) opset: i64,
    /// Caps on what folding may allocate.
    pub(super) limits: LoadOptions,
    /// Constants as in the file (initializers, Constant nodes) and as folded.
    pub(super) raw_consts: HashMap<String, Cow<'a, TensorProto>>,
    /// Constants as f32, for the backends.
    pub(super) consts: HashMap<String, Tensor>,
}

impl Loader<'_> {
    pub(super) fn f32(&mut self, name: &str) -> Option<Result<Tensor>> {
        if let Some(t) = self.consts.get(name) {
            return Some(Ok(t.clone()));
        }
        let raw = self.raw_consts.get(name)?;
        Some(raw.to_f32().inspect(|t| {
            self.consts.insert(name.to_string(), t.clone());
        }))
    }
    pub(super) fn is_const(&self, name: &str) -> bool {
        self.consts.contains_key(name) || self.raw_consts.contains_key(name)
    }
}

fn graph_input_shape(
    g: &GraphProto,
    name: &str,
    limits: &LoadOptions,
) -> Result<Vec<Option<usize>>> {
    let decl: Vec<Option<usize>> = g
        .input
        .iter()
        .find(|v| v.name == name)
        .and_then(|v| v.r#type.as_ref())
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| {
            s.dim
                .iter()
                .map(|d| {
                    if d.dim_param.is_empty() && d.dim_value < 0 {
                        Err(EngineError::Model(format!(
                            "input '{name}' declares a negative dimension {}",
                            d.dim_value
                        )))
                    } else if d.dim_param.is_empty() && d.dim_value > 0 {
                        usize::try_from(d.dim_value).map(Some).map_err(|_| {
                            EngineError::Limit(format!(
                                "input '{name}' declares dimension {}",
                                d.dim_value
                            ))
                        })
                    } else {
                        Ok(None)
                    }
                })
                .collect::<Result<_>>()
        })
        .transpose()?
        .unwrap_or_default();
    let fixed: Vec<usize> = decl.iter().map(|d| d.unwrap_or(1)).collect();
    limits.elements(&fixed, || format!("input '{name}'"))?;
    Ok(decl)
}

/// Every tensor stored in the file (initializers, Constant nodes' values, also inside
/// If's branches): dims that are not negative, fit the per-tensor cap, and all of them
/// together the byte cap. Only dims are read; nothing is allocated.
fn check_stored_tensors(g: &GraphProto, limits: &LoadOptions) -> Result<()> {
    let mut total: u64 = 0;
    stored_tensors(g, limits, &mut total)?;
    limits.total(total, || "the model's stored tensors".to_string())
}

fn stored_tensors(g: &GraphProto, limits: &LoadOptions, total: &mut u64) -> Result<()> {
    let initializers = g
        .initializer
        .iter()
        .map(|t| (format!("tensor '{}'", t.name), t));
    let attrs = g.node.iter().enumerate().flat_map(|(i, n)| {
        n.attribute.iter().filter_map(move |a| {
            let what = format!(
                "the tensor of attribute '{}' of node '{}' ({})",
                a.name,
                node_label(n, i),
                n.op_type
            );
            a.t.as_ref().map(|t| (what, t))
        })
    });
    for (label, t) in initializers.chain(attrs) {
        let what = || label.clone();
        crate::limits::checked_product(&t.dims, what)?;
        let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        let n = limits.elements(&shape, what)? as u64;
        *total = total.saturating_add(n.saturating_mul(4));
    }
    for sub in g
        .node
        .iter()
        .flat_map(|n| &n.attribute)
        .filter_map(|a| a.g.as_deref())
    {
        stored_tensors(sub, limits, total)?;
    }
    Ok(())
}

/// The tensors of the enclosing graph that `n`'s subgraphs (If's branches) read: inputs
/// of their nodes, and outputs, that no node of the subgraph computes.
pub(super) fn outer_reads(n: &NodeProto) -> Vec<&str> {
    let mut reads = Vec::new();
    for g in n.attribute.iter().filter_map(|a| a.g.as_deref()) {
        let inner: HashSet<&str> = g
            .node
            .iter()
            .flat_map(|m| m.output.iter().map(|s| s.as_str()))
            .chain(g.initializer.iter().map(|t| t.name.as_str()))
            .collect();
        let nested = g.node.iter().flat_map(|m| {
            m.input
                .iter()
                .map(|s| s.as_str())
                .chain(outer_reads(m))
                .collect::<Vec<_>>()
        });
        reads.extend(
            nested
                .chain(g.output.iter().map(|v| v.name.as_str()))
                .filter(|s| !s.is_empty() && !inner.contains(s)),
        );
    }
    reads
}

impl Graph {
    /// Loads the part of `model` that `targets` need (one pass computes them all).
    pub fn load(model: &ModelProto, targets: &[&str], limits: &LoadOptions) -> Result<Graph> {
        if targets.is_empty() {
            return Err(EngineError::Input("no target tensor named".into()));
        }
        if let Some(twice) = targets
            .iter()
            .enumerate()
            .find_map(|(i, t)| targets[..i].contains(t).then_some(t))
        {
            return Err(EngineError::Input(format!(
                "target tensor '{twice}' is named twice"
            )));
        }
        let g = model
            .graph
            .as_ref()
            .ok_or_else(|| EngineError::Model("the file holds no graph".into()))?;
        check_stored_tensors(g, limits)?;
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(13, |o| o.version);
        let mut loader = Loader {
            opset,
            limits: *limits,
            raw_consts: HashMap::new(),
            consts: HashMap::new(),
        };
        for t in &g.initializer {
            loader.raw_consts.insert(t.name.clone(), Cow::Borrowed(t));
        }
        let mut producer: HashMap<&str, usize> = HashMap::new();
        for (i, n) in g.node.iter().enumerate() {
            if let Some((out, t)) = constant_value(n, i)? {
                loader.raw_consts.insert(out.to_string(), t);
                continue;
            }
            for o in &n.output {
                producer.insert(o.as_str(), i);
            }
        }
        let graph_inputs: HashSet<&str> = g
            .input
            .iter()
            .map(|v| v.name.as_str())
            .filter(|n| !loader.is_const(n))
            .collect();

        if let Some(target) = targets
            .iter()
            .find(|t| !producer.contains_key(**t) && !graph_inputs.contains(**t))
        {
            let target = *target;
            let mut names: Vec<&str> = g
                .node
                .iter()
                .flat_map(|n| n.output.iter().map(|s| s.as_str()))
                .collect();
            let hint = if loader.is_const(target) {
                " (it is a constant, not a layer's output)".to_string()
            } else if names.is_empty() {
                String::new()
            } else {
                let len = names.len();
                names.truncate(12);
                format!(
                    "; it has {len} node outputs, for example: {}",
                    names.join(", ")
                )
            };
            return Err(EngineError::UnknownTensor {
                name: target.to_string(),
                hint,
            });
        }

        // Walk back from the targets: which nodes and inputs do they need?
        let label = targets.join("', '");
        let mut needed = vec![false; g.node.len()];
        let mut inputs_needed: Vec<&str> = Vec::new();
        let mut stack = targets.to_vec();
        let mut seen: HashSet<&str> = HashSet::new();
        while let Some(t) = stack.pop() {
            if t.is_empty() || !seen.insert(t) || loader.is_const(t) {
                continue;
            }
            if let Some(&i) = producer.get(t) {
                needed[i] = true;
                stack.extend(g.node[i].input.iter().map(|s| s.as_str()));
                stack.extend(outer_reads(&g.node[i]));
            } else if graph_inputs.contains(t) {
                inputs_needed.push(t);
            } else {
                return Err(EngineError::Model(format!(
                    "tensor '{t}' is read but no node, input or initializer provides it"
                )));
            }
        }
        let input = match inputs_needed.as_slice() {
            [one] => one.to_string(),
            [] => return Err(EngineError::Model(format!("tensor '{label}' does not depend on any graph input"))),
            many => {
                return Err(EngineError::Model(format!(
                    "tensor '{label}' depends on {} graph inputs ({}); the engine feeds exactly one (the images)",
                    many.len(),
                    many.join(", ")
                )))
            }
        };

        // Convert the needed nodes, in file order (ONNX requires topological order),
        // folding constants on the way. A single pass reaches the fixed point: a node's
        // inputs are all final before it is visited.
        let mut nodes = Vec::new();
        let mut used: HashSet<&str> = targets.iter().copied().collect();
        for (i, n) in g.node.iter().enumerate() {
            if needed[i] {
                used.extend(n.input.iter().map(|s| s.as_str()));
                used.extend(outer_reads(n));
            }
        }
        // Values computed from the input's shape (not its data): folded per input shape.
        let mut shape_dependent: HashSet<String> = HashSet::new();
        let mut pending = Pending {
            opset,
            protos: Vec::new(),
            consts: HashMap::new(),
        };
        for (i, n) in g.node.iter().enumerate() {
            if !needed[i] {
                continue;
            }
            let ins: Vec<&str> = n
                .input
                .iter()
                .map(|s| s.as_str())
                .filter(|s| !s.is_empty())
                .collect();
            if n.op_type == "Split" && (n.domain.is_empty() || n.domain == "ai.onnx") {
                if ins.iter().any(|s| shape_dependent.contains(*s)) {
                    return Err(unsupported(
                        n,
                        i,
                        "a Split of a value computed from the input's shape",
                    ));
                }
                // One node per output that is read: each is a slice of the input.
                for (k, out) in n.output.iter().enumerate() {
                    if !out.is_empty() && used.contains(out.as_str()) {
                        nodes.push(split_part(n, i, k, &mut loader)?);
                    }
                }
                continue;
            }
            if let Some(extra) = n.output.iter().skip(1).find(|o| used.contains(o.as_str())) {
                return Err(unsupported(
                    n,
                    i,
                    &format!("its extra output '{extra}' is used"),
                ));
            }
            let is_const = |l: &Loader, s: &str| l.is_const(s);
            let depends_on_shape = ins.iter().any(|s| shape_dependent.contains(*s));
            let known = |l: &Loader, s: &str| is_const(l, s) || shape_dependent.contains(s);
            if fold::is_foldable(n) {
                let shape_only = fold::reads_shape_only(n);
                if (shape_only && ins.first().is_some_and(|s| is_const(&loader, s)))
                    || (!shape_only && ins.iter().all(|s| is_const(&loader, s)))
                {
                    let value = fold::fold(n, i, &mut loader, &|_| None)
                        .map_err(|e| at_label(&node_label(n, i), &n.op_type, e))?;
                    let out = node_output(n)?;
                    loader
                        .raw_consts
                        .insert(out.to_string(), Cow::Owned(value.to_proto(out)));
                    continue;
                }
                if shape_only || ins.iter().all(|s| known(&loader, s)) {
                    shape_dependent.insert(node_output(n)?.to_string());
                    nodes.push(pending_node(n, i, &mut pending, &loader, true)?);
                    continue;
                }
            }
            if depends_on_shape {
                // Converted for each input shape; its operator must be one the engine runs.
                let mut probe = Loader {
                    opset,
                    limits: *limits,
                    raw_consts: HashMap::new(),
                    consts: HashMap::new(),
                };
                if let Err(e @ EngineError::UnsupportedOp { .. }) = convert(n, i, &mut probe) {
                    if !e.to_string().contains("must be a constant") {
                        return Err(e);
                    }
                }
                nodes.push(pending_node(n, i, &mut pending, &loader, false)?);
                continue;
            }
            nodes.push(convert(n, i, &mut loader)?);
        }
        if let Some(target) = targets
            .iter()
            .find(|t| loader.is_const(t) || shape_dependent.contains(**t))
        {
            return Err(EngineError::Model(format!(
                "tensor '{target}' is computed from constants or from the input's shape only, not from the image"
            )));
        }
        let mut graph = Graph {
            input_decl: graph_input_shape(g, &input, limits)?,
            input,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            nodes,
            consts: Arc::default(),
            shape_consts: HashMap::new(),
            pending: None,
            limits: *limits,
            cpu_packs: Arc::default(),
        };
        graph.fold_batch_norm(&mut loader.consts)?;
        // Keep only the constants the remaining nodes read.
        let mut consts = HashMap::new();
        for n in &graph.nodes {
            if matches!(n.op, Op::Pending { .. }) {
                continue;
            }
            for i in &n.inputs {
                if let Some(t) = loader.consts.remove(i) {
                    consts.insert(i.clone(), t);
                }
            }
        }
        graph.consts = Arc::new(consts);
        if !pending.protos.is_empty() {
            graph.pending = Some(Arc::new(pending));
            // Refuse at load what the first run would refuse: resolve for the declared
            // shape (a symbolic batch axis as 1).
            let decl = &graph.input_decl;
            if !decl.is_empty() && decl.iter().skip(1).all(|d| d.is_some()) {
                let probe: Vec<usize> = decl
                    .iter()
                    .enumerate()
                    .map(|(k, d)| d.unwrap_or(if k == 0 { 1 } else { 0 }))
                    .collect();
                graph.resolve(&probe)?;
            }
        }
        Ok(graph)
    }

    /// The graph for one input shape: every [`Op::Pending`] node folded into a constant
    /// or converted with the constants its shape computation gives (borrowed when
    /// nothing depends on the input's shape).
    pub fn resolve(&self, input: &[usize]) -> Result<Cow<'_, Graph>> {
        let Some(p) = &self.pending else {
            return Ok(Cow::Borrowed(self));
        };
        let mut loader = Loader {
            opset: p.opset,
            limits: self.limits,
            raw_consts: p
                .consts
                .iter()
                .map(|(k, t)| (k.clone(), Cow::Borrowed(t)))
                .collect(),
            consts: HashMap::new(),
        };
        let mut shapes: HashMap<String, Vec<usize>> = HashMap::new();
        shapes.insert(self.input.clone(), input.to_vec());
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            let node = match n.op {
                Op::Pending { index, fold } => {
                    let (i, proto) = &p.protos[index];
                    if fold {
                        let value = fold::fold(proto, *i, &mut loader, &|s| shapes.get(s).cloned())
                            .map_err(|e| at_node(n, e))?;
                        loader
                            .raw_consts
                            .insert(n.output.clone(), Cow::Owned(value.to_proto(&n.output)));
                        continue;
                    }
                    convert(proto, *i, &mut loader)?
                }
                _ => n.clone(),
            };
            let ins: Vec<Vec<usize>> = node
                .inputs
                .iter()
                .map(|i| {
                    shapes
                        .get(i)
                        .or_else(|| self.consts.get(i).map(|t| &t.shape))
                        .or_else(|| loader.consts.get(i).map(|t| &t.shape))
                        .cloned()
                        .ok_or_else(|| EngineError::Model(format!("tensor '{i}' has no shape")))
                })
                .collect::<Result<_>>()?;
            let refs: Vec<&[usize]> = ins.iter().map(|s| s.as_slice()).collect();
            let out = out_shape(&node, &refs).map_err(|e| at_node(&node, e))?;
            self.limits.elements(&out, || output_label(&node))?;
            shapes.insert(node.output.clone(), out);
            nodes.push(node);
        }
        let mut shape_consts = HashMap::new();
        for n in &nodes {
            for i in &n.inputs {
                if !self.consts.contains_key(i) {
                    if let Some(t) = loader.consts.remove(i) {
                        shape_consts.insert(i.clone(), t);
                    }
                }
            }
        }
        Ok(Cow::Owned(Graph {
            input: self.input.clone(),
            input_decl: self.input_decl.clone(),
            targets: self.targets.clone(),
            nodes,
            consts: self.consts.clone(),
            shape_consts,
            pending: None,
            limits: self.limits,
            cpu_packs: self.cpu_packs.clone(),
        }))
    }
}

fn node_output(n: &NodeProto) -> Result<&str> {
    n.output
        .first()
        .map(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| EngineError::Model(format!("node '{}' has no output", n.name)))
}

/// A placeholder for a node that depends on the input's shape; keeps the node and the
/// constants it reads for [`Graph::resolve`].
fn pending_node(
    n: &NodeProto,
    idx: usize,
    pending: &mut Pending,
    l: &Loader,
    fold: bool,
) -> Result<Node> {
    for i in n.input.iter().map(|s| s.as_str()).chain(outer_reads(n)) {
        if let Some(t) = l.raw_consts.get(i) {
            pending
                .consts
                .entry(i.to_string())
                .or_insert_with(|| t.as_ref().clone());
        } else if let Some(t) = l.consts.get(i) {
            pending
                .consts
                .entry(i.to_string())
                .or_insert_with(|| TensorProto::from_f32(i, &t.shape, &t.data));
        }
    }
    pending.protos.push((idx, n.clone()));
    Ok(Node {
        name: node_label(n, idx),
        op_type: n.op_type.clone(),
        op: Op::Pending {
            index: pending.protos.len() - 1,
            fold,
        },
        inputs: n.input.iter().filter(|s| !s.is_empty()).cloned().collect(),
        output: node_output(n)?.to_string(),
    })
}
