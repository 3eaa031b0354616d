package metrics

import (
	"strconv"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

// SocketConnected records the socket-mode connection's state (the Slack
// adapter's Observer).
func (m *Metrics) SocketConnected(up bool) {
	m.slackUp.Set(b2f(up))
	if up {
		m.slackConns.Inc()
	}
}

// Acked records one envelope ack and its latency (the Slack adapter's
// Observer).
func (m *Metrics) Acked(envelopeType string, latency time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.acks.WithLabelValues(envelopeType, result).Inc()
	m.ackLatency.WithLabelValues(envelopeType).Observe(latency.Seconds())
}

// AttemptFailed records a failed notification attempt (the notification
// pipeline's Observer).
func (m *Metrics) AttemptFailed(notifier string, retried bool) {
	m.attempts.WithLabelValues(notifier, strconv.FormatBool(retried)).Inc()
}

// Settled records a notification delivered or given up (the notification
// pipeline's Observer).
func (m *Metrics) Settled(notifier string, status store.DeliveryStatus) {
	m.deliveries.WithLabelValues(notifier, string(status)).Inc()
}
