// Data movement: Transpose, Slice and Expand (strided copies), Gather (constant indices)
// and Pad. One invocation per output value.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> p: array<u32>;

// p: total, then for 6 axes (outermost first, padded with 1s): the output's sizes [1..7]
// and the input stride of a step along each output axis [7..13], then the input offset of
// the first value [13]. Negative strides (Slice's negative steps) are two's complement:
// u32 arithmetic wraps, and the sum lands in range.
@compute @workgroup_size(64)
fn transpose(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    var rest = i;
    var src = p[13];
    for (var d = 5; d >= 0; d--) {
        let size = p[1 + d];
        src += (rest % size) * p[7 + d];
        rest = rest / size;
    }
    y[i] = x[src];
}

// p: total, values after the axis, number of indices, length of the axis
@compute @workgroup_size(64)
fn gather(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    let inner = p[1];
    let s = i % inner;
    let k = (i / inner) % p[2];
    let o = i / (inner * p[2]);
    y[i] = x[(o * p[3] + indices[k]) * inner + s];
}

// p (`PadParams`): total, mode (a PAD_ constant, from `PadCode` in layout.rs), the
// constant's bits, then for 6 axes (outermost first, padded with 1s): the output's sizes
// [3..9], the input's sizes [9..15], the values padded before each axis [15..21] (i32
// bits; negative crops) and the input's strides [21..27].
@compute @workgroup_size(64)
fn pad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    var rest = i;
    var src = 0u;
    for (var d = 5; d >= 0; d--) {
        let size = p[3 + d];
        let n = i32(p[9 + d]);
        var c = i32(rest % size) - bitcast<i32>(p[15 + d]);
        rest = rest / size;
        if (c < 0 || c >= n) {
            if (p[1] == PAD_CONSTANT) {
                y[i] = f(p[2]);
                return;
            } else if (p[1] == PAD_EDGE) {
                c = clamp(c, 0, n - 1);
            } else if (p[1] == PAD_WRAP) {
                // Around what cropping keeps of the axis (crop first, then pad).
                let b = bitcast<i32>(p[15 + d]);
                let lo = max(-b, 0);
                let m = max(min(n, i32(size) - b) - lo, 1);
                c = lo + (((c - lo) % m) + m) % m;
            } else if (n == 1) { // PAD_REFLECT from here on
                c = 0;
            } else {
                let m = 2 * (n - 1);
                c = ((c % m) + m) % m;
                if (c >= n) {
                    c = m - c;
                }
            }
        }
        src += u32(c) * p[21 + d];
    }
    y[i] = x[src];
}
