//! Choosing a unit's stimuli the way the paradigm does, and drawing units to study.
//!
//! Pure logic on numbers: the command line (`exemplar exemplars`, `exemplar sample-units`)
//! computes the activations and writes the files.
//!
//! - [`ranking`]: images ordered by activation, most activating first (ties keep the
//!   images' order); the least activating side reads the same order from its end.
//! - [`side_ranks`]: which ranks, counted from each extreme, become references and
//!   queries. With `b` batches a side takes `9·b` references (the most extreme images) and
//!   `b` queries: the next ranks ([`Queries::Next`], the paper's 181–200 with 20 batches),
//!   from a given rank ([`Queries::Rank`]), or around a percentile ([`Queries::Percentile`],
//!   the paper's harder 1st/99th, 5th/95th and 15th/85th conditions).
//! - [`fair_batches`]: the paper's split. A side's candidates are cut into 10 bins of `b`
//!   (nine of references, from the most extreme down, and one of queries); each bin is
//!   shuffled by a seeded generator; batch `i` takes the `i`-th image of every bin. The
//!   most extreme bin becomes `*_8` (the fixed first reference), the queries `*_9`.
//! - [`sample_units`]: a layer uniformly among the eligible ones, then a channel uniformly,
//!   without replacement.
//!
//! Randomness comes from [`crate::rng`], so a selection never changes with a dependency.

use std::fmt;
use std::ops::Range;

use crate::experiment::{FIXED_REFERENCE, QUERY_INDEX, REFERENCES_PER_SIDE};
use crate::rng::{hash_seed, Rng};

/// Files per side in a batch folder: the nine references and the query.
pub const FILES_PER_SIDE: usize = REFERENCES_PER_SIDE + 1;

/// The batches the paper makes per unit (180 references and 20 queries per side).
pub const PAPER_BATCHES: usize = 20;

/// Where a side's queries come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Queries {
    /// The ranks right after the references (the paper's default condition).
    Next,
    /// Consecutive ranks starting at this one (1 = the most extreme image of the side).
    Rank(usize),
    /// The ranks around this percentile, counted from each extreme: `1.0` takes queries
    /// near the 99th percentile of activations for the maximal side and near the 1st for
    /// the minimal side. Must lie in `(0, 50)`.
    Percentile(f64),
}

/// What to select for each unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spec {
    /// Batches per unit (each with 9 references and 1 query per side).
    pub batches: usize,
    /// Where the queries come from.
    pub queries: Queries,
}

impl Default for Spec {
    /// The paper: 20 batches, queries from the ranks after the 180 references.
    fn default() -> Self {
        Spec {
            batches: PAPER_BATCHES,
            queries: Queries::Next,
        }
    }
}

/// Ranks (0-based, counted from one side's extreme) that a side takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SideRanks {
    /// The most extreme `9·batches` ranks.
    pub references: Range<usize>,
    /// `batches` consecutive ranks beyond the references.
    pub queries: Range<usize>,
}

/// Why a selection cannot be made; the message names the numbers involved.
#[derive(Clone, Debug, PartialEq)]
pub enum SelectionError {
    /// Zero batches were asked for.
    NoBatches,
    /// A query rank or percentile outside what makes sense.
    BadQueries(String),
    /// The queries would fall among the references.
    QueriesAmongReferences {
        /// First query rank (1-based).
        first_query: usize,
        /// References per side.
        references: usize,
    },
    /// The folder is too small for what was asked.
    TooFewImages {
        /// Images available.
        images: usize,
        /// Batches asked for.
        batches: usize,
        /// The deepest rank (1-based) a side needs.
        deepest: usize,
        /// The most batches these images allow with the same query rule (0: none).
        max_batches: usize,
    },
    /// An activation is not a number (NaN); the index of its image.
    NotANumber(usize),
    /// More units asked for than the eligible layers have channels.
    TooFewUnits {
        /// Units asked for.
        asked: usize,
        /// Channels of all eligible layers together.
        available: usize,
    },
}

