// Command keyclient drives Sylabs' own key service client
// (github.com/sylabs/scs-key-client/client, pinned in go.mod) against an HKP keystore such
// as scs-emulator's, so that the emulator and sifbake's pushes are judged by the client
// `singularity key push`, `key pull`, `key search` and `verify` use.
//
// Usage:
//
//	keyclient -url URL [-token-env NAME] <op> ...
//
// Operations:
//
//	push FILE          PKSAdd of the armored key in FILE
//	get HEX            GetKey: HEX is a fingerprint or key ID (8, 16, 32 or 40 digits);
//	                   prints the armored keyring the service returned
//	lookup SEARCH      PKSLookup op=get, exact, as SingularityCE's verify asks for a key ID
//	                   (SEARCH is sent as given, e.g. 0x1a2b...)
//	index SEARCH       PKSLookup op=index, fingerprint=on, options=mr, as `key search`
//
// The token is read from the environment variable -token-env names, never from the command
// line. The client refuses a token over plain HTTP unless the host is `localhost`, so give
// http://localhost:PORT for a loopback service. A failure prints the client's error and
// exits 1; an HTTP error status also prints `status: CODE` on standard error.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/sylabs/scs-key-client/client"
)

func main() {
	url := flag.String("url", "", "base URL of the keystore")
	tokenEnv := flag.String("token-env", "", "environment variable holding the bearer token")
	flag.Parse()
	args := flag.Args()
	if *url == "" || len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: keyclient -url URL [-token-env NAME] push FILE | get HEX | lookup SEARCH | index SEARCH")
		os.Exit(2)
	}
	opts := []client.Option{client.OptBaseURL(*url), client.OptUserAgent("keyclient-conformance")}
	if *tokenEnv != "" {
		opts = append(opts, client.OptBearerToken(os.Getenv(*tokenEnv)))
	}
	c, err := client.NewClient(opts...)
	if err != nil {
		fail(err)
	}
	out, err := run(context.Background(), c, args[0], args[1])
	if err != nil {
		fail(err)
	}
	fmt.Print(out)
}

func run(ctx context.Context, c *client.Client, op, arg string) (string, error) {
	switch op {
	case "push":
		text, err := os.ReadFile(arg)
		if err != nil {
			return "", err
		}
		if err := c.PKSAdd(ctx, string(text)); err != nil {
			return "", err
		}
		return "pushed\n", nil
	case "get":
		search, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(arg), "0x"))
		if err != nil {
			return "", fmt.Errorf("%q is not hexadecimal: %w", arg, err)
		}
		return c.GetKey(ctx, search)
	case "lookup":
		return c.PKSLookup(ctx, nil, arg, client.OperationGet, false, true, nil)
	case "index":
		pd := client.PageDetails{}
		return c.PKSLookup(ctx, &pd, arg, client.OperationIndex, true, false, []string{client.OptionMachineReadable})
	default:
		return "", fmt.Errorf("unknown operation %q", op)
	}
}

func fail(err error) {
	var httpErr *client.HTTPError
	if errors.As(err, &httpErr) {
		fmt.Fprintf(os.Stderr, "status: %d\n", httpErr.Code())
	}
	fmt.Fprintln(os.Stderr, "keyclient:", err)
	os.Exit(1)
}
