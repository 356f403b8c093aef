//! The emulated build: what runs between submission and the final status.
//!
//! It reads the definition with the emulator's own reader, checks `Bootstrap: library` bases
//! against the library and `%files` sources against the uploaded context, spends the
//! requested duration streaming the requested amount of log, enforces the maximum build
//! duration, then writes a deterministic SIF and publishes it. Every log says the build is
//! emulated. Failures end with `isComplete: true`, no image, and a log line saying why.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::model::{Build, Outcome};
use crate::buildctx::{list_paths, normalise};
use crate::counters::Counter;
use crate::deffile::{self, Definition};
use crate::directives::{self, Directives};
use crate::ids::hex;
use crate::library::{LibraryRef, now_unix, parse_destination, parse_source};
use crate::sif;
use crate::state::AppState;
use crate::timefmt::go_duration;

/// The first line of every emulated build log.
pub const EMULATED_LINE: &str =
    "INFO:    Emulated build by scs-emulator: no container was actually built\n";

/// Size of one chunk of filler log.
const LOG_CHUNK: u64 = 64 * 1024;

/// Why a build stopped early.
enum Stop {
    /// A check failed; the message is logged as `FATAL:`.
    Fatal(String),
    /// The maximum build duration passed.
    Timeout,
    /// `_cancel` was called.
    Cancelled,
    /// The emulator is shutting down.
    Shutdown,
}

/// Returns `instant + duration`, saturating at about thirty years: absurd durations from
/// flags or directives must not overflow `Instant` and panic the build task.
fn later(instant: Instant, duration: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    instant.checked_add(duration.min(FAR)).unwrap_or(instant)
}

/// Runs a build to its end and records the outcome.
pub async fn run(state: AppState, build: Arc<Build>) {
    let started = Instant::now();
    build.mark_started(now_unix());
    build.append(EMULATED_LINE);
    build.append("INFO:    Starting build...\n");
    // The service's limit is not the client's: say whose it is, so a log read next to a
    // client's shorter timeout does not suggest the build may run this long.
    build.append(format!(
        "INFO:    Setting maximum build duration to {} (the build service's own limit; the client may cancel sooner)\n",
        go_duration(state.settings.max_build_duration)
    ));
    let deadline = later(started, state.settings.max_build_duration);
    let result = execute(&state, &build, deadline).await;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(stop) => {
            match stop {
                Stop::Fatal(message) => build.append(format!("FATAL:   {message}\n")),
                Stop::Timeout => {
                    let limit = go_duration(state.settings.max_build_duration);
                    build.append(format!(
                        "Build {} exceeded max build time ({limit})\n",
                        build.id
                    ));
                    build.append(format!(
                        "Build {} cancelled: exceeded max build time ({limit})\n",
                        build.id
                    ));
                }
                Stop::Cancelled => {
                    state.counters.bump(Counter::BuildsCancelled);
                    build.append(format!(
                        "Build {} cancelled: cancel requested by client\n",
                        build.id
                    ));
                }
                Stop::Shutdown => {
                    build.append(format!(
                        "Build {} cancelled: emulator shutting down\n",
                        build.id
                    ));
                }
            }
            Outcome::Failed
        }
    };
    build.finish(outcome, now_unix(), |outcome| {
        state.counters.bump(match outcome {
            Outcome::Succeeded { .. } => Counter::BuildsSucceeded,
            Outcome::Failed => Counter::BuildsFailed,
        });
    });
}

/// Waits until `until`, unless the build is cancelled, times out or the emulator stops.
async fn wait_until(
    state: &AppState,
    build: &Build,
    until: Instant,
    deadline: Instant,
) -> Result<(), Stop> {
    let timed_out = until > deadline;
    // Biased, the client's cancel first: a cancel answered before a shutdown began must be
    // counted as a cancel even when the task first wakes up after both (an unbiased select
    // picks at random, and tests read the counters right after shutting down).
    tokio::select! {
        biased;
        () = build.cancel.cancelled() => Err(Stop::Cancelled),
        () = state.shutdown.cancelled() => Err(Stop::Shutdown),
        () = tokio::time::sleep_until(until.min(deadline)) => {
            if timed_out { Err(Stop::Timeout) } else { Ok(()) }
        }
    }
}

