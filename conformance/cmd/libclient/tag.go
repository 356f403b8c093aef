package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/blang/semver/v4"
	jsonresp "github.com/sylabs/json-resp"
	"github.com/sylabs/scs-library-client/client"
)

// tag points tag at the image ref resolves to, for d.arch.
//
// The client tags only inside UploadImage (setTagsV2 and setTags in client/api.go are
// unexported), so this repeats their requests exactly, with the client's own exported
// types and HTTP client: the apiVersion check of apiAtLeast, then GET of the tag map and
// one POST of {"Arch","Tag","ImageID"} to v2/tags (or {"Tag","ImageID"} to v1/tags on a
// library older than 2.0.0-alpha.2), each needing exactly 200. It returns "v2" or "v1".
func (d *driver) tag(ref, tag string) (string, error) {
	img, err := d.c.GetImage(d.ctx, d.arch, ref)
	if err != nil {
		return "", fmt.Errorf("get %s: %w", ref, err)
	}
	v2, err := d.apiAtLeast(client.APIVersionV2ArchTags)
	if err != nil {
		return "", err
	}
	if v2 {
		var existing client.ArchTagsResponse
		if err := d.tagRequest(http.MethodGet, "v2/tags/"+img.Container, nil, &existing); err != nil {
			return "", err
		}
		if _, ok := existing.Data[d.arch][tag]; ok {
			d.log.Logf("%s replaces an existing tag for arch %s", tag, d.arch)
		}
		body := client.ArchImageTag{Arch: d.arch, Tag: tag, ImageID: img.ID}
		return "v2", d.tagRequest(http.MethodPost, "v2/tags/"+img.Container, body, nil)
	}
	var existing client.TagsResponse
	if err := d.tagRequest(http.MethodGet, "v1/tags/"+img.Container, nil, &existing); err != nil {
		return "", err
	}
	if _, ok := existing.Data[tag]; ok {
		d.log.Logf("%s replaces an existing tag", tag)
	}
	body := client.ImageTag{Tag: tag, ImageID: img.ID}
	return "v1", d.tagRequest(http.MethodPost, "v1/tags/"+img.Container, body, nil)
}

// apiAtLeast is client/version.go's apiAtLeast: an unreadable version means v1.
func (d *driver) apiAtLeast(required string) (bool, error) {
	vi, err := d.c.GetVersion(d.ctx)
	if err != nil || vi.APIVersion == "" {
		return false, nil
	}
	have, err := semver.Make(vi.APIVersion)
	if err != nil {
		return false, nil
	}
	want, err := semver.Make(required)
	if err != nil {
		return false, err
	}
	return have.GTE(want), nil
}

// tagRequest sends one tag request as client.newRequest builds it: the path resolved
// against the base URL, "Authorization: Bearer", the user agent and no Content-Type.
func (d *driver) tagRequest(method, path string, body interface{}, reply interface{}) error {
	d.log.Logf("tag request %s %s", method, path)
	var payload *bytes.Buffer
	if body != nil {
		encoded, err := json.Marshal(body)
		if err != nil {
			return err
		}
		payload = bytes.NewBuffer(encoded)
	}
	target := d.c.BaseURL.ResolveReference(&url.URL{Path: path}).String()
	var req *http.Request
	var err error
	if payload != nil {
		req, err = http.NewRequestWithContext(d.ctx, method, target, payload)
	} else {
		req, err = http.NewRequestWithContext(d.ctx, method, target, nil)
	}
	if err != nil {
		return err
	}
	if d.c.AuthToken != "" {
		req.Header.Set("Authorization", "Bearer "+d.c.AuthToken)
	}
	if d.c.UserAgent != "" {
		req.Header.Set("User-Agent", d.c.UserAgent)
	}
	res, err := d.c.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		if err := jsonresp.ReadError(res.Body); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		return fmt.Errorf("%s %s: http status %d", method, path, res.StatusCode)
	}
	if reply == nil {
		return nil
	}
	return json.NewDecoder(res.Body).Decode(reply)
}
