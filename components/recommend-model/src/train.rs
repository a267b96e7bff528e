//! Learning item-item weights from a binary user × item matrix.
//!
//! Every algorithm produces the same thing: for each item, a short list of `(other item, weight)`
//! so that a user's score for an item is the sum of the weights from the items in their history.

use crate::{Algorithm, Interactions};

/// Binary user × item incidence, items numbered in key order so a model does not depend on the
/// order the interactions arrived in.
pub(crate) struct Incidence {
    pub items: Vec<String>,
    pub user_items: Vec<Vec<u32>>,
    pub item_users: Vec<Vec<u32>>,
}

impl Incidence {
    pub fn new(data: &Interactions) -> Self {
        let keys = data.item_keys();
        let mut order: Vec<usize> = data.rows().iter().flat_map(|row| positive(row)).collect();
        order.sort_unstable_by_key(|&i| &keys[i]);
        order.dedup();
        let mut dense = vec![0; keys.len()];
        order.iter().enumerate().for_each(|(new, &old)| dense[old] = new as u32);
        // Users in key order too, so that floating-point sums always add up in the same order.
        let mut rows: Vec<(&str, Vec<u32>)> = data
            .users()
            .zip(data.rows())
            .map(|(user, row)| (user, positive(row).map(|i| dense[i]).collect::<Vec<_>>()))
            .filter(|(_, items)| !items.is_empty())
            .collect();
        rows.sort_unstable_by_key(|&(user, _)| user);
        let user_items: Vec<Vec<u32>> = rows.into_iter().map(|(_, items)| items).collect();
        let mut item_users = vec![Vec::new(); order.len()];
        for (u, items) in user_items.iter().enumerate() {
            items.iter().for_each(|&i| item_users[i as usize].push(u as u32));
        }
        Self { items: order.into_iter().map(|i| keys[i].clone()).collect(), user_items, item_users }
    }

    pub fn popularity(&self) -> Vec<u32> {
        self.item_users.iter().map(|u| u.len() as u32).collect()
    }
}

/// The items of a row with a positive weight.
fn positive(row: &[(u32, f32)]) -> impl Iterator<Item = usize> + '_ {
    row.iter().filter(|&&(_, w)| w > 0.0).map(|&(i, _)| i as usize)
}

/// Sparse item → item weights, one row per source item (compressed sparse rows).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Neighbours {
    pub offsets: Vec<u32>,
    pub targets: Vec<u32>,
    pub weights: Vec<f32>,
}

impl Neighbours {
    fn from_rows(rows: impl IntoIterator<Item = Vec<(u32, f32)>>) -> Self {
        let mut out = Self { offsets: vec![0], ..Self::default() };
        for row in rows {
            for (j, w) in row {
                out.targets.push(j);
                out.weights.push(w);
            }
            out.offsets.push(out.targets.len() as u32);
        }
        out
    }

    pub fn empty(items: usize) -> Self {
        Self { offsets: vec![0; items + 1], ..Self::default() }
    }

    pub fn row(&self, i: usize) -> impl Iterator<Item = (u32, f32)> + '_ {
        let range = self.offsets[i] as usize..self.offsets[i + 1] as usize;
        self.targets[range.clone()].iter().copied().zip(self.weights[range].iter().copied())
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }
}

/// Learns the neighbour lists for `algorithm`.
pub(crate) fn train(m: &Incidence, algorithm: &Algorithm) -> Neighbours {
    match *algorithm {
        Algorithm::MostPopular => Neighbours::empty(m.items.len()),
        Algorithm::ItemKnn { neighbours, shrink } => {
            let pop = m.popularity();
            co_occurrence(
                m,
                neighbours,
                |_, _| 1.0,
                |i, j, c| c / ((pop[i] as f32 * pop[j] as f32).sqrt() + shrink),
            )
        }
        Algorithm::Rp3Beta { neighbours, alpha, beta } => {
            let pop = m.popularity();
            let walk = |i: usize, u: usize| (pop[i] as f32 * m.user_items[u].len() as f32).powf(-alpha);
            let penalty: Vec<f32> = pop.iter().map(|&p| (p as f32).powf(-beta)).collect();
            co_occurrence(m, neighbours, walk, |_, j, c| c * penalty[j])
        }
        Algorithm::Ease { neighbours, lambda, max_items } => ease(m, neighbours, lambda, max_items),
    }
}

