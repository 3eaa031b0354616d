package runbook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ConnectionDigest is a keyed digest (HMAC-SHA256 with key) of the
// runbook's connections as they resolve now — every field expanded, its
// ${secret:…} and ${env:…} references resolved — so that a run can be
// bound to what its connections pointed at when it was approved: a secret
// file rewritten between approval and start (another host to promote)
// changes the digest, and the approvals no longer count. The digest never
// shows a value. A runbook built by hand (no loader) has none ("").
func (rb *Runbook) ConnectionDigest(key []byte, params map[string]string) (string, error) {
	if rb.exp == nil || len(key) == 0 {
		return "", nil
	}
	data := templateData(Vars{Params: rb.ParamsWithDefaults(params)})
	mac := hmac.New(sha256.New, key)
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(rb.Connections)) {
		c := rb.Connections[name]
		fmt.Fprintf(mac, "%s\x00%s\x00%s\x00", name, c.Type, c.Region)
		for _, f := range slices.Sorted(maps.Keys(c.Fields)) {
			v, err := rb.exp.expand(c.Fields[f], data)
			if err != nil {
				errs = append(errs, fmt.Errorf("connections.%s.%s: %w", name, f, err))
				continue
			}
			fmt.Fprintf(mac, "%s\x00%d\x00%s\x00", f, len(v), v)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("bind the plan to its connections: %w", err)
	}
	return hex.EncodeToString(mac.Sum(nil)), nil
}
