//! The differential fuzz: mutated corpus files through sifbake's library parser (in this
//! process) and SingularityCE's (one defparse process for every case).
//!
//! Seeded and deterministic: the same cases on every run and every machine. For exploration,
//! `SIFBAKE_FUZZ_SEED` and `SIFBAKE_FUZZ_CASES` change the seed and the number of cases.

use std::collections::BTreeMap;
use std::time::Instant;

use super::cases::{Expect, keep, kept};
use super::mutate::{Rng, mutate};
use super::oracle::Defparse;
use super::reduce::reduce;
use super::{corpus_defs, corpus_files, defparse, judge};

const SEED: u64 = 0x51fb_a4e0_0d3f_0001;
const CASES: usize = 20_000;
/// Unexplained findings reduced per run: each costs a few hundred oracle round trips, and
/// the first few are enough to act on.
const REDUCE_AT_MOST: usize = 12;

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

#[test]
fn sifbake_agrees_with_singularityce_on_mutated_corpus_files() {
    let (Some(binary), Some(defs)) = (defparse(), corpus_defs()) else {
        return;
    };
    let started = Instant::now();
    let seed = env_number("SIFBAKE_FUZZ_SEED").unwrap_or(SEED);
    let count = env_number("SIFBAKE_FUZZ_CASES").map_or(CASES, |n| n as usize);
    let seeds: Vec<String> = corpus_files(&defs)
        .into_iter()
        .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
        .collect();
    assert!(!seeds.is_empty(), "an empty corpus at {}", defs.display());

    let mut rng = Rng::new(seed);
    let cases: Vec<String> = (0..count)
        .map(|_| {
            let base = rng.pick(&seeds);
            mutate(&mut rng, base)
        })
        .collect();

    let mut oracle = Defparse::start(&binary);
    let (mut accepted, mut rejected) = (0_usize, 0_usize);
    // Intended differences by class: (how many, the first case's index).
    let mut intended: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    // Unexplained disagreements by kind: (how many, the first case's index).
    let mut unexplained: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    oracle.ask_all(&cases, |index, answer| {
        let verdict = judge(&cases[index], &answer);
        match (verdict.agrees(), verdict.intended) {
            (true, _) if verdict.sifbake_accepts => accepted += 1,
            (true, _) => rejected += 1,
            (false, Some(class)) => intended.entry(class).or_insert((0, index)).0 += 1,
            (false, None) => {
                let kind = verdict.kind().unwrap_or_default();
                unexplained.entry(kind).or_insert((0, index)).0 += 1;
            }
        }
    });
    let compared = started.elapsed();

    // An intended difference without its kept case is a finding too: it needs explaining.
    let kept = kept();
    let undocumented = intended.iter().filter(|(class, _)| {
        !kept
            .iter()
            .any(|(_, _, expect)| matches!(expect, Some(Expect::Intended(c)) if c == *class))
    });
    let to_reduce: Vec<(String, usize, usize)> = unexplained
        .iter()
        .map(|(kind, (times, index))| (kind.clone(), *times, *index))
        .chain(undocumented.map(|(class, (times, index))| ((*class).to_owned(), *times, *index)))
        .take(REDUCE_AT_MOST)
        .collect();
    let mut findings = Vec::new();
    for (kind, times, index) in &to_reduce {
        let same = |candidate: &str, oracle: &mut Defparse| {
            let verdict = judge(candidate, &oracle.ask(candidate));
            match verdict.intended {
                Some(class) => class == kind,
                None => verdict.kind().as_deref() == Some(kind),
            }
        };
        let reduced = reduce(&cases[*index], |candidate| same(candidate, &mut oracle));
        let verdict = judge(&reduced, &oracle.ask(&reduced));
        let name = keep(kind, &reduced);
        findings.push(format!(
            "{kind}: {times} cases, first #{index}, kept as tests/defparse-cases/{name}.def:\n{reduced}\n    {}",
            verdict.differences.join("\n    ")
        ));
    }

    let disagreeing: usize = unexplained.values().map(|(times, _)| times).sum();
    println!(
        "fuzz: seed {seed:#x}, {count} cases from {} corpus files in {:.1?} ({:.1?} with reduction): \
         {accepted} accepted and {rejected} rejected by both; intended differences {intended:?}; \
         {disagreeing} unexplained disagreements",
        seeds.len(),
        compared,
        started.elapsed(),
    );
    assert!(
        findings.is_empty(),
        "{disagreeing} unexplained disagreements with SingularityCE in {} kinds, {} intended \
         differences without a kept case:\n{}",
        unexplained.len(),
        to_reduce.len() - unexplained.len().min(REDUCE_AT_MOST),
        findings.join("\n\n")
    );
}