/// For each source item `i`, sums `step(i, u)` over the users `u` who played both `i` and `j`,
/// turns each sum into a weight with `weigh(i, j, sum)` and keeps the `k` largest.
fn co_occurrence(
    m: &Incidence,
    k: u32,
    step: impl Fn(usize, usize) -> f32,
    weigh: impl Fn(usize, usize, f32) -> f32,
) -> Neighbours {
    let mut acc = vec![0f32; m.items.len()];
    let mut touched = Vec::new();
    Neighbours::from_rows((0..m.items.len()).map(|i| {
        for &u in &m.item_users[i] {
            let s = step(i, u as usize);
            for &j in &m.user_items[u as usize] {
                if acc[j as usize] == 0.0 {
                    touched.push(j);
                }
                acc[j as usize] += s;
            }
        }
        let row = touched
            .iter()
            .filter(|&&j| j as usize != i)
            .map(|&j| (j, weigh(i, j as usize, acc[j as usize])))
            .collect();
        touched.drain(..).for_each(|j| acc[j as usize] = 0.0);
        top_k(row, k as usize)
    }))
}

/// EASE (Steck 2019): the item-item weights `B` that best reconstruct `X` from `X B` with an
/// L2 penalty and a zero diagonal, in closed form `B = I - P / diag(P)`, `P = (XᵀX + λI)⁻¹`.
/// The inverse is dense and cubic, so only the `max_items` most played items take part. Negative
/// weights are kept: they say that an item makes another less likely.
fn ease(m: &Incidence, k: u32, lambda: f32, max_items: u32) -> Neighbours {
    let n_items = m.items.len();
    let mut by_pop: Vec<usize> = (0..n_items).collect();
    by_pop.sort_by_key(|&i| std::cmp::Reverse(m.item_users[i].len()));
    by_pop.truncate(max_items as usize);
    by_pop.sort_unstable();
    let n = by_pop.len();
    let mut local = vec![u32::MAX; n_items];
    by_pop.iter().enumerate().for_each(|(a, &i)| local[i] = a as u32);

    let mut g = vec![0f32; n * n];
    let mut seen = Vec::new();
    for row in &m.user_items {
        seen.clear();
        seen.extend(row.iter().map(|&i| local[i as usize]).filter(|&a| a != u32::MAX));
        for &a in &seen {
            let g_row = &mut g[a as usize * n..][..n];
            seen.iter().for_each(|&b| g_row[b as usize] += 1.0);
        }
    }
    (0..n).for_each(|a| g[a * n + a] += lambda);
    sweep_upper(&mut g, n);

    // B = -P / diag(P) = -Q / diag(Q) for Q = -P.
    let q = |a: usize, b: usize| g[a.min(b) * n + a.max(b)];
    let mut rows = vec![Vec::new(); n_items];
    for (a, &i) in by_pop.iter().enumerate() {
        let row = (0..n).filter(|&b| b != a).map(|b| (by_pop[b] as u32, -q(a, b) / q(b, b))).collect();
        rows[i] = top_k(row, k as usize);
    }
    Neighbours::from_rows(rows)
}

