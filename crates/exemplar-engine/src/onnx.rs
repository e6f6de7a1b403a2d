//! The subset of ONNX's protobuf messages the engine reads, written out by hand for
//! `prost` so that no `protoc` or build script is needed. Field numbers are those of
//! `onnx/onnx.proto` (IR version 8); fields the engine never reads are left out, which
//! protobuf decoding skips. The same structs encode, which the tests use to build
//! models.
#![allow(missing_docs)] // each field is named as in onnx.proto, whose comments apply

use prost::Message;

/// A whole model file: the graph plus the operator sets it was written against.
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    #[prost(string, tag = "2")]
    pub producer_name: String,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
}

/// An operator set the model uses (`domain` empty means the default `ai.onnx`).
#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// The computation graph: nodes in topological order, constant tensors, inputs, outputs.
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// One operator application. An empty input name means an omitted optional input.
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub op_type: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, tag = "7")]
    pub domain: String,
}

/// A named attribute of a node; which field holds the value is given by `type`.
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(float, tag = "2")]
    pub f: f32,
    #[prost(int64, tag = "3")]
    pub i: i64,
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// A subgraph (If's `then_branch` and `else_branch`). prost's recursion limit bounds
    /// how deep a hostile file can nest them.
    #[prost(message, optional, boxed, tag = "6")]
    pub g: Option<Box<GraphProto>>,
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    /// `AttributeProto.AttributeType`: FLOAT 1, INT 2, STRING 3, TENSOR 4, GRAPH 5, FLOATS 6,
    /// INTS 7.
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

/// A tensor's element type and data: in `raw_data` (little-endian) or in the typed field.
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// `TensorProto.DataType`: FLOAT 1, UINT8 2, INT8 3, INT32 6, INT64 7, DOUBLE 11.
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    #[prost(string, tag = "8")]
    pub name: String,
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    /// `TensorProto.DataLocation`: DEFAULT 0, EXTERNAL 1 (weights in another file).
    #[prost(int32, tag = "14")]
    pub data_location: i32,
}

/// A graph input or output: its name and declared type.
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// A value's type; only tensor types are read.
#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TypeProtoTensor>,
}

/// `TypeProto.Tensor`: element type and (possibly symbolic) shape.
#[derive(Clone, PartialEq, Message)]
pub struct TypeProtoTensor {
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// A tensor shape: one entry per axis.
#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// `TensorShapeProto.Dimension`: a fixed size (`dim_value`) or a name (`dim_param`).
/// In onnx.proto these two form a `oneof`; a size of 0 with a name means symbolic.
#[derive(Clone, PartialEq, Message)]
pub struct Dimension {
    #[prost(int64, tag = "1")]
    pub dim_value: i64,
    #[prost(string, tag = "2")]
    pub dim_param: String,
}

/// ONNX element type FLOAT.
pub const FLOAT: i32 = 1;
/// ONNX element type UINT8.
pub const UINT8: i32 = 2;
/// ONNX element type INT8.
pub const INT8: i32 = 3;
/// ONNX element type INT32.
pub const INT32: i32 = 6;
/// ONNX element type INT64.
pub const INT64: i32 = 7;
/// ONNX element type BOOL.
pub const BOOL: i32 = 9;
/// ONNX element type DOUBLE.
pub const DOUBLE: i32 = 11;

/// Decodes a model file.
pub fn decode_model(bytes: &[u8]) -> crate::Result<ModelProto> {
    ModelProto::decode(bytes).map_err(|e| crate::EngineError::Decode(e.to_string()))
}

impl TensorProto {
    fn label(&self) -> String {
        format!("tensor '{}'", self.name)
    }

    fn shape(&self) -> crate::Result<Vec<usize>> {
        // Also refuses negative axes and a product that overflows.
        crate::limits::checked_product(&self.dims, || self.label())?;
        Ok(self.dims.iter().map(|&d| d as usize).collect())
    }

    fn check_len(&self, len: usize, shape: &[usize]) -> crate::Result<()> {
        let want: usize = shape.iter().product(); // checked in `shape`
        if len == want {
            Ok(())
        } else {
            Err(crate::EngineError::Model(format!(
                "tensor '{}' has {len} values but its shape {shape:?} needs {want}",
                self.name
            )))
        }
    }

