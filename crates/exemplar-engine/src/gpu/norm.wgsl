// Reductions along rows: Softmax/LogSoftmax and LayerNormalization (one workgroup of 64
// per row, tree reductions in workgroup memory), and ReduceMean (one invocation per
// output value).
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> p: array<u32>;

var<workgroup> red: array<f32, 64>;

// Leaves the workgroup's maximum (or sum, when `sum`) in red[0]; every invocation calls it.
fn tree(li: u32, sum: bool) {
    workgroupBarrier();
    for (var stride = 32u; stride > 0u; stride = stride / 2u) {
        if (li < stride) {
            if (sum) {
                red[li] += red[li + stride];
            } else {
                red[li] = max(red[li], red[li + stride]);
            }
        }
        workgroupBarrier();
    }
}

// p: rows (outer × inner), length, inner, log. Row r holds `length` values `inner` apart.
@compute @workgroup_size(64)
fn softmax(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    // No early return: every invocation must reach the barriers.
    let r = wg.y * nwg.x + wg.x;
    let len = p[1];
    let inner = p[2];
    let valid = r < p[0];
    let base = (r / inner) * len * inner + r % inner;
    // -FLT_MAX, exactly (Tint rejects the decimal literal as not representable).
    var m = bitcast<f32>(0xff7fffffu);
    if (valid) {
        for (var j = li; j < len; j += 64u) {
            m = max(m, x[base + j * inner]);
        }
    }
    red[li] = m;
    tree(li, false);
    let mx = red[0];
    workgroupBarrier();
    var s = 0.0;
    if (valid) {
        for (var j = li; j < len; j += 64u) {
            s += exp(x[base + j * inner] - mx);
        }
    }
    red[li] = s;
    tree(li, true);
    let total = red[0];
    if (valid) {
        for (var j = li; j < len; j += 64u) {
            let e = x[base + j * inner] - mx;
            y[base + j * inner] = select(exp(e) / total, e - log(total), p[3] != 0u);
        }
    }
}

// p: rows, length, scale length, bias length, epsilon bits. Scale and bias repeat along
// the row (they are a suffix of the normalised shape).
@compute @workgroup_size(64)
fn layer_norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let r = wg.y * nwg.x + wg.x;
    let len = p[1];
    let valid = r < p[0];
    let base = r * len;
    var s = 0.0;
    if (valid) {
        for (var j = li; j < len; j += 64u) {
            s += x[base + j];
        }
    }
    red[li] = s;
    tree(li, true);
    let mean = red[0] / f32(len);
    workgroupBarrier();
    var q = 0.0;
    if (valid) {
        for (var j = li; j < len; j += 64u) {
            let d = x[base + j] - mean;
            q += d * d;
        }
    }
    red[li] = q;
    tree(li, true);
    let rstd = 1.0 / sqrt(red[0] / f32(len) + f(p[4]));
    if (valid) {
        for (var j = li; j < len; j += 64u) {
            y[base + j] = (x[base + j] - mean) * rstd * scale[j % p[2]] + bias[j % p[3]];
        }
    }
}

// p: outputs, values averaged per output, then for 6 axes (outermost first, padded):
// the output's sizes with reduced axes as 1 [2..8], the reduced sizes with kept axes as 1
// [8..14], the input's strides [14..20]
@compute @workgroup_size(64)
fn reduce_mean(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    var rest = i;
    var base = 0u;
    for (var d = 5; d >= 0; d--) {
        let size = p[2 + d];
        base += (rest % size) * p[14 + d];
        rest = rest / size;
    }
    var acc = 0.0;
    for (var k = 0u; k < p[1]; k++) {
        var q = k;
        var off = base;
        for (var d = 5; d >= 0; d--) {
            let size = p[8 + d];
            off += (q % size) * p[14 + d];
            q = q / size;
        }
        acc += x[off];
    }
    y[i] = acc / f32(p[1]);
}
