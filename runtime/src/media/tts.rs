//! `POST /admin/tts/generate`: runs the TTS engine (a command template,
//! espeak-ng by default) over the prompt catalog and stores each result
//! as `system/<lang>/<gender>/<id>.wav`.
//!
//! Each engine run happens on a thread of its own, never on the shard's
//! executor; a shard runs at most `TTS_ENGINES_PER_SHARD_MAX` at once and
//! kills one that takes longer than `TTS_ENGINE_TIMEOUT_MS`. The engine
//! writes into the store's temp dir; the file is checked to be a WAV,
//! fsynced and renamed into place like an upload.

use super::store::{CommitError, MediaStore};
use futures_channel::oneshot;
use glommio::sync::Semaphore;
use serde_json::{json, Value};
use sipbrain_core::api::ApiError;
use sipbrain_core::http::Response;
use sipbrain_core::limits::{TTS_ENGINES_PER_SHARD_MAX, TTS_ENGINE_TIMEOUT_MS};
use sipbrain_core::media::tts::{Template, TtsJob, TtsRequest};
use sipbrain_core::media::wav;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Bytes of the engine's output read to check its WAV header.
const OUTPUT_HEAD_BYTES: usize = 4096;
/// Bytes of the engine's stderr kept for an error message.
const STDERR_BYTES_MAX: u64 = 2048;

/// One shard's TTS runner.
pub struct Tts {
    store: Rc<MediaStore>,
    template: Template,
    engines: Rc<Semaphore>,
}

/// What became of one prompt.
enum Outcome {
    Generated,
    Skipped,
    Failed(String),
}

/// Why an engine run failed.
enum EngineError {
    /// The program is not there.
    Missing,
    Failed(String),
}

impl Tts {
    pub fn new(store: Rc<MediaStore>, template: Template) -> Tts {
        Tts {
            store,
            template,
            engines: Rc::new(Semaphore::new(TTS_ENGINES_PER_SHARD_MAX as u64)),
        }
    }

    /// Synthesizes what `request` asks for; 503 `tts_unavailable` when the
    /// engine's program is not installed.
    pub async fn generate(&self, request: &TtsRequest) -> Response {
        let program = self.template.program().to_string();
        let lookup = program.clone();
        if on_thread(move || find_program(&lookup))
            .await
            .flatten()
            .is_none()
        {
            return unavailable(&program).to_response();
        }
        let jobs: VecDeque<(usize, TtsJob)> = request.jobs().into_iter().enumerate().collect();
        let count = jobs.len();
        let queue = Rc::new(RefCell::new(jobs));
        let results: Rc<RefCell<Vec<(usize, String, Outcome)>>> = Rc::default();
        let mut workers = Vec::new();
        for _ in 0..count.min(TTS_ENGINES_PER_SHARD_MAX) {
            let (queue, results) = (queue.clone(), results.clone());
            let (store, template) = (self.store.clone(), self.template.clone());
            let (engines, force) = (self.engines.clone(), request.force);
            workers.push(glommio::spawn_local(async move {
                loop {
                    let next = queue.borrow_mut().pop_front();
                    let Some((index, job)) = next else {
                        return;
                    };
                    let outcome = run_job(&store, &template, &engines, &job, force).await;
                    results.borrow_mut().push((index, job.key, outcome));
                }
            }));
        }
        for worker in workers {
            worker.await;
        }
        let mut results = std::mem::take(&mut *results.borrow_mut());
        assert_eq!(results.len(), count, "every job has an outcome");
        results.sort_by_key(|(index, _, _)| *index);
        reply(results)
    }
}

