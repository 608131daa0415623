package runfile

// Files inside a run directory. Every package that reads or writes a run
// directory names its files through these.
const (
	ConfigFile     = "config.toml"     // the run's effective config, every key
	MetricsFile    = "metrics.jsonl"   // one Metrics line per iteration
	CheckpointFile = "checkpoint.lago" // the trainer's state, for -resume and eval
	SummaryFile    = "summary.json"    // a Summary, written when the run completes
	LockFile       = "lock"            // flock'ed by the process that owns the run (see Lock)
)

// EpisodeWindow is how many of the latest finished episodes every reported
// return and success rate averages: the progress line, the final line,
// summary.json and `lago compare`. One window everywhere, so that a run's
// last progress line and its final line agree.
const EpisodeWindow = 100
