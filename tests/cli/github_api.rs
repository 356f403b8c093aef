use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{Emulated, Repo};

const REPOSITORY: &str = "acme-lab/images";
const GITHUB_TOKEN: &str = "ghs_fake-github-token-9d1e";

/// What the fake GitHub holds.
#[derive(Default)]
struct State {
    /// (sha, body, authorization) per status request.
    statuses: Vec<(String, Value, String)>,
    /// (id, pull request, body).
    comments: Vec<(u64, u64, String)>,
    updates: usize,
    /// Answer every write with this status (a fork's read-only token: 403).
    refuse: Option<u16>,
}

/// GitHub's REST API for one repository, on 127.0.0.1, behind a GHES-style `/api/v3`
/// prefix: statuses, and pull-request comments listed 100 a page with `Link` headers.
struct FakeGitHub {
    runtime: tokio::runtime::Runtime,
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeGitHub {
    fn start(state: State) -> FakeGitHub {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let state = Arc::new(Mutex::new(state));
        let server = runtime.block_on(async {
            let server = MockServer::start().await;
            let prefix = format!("^/api/v3/repos/{REPOSITORY}");
            let uri = server.uri();

            let shared = Arc::clone(&state);
            Mock::given(method("POST"))
                .and(path_regex(format!("{prefix}/statuses/([0-9a-f]{{40}})$")))
                .respond_with(move |request: &Request| {
                    let mut state = shared.lock().expect("lock");
                    if let Some(status) = state.refuse {
                        return refusal(status);
                    }
                    let sha = request.url.path().rsplit('/').next().unwrap_or_default();
                    let auth = header(request, "authorization");
                    let body: Value = request.body_json().expect("status JSON");
                    state.statuses.push((sha.to_owned(), body.clone(), auth));
                    ResponseTemplate::new(201).set_body_json(body)
                })
                .mount(&server)
                .await;

            let shared = Arc::clone(&state);
            let base = uri.clone();
            Mock::given(method("GET"))
                .and(path_regex(format!("{prefix}/issues/([0-9]+)/comments$")))
                .respond_with(move |request: &Request| {
                    let state = shared.lock().expect("lock");
                    let number = pull_request(request);
                    let query = |name: &str| {
                        request
                            .url
                            .query_pairs()
                            .find(|(k, _)| k == name)
                            .and_then(|(_, v)| v.parse::<usize>().ok())
                    };
                    let per_page = query("per_page").unwrap_or(30);
                    let page = query("page").unwrap_or(1);
                    let all: Vec<Value> = state
                        .comments
                        .iter()
                        .filter(|(_, pr, _)| *pr == number)
                        .map(|(id, _, body)| json!({"id": id, "body": body, "user": {"login": "someone"}}))
                        .collect();
                    let shown: Vec<Value> = all
                        .iter()
                        .skip((page - 1) * per_page)
                        .take(per_page)
                        .cloned()
                        .collect();
                    let mut response = ResponseTemplate::new(200).set_body_json(shown);
                    if page * per_page < all.len() {
                        let next = format!(
                            "{base}{}?per_page={per_page}&page={}",
                            request.url.path(),
                            page + 1
                        );
                        response = response.insert_header("link", format!("<{next}>; rel=\"next\""));
                    }
                    response
                })
                .mount(&server)
                .await;

            let shared = Arc::clone(&state);
            Mock::given(method("POST"))
                .and(path_regex(format!("{prefix}/issues/([0-9]+)/comments$")))
                .respond_with(move |request: &Request| {
                    let mut state = shared.lock().expect("lock");
                    if let Some(status) = state.refuse {
                        return refusal(status);
                    }
                    let body: Value = request.body_json().expect("comment JSON");
                    let id = 1000 + state.comments.len() as u64;
                    let text = body["body"].as_str().unwrap_or_default().to_owned();
                    state.comments.push((id, pull_request(request), text.clone()));
                    ResponseTemplate::new(201).set_body_json(json!({"id": id, "body": text}))
                })
                .mount(&server)
                .await;

            let shared = Arc::clone(&state);
            Mock::given(method("PATCH"))
                .and(path_regex(format!("{prefix}/issues/comments/([0-9]+)$")))
                .respond_with(move |request: &Request| {
                    let mut state = shared.lock().expect("lock");
                    if let Some(status) = state.refuse {
                        return refusal(status);
                    }
                    let id: u64 = request
                        .url
                        .path()
                        .rsplit('/')
                        .next()
                        .and_then(|i| i.parse().ok())
                        .expect("comment id");
                    let body: Value = request.body_json().expect("comment JSON");
                    let text = body["body"].as_str().unwrap_or_default().to_owned();
                    let Some(comment) = state.comments.iter_mut().find(|c| c.0 == id) else {
                        return ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
                    };
                    comment.2 = text.clone();
                    state.updates += 1;
                    ResponseTemplate::new(200).set_body_json(json!({"id": id, "body": text}))
                })
                .mount(&server)
                .await;
            server
        });
        FakeGitHub {
            runtime,
            server,
            state,
        }
    }

    fn api_url(&self) -> String {
        format!("{}/api/v3", self.server.uri())
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.runtime
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .iter()
            .map(|r| (r.method.to_string(), r.url.path().to_owned()))
            .collect()
    }
}

fn refusal(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest"
    }))
}

