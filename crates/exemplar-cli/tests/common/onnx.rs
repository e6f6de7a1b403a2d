//! Small ONNX models written by the tests, with the engine's own protobuf structs.

use exemplar_engine::onnx::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};
use prost::Message;

/// A float tensor `name` of shape `dims`; a negative dimension is symbolic (`N`).
pub fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: d.max(0),
                            dim_param: if d < 0 { "N".into() } else { String::new() },
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// A float initializer (`float_data`).
pub fn weight(name: &str, dims: &[i64], data: Vec<f32>) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: 1,
        float_data: data,
        name: name.into(),
        ..Default::default()
    }
}

/// Node `name`: `op` of `inputs` into `output`, with integer-list attributes `ints`.
pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    ints: &[(&str, Vec<i64>)],
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: name.into(),
        op_type: op.into(),
        attribute: ints
            .iter()
            .map(|(n, v)| AttributeProto {
                name: n.to_string(),
                ints: v.clone(),
                r#type: 7,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// An opset-13 model: graph `name` of these nodes and initializers, inputs and outputs.
pub fn model(
    name: &str,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        producer_name: "exemplar-test".into(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(GraphProto {
            name: name.into(),
            node: nodes,
            initializer: initializers,
            input: inputs,
            output: outputs,
            ..Default::default()
        }),
    }
    .encode_to_vec()
}