async fn execute(state: &AppState, build: &Build, deadline: Instant) -> Result<Outcome, Stop> {
    let text = String::from_utf8(build.request.definition.clone())
        .map_err(|_| Stop::Fatal("definition is not valid UTF-8".to_owned()))?;
    let mut directives = directives::parse(&text)
        .map_err(|error| Stop::Fatal(format!("invalid `# emulator:` directive: {error}")))?;
    if let Some(overrides) = &build.request.overrides {
        build.append(format!(
            "INFO:    Build shaped by the emulator's fault injection: {overrides:?}\n"
        ));
        directives = Directives {
            duration: overrides.duration.or(directives.duration),
            fail: overrides.fail.clone().or(directives.fail),
            log_bytes: overrides.log_bytes.or(directives.log_bytes),
        };
    }
    let definition = deffile::parse(&text);
    if definition.stages.is_empty() || definition.stages.iter().any(|s| s.bootstrap.is_none()) {
        return Err(Stop::Fatal(
            "definition has no `Bootstrap:` header, nothing to build".to_owned(),
        ));
    }
    check_bases(state, build, &definition)?;
    check_files(state, build, &definition)?;
    emulate_work(state, build, &directives, deadline).await?;
    if let Some(reason) = directives.fail {
        return Err(Stop::Fatal(format!("While performing build: {reason}")));
    }
    publish(state, build).await
}

/// Checks every stage's bootstrap source.
fn check_bases(state: &AppState, build: &Build, definition: &Definition) -> Result<(), Stop> {
    let library_url = build.request.library_url.trim_end_matches('/');
    if !library_url.is_empty() && library_url != state.base_url {
        build.append(format!(
            "INFO:    libraryURL {library_url} is not this emulator; library bases are looked up here\n"
        ));
    }
    for (index, stage) in definition.stages.iter().enumerate() {
        let bootstrap = stage.bootstrap.as_deref().unwrap_or_default();
        let from = stage.from.as_deref().unwrap_or_default();
        let number = index + 1;
        match bootstrap {
            "library" => {
                if from.is_empty() {
                    return Err(Stop::Fatal(format!(
                        "stage {number}: `Bootstrap: library` needs a `From:` line"
                    )));
                }
                let base = parse_source(from)
                    .map_err(|message| Stop::Fatal(format!("stage {number}: {message}")))?;
                check_library_base(state, build, &base, number)?;
            }
            "localimage" => {
                return Err(Stop::Fatal(format!(
                    "stage {number}: `Bootstrap: localimage` cannot be built remotely"
                )));
            }
            other => build.append(format!(
                "INFO:    Stage {number}: `Bootstrap: {other}` from `{from}` is not fetched (emulated build)\n"
            )),
        }
    }
    Ok(())
}

fn check_library_base(
    state: &AppState,
    build: &Build,
    base: &LibraryRef,
    number: usize,
) -> Result<(), Stop> {
    let display = format!("library://{}:{}", base.path(), base.tag());
    let library = state.library();
    if library.entity_by_name(&base.entity).is_none() && !state.settings.strict_bases {
        build.append(format!(
            "INFO:    Stage {number}: base {display} is under an entity this emulator does not hold: treated as an external public image\n"
        ));
        return Ok(());
    }
    match library.resolve(base, &build.request.arch) {
        Ok(image) if image.uploaded => {
            build.append(format!(
                "INFO:    Stage {number}: base {display} found in the library ({})\n",
                image.hash
            ));
            Ok(())
        }
        _ => Err(Stop::Fatal(format!(
            "stage {number}: base image {display} ({}) does not exist in the library",
            build.request.arch
        ))),
    }
}

/// Checks that every `%files` source is in the uploaded context.
fn check_files(state: &AppState, build: &Build, definition: &Definition) -> Result<(), Stop> {
    let stage_names: BTreeSet<&str> = definition
        .stages
        .iter()
        .filter_map(|stage| stage.name.as_deref())
        .collect();
    let mut sources = Vec::new();
    for stage in &definition.stages {
        for section in &stage.files {
            if section.is_stage_copy() {
                let from = section.args[1].as_str();
                if !stage_names.contains(from) {
                    return Err(Stop::Fatal(format!(
                        "`%files from {from}`: no stage is named `{from}`"
                    )));
                }
                continue;
            }
            sources.extend(
                section
                    .entries
                    .iter()
                    .filter(|entry| !entry.source.is_empty()),
            );
        }
    }
    if sources.is_empty() {
        return Ok(());
    }
    let Some(digest) = build.request.context_digest.as_deref() else {
        return Err(Stop::Fatal(format!(
            "%files source `{}` (line {}) needs a build context, but the request has no contextDigest",
            sources[0].source, sources[0].line
        )));
    };
    let archive = state
        .contexts
        .get(digest)
        .ok_or_else(|| Stop::Fatal(format!("build context {digest} is no longer available")))?;
    let paths = list_paths(&archive).map_err(Stop::Fatal)?;
    for entry in &sources {
        let absolute = if entry.source.starts_with('/') {
            entry.source.clone()
        } else {
            format!("{}/{}", build.request.working_dir, entry.source)
        };
        let wanted = normalise(&absolute);
        if !context_has(&paths, &wanted) {
            return Err(Stop::Fatal(format!(
                "%files source `{}` (line {}, resolved to /{wanted}) is not in the uploaded build context",
                entry.source, entry.line
            )));
        }
    }
    build.append(format!(
        "INFO:    %files: {} source(s) found in build context {digest}\n",
        sources.len()
    ));
    Ok(())
}

