// Command go-client drives the Debian-packaged Go library client
// (github.com/apptainer/container-library-client) against a running scs-emulator:
// push a SIF, set tags, get the image by tag and by hash, pull it back byte-identical
// (single-stream and through the concurrent downloader), search, delete.
//
// Usage: go-client -url URL -token TOKEN -sif FILE [-arch amd64] [-ref entity/collection/container]
//
// It prints one line per step and exits non-zero at the first step that fails.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	client "github.com/apptainer/container-library-client/client"
)

type stderrLogger struct{}

func (stderrLogger) Log(v ...interface{}) {
	fmt.Fprintln(os.Stderr, append([]interface{}{"client:"}, v...)...)
}
func (stderrLogger) Logf(format string, v ...interface{}) {
	fmt.Fprintf(os.Stderr, "client: "+format+"\n", v...)
}

func fail(step string, err error) {
	fmt.Printf("FAIL %s: %v\n", step, err)
	os.Exit(1)
}

func ok(step string) { fmt.Printf("ok   %s\n", step) }

func main() {
	url := flag.String("url", "", "emulator base URL")
	token := flag.String("token", "", "bearer token")
	sifPath := flag.String("sif", "", "SIF file to push")
	arch := flag.String("arch", "amd64", "architecture")
	ref := flag.String("ref", "gotest/tools/hello", "entity/collection/container")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	original, err := os.ReadFile(*sifPath)
	if err != nil {
		fail("read sif", err)
	}
	sum := sha256.Sum256(original)
	hash := "sha256." + hex.EncodeToString(sum[:])

	c, err := client.NewClient(&client.Config{BaseURL: *url, AuthToken: *token, UserAgent: "scs-emulator-go-driver/1", Logger: stderrLogger{}})
	if err != nil {
		fail("new client", err)
	}

	vi, err := c.GetVersion(ctx)
	if err != nil {
		fail("version", err)
	}
	fmt.Printf("info library version %q apiVersion %q\n", vi.Version, vi.APIVersion)

	// Push: find-or-create entity/collection/container, create image, upload, tag.
	f, err := os.Open(*sifPath)
	if err != nil {
		fail("open sif", err)
	}
	if _, err := c.UploadImage(ctx, f, *ref, *arch, []string{"1.0", "latest"}, "pushed by the Go driver", nil); err != nil {
		fail("push", err)
	}
	f.Close()
	ok("push " + *ref + " tags 1.0,latest")

	// A second push of the same file finds the image uploaded and only (re)tags it.
	f, _ = os.Open(*sifPath)
	if _, err := c.UploadImage(ctx, f, *ref, *arch, []string{"again"}, "pushed again", nil); err != nil {
		fail("push again", err)
	}
	f.Close()
	ok("push again (already uploaded, tag again)")

	byTag, err := c.GetImage(ctx, *arch, *ref+":1.0")
	if err != nil {
		fail("get by tag", err)
	}
	if byTag.Hash != hash || !byTag.Uploaded || byTag.Size != int64(len(original)) {
		fail("get by tag", fmt.Errorf("got hash %s uploaded %v size %d, want %s true %d", byTag.Hash, byTag.Uploaded, byTag.Size, hash, len(original)))
	}
	ok("get image by tag 1.0")

	for _, tag := range []string{"latest", "again"} {
		img, err := c.GetImage(ctx, *arch, *ref+":"+tag)
		if err != nil || img.ID != byTag.ID {
			fail("get by tag "+tag, fmt.Errorf("err %v, id %v", err, img))
		}
	}
	ok("get image by tags latest, again")

	byHash, err := c.GetImage(ctx, *arch, *ref+":"+hash)
	if err != nil {
		fail("get by hash", err)
	}
	if byHash.ID != byTag.ID {
		fail("get by hash", fmt.Errorf("id %s, want %s", byHash.ID, byTag.ID))
	}
	ok("get image by hash")

	if _, err := c.GetImage(ctx, *arch, *ref+":no-such-tag"); err != client.ErrNotFound {
		fail("get missing tag", fmt.Errorf("want ErrNotFound, got %v", err))
	}
	ok("missing tag is not found")

	var pulled bytes.Buffer
	if err := c.DownloadImage(ctx, &pulled, *arch, *ref, "1.0", nil); err != nil {
		fail("pull", err)
	}
	if !bytes.Equal(pulled.Bytes(), original) {
		fail("pull", fmt.Errorf("pulled %d bytes differ from the %d pushed", pulled.Len(), len(original)))
	}
	ok("pull byte-identical")

	dir, err := os.MkdirTemp("", "go-client")
	if err != nil {
		fail("temp dir", err)
	}
	defer os.RemoveAll(dir)
	dst, err := os.Create(filepath.Join(dir, "pulled.sif"))
	if err != nil {
		fail("create", err)
	}
	spec := &client.Downloader{Concurrency: 3, PartSize: 5 * 1024 * 1024, BufferSize: 32 * 1024}
	if err := c.ConcurrentDownloadImage(ctx, dst, *arch, *ref, "latest", spec, nil); err != nil {
		fail("concurrent pull", err)
	}
	dst.Close()
	concurrent, _ := os.ReadFile(dst.Name())
	if !bytes.Equal(concurrent, original) {
		fail("concurrent pull", fmt.Errorf("pulled %d bytes differ from the %d pushed", len(concurrent), len(original)))
	}
	ok("concurrent pull byte-identical")

	containerName := filepath.Base(*ref)
	results, err := c.Search(ctx, map[string]string{"value": containerName})
	if err != nil {
		fail("search", err)
	}
	foundContainer, foundImage := false, false
	for _, ct := range results.Containers {
		if ct.ID == byTag.Container {
			foundContainer = true
		}
	}
	// With an arch the search covers images only (the client's Search documentation).
	results, err = c.Search(ctx, map[string]string{"value": containerName, "arch": *arch})
	if err != nil {
		fail("search by arch", err)
	}
	for _, im := range results.Images {
		if im.ID == byTag.ID {
			foundImage = true
		}
	}
	if !foundContainer || !foundImage {
		fail("search", fmt.Errorf("container found %v, image found %v in %+v", foundContainer, foundImage, results))
	}
	ok("search finds container and image")

	if err := c.DeleteImage(ctx, *ref+":1.0", *arch); err != nil {
		fail("delete", err)
	}
	if _, err := c.GetImage(ctx, *arch, *ref+":1.0"); err != client.ErrNotFound {
		fail("get after delete", fmt.Errorf("want ErrNotFound, got %v", err))
	}
	if _, err := c.GetImage(ctx, *arch, *ref+":latest"); err != client.ErrNotFound {
		fail("get after delete", fmt.Errorf("want ErrNotFound for latest too, got %v", err))
	}
	ok("delete removes the image and its tags")

	bad, _ := client.NewClient(&client.Config{BaseURL: *url, AuthToken: "wrong-token", Logger: stderrLogger{}})
	if _, err := bad.GetImage(ctx, *arch, *ref+":1.0"); err == nil || err == client.ErrNotFound {
		fail("bad token", fmt.Errorf("want an authorization error, got %v", err))
	} else {
		fmt.Printf("info bad token error: %v\n", err)
	}
	ok("bad token is refused")

	fmt.Println("PASS")
}
