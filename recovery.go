package hookd

// RecoveryStore is the part of Store behind recovery and lifecycle: replay
// jobs, endpoint health and statistics.
type RecoveryStore interface {
}
