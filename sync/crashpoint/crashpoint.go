// Package crashpoint lets tests kill a process at a named point of a sync, to prove that a
// crash anywhere loses nothing, doubles nothing, and acknowledges nothing before it is stored.
//
// Protocol drivers (and the store, for an import's batch commit) call [Hit] at the points where a crash matters (after archiving a payload,
// in the middle of a transaction, after the commit and before the acknowledgement, after the
// acknowledgement and before the pending acknowledgement is forgotten). In a normal run the
// environment variable is unset and Hit costs one atomic load.
//
// A test sets CUSTODY_CRASH_AT=<point>:<n> (n ≥ 1; ":n" may be left out for 1), and the process
// exits with status [ExitCode] the n-th time it reaches that point, without running deferred
// functions or closing files, as a power cut or a kill would leave it.
package crashpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// EnvVar is the environment variable that arms a crash point.
const EnvVar = "CUSTODY_CRASH_AT"

// ExitCode is the exit status of a process killed by a crash point.
const ExitCode = 86

// The points Custody's drivers and engine call, in the order a sync reaches them.
const (
	AfterArchive = "after-archive" // a payload is archived (committed), not yet parsed
	MidTx        = "mid-tx"        // inside the data transaction, some rows written, not committed
	AfterCommit  = "after-commit"  // the data and its pending acks are committed; nothing acknowledged yet
	AfterAck     = "after-ack"     // the custodian has the acknowledgement; the pending ack is not yet deleted
	AfterDequeue = "after-dequeue" // DataHub: the message is dequeued; the pending dequeue is not yet deleted
	BeforeFinish = "before-finish" // the sync returned; its run is not yet recorded as finished
	// AfterBatch: an import's batch is committed (store.Tx.Batched): some of its rows and the
	// start of its archive are in the database, the archive is not yet whole.
	AfterBatch = "after-batch"
)

var (
	once   sync.Once
	armed  atomic.Bool
	point  string
	target int64
	count  atomic.Int64
)

// exit is os.Exit; tests of this package replace it.
var exit = os.Exit

func load() {
	spec := os.Getenv(EnvVar)
	if spec == "" {
		return
	}
	name, n, ok := strings.Cut(spec, ":")
	target = 1
	if ok {
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil || v < 1 {
			fmt.Fprintf(os.Stderr, "crashpoint: ignoring %s=%q: want <point>:<n> with n ≥ 1\n", EnvVar, spec)
			return
		}
		target = v
	}
	point = name
	armed.Store(true)
}

// Hit marks that the process reached the named point. When CUSTODY_CRASH_AT names this point
// and this is its n-th hit, the process exits at once with [ExitCode].
func Hit(name string) {
	once.Do(load)
	if !armed.Load() || name != point {
		return
	}
	if count.Add(1) == target {
		fmt.Fprintf(os.Stderr, "crashpoint: crashing at %s:%d\n", name, target)
		exit(ExitCode)
	}
}

// Armed reports whether a crash point is set in the environment, so that a sync can skip
// work (such as parallel fetches) that would make the crash position nondeterministic.
func Armed() bool {
	once.Do(load)
	return armed.Load()
}
