//! Test helpers: a seeded generator, a tiny ONNX model builder, GPU discovery, the one
//! way to skip for something missing ([`missing`], which fails in CI) and tolerance
//! checks.
#![allow(dead_code)] // each test file uses a different part

pub mod nets;
pub mod reference;

use exemplar_engine::onnx::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};
use exemplar_engine::{GpuContext, Tensor};
use prost::Message;

/// SplitMix64: the same numbers on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
    pub fn tensor(&mut self, shape: &[usize]) -> Tensor {
        Tensor::new(shape.to_vec(), self.vec(shape.iter().product())).unwrap()
    }
}

/// An attribute value for [`ModelBuilder::node`].
pub enum A {
    I(i64),
    F(f32),
    Ints(Vec<i64>),
    S(&'static str),
    /// A tensor (Constant's `value`, ConstantOfShape's `value`).
    T(TensorProto),
    /// A subgraph (If's branches): see [`branch`].
    G(GraphProto),
}

/// One node of a [`branch`]: op, inputs, output, attributes.
pub type BranchNode<'a> = (&'a str, &'a [&'a str], &'a str, Vec<(&'a str, A)>);

/// A subgraph of `nodes` with the one output `output`.
pub fn branch(nodes: Vec<BranchNode>, output: &str) -> A {
    let mut b = ModelBuilder::new("unused", &[]);
    for (k, (op, inputs, out, attrs)) in nodes.into_iter().enumerate() {
        b.node(op, &format!("{op}_{k}"), inputs, out, attrs);
    }
    let mut g = b.graph.clone();
    g.input.clear();
    g.output = vec![ValueInfoProto {
        name: output.into(),
        ..Default::default()
    }];
    A::G(g)
}

impl A {
    /// An int64 scalar tensor (torch writes scalars and shapes as Constant tensors).
    pub fn int_scalar(v: i64) -> A {
        A::T(TensorProto::from_i64("", &[], &[v]))
    }
    /// A 1-D int64 tensor.
    pub fn int_vec(v: &[i64]) -> A {
        A::T(TensorProto::from_i64("", &[v.len()], v))
    }
    /// A float scalar tensor.
    pub fn float_scalar(v: f32) -> A {
        A::T(TensorProto::from_f32("", &[], &[v]))
    }
}

/// Builds an ONNX model the way exporters write them (weights in raw_data).
pub struct ModelBuilder {
    graph: GraphProto,
    opset: i64,
}

