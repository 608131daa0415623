package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/lago-rl/lago/engine/config"
)

func init() {
	register("config", "list every configuration key (-list) or print a config with defaults filled (-config FILE)", cmdConfig)
}

func cmdConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("config", stderr)
	list := fs.Bool("list", false, "list every key with its type, default, allowed values and meaning")
	path := fs.String("config", "", "a TOML config to check and print in full (every key, defaults filled)")
	var sets multiFlag
	fs.Var(&sets, "set", "override a key: -set key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *list {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tTYPE\tDEFAULT\tALLOWED\tMEANING")
		for _, k := range config.Keys() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Key, k.Kind, k.Default, k.Allowed, k.Doc)
		}
		return tw.Flush()
	}
	cfg, err := loadConfig(*path, sets)
	if err != nil {
		return err
	}
	out, err := cfg.Encode()
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// loadConfig reads path (or the embedded defaults when path is empty), then
// applies -set overrides and validates the result.
func loadConfig(path string, sets []string) (config.Config, error) {
	cfg := defaultConfig()
	if path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return cfg, err
		}
	}
	for _, s := range sets {
		if err := cfg.Set(s); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.Validate()
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// defaultConfig is what `lago train` runs without -config: CleanRL's PPO on
// CartPole-v1 (config.Default), with the device chosen automatically.
func defaultConfig() config.Config { return config.Default() }