    /// Before anything is decoded: `raw_data` (when present) must hold exactly the bytes
    /// the dims declare for elements of `size` bytes.
    fn check_raw(&self, shape: &[usize], size: usize) -> crate::Result<()> {
        if self.raw_data.is_empty() {
            return Ok(());
        }
        let want = shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                crate::EngineError::Limit(format!(
                    "tensor '{}' has dims {:?} of {size}-byte elements, whose size in bytes overflows",
                    self.name, self.dims
                ))
            })?;
        if self.raw_data.len() == want {
            Ok(())
        } else {
            Err(crate::EngineError::Model(format!(
                "tensor '{}' has {} bytes of raw_data but its dims {:?} need {want} ({size} per element)",
                self.name,
                self.raw_data.len(),
                self.dims
            )))
        }
    }

    /// Bytes per element of the element type, where the engine reads it.
    pub(crate) fn element_size(&self) -> Option<usize> {
        match self.data_type {
            FLOAT | INT32 => Some(4),
            INT64 | DOUBLE => Some(8),
            BOOL | UINT8 | INT8 => Some(1),
            _ => None,
        }
    }

    /// The tensor as f32 (FLOAT, DOUBLE, INT32 and INT64 are converted; BOOL is 0 or 1).
    pub fn to_f32(&self) -> crate::Result<crate::Tensor> {
        if self.data_location == 1 {
            return Err(crate::EngineError::Model(format!(
                "tensor '{}' keeps its data in an external file, which the engine cannot read; \
                 save the model with its weights inside",
                self.name
            )));
        }
        let shape = self.shape()?;
        if let Some(size) = self.element_size() {
            self.check_raw(&shape, size)?;
        }
        let raw = &self.raw_data;
        let data: Vec<f32> = match self.data_type {
            FLOAT if !raw.is_empty() => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            FLOAT => self.float_data.clone(),
            DOUBLE if !raw.is_empty() => raw
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
                .collect(),
            DOUBLE => self.double_data.iter().map(|&v| v as f32).collect(),
            // Not INT8/UINT8: the backends' float arithmetic would not be theirs.
            INT64 | INT32 | BOOL => self.to_i64()?.into_iter().map(|v| v as f32).collect(),
            other => {
                return Err(crate::EngineError::Model(format!(
                    "tensor '{}' has ONNX element type {other}; the engine reads float, double, bool, int32 and int64",
                    self.name
                )))
            }
        };
        self.check_len(data.len(), &shape)?;
        Ok(crate::Tensor { shape, data })
    }

    /// The tensor as i64 (INT64, INT32, and BOOL, INT8 and UINT8), e.g. a Reshape's target
    /// shape.
    pub fn to_i64(&self) -> crate::Result<Vec<i64>> {
        let shape = self.shape()?;
        if let Some(size) = self.element_size() {
            self.check_raw(&shape, size)?;
        }
        let raw = &self.raw_data;
        let data: Vec<i64> = match self.data_type {
            INT64 if !raw.is_empty() => raw
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
            INT64 => self.int64_data.clone(),
            INT32 if !raw.is_empty() => raw
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)
                .collect(),
            INT32 => self.int32_data.iter().map(|&v| v as i64).collect(),
            // One byte per value in raw_data, else one per int32_data entry.
            BOOL | UINT8 if !raw.is_empty() => raw.iter().map(|&b| i64::from(b)).collect(),
            INT8 if !raw.is_empty() => raw.iter().map(|&b| i64::from(b as i8)).collect(),
            BOOL | UINT8 | INT8 => self.int32_data.iter().map(|&v| v as i64).collect(),
            other => {
                return Err(crate::EngineError::Model(format!(
                    "tensor '{}' should hold integers but has ONNX element type {other}",
                    self.name
                )))
            }
        };
        self.check_len(data.len(), &shape)?;
        Ok(data)
    }

    /// A FLOAT tensor with its values in `raw_data`, as exporters write weights.
    pub fn from_f32(name: &str, shape: &[usize], data: &[f32]) -> TensorProto {
        TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            name: name.to_string(),
            raw_data: bytemuck::cast_slice(data).to_vec(),
            ..Default::default()
        }
    }

    /// An INT64 tensor (values in `int64_data`).
    pub fn from_i64(name: &str, shape: &[usize], data: &[i64]) -> TensorProto {
        TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: INT64,
            name: name.to_string(),
            int64_data: data.to_vec(),
            ..Default::default()
        }
    }
}
