//! A dense f32 tensor in row-major (NCHW) order.

/// A dense f32 tensor; `data.len()` is the product of `shape`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Size of each axis, outermost first (N, C, H, W for images).
    pub shape: Vec<usize>,
    /// The values, last axis fastest.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor from its shape and values; fails if their sizes disagree.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> crate::Result<Tensor> {
        let want: usize = shape.iter().product();
        if want != data.len() {
            return Err(crate::EngineError::Input(format!(
                "a tensor of shape {shape:?} needs {want} values, got {}",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor {
            shape: shape.to_vec(),
            data: vec![0.0; shape.iter().product()],
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor holds no values (some axis is 0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Row-major strides of a shape.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The shape two shapes broadcast to (ONNX multidirectional broadcasting).
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        *o = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// Strides to read `shape` as if it had `out` (broadcast axes get stride 0).
pub(crate) fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let rank = out.len();
    let own = strides(shape);
    (0..rank)
        .map(|i| {
            if i + shape.len() < rank {
                0
            } else {
                let j = i + shape.len() - rank;
                if shape[j] == 1 && out[i] != 1 {
                    0
                } else {
                    own[j]
                }
            }
        })
        .collect()
}

/// For each position of a tensor of shape `out` (row-major order), the positions of the
/// values of two tensors of shapes `a` and `b` broadcast to it.
pub(crate) fn broadcast_pairs(
    a: &[usize],
    b: &[usize],
    out: &[usize],
) -> impl Iterator<Item = (usize, usize)> {
    let (sa, sb, so) = (
        broadcast_strides(a, out),
        broadcast_strides(b, out),
        strides(out),
    );
    let out = out.to_vec();
    let total: usize = out.iter().product();
    (0..total).map(move |i| {
        let (mut ia, mut ib) = (0, 0);
        for d in 0..out.len() {
            let k = (i / so[d]) % out[d];
            ia += k * sa[d];
            ib += k * sb[d];
        }
        (ia, ib)
    })
}
