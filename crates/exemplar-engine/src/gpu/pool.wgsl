// MaxPool and AveragePool (2-D, NCHW) with stride, padding, dilation and ceil_mode; and
// LRN across channels. One invocation per output value.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> p: array<u32>;

// p: total, H, W, OH, OW, KH, KW, SH, SW, PT, PL, PB, PR, DH, DW,
//    mode (a POOL_ constant, generated from `PoolMode` in pool.rs); see `PoolParams`
@compute @workgroup_size(64)
fn pool2d(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    let h = i32(p[1]); let wd = i32(p[2]); let oh = p[3]; let ow = p[4];
    let kh = p[5]; let kw = p[6]; let sh = p[7]; let sw = p[8];
    let pt = i32(p[9]); let pl = i32(p[10]); let pb = i32(p[11]); let pr = i32(p[12]);
    let dh = p[13]; let dw = p[14]; let mode = p[15];
    let ox = i % ow;
    let oy = (i / ow) % oh;
    let nc = i / (ow * oh);
    let base = nc * u32(h) * u32(wd);
    var acc = 0.0;
    if (mode == POOL_MAX) {
        // -FLT_MAX, exactly (Tint rejects the decimal literal as not representable).
        acc = bitcast<f32>(0xff7fffffu);
    }
    var count = 0u;
    var padded = 0u;
    for (var ky = 0u; ky < kh; ky++) {
        let iy = i32(oy * sh + ky * dh) - pt;
        for (var kx = 0u; kx < kw; kx++) {
            let ix = i32(ox * sw + kx * dw) - pl;
            if (iy < h + pb && ix < wd + pr) {
                padded += 1u;
            }
            if (iy < 0 || iy >= h || ix < 0 || ix >= wd) {
                continue;
            }
            let v = x[base + u32(iy) * u32(wd) + u32(ix)];
            count += 1u;
            if (mode == POOL_MAX) {
                acc = max(acc, v);
            } else {
                acc += v;
            }
        }
    }
    if (mode == POOL_AVERAGE_INSIDE) {
        acc = acc / f32(max(count, 1u));
    } else if (mode == POOL_AVERAGE_PADDED) {
        acc = acc / f32(max(padded, 1u));
    }
    y[i] = acc;
}

// p: total, C, values per channel, channels before, channels after, alpha/size, beta, bias
@compute @workgroup_size(64)
fn lrn(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    let c = p[1]; let inner = p[2];
    let ch = (i / inner) % c;
    let n = i / (inner * c);
    let s = i % inner;
    let lo = select(0u, ch - p[3], ch >= p[3]);
    let hi = min(ch + p[4], c - 1u);
    var sq = 0.0;
    for (var k = lo; k <= hi; k++) {
        let v = x[(n * c + k) * inner + s];
        sq += v * v;
    }
    y[i] = x[i] / pow(f(p[7]) + f(p[5]) * sq, f(p[6]));
}

// Concat, one dispatch per input: p: values in the input, input chunk after the axis,
// output chunk after the axis, offset of this input in the output chunk
@compute @workgroup_size(64)
fn concat_copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    let o = i / p[1];
    let r = i % p[1];
    y[o * p[2] + p[3] + r] = x[i];
}
