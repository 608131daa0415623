// Package plot turns the metrics that training runs write to disk into
// learning-curve figures.
//
// A run directory holds metrics.jsonl, one JSON object per PPO iteration,
// and config.toml, from which only exp_name and seed are read. Runs that
// share a label (the experiment name) are treated as seeds of one
// experiment: [Aggregate] interpolates them onto a common grid of env steps
// and summarises them as a mean with a band, and [LearningCurves] draws
// those summaries as PNG and SVG figures.
package plot