/// Returns true if the context holds `wanted` as a file, a directory, or a glob match.
///
/// A source is a glob when it has a metacharacter of Go's `path.Match` (`*`, `?`, `[`, `\\`):
/// the clients expand it with `fs.Glob` (scs-build-client `client/archive.go`, `WriteFiles`),
/// so `data/[ab].txt` archives `data/a.txt`, and the build must find it there.
fn context_has(paths: &BTreeSet<String>, wanted: &str) -> bool {
    if wanted.contains(['*', '?', '[', '\\']) {
        return paths.iter().any(|path| glob_matches(wanted, path));
    }
    paths.contains(wanted)
        || paths
            .range(format!("{wanted}/")..)
            .next()
            .is_some_and(|path| path.starts_with(&format!("{wanted}/")))
}

/// Matches a path against a glob segment by segment, as `path.Match` does: no
/// metacharacter matches a `/`.
fn glob_matches(pattern: &str, path: &str) -> bool {
    let pattern_parts: Vec<Vec<char>> = pattern.split('/').map(|p| p.chars().collect()).collect();
    let path_parts: Vec<Vec<char>> = path.split('/').map(|p| p.chars().collect()).collect();
    pattern_parts.len() == path_parts.len()
        && pattern_parts
            .iter()
            .zip(&path_parts)
            .all(|(p, s)| segment_matches(p, s))
}

/// `path.Match` on one segment: `*`, `?`, `[class]` (with `^` negation and `a-z` ranges)
/// and `\\` escapes. A malformed pattern matches nothing, as `fs.Glob` then fails.
fn segment_matches(pattern: &[char], text: &[char]) -> bool {
    let Some((&first, rest)) = pattern.split_first() else {
        return text.is_empty();
    };
    let next = text.split_first();
    match first {
        '*' => {
            segment_matches(rest, text)
                || next.is_some_and(|(_, text_rest)| segment_matches(pattern, text_rest))
        }
        '?' => next.is_some_and(|(_, text_rest)| segment_matches(rest, text_rest)),
        '[' => next.is_some_and(|(&c, text_rest)| {
            class_matches(rest, c)
                .is_some_and(|(hit, after)| hit && segment_matches(after, text_rest))
        }),
        '\\' => rest.split_first().is_some_and(|(&literal, after)| {
            next.is_some_and(|(&c, text_rest)| c == literal && segment_matches(after, text_rest))
        }),
        literal => {
            next.is_some_and(|(&c, text_rest)| c == literal && segment_matches(rest, text_rest))
        }
    }
}

/// Reads a character class after its `[` against `c`: whether it matched, and the pattern
/// after the closing `]`; `None` when the class is malformed.
fn class_matches(pattern: &[char], c: char) -> Option<(bool, &[char])> {
    let (negated, mut rest) = match pattern.split_first() {
        Some(('^', after)) => (true, after),
        _ => (false, pattern),
    };
    let mut matched = false;
    let mut ranges = 0;
    loop {
        if let Some((']', after)) = rest.split_first()
            && ranges > 0
        {
            return Some((matched != negated, after));
        }
        let (low, after) = class_char(rest)?;
        let (high, after) = match after.split_first() {
            Some(('-', after_dash)) => class_char(after_dash)?,
            _ => (low, after),
        };
        matched |= low <= c && c <= high;
        ranges += 1;
        rest = after;
    }
}

/// One (possibly escaped) character of a class; `-` and `]` must be escaped.
fn class_char(pattern: &[char]) -> Option<(char, &[char])> {
    match pattern.split_first()? {
        ('-' | ']', _) => None,
        ('\\', rest) => rest.split_first().map(|(&c, after)| (c, after)),
        (&c, rest) => Some((c, rest)),
    }
}

/// Spends the build's duration, streaming its filler log in chunks spread over it.
async fn emulate_work(
    state: &AppState,
    build: &Build,
    directives: &Directives,
    deadline: Instant,
) -> Result<(), Stop> {
    let duration = directives
        .duration
        .unwrap_or(state.settings.default_build_duration);
    build.append(format!(
        "INFO:    Emulating {} of build work\n",
        go_duration(duration)
    ));
    let start = Instant::now();
    let total = directives.log_bytes.unwrap_or(0);
    let chunks = total.div_ceil(LOG_CHUNK).max(1);
    let mut line_number: u64 = 0;
    let mut sent: u64 = 0;
    for index in 1..=chunks {
        let size = (total - sent).min(LOG_CHUNK);
        if size > 0 {
            build.append(filler(size, &mut line_number));
            sent += size;
        }
        // Spread the chunks evenly; the last one ends exactly at the build duration.
        let offset = duration.mul_f64(index as f64 / chunks as f64);
        wait_until(state, build, later(start, offset), deadline).await?;
    }
    Ok(())
}