fn header(request: &Request, name: &str) -> String {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn pull_request(request: &Request) -> u64 {
    request
        .url
        .path()
        .split('/')
        .rev()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("pull request number")
}

/// The examples on `main`, then pull request #7 that changes the bwa image; returns the
/// repository, the GitHub Actions variables of the pull request, and its head commit.
fn pull_request_seven(
    api_url: &str,
    dir: &tempfile::TempDir,
) -> (Repo, Vec<(String, String)>, String) {
    let repo = Repo::from_examples();
    let base_sha = repo.git(&["rev-parse", "HEAD"]);
    repo.git(&["checkout", "-q", "-b", "feature"]);
    let head = repo.commit_files(
        "a newer bwa",
        &[(
            "containers/bwa/Singularity.def",
            "Bootstrap: docker\nFrom: alpine:3.21\n",
        )],
    );
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        json!({
            "pull_request": {"number": 7, "head": {"sha": head, "ref": "feature"}, "base": {"sha": base_sha, "ref": "main"}},
            "repository": {"default_branch": "main"}
        })
        .to_string(),
    )
    .expect("payload");
    let vars = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_REF", "refs/pull/7/merge"),
        ("GITHUB_SHA", "ffffffffffffffffffffffffffffffffffffffff"),
        ("GITHUB_EVENT_PATH", event.to_str().expect("path")),
        ("GITHUB_REPOSITORY", REPOSITORY),
        ("GITHUB_API_URL", api_url),
        ("GITHUB_SERVER_URL", "https://github.example"),
        ("GITHUB_RUN_ID", "4242"),
        ("SIFBAKE_GITHUB_TOKEN", GITHUB_TOKEN),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    (repo, vars, head)
}

