package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sylabs/scs-library-client/client"
	"github.com/sylabs/sif/v2/pkg/sif"
)

// scenario runs push, re-push, get by tag and by hash, tag, both downloads, search and
// delete, checking every answer against the file pushed. With -multipart-size N it also
// pushes a SIF of N bytes written by sif/v2, which the client uploads in parts when N is
// above its 64 MiB threshold (minimumPartSize, client/push.go).
func (d *driver) scenario(args []string) {
	fs := flag.NewFlagSet("scenario", flag.ExitOnError)
	sifPath := fs.String("sif", "", "SIF file to push")
	ref := fs.String("ref", "", "entity/collection/container")
	multipartSize := fs.Int64("multipart-size", 0, "also push a SIF of this many bytes (0: none)")
	if err := fs.Parse(args); err != nil || *sifPath == "" || *ref == "" || fs.NArg() != 0 {
		usage()
	}
	work, err := os.MkdirTemp("", "libclient")
	if err != nil {
		fail("temp dir", err)
	}
	defer os.RemoveAll(work)

	vi, err := d.c.GetVersion(d.ctx)
	if err != nil {
		fail("version", err)
	}
	fmt.Printf("info library version %q apiVersion %q\n", vi.Version, vi.APIVersion)

	small := d.roundTrip(*sifPath, *ref, "1.0", work)

	path, err := d.push(*sifPath, *ref+":again")
	if err != nil {
		fail("push again", err)
	}
	if path != "none" {
		fail("push again", fmt.Errorf("upload=%s, want none: the image was uploaded already", path))
	}
	again, err := d.c.GetImage(d.ctx, d.arch, *ref+":again")
	if err != nil || again.ID != small.ID {
		fail("push again", fmt.Errorf("tag again: %v, %+v", err, again))
	}
	ok("push again upload=none (already uploaded, tagged again)")

	if _, err := d.tag(*ref+":1.0", "extra"); err != nil {
		fail("tag", err)
	}
	extra, err := d.c.GetImage(d.ctx, d.arch, *ref+":extra")
	if err != nil || extra.ID != small.ID {
		fail("tag", fmt.Errorf("get by the new tag: %v, %+v", err, extra))
	}
	ok("tag 1.0 as extra for " + d.arch)

	if _, err := d.c.GetImage(d.ctx, d.arch, *ref+":no-such-tag"); !errors.Is(err, client.ErrNotFound) {
		fail("get missing tag", fmt.Errorf("want ErrNotFound, got %v", err))
	}
	ok("missing tag is not found")

	var single bytes.Buffer
	if err := d.c.DownloadImage(d.ctx, &single, d.arch, *ref, "latest", nil); err != nil {
		fail("single-stream pull", err)
	}
	if !bytes.Equal(single.Bytes(), readFile(*sifPath)) {
		fail("single-stream pull", fmt.Errorf("%d bytes differ from the %d pushed", single.Len(), small.Size))
	}
	ok("single-stream pull byte-identical")

	container := filepath.Base(*ref)
	results, err := d.c.Search(d.ctx, map[string]string{"value": container, "arch": d.arch})
	if err != nil {
		fail("search", err)
	}
	found := slices.ContainsFunc(results.Images, func(img client.Image) bool { return img.ID == small.ID })
	if !found {
		fail("search", fmt.Errorf("image %s not among %d images found", small.ID, len(results.Images)))
	}
	ok("search finds the image")

	if *multipartSize > 0 {
		big := filepath.Join(work, "big.sif")
		if err := writeSIF(big, d.arch, *multipartSize); err != nil {
			fail("write big SIF", err)
		}
		img := d.roundTrip(big, *ref, "big", work)
		if err := d.c.DeleteImage(d.ctx, *ref+":big", d.arch); err != nil {
			fail("delete big", err)
		}
		if _, err := d.c.GetImage(d.ctx, d.arch, *ref+":"+img.Hash); !errors.Is(err, client.ErrNotFound) {
			fail("delete big", fmt.Errorf("want ErrNotFound by hash, got %v", err))
		}
		ok("delete big image")
	}

	if err := d.c.DeleteImage(d.ctx, *ref+":1.0", d.arch); err != nil {
		fail("delete", err)
	}
	for _, tag := range []string{"1.0", "latest", "again", "extra", small.Hash} {
		if _, err := d.c.GetImage(d.ctx, d.arch, *ref+":"+tag); !errors.Is(err, client.ErrNotFound) {
			fail("get after delete", fmt.Errorf("%s: want ErrNotFound, got %v", tag, err))
		}
	}
	ok("delete removes the image and its tags")

	bad, err := client.NewClient(&client.Config{BaseURL: d.url, AuthToken: "wrong-token", Logger: d.log})
	if err != nil {
		fail("bad token", err)
	}
	if _, err := bad.GetImage(d.ctx, d.arch, *ref+":latest"); err == nil || errors.Is(err, client.ErrNotFound) {
		fail("bad token", fmt.Errorf("want an authorization error, got %v", err))
	}
	ok("bad token is refused")

	fmt.Println("PASS")
}

