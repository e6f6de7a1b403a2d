//! Buffer slots for the intermediate tensors of one plan: each tensor lives in a slot from
//! the node that writes it to the last node that reads it (the target to the end), and a
//! dead tensor's slot is reused by the next one that fits (best fit among the free slots,
//! else the largest free slot grown, else a new slot). A view (`Op::is_view`) shares its
//! input's slot. Pure bookkeeping on the graph: no GPU.

use std::collections::{HashMap, HashSet};

use crate::graph::Graph;

/// Where each tensor lives, and each slot's size in bytes.
pub(super) struct Slots<'g> {
    /// The slot of every tensor the plan computes (and of the input).
    pub of: HashMap<&'g str, usize>,
    /// Each slot's size in bytes (the largest tensor it ever holds).
    pub bytes: Vec<u64>,
}

/// Assigns slots to `g`'s tensors; `size` gives a tensor's bytes.
pub(super) fn assign<'g>(g: &'g Graph, size: impl Fn(&str) -> u64) -> Slots<'g> {
    // Liveness: the last node reading each tensor; the targets live to the end.
    let mut last_use: HashMap<&str, usize> = HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        for x in &n.inputs {
            last_use.insert(x, i);
        }
    }
    for t in &g.targets {
        last_use.insert(t, usize::MAX);
    }

    // (size needed, tensors living in it).
    let mut slot_of: HashMap<&str, usize> = HashMap::new();
    let mut slots: Vec<(u64, usize)> = vec![(size(&g.input), 1)];
    let mut free: Vec<usize> = Vec::new();
    slot_of.insert(&g.input, 0);
    let release = |slot_of: &HashMap<&str, usize>,
                   slots: &mut Vec<(u64, usize)>,
                   free: &mut Vec<usize>,
                   name: &str| {
        if let Some(&s) = slot_of.get(name) {
            slots[s].1 -= 1;
            if slots[s].1 == 0 {
                free.push(s);
            }
        }
    };
    if !last_use.contains_key(g.input.as_str()) {
        release(&slot_of, &mut slots, &mut free, &g.input);
    }
    for (i, n) in g.nodes.iter().enumerate() {
        let out = n.output.as_str();
        if n.op.is_view() {
            let s = slot_of[n.inputs[0].as_str()];
            slots[s].1 += 1;
            slot_of.insert(out, s);
        } else {
            let need = size(out);
            // Best fit among free slots, else grow the largest, else a new one.
            free.sort_by_key(|&s| slots[s].0);
            let pick = free
                .iter()
                .position(|&s| slots[s].0 >= need)
                .or(if free.is_empty() {
                    None
                } else {
                    Some(free.len() - 1)
                });
            let s = match pick {
                Some(k) => free.remove(k),
                None => {
                    slots.push((0, 0));
                    slots.len() - 1
                }
            };
            slots[s].0 = slots[s].0.max(need);
            slots[s].1 = 1;
            slot_of.insert(out, s);
        }
        for x in n.inputs.iter().map(|s| s.as_str()).collect::<HashSet<_>>() {
            if last_use.get(x) == Some(&i) {
                release(&slot_of, &mut slots, &mut free, x);
            }
        }
        if !last_use.contains_key(out) {
            release(&slot_of, &mut slots, &mut free, out);
        }
    }
    Slots {
        of: slot_of,
        bytes: slots.into_iter().map(|(bytes, _)| bytes).collect(),
    }
}