#[test]
fn statuses_per_target_and_one_sticky_comment_updated_in_place() {
    // 150 comments by others: the marker has to be found past the first page.
    let others = (0..150)
        .map(|i| (i + 1, 7, format!("looks good {i}")))
        .collect();
    let github = FakeGitHub::start(State {
        comments: others,
        ..State::default()
    });
    let emulated = Emulated::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (repo, vars, head) = pull_request_seven(&github.api_url(), &dir);
    let run_build = |vars: &[(String, String)]| {
        emulated
            .sifbake(repo.path())
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(["build", "--github-statuses", "--github-comment"])
            .run()
            .expect_code(0)
    };

    let first = run_build(&vars);
    let stderr = first.stderr();
    assert!(
        stderr.starts_with(&format!("::add-mask::{GITHUB_TOKEN}\n")),
        "the GitHub token is masked first: {stderr}"
    );
    assert!(
        stderr.contains("sifbake: GitHub: set 6 commit statuses on "),
        "{stderr}"
    );
    assert!(
        stderr.contains("sifbake: GitHub: commented on pull request #7 (comment 1150)"),
        "{stderr}"
    );
    {
        let state = github.state.lock().expect("lock");
        let contexts: Vec<&str> = state
            .statuses
            .iter()
            .map(|(_, body, _)| body["context"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            contexts,
            [
                "sifbake/base",
                "sifbake/bwa",
                "sifbake/samtools",
                "sifbake/python",
                "sifbake/r",
                "sifbake/analysis"
            ]
        );
        for (sha, body, auth) in &state.statuses {
            assert_eq!(sha, &head, "statuses go on the pull request's head commit");
            assert_eq!(auth, &format!("Bearer {GITHUB_TOKEN}"));
            assert_eq!(body["state"], "success", "{body}");
            assert_eq!(
                body["target_url"],
                "https://github.example/acme-lab/images/actions/runs/4242"
            );
        }
        let bwa = &state.statuses[1].1;
        assert!(
            bwa["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("built amd64 (sha256.")),
            "{bwa}"
        );
        assert_eq!(state.statuses[0].1["description"], "amd64, arm64 unchanged");
        assert_eq!(state.comments.len(), 151);
        let (id, number, body) = &state.comments[150];
        assert_eq!((*id, *number), (1150, 7));
        assert!(
            body.starts_with(
                "<!-- sifbake-comment: sifbake.yaml -->\n### sifbake build: pull request #7 at `"
            ),
            "{body}"
        );
        assert!(body.contains("| bwa | amd64 | ✅ built |"), "{body}");
        assert!(body.contains("ephemeral images"), "{body}");
        assert!(
            body.contains("[this run](https://github.example/acme-lab/images/actions/runs/4242)"),
            "{body}"
        );
    }

    // A new push to the pull request: the comment is edited, not added.
    let newer = repo.commit_files(
        "a newer samtools",
        &[(
            "containers/samtools/Singularity.def",
            "Bootstrap: docker\nFrom: alpine:3.21\n",
        )],
    );
    let event = dir.path().join("event.json");
    let payload = std::fs::read_to_string(&event).expect("payload");
    std::fs::write(&event, payload.replace(&head, &newer)).expect("payload");
    let second = run_build(&vars);
    assert!(
        second
            .stderr()
            .contains("sifbake: GitHub: updated comment 1150 on pull request #7"),
        "{}",
        second.stderr()
    );
    let state = github.state.lock().expect("lock");
    assert_eq!(state.comments.len(), 151, "still one sifbake comment");
    assert_eq!(state.updates, 1);
    let body = &state.comments[150].2;
    assert!(body.contains("| samtools | amd64 | ✅ built |"), "{body}");
    assert!(
        body.contains(&format!("pull request #7 at `{}`", &newer[..7])),
        "{body}"
    );
    drop(state);
    let requests = github.requests();
    assert!(
        requests
            .iter()
            .any(|(m, p)| m == "PATCH" && p == "/api/v3/repos/acme-lab/images/issues/comments/1150"),
        "updated with PATCH, as the API documents: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .all(|(_, p)| p.starts_with("/api/v3/repos/acme-lab/images/")),
        "every call under the GHES prefix: {requests:?}"
    );
}

#[test]
fn a_read_only_token_warns_and_the_build_still_succeeds() {
    let github = FakeGitHub::start(State {
        refuse: Some(403),
        ..State::default()
    });
    let emulated = Emulated::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (repo, vars, _) = pull_request_seven(&github.api_url(), &dir);
    let run = emulated
        .sifbake(repo.path())
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args([
            "build",
            "--github-statuses",
            "--github-comment",
            "--format",
            "json",
        ])
        .run()
        .expect_code(0);
    let stderr = run.stderr();
    assert!(
        stderr.contains(
            "sifbake: warning: cannot set the commit status `sifbake/base`: HTTP 403: Resource not accessible by integration (the token may not do this: a pull request from a fork gets a read-only token"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("sifbake: warning: cannot comment on pull request #7: HTTP 403"),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("::warning title=sifbake::"))
            .count(),
        2,
        "{stderr}"
    );
    assert_eq!(
        stderr.matches(GITHUB_TOKEN).count(),
        1,
        "the token is printed only to be masked: {stderr}"
    );
    assert!(!run.stdout().contains(GITHUB_TOKEN));
    let statuses_tried = github
        .requests()
        .iter()
        .filter(|(m, p)| m == "POST" && p.contains("/statuses/"))
        .count();
    assert_eq!(statuses_tried, 1, "no point trying the other targets");
    let result: Value = serde_json::from_str(&run.stdout()).expect("result");
    assert_eq!(result["exit_code"], 0);
}

#[test]
fn without_a_token_nothing_is_sent() {
    let github = FakeGitHub::start(State::default());
    let emulated = Emulated::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (repo, vars, _) = pull_request_seven(&github.api_url(), &dir);
    let run = emulated
        .sifbake(repo.path())
        .envs(
            vars.iter()
                .filter(|(k, _)| k != "SIFBAKE_GITHUB_TOKEN")
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .args(["build", "--github-comment", "--targets", "bwa"])
        .run()
        .expect_code(0);
    assert!(
        run.stderr()
            .contains("sifbake: warning: --github-statuses and --github-comment need a token in SIFBAKE_GITHUB_TOKEN"),
        "{}",
        run.stderr()
    );
    assert!(github.requests().is_empty());
}
