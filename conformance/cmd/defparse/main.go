// Command defparse prints what SingularityCE's own definition-file parser
// (pkg/build/types/parser, parser.All) reads in definition files, as JSON: the
// oracle sifbake's parser is compared with.
//
// With file arguments it prints one JSON document per file, one per line. With
// -batch it reads NUL-terminated paths on standard input and answers each with
// one JSON line, so a test can run thousands of files through one process.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sylabs/singularity/v4/pkg/build/types"
	"github.com/sylabs/singularity/v4/pkg/build/types/parser"
)

// result is one file's reading: the definitions as the parser returns them, or its error.
type result struct {
	File        string             `json:"file"`
	OK          bool               `json:"ok"`
	Error       string             `json:"error,omitempty"`
	Definitions []types.Definition `json:"definitions,omitempty"`
}

func parse(path string) result {
	r := result{File: path}
	data, err := os.ReadFile(path)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defs, err := parseBytes(data)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.OK = true
	r.Definitions = defs
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

func main() {
	batch := flag.Bool("batch", false, "read NUL-terminated paths on stdin, answer each with a JSON line")
	flag.Parse()

	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	emit := func(r result) {
		if err := enc.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, "defparse:", err)
			os.Exit(2)
		}
	}

	if !*batch {
		for _, path := range flag.Args() {
			emit(parse(path))
		}
		return
	}
	in := bufio.NewReader(os.Stdin)
	for {
		path, err := in.ReadString(0)
		if len(path) > 1 {
			emit(parse(path[:len(path)-1]))
			// The caller waits for each answer before sending the next path.
			if ferr := out.Flush(); ferr != nil {
				os.Exit(2)
			}
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