/// Sweeps a symmetric positive definite `n × n` row-major matrix on every pivot, leaving
/// `-A⁻¹` in its upper triangle (the lower one is left stale).
///
/// Sweeping keeps the matrix symmetric, so only half of it is updated, and needs no pivoting
/// for SPD matrices (`λI` keeps ours well conditioned, so single precision is enough). Pivots
/// are swept a block at a time: sweeping a block `K` maps the rest `R` to
/// `A_RR - A_RK A_KK⁻¹ A_KR`, one pass over memory per block instead of one per pivot.
fn sweep_upper(a: &mut [f32], n: usize) {
    const BLOCK: usize = 64;
    let mut rows = Vec::with_capacity(BLOCK * n);
    for start in (0..n).step_by(BLOCK) {
        let block = start..(start + BLOCK).min(n);
        let b = block.len();
        // The block's full rows, read from the upper triangle.
        rows.clear();
        for k in block.clone() {
            rows.extend((0..n).map(|j| if j < k { a[j * n + k] } else { a[k * n + j] }));
        }
        // Their final values: the same rows swept on the block's pivots (`A_KK⁻¹ A_KR`).
        let mut swept = rows.clone();
        for (p, k) in block.clone().enumerate() {
            let d = swept[p * n + k];
            let pivot: Vec<f32> = swept[p * n..][..n].iter().map(|x| x / d).collect();
            for (_, row) in swept.chunks_exact_mut(n).enumerate().filter(|&(q, _)| q != p) {
                let f = row[k];
                row.iter_mut().zip(&pivot).for_each(|(x, &y)| *x -= f * y);
                row[k] = f / d;
            }
            swept[p * n..][..n].copy_from_slice(&pivot);
            swept[p * n + k] = -1.0 / d;
        }
        // The rest: A_RR -= A_RK (A_KK⁻¹ A_KR), upper triangle only.
        for i in (0..n).filter(|i| !block.contains(i)) {
            let row = &mut a[i * n + i..(i + 1) * n];
            // Four rows of the block at a time: a quarter of the loads and stores of `row`.
            let quads = swept.chunks_exact(4 * n);
            let rest = quads.remainder().chunks_exact(n);
            for (p, c) in quads.enumerate() {
                let f: [f32; 4] = std::array::from_fn(|q| rows[(4 * p + q) * n + i]);
                let [c0, c1, c2, c3] = std::array::from_fn(|q| &c[q * n + i..(q + 1) * n]);
                for ((((x, y0), y1), y2), y3) in row.iter_mut().zip(c0).zip(c1).zip(c2).zip(c3) {
                    *x -= f[0] * y0 + f[1] * y1 + f[2] * y2 + f[3] * y3;
                }
            }
            for (p, c) in rest.enumerate() {
                let f = rows[(b / 4 * 4 + p) * n + i];
                row.iter_mut().zip(&c[i..]).for_each(|(x, &y)| *x -= f * y);
            }
        }
        for (p, k) in block.enumerate() {
            let row = &swept[p * n..][..n];
            (0..k).for_each(|j| a[j * n + k] = row[j]);
            a[k * n + k..(k + 1) * n].copy_from_slice(&row[k..]);
        }
    }
}

/// The `k` weights of a row that matter most (largest magnitude: EASE's negative weights
/// carry information too), sorted by item id (the order rows are stored in). Weights that are
/// not finite (from nonsensical hyperparameters) are dropped.
fn top_k(mut row: Vec<(u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    row.retain(|&(_, w)| w != 0.0 && w.is_finite());
    if row.len() > k {
        row.select_nth_unstable_by(k, |a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
        row.truncate(k);
    }
    row.sort_unstable_by_key(|&(i, _)| i);
    row
}

/// The `k` highest-scoring items, best first (ties: lower item id first).
pub(crate) fn best(mut scored: Vec<(u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if scored.len() > k {
        scored.select_nth_unstable_by(k, order);
        scored.truncate(k);
    }
    scored.sort_unstable_by(order);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_inverts_across_blocks() {
        // An SPD matrix big enough for two blocks and a remainder: a Gram matrix plus a ridge.
        let n = 70;
        let x: Vec<f32> = (0..n * 30).map(|i| ((i * 7919 % 101) as f32 / 101.0).round()).collect();
        let mut a: Vec<f32> = (0..n * n)
            .map(|ij| (0..30).map(|u| x[ij / n * 30 + u] * x[ij % n * 30 + u]).sum::<f32>())
            .collect();
        (0..n).for_each(|i| a[i * n + i] += 2.0);
        let original = a.clone();
        sweep_upper(&mut a, n);
        for i in 0..n {
            for j in 0..n {
                // (A · -Q)_ij with Q read from the upper triangle.
                let product: f32 = (0..n).map(|k| -original[i * n + k] * a[k.min(j) * n + k.max(j)]).sum();
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((product - expected).abs() < 1e-3, "({i}, {j}): {product}");
            }
        }
    }

    #[test]
    fn top_k_keeps_the_largest_magnitudes_in_item_order() {
        let row = vec![(5, 0.1), (1, -0.9), (3, 0.5), (2, 0.0), (4, 0.5)];
        assert_eq!(top_k(row, 3), [(1, -0.9), (3, 0.5), (4, 0.5)]);
    }
}
