package hookd

// AuthStore is the part of Store that keeps OAuth clients and tokens and
// the server's own persistent secrets (e.g. the key that signs dashboard
// sessions and portal links, which every node must share).
type AuthStore interface {
}
