//! The unsigned rows of the matrix, and the faults and notes the signed rows share.

use super::{Case, Endpoint, Expect, Fault, LATENCY_MS, Outcome, RestartAt, Scenario};

pub(super) const fn ok(note: &'static str) -> Expect {
    Expect {
        exit: 0,
        outcome: Outcome::BothBuilt,
        submitted: 2,
        cancelled: 0,
        note,
    }
}

pub(super) const fn timed_out(note: &'static str) -> Expect {
    Expect {
        exit: 1,
        outcome: Outcome::AppTimedOut,
        submitted: 2,
        cancelled: 1,
        note,
    }
}

/// A submission that may have reached the service fails its image, and is not sent again.
pub(super) const fn not_resubmitted(note: &'static str) -> Expect {
    Expect {
        exit: 3,
        outcome: Outcome::BaseFailed,
        submitted: 0,
        cancelled: 0,
        note,
    }
}

pub(super) const fn case(
    id: &'static str,
    endpoint: Endpoint,
    fault: Fault,
    expect: Expect,
) -> Case {
    Case {
        id,
        endpoint,
        fault,
        scenario: Scenario::Standard,
        expect,
    }
}

pub(super) const fn on_timeout(
    id: &'static str,
    endpoint: Endpoint,
    fault: Fault,
    expect: Expect,
) -> Case {
    Case {
        id,
        endpoint,
        fault,
        scenario: Scenario::AppTimesOut,
        expect,
    }
}

pub(super) const S503X3: Fault = Fault::Status {
    status: 503,
    times: 3,
};
pub(super) const S502X3: Fault = Fault::Status {
    status: 502,
    times: 3,
};
pub(super) const S500X1: Fault = Fault::Status {
    status: 500,
    times: 1,
};
pub(super) const S504X1: Fault = Fault::Status {
    status: 504,
    times: 1,
};
pub(super) const RATE: Fault = Fault::RateLimit {
    seconds: 2,
    times: 2,
};
pub(super) const SLOW: Fault = Fault::Latency { ms: LATENCY_MS };
pub(super) const RESET: Fault = Fault::Reset { after_bytes: 0 };

pub(super) const RETRIED: &str = "retried";
pub(super) const SLOW_RETRIED: &str = "the request timed out and was retried";
pub(super) const NO_TIMEOUT: &str = "no request timeout on this call: it waits";
pub(super) const CLEANUP_RETRIED: &str =
    "retried after 250 ms, 500 ms, 1 s: within the 5 s clean-up bound";