/// Returns `size` bytes of numbered log lines.
fn filler(size: u64, line_number: &mut u64) -> String {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let mut text = String::with_capacity(size);
    while text.len() < size {
        *line_number += 1;
        let _ = writeln!(text, "+ emulated build output line {:08}", *line_number);
    }
    text.truncate(size);
    if size > 0 && !text.ends_with('\n') {
        text.pop();
        text.push('\n');
    }
    text
}

/// Writes the image and publishes it under the build's destination or ephemeral ref.
async fn publish(state: &AppState, build: &Build) -> Result<Outcome, Stop> {
    build.append("INFO:    Creating SIF file...\n");
    let image = emulated_image(build);
    let size = image.len() as u64;
    let destination = match &build.request.destination {
        Some(destination) => destination.clone(),
        None => parse_destination(&build.result_ref).map_err(Stop::Fatal)?,
    };
    let checksum = {
        let mut library = state.library();
        library
            .publish(
                &state.ids,
                &destination,
                &build.request.arch,
                Bytes::from(image),
            )
            .map_err(|error| Stop::Fatal(format!("failed to store the image: {}", error.message)))?
    };
    state
        .persist()
        .await
        .map_err(|error| Stop::Fatal(error.message))?;
    build.append(format!(
        "INFO:    Build complete: {} ({size} bytes, {checksum}, arch {})\n",
        build.result_ref, build.request.arch
    ));
    Ok(Outcome::Succeeded { size, checksum })
}

/// Builds the SIF bytes: a pure function of definition, context digest and arch.
pub fn emulated_image(build: &Build) -> Vec<u8> {
    let request = &build.request;
    let definition_sha = hex(&Sha256::digest(&request.definition));
    let metadata = json!({
        "emulated": true,
        "emulator": "scs-emulator",
        "emulatorVersion": env!("CARGO_PKG_VERSION"),
        "note": "Emulated build: no container was actually built",
        "arch": request.arch,
        "contextDigest": request.context_digest,
        "definitionSha256": definition_sha,
    });
    let metadata = serde_json::to_vec_pretty(&metadata).unwrap_or_default();
    let partition = format!(
        "scs-emulator placeholder root filesystem (not runnable)\narch: {}\ndefinition: sha256.{definition_sha}\n",
        request.arch
    );
    let arch = sif::arch_code(&request.arch).unwrap_or(*b"00\0");
    sif::write_emulated_image(arch, &request.definition, &metadata, partition.as_bytes())
}

/// Returns the ephemeral destination for a build without `libraryRef`.
pub fn ephemeral_ref(user: &str, build_id: &str) -> String {
    format!("library://{user}/remote-builds/rb-{build_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_has_the_exact_size() {
        let mut line = 0;
        for size in [1, 10, 37, 38, 1000, 65_536] {
            let text = filler(size, &mut line);
            assert_eq!(text.len() as u64, size);
            assert!(text.ends_with('\n'));
        }
    }

    #[test]
    fn context_lookup_handles_files_dirs_and_globs() {
        let paths: BTreeSet<String> = [
            "home/u/p",
            "home/u/p/a.txt",
            "home/u/p/sub/b.cfg",
            "home/u/pq",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert!(context_has(&paths, "home/u/p/a.txt"));
        assert!(context_has(&paths, "home/u/p/sub"));
        assert!(context_has(&paths, "home/u/p/*.txt"));
        assert!(context_has(&paths, "home/u/p/sub/?.cfg"));
        assert!(!context_has(&paths, "home/u/p/*.cfg"));
        assert!(!context_has(&paths, "home/u/p/missing"));
        assert!(!context_has(&paths, "home/u/pqr"));
    }

    #[test]
    fn globs_follow_go_path_match() {
        let paths: BTreeSet<String> = ["d/a.txt", "d/b.txt", "d/[x].txt", "d/-.txt"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        assert!(context_has(&paths, "d/[ab].txt"));
        assert!(context_has(&paths, "d/[a-c].txt"));
        assert!(!context_has(&paths, "d/[c-z].txt"));
        assert!(context_has(&paths, "d/[^b].txt"));
        assert!(!context_has(&paths, "d/[^ab[\\-].txt"));
        assert!(context_has(&paths, "d/\\[x\\].txt"));
        assert!(context_has(&paths, "d/[\\-].txt"));
        assert!(!context_has(&paths, "d/[].txt"), "malformed");
        assert!(!context_has(&paths, "d/[a"), "unterminated");
        assert!(!context_has(&paths, "*/x/*"));
    }
}
