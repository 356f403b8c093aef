// Command libclient drives Sylabs' own library client
// (github.com/sylabs/scs-library-client/client, pinned in go.mod) against a library
// such as scs-emulator, so that the emulator is judged by the client real users run.
//
// Usage:
//
//	libclient -url URL -token TOKEN [-arch amd64] <op> ...
//
// Operations:
//
//	scenario -sif FILE -ref entity/collection/container [-multipart-size N]
//	push FILE REF[:tag[,tag...]]
//	get REF                 REF ends in :tag or :sha256.<hex>; prints the image JSON
//	tag REF TAG             points TAG at REF's image for -arch (v2 arch tags when offered)
//	pull REF OUT            the concurrent, ranged download SingularityCE uses
//	search QUERY            prints the results JSON
//	delete REF
//
// Every operation prints one line per step; scenario ends with PASS. A failure prints
// the reason and exits 1. The client's own log goes to standard error.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sylabs/scs-library-client/client"
)

// recordingLogger passes the client's log to standard error and keeps it, because the
// log is the only place the client says which upload and download path it chose.
type recordingLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *recordingLogger) Log(v ...interface{}) {
	l.add(strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

func (l *recordingLogger) Logf(format string, v ...interface{}) {
	l.add(fmt.Sprintf(format, v...))
}

func (l *recordingLogger) add(line string) {
	fmt.Fprintln(os.Stderr, "client:", line)
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

// mark returns the number of lines logged so far, for since.
func (l *recordingLogger) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// since returns the lines logged after mark.
func (l *recordingLogger) since(mark int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines[mark:]...)
}

// driver is one client against one library.
type driver struct {
	ctx  context.Context
	c    *client.Client
	log  *recordingLogger
	url  string
	arch string
}

func fail(step string, err error) {
	fmt.Printf("FAIL %s: %v\n", step, err)
	os.Exit(1)
}

func ok(step string) { fmt.Printf("ok   %s\n", step) }

func usage() {
	fmt.Fprintln(os.Stderr, `usage: libclient -url URL -token TOKEN [-arch amd64] <op> ...
  scenario -sif FILE -ref entity/collection/container [-multipart-size N]
  push FILE REF[:tag[,tag...]]
  get REF
  tag REF TAG
  pull REF OUT
  search QUERY
  delete REF`)
	os.Exit(2)
}

func main() {
	url := flag.String("url", "", "library base URL")
	token := flag.String("token", "", "bearer token")
	arch := flag.String("arch", "amd64", "architecture (Go name)")
	flag.Usage = usage
	flag.Parse()
	args := flag.Args()
	if *url == "" || len(args) == 0 {
		usage()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := &recordingLogger{}
	c, err := client.NewClient(&client.Config{
		BaseURL:   *url,
		AuthToken: *token,
		UserAgent: "scs-emulator-libclient/1",
		Logger:    log,
	})
	if err != nil {
		fail("new client", err)
	}
	d := &driver{ctx: ctx, c: c, log: log, url: *url, arch: *arch}

	op, rest := args[0], args[1:]
	need := func(n int) {
		if len(rest) != n {
			usage()
		}
	}
	switch op {
	case "scenario":
		d.scenario(rest)
	case "push":
		need(2)
		path, err := d.push(rest[0], rest[1])
		if err != nil {
			fail("push", err)
		}
		ok(fmt.Sprintf("push %s upload=%s", rest[1], path))
	case "get":
		need(1)
		img, err := d.c.GetImage(d.ctx, d.arch, rest[0])
		if err != nil {
			fail("get", err)
		}
		printJSON(img)
	case "tag":
		need(2)
		version, err := d.tag(rest[0], rest[1])
		if err != nil {
			fail("tag", err)
		}
		ok(fmt.Sprintf("tag %s as %s for %s (%s tags)", rest[0], rest[1], d.arch, version))
	case "pull":
		need(2)
		mode, err := d.pull(rest[0], rest[1])
		if err != nil {
			fail("pull", err)
		}
		ok(fmt.Sprintf("pull %s download=%s", rest[0], mode))
	case "search":
		need(1)
		results, err := d.c.Search(d.ctx, map[string]string{"value": rest[0], "arch": d.arch})
		if err != nil {
			fail("search", err)
		}
		printJSON(results)
	case "delete":
		need(1)
		if err := d.c.DeleteImage(d.ctx, rest[0], d.arch); err != nil {
			fail("delete", err)
		}
		ok("delete " + rest[0])
	default:
		usage()
	}
}

func printJSON(v interface{}) {
	out, err := json.Marshal(v)
	if err != nil {
		fail("encode JSON", err)
	}
	fmt.Println(string(out))
}

// splitRef splits entity/collection/container[:tag] at the tag; an absent tag is empty.
func splitRef(ref string) (path, tag string) {
	ref = strings.TrimPrefix(ref, "library://")
	if i := strings.LastIndex(ref, ":"); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// push uploads file with UploadImage as SingularityCE's push does: tags come apart from
// the path (UploadImage refuses a path with tags), and no tag means "latest".
// It returns the upload path the client took, read from its log.
func (d *driver) push(file, ref string) (string, error) {
	path, tagText := splitRef(ref)
	tags := []string{"latest"}
	if tagText != "" {
		tags = strings.Split(tagText, ",")
	}
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	mark := d.log.mark()
	if _, err := d.c.UploadImage(d.ctx, f, path, d.arch, tags, "pushed by libclient", nil); err != nil {
		return "", err
	}
	return uploadPath(d.log.since(mark)), nil
}

// uploadPath names the upload the client's log shows (client/push.go's messages).
func uploadPath(lines []string) string {
	path := "unknown"
	parts := 0
	for _, line := range lines {
		switch {
		case strings.HasPrefix(line, "Image is already present in the library"):
			path = "none"
		case strings.HasPrefix(line, "postFile calling v1/imagefile/"):
			path = "v1"
		case strings.HasPrefix(line, "legacyPostFileV2 calling v2/imagefile/"):
			path = "v2-single"
		case strings.HasPrefix(line, "completeMultipartUpload calling"):
			path = "v2-multipart"
		}
		fmt.Sscanf(line, "Uploaded %d parts", &parts)
	}
	if path == "v2-multipart" {
		path = fmt.Sprintf("v2-multipart/%d", parts)
	}
	return path
}

// pull downloads ref to out with ConcurrentDownloadImage and the part size and
// concurrency SingularityCE configures by default (singularity.conf: "download
// concurrency = 3", "download part size = 5242880"). It returns the download mode the
// client's log shows: "ranged/<parts>" after a redirect, "single" after a plain 200.
func (d *driver) pull(ref, out string) (string, error) {
	path, tag := splitRef(ref)
	f, err := os.OpenFile(out, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Close()
	mark := d.log.mark()
	spec := &client.Downloader{Concurrency: 3, PartSize: 5 * 1024 * 1024}
	if err := d.c.ConcurrentDownloadImage(d.ctx, f, d.arch, path, tag, spec, nil); err != nil {
		return "", err
	}
	mode := "unknown"
	for _, line := range d.log.since(mark) {
		var size, parts, streams, partSize int64
		if n, _ := fmt.Sscanf(line, "size: %d, parts: %d, streams: %d, partsize: %d", &size, &parts, &streams, &partSize); n == 4 {
			mode = fmt.Sprintf("ranged/%d", parts)
		}
		if strings.HasPrefix(line, "Library endpoint does not support concurrent downloads") {
			mode = "single"
		}
	}
	return mode, nil
}
