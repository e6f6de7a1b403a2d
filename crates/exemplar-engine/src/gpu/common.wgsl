// Prepended to every kernel. Kernels run one invocation per output value in workgroups
// of 64; the host spreads the workgroups over x and y when there are more than a grid
// dimension allows (65,535 in WebGPU), so the flat index folds both back together.
fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * 64u + li;
}

fn f(bits: u32) -> f32 {
    return bitcast<f32>(bits);
}
