//! Ed25519 keys and C2SP `signed-note` texts.
//!
//! A note is a UTF-8 text of newline-terminated lines, a blank line, then one or more signature
//! lines `— <key name> <base64(4-byte key hash ‖ signature)>`. For Ed25519 the key hash is the
//! first four bytes of `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)` and the signature covers the
//! text before the blank line. Verifiers ignore signatures by keys they do not know (so a key
//! can be rotated and witnesses can co-sign), and accept a note when one signature by the
//! given key verifies.
//!
//! Key texts, as in Go's `golang.org/x/mod/sumdb/note`:
//! - verifier (public): `<name>+<8 hex digits of the key hash>+<base64(0x01 ‖ 32-byte public key)>`;
//! - signer (private): `PRIVATE+KEY+<name>+<8 hex digits>+<base64(0x01 ‖ 32-byte seed)>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;

/// The algorithm byte of Ed25519 keys in signed notes.
const ALG_ED25519: u8 = 0x01;
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";
/// Each signature line starts with an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// More signatures than this make a note suspicious rather than well witnessed (Go's limit).
const MAX_SIGNATURES: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    #[error("key name `{0}` is empty or holds white space or `+`")]
    BadKeyName(String),
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("the note has no verifying signature by key `{0}`")]
    NoSignature(String),
    #[error("the signature by key `{0}` does not verify")]
    BadSignature(String),
    #[error("no randomness for a new key: {0}")]
    Random(String),
    #[error("reading key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(NoteError::BadKeyName(name.to_owned()));
    }
    Ok(())
}

/// `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[0..4]`, big-endian.
fn key_hash(name: &str, public: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public.as_bytes());
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// The fields of `<name>+<hash>+<base64 key>` (the part after `PRIVATE+KEY+` for a signer),
/// with the key bytes checked to be Ed25519's.
fn parse_key_text(text: &str) -> Result<(String, u32, [u8; 32]), NoteError> {
    // Only the first two `+` separate: base64 has `+` in its alphabet.
    let mut parts = text.trim().splitn(3, '+');
    let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::BadKey("want <name>+<hash>+<key>"));
    };
    check_name(name)?;
    if hash.len() != 8 {
        return Err(NoteError::BadKey("the key hash is 8 hex digits"));
    }
    let hash =
        u32::from_str_radix(hash, 16).map_err(|_| NoteError::BadKey("the key hash is hex"))?;
    let bytes = BASE64
        .decode(key)
        .map_err(|_| NoteError::BadKey("the key is base64"))?;
    let (alg, key) = bytes
        .split_first()
        .ok_or(NoteError::BadKey("the key is empty"))?;
    if *alg != ALG_ED25519 {
        return Err(NoteError::BadKey(
            "only Ed25519 keys (algorithm 1) are known",
        ));
    }
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| NoteError::BadKey("an Ed25519 key is 32 bytes"))?;
    Ok((name.to_owned(), hash, key))
}

fn key_text(name: &str, hash: u32, key: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(33);
    bytes.push(ALG_ED25519);
    bytes.extend_from_slice(key);
    format!("{name}+{hash:08x}+{}", BASE64.encode(bytes))
}

/// The operator's signing key. Its `Debug` does not show the secret.
#[derive(Clone)]
pub struct Signer {
    name: String,
    hash: u32,
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("hash", &format_args!("{:08x}", self.hash))
            .finish_non_exhaustive()
    }
}

impl Signer {
    fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let hash = key_hash(name, &key.verifying_key());
        Ok(Self {
            name: name.to_owned(),
            hash,
            key,
        })
    }

    /// A new key from the operating system's randomness.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| NoteError::Random(e.to_string()))?;
        Self::from_seed(name, seed)
    }

    /// From the private key text (`PRIVATE+KEY+…`), e.g. an environment variable's value.
    /// The hash in the text must match the key, so a mistyped key is refused, not used.
    pub fn from_text(text: &str) -> Result<Self, NoteError> {
        let rest = text
            .trim()
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or(NoteError::BadKey("a private key starts with PRIVATE+KEY+"))?;
        let (name, hash, seed) = parse_key_text(rest)?;
        let signer = Self::from_seed(&name, seed)?;
        if signer.hash != hash {
            return Err(NoteError::BadKey("the key hash does not match the key"));
        }
        Ok(signer)
    }

    /// From a file holding the private key text (surrounding white space ignored).
    pub fn from_file(path: &Path) -> Result<Self, NoteError> {
        let text = std::fs::read_to_string(path).map_err(|source| NoteError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_text(&text)
    }

    /// The private key text; whoever holds it can sign checkpoints.
    pub fn to_private_text(&self) -> String {
        format!(
            "{PRIVATE_PREFIX}{}",
            key_text(&self.name, self.hash, &self.key.to_bytes())
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            hash: self.hash,
            key: self.key.verifying_key(),
        }
    }

    /// The note: `body`, a blank line and this key's signature line. `body` must be lines
    /// each ending in a newline, none of them empty.
    pub fn sign_note(&self, body: &str) -> Result<String, NoteError> {
        check_body(body)?;
        let signature = self.key.sign(body.as_bytes());
        let mut sig = Vec::with_capacity(68);
        sig.extend_from_slice(&self.hash.to_be_bytes());
        sig.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{body}\n{SIG_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(sig)
        ))
    }
}

/// A public key that checks signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    hash: u32,
    key: VerifyingKey,
}

