// Command sifsign makes OpenPGP keys as `singularity key newpair` does, and signs and
// verifies SIF images with the SIF reference implementation's integrity package
// (github.com/sylabs/sif/v2/pkg/integrity, pinned in go.mod), as `singularity sign` and
// `singularity verify` do. The tests of sifbake's signing judge it against this.
//
// Usage:
//
//	sifsign keygen -private FILE -public FILE [-passphrase P] [-expired] [-revoked] [-no-sign]
//	sifsign sign -key PRIVATE.asc [-passphrase P] IMAGE.sif
//	sifsign verify -key PUBLIC.asc [-key PUBLIC.asc]... IMAGE.sif
//
// keygen writes an RSA 4096 key pair (RSA 2048 with -bits) with SHA-384 self-signatures,
// armored; the flags make the faulty keys sifbake must refuse. sign adds one signature per
// object group, as `singularity sign` without options. verify exits 0 when every group
// verifies with the given keys, 1 with the verifier's error otherwise.
package main

import (
	"bytes"
	"crypto"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/sylabs/sif/v2/pkg/integrity"
	"github.com/sylabs/sif/v2/pkg/sif"
)

type keyFiles []string

func (k *keyFiles) String() string     { return strings.Join(*k, ",") }
func (k *keyFiles) Set(v string) error { *k = append(*k, v); return nil }

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sifsign: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: sifsign keygen|sign|verify ...")
	}
	switch os.Args[1] {
	case "keygen":
		keygen(os.Args[2:])
	case "sign":
		signImage(os.Args[2:])
	case "verify":
		verifyImage(os.Args[2:])
	default:
		fail("unknown subcommand %q", os.Args[1])
	}
}

func keygen(args []string) {
	fs := flag.NewFlagSet("keygen", flag.ExitOnError)
	private := fs.String("private", "", "where to write the armored private key")
	public := fs.String("public", "", "where to write the armored public key")
	passphrase := fs.String("passphrase", "", "encrypt the private key with this passphrase")
	bits := fs.Int("bits", 4096, "RSA key length")
	expired := fs.Bool("expired", false, "make a key that expired yesterday")
	revoked := fs.Bool("revoked", false, "revoke the key")
	noSign := fs.Bool("no-sign", false, "clear the signing flag of the primary key")
	name := fs.String("name", "sifbake test", "user id name")
	_ = fs.Parse(args)
	if *private == "" || *public == "" {
		fail("keygen needs -private and -public")
	}

	// As sypgp's genKeyPair: RSA of the given length, SHA-384 self-signatures.
	conf := &packet.Config{RSABits: *bits, DefaultHash: crypto.SHA384}
	if *expired {
		created := time.Now().Add(-48 * time.Hour)
		conf.Time = func() time.Time { return created }
		conf.KeyLifetimeSecs = 3600
	}
	e, err := openpgp.NewEntity(*name, "", "test@sifbake.invalid", conf)
	if err != nil {
		fail("generating the key: %v", err)
	}
	if *noSign {
		for _, ident := range e.Identities {
			ident.SelfSignature.FlagSign = false
			if err := ident.SelfSignature.SignUserId(ident.UserId.Id, e.PrimaryKey, e.PrivateKey, conf); err != nil {
				fail("re-signing the user id: %v", err)
			}
		}
	}
	if *revoked {
		if err := e.RevokeKey(packet.KeyCompromised, "test", conf); err != nil {
			fail("revoking: %v", err)
		}
	}
	if *passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(*passphrase), nil); err != nil {
			fail("encrypting: %v", err)
		}
	}

	var priv bytes.Buffer
	w, err := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err == nil {
		err = e.SerializePrivateWithoutSigning(w, nil)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		fail("armoring the private key: %v", err)
	}
	var pub bytes.Buffer
	w, err = armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err == nil {
		err = e.Serialize(w)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		fail("armoring the public key: %v", err)
	}
	if err := os.WriteFile(*private, append(priv.Bytes(), '\n'), 0o600); err != nil {
		fail("%v", err)
	}
	if err := os.WriteFile(*public, append(pub.Bytes(), '\n'), 0o644); err != nil {
		fail("%v", err)
	}
	fmt.Printf("%X\n", e.PrimaryKey.Fingerprint)
}

func readKeyRing(path string) openpgp.EntityList {
	f, err := os.Open(path)
	if err != nil {
		fail("%v", err)
	}
	defer f.Close()
	el, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		fail("reading %s: %v", path, err)
	}
	return el
}

func signImage(args []string) {
	fs := flag.NewFlagSet("sign", flag.ExitOnError)
	key := fs.String("key", "", "armored private key")
	passphrase := fs.String("passphrase", "", "the private key's passphrase")
	_ = fs.Parse(args)
	if *key == "" || fs.NArg() != 1 {
		fail("usage: sifsign sign -key PRIVATE.asc IMAGE.sif")
	}
	el := readKeyRing(*key)
	e := el[0]
	if e.PrivateKey == nil {
		fail("%s holds no private key", *key)
	}
	if e.PrivateKey.Encrypted {
		if err := e.DecryptPrivateKeys([]byte(*passphrase)); err != nil {
			fail("decrypting the key: %v", err)
		}
	}
	f, err := sif.LoadContainerFromPath(fs.Arg(0))
	if err != nil {
		fail("loading %s: %v", fs.Arg(0), err)
	}
	defer f.UnloadContainer()
	s, err := integrity.NewSigner(f, integrity.OptSignWithEntity(e))
	if err != nil {
		fail("%v", err)
	}
	if err := s.Sign(); err != nil {
		fail("signing %s: %v", fs.Arg(0), err)
	}
}

func verifyImage(args []string) {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	var keys keyFiles
	fs.Var(&keys, "key", "armored public key (repeatable)")
	_ = fs.Parse(args)
	if len(keys) == 0 || fs.NArg() != 1 {
		fail("usage: sifsign verify -key PUBLIC.asc IMAGE.sif")
	}
	var kr openpgp.EntityList
	for _, k := range keys {
		kr = append(kr, readKeyRing(k)...)
	}
	f, err := sif.LoadContainerFromPath(fs.Arg(0), sif.OptLoadWithFlag(os.O_RDONLY))
	if err != nil {
		fail("loading %s: %v", fs.Arg(0), err)
	}
	defer f.UnloadContainer()
	v, err := integrity.NewVerifier(f, integrity.OptVerifyWithKeyRing(kr))
	if err != nil {
		fail("%v", err)
	}
	if err := v.Verify(); err != nil {
		fail("verify %s: %v", fs.Arg(0), err)
	}
	fmt.Println("verified")
}
