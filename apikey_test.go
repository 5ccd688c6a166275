package hookd

import "testing"

func TestAPIKeyPrefix(t *testing.T) {
	key, _ := NewAPIKeySecret()
	if got := APIKeyPrefix(key); got != key[:11] || got[:3] != KeyPrefix {
		t.Errorf("APIKeyPrefix(%q) = %q, want its first 11 characters", key, got)
	}
	// Anything shorter is kept whole rather than sliced out of range.
	if got := APIKeyPrefix("hk_ab"); got != "hk_ab" {
		t.Errorf(`APIKeyPrefix("hk_ab") = %q, want the whole key`, got)
	}
}
