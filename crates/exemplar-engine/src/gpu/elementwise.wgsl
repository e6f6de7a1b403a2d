// Elementwise operators: Relu/Clip/Sigmoid/Erf/Sqrt/Tanh/Gelu (unary), Add/Mul/Sub/Div/Pow
// with ONNX broadcasting (binary), and per-channel scale and shift (standalone
// BatchNormalization), and Where.
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> c: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> p: array<u32>;

// WGSL has no erf: its Maclaurin series near 0 (where 1 - erfc would cancel), else
// Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7).
fn erf(x: f32) -> f32 {
    let a = abs(x);
    var r = 0.0;
    if (a < 0.5) {
        let x2 = a * a;
        var term = a;
        r = a;
        for (var k = 1; k < 8; k++) {
            term *= -x2 / f32(k);
            r += term / f32(2 * k + 1);
        }
        r *= 1.1283791670955126;
    } else {
        let t = 1.0 / (1.0 + 0.3275911 * a);
        let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
            + t * (-1.453152027 + t * 1.061405429))));
        r = 1.0 - poly * exp(-a * a);
    }
    return select(r, -r, x < 0.0);
}

// tanh of a large argument may be inf/inf in a driver's expansion; |x| ≥ 10 is ±1 in f32.
fn tanh_safe(x: f32) -> f32 {
    return tanh(clamp(x, -10.0, 10.0));
}

// ONNX Pow: a negative base with an integral exponent is defined (WGSL's pow is not).
fn pow_onnx(a: f32, b: f32) -> f32 {
    if (b == 2.0) {
        return a * a;
    }
    if (b == 0.0) {
        return 1.0;
    }
    if (a < 0.0 && floor(b) == b) {
        let m = pow(-a, b);
        return select(m, -m, abs(b % 2.0) == 1.0);
    }
    return pow(a, b);
}

// p: total, op (a UNARY_ constant, generated from `UnaryOp` in elementwise.rs), min bits,
// max bits (see `UnaryParams`)
@compute @workgroup_size(64)
fn unary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    let v = a[i];
    switch p[1] {
        case UNARY_RELU: { y[i] = max(v, 0.0); }
        case UNARY_CLIP: { y[i] = min(max(v, f(p[2])), f(p[3])); }
        case UNARY_SIGMOID: { y[i] = 1.0 / (1.0 + exp(-v)); }
        case UNARY_ERF: { y[i] = erf(v); }
        case UNARY_SQRT: { y[i] = sqrt(v); }
        case UNARY_TANH: { y[i] = tanh_safe(v); }
        case UNARY_GELU: { y[i] = 0.5 * v * (1.0 + erf(v * 0.7071067811865476)); }
        case UNARY_GELU_TANH: { y[i] = 0.5 * v * (1.0 + tanh_safe(0.7978845608028654 * (v + 0.044715 * v * v * v))); }
        default: { y[i] = v; }
    }
}

// p (`BinaryParams`): total, op (a BINARY_ constant, from `BinaryOp`), then for 6 axes
// (outermost first, padded with 1s): output sizes [2..8], a's strides [8..14], b's strides
// [14..20] (0 where broadcast)
@compute @workgroup_size(64)
fn binary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    var rest = i;
    var ia = 0u;
    var ib = 0u;
    for (var d = 5; d >= 0; d--) {
        let size = p[2 + d];
        let k = rest % size;
        rest = rest / size;
        ia += k * p[8 + d];
        ib += k * p[14 + d];
    }
    let u = a[ia];
    let v = b[ib];
    switch p[1] {
        case BINARY_ADD: { y[i] = u + v; }
        case BINARY_MUL: { y[i] = u * v; }
        case BINARY_SUB: { y[i] = u - v; }
        case BINARY_DIV: { y[i] = u / v; }
        default: { y[i] = pow_onnx(u, v); } // BINARY_POW
    }
}

// p: total, channels, values per channel; y = a * b[channel] + c[channel]
@compute @workgroup_size(64)
fn affine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    let ch = (i / p[2]) % p[1];
    y[i] = a[i] * b[ch] + c[ch];
}

// Where: p: total, then for 6 axes (outermost first, padded with 1s): output sizes
// [1..7], the strides of the condition [7..13], of x [13..19] and of y [19..25] (0 where
// broadcast). A non-zero condition picks x.
@compute @workgroup_size(64)
fn where_select(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    var rest = i;
    var ic = 0u;
    var ix = 0u;
    var iy = 0u;
    for (var d = 5; d >= 0; d--) {
        let size = p[1 + d];
        let k = rest % size;
        rest = rest / size;
        ic += k * p[7 + d];
        ix += k * p[13 + d];
        iy += k * p[19 + d];
    }
    y[i] = select(c[iy], b[ix], a[ic] != 0.0);
}