impl ModelBuilder {
    /// A model with one float input of the given shape (`None` = symbolic axis).
    pub fn new(input: &str, shape: &[Option<usize>]) -> ModelBuilder {
        let dim = shape
            .iter()
            .map(|d| match d {
                Some(v) => Dimension {
                    dim_value: *v as i64,
                    dim_param: String::new(),
                },
                None => Dimension {
                    dim_value: 0,
                    dim_param: "batch".into(),
                },
            })
            .collect();
        let vi = ValueInfoProto {
            name: input.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TypeProtoTensor {
                    elem_type: 1,
                    shape: Some(TensorShapeProto { dim }),
                }),
            }),
        };
        ModelBuilder {
            graph: GraphProto {
                name: "test".into(),
                input: vec![vi],
                ..Default::default()
            },
            opset: 13,
        }
    }

    /// The default operator set's version (13 unless set).
    pub fn opset(&mut self, version: i64) -> &mut Self {
        self.opset = version;
        self
    }

    /// Any initializer (e.g. a BOOL condition).
    pub fn initializer(&mut self, t: TensorProto) -> &mut Self {
        self.graph.initializer.push(t);
        self
    }

    pub fn weight(&mut self, name: &str, t: &Tensor) -> &mut Self {
        self.graph
            .initializer
            .push(TensorProto::from_f32(name, &t.shape, &t.data));
        self
    }

    pub fn ints(&mut self, name: &str, v: &[i64]) -> &mut Self {
        self.graph
            .initializer
            .push(TensorProto::from_i64(name, &[v.len()], v));
        self
    }

    /// Integers of any shape (`[]`: a scalar), e.g. Gather's indices.
    pub fn ints_shaped(&mut self, name: &str, shape: &[usize], v: &[i64]) -> &mut Self {
        self.graph
            .initializer
            .push(TensorProto::from_i64(name, shape, v));
        self
    }

    /// `name = Constant(value)`.
    pub fn constant(&mut self, name: &str, value: A) -> &mut Self {
        self.node("Constant", name, &[], name, vec![("value", value)])
    }

    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        output: &str,
        attrs: Vec<(&str, A)>,
    ) -> &mut Self {
        self.node_outputs(op, name, inputs, &[output], attrs)
    }

    /// A node with several outputs (Split).
    pub fn node_outputs(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<(&str, A)>,
    ) -> &mut Self {
        let attribute = attrs
            .into_iter()
            .map(|(n, a)| {
                let mut p = AttributeProto {
                    name: n.into(),
                    ..Default::default()
                };
                match a {
                    A::I(i) => (p.i, p.r#type) = (i, 2),
                    A::F(f) => (p.f, p.r#type) = (f, 1),
                    A::Ints(v) => (p.ints, p.r#type) = (v, 7),
                    A::S(s) => (p.s, p.r#type) = (s.as_bytes().to_vec(), 3),
                    A::T(t) => (p.t, p.r#type) = (Some(t), 4),
                    A::G(g) => (p.g, p.r#type) = (Some(Box::new(g)), 5),
                }
                p
            })
            .collect();
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: name.into(),
            op_type: op.into(),
            attribute,
            domain: String::new(),
        });
        self
    }

    pub fn model(&self) -> ModelProto {
        ModelProto {
            ir_version: 8,
            producer_name: "exemplar-engine tests".into(),
            graph: Some(self.graph.clone()),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: self.opset,
            }],
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.model().encode_to_vec()
    }

    /// The model with `outputs` declared as its graph outputs (float, shape left to
    /// inference), as another runtime needs to know what to compute.
    pub fn bytes_with_outputs(&self, outputs: &[&str]) -> Vec<u8> {
        let mut m = self.model();
        if let Some(g) = m.graph.as_mut() {
            g.output = outputs
                .iter()
                .map(|o| ValueInfoProto {
                    name: o.to_string(),
                    r#type: Some(TypeProto {
                        tensor_type: Some(TypeProtoTensor {
                            elem_type: 1,
                            shape: None,
                        }),
                    }),
                })
                .collect();
        }
        m.encode_to_vec()
    }
}

/// Whether this is a CI run (`CI` set to anything but empty, `0` or `false`): there a
/// missing prerequisite fails the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// Reports that `what` (a GPU adapter, a data set, a model file) is missing: in CI (see
/// [`in_ci`]) a panic, so CI cannot go green by skipping; elsewhere a visible
/// `SKIPPED (missing: …)` line on stderr, and the caller skips the check.
pub fn missing(what: &str) {
    if in_ci() {
        panic!("missing: {what}; CI is set, so this test must not skip");
    }
    eprintln!("SKIPPED (missing: {what})");
}

/// The GPU, or `None` after [`missing`] when this machine has none (tests then skip
/// their GPU checks; in CI they fail).
pub fn gpu() -> Option<GpuContext> {
    match GpuContext::new_blocking() {
        Ok(g) => {
            eprintln!("GPU adapter: {}", g.adapter());
            Some(g)
        }
        Err(e) => {
            missing(&format!(
                "a GPU adapter ({e}; natively: Vulkan, e.g. Mesa's lavapipe)"
            ));
            None
        }
    }
}

/// Asserts |got − want| ≤ rtol·|want| + atol·max(1, max|want|) everywhere; returns the
/// worst absolute difference.
pub fn assert_close(what: &str, got: &Tensor, want: &Tensor, rtol: f32, atol: f32) -> f32 {
    assert_eq!(got.shape, want.shape, "{what}: shapes differ");
    let scale = want.data.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let mut worst = 0.0f32;
    for (i, (g, w)) in got.data.iter().zip(&want.data).enumerate() {
        let d = (g - w).abs();
        assert!(
            d <= rtol * w.abs() + atol * scale && d.is_finite(),
            "{what}: value {i} is {g}, expected {w} (difference {d}, tolerance rtol {rtol} atol {atol}·{scale})"
        );
        worst = worst.max(d);
    }
    worst
}
