//! Password hashing: argon2id with the crate's recommended parameters, salted per password.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

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

#[cfg(test)]
mod tests {
    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = super::hash("correct horse battery staple");
        assert!(phc.starts_with("$argon2id$"));
        assert!(super::verify("correct horse battery staple", &phc));
        assert!(!super::verify("correct horse battery stapler", &phc));
        assert!(!super::verify("anything", "not a hash"));
    }
}
