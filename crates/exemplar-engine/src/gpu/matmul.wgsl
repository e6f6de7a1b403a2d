// Gemm (2-D, optional transposes, alpha, beta, broadcast bias) and MatMul (batched, with
// broadcast batch axes). `gemm_tiled` and `matmul_tiled` compute a 64×64 tile of the output
// per workgroup through workgroup memory; `gemm` and `matmul` (one invocation per output
// value) remain for grids the tiled kernels cannot be dispatched on.
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

// The tiled kernels: a workgroup of 16×16 invocations computes a 64×64 tile of the output;
// each invocation computes 4×4 values. Through K in steps of 16, the workgroup copies a
// 64×16 block of A and a 16×64 block of B into workgroup memory (8 KiB), then each
// invocation reads 4 values of each per step for 16 products.
var<workgroup> sa: array<f32, 1024>; // [row][depth]
var<workgroup> sb: array<f32, 1024>; // [depth][column]

// The 4×4 products of rows row0 + 4·ty.. and columns col0 + 4·tx.., where
// A(r, q) = a[ao + r·ars + q·acs] is m×k and B(q, j) = b[bo + q·brs + j·bcs] is k×n.
fn tile_product(ao: u32, ars: u32, acs: u32, bo: u32, brs: u32, bcs: u32, m: u32, k: u32,
                n: u32, row0: u32, col0: u32, tx: u32, ty: u32, li: u32) -> array<vec4<f32>, 4> {
    var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var q0 = 0u; q0 < k; q0 += 16u) {
        for (var e = 0u; e < 4u; e++) {
            let s = li + e * 256u;
            let ar = row0 + s / 16u;
            let aq = q0 + s % 16u;
            var av = 0.0;
            if (ar < m && aq < k) {
                av = a[ao + ar * ars + aq * acs];
            }
            sa[s] = av;
            let bq = q0 + s / 64u;
            let bj = col0 + s % 64u;
            var bv = 0.0;
            if (bq < k && bj < n) {
                bv = b[bo + bq * brs + bj * bcs];
            }
            sb[s] = bv;
        }
        workgroupBarrier();
        for (var t = 0u; t < 16u; t++) {
            let bs = t * 64u + tx * 4u;
            let bv = vec4<f32>(sb[bs], sb[bs + 1u], sb[bs + 2u], sb[bs + 3u]);
            let ai = ty * 64u + t;
            acc[0] += sa[ai] * bv;
            acc[1] += sa[ai + 16u] * bv;
            acc[2] += sa[ai + 32u] * bv;
            acc[3] += sa[ai + 48u] * bv;
        }
        workgroupBarrier();
    }
    return acc;
}

// p: as gemm's. Grid: (ceil(N/64), ceil(M/64)).
@compute @workgroup_size(16, 16)
fn gemm_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let m = p[1]; let k = p[2]; let n = p[3];
    var ars = k;
    var acs = 1u;
    if (p[4] != 0u) {
        ars = 1u;
        acs = m;
    }
    var brs = n;
    var bcs = 1u;
    if (p[5] != 0u) {
        brs = 1u;
        bcs = k;
    }
    let row0 = wg.y * 64u;
    let col0 = wg.x * 64u;
    let acc = tile_product(0u, ars, acs, 0u, brs, bcs, m, k, n, row0, col0, lid.x, lid.y, li);
    let alpha = f(p[8]);
    let beta = f(p[9]);
    for (var r = 0u; r < 4u; r++) {
        let row = row0 + lid.y * 4u + r;
        if (row >= m) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + lid.x * 4u + j;
            if (col < n) {
                y[row * n + col] = alpha * acc[r][j] + beta * c[row * p[6] + col * p[7]];
            }
        }
    }
}

// p: as matmul's, then [16] = ceil(M/64). Grid: (ceil(N/64), ceil(M/64) · batch).
@compute @workgroup_size(16, 16)
fn matmul_tiled(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let m = p[1]; let k = p[2]; let n = p[3];
    let bi = wg.y / p[16];
    var rest = bi;
    var ma = 0u;
    var mb = 0u;
    for (var d = 3; d >= 0; d--) {
        let size = p[4 + d];
        let j = rest % size;
        rest = rest / size;
        ma += j * p[8 + d];
        mb += j * p[12 + d];
    }
    let row0 = (wg.y % p[16]) * 64u;
    let col0 = wg.x * 64u;
    let acc = tile_product(ma * m * k, k, 1u, mb * k * n, n, 1u, m, k, n, row0, col0, lid.x,
                           lid.y, li);
    for (var r = 0u; r < 4u; r++) {
        let row = row0 + lid.y * 4u + r;
        if (row >= m) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + lid.x * 4u + j;
            if (col < n) {
                y[(bi * m + row) * n + col] = acc[r][j];
            }
        }
    }
}
