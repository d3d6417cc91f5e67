package app

import (
	"testing"

	"custody/store"
	"custody/sync/crashpoint"
	"custody/sync/obevents/obtest"
	"custody/sync/simtls"
)

// TestObeventsCrashAnywhere kills `custody sync --once` at each crash point of an Open Banking
// sync (inside the transaction, after the commit before the ack is sent, after the ack before
// the pending ack is forgotten), then runs it again: nothing is acknowledged before it is
// stored, the queue ends empty, and every event is stored exactly once.
func TestObeventsCrashAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the custody child process a dozen times")
	}
	pki, err := simtls.New("crash-test-client")
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []string{
		crashpoint.MidTx + ":1", crashpoint.MidTx + ":2",
		crashpoint.AfterCommit + ":1", crashpoint.AfterCommit + ":3",
		crashpoint.AfterAck + ":1", crashpoint.AfterAck + ":2",
	} {
		t.Run(at, func(t *testing.T) {
			sim, err := obtest.Start(pki, "127.0.0.1:0", obtest.Options{Events: 25, InvalidEvery: 5, MaxEventsCap: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			w := newCrashWorld(t, pki, files)
			src, secret := sim.DemoSource("bank", files)
			w.add(t, src, secret)

			check := func(when string) {
				t.Helper()
				evs, err := w.st.Events(t.Context(), store.EventFilter{})
				if err != nil {
					t.Fatal(err)
				}
				stored := map[string]int{}
				for _, e := range evs {
					stored[e.JTI]++
				}
				for jti := range sim.Acked() {
					if stored[jti] != 1 {
						t.Fatalf("%s: %s acknowledged but stored %d times", when, jti, stored[jti])
					}
				}
				for jti := range sim.SetErrs() {
					if stored[jti] != 1 {
						t.Fatalf("%s: %s reported in setErrs but stored %d times", when, jti, stored[jti])
					}
				}
			}
			code, out := w.sync(t, at)
			if code != crashpoint.ExitCode {
				t.Fatalf("crash at %s: exit %d:\n%s", at, code, out)
			}
			check("after the crash")
			if code, out := w.sync(t, ""); code != 0 {
				t.Fatalf("the run after the crash failed (%d):\n%s", code, out)
			}
			check("after the rerun")
			if q := sim.Queue(); len(q) != 0 {
				t.Fatalf("queue not drained: %v", q)
			}
			valid, invalid := sim.Expected()
			evs, _ := w.st.Events(t.Context(), store.EventFilter{})
			verified := 0
			for _, e := range evs {
				if e.Verified {
					verified++
				}
			}
			if len(evs) != len(valid)+len(invalid) || verified != len(valid) {
				t.Fatalf("%d events (%d verified), want %d (%d)", len(evs), verified, len(valid)+len(invalid), len(valid))
			}
			owed, _ := w.st.PendingAcks(t.Context(), src.ID, "ack")
			if len(owed) != 0 {
				t.Fatalf("acks still owed: %v", owed)
			}
		})
	}
}
