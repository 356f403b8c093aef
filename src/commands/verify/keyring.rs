//! The public keys `verify` and `pull --verify` check signatures with: the `--key` files,
//! and with `--keystore` any signer's key fetched by the fingerprint its signature names
//! (once per fingerprint, then kept).

use std::sync::{Arc, Mutex, PoisonError};

use sifbake_sif::integrity::{self, KeySource};
use sifbake_sif::keys::PublicKey;
use tokio::runtime::Handle;

use crate::commands::pull::images::Verify;
use crate::commands::services::Services;
use crate::diagnostic::Diagnostic;
use crate::scs::KeystoreClient;

/// Given keys, then the keystore.
pub struct KeyRing {
    keys: Vec<PublicKey>,
    keystore: Option<(KeystoreClient, Handle)>,
}

impl KeyRing {
    /// A ring of `keys`, fetching missing ones from `keystore` on the runtime of `Handle`.
    pub fn new(keys: Vec<PublicKey>, keystore: Option<(KeystoreClient, Handle)>) -> KeyRing {
        KeyRing { keys, keystore }
    }
}

impl KeySource for KeyRing {
    fn public_key(&mut self, fingerprint: &str) -> Result<Option<PublicKey>, String> {
        if let Some(key) = self.keys.iter().find(|k| k.fingerprint() == fingerprint) {
            return Ok(Some(key.clone()));
        }
        let Some((keystore, handle)) = &self.keystore else {
            return Ok(None);
        };
        // Verification is synchronous (it hashes whole images); the fetch is not. Inside the
        // runtime the worker is handed off first, so the fetch can be driven from here.
        let fetch = || handle.block_on(keystore.fetch_public_key(fingerprint));
        let fetched = if Handle::try_current().is_ok() {
            tokio::task::block_in_place(fetch)
        } else {
            fetch()
        };
        match fetched {
            Ok(Some(key)) => {
                self.keys.push(key.clone());
                Ok(Some(key))
            }
            Ok(None) => Err(format!(
                "the keystore {} has no key {fingerprint}",
                keystore.url()
            )),
            Err(error) => Err(error.to_string()),
        }
    }
}

/// The keystore the remote's discovery names, reached as the services were.
pub async fn connect(services: &Services) -> Result<KeystoreClient, Box<Diagnostic>> {
    crate::scs::connect_keystore(&services.connect_options, None)
        .await
        .map_err(|error| {
            Box::new(
                Diagnostic::error(
                    "keystore::connect",
                    format!("cannot find the keystore to fetch signers' keys from: {error}"),
                )
                .help(format!("{}; or pass the keys with `--key`", error.help())),
            )
        })
}

/// The check `pull --verify` runs on each downloaded file before it counts as pulled.
pub fn pull_check(ring: KeyRing) -> Verify {
    let ring = Mutex::new(ring);
    Arc::new(move |_item, downloaded| {
        let mut ring = ring.lock().unwrap_or_else(PoisonError::into_inner);
        // Hashing a whole image blocks: the worker's other tasks move elsewhere meanwhile.
        tokio::task::block_in_place(|| integrity::verify_file(&downloaded.path, &mut *ring))
            .map(drop)
            .map_err(|error| format!("it does not verify, so it was not written: {error}"))
    })
}
