// 2-D convolution, NCHW, with stride, padding, dilation and groups (depthwise is
// groups == channels). One invocation per output value; bias is always bound (zeros when
// the model has none, or the folded BatchNormalization shift).
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
// total, C, H, W, M, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW, C/group, M/group
@group(0) @binding(4) var<storage, read> p: array<u32>;

@compute @workgroup_size(64)
fn conv2d(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    let c = p[1]; let h = p[2]; let wd = p[3]; let m = p[4]; let oh = p[5]; let ow = p[6];
    let kh = p[7]; let kw = p[8]; let sh = p[9]; let sw = p[10];
    let pt = i32(p[11]); let pl = i32(p[12]); let dh = p[13]; let dw = p[14];
    let cpg = p[15];
    let ox = i % ow;
    let oy = (i / ow) % oh;
    let o = (i / (ow * oh)) % m;
    let n = i / (ow * oh * m);
    let g = o / p[16];
    var acc = b[o];
    for (var ci = 0u; ci < cpg; ci++) {
        let xbase = (n * c + g * cpg + ci) * h * wd;
        let wbase = (o * cpg + ci) * kh * kw;
        for (var ky = 0u; ky < kh; ky++) {
            let iy = i32(oy * sh + ky * dh) - pt;
            if (iy < 0 || iy >= i32(h)) {
                continue;
            }
            let row = xbase + u32(iy) * wd;
            for (var kx = 0u; kx < kw; kx++) {
                let ix = i32(ox * sw + kx * dw) - pl;
                if (ix < 0 || ix >= i32(wd)) {
                    continue;
                }
                acc += x[row + u32(ix)] * w[wbase + ky * kw + kx];
            }
        }
    }
    y[i] = acc;
}

// Register-tiled convolution: one invocation computes 4 output channels × 4 adjacent
// output x positions of one output row, so each input value it loads serves 4 channels
// and each weight 4 positions (the naive kernel above loads both for every product).
// The host packs the weights as [ceil(M/4)][C/group][KH][KW][4] (zeros beyond M), so a
// tile's 4 weights are adjacent, and neighbouring invocations (along x) read the same
// ones. The 4 channels of a tile must share a group: the host uses this kernel only for
// group == 1 or M/group a multiple of 4.
// p: tiles, C, H, W, M, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW, C/group, M/group,
//    x tiles, channel tiles
fn x_at(row: u32, ix: i32, wd: u32) -> f32 {
    if (ix < 0 || ix >= i32(wd)) {
        return 0.0;
    }
    return x[row + u32(ix)];
}

@compute @workgroup_size(64)
fn conv2d_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= p[0]) {
        return;
    }
    let c = p[1]; let h = p[2]; let wd = p[3]; let m = p[4]; let oh = p[5]; let ow = p[6];
    let kh = p[7]; let kw = p[8]; let sh = p[9]; let sw = p[10];
    let pt = i32(p[11]); let pl = i32(p[12]); let dh = p[13]; let dw = p[14];
    let cpg = p[15]; let xt = p[17]; let ct = p[18];
    let tx = i % xt;
    let oy = (i / xt) % oh;
    let tc = (i / (xt * oh)) % ct;
    let n = i / (xt * oh * ct);
    let o0 = tc * 4u;
    let ox0 = tx * 4u;
    let g = o0 / p[16];
    let step = i32(sw);
    let ix0 = i32(ox0 * sw) - pl;
    // acc_j: the 4 channels at output x ox0 + j.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var ci = 0u; ci < cpg; ci++) {
        let xbase = (n * c + g * cpg + ci) * h * wd;
        for (var ky = 0u; ky < kh; ky++) {
            let iy = i32(oy * sh + ky * dh) - pt;
            if (iy < 0 || iy >= i32(h)) {
                continue;
            }
            let row = xbase + u32(iy) * wd;
            let wrow = ((tc * cpg + ci) * kh + ky) * kw;
            for (var kx = 0u; kx < kw; kx++) {
                let wi = (wrow + kx) * 4u;
                let wv = vec4<f32>(w[wi], w[wi + 1u], w[wi + 2u], w[wi + 3u]);
                let ix = ix0 + i32(kx * dw);
                acc0 += wv * x_at(row, ix, wd);
                acc1 += wv * x_at(row, ix + step, wd);
                acc2 += wv * x_at(row, ix + 2 * step, wd);
                acc3 += wv * x_at(row, ix + 3 * step, wd);
            }
        }
    }
    for (var q = 0u; q < 4u; q++) {
        let o = o0 + q;
        if (o >= m) {
            break;
        }
        let base = ((n * m + o) * oh + oy) * ow + ox0;
        let bias = b[o];
        y[base] = acc0[q] + bias;
        if (ox0 + 1u < ow) {
            y[base + 1u] = acc1[q] + bias;
        }
        if (ox0 + 2u < ow) {
            y[base + 2u] = acc2[q] + bias;
        }
        if (ox0 + 3u < ow) {
            y[base + 3u] = acc3[q] + bias;
        }
    }
}