impl fmt::Display for SelectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectionError::NoBatches => write!(f, "at least one batch is needed"),
            SelectionError::BadQueries(why) => write!(f, "{why}"),
            SelectionError::QueriesAmongReferences {
                first_query,
                references,
            } => write!(
                f,
                "the queries would start at rank {first_query}, among the {references} references of each side (ranks 1..={references}); ask for fewer batches or queries further from the extremes"
            ),
            SelectionError::TooFewImages {
                images,
                batches,
                deepest,
                max_batches,
            } => {
                write!(
                    f,
                    "{batches} batches need {} references and {batches} queries per side, down to rank {deepest} from each end ({} images in all), but the folder has {images} images",
                    REFERENCES_PER_SIDE * batches,
                    2 * deepest
                )?;
                if *max_batches > 0 {
                    write!(f, "; it allows at most {max_batches} batches (--batches {max_batches})")
                } else {
                    write!(f, "; even one batch needs more images")
                }
            }
            SelectionError::NotANumber(i) => write!(f, "the activation of image {i} is NaN"),
            SelectionError::TooFewUnits { asked, available } => write!(
                f,
                "{asked} units asked for, but the eligible layers have {available} channels in all"
            ),
        }
    }
}

impl std::error::Error for SelectionError {}

/// Image indices ordered by activation, most activating first; equal activations keep
/// the images' order. Refuses NaN.
pub fn ranking(activations: &[f32]) -> Result<Vec<usize>, SelectionError> {
    if let Some(i) = activations.iter().position(|a| a.is_nan()) {
        return Err(SelectionError::NotANumber(i));
    }
    let mut order: Vec<usize> = (0..activations.len()).collect();
    // A stable sort: ties stay in index order.
    order.sort_by(|&a, &b| activations[b].total_cmp(&activations[a]));
    Ok(order)
}

/// The ranks each side takes among `images` images (the same on both sides), or why it
/// cannot be done. Both sides together must not overlap: `2 × deepest rank ≤ images`.
pub fn side_ranks(images: usize, spec: &Spec) -> Result<SideRanks, SelectionError> {
    let ranks = unchecked_ranks(images, spec)?;
    if ranks.queries.start < ranks.references.end {
        return Err(SelectionError::QueriesAmongReferences {
            first_query: ranks.queries.start + 1,
            references: ranks.references.end,
        });
    }
    if 2 * ranks.queries.end > images {
        let max_batches = (1..=images / (2 * FILES_PER_SIDE))
            .rev()
            .find(|&b| {
                unchecked_ranks(
                    images,
                    &Spec {
                        batches: b,
                        ..*spec
                    },
                )
                .is_ok_and(|r| r.queries.start >= r.references.end && 2 * r.queries.end <= images)
            })
            .unwrap_or(0);
        return Err(SelectionError::TooFewImages {
            images,
            batches: spec.batches,
            deepest: ranks.queries.end,
            max_batches,
        });
    }
    Ok(ranks)
}

fn unchecked_ranks(images: usize, spec: &Spec) -> Result<SideRanks, SelectionError> {
    let b = spec.batches;
    if b == 0 {
        return Err(SelectionError::NoBatches);
    }
    let references = 0..REFERENCES_PER_SIDE * b;
    let start = match spec.queries {
        Queries::Next => references.end,
        Queries::Rank(0) => {
            return Err(SelectionError::BadQueries(
                "query ranks count from 1 (the most extreme image)".into(),
            ))
        }
        Queries::Rank(r) => r - 1,
        Queries::Percentile(p) if !(p > 0.0 && p < 50.0) => {
            return Err(SelectionError::BadQueries(format!(
                "the query percentile counts from each end and must lie strictly between 0 and 50, got {p}"
            )))
        }
        Queries::Percentile(p) => {
            // The image with a fraction p of the folder more extreme than itself, and the
            // b ranks centred on it.
            let centre = (p / 100.0 * images as f64).round() as usize;
            centre.saturating_sub(b / 2)
        }
    };
    Ok(SideRanks {
        references,
        queries: start..start + b,
    })
}

/// Which side of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The least activating images (`min_*`).
    Min,
    /// The most activating images (`max_*`).
    Max,
}

impl Side {
    /// `min` or `max`, as in the file names.
    pub fn name(self) -> &'static str {
        match self {
            Side::Min => "min",
            Side::Max => "max",
        }
    }
}

