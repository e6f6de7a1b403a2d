// Gemm (2-D, optional transposes, alpha, beta, broadcast bias) and MatMul (batched, with
// broadcast batch axes). One invocation per output value.
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> c: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> p: array<u32>;

// p: total, M, K, N, transA, transB, C's row stride, C's column stride, alpha, beta
@compute @workgroup_size(64)
fn gemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    let m = p[1]; let k = p[2]; let n = p[3];
    let row = i / n;
    let col = i % n;
    var acc = 0.0;
    for (var q = 0u; q < k; q++) {
        var av = a[row * k + q];
        if (p[4] != 0u) {
            av = a[q * m + row];
        }
        var bv = b[q * n + col];
        if (p[5] != 0u) {
            bv = b[col * k + q];
        }
        acc += av * bv;
    }
    y[i] = f(p[8]) * acc + f(p[9]) * c[row * p[6] + col * p[7]];
}

// p: total, M, K, N, then for 4 batch axes (outermost first, padded with 1s):
// sizes [4..8], a's strides in matrices [8..12], b's strides in matrices [12..16]
@compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    let m = p[1]; let k = p[2]; let n = p[3];
    let col = i % n;
    let row = (i / n) % m;
    var rest = i / (m * n);
    var ma = 0u;
    var mb = 0u;
    for (var d = 3; d >= 0; d--) {
        let size = p[4 + d];
        let j = rest % size;
        rest = rest / size;
        ma += j * p[8 + d];
        mb += j * p[12 + d];
    }
    let abase = ma * m * k + row * k;
    let bbase = mb * k * n + col;
    var acc = 0.0;
    for (var q = 0u; q < k; q++) {
        acc += a[abase + q] * b[bbase + q * n];
    }
    y[i] = acc;
}
