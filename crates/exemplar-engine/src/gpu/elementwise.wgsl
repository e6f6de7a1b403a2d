// Elementwise operators: Relu/Clip/Sigmoid (unary), Add/Mul with ONNX broadcasting
// (binary), and per-channel scale and shift (standalone BatchNormalization).
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> c: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> p: array<u32>;

// p: total, op (0 Relu, 1 Clip, 2 Sigmoid), min bits, max bits
@compute @workgroup_size(64)
fn unary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    let v = a[i];
    switch p[1] {
        case 0u: { y[i] = max(v, 0.0); }
        case 1u: { y[i] = min(max(v, f(p[2])), f(p[3])); }
        case 2u: { y[i] = 1.0 / (1.0 + exp(-v)); }
        default: { y[i] = v; }
    }
}

// p: total, op (0 Add, 1 Mul), then for 6 axes (outermost first, padded with 1s):
// output sizes [2..8], a's strides [8..14], b's strides [14..20] (0 where broadcast)
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
    if (p[1] == 0u) {
        y[i] = a[ia] + b[ib];
    } else {
        y[i] = a[ia] * b[ib];
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
