package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/run"
	"github.com/lago-rl/lago/engine/runfile"
)

// distFlags are `lago train`'s data-parallel flags: -nproc launches ranks
// here; the others place this process in a group, with the meaning of the
// environment variables torchrun and Slurm set (which they override).
type distFlags struct {
	nproc int
	spec  run.GroupSpec
}

func (d *distFlags) register(fs *flag.FlagSet, nprocDoc string) {
	d.spec = run.UnsetGroupSpec()
	fs.IntVar(&d.nproc, "nproc", 0, nprocDoc)
	fs.IntVar(&d.spec.Rank, "rank", -1, "this process's rank in a data-parallel group (default: $RANK or $SLURM_PROCID)")
	fs.IntVar(&d.spec.WorldSize, "world-size", -1, "ranks in the group (default: $WORLD_SIZE or $SLURM_NTASKS)")
	fs.IntVar(&d.spec.LocalRank, "local-rank", -1, "rank on this machine: its CUDA device (default: $LOCAL_RANK or $SLURM_LOCALID)")
	fs.StringVar(&d.spec.MasterAddr, "master-addr", "", "host of rank 0, which hosts the rendezvous store (default: $MASTER_ADDR)")
	fs.IntVar(&d.spec.MasterPort, "master-port", -1, "port of rank 0's rendezvous store (default: $MASTER_PORT)")
	fs.StringVar(&d.spec.StoreFile, "dist-store", "", "rendezvous through this new file instead of MASTER_ADDR:MASTER_PORT (one machine or a shared filesystem)")
	fs.StringVar(&d.spec.Backend, "dist-backend", "auto", "collective backend: "+strings.Join(run.Backends, ", ")+" (auto: nccl on CUDA where built, else gloo)")
	fs.DurationVar(&d.spec.Timeout, "dist-timeout", torch.DefaultDistTimeout, "a rank that dies or hangs makes the others fail within this; must exceed a rollout plus a checkpoint")
}

// launch runs `lago train` with a's flags as d.nproc local ranks.
func (d *distFlags) launch(a runfile.TrainArgs, stdout, stderr io.Writer) error {
	return d.launchCommand(a.CommandLine(), a.ProgressJSON, nil, stdout, stderr)
}

// launchCommand runs `lago ARGS...` (a command line without -nproc) as
// d.nproc local ranks. notices replaces run's interrupt notices, which speak
// of lago train's iterations, for a command whose ranks stop otherwise.
func (d *distFlags) launchCommand(args []string, rawRank0Stdout bool, notices map[string]string, stdout, stderr io.Writer) error {
	if d.spec.Rank >= 0 || d.spec.WorldSize >= 0 || d.spec.StoreFile != "" {
		return fmt.Errorf("-nproc starts the ranks itself: drop -rank, -world-size and -dist-store")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args = append(args[:len(args):len(args)], "-dist-backend", d.spec.Backend, "-dist-timeout", d.spec.Timeout.String())
	in := run.WatchInterrupts(func(notice string) {
		if n, ok := notices[notice]; ok {
			notice = n
		}
		fmt.Fprintln(stderr, notice)
	})
	defer in.Close()
	return run.Launch(in.Stop, in.Abort, run.LaunchOptions{Exe: exe, Args: args, NProc: d.nproc,
		Stdout: stdout, Stderr: stderr, RawRank0Stdout: rawRank0Stdout})
}

// join makes this process a rank when flags or environment say so (nil: a
// single process). cfg is this process's config, for the device; a rank
// other than 0 that could not load one (-resume of a directory on another
// machine) still joins: it trains rank 0's config.
func (d *distFlags) join(cfg config.Config, cfgErr error) (*torch.Group, int, error) {
	dev := torch.CPU
	if cfgErr == nil {
		if dv, err := torch.ParseDevice(cfg.Device); err == nil {
			dev = dv
		}
	}
	return d.spec.Join(os.Getenv, dev)
}