/// The matrix. Every row ends in success unless the fault is one sifbake must not paper
/// over: a submission that may have reached the service is never sent again.
pub(super) const CASES: &[Case] = &[
    case("discovery-503x3", Endpoint::Discovery, S503X3, ok(RETRIED)),
    case("discovery-429", Endpoint::Discovery, RATE, ok(RETRIED)),
    case(
        "discovery-latency",
        Endpoint::Discovery,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    case("discovery-reset", Endpoint::Discovery, RESET, ok(RETRIED)),
    case("token-502x3", Endpoint::TokenStatus, S502X3, ok(RETRIED)),
    case("token-429", Endpoint::TokenStatus, RATE, ok(RETRIED)),
    case(
        "token-latency",
        Endpoint::TokenStatus,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    case("token-reset", Endpoint::TokenStatus, RESET, ok(RETRIED)),
    case(
        "version-503x3",
        Endpoint::LibraryVersion,
        S503X3,
        ok(RETRIED),
    ),
    case("version-429", Endpoint::LibraryVersion, RATE, ok(RETRIED)),
    case(
        "version-latency",
        Endpoint::LibraryVersion,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    case(
        "version-reset",
        Endpoint::LibraryVersion,
        RESET,
        ok(RETRIED),
    ),
    case("images-502x3", Endpoint::ImageLookup, S502X3, ok(RETRIED)),
    case("images-429", Endpoint::ImageLookup, RATE, ok(RETRIED)),
    case(
        "images-latency",
        Endpoint::ImageLookup,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    case("images-reset", Endpoint::ImageLookup, RESET, ok(RETRIED)),
    case(
        "tags-500x3",
        Endpoint::TagsV2,
        Fault::Status {
            status: 500,
            times: 3,
        },
        ok(RETRIED),
    ),
    case("tags-429", Endpoint::TagsV2, RATE, ok(RETRIED)),
    case("tags-latency", Endpoint::TagsV2, SLOW, ok(SLOW_RETRIED)),
    case(
        "tags-reset",
        Endpoint::TagsV2,
        Fault::Reset { after_bytes: 8 },
        ok(RETRIED),
    ),
    case(
        "tags-v1-503x2",
        Endpoint::TagsV1,
        Fault::Status {
            status: 503,
            times: 2,
        },
        ok(RETRIED),
    ),
    case(
        "context-503x3",
        Endpoint::ContextAnnounce,
        S503X3,
        ok(RETRIED),
    ),
    case("context-429", Endpoint::ContextAnnounce, RATE, ok(RETRIED)),
    case(
        "context-latency",
        Endpoint::ContextAnnounce,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    case(
        "context-reset",
        Endpoint::ContextAnnounce,
        Fault::Reset { after_bytes: 8 },
        ok(RETRIED),
    ),
    case(
        "upload-503x3",
        Endpoint::ContextUpload,
        S503X3,
        ok("announced again and re-uploaded"),
    ),
    case(
        "upload-429",
        Endpoint::ContextUpload,
        RATE,
        ok("announced again and re-uploaded"),
    ),
    case(
        "upload-latency",
        Endpoint::ContextUpload,
        SLOW,
        ok(NO_TIMEOUT),
    ),
    case(
        "upload-reset",
        Endpoint::ContextUpload,
        Fault::Reset { after_bytes: 64 },
        ok("announced again and re-uploaded"),
    ),
    case(
        "submit-503x3",
        Endpoint::Submit,
        S503X3,
        ok("refused submissions are sent again: the service did not act on them"),
    ),
    case(
        "submit-429",
        Endpoint::Submit,
        RATE,
        ok("refused submissions are sent again: the service did not act on them"),
    ),
    case(
        "submit-latency",
        Endpoint::Submit,
        SLOW,
        not_resubmitted(
            "never sent twice (it may have started a build): one request; `base` fails, `app` is skipped",
        ),
    ),
    case(
        "submit-reset",
        Endpoint::Submit,
        Fault::Reset { after_bytes: 16 },
        not_resubmitted(
            "never sent twice once on the wire: one request; `base` fails, `app` is skipped",
        ),
    ),
    case(
        "log-503x3",
        Endpoint::LogStream,
        S503X3,
        ok("the handshake is retried"),
    ),
    case(
        "log-dropped",
        Endpoint::LogStream,
        Fault::DropWebsocket {
            after_frames: 1,
            times: 2,
        },
        ok("falls back to polling the status; log marked incomplete"),
    ),
    case(
        "log-429",
        Endpoint::LogStream,
        RATE,
        ok("the handshake is retried"),
    ),
    case("log-latency", Endpoint::LogStream, SLOW, ok(NO_TIMEOUT)),
    case(
        "log-reset",
        Endpoint::LogStream,
        RESET,
        ok("the handshake is retried"),
    ),
    case("status-503x3", Endpoint::BuildStatus, S503X3, ok(RETRIED)),
    case("status-429", Endpoint::BuildStatus, RATE, ok(RETRIED)),
    case(
        "status-latency",
        Endpoint::BuildStatus,
        SLOW,
        ok(SLOW_RETRIED),
    ),
    case("status-reset", Endpoint::BuildStatus, RESET, ok(RETRIED)),
    on_timeout(
        "cancel-504x1",
        Endpoint::Cancel,
        S504X1,
        timed_out(CLEANUP_RETRIED),
    ),
    on_timeout(
        "cancel-429",
        Endpoint::Cancel,
        Fault::RateLimit {
            seconds: 3,
            times: 1,
        },
        timed_out("`Retry-After` is cut to 1 s for clean-up calls"),
    ),
    on_timeout(
        "cancel-latency",
        Endpoint::Cancel,
        SLOW,
        timed_out("the cancel times out after 2 s and is retried within the 5 s bound"),
    ),
    on_timeout(
        "cancel-502x2",
        Endpoint::Cancel,
        Fault::Status {
            status: 502,
            times: 2,
        },
        timed_out(CLEANUP_RETRIED),
    ),
    on_timeout(
        "cancel-503x3",
        Endpoint::Cancel,
        S503X3,
        timed_out(CLEANUP_RETRIED),
    ),
    case(
        "delete-500x1",
        Endpoint::ContextDelete,
        S500X1,
        ok(CLEANUP_RETRIED),
    ),
    case(
        "delete-503x3",
        Endpoint::ContextDelete,
        S503X3,
        ok(CLEANUP_RETRIED),
    ),
    case(
        "delete-429",
        Endpoint::ContextDelete,
        RATE,
        ok("`Retry-After` is cut to 1 s for clean-up calls"),
    ),
    case(
        "delete-latency",
        Endpoint::ContextDelete,
        SLOW,
        ok("the delete times out after 2 s and is retried within the 5 s bound"),
    ),
    case(
        "restart-during-build",
        Endpoint::Everything,
        Fault::Restart(RestartAt::DuringBuild),
        Expect {
            submitted: 1,
            ..not_resubmitted(
                "the running build is lost (builds are not persisted): `base` fails cleanly, nothing tagged, nothing resubmitted",
            )
        },
    ),
    case(
        "restart-between-builds",
        Endpoint::Everything,
        Fault::Restart(RestartAt::BetweenBuilds),
        ok("the library persists: `app` is submitted after the restart and builds on `base`"),
    ),
];