impl Verifier {
    /// From the verifier key text `<name>+<hash>+<base64>` (as `GET /api/v1/audit/key` serves it).
    pub fn from_text(text: &str) -> Result<Self, NoteError> {
        let (name, hash, key) = parse_key_text(text)?;
        let key = VerifyingKey::from_bytes(&key)
            .map_err(|_| NoteError::BadKey("not an Ed25519 point"))?;
        if key_hash(&name, &key) != hash {
            return Err(NoteError::BadKey("the key hash does not match the key"));
        }
        Ok(Self { name, hash, key })
    }

    pub fn to_text(&self) -> String {
        key_text(&self.name, self.hash, self.key.as_bytes())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_hash(&self) -> u32 {
        self.hash
    }
}

/// A note's body must be non-empty lines of text without control characters, each ending in
/// a newline: the blank line is what separates it from the signatures.
fn check_body(body: &str) -> Result<(), NoteError> {
    if body.is_empty() || !body.ends_with('\n') {
        return Err(NoteError::Malformed("the text must end with a newline"));
    }
    if body.contains("\n\n") || body.starts_with('\n') {
        return Err(NoteError::Malformed("the text holds a blank line"));
    }
    if body.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("the text holds a control character"));
    }
    Ok(())
}

/// A note split into its text and its signatures `(key name, key hash, signature)`.
struct ParsedNote<'a> {
    body: &'a str,
    signatures: Vec<(&'a str, u32, Vec<u8>)>,
}

fn parse_note(note: &str) -> Result<ParsedNote<'_>, NoteError> {
    if !note.ends_with('\n') {
        return Err(NoteError::Malformed("a note ends with a newline"));
    }
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (body, sigs) = (&note[..=split], &note[split + 2..]);
    check_body(body)?;
    let mut signatures = Vec::new();
    for line in sigs.lines() {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "a signature line starts with an em dash",
        ))?;
        let (name, sig) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "a signature line is `— name signature`",
        ))?;
        check_name(name).map_err(|_| NoteError::Malformed("bad key name in a signature"))?;
        let bytes = BASE64
            .decode(sig)
            .map_err(|_| NoteError::Malformed("a signature is base64"))?;
        if bytes.len() < 5 {
            return Err(NoteError::Malformed("a signature is too short"));
        }
        let hash = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        signatures.push((name, hash, bytes[4..].to_vec()));
    }
    if signatures.is_empty() {
        return Err(NoteError::Malformed("no signature"));
    }
    if signatures.len() > MAX_SIGNATURES {
        return Err(NoteError::Malformed("too many signatures"));
    }
    Ok(ParsedNote { body, signatures })
}

/// The text of `note` when a signature by `verifier` verifies. Signatures by other keys are
/// ignored; a signature that claims to be by `verifier` (same name and key hash) and does not
/// verify rejects the note, as Go's `note.Open` does.
pub fn open_note<'a>(note: &'a str, verifier: &Verifier) -> Result<&'a str, NoteError> {
    let parsed = parse_note(note)?;
    let mut verified = false;
    for (name, hash, sig) in &parsed.signatures {
        if *name != verifier.name || *hash != verifier.hash {
            continue;
        }
        let sig = Signature::from_slice(sig)
            .map_err(|_| NoteError::BadSignature(verifier.name.clone()))?;
        verifier
            .key
            .verify(parsed.body.as_bytes(), &sig)
            .map_err(|_| NoteError::BadSignature(verifier.name.clone()))?;
        verified = true;
    }
    if verified {
        Ok(parsed.body)
    } else {
        Err(NoteError::NoSignature(verifier.name.clone()))
    }
}

/// The text of `note` without checking any signature (the note must still be well formed):
/// for reading stored checkpoints when no key is at hand.
pub fn note_text_unverified(note: &str) -> Result<&str, NoteError> {
    Ok(parse_note(note)?.body)
}

/// A new key pair, as the texts `partyedu key generate` writes: the private key (keep it
/// secret, e.g. in a file readable by the service only or an environment variable) and the
/// verifier key to publish.
pub fn generate_key(name: &str) -> Result<(String, String), NoteError> {
    let signer = Signer::generate(name)?;
    Ok((signer.to_private_text(), signer.verifier().to_text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_texts_round_trip() {
        let signer = Signer::from_seed("partyedu-test", [7; 32]).unwrap();
        let again = Signer::from_text(&signer.to_private_text()).unwrap();
        assert_eq!(again.verifier(), signer.verifier());
        let verifier = Verifier::from_text(&signer.verifier().to_text()).unwrap();
        assert_eq!(verifier, signer.verifier());
        assert!(!format!("{signer:?}").contains(&signer.to_private_text()[12..]));
    }

    #[test]
    fn keys_whose_base64_holds_plus_signs_round_trip() {
        let mut plus = 0;
        for seed in 0..64u8 {
            let signer = Signer::from_seed("k", [seed; 32]).unwrap();
            let text = signer.verifier().to_text();
            plus += usize::from(text.matches('+').count() > 2);
            assert_eq!(Verifier::from_text(&text).unwrap(), signer.verifier());
            let again = Signer::from_text(&signer.to_private_text()).unwrap();
            assert_eq!(again.verifier(), signer.verifier());
        }
        assert!(plus > 0, "some key text has a `+` in its base64");
    }

    #[test]
    fn a_key_text_with_the_wrong_hash_is_refused() {
        let text = Signer::from_seed("k", [1; 32])
            .unwrap()
            .verifier()
            .to_text();
        let (name, rest) = text.split_once('+').unwrap();
        let bad = format!("{name}+00000000{}", &rest[8..]);
        assert!(Verifier::from_text(&bad).is_err());
    }
}
