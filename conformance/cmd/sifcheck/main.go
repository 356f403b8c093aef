// Command sifcheck opens SIF files with the SIF reference implementation
// (github.com/sylabs/sif/v2/pkg/sif, pinned in go.mod) and prints, per file, one JSON
// document of the global header and every descriptor in use: what any SingularityCE
// reads from an image, as sif/v2 reads it.
//
// Usage: sifcheck FILE...
//
// It exits 1 at the first file sif/v2 cannot load.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/sylabs/sif/v2/pkg/sif"
)

type partition struct {
	Fs   string `json:"fs"`
	Type string `json:"type"`
	Arch string `json:"arch"`
}

type descriptor struct {
	ID          uint32     `json:"id"`
	DataType    string     `json:"datatype"`
	Group       uint32     `json:"group"`
	Link        uint32     `json:"link"`
	LinkIsGroup bool       `json:"linkIsGroup"`
	Offset      int64      `json:"offset"`
	Size        int64      `json:"size"`
	Name        string     `json:"name"`
	Partition   *partition `json:"partition,omitempty"`
	// Text is the object's content for the data types that are text: the
	// definition and generic JSON.
	Text *string `json:"text,omitempty"`
}

type image struct {
	File             string       `json:"file"`
	LaunchScript     string       `json:"launchScript"`
	Version          string       `json:"version"`
	PrimaryArch      string       `json:"primaryArch"`
	ID               string       `json:"id"`
	DescriptorsFree  int64        `json:"descriptorsFree"`
	DescriptorsTotal int64        `json:"descriptorsTotal"`
	DataOffset       int64        `json:"dataOffset"`
	DataSize         int64        `json:"dataSize"`
	Descriptors      []descriptor `json:"descriptors"`
}

func read(path string) (*image, error) {
	f, err := sif.LoadContainerFromPath(path, sif.OptLoadWithFlag(os.O_RDONLY))
	if err != nil {
		return nil, err
	}
	defer f.UnloadContainer()
	img := &image{
		File:             path,
		LaunchScript:     f.LaunchScript(),
		Version:          f.Version(),
		PrimaryArch:      f.PrimaryArch(),
		ID:               f.ID(),
		DescriptorsFree:  f.DescriptorsFree(),
		DescriptorsTotal: f.DescriptorsTotal(),
		DataOffset:       f.DataOffset(),
		DataSize:         f.DataSize(),
		Descriptors:      []descriptor{},
	}
	descriptors, err := f.GetDescriptors()
	if err != nil {
		return nil, err
	}
	for _, d := range descriptors {
		link, linkIsGroup := d.LinkedID()
		out := descriptor{
			ID:          d.ID(),
			DataType:    d.DataType().String(),
			Group:       d.GroupID(),
			Link:        link,
			LinkIsGroup: linkIsGroup,
			Offset:      d.Offset(),
			Size:        d.Size(),
			Name:        d.Name(),
		}
		switch d.DataType() {
		case sif.DataPartition:
			fs, pt, arch, err := d.PartitionMetadata()
			if err != nil {
				return nil, fmt.Errorf("descriptor %d: %w", d.ID(), err)
			}
			out.Partition = &partition{Fs: fs.String(), Type: pt.String(), Arch: arch}
		case sif.DataDeffile, sif.DataGenericJSON:
			data, err := d.GetData()
			if err != nil {
				return nil, fmt.Errorf("descriptor %d: %w", d.ID(), err)
			}
			text := string(data)
			out.Text = &text
		}
		img.Descriptors = append(img.Descriptors, out)
	}
	return img, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sifcheck FILE...")
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, path := range os.Args[1:] {
		img, err := read(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sifcheck: %s: %v\n", path, err)
			os.Exit(1)
		}
		if err := enc.Encode(img); err != nil {
			fmt.Fprintln(os.Stderr, "sifcheck:", err)
			os.Exit(1)
		}
	}
}
