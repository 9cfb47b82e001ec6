//! Password hashing: argon2id with the crate's recommended parameters, salted per password.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, LazyLock, Mutex};
use tokio::sync::{oneshot, Semaphore, SemaphorePermit};

/// Argon2 takes about 19 MiB and tens of milliseconds of a core per hash or check, so password
/// work runs a few at a time: one per core. A caller takes its turn *before* it takes a
/// database connection, so a burst of sign-ins waits here holding neither memory nor the pool's
/// connections, and every other request goes on as usual (issue 16 measured 64 concurrent
/// sign-ins at 1.5 GB and an exhausted pool when each hashed inside its transaction).
static TURNS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(cores()));

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |cores| cores.get())
}

type Job = Box<dyn FnOnce() + Send>;

/// The password threads, one per turn, for the life of the process. Argon2 takes its memory
/// anew for every hash, and the allocator keeps, per thread, what a thread once took: on
/// tokio's blocking pool, which grows a thread at a time under a burst, 64 concurrent sign-ins
/// left the server at 442 MiB (issue 16). A few threads of their own keep it to theirs.
static PASSWORD_THREADS: LazyLock<Sender<Job>> = LazyLock::new(|| {
    let (sender, receiver) = channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for number in 0..cores() {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("password-{number}"))
            .spawn(move || loop {
                // The lock is held for the wait only, not for the work.
                let job = receiver.lock().map(|receiver| receiver.recv());
                match job {
                    Ok(Ok(job)) => job(),
                    _ => return,
                }
            })
            .expect("start a password thread");
    }
    sender
});

/// Runs password work (`hash`, `verify`) on a password thread, off the async executor, and
/// waits for its result. Take a [`turn`] first.
pub async fn off_executor<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = oneshot::channel();
    PASSWORD_THREADS
        .send(Box::new(move || {
            // The caller may have gone (a closed connection): nobody is left to tell.
            let _ = done.send(work());
        }))
        .expect("the password threads run for the life of the process");
    result.await.expect("password work does not panic")
}

/// Waits for a turn at password work; the work may go on while the permit lives.
pub async fn turn() -> SemaphorePermit<'static> {
    TURNS
        .acquire()
        .await
        .expect("the password semaphore is never closed")
}

/// A PHC-format argon2id hash. The plaintext is never stored or logged.
pub fn hash(plaintext: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(plaintext.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password and a generated salt")
        .to_string()
}

/// Whether `plaintext` matches `phc_hash`. A malformed hash never matches.
pub fn verify(plaintext: &str, phc_hash: &str) -> bool {
    PasswordHash::new(phc_hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(plaintext.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new password's length bounds (NFR-S5): long enough to resist guessing, and a maximum far
/// above any passphrase (argon2 takes any length; the cap only bounds the work per request).
pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 256;

/// Why a new password is refused, if it is: too short, too long, or easy to guess by zxcvbn's
/// estimate (score under 3, about 10^8 guesses). `related` are the account's own words (email,
/// name, company), which a guesser tries first.
pub fn weakness(password: &str, related: &[&str]) -> Option<String> {
    let length = password.chars().count();
    if length < MIN_CHARS {
        return Some(format!(
            "Use at least {MIN_CHARS} characters; a few unrelated words work well."
        ));
    }
    if length > MAX_CHARS {
        return Some(format!("Use at most {MAX_CHARS} characters."));
    }
    // zxcvbn matches its user inputs as whole dictionary words: give it each word of them.
    let words: Vec<String> = related
        .iter()
        .flat_map(|text| text.split(|c: char| !c.is_alphanumeric()))
        .filter(|word| word.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password, &words);
    if estimate.score() >= zxcvbn::Score::Three {
        return None;
    }
    let why = estimate
        .feedback()
        .and_then(|feedback| feedback.warning())
        .map(|warning| format!(" ({warning})"))
        .unwrap_or_default();
    Some(format!(
        "This password is easy to guess{why}. Add a few unrelated words."
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A burst of password work runs at most one per core at a time, whatever the burst.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn password_work_takes_turns_one_per_core() {
        let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let burst: Vec<_> = (0..cores * 8)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(async move {
                    let _turn = super::turn().await;
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    super::off_executor(|| super::verify("attempt", &super::hash("x"))).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in burst {
            task.await.unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!(most <= cores, "{most} ran at once on {cores} cores");
        assert!(most >= 1);
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = super::hash("correct horse battery staple");
        assert!(phc.starts_with("$argon2id$"));
        assert!(super::verify("correct horse battery staple", &phc));
        assert!(!super::verify("correct horse battery stapler", &phc));
        assert!(!super::verify("anything", "not a hash"));
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        use super::{weakness, MAX_CHARS};
        assert!(weakness("short", &[]).unwrap().contains("at least 12"));
        assert!(weakness(&"x".repeat(MAX_CHARS + 1), &[]).is_some());
        assert!(weakness("password1234", &[])
            .unwrap()
            .contains("easy to guess"));
        assert!(weakness("qwertyuiopasdf", &[]).is_some(), "a keyboard row");
        assert!(
            weakness("acmecorporation", &["acme", "corporation"]).is_some(),
            "the account's own words"
        );
        assert_eq!(weakness("lantern orbit pickle meadow", &[]), None);
        let long = "a lantern orbits the pickled meadow at dawn while seven owls hum quietly";
        assert!(long.chars().count() > 64);
        assert_eq!(weakness(long, &[]), None, "no maximum below 64 characters");
    }
}
