package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"custody/store"
	"custody/sync/obevents"
	"custody/sync/obevents/obtest"
	"custody/sync/simtls"
)

// The whole-path Open Banking benchmark: `custody sync --once` of an obevents source draining
// a queue of pre-signed PS256 events from the Open Banking simulator, each in its own process,
// counting only custody's CPU time (getrusage of the child). The simulator is this test
// binary re-executed with obsimEnv set (see TestMain), custody is this test binary re-executed
// with childEnv set, as in the crash test: app.Run with every real driver.

// obsimEnv makes the test binary run the benchmark's simulator instead of the tests; its value
// is the number of events to queue.
const obsimEnv = "CUSTODY_TEST_OBSIM"

// obsimReady is the simulator's first line on stdout: the source to configure.
type obsimReady struct {
	Source store.Source `json:"source"`
	Secret string       `json:"secret"`
}

// obsimDone is its last line, after stdin closes: what is left in the queue.
type obsimDone struct {
	Queue int `json:"queue"`
	Acked int `json:"acked"`
}

// obsimMain runs the simulator of the benchmark: N valid PS256 events, signed before it says
// it is ready; the cap of a poll from CUSTODY_TEST_OBSIM_CAP. It stops when stdin closes.
func obsimMain() int {
	n, err := strconv.Atoi(os.Getenv(obsimEnv))
	if err != nil || n <= 0 {
		fmt.Fprintln(os.Stderr, "obsim: bad event count")
		return 2
	}
	maxCap, _ := strconv.Atoi(os.Getenv(obsimEnv + "_CAP"))
	dir := os.Getenv(obsimEnv + "_DIR")
	pki, err := simtls.New("bench-client")
	if err != nil {
		fmt.Fprintln(os.Stderr, "obsim:", err)
		return 1
	}
	files, err := pki.WriteFiles(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "obsim:", err)
		return 1
	}
	sim, err := obtest.Start(pki, "127.0.0.1:0", obtest.Options{Events: n, InvalidEvery: -1, MaxEventsCap: maxCap, OnlyPS256: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "obsim:", err)
		return 1
	}
	defer sim.Close()
	src, secret := sim.DemoSource("bank", files)
	json.NewEncoder(os.Stdout).Encode(obsimReady{Source: src, Secret: secret})
	io.Copy(io.Discard, os.Stdin)
	acked := 0
	for _, c := range sim.Acked() {
		acked += c
	}
	json.NewEncoder(os.Stdout).Encode(obsimDone{Queue: len(sim.Queue()), Acked: acked})
	return 0
}

// benchEnvInt reads a positive integer from the environment, or def.
func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkSyncOnceObevents measures `custody sync --once` draining OBEVENTS_N (default 5,000)
// PS256 events, OBEVENTS_MAX (default 10) per poll, from the simulator in another process.
// events/cpu-s is the events stored per second of custody's own user+system CPU time.
func BenchmarkSyncOnceObevents(b *testing.B) {
	n := benchEnvInt("OBEVENTS_N", 5000)
	per := benchEnvInt("OBEVENTS_MAX", 10)
	if n > obevents.DefaultMaxPolls*per {
		b.Fatalf("OBEVENTS_N %d is more than one sync drains at OBEVENTS_MAX %d per poll (%d polls)", n, per, obevents.DefaultMaxPolls)
	}
	var cpu, wall time.Duration
	var maxRSS int64 // kilobytes
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		sim := exec.Command(os.Args[0])
		sim.Env = append(os.Environ(), obsimEnv+"="+strconv.Itoa(n), obsimEnv+"_CAP="+strconv.Itoa(per), obsimEnv+"_DIR="+filepath.Join(dir, "pki"))
		stdin, err := sim.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := sim.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		sim.Stderr = os.Stderr
		if err := sim.Start(); err != nil {
			b.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		var ready obsimReady
		if !lines.Scan() || json.Unmarshal(lines.Bytes(), &ready) != nil {
			b.Fatalf("the simulator did not start: %q", lines.Text())
		}
		db := filepath.Join(dir, "custody.db")
		st, err := store.Open(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		ready.Source.Config[obevents.CfgMaxEvents] = strconv.Itoa(per)
		if err := st.AddSource(context.Background(), &ready.Source); err != nil {
			b.Fatal(err)
		}
		st.Close()
		secrets, _ := json.Marshal(map[string]string{ready.Source.Name + "/" + SecretField: ready.Secret})

		cmd := exec.Command(os.Args[0], "sync", "--once", "--db", db)
		cmd.Env = append(os.Environ(), childEnv+"=1", childSecretsEnv+"="+string(secrets))
		b.StartTimer()
		start := time.Now()
		out, err := cmd.CombinedOutput()
		wall += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatalf("custody sync --once: %v\n%s", err, out)
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		maxRSS = max(maxRSS, peakRSSKB(cmd.ProcessState))

		stdin.Close()
		var done obsimDone
		if !lines.Scan() || json.Unmarshal(lines.Bytes(), &done) != nil {
			b.Fatalf("the simulator did not report: %q", lines.Text())
		}
		sim.Wait()
		if done.Queue != 0 || done.Acked != n {
			b.Fatalf("the queue holds %d events and %d were acknowledged, want 0 and %d\n%s", done.Queue, done.Acked, n, out)
		}
		st, err = store.Open(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		c, err := st.Counts(context.Background())
		st.Close()
		if err != nil || c.Events != int64(n) {
			b.Fatalf("stored %d events, want %d (%v)", c.Events, n, err)
		}
	}
	events := float64(n) * float64(b.N)
	b.ReportMetric(events/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(events/wall.Seconds(), "events/s")
	if maxRSS > 0 {
		b.ReportMetric(float64(maxRSS)/1024, "peak-RSS-MB")
	}
}
