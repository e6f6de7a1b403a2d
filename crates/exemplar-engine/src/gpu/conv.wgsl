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