// roundTrip pushes file to ref with tag and latest, reads it back by tag and by hash,
// and pulls it with the concurrent downloader; it returns the image.
func (d *driver) roundTrip(file, ref, tag, work string) *client.Image {
	original := readFile(file)
	sum := sha256.Sum256(original)
	hash := "sha256." + hex.EncodeToString(sum[:])

	path, err := d.push(file, ref+":"+tag+",latest")
	if err != nil {
		fail("push "+tag, err)
	}
	if path == "none" || path == "unknown" {
		fail("push "+tag, fmt.Errorf("upload=%s: the client uploaded nothing", path))
	}
	ok(fmt.Sprintf("push %s:%s,latest size=%d upload=%s", ref, tag, len(original), path))

	img, err := d.c.GetImage(d.ctx, d.arch, ref+":"+tag)
	if err != nil {
		fail("get by tag "+tag, err)
	}
	var problems []string
	if img.Hash != hash {
		problems = append(problems, fmt.Sprintf("hash %s, want %s", img.Hash, hash))
	}
	if !img.Uploaded || img.Size != int64(len(original)) {
		problems = append(problems, fmt.Sprintf("uploaded %v size %d, want true %d", img.Uploaded, img.Size, len(original)))
	}
	if img.Architecture == nil || *img.Architecture != d.arch {
		problems = append(problems, fmt.Sprintf("arch %v, want %s", img.Architecture, d.arch))
	}
	if !slices.Contains(img.Tags, tag) || !slices.Contains(img.Tags, "latest") {
		problems = append(problems, fmt.Sprintf("tags %v lack %s and latest", img.Tags, tag))
	}
	if len(problems) > 0 {
		fail("get by tag "+tag, errors.New(strings.Join(problems, "; ")))
	}
	ok("get by tag " + tag)

	byHash, err := d.c.GetImage(d.ctx, d.arch, ref+":"+hash)
	if err != nil || byHash.ID != img.ID {
		fail("get by hash", fmt.Errorf("%v, %+v, want id %s", err, byHash, img.ID))
	}
	ok("get by hash " + hash[:15] + "...")

	out := filepath.Join(work, "pulled-"+tag+".sif")
	mode, err := d.pull(ref+":"+tag, out)
	if err != nil {
		fail("concurrent pull "+tag, err)
	}
	if pulled := readFile(out); !bytes.Equal(pulled, original) {
		fail("concurrent pull "+tag, fmt.Errorf("%d bytes differ from the %d pushed", len(pulled), len(original)))
	}
	ok(fmt.Sprintf("concurrent pull %s byte-identical download=%s", tag, mode))
	return img
}

func readFile(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("read "+path, err)
	}
	return data
}

// writeSIF writes, with sif/v2 as SingularityCE's SIF assembler does, an image of a
// definition and a primary system partition for arch, the partition sized so that the
// file is size bytes (at least one partition byte). The content is deterministic.
func writeSIF(path, arch string, size int64) error {
	def := []byte("Bootstrap: scratch\n# libclient multipart test image\n")
	build := func(partition int64) error {
		defInput, err := sif.NewDescriptorInput(sif.DataDeffile, bytes.NewReader(def))
		if err != nil {
			return err
		}
		part, err := sif.NewDescriptorInput(sif.DataPartition, io.LimitReader(&pattern{}, partition),
			sif.OptPartitionMetadata(sif.FsRaw, sif.PartPrimSys, arch))
		if err != nil {
			return err
		}
		f, err := sif.CreateContainerAtPath(path, sif.OptCreateDeterministic(),
			sif.OptCreateWithLaunchScript("#!/usr/bin/env run-singularity\n"),
			sif.OptCreateWithDescriptors(defInput, part))
		if err != nil {
			return err
		}
		return f.UnloadContainer()
	}
	// The partition's offset depends only on what precedes it, so one probe finds it.
	if err := build(1); err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return build(max(1, size-(info.Size()-1)))
}

// pattern is an endless reader of bytes whose period (251, a prime) divides no part
// size, so a part served from the wrong offset cannot compare equal.
type pattern struct{ at int64 }

func (r *pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte((r.at + int64(i)) % 251)
	}
	r.at += int64(len(p))
	return len(p), nil
}
