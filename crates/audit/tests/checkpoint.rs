//! Signed checkpoints: the exact note format, sign → verify, and what verification refuses.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use partyedu_audit::merkle::MemoryTree;
use partyedu_audit::note::open_note;
use partyedu_audit::{
    NoteError, Signer, TreeHead, Verifier, generate_key, split_checkpoints, verify_checkpoint,
};
use sha2::{Digest, Sha256};

fn head(size: u64) -> TreeHead {
    let mut tree = MemoryTree::new();
    for i in 0..size {
        tree.push_leaf(&i.to_be_bytes());
    }
    TreeHead {
        origin: "partyedu/test-subdistrict".to_owned(),
        size,
        root: tree.root(size).unwrap(),
    }
}

fn signer(name: &str) -> Signer {
    let (private, _) = generate_key(name).unwrap();
    Signer::from_text(&private).unwrap()
}

#[test]
fn a_signed_checkpoint_verifies_with_its_key() {
    let signer = signer("partyedu-operator");
    let note = head(13).sign(&signer).unwrap();
    let verifier = Verifier::from_text(&signer.verifier().to_text()).unwrap();
    assert_eq!(verify_checkpoint(&note, &verifier).unwrap(), head(13));
}

#[test]
fn the_note_is_byte_exact() {
    let signer = signer("partyedu-operator");
    let h = head(5);
    let note = h.sign(&signer).unwrap();
    let vkey = signer.verifier().to_text();
    let (name, rest) = vkey.split_once('+').unwrap();
    let (hash_hex, key_b64) = rest.split_once('+').unwrap();
    assert_eq!(name, "partyedu-operator");

    // The verifier key: name, the key hash, base64(0x01 ‖ 32-byte public key).
    let key = BASE64.decode(key_b64).unwrap();
    assert_eq!(key.len(), 33);
    assert_eq!(key[0], 0x01);
    let mut digest = Sha256::new();
    digest.update(b"partyedu-operator\n\x01");
    digest.update(&key[1..]);
    let want_hash = &digest.finalize()[..4];
    assert_eq!(hash_hex, hex::encode(want_hash));

    // The body, the blank line, one signature line with the em dash.
    let body = format!("partyedu/test-subdistrict\n5\n{}\n", h.root.to_base64());
    let (note_body, sig_line) = note.split_once("\n\n").unwrap();
    assert_eq!(format!("{note_body}\n"), body);
    let sig = sig_line
        .strip_prefix("\u{2014} partyedu-operator ")
        .unwrap()
        .strip_suffix('\n')
        .unwrap();
    assert!(!sig.contains('\n'));
    let sig = BASE64.decode(sig).unwrap();
    assert_eq!(sig.len(), 4 + 64);
    assert_eq!(&sig[..4], want_hash);

    // The signature is plain Ed25519 over the body.
    let public = ed25519_dalek::VerifyingKey::from_bytes(&key[1..].try_into().unwrap()).unwrap();
    let signature = ed25519_dalek::Signature::from_slice(&sig[4..]).unwrap();
    public
        .verify_strict(body.as_bytes(), &signature)
        .expect("an Ed25519 signature over the note text");
}

#[test]
fn a_tampered_body_or_signature_is_refused() {
    let signer = signer("op");
    let verifier = signer.verifier();
    let note = head(8).sign(&signer).unwrap();

    let other_root = head(9).root.to_base64();
    let changed_root = note.replace(&head(8).root.to_base64(), &other_root);
    assert!(verify_checkpoint(&changed_root, &verifier).is_err());
    let changed_size = note.replacen("\n8\n", "\n9\n", 1);
    assert!(verify_checkpoint(&changed_size, &verifier).is_err());
    let changed_origin = note.replacen("partyedu/", "partyedx/", 1);
    assert!(verify_checkpoint(&changed_origin, &verifier).is_err());

    // Flip one bit of the signature itself (past the 4-byte key hash).
    let (body, sig_line) = note.split_once("\n\n").unwrap();
    let sig_b64 = sig_line.trim_end().rsplit(' ').next().unwrap();
    let mut sig = BASE64.decode(sig_b64).unwrap();
    sig[10] ^= 1;
    let forged = format!("{body}\n\n\u{2014} op {}\n", BASE64.encode(&sig));
    assert!(matches!(
        verify_checkpoint(&forged, &verifier),
        Err(NoteError::BadSignature(_))
    ));

    // The same note checked with another key: no signature by that key.
    let stranger = self::signer("op").verifier();
    assert!(matches!(
        verify_checkpoint(&note, &stranger),
        Err(NoteError::NoSignature(_))
    ));
}

#[test]
fn signatures_by_unknown_keys_are_ignored() {
    let operator = signer("op");
    let witness = signer("witness.example");
    let note = head(3).sign(&operator).unwrap();
    let (_, witness_line) = head(3)
        .sign(&witness)
        .unwrap()
        .split_once("\n\n")
        .map(|(b, s)| (b.to_owned(), s.to_owned()))
        .unwrap();
    // A co-signed note: the operator's and the witness's signature lines.
    let cosigned = format!("{note}{witness_line}");
    assert_eq!(
        verify_checkpoint(&cosigned, &operator.verifier()).unwrap(),
        head(3)
    );
    assert_eq!(
        verify_checkpoint(&cosigned, &witness.verifier()).unwrap(),
        head(3)
    );
    // A garbage signature by some unknown key changes nothing either.
    let garbage = format!("{note}\u{2014} nobody {}\n", BASE64.encode([9u8; 68]));
    assert!(verify_checkpoint(&garbage, &operator.verifier()).is_ok());
    // But a note signed only by the unknown key is not accepted.
    assert!(open_note(&head(3).sign(&witness).unwrap(), &operator.verifier()).is_err());
}

#[test]
fn malformed_notes_and_keys_are_refused() {
    let signer = signer("op");
    let verifier = signer.verifier();
    let note = head(2).sign(&signer).unwrap();
    assert!(verify_checkpoint(note.trim_end(), &verifier).is_err());
    assert!(verify_checkpoint(&note.replace("\n\n", "\n"), &verifier).is_err());
    assert!(Verifier::from_text("op+00000000+AAAA").is_err());
    assert!(Signer::from_text(&signer.verifier().to_text()).is_err());
    assert!(generate_key("has space").is_err());
    assert!(generate_key("has+plus").is_err());
    let bad_origin = TreeHead {
        origin: "two\nlines".into(),
        ..head(1)
    };
    assert!(bad_origin.sign(&signer).is_err());
}

#[test]
fn private_keys_round_trip_through_files() {
    let signer = signer("op");
    let dir = std::env::temp_dir().join(format!("partyedu-audit-key-{}", std::process::id()));
    std::fs::write(&dir, format!("{}\n", signer.to_private_text())).unwrap();
    let loaded = Signer::from_file(&dir).unwrap();
    std::fs::remove_file(&dir).unwrap();
    assert_eq!(loaded.verifier(), signer.verifier());
    assert_eq!(
        head(4).sign(&loaded).unwrap(),
        head(4).sign(&signer).unwrap()
    );
}

#[test]
fn several_checkpoints_split_apart() {
    let signer = signer("op");
    let (a, b) = (
        head(1).sign(&signer).unwrap(),
        head(2).sign(&signer).unwrap(),
    );
    for text in [format!("{a}{b}"), format!("{a}\n{b}\n")] {
        let notes = split_checkpoints(&text);
        assert_eq!(notes, vec![a.as_str(), b.as_str()]);
    }
}
