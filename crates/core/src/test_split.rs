//! `circleci tests split`: sharing a list of tests (files, class names) among the
//! `CIRCLE_NODE_TOTAL` nodes of a parallel job, each node taking its `CIRCLE_NODE_INDEX` share.
//! Every node computes the same split from the same inputs, so together they run every test
//! once. By name: the sorted list dealt round-robin. By weight (file size, or timings from the
//! project's earlier test results): the heaviest first, each to the node that is lightest so
//! far, ties by name and by node, so the shares come out about even.

use std::collections::BTreeMap;

/// How to weigh the tests.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitBy<'a> {
    /// By name alone.
    Name,
    /// By a weight per test (bytes, or seconds); a test without one weighs `default`.
    Weight {
        /// The known weights.
        weights: &'a BTreeMap<String, f64>,
        /// The weight of a test not in `weights`.
        default: f64,
    },
}

/// The share of node `index` of `total` (`index < total`, `total ≥ 1`) of `tests`, in the order
/// the tests were given.
pub fn share(tests: &[String], index: usize, total: usize, by: &SplitBy<'_>) -> Vec<String> {
    let total = total.max(1);
    let mut unique: Vec<&String> = tests.iter().collect();
    unique.sort();
    unique.dedup();
    let node_of: BTreeMap<&String, usize> = match by {
        SplitBy::Name => unique
            .iter()
            .enumerate()
            .map(|(i, t)| (*t, i % total))
            .collect(),
        SplitBy::Weight { weights, default } => {
            let weight = |t: &String| {
                weights
                    .get(t.as_str())
                    .copied()
                    .filter(|w| w.is_finite() && *w >= 0.0)
                    .unwrap_or(*default)
            };
            let mut heaviest: Vec<(&String, f64)> =
                unique.iter().map(|t| (*t, weight(t))).collect();
            heaviest.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            let mut load = vec![0.0f64; total];
            let mut assigned = BTreeMap::new();
            for (t, w) in heaviest {
                let lightest = (0..total)
                    .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
                    .unwrap_or(0);
                load[lightest] += w;
                assigned.insert(t, lightest);
            }
            assigned
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    tests
        .iter()
        .filter(|t| node_of.get(t) == Some(&index) && seen.insert(*t))
        .cloned()
        .collect()
}

/// The average of the known weights, for tests without one; 1 when none is known.
pub fn average(weights: &BTreeMap<String, f64>) -> f64 {
    let known: Vec<f64> = weights
        .values()
        .copied()
        .filter(|w| w.is_finite() && *w >= 0.0)
        .collect();
    if known.is_empty() {
        1.0
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("test/t{i:02}.py")).collect()
    }

    #[test]
    fn by_name_deals_the_sorted_list_round_robin() {
        let tests = vec!["c".to_owned(), "a".into(), "b".into(), "d".into()];
        assert_eq!(share(&tests, 0, 2, &SplitBy::Name), ["c", "a"]);
        assert_eq!(share(&tests, 1, 2, &SplitBy::Name), ["b", "d"]);
        assert_eq!(share(&tests, 0, 1, &SplitBy::Name), tests);
    }

    #[test]
    fn by_weight_evens_the_load() {
        let tests: Vec<String> = ["big", "m1", "m2", "s1", "s2"].map(String::from).to_vec();
        let weights: BTreeMap<String, f64> = [("big", 10.0), ("m1", 5.0), ("m2", 5.0), ("s1", 1.0)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let by = SplitBy::Weight {
            weights: &weights,
            default: average(&weights),
        };
        // Heaviest first, each to the lighter node: big (10) → 0; s2 (5.25, the average of
        // the known) → 1; m1 (5) → 1 (10.25); m2 (5) → 0 (15); s1 (1) → 1 (11.25).
        assert_eq!(share(&tests, 0, 2, &by), ["big", "m2"]);
        assert_eq!(share(&tests, 1, 2, &by), ["m1", "s1", "s2"]);
        assert_eq!(average(&BTreeMap::new()), 1.0);
    }

    proptest! {
        #[test]
        fn every_test_goes_to_exactly_one_node(n in 0usize..60, total in 1usize..9, w in proptest::collection::vec(0.0f64..100.0, 60)) {
            let tests = names(n);
            let weights: BTreeMap<String, f64> = tests.iter().cloned().zip(w).collect();
            for by in [SplitBy::Name, SplitBy::Weight { weights: &weights, default: 1.0 }] {
                let mut all: Vec<String> = (0..total).flat_map(|i| share(&tests, i, total, &by)).collect();
                all.sort();
                prop_assert_eq!(&all, &tests);
            }
        }
    }
}
