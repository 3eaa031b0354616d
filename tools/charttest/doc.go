// Package charttest holds the Helm chart's tests (chart_test.go): the chart
// rendered with the Helm SDK, every object applied with a server-side dry
// run to a real kube-apiserver, the Deployment scheduled on KWOK nodes, and
// the rendered container's command line and probes run against the real
// bot.
package charttest
