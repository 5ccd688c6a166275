package api

import (
	"context"

	"github.com/hookd/hookd"
)

// Authenticator turns a bearer token into the Principal it stands for.
// It returns (nil, nil) when the token is not of its kind, so that the next
// Authenticator may try; an error with code EUNAUTHORIZED when it is of its
// kind but not valid (unknown, expired, revoked); and any other error when
// it could not tell (the store is down). The Principal it returns is shared
// and must not be modified.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*hookd.Principal, error)
}
