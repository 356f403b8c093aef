// Command sifcheck opens SIF files with the SIF reference implementation
// (github.com/sylabs/sif/v2/pkg/sif, pinned in go.mod) and prints, per file, one JSON
// document of the global header and every descriptor in use: what any SingularityCE
// reads from an image, as sif/v2 reads it.
//
// Usage:
//
//	sifcheck FILE...
//	sifcheck -rewrite OUT FILE
//
// With -rewrite it writes OUT with sif/v2's own writer from what it read in FILE: the
// same launch script, image id, time and data objects with their types, names, groups,
// links and partition metadata, at the offsets sif/v2 chooses. A writer that lays a file
// out as sif/v2 does produces a byte-identical copy.
//
// It exits 1 at the first file sif/v2 cannot load.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
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

// rewrite writes out with sif/v2 from the objects sif/v2 reads in path.
func rewrite(path, out string) error {
	f, err := sif.LoadContainerFromPath(path, sif.OptLoadWithFlag(os.O_RDONLY))
	if err != nil {
		return err
	}
	defer f.UnloadContainer()
	descriptors, err := f.GetDescriptors()
	if err != nil {
		return err
	}
	inputs := make([]sif.DescriptorInput, 0, len(descriptors))
	for _, d := range descriptors {
		data, err := d.GetData()
		if err != nil {
			return fmt.Errorf("descriptor %d: %w", d.ID(), err)
		}
		opts := []sif.DescriptorInputOpt{sif.OptObjectTime(d.CreatedAt())}
		if d.Name() != "" {
			opts = append(opts, sif.OptObjectName(d.Name()))
		}
		if d.GroupID() == 0 {
			opts = append(opts, sif.OptNoGroup())
		} else {
			opts = append(opts, sif.OptGroupID(d.GroupID()))
		}
		if link, isGroup := d.LinkedID(); link != 0 && isGroup {
			opts = append(opts, sif.OptLinkedGroupID(link))
		} else if link != 0 {
			opts = append(opts, sif.OptLinkedID(link))
		}
		switch d.DataType() {
		case sif.DataPartition:
			fs, pt, arch, err := d.PartitionMetadata()
			if err != nil {
				return fmt.Errorf("descriptor %d: %w", d.ID(), err)
			}
			opts = append(opts, sif.OptPartitionMetadata(fs, pt, arch))
		case sif.DataDeffile, sif.DataGenericJSON, sif.DataEnvVar, sif.DataLabels, sif.DataGeneric:
		default:
			return fmt.Errorf("descriptor %d: cannot copy the metadata of a %v object", d.ID(), d.DataType())
		}
		input, err := sif.NewDescriptorInput(d.DataType(), bytes.NewReader(data), opts...)
		if err != nil {
			return fmt.Errorf("descriptor %d: %w", d.ID(), err)
		}
		inputs = append(inputs, input)
	}
	copied, err := sif.CreateContainerAtPath(out,
		sif.OptCreateWithLaunchScript(f.LaunchScript()),
		sif.OptCreateWithID(f.ID()),
		sif.OptCreateWithTime(f.CreatedAt()),
		sif.OptCreateWithDescriptorCapacity(f.DescriptorsTotal()),
		sif.OptCreateWithDescriptors(inputs...),
	)
	if err != nil {
		return err
	}
	return copied.UnloadContainer()
}

func main() {
	out := flag.String("rewrite", "", "write a copy of the one FILE with sif/v2 to this path")
	flag.Parse()
	if flag.NArg() < 1 || (*out != "" && flag.NArg() != 1) {
		fmt.Fprintln(os.Stderr, "usage: sifcheck FILE... | sifcheck -rewrite OUT FILE")
		os.Exit(2)
	}
	if *out != "" {
		if err := rewrite(flag.Arg(0), *out); err != nil {
			fmt.Fprintf(os.Stderr, "sifcheck: %s: %v\n", flag.Arg(0), err)
			os.Exit(1)
		}
		return
	}
	enc := json.NewEncoder(os.Stdout)
	for _, path := range flag.Args() {
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