/// One side of one batch: `files[k]` is what `{side}_{k}` holds (ranks from the side's
/// extreme in [`fair_batches`], image indices in [`select`]).
pub type BatchSide = [usize; FILES_PER_SIDE];

/// The paper's fair batches for one side: `result[i]` is batch `i`. File `k < 9` comes
/// from reference bin `8 − k` counted from the extreme (so `*_8` from the most extreme
/// bin); file 9 from the queries. Each bin is shuffled by its own generator derived
/// from `seed` and the side.
pub fn fair_batches(ranks: &SideRanks, side: Side, seed: u64) -> Vec<BatchSide> {
    let b = ranks.queries.len();
    let bins: Vec<Vec<usize>> = (0..FILES_PER_SIDE)
        .map(|file| {
            let range = if file == QUERY_INDEX {
                ranks.queries.clone()
            } else {
                let from_extreme = FIXED_REFERENCE - file;
                let start = ranks.references.start + from_extreme * b;
                start..start + b
            };
            let mut bin: Vec<usize> = range.collect();
            Rng::derive(seed, &format!("fair-batches/{}/{file}", side.name())).shuffle(&mut bin);
            bin
        })
        .collect();
    (0..b)
        .map(|i| std::array::from_fn(|file| bins[file][i]))
        .collect()
}

/// One batch folder of a unit, as image indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectedBatch {
    /// `min_0..min_9`.
    pub min: BatchSide,
    /// `max_0..max_9`.
    pub max: BatchSide,
}

/// A unit's batches from its activations over a folder of images (indices into
/// `activations`): [`ranking`], [`side_ranks`] and [`fair_batches`] together.
pub fn select(
    activations: &[f32],
    spec: &Spec,
    seed: u64,
) -> Result<Vec<SelectedBatch>, SelectionError> {
    let order = ranking(activations)?;
    let ranks = side_ranks(order.len(), spec)?;
    // The least activating side counts from the other end of the same order, so the two
    // sides never share an image, ties included.
    let n = order.len();
    let max = fair_batches(&ranks, Side::Max, seed);
    let min = fair_batches(&ranks, Side::Min, seed);
    Ok(max
        .iter()
        .zip(&min)
        .map(|(mx, mn)| SelectedBatch {
            max: mx.map(|r| order[r]),
            min: mn.map(|r| order[n - 1 - r]),
        })
        .collect())
}

/// The seed of one unit's fair batches, so the units of one run are shuffled
/// independently and each can be redone alone.
pub fn unit_seed(seed: u64, layer: &str, channel: usize) -> u64 {
    seed ^ hash_seed(&format!("{layer}/{channel}"))
}

