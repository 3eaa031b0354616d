package slack

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
)

// BenchmarkAckBurst sends 200 envelopes (slash commands, reactions and
// button presses) in one burst and reports the ack latency seen by the
// fake Slack (send → ack received): p50 and p99 in milliseconds. Goal: p99
// well under Slack's 3 s, < 50 ms.
func BenchmarkAckBurst(b *testing.B) {
	const burst = 200
	hs := newHarness(b, slackfake.Options{PingInterval: 200 * time.Millisecond}, nil)
	hs.h.onCommand = func(ctx context.Context, req chat.Request, out chat.Responder) {
		time.Sleep(5 * time.Millisecond) // some work per command
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		envs := make([]string, 0, burst)
		for j := range burst {
			var env string
			var err error
			switch j % 3 {
			case 0:
				env, err = hs.fake.SlashCommand("UALICE", "C1", "status")
			case 1:
				var ev string
				ev, err = hs.fake.React("UBOB", "C1", "1700000000.000100", "white_check_mark", true)
				env = lastEnvelope(hs.fake, ev)
			default:
				env, err = hs.fake.Click("UCAROL", "C1", "1700000000.000100", "approve", "run-1")
			}
			if err != nil {
				b.Fatal(err)
			}
			envs = append(envs, env)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for _, e := range envs {
			a, err := hs.fake.WaitAck(ctx, e)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, a.Latency)
		}
		cancel()
		// Let the handlers finish this burst before the next one: the
		// benchmark measures a burst, not a sustained overload.
		b.StopTimer()
		for range burst {
			select {
			case <-hs.h.signal:
			case <-time.After(30 * time.Second):
				b.Fatal("the handlers did not finish the burst")
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	if missed := hs.fake.MissedAcks(); len(missed) > 0 {
		b.Errorf("%d envelopes missed the 3s ack deadline", len(missed))
	}
}

// lastEnvelope finds the envelope that carried an event (events have IDs,
// the fake maps them to envelopes through its acks and deliveries).
func lastEnvelope(f *slackfake.Server, eventID string) string {
	return f.EnvelopeOf(eventID)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// rssKiB reads the resident set size of this process (Linux).
func rssKiB() int {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	return 0
}

// BenchmarkIdleRSS reports the process's RSS with a connected, idle bot.
func BenchmarkIdleRSS(b *testing.B) {
	newHarness(b, slackfake.Options{}, nil)
	for b.Loop() {
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	b.ReportMetric(float64(rssKiB())/1024, "rss-MiB")
}