fn reply(results: Vec<(usize, String, Outcome)>) -> Response {
    let (mut generated, mut skipped, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for (_, key, outcome) in results {
        match outcome {
            Outcome::Generated => generated.push(Value::String(key)),
            Outcome::Skipped => skipped.push(Value::String(key)),
            Outcome::Failed(error) => failed.push(json!({"key": key, "error": error})),
        }
    }
    sipbrain_core::api::error::ok(json!({
        "generated": generated,
        "skipped": skipped,
        "failed": failed,
    }))
}

fn unavailable(program: &str) -> ApiError {
    ApiError::new(
        503,
        "tts_unavailable",
        format!(
            "the TTS engine `{program}` is not installed; install espeak-ng: \
             apt-get install -y espeak-ng (or set tts_command)"
        ),
    )
}

async fn run_job(
    store: &MediaStore,
    template: &Template,
    engines: &Semaphore,
    job: &TtsJob,
    force: bool,
) -> Outcome {
    if !force {
        match store.exists(&job.key).await {
            Ok(true) => return Outcome::Skipped,
            Ok(false) => {}
            Err(error) => return Outcome::Failed(format!("cannot look at the object: {error}")),
        }
    }
    let temp = store.temp_path();
    let program = template.program().to_string();
    let args = template.args(job, &temp.to_string_lossy());
    let run = {
        let Ok(_permit) = engines.acquire_permit(1).await else {
            return Outcome::Failed("the TTS runner is closed".into());
        };
        on_thread(move || run_engine(&program, &args)).await
    };
    let failure = match run {
        Some(Ok(())) => check_output(store, &temp).await.err(),
        Some(Err(EngineError::Missing)) => Some(format!("{} not found", template.program())),
        Some(Err(EngineError::Failed(error))) => Some(error),
        None => Some("cannot start a thread for the engine".into()),
    };
    if let Some(error) = failure {
        store.discard_path(&temp).await;
        return Outcome::Failed(error);
    }
    match store.commit_file(&temp, &job.key).await {
        Ok(()) => Outcome::Generated,
        Err(CommitError::Conflict(why)) => Outcome::Failed(why),
        Err(CommitError::Io(error)) => Outcome::Failed(format!("cannot store it: {error}")),
    }
}

/// The engine's output must be a WAV with samples.
async fn check_output(store: &MediaStore, temp: &Path) -> Result<(), String> {
    let head = store
        .read_head(temp, OUTPUT_HEAD_BYTES)
        .await
        .map_err(|e| format!("the engine wrote no output: {e}"))?;
    let (bytes, size) = head;
    let info = wav::parse(&bytes, size).map_err(|e| format!("the engine's output: {e}"))?;
    if info.data_bytes == 0 {
        return Err("the engine's output has no samples".into());
    }
    Ok(())
}

/// Runs `f` on a new thread; `None` when no thread could be started.
async fn on_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    let (sender, receiver) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("tts-engine".into())
        .spawn(move || {
            let _ = sender.send(f());
        });
    if spawned.is_err() {
        return None;
    }
    receiver.await.ok()
}

/// The program's path: as given when it holds a `/`, else the first
/// executable file of that name on `PATH`.
fn find_program(program: &str) -> Option<PathBuf> {
    let executable = |path: &Path| {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        return executable(&path).then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|path| executable(path))
}

/// Runs the engine to completion (blocking: on its own thread), killing it
/// past the timeout.
fn run_engine(program: &str, args: &[String]) -> Result<(), EngineError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EngineError::Missing,
            _ => EngineError::Failed(format!("cannot start {program}: {e}")),
        })?;
    let deadline = Instant::now() + Duration::from_millis(TTS_ENGINE_TIMEOUT_MS);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let seconds = TTS_ENGINE_TIMEOUT_MS / 1000;
                return Err(EngineError::Failed(format!(
                    "{program} ran past {seconds} s: killed"
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(EngineError::Failed(format!(
                    "cannot wait for {program}: {e}"
                )))
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(pipe) = child.stderr.take() {
        let _ = pipe.take(STDERR_BYTES_MAX).read_to_string(&mut stderr);
    }
    let stderr = stderr.trim();
    Err(EngineError::Failed(format!(
        "{program} failed ({status}): {stderr}"
    )))
}