/// Draws `count` distinct units: each draw takes a layer uniformly among the layers that
/// still have an undrawn channel, then one of its undrawn channels uniformly. `channels[l]`
/// is layer `l`'s channel count; the result is `(layer index, channel)` in draw order.
/// Without replacement, so no unit is studied twice; a layer runs out only when all its
/// channels are drawn.
pub fn sample_units(
    channels: &[usize],
    count: usize,
    seed: u64,
) -> Result<Vec<(usize, usize)>, SelectionError> {
    let available: usize = channels.iter().sum();
    if count > available {
        return Err(SelectionError::TooFewUnits {
            asked: count,
            available,
        });
    }
    let mut rng = Rng::derive(seed, "sample-units");
    let mut left: Vec<Vec<usize>> = channels.iter().map(|&c| (0..c).collect()).collect();
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let open: Vec<usize> = (0..left.len()).filter(|&l| !left[l].is_empty()).collect();
        let layer = open[rng.below(open.len() as u64) as usize];
        let pick = rng.below(left[layer].len() as u64) as usize;
        // Keeps the remaining channels in order, so the draw depends on nothing but the seed.
        out.push((layer, left[layer].remove(pick)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(batches: usize, queries: Queries) -> Spec {
        Spec { batches, queries }
    }

    #[test]
    fn paper_ranks_with_a_full_dataset() {
        let r = side_ranks(1_281_167, &Spec::default()).unwrap();
        assert_eq!(r.references, 0..180);
        assert_eq!(r.queries, 180..200); // ranks 181–200, 1-based
                                         // 1st/99th percentile: 1 % of 1,281,167 is 12,812 images more extreme; 20 ranks around it.
        let p = side_ranks(1_281_167, &spec(20, Queries::Percentile(1.0))).unwrap();
        assert_eq!(p.queries, 12_802..12_822);
        let p = side_ranks(1_281_167, &spec(20, Queries::Percentile(15.0))).unwrap();
        assert_eq!(p.queries, 192_165..192_185);
    }

    #[test]
    fn rank_and_percentile_modes_on_a_small_folder() {
        assert_eq!(
            side_ranks(60, &spec(3, Queries::Next)).unwrap(),
            SideRanks {
                references: 0..27,
                queries: 27..30
            }
        );
        assert_eq!(
            side_ranks(60, &spec(2, Queries::Rank(21))).unwrap().queries,
            20..22
        );
        // 40 % of 60 = 24 images more extreme; two queries centred there.
        assert_eq!(
            side_ranks(60, &spec(2, Queries::Percentile(40.0)))
                .unwrap()
                .queries,
            23..25
        );
    }

    #[test]
    fn refusals_name_the_numbers() {
        let e = side_ranks(60, &spec(4, Queries::Next)).unwrap_err();
        assert_eq!(
            e,
            SelectionError::TooFewImages {
                images: 60,
                batches: 4,
                deepest: 40,
                max_batches: 3
            }
        );
        let text = e.to_string();
        assert!(
            text.contains("36 references and 4 queries per side"),
            "{text}"
        );
        assert!(text.contains("80 images in all"), "{text}");
        assert!(text.contains("has 60 images"), "{text}");
        assert!(text.contains("--batches 3"), "{text}");
        assert_eq!(
            side_ranks(60, &spec(2, Queries::Rank(18))).unwrap_err(),
            SelectionError::QueriesAmongReferences {
                first_query: 18,
                references: 18
            }
        );
        // Rank 25 for 2 batches goes down to rank 26: 52 images are enough, 51 are not.
        assert!(side_ranks(52, &spec(2, Queries::Rank(25))).is_ok());
        assert!(matches!(
            side_ranks(51, &spec(2, Queries::Rank(25))),
            Err(SelectionError::TooFewImages { max_batches: 1, .. })
        ));
        assert_eq!(
            side_ranks(100, &spec(0, Queries::Next)),
            Err(SelectionError::NoBatches)
        );
        assert!(matches!(
            side_ranks(100, &spec(1, Queries::Percentile(50.0))),
            Err(SelectionError::BadQueries(_))
        ));
        assert!(matches!(
            side_ranks(100, &spec(1, Queries::Rank(0))),
            Err(SelectionError::BadQueries(_))
        ));
        let tiny = side_ranks(19, &spec(1, Queries::Next)).unwrap_err();
        assert!(tiny.to_string().contains("even one batch"), "{tiny}");
    }

    #[test]
    fn ranking_is_descending_with_ties_in_order_and_refuses_nan() {
        assert_eq!(ranking(&[0.5, 2.0, 0.5, -1.0]).unwrap(), vec![1, 0, 2, 3]);
        assert_eq!(
            ranking(&[0.0, f32::NAN]),
            Err(SelectionError::NotANumber(1))
        );
    }

    #[test]
    fn fair_batches_have_the_paper_structure() {
        let ranks = side_ranks(1000, &Spec::default()).unwrap();
        let batches = fair_batches(&ranks, Side::Max, 42);
        assert_eq!(batches.len(), 20);
        for file in 0..FILES_PER_SIDE {
            // Each file index of every batch comes from one bin, each bin used exactly once.
            let mut taken: Vec<usize> = batches.iter().map(|b| b[file]).collect();
            taken.sort();
            let want: Vec<usize> = if file == QUERY_INDEX {
                (180..200).collect()
            } else {
                let bin = FIXED_REFERENCE - file;
                (bin * 20..bin * 20 + 20).collect()
            };
            assert_eq!(taken, want, "file {file}");
        }
        // *_8 holds the most extreme twenty.
        assert!(batches.iter().all(|b| b[FIXED_REFERENCE] < 20));
        // Disjoint: 200 distinct ranks in all.
        let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all, (0..200).collect::<Vec<_>>());
        // Seeded: the same seed gives the same batches, another seed and the other side others.
        assert_eq!(batches, fair_batches(&ranks, Side::Max, 42));
        assert_ne!(batches, fair_batches(&ranks, Side::Max, 43));
        assert_ne!(batches, fair_batches(&ranks, Side::Min, 42));
    }

    #[test]
    fn fair_batches_golden() {
        let ranks = side_ranks(60, &spec(3, Queries::Next)).unwrap();
        // Bins of three: file 8 ← ranks 0..3, file 7 ← 3..6, …, file 0 ← 24..27, file 9 ← 27..30.
        assert_eq!(fair_batches(&ranks, Side::Max, 7), GOLDEN_MAX);
        assert_eq!(fair_batches(&ranks, Side::Min, 7), GOLDEN_MIN);
    }

    const GOLDEN_MAX: [BatchSide; 3] = [
        [25, 23, 18, 15, 12, 11, 7, 4, 1, 29],
        [24, 21, 19, 17, 13, 10, 6, 3, 0, 28],
        [26, 22, 20, 16, 14, 9, 8, 5, 2, 27],
    ];
    const GOLDEN_MIN: [BatchSide; 3] = [
        [24, 21, 18, 16, 14, 11, 8, 3, 2, 28],
        [26, 22, 19, 15, 13, 10, 7, 5, 1, 29],
        [25, 23, 20, 17, 12, 9, 6, 4, 0, 27],
    ];

    #[test]
    fn select_maps_ranks_to_images_from_both_ends() {
        // Image i has activation (i * 7) mod 60: a permutation, so ranks are known.
        let acts: Vec<f32> = (0..60).map(|i| ((i * 7) % 60) as f32).collect();
        let image_of_value = |v: usize| (0..60).find(|&i| (i * 7) % 60 == v).unwrap();
        let batches = select(&acts, &spec(3, Queries::Next), 1).unwrap();
        let ranks = side_ranks(60, &spec(3, Queries::Next)).unwrap();
        let max = fair_batches(&ranks, Side::Max, 1);
        let min = fair_batches(&ranks, Side::Min, 1);
        for (i, b) in batches.iter().enumerate() {
            for f in 0..FILES_PER_SIDE {
                assert_eq!(b.max[f], image_of_value(59 - max[i][f]));
                assert_eq!(b.min[f], image_of_value(min[i][f]));
            }
        }
        // Ties: the earlier image counts as the more activating, so the sides stay disjoint.
        let flat = vec![1.0f32; 20];
        let b = select(&flat, &spec(1, Queries::Next), 0).unwrap();
        assert_eq!(b[0].max[QUERY_INDEX], 9);
        assert_eq!(b[0].min[QUERY_INDEX], 10);
        assert_eq!(b[0].max[FIXED_REFERENCE], 0);
        assert_eq!(b[0].min[FIXED_REFERENCE], 19);
    }

    #[test]
    fn units_are_distinct_seeded_and_layer_first() {
        let channels = [2, 50, 0, 3];
        let all = sample_units(&channels, 55, 9).unwrap();
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 55);
        assert!(all.iter().all(|&(l, c)| c < channels[l]));
        assert_eq!(all[..10], sample_units(&channels, 10, 9).unwrap()[..]);
        assert_ne!(
            sample_units(&channels, 10, 9).unwrap(),
            sample_units(&channels, 10, 10).unwrap()
        );
        assert_eq!(
            sample_units(&channels, 56, 9),
            Err(SelectionError::TooFewUnits {
                asked: 56,
                available: 55
            })
        );
        // A layer is drawn uniformly whatever its width: over many seeds the two-channel
        // layer gets about a third of the first draws, not 2/55.
        let first_small = (0..3000)
            .filter(|&s| sample_units(&channels, 1, s).unwrap()[0].0 == 0)
            .count();
        assert!((850..1150).contains(&first_small), "{first_small}");
        assert_eq!(sample_units(&channels, 5, 9).unwrap(), GOLDEN_UNITS);
    }

    const GOLDEN_UNITS: [(usize, usize); 5] = [(0, 0), (3, 1), (1, 4), (3, 2), (1, 47)];
}
