package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// result is what one scenario measured. It is printed as one JSON line;
// zero figures are left out, since each scenario fills only its own.
type result struct {
	Scenario string `json:"scenario"`
	Store    string `json:"store"`
	Quick    bool   `json:"quick,omitempty"`
	// RawRPS is the raw reference the percentages are of: measured just
	// before the scenario (or its drain) by the scenarios that report a
	// percentage, since other load on a shared machine comes and goes;
	// the run's first measurement for the others.
	RawRPS  float64 `json:"raw_rps"`
	FsyncMS float64 `json:"fsync_p50_ms"`

	Events         int64   `json:"events,omitempty"`
	Deliveries     int64   `json:"deliveries,omitempty"`
	DeliveriesPerS float64 `json:"deliveries_per_s,omitempty"`
	PctOfRaw       float64 `json:"pct_of_raw,omitempty"`
	PublishPerS    float64 `json:"publish_events_per_s,omitempty"`

	// Publish→receive latency of first arrivals, and of the publish
	// request alone.
	P50MS        float64 `json:"p50_ms,omitempty"`
	P99MS        float64 `json:"p99_ms,omitempty"`
	MaxMS        float64 `json:"max_ms,omitempty"`
	PublishP50MS float64 `json:"publish_p50_ms,omitempty"`
	PublishP99MS float64 `json:"publish_p99_ms,omitempty"`

	CPUMSPerDelivery float64 `json:"cpu_ms_per_delivery,omitempty"`
	RawCPUMSPerReq   float64 `json:"raw_cpu_ms_per_req,omitempty"`
	// CPUPctOfRaw is the raw reference's CPU per request over the CPU per
	// delivery: the share of the raw rate hookd would reach if both ran
	// CPU-bound on the same cores. Unlike PctOfRaw it hardly moves with
	// other load on a shared machine.
	CPUPctOfRaw float64 `json:"cpu_pct_of_raw,omitempty"`
	// GroupCommit is the SQLite writer's mean requests per transaction.
	GroupCommit float64 `json:"group_commit,omitempty"`

	RetryDelayP50MS float64 `json:"retry_delay_p50_ms,omitempty"`
	RetryDelayMaxMS float64 `json:"retry_delay_max_ms,omitempty"`

	Endpoints         int     `json:"endpoints,omitempty"`
	Cold202MS         float64 `json:"cold_202_ms,omitempty"`
	Warm202MS         float64 `json:"warm_202_ms,omitempty"`
	FanoutDeliveredMS float64 `json:"fanout_delivered_ms,omitempty"`

	CreatePerS    float64 `json:"create_events_per_s,omitempty"`
	FailPerS      float64 `json:"first_attempts_per_s,omitempty"`
	RSSMiB        float64 `json:"rss_mib,omitempty"`
	RSSAnonMiB    float64 `json:"rss_anon_mib,omitempty"`
	RSSFileMiB    float64 `json:"rss_file_mib,omitempty"`
	PeakRSSMiB    float64 `json:"peak_rss_mib,omitempty"`
	PeakAnonMiB   float64 `json:"peak_anon_mib,omitempty"`
	PeakFileMiB   float64 `json:"peak_file_mib,omitempty"`
	HeapMiB       float64 `json:"heap_mib,omitempty"`
	DrainPerS     float64 `json:"drain_per_s,omitempty"`
	DrainPctOfRaw float64 `json:"drain_pct_of_raw,omitempty"`
	// FreshPerS is the same node's rate for fresh events, the drain's
	// reference.
	FreshPerS      float64 `json:"fresh_per_s,omitempty"`
	DrainPeakMiB   float64 `json:"drain_peak_rss_mib,omitempty"`
	BaselineP99MS  float64 `json:"baseline_p99_ms,omitempty"`
	BaselineP50MS  float64 `json:"baseline_p50_ms,omitempty"`
	IsolationRatio float64 `json:"p99_ratio,omitempty"`

	Nodes          []nodeFigure `json:"nodes,omitempty"`
	SQLitePerS     float64      `json:"sqlite_deliveries_per_s,omitempty"`
	Duplicates     int64        `json:"duplicates,omitempty"`
	Target         string       `json:"target,omitempty"`
	Met            *bool        `json:"met,omitempty"`
	Error          string       `json:"error,omitempty"`
	ElapsedSeconds float64      `json:"elapsed_s"`

	headline string // the table's figure
}

// nodeFigure is the nodes scenario's figure for one cluster size.
type nodeFigure struct {
	Nodes          int     `json:"nodes"`
	RawRPS         float64 `json:"raw_rps"`
	DeliveriesPerS float64 `json:"deliveries_per_s"`
	PctOfRaw       float64 `json:"pct_of_raw"`
	// CPUMSPerDelivery counts this process and PostgreSQL together.
	CPUMSPerDelivery float64 `json:"cpu_ms_per_delivery"`
	CPUPctOfRaw      float64 `json:"cpu_pct_of_raw"`
	// CPU used during the run, in cores: this process (the nodes, the
	// publishers and the receiver) and the PostgreSQL server processes.
	HookdCores    float64        `json:"process_cores"`
	PostgresCores float64        `json:"postgres_cores"`
	Activity      map[string]int `json:"pg_activity,omitempty"`
	Error         string         `json:"error,omitempty"`
}

func (r *result) met(ok bool, target string) {
	r.Target = target
	r.Met = &ok
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func (r *result) writeJSON(w io.Writer) {
	b, _ := json.Marshal(r)
	fmt.Fprintf(w, "%s\n", b)
}

func writeTable(w io.Writer, raw rawFigures, rs []*result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tmeasured\ttarget\tmet\n")
	fmt.Fprintf(tw, "raw\t%.0f req/s, p50 %.2f ms, %.3f ms CPU/req (both sides); fsync p50 %.2f ms\treference\t\n", raw.RPS, raw.P50MS, raw.CPUMSPerReq, raw.FsyncMS)
	for _, r := range rs {
		met := ""
		switch {
		case r.Error != "":
			met = "ERROR: " + r.Error
		case r.Met == nil:
		case *r.Met:
			met = "yes"
		default:
			met = "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Scenario, r.headline, r.Target, met)
	}
	tw.Flush()
}
