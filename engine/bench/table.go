package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report as a table for people: the machine, then
// one line per row with its ratios.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "host %s, %s; %s, %d CPUs; device %s; libtorch %s; %s; %gs per measurement\n",
		r.Host, r.Date.Format("2006-01-02 15:04 UTC"), r.CPU, r.CPUs, r.Device, r.Torch, r.GoVersion, r.Duration)
	switch {
	case r.ReferenceSkipped != "":
		fmt.Fprintf(w, "reference: skipped: %s\n", r.ReferenceSkipped)
	case r.ReferenceTorch != "":
		fmt.Fprintf(w, "reference: PyTorch %s (bench/reference/ppo_update.py), each side at its best thread count\n", r.ReferenceTorch)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\tvalue\tunit\tper CPU-s\tthreads\tratio\tload\treference\tlago/ref\tCPU ns/sample lago, ref (ref/lago)\tnote")
	for _, row := range r.Rows {
		value, unit := "-", row.Unit
		if row.Unit != "" {
			value = fmt.Sprintf("%.0f", row.Value)
		}
		threads := ""
		if row.Threads > 0 {
			threads = fmt.Sprint(row.Threads)
			if len(row.PerThreads) > 1 {
				var per []string
				for _, k := range sortedKeys(row.PerThreads) {
					per = append(per, fmt.Sprintf("%s:%.0f", k, row.PerThreads[k]))
				}
				threads += " (" + strings.Join(per, " ") + ")"
			}
		}
		ratio, perCPU, load := "", "", ""
		if row.Versus != "" {
			ratio = fmt.Sprintf("%.2f vs %s", row.Ratio, row.Versus)
			if row.CPURatio > 0 {
				ratio += fmt.Sprintf(" (CPU-time %.2f)", row.CPURatio)
			}
		}
		if row.PerCore > 0 {
			ratio += fmt.Sprintf("; %.2f of per-core", row.PerCore)
		}
		if row.PerCPU > 0 {
			perCPU = fmt.Sprintf("%.0f", row.PerCPU)
		}
		if row.Load > 0 {
			load = fmt.Sprintf("%.2f", row.Load)
		}
		ref, refRatio := "", ""
		if row.Reference > 0 {
			ref = fmt.Sprintf("%.0f (%d thr)", row.Reference, row.RefThreads)
			refRatio = fmt.Sprintf("%.2f×", row.RefRatio)
		}
		cpu := ""
		if row.CPU > 0 {
			cpu = fmt.Sprintf("%.0f", row.CPU)
			if row.RefCPU > 0 {
				cpu += fmt.Sprintf(", %.0f (%.2f×)", row.RefCPU, row.RefCPURatio)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Name, value, unit, perCPU, threads, ratio, load, ref, refRatio, cpu, row.Note)
	}
	return tw.Flush()
}

func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if len(ks[i]) != len(ks[j]) {
			return len(ks[i]) < len(ks[j])
		}
		return ks[i] < ks[j]
	})
	return ks
}
