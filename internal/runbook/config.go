package runbook

import (
	"fmt"
	"path/filepath"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Config is the step's config as the loader decoded it: defaults filled,
// templates and ${…} references unexpanded (a value holding one is only
// known when the step is built). It is nil for a step built by hand in a
// test. The permissions a runbook needs are derived from it (see
// steps.Permissioned); callers must not change it.
func (s *Step) Config() steps.Config {
	if f, ok := s.Factory.(*stepFactory); ok {
		return f.raw.config
	}
	return nil
}

// PermissionTarget is what a step's Permissions gets: its connection as
// written (the overlay applied; a region-less connection of a type with a
// region field gets its runbook region's cloud region, as at build time)
// and the runbook's directory. Conn is nil for kinds without a connection.
func (rb *Runbook) PermissionTarget(s *Step) steps.PermissionTarget {
	t := steps.PermissionTarget{Dir: filepath.Dir(rb.Source)}
	c, ok := rb.Connections[s.Connection]
	if !ok {
		return t
	}
	conn := &steps.Connection{Name: c.Name, Type: c.Type, Region: c.Region, Fields: make(map[string]string, len(c.Fields)+1)}
	for k, v := range c.Fields {
		conn.Fields[k] = v
	}
	if _, set := conn.Fields["region"]; !set {
		f, _ := s.Factory.(*stepFactory)
		if r, ok := rb.Regions[c.Region]; ok && r.CloudRegion != "" && f != nil && hasRegionField(f.reg, c.Type) {
			conn.Fields["region"] = r.CloudRegion
		}
	}
	t.Conn = conn
	return t
}

func hasRegionField(reg *steps.Registry, typ string) bool {
	t, ok := reg.ConnectionType(typ)
	return ok && typeHasField(t, "region")
}

// ExpandConnection is the named connection with its templates and secrets
// expanded for params (defaults filled), as a step's build would have it:
// for checks of the connection itself (the permissions it holds). Its
// fields hold secret values: never show them.
func (rb *Runbook) ExpandConnection(name string, params map[string]string) (*steps.Connection, error) {
	for _, s := range append(append([]*Step{}, rb.Assess...), rb.AllSteps()...) {
		if f, ok := s.Factory.(*stepFactory); ok {
			return f.connection(name, templateData(Vars{Params: rb.ParamsWithDefaults(params)}))
		}
	}
	return nil, fmt.Errorf("runbook %s has no step to expand connection %s with", rb.Name, name)
}
