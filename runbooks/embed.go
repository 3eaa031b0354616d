// Package runbooks embeds the runbooks shipped with the bot, so that
// `bot demo` runs the lab runbooks from any directory.
package runbooks

import "embed"

// FS holds every runbook of this directory.
//
//go:embed *.yaml overlays/*.yaml
var FS embed.FS
