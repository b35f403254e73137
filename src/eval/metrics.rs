//! IR metrics, named and defined as in ir_measures / trec_eval: relevance is `rel > 0`, nDCG
//! gain is `rel` with a `1/log2(rank+1)` discount, AP runs over the whole ranked list.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Per-query metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryMetrics {
    /// 1 if a relevant entry is ranked first.
    #[serde(rename = "Success@1")]
    pub success_1: f64,
    /// 1 if a relevant entry is in the top 3.
    #[serde(rename = "Success@3")]
    pub success_3: f64,
    /// 1 if a relevant entry is in the top 5.
    #[serde(rename = "Success@5")]
    pub success_5: f64,
    /// Reciprocal rank of the first relevant entry within the top 10.
    #[serde(rename = "RR@10")]
    pub rr_10: f64,
    /// nDCG over the top 10 with graded gains.
    #[serde(rename = "nDCG@10")]
    pub ndcg_10: f64,
    /// Average precision over the whole ranking.
    #[serde(rename = "AP")]
    pub ap: f64,
    /// Share of the relevant entries found in the top 5.
    #[serde(rename = "R@5")]
    pub r_5: f64,
}

/// Names in the order reports print them.
pub const NAMES: [&str; 7] = [
    "Success@1",
    "Success@3",
    "Success@5",
    "RR@10",
    "nDCG@10",
    "AP",
    "R@5",
];

impl QueryMetrics {
    /// Values in [`NAMES`] order.
    pub fn values(&self) -> [f64; 7] {
        [
            self.success_1,
            self.success_3,
            self.success_5,
            self.rr_10,
            self.ndcg_10,
            self.ap,
            self.r_5,
        ]
    }

    fn from_values(v: [f64; 7]) -> QueryMetrics {
        QueryMetrics {
            success_1: v[0],
            success_3: v[1],
            success_5: v[2],
            rr_10: v[3],
            ndcg_10: v[4],
            ap: v[5],
            r_5: v[6],
        }
    }

    /// The mean of each metric over `all` (zeros when empty).
    pub fn mean(all: &[QueryMetrics]) -> QueryMetrics {
        let mut sum = [0.0; 7];
        for m in all {
            for (s, v) in sum.iter_mut().zip(m.values()) {
                *s += v;
            }
        }
        let n = all.len().max(1) as f64;
        QueryMetrics::from_values(sum.map(|s| s / n))
    }
}

/// 1-based rank of the first relevant entry, if any.
pub fn first_relevant_rank(rels: &HashMap<String, i32>, ranked: &[String]) -> Option<usize> {
    ranked
        .iter()
        .position(|d| rels.get(d).is_some_and(|&r| r > 0))
        .map(|i| i + 1)
}

/// Scores one ranking against one query's graded judgements.
pub fn score(rels: &HashMap<String, i32>, ranked: &[String]) -> QueryMetrics {
    let gain = |d: &String| rels.get(d).copied().filter(|&r| r > 0).unwrap_or(0) as f64;
    let n_rel = rels.values().filter(|&&r| r > 0).count();
    if n_rel == 0 {
        return QueryMetrics::default();
    }
    let first = first_relevant_rank(rels, ranked);
    let success = |k: usize| {
        if first.is_some_and(|r| r <= k) {
            1.0
        } else {
            0.0
        }
    };
    let rr_10 = first.filter(|&r| r <= 10).map_or(0.0, |r| 1.0 / r as f64);
    let discount = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, d)| gain(d) * discount(i))
        .sum();
    let mut ideal: Vec<f64> = rels
        .values()
        .filter(|&&r| r > 0)
        .map(|&r| r as f64)
        .collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, g)| g * discount(i))
        .sum();
    let mut found = 0usize;
    let mut ap = 0.0;
    for (i, d) in ranked.iter().enumerate() {
        if gain(d) > 0.0 {
            found += 1;
            ap += found as f64 / (i + 1) as f64;
        }
    }
    let in_top5 = ranked.iter().take(5).filter(|d| gain(d) > 0.0).count();
    QueryMetrics {
        success_1: success(1),
        success_3: success(3),
        success_5: success(5),
        rr_10,
        ndcg_10: if idcg > 0.0 { dcg / idcg } else { 0.0 },
        ap: ap / n_rel as f64,
        r_5: in_top5 as f64 / n_rel as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rels(pairs: &[(&str, i32)]) -> HashMap<String, i32> {
        pairs.iter().map(|(d, r)| (d.to_string(), *r)).collect()
    }

    fn ranked(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hand_computed_values() {
        // Relevant: a (2), c (1); d judged non-relevant. Ranking: b a d c.
        let m = score(
            &rels(&[("a", 2), ("c", 1), ("d", 0)]),
            &ranked(&["b", "a", "d", "c"]),
        );
        assert_eq!(m.success_1, 0.0);
        assert_eq!(m.success_3, 1.0);
        assert_eq!(m.rr_10, 0.5);
        // DCG = 2/log2(3) + 1/log2(5); IDCG = 2/1 + 1/log2(3)
        let dcg = 2.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 2.0 + 1.0 / 3f64.log2();
        assert!((m.ndcg_10 - dcg / idcg).abs() < 1e-12);
        // AP = (1/2 + 2/4) / 2
        assert!((m.ap - 0.5).abs() < 1e-12);
        assert!((m.r_5 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn nothing_found_scores_zero_and_no_relevant_is_not_scored() {
        assert_eq!(
            score(&rels(&[("a", 1)]), &ranked(&["x", "y"])),
            QueryMetrics::default()
        );
        assert_eq!(
            score(&rels(&[("a", 0)]), &ranked(&["a"])),
            QueryMetrics::default()
        );
    }
}
