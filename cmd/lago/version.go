package main

import (
	"fmt"
	"io"

	"github.com/lago-rl/lago/bindings/torch"
)

func init() {
	register("version", "print lago's version, libtorch's, and the device training will use", cmdVersion)
}

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	dev, err := torch.ParseDevice("auto")
	if err != nil {
		return err
	}
	name, err := torch.DeviceName(dev)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lago     %s\nlibtorch %s\ndevice   %s (%s)\n", version, torch.Version(), dev, name)
	return nil
}
