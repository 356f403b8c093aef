// Command defparse prints what SingularityCE's own definition-file parser
// (pkg/build/types/parser, parser.All) reads in definition files, as JSON: the
// oracle sifbake's parser is compared with.
//
// With file arguments it prints one JSON document per file, one per line. With
// -batch it reads NUL-terminated paths on standard input and answers each with
// one JSON line, so a test can run thousands of files through one process.
// With -batch -contents it reads the files themselves instead, each as its
// length in decimal, a newline and that many bytes: a fuzzer then writes no
// files, and the answers leave out the raw texts it sent.
//
// Every answer also carries fileStages: for each definition, the stage each of
// its %files groups copies from, as types.Files.Stage() (the function the
// remote build client uses to pick what to upload) returns it.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"

	"github.com/sylabs/singularity/v4/pkg/build/types"
	"github.com/sylabs/singularity/v4/pkg/build/types/parser"
)

// result is one file's reading: the definitions as the parser returns them, or its error.
type result struct {
	File        string             `json:"file"`
	OK          bool               `json:"ok"`
	Error       string             `json:"error,omitempty"`
	Definitions []types.Definition `json:"definitions,omitempty"`
	FileStages  [][]string         `json:"fileStages,omitempty"`
}

func parsePath(path string) result {
	data, err := os.ReadFile(path)
	if err != nil {
		return result{File: path, Error: err.Error()}
	}
	r := parseData(data)
	r.File = path
	return r
}

func parseData(data []byte) result {
	var r result
	defs, err := parseBytes(data)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.OK = true
	r.Definitions = defs
	for _, d := range defs {
		stages := make([]string, 0, len(d.BuildData.Files))
		for _, f := range d.BuildData.Files {
			stages = append(stages, f.Stage())
		}
		r.FileStages = append(r.FileStages, stages)
	}
	return r
}

// parseBytes runs parser.All, turning a panic inside it into an error: the oracle's
// crash on a mutated file is a finding, not a reason to stop the batch.
func parseBytes(data []byte) (defs []types.Definition, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("parser panicked: %v", p)
		}
	}()
	return parser.All(bytes.NewReader(data))
}

// readContents reads one length-prefixed file; io.EOF when the input ends between files.
func readContents(in *bufio.Reader) ([]byte, error) {
	line, err := in.ReadString('\n')
	if err == io.EOF && line == "" {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("reading a length: %w", err)
	}
	n, err := strconv.Atoi(line[:len(line)-1])
	if err != nil || n < 0 {
		return nil, fmt.Errorf("bad length %q", line)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(in, data); err != nil {
		return nil, fmt.Errorf("reading %d bytes: %w", n, err)
	}
	return data, nil
}

func main() {
	batch := flag.Bool("batch", false, "read NUL-terminated paths on stdin, answer each with a JSON line")
	contents := flag.Bool("contents", false, "with -batch: read length-prefixed file contents instead of paths")
	flag.Parse()
	// ParseDefinitionFile logs scanner errors (a token over 64 KiB) before returning them;
	// the error is in the answer already.
	log.SetOutput(io.Discard)

	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	emit := func(r result) {
		if err := enc.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, "defparse:", err)
			os.Exit(2)
		}
		// A caller may wait for each answer before sending the next file.
		if *batch {
			if err := out.Flush(); err != nil {
				os.Exit(2)
			}
		}
	}

	if !*batch {
		for _, path := range flag.Args() {
			emit(parsePath(path))
		}
		return
	}
	in := bufio.NewReaderSize(os.Stdin, 1<<16)
	if *contents {
		for {
			data, err := readContents(in)
			if err == io.EOF {
				return
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "defparse:", err)
				os.Exit(2)
			}
			r := parseData(data)
			// The caller sent these bytes; echoing them back as base64 only costs time.
			for i := range r.Definitions {
				r.Definitions[i].Raw = nil
				r.Definitions[i].FullRaw = nil
			}
			emit(r)
		}
	}
	for {
		path, err := in.ReadString(0)
		if len(path) > 1 {
			emit(parsePath(path[:len(path)-1]))
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "defparse:", err)
			os.Exit(2)
		}
	}
}
