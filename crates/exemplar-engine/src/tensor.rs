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
    let (run, starts) = broadcast_runs(a, b, out);
    starts.flat_map(move |(ia, ib)| (0..run.len).map(move |k| (ia + k * run.sa, ib + k * run.sb)))
}

/// The innermost stretch of a broadcast that both operands walk with a fixed stride:
/// positions `ia + k * sa` and `ib + k * sb` for `k < len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub len: usize,
    pub sa: usize,
    pub sb: usize,
}

/// [`broadcast_pairs`] as runs: the axes of `out` merged where both operands allow (so that
/// `[N, C, H, W] + [1, C, 1, 1]` is `N·C` runs of `H·W` values), and the start of each
/// run, in row-major order, counted by an odometer rather than divisions.
pub(crate) fn broadcast_runs(a: &[usize], b: &[usize], out: &[usize]) -> (Run, RunStarts) {
    let (sa, sb) = (broadcast_strides(a, out), broadcast_strides(b, out));
    // (size, stride in a, stride in b), innermost first, axes of size 1 dropped.
    let mut axes: Vec<(usize, usize, usize)> = Vec::new();
    for d in (0..out.len()).rev() {
        let (n, da, db) = (out[d], sa[d], sb[d]);
        if n == 1 {
            continue;
        }
        match axes.last_mut() {
            Some(inner) if da == inner.1 * inner.0 && db == inner.2 * inner.0 => inner.0 *= n,
            _ => axes.push((n, da, db)),
        }
    }
    let (len, sa0, sb0) = if axes.is_empty() {
        (1, 0, 0)
    } else {
        axes.remove(0)
    };
    let total: usize = out.iter().product();
    let runs = total.checked_div(len).unwrap_or(0);
    let run = Run {
        len,
        sa: sa0,
        sb: sb0,
    };
    let starts = RunStarts {
        outer: axes,
        index: Vec::new(),
        at: (0, 0),
        left: runs,
    };
    (run, starts)
}

/// The start positions of [`broadcast_runs`]'s runs.
pub(crate) struct RunStarts {
    /// The outer axes, innermost first: (size, stride in a, stride in b).
    outer: Vec<(usize, usize, usize)>,
    /// The odometer over `outer`.
    index: Vec<usize>,
    at: (usize, usize),
    left: usize,
}

impl Iterator for RunStarts {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if self.index.is_empty() {
            self.index = vec![0; self.outer.len()];
            return Some(self.at);
        }
        for (i, &(n, sa, sb)) in self.outer.iter().enumerate() {
            self.index[i] += 1;
            self.at.0 += sa;
            self.at.1 += sb;
            if self.index[i] < n {
                break;
            }
            self.index[i] = 0;
            self.at.0 -= sa * n;
            self.at.1 -= sb * n;
        }
        Some(self.at)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The positions by the definition: each output index split into coordinates.
    fn by_division(a: &[usize], b: &[usize], out: &[usize]) -> Vec<(usize, usize)> {
        let (sa, sb, so) = (
            broadcast_strides(a, out),
            broadcast_strides(b, out),
            strides(out),
        );
        (0..out.iter().product::<usize>())
            .map(|i| {
                (0..out.len()).fold((0, 0), |(ia, ib), d| {
                    let k = (i / so[d]) % out[d];
                    (ia + k * sa[d], ib + k * sb[d])
                })
            })
            .collect()
    }

    #[test]
    fn runs_visit_what_the_definition_does() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[2, 3, 4, 5], &[2, 3, 4, 5]),
            (&[2, 3, 4, 5], &[1, 3, 1, 1]),
            (&[1, 3, 1, 1], &[2, 3, 4, 5]),
            (&[2, 3, 4, 5], &[5]),
            (&[3, 1], &[1, 4]),
            (&[4, 1, 6], &[5, 1]),
            (&[], &[]),
            (&[2, 1, 3], &[]),
            (&[1], &[7]),
            (&[2, 0, 3], &[3]),
            (&[1, 1, 1], &[1, 1]),
            (&[6, 1, 2, 1], &[1, 5, 1, 3]),
        ];
        for &(a, b) in cases {
            let out = broadcast_shape(a, b).expect("broadcasts");
            let got: Vec<_> = broadcast_pairs(a, b, &out).collect();
            assert_eq!(got, by_division(a, b, &out), "{a:?} with {b:?}");
            let (_, starts) = broadcast_runs(a, b, &out);
            assert_eq!(
                starts.size_hint().0 * broadcast_runs(a, b, &out).0.len,
                got.len()
            );
        }
    }
}
