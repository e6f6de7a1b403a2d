// Mean of selected channels over their positions, one workgroup per (image, channel):
// the target's activations (what is read back) and GlobalAveragePool (all channels).
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> channels: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
// images, channels listed, positions, image stride, channel stride, position stride
@group(0) @binding(3) var<storage, read> p: array<u32>;

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn channel_mean(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    // No early return: every invocation must reach the barriers.
    let o = wg.y * nwg.x + wg.x;
    let k = p[1];
    let valid = o < p[0] * k;
    var acc = 0.0;
    if (valid) {
        let base = (o / k) * p[3] + channels[o % k] * p[4];
        for (var s = li; s < p[2]; s += 64u) {
            acc += x[base + s * p[5]];
        }
    }
    partial[li] = acc;
    workgroupBarrier();
    for (var stride = 32u; stride > 0u; stride = stride / 2u) {
        if (li < stride) {
            partial[li] += partial[li + stride];
        }
        workgroupBarrier();
    }
    if (valid && li == 0u) {
        y[o] = partial[0] / f32(p[2]);
    }
}
