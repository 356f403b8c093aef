//! `sifbake sign` and `sifbake verify` on local files: images the emulator builds, signed in
//! place, judged by sifbake and by the SIF reference (`conformance/cmd/sifsign`, sif/v2
//! `integrity`); every refusal leaves the file byte-identical and says which file and why.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::go_tools::go_tool;
use crate::support::Sifbake;
use crate::test_keys;

/// An image exactly as the emulator's builds write it.
fn emulated_image(dir: &Path, name: &str) -> PathBuf {
    let bytes = scs_emulator::sif::write_emulated_image(
        scs_emulator::sif::arch_code("amd64").unwrap(),
        b"Bootstrap: docker\nFrom: alpine:3.20\n",
        b"{\"emulated\":true}",
        &vec![42_u8; 200_000],
    );
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

struct Keys {
    dir: tempfile::TempDir,
    fingerprint: String,
}

impl Keys {
    fn new(passphrase: Option<&str>) -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let key = test_keys::generate("Signer <signer@example.com>", passphrase);
        std::fs::write(dir.path().join("key.asc"), &key.secret).unwrap();
        std::fs::write(dir.path().join("pub.asc"), &key.public).unwrap();
        let other = test_keys::generate("Other <other@example.com>", None);
        std::fs::write(dir.path().join("other.asc"), &other.public).unwrap();
        Keys {
            dir,
            fingerprint: key.fingerprint,
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn sign(dir: &Path, image: &Path, key: &Path) -> Sifbake {
    Sifbake::new(dir)
        .arg("sign")
        .arg(image)
        .arg("--key")
        .arg(key)
}

fn verify(dir: &Path, images: &[&Path], keys: &[&Path]) -> Sifbake {
    let mut run = Sifbake::new(dir).arg("verify");
    for image in images {
        run = run.arg(image);
    }
    for key in keys {
        run = run.arg("--key").arg(key);
    }
    run
}

#[test]
fn a_signed_image_verifies_here_and_with_the_reference() {
    let keys = Keys::new(Some("s3cret-passphrase"));
    let dir = tempfile::tempdir().unwrap();
    let image = emulated_image(dir.path(), "app.sif");
    let run = sign(dir.path(), &image, &keys.path("key.asc"))
        .env("SIFBAKE_SIGN_PASSPHRASE", "s3cret-passphrase")
        .arg("--format")
        .arg("json")
        .run()
        .expect_code(0);
    let json = run.json();
    assert_eq!(json["fingerprint"], keys.fingerprint.as_str());
    assert_eq!(json["signatures"][0]["group"], 1);
    assert_eq!(json["signatures"][0]["object"], 4);
    assert!(!run.stderr().contains("s3cret") && !run.stdout().contains("s3cret"));

    let run = verify(
        dir.path(),
        &[&image],
        &[&keys.path("other.asc"), &keys.path("pub.asc")],
    )
    .run()
    .expect_code(0);
    assert!(
        run.stdout().contains(&format!(
            "app.sif: verified, signed by {}",
            keys.fingerprint
        )),
        "{}",
        run.stdout()
    );

    if let Some(tool) = go_tool("sifsign", "./cmd/sifsign") {
        let output = Command::new(&tool)
            .arg("verify")
            .arg("-key")
            .arg(keys.path("pub.asc"))
            .arg(&image)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "the reference rejects it: {output:?}"
        );
    }
}

#[test]
fn verify_says_which_image_fails_and_why() {
    let keys = Keys::new(None);
    let dir = tempfile::tempdir().unwrap();
    let unsigned = emulated_image(dir.path(), "unsigned.sif");
    let signed = emulated_image(dir.path(), "signed.sif");
    let run = Sifbake::new(dir.path())
        .args(["sign", "signed.sif", "--key"])
        .arg(keys.path("key.asc"))
        .run()
        .expect_code(0);
    assert_eq!(
        run.stdout(),
        format!(
            "signed signed.sif with key {} (signature object 4 for group 1)\n",
            keys.fingerprint
        )
    );

    let run = verify(dir.path(), &[&signed, &unsigned], &[&keys.path("pub.asc")])
        .run()
        .expect_code(1);
    assert!(
        run.stdout().contains("signed.sif: verified"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stderr().contains("unsigned.sif") && run.stderr().contains("no signature"),
        "{}",
        run.stderr()
    );

    let run = verify(dir.path(), &[&signed], &[&keys.path("other.asc")])
        .arg("--format")
        .arg("json")
        .run()
        .expect_code(1);
    assert!(run.stderr().contains(&keys.fingerprint), "{}", run.stderr());
    assert_eq!(run.json()[0]["missing_key"], keys.fingerprint.as_str());
    assert_eq!(run.json()[0]["verified"], false);

    // One byte of the partition changed: the object is named, here and by the reference.
    let bytes = std::fs::read(&signed).unwrap();
    let mut tampered = bytes.clone();
    let at = bytes.len() - 20_000;
    tampered[at] ^= 1;
    let broken = dir.path().join("broken.sif");
    std::fs::write(&broken, &tampered).unwrap();
    let run = verify(dir.path(), &[&broken], &[&keys.path("pub.asc")])
        .run()
        .expect_code(1);
    assert!(
        run.stderr().contains("broken.sif") && run.stderr().contains("emulated-rootfs"),
        "{}",
        run.stderr()
    );
    if let Some(tool) = go_tool("sifsign", "./cmd/sifsign") {
        let output = Command::new(&tool)
            .arg("verify")
            .arg("-key")
            .arg(keys.path("pub.asc"))
            .arg(&broken)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{output:?}");
    }

    let not_sif = dir.path().join("notes.txt");
    std::fs::write(&not_sif, "hello").unwrap();
    let run = verify(dir.path(), &[&not_sif], &[&keys.path("pub.asc")])
        .run()
        .expect_code(2);
    assert!(run.stderr().contains("not a SIF"), "{}", run.stderr());
}

#[test]
fn refused_signing_leaves_the_file_byte_identical() {
    let keys = Keys::new(Some("right"));
    let dir = tempfile::tempdir().unwrap();
    let image = emulated_image(dir.path(), "app.sif");
    let before = std::fs::read(&image).unwrap();

    for (passphrase, needle) in [
        (None, "set SIFBAKE_SIGN_PASSPHRASE"),
        (Some("wrong-one"), "does not hold"),
    ] {
        let mut run = sign(dir.path(), &image, &keys.path("key.asc"));
        if let Some(passphrase) = passphrase {
            run = run.env("SIFBAKE_SIGN_PASSPHRASE", passphrase);
        }
        let run = run.run().expect_code(2);
        assert!(
            run.stderr().contains("wrong passphrase"),
            "{}",
            run.stderr()
        );
        assert!(run.stderr().contains(needle), "{}", run.stderr());
        assert!(!run.stderr().contains("wrong-one"), "{}", run.stderr());
    }
    // --passphrase-env names another variable.
    sign(dir.path(), &image, &keys.path("key.asc"))
        .args(["--passphrase-env", "MY_PASS"])
        .env("MY_PASS", "wrong-one")
        .run()
        .expect_code(2);

    let run = sign(dir.path(), &image, &keys.path("pub.asc"))
        .run()
        .expect_code(2);
    assert!(run.stderr().contains("public key"), "{}", run.stderr());
    assert!(run.stderr().contains("pub.asc"), "{}", run.stderr());
    assert_eq!(std::fs::read(&image).unwrap(), before);

    let not_sif = dir.path().join("x.sif");
    std::fs::write(&not_sif, "#!/bin/sh\n").unwrap();
    let run = sign(dir.path(), &not_sif, &keys.path("key.asc"))
        .env("SIFBAKE_SIGN_PASSPHRASE", "right")
        .run()
        .expect_code(2);
    assert!(
        run.stderr().contains("x.sif") && run.stderr().contains("not a SIF"),
        "{}",
        run.stderr()
    );
    assert_eq!(std::fs::read(&not_sif).unwrap(), b"#!/bin/sh\n");

    let missing = dir.path().join("missing.sif");
    let run = sign(dir.path(), &missing, &keys.path("key.asc"))
        .env("SIFBAKE_SIGN_PASSPHRASE", "right")
        .run();
    assert_ne!(run.code(), 0);
    assert!(run.stderr().contains("missing.sif"), "{}", run.stderr());
    assert!(!missing.exists());
}
