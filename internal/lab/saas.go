package lab

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/failoverbot/failoverbot/internal/notify/pagerduty/pagerdutyfake"
	"github.com/failoverbot/failoverbot/internal/notify/statuspage/statuspagefake"
)

// The lab's SaaS: a local Statuspage and a local PagerDuty (the fakes the
// notifier tests use, speaking the real wire protocols), so that the lab
// runbooks' notifications have somewhere to go. Env exports their URLs and
// credentials as LAB_STATUSPAGE_* and LAB_PAGERDUTY_*.

// The lab's Statuspage page and components.
const (
	StatuspagePage         = "labpage"
	StatuspageComponentAPI = "labapi"
	StatuspageComponentDB  = "labdb"
)

type saas struct {
	page     *statuspagefake.Server
	pd       *pagerdutyfake.Server
	incident string // the PagerDuty incident that paged the on-call
}

func (l *Lab) upSaaS() error {
	page := statuspagefake.New(statuspagefake.Options{})
	page.AddPage(StatuspagePage, "Lab service")
	page.AddComponent(StatuspagePage, StatuspageComponentAPI, "Lab API", "operational")
	page.AddComponent(StatuspagePage, StatuspageComponentDB, "Lab database", "operational")
	pdf := pagerdutyfake.New()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := pd.NewClient(pagerdutyfake.Token, pd.WithAPIEndpoint(pdf.URL()), pd.WithV2EventsAPIEndpoint(pdf.URL()))
	c.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	inc, err := c.CreateIncidentWithContext(ctx, pagerdutyfake.From, &pd.CreateIncidentOptions{
		Title: "Lab primary region unreachable", Urgency: "high",
		Service: &pd.APIReference{ID: pagerdutyfake.ServiceID, Type: "service_reference"}})
	if err != nil {
		page.Close()
		pdf.Close()
		return fmt.Errorf("lab: open the PagerDuty incident: %w", err)
	}
	l.saas = &saas{page: page, pd: pdf, incident: inc.ID}
	return nil
}

func (l *Lab) downSaaS() {
	if l.saas != nil {
		l.saas.page.Close()
		l.saas.pd.Close()
	}
}

// withSaaSEnv adds the SaaS fakes' variables to env.
func (l *Lab) withSaaSEnv(env map[string]string) map[string]string {
	if l.saas == nil {
		return env
	}
	for k, v := range map[string]string{
		"LAB_STATUSPAGE_URL":           l.saas.page.URL(),
		"LAB_STATUSPAGE_API_KEY":       statuspagefake.APIKey,
		"LAB_STATUSPAGE_PAGE":          StatuspagePage,
		"LAB_STATUSPAGE_COMPONENT_API": StatuspageComponentAPI,
		"LAB_STATUSPAGE_COMPONENT_DB":  StatuspageComponentDB,
		"LAB_PAGERDUTY_URL":            l.saas.pd.URL(),
		"LAB_PAGERDUTY_TOKEN":          pagerdutyfake.Token,
		"LAB_PAGERDUTY_ROUTING_KEY":    pagerdutyfake.RoutingKey,
		"LAB_PAGERDUTY_FROM":           pagerdutyfake.From,
		"LAB_PAGERDUTY_INCIDENT":       l.saas.incident,
	} {
		env[k] = v
	}
	return env
}

// Statuspage is the lab's Statuspage (nil before Up).
func (l *Lab) Statuspage() *statuspagefake.Server {
	if l.saas == nil {
		return nil
	}
	return l.saas.page
}

// PagerDuty is the lab's PagerDuty (nil before Up).
func (l *Lab) PagerDuty() *pagerdutyfake.Server {
	if l.saas == nil {
		return nil
	}
	return l.saas.pd
}

// PagerDutyIncident is the incident that paged the on-call.
func (l *Lab) PagerDutyIncident() string {
	if l.saas == nil {
		return ""
	}
	return l.saas.incident
}

// SaaSReport says what the lab's Statuspage and PagerDuty received: each
// incident with its updates (status, components set, text), each
// component's states, each PagerDuty incident with its notes, and the
// Events v2 alerts.
func (l *Lab) SaaSReport() string {
	if l.saas == nil {
		return "no SaaS fakes\n"
	}
	var b strings.Builder
	page := l.saas.page
	b.WriteString("Statuspage:\n")
	incs := page.Incidents(StatuspagePage)
	if len(incs) == 0 {
		b.WriteString("  no incident\n")
	}
	for _, inc := range incs {
		fmt.Fprintf(&b, "  incident %s %q: %s (impact %s)\n", inc.ID, inc.Name, inc.Status, inc.ImpactOverride)
		for _, u := range inc.Updates {
			fmt.Fprintf(&b, "    %-11s %s%s\n", u.Status, u.Body, components(u.Components))
		}
	}
	for _, id := range []string{StatuspageComponentAPI, StatuspageComponentDB} {
		if c, ok := page.Component(StatuspagePage, id); ok {
			fmt.Fprintf(&b, "  component %s (%s): %s; states set: %s\n", c.ID, c.Name, c.Status, strings.Join(c.History, " → "))
		}
	}
	b.WriteString("PagerDuty:\n")
	for _, inc := range l.saas.pd.Incidents() {
		fmt.Fprintf(&b, "  incident %s %q: %s, %d notes\n", inc.ID, inc.Title, inc.Status, len(inc.Notes))
		for _, n := range inc.Notes {
			fmt.Fprintf(&b, "    note (%s): %s\n", n.From, strings.ReplaceAll(n.Content, "\n", " — "))
		}
	}
	alerts := map[string]bool{}
	for _, e := range l.saas.pd.Events() {
		alerts[e.DedupKey] = true
	}
	keys := make([]string, 0, len(alerts))
	for k := range alerts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a, _ := l.saas.pd.Alert(k)
		fmt.Fprintf(&b, "  Events v2 alert %s: %s after %d triggers\n", k, a.Status, a.Triggers)
	}
	return b.String()
}

func components(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return " [" + strings.Join(parts, ", ") + "]"
}
