//! ONNX import: turns the decoded protos (`crate::onnx`) into the engine's [`Graph`].
//!
//! [`Graph::load`] checks the stored tensors against the limits, walks back from the
//! target to prune what it does not need, folds constants (`fold.rs`), gives each Split
//! output a node of its own, parses each node's attributes into an [`Op`] and keeps the
//! nodes that depend on the input's shape as [`Op::Pending`]; [`Graph::resolve`] converts
//! those for one concrete input shape.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{
    at_label, at_node, fold, out_shape, output_label, AutoPad, Graph, Node, Op, PadMode, Window,
};
use crate::onnx::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
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

pub(super) fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}
pub(super) fn attr_i(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}
fn attr_f(n: &NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).map_or(default, |a| a.f)
}
fn attr_ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}
fn attr_s(n: &NodeProto, name: &str) -> Option<String> {
    attr(n, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

pub(super) fn node_label(n: &NodeProto, idx: usize) -> String {
    if n.name.is_empty() {
        format!(
            "#{idx} (output '{}')",
            n.output.first().map_or("", |s| s.as_str())
        )
    } else {
        n.name.clone()
    }
}

pub(super) struct Loader<'a> {
    /// The model's version of the default operator set (some operators changed meaning).
    opset: i64,
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

pub(super) fn unsupported(n: &NodeProto, idx: usize, detail: &str) -> EngineError {
    EngineError::UnsupportedOp {
        node: node_label(n, idx),
        op_type: n.op_type.clone(),
        detail: if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        },
    }
}

fn usize2(
    v: Option<Vec<i64>>,
    default: usize,
    n: &NodeProto,
    idx: usize,
    what: &str,
) -> Result<[usize; 2]> {
    match v {
        None => Ok([default, default]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 1) => Ok([v[0] as usize, v[1] as usize]),
        Some(v) => Err(unsupported(
            n,
            idx,
            &format!("{what} {v:?} (only 2-D windows are supported)"),
        )),
    }
}

fn window(n: &NodeProto, idx: usize, needs_kernel: bool) -> Result<Window> {
    let kernel = match attr_ints(n, "kernel_shape") {
        None if needs_kernel => return Err(unsupported(n, idx, "kernel_shape is missing")),
        None => None,
        k => Some(usize2(k, 1, n, idx, "kernel_shape")?),
    };
    let pads = match attr_ints(n, "pads") {
        None => [0; 4],
        Some(p) if p.len() == 4 && p.iter().all(|&x| x >= 0) => {
            [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]
        }
        Some(p) => {
            return Err(unsupported(
                n,
                idx,
                &format!("pads {p:?} (only 2-D windows are supported)"),
            ))
        }
    };
    let auto_pad = match attr_s(n, "auto_pad").as_deref() {
        None | Some("NOTSET") | Some("") => AutoPad::NotSet,
        Some("SAME_UPPER") => AutoPad::SameUpper,
        Some("SAME_LOWER") => AutoPad::SameLower,
        Some("VALID") => AutoPad::Valid,
        Some(other) => return Err(unsupported(n, idx, &format!("auto_pad {other}"))),
    };
    Ok(Window {
        kernel,
        strides: usize2(attr_ints(n, "strides"), 1, n, idx, "strides")?,
        dilations: usize2(attr_ints(n, "dilations"), 1, n, idx, "dilations")?,
        pads,
        auto_pad,
        ceil_mode: attr_i(n, "ceil_mode", 0) != 0,
    })
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

/// Every tensor stored in the file (initializers, Constant nodes' values): dims that are
/// not negative, fit the per-tensor cap, and all of them together the byte cap. Only dims
/// are read; nothing is allocated.
fn check_stored_tensors(g: &GraphProto, limits: &LoadOptions) -> Result<()> {
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
    let mut total: u64 = 0;
    for (label, t) in initializers.chain(attrs) {
        let what = || label.clone();
        crate::limits::checked_product(&t.dims, what)?;
        let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        let n = limits.elements(&shape, what)? as u64;
        total = total.saturating_add(n.saturating_mul(4));
    }
    limits.total(total, || "the model's stored tensors".to_string())
}

impl Graph {
    /// Loads the part of `model` that `target` needs.
    pub fn load(model: &ModelProto, target: &str, limits: &LoadOptions) -> Result<Graph> {
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
            if n.op_type == "Constant" && n.domain.is_empty() {
                let Some(out) = n.output.first() else {
                    continue;
                };
                let t = if let Some(t) = attr(n, "value").and_then(|a| a.t.as_ref()) {
                    Cow::Borrowed(t)
                } else if let Some(a) = attr(n, "value_float") {
                    Cow::Owned(TensorProto::from_f32(out, &[], &[a.f]))
                } else if let Some(a) = attr(n, "value_floats") {
                    Cow::Owned(TensorProto::from_f32(out, &[a.floats.len()], &a.floats))
                } else if let Some(a) = attr(n, "value_int") {
                    Cow::Owned(TensorProto::from_i64(out, &[], &[a.i]))
                } else if let Some(a) = attr(n, "value_ints") {
                    Cow::Owned(TensorProto::from_i64(out, &[a.ints.len()], &a.ints))
                } else {
                    return Err(unsupported(
                        n,
                        i,
                        "only numeric constants (`value`, `value_float(s)`, `value_int(s)`) are supported",
                    ));
                };
                loader.raw_consts.insert(out.clone(), t);
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

        if !producer.contains_key(target) && !graph_inputs.contains(target) {
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

        // Walk back from the target: which nodes and inputs does it need?
        let mut needed = vec![false; g.node.len()];
        let mut inputs_needed: Vec<&str> = Vec::new();
        let mut stack = vec![target];
        let mut seen: HashSet<&str> = HashSet::new();
        while let Some(t) = stack.pop() {
            if t.is_empty() || !seen.insert(t) || loader.is_const(t) {
                continue;
            }
            if let Some(&i) = producer.get(t) {
                needed[i] = true;
                stack.extend(g.node[i].input.iter().map(|s| s.as_str()));
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
            [] => return Err(EngineError::Model(format!("tensor '{target}' does not depend on any graph input"))),
            many => {
                return Err(EngineError::Model(format!(
                    "tensor '{target}' depends on {} graph inputs ({}); the engine feeds exactly one (the images)",
                    many.len(),
                    many.join(", ")
                )))
            }
        };

        // Convert the needed nodes, in file order (ONNX requires topological order),
        // folding constants on the way. A single pass reaches the fixed point: a node's
        // inputs are all final before it is visited.
        let mut nodes = Vec::new();
        let mut used: HashSet<&str> = HashSet::from([target]);
        for (i, n) in g.node.iter().enumerate() {
            if needed[i] {
                used.extend(n.input.iter().map(|s| s.as_str()));
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
        if loader.is_const(target) || shape_dependent.contains(target) {
            return Err(EngineError::Model(format!(
                "tensor '{target}' is computed from constants or from the input's shape only, not from the image"
            )));
        }
        let mut graph = Graph {
            input_decl: graph_input_shape(g, &input, limits)?,
            input,
            target: target.to_string(),
            nodes,
            consts: Arc::default(),
            shape_consts: HashMap::new(),
            pending: None,
            limits: *limits,
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
            target: self.target.clone(),
            nodes,
            consts: self.consts.clone(),
            shape_consts,
            pending: None,
            limits: self.limits,
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
    for i in &n.input {
        if let Some(t) = l.raw_consts.get(i) {
            pending
                .consts
                .entry(i.clone())
                .or_insert_with(|| t.as_ref().clone());
        } else if let Some(t) = l.consts.get(i) {
            pending
                .consts
                .entry(i.clone())
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

/// The integers of a constant input (axes, shapes).
fn const_ints(l: &Loader, n: &NodeProto, idx: usize, input: &str, what: &str) -> Result<Vec<i64>> {
    l.raw_consts
        .get(input)
        .ok_or_else(|| unsupported(n, idx, &format!("its {what} '{input}' must be a constant")))?
        .to_i64()
}

/// Output `k` of a Split node as a node of its own (the engine's nodes have one output):
/// a slice of the input, along `axis`.
fn split_part(n: &NodeProto, idx: usize, k: usize, l: &mut Loader) -> Result<Node> {
    let parts = n.output.len();
    let x =
        n.input.first().filter(|s| !s.is_empty()).ok_or_else(|| {
            EngineError::Model(format!("node '{}' has no input", node_label(n, idx)))
        })?;
    let split = if l.opset < 13 {
        attr_ints(n, "split")
    } else {
        match n.input.get(1).filter(|s| !s.is_empty()) {
            Some(s) => Some(const_ints(l, n, idx, s, "split")?),
            None => None,
        }
    };
    if let Some(num) = attr(n, "num_outputs") {
        if num.i != parts as i64 {
            return Err(EngineError::Model(format!(
                "node '{}': num_outputs {} but {parts} outputs",
                node_label(n, idx),
                num.i
            )));
        }
    }
    if split.as_ref().is_some_and(|s| s.len() != parts) {
        return Err(EngineError::Model(format!(
            "node '{}': {} split sizes for {parts} outputs",
            node_label(n, idx),
            split.as_ref().map_or(0, |s| s.len())
        )));
    }
    Ok(Node {
        name: node_label(n, idx),
        op_type: n.op_type.clone(),
        op: Op::SplitPart {
            axis: attr_i(n, "axis", 0),
            split,
            parts,
            index: k,
        },
        inputs: vec![x.clone()],
        output: n.output[k].clone(),
    })
}

pub(super) fn convert(n: &NodeProto, idx: usize, l: &mut Loader) -> Result<Node> {
    if !(n.domain.is_empty() || n.domain == "ai.onnx") {
        return Err(unsupported(
            n,
            idx,
            &format!("operators of domain '{}' are not supported", n.domain),
        ));
    }
    let name = node_label(n, idx);
    let output = n
        .output
        .first()
        .cloned()
        .ok_or_else(|| EngineError::Model(format!("node '{name}' has no output")))?;
    let mut inputs: Vec<String> = n.input.clone();
    let input_n = |k: usize| n.input.get(k).filter(|s| !s.is_empty());
    let need_inputs = |k: usize| -> Result<()> {
        if (0..k).all(|i| input_n(i).is_some()) {
            Ok(())
        } else {
            Err(EngineError::Model(format!(
                "node '{name}' ({}) needs {k} inputs",
                n.op_type
            )))
        }
    };
    let const_of = |l: &mut Loader, k: usize, what: &str| -> Result<Tensor> {
        let i = &n.input[k];
        l.f32(i).unwrap_or_else(|| {
            Err(unsupported(
                n,
                idx,
                &format!("its {what} '{i}' must be a constant initializer"),
            ))
        })
    };
    let op = match n.op_type.as_str() {
        "Conv" => {
            need_inputs(2)?;
            let w = const_of(l, 1, "weights")?;
            if w.shape.len() != 4 {
                return Err(unsupported(
                    n,
                    idx,
                    &format!(
                        "weights of shape {:?} (only 2-D convolutions are supported)",
                        w.shape
                    ),
                ));
            }
            let win = window(n, idx, false)?;
            if let Some(k) = win.kernel {
                if k != [w.shape[2], w.shape[3]] {
                    return Err(EngineError::Model(format!(
                        "node '{name}': kernel_shape {k:?} disagrees with weights {:?}",
                        w.shape
                    )));
                }
            }
            let group = attr_i(n, "group", 1);
            if group < 1 {
                return Err(EngineError::Model(format!("node '{name}': group {group}")));
            }
            match input_n(2) {
                Some(b) => {
                    const_of(l, 2, "bias")?;
                    inputs = vec![inputs[0].clone(), inputs[1].clone(), b.clone()];
                }
                None => {
                    let b = format!("{output}::zero_bias");
                    l.consts.insert(b.clone(), Tensor::zeros(&[w.shape[0]]));
                    inputs = vec![inputs[0].clone(), inputs[1].clone(), b];
                }
            }
            Op::Conv {
                win,
                group: group as usize,
            }
        }
        "Relu" => Op::Relu,
        "Sigmoid" => Op::Sigmoid,
        "Erf" => Op::Erf,
        "Sqrt" => Op::Sqrt,
        "Tanh" => Op::Tanh,
        "Gelu" => Op::Gelu {
            tanh: match attr_s(n, "approximate").as_deref() {
                None | Some("none") => false,
                Some("tanh") => true,
                Some(other) => return Err(unsupported(n, idx, &format!("approximate '{other}'"))),
            },
        },
        "Sub" | "Div" | "Pow" => {
            need_inputs(2)?;
            match n.op_type.as_str() {
                "Sub" => Op::Sub,
                "Div" => Op::Div,
                _ => Op::Pow,
            }
        }
        "Softmax" | "LogSoftmax" => {
            let legacy = l.opset < 13;
            Op::Softmax {
                axis: attr_i(n, "axis", if legacy { 1 } else { -1 }),
                log: n.op_type == "LogSoftmax",
                legacy,
            }
        }
        "LayerNormalization" => {
            need_inputs(2)?;
            if attr_i(n, "stash_type", 1) != 1 {
                return Err(unsupported(n, idx, "a stash_type other than float"));
            }
            const_of(l, 1, "scale")?;
            let b = match input_n(2) {
                Some(b) => {
                    const_of(l, 2, "bias")?;
                    b.clone()
                }
                None => {
                    let scale = const_of(l, 1, "scale")?;
                    let b = format!("{output}::zero_bias");
                    l.consts.insert(b.clone(), Tensor::zeros(&scale.shape));
                    b
                }
            };
            inputs = vec![inputs[0].clone(), inputs[1].clone(), b];
            Op::LayerNorm {
                axis: attr_i(n, "axis", -1),
                epsilon: attr_f(n, "epsilon", 1e-5),
            }
        }
        "ReduceMean" => {
            let axes = match input_n(1) {
                Some(a) => Some(const_ints(l, n, idx, a, "axes")?),
                None => attr_ints(n, "axes"),
            };
            inputs.truncate(1);
            Op::ReduceMean {
                axes,
                keepdims: attr_i(n, "keepdims", 1) != 0,
                noop: attr_i(n, "noop_with_empty_axes", 0) != 0,
            }
        }
        "Transpose" => Op::Transpose {
            perm: attr_ints(n, "perm"),
        },
        "Gather" => {
            need_inputs(2)?;
            let i = &n.input[1];
            let raw = l.raw_consts.get(i.as_str()).ok_or_else(|| {
                unsupported(n, idx, &format!("its indices '{i}' must be a constant"))
            })?;
            let indices = raw.to_i64()?;
            let indices_shape = raw.dims.iter().map(|&d| d.max(0) as usize).collect();
            inputs.truncate(1);
            Op::Gather {
                axis: attr_i(n, "axis", 0),
                indices,
                indices_shape,
            }
        }
        "Slice" => {
            let ints_at = |l: &Loader, k: usize, what: &str| -> Result<Option<Vec<i64>>> {
                match input_n(k) {
                    Some(i) => const_ints(l, n, idx, i, what).map(Some),
                    None => Ok(None),
                }
            };
            let (starts, ends, axes, steps) = if input_n(1).is_some() {
                (
                    ints_at(l, 1, "starts")?.unwrap_or_default(),
                    ints_at(l, 2, "ends")?.ok_or_else(|| {
                        EngineError::Model(format!("node '{name}': Slice without ends"))
                    })?,
                    ints_at(l, 3, "axes")?,
                    ints_at(l, 4, "steps")?,
                )
            } else {
                (
                    attr_ints(n, "starts").unwrap_or_default(),
                    attr_ints(n, "ends").unwrap_or_default(),
                    attr_ints(n, "axes"),
                    None,
                )
            };
            inputs.truncate(1);
            Op::Slice {
                starts,
                ends,
                axes,
                steps,
            }
        }
        "Squeeze" | "Unsqueeze" => {
            let axes = match input_n(1) {
                Some(a) => Some(const_ints(l, n, idx, a, "axes")?),
                None => attr_ints(n, "axes"),
            };
            inputs.truncate(1);
            if n.op_type == "Squeeze" {
                Op::Squeeze { axes }
            } else {
                Op::Unsqueeze {
                    axes: axes.ok_or_else(|| {
                        EngineError::Model(format!("node '{name}': Unsqueeze without axes"))
                    })?,
                }
            }
        }
        "Identity" => Op::Identity,
        // A cast of a computed (float) tensor to float is no operation.
        "Cast" => match attr_i(n, "to", 0) {
            1 | 11 => Op::Identity,
            to => {
                return Err(unsupported(
                    n,
                    idx,
                    &format!("a cast of a computed tensor to ONNX type {to} (only to float)"),
                ))
            }
        },
        "Expand" => {
            need_inputs(2)?;
            let shape = const_ints(l, n, idx, &n.input[1], "shape")?;
            inputs.truncate(1);
            Op::Expand { shape }
        }
        "Pad" => {
            let mode = match attr_s(n, "mode").as_deref() {
                None | Some("constant") => PadMode::Constant,
                Some("edge") => PadMode::Edge,
                Some("reflect") => PadMode::Reflect,
                Some("wrap") => PadMode::Wrap,
                Some(other) => return Err(unsupported(n, idx, &format!("mode '{other}'"))),
            };
            let (pads, value, axes) = if l.opset < 11 {
                (
                    attr_ints(n, "pads").unwrap_or_default(),
                    attr_f(n, "value", 0.0),
                    None,
                )
            } else {
                need_inputs(2)?;
                let value = match input_n(2) {
                    Some(_) => const_of(l, 2, "constant_value")?
                        .data
                        .first()
                        .copied()
                        .unwrap_or(0.0),
                    None => 0.0,
                };
                let axes = match input_n(3) {
                    Some(a) => Some(const_ints(l, n, idx, a, "axes")?),
                    None => None,
                };
                (const_ints(l, n, idx, &n.input[1], "pads")?, value, axes)
            };
            inputs.truncate(1);
            Op::Pad {
                pads,
                axes,
                value,
                mode,
            }
        }
        "Where" => {
            need_inputs(3)?;
            Op::Where
        }
        "Dropout" => {
            if input_n(2).is_some() {
                let t = const_of(l, 2, "training_mode")?;
                if t.data.first().is_some_and(|&v| v != 0.0) {
                    return Err(unsupported(n, idx, "training mode"));
                }
            }
            inputs.truncate(1);
            Op::Identity
        }
        "Clip" => {
            let mut min = attr_f(n, "min", f32::MIN);
            let mut max = attr_f(n, "max", f32::MAX);
            if input_n(1).is_some() {
                min = const_of(l, 1, "min")?
                    .data
                    .first()
                    .copied()
                    .unwrap_or(f32::MIN);
            }
            if input_n(2).is_some() {
                max = const_of(l, 2, "max")?
                    .data
                    .first()
                    .copied()
                    .unwrap_or(f32::MAX);
            }
            inputs.truncate(1);
            Op::Clip { min, max }
        }
        "Add" | "Mul" => {
            need_inputs(2)?;
            if attr(n, "broadcast").is_some() {
                return Err(unsupported(n, idx, "the pre-opset-7 `broadcast` attribute"));
            }
            if n.op_type == "Add" {
                Op::Add
            } else {
                Op::Mul
            }
        }
        "MaxPool" => {
            if n.output.len() > 1 && !n.output[1].is_empty() {
                return Err(unsupported(n, idx, "the Indices output"));
            }
            if attr_i(n, "storage_order", 0) != 0 {
                return Err(unsupported(n, idx, "storage_order 1"));
            }
            Op::MaxPool(window(n, idx, true)?)
        }
        "AveragePool" => {
            let win = window(n, idx, true)?;
            if win.dilations != [1, 1] {
                return Err(unsupported(n, idx, "dilations"));
            }
            Op::AveragePool {
                win,
                count_include_pad: attr_i(n, "count_include_pad", 0) != 0,
            }
        }
        "GlobalAveragePool" => Op::GlobalAveragePool,
        "LRN" => {
            let size = attr_i(n, "size", 0);
            if size < 1 {
                return Err(EngineError::Model(format!(
                    "node '{name}': LRN needs a positive size"
                )));
            }
            Op::Lrn {
                size: size as usize,
                alpha: attr_f(n, "alpha", 1e-4),
                beta: attr_f(n, "beta", 0.75),
                bias: attr_f(n, "bias", 1.0),
            }
        }
        "Concat" => Op::Concat {
            axis: attr_i(n, "axis", 1),
        },
        "BatchNormalization" => {
            need_inputs(5)?;
            if attr_i(n, "training_mode", 0) != 0 || n.output.len() > 1 {
                return Err(unsupported(n, idx, "training mode"));
            }
            let eps = attr_f(n, "epsilon", 1e-5);
            let gamma = const_of(l, 1, "scale")?;
            let beta = const_of(l, 2, "bias")?;
            let mean = const_of(l, 3, "mean")?;
            let var = const_of(l, 4, "var")?;
            let c = gamma.len();
            if [beta.len(), mean.len(), var.len()] != [c, c, c] {
                return Err(EngineError::Model(format!(
                    "node '{name}': BatchNormalization parameters differ in length"
                )));
            }
            let scale: Vec<f32> = (0..c)
                .map(|i| gamma.data[i] / (var.data[i] + eps).sqrt())
                .collect();
            let shift: Vec<f32> = (0..c)
                .map(|i| beta.data[i] - mean.data[i] * scale[i])
                .collect();
            let (sn, hn) = (format!("{output}::bn_scale"), format!("{output}::bn_shift"));
            l.consts.insert(
                sn.clone(),
                Tensor {
                    shape: vec![c],
                    data: scale,
                },
            );
            l.consts.insert(
                hn.clone(),
                Tensor {
                    shape: vec![c],
                    data: shift,
                },
            );
            inputs = vec![inputs[0].clone(), sn, hn];
            Op::BatchNorm
        }
        "Flatten" => Op::Flatten {
            axis: attr_i(n, "axis", 1),
        },
        "Reshape" => {
            let shape = if let Some(s) = input_n(1) {
                let raw = l.raw_consts.get(s.as_str()).ok_or_else(|| {
                    unsupported(n, idx, &format!("its shape '{s}' must be a constant"))
                })?;
                raw.to_i64()?
            } else if let Some(s) = attr_ints(n, "shape") {
                s
            } else {
                return Err(EngineError::Model(format!(
                    "node '{name}': Reshape without a shape"
                )));
            };
            inputs.truncate(1);
            Op::Reshape {
                shape,
                allowzero: attr_i(n, "allowzero", 0) != 0,
            }
        }
        "Gemm" => {
            need_inputs(2)?;
            inputs.truncate(if input_n(2).is_some() { 3 } else { 2 });
            Op::Gemm {
                alpha: attr_f(n, "alpha", 1.0),
                beta: attr_f(n, "beta", 1.0),
                trans_a: attr_i(n, "transA", 0) != 0,
                trans_b: attr_i(n, "transB", 0) != 0,
            }
        }
        "MatMul" => {
            need_inputs(2)?;
            Op::MatMul
        }
        _ => return Err(unsupported(n, idx, "")),
    };
    // Load every constant this node reads, so the backends find them as f32.
    for i in &inputs {
        if !l.consts.contains_key(i) && l.raw_consts.contains_key(i) {
            if let Some(r) = l.f32(i) {
                r?;
            }
        }
    }
    if inputs.iter().any(|i| i.is_empty()) {
        return Err(unsupported(
            n,
            idx,
            "an omitted optional input in this position",
        ));
    }
    Ok(Node {
        name,
        op_type: n.op_type.clone(),
        op,
        inputs,
        output,
    })
}
