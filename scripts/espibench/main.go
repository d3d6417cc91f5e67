// Command espibench is the measuring kit of scripts/bench-import.sh (issue 17): it writes the
// generated Green Button bulk file, measures modernc SQLite's own multi-row INSERT ceiling for
// the same readings one row each (the readings table Custody had until it packed a day's
// readings into one row), and runs another command reporting its CPU time and peak RSS.
//
//	espibench gen [-meters 20] [-days 365] [-rt-last] FILE
//	espibench ceiling [-meters 20] [-days 365] [-rows 64] DBFILE
//	espibench measure [-readings N] -- COMMAND [ARGS...]
//
// Every figure is per CPU-second (user + system), which stays meaningful on a shared machine
// where wall-clock time mostly measures the neighbours.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"custody/store"
	"custody/sync/espi/espitest"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "ceiling":
		err = ceiling(os.Args[2:])
	case "measure":
		err = measure(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "espibench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: espibench gen|ceiling|measure ... (see the package comment)")
	os.Exit(2)
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	meters := fs.Int("meters", 20, "meters in the file")
	days := fs.Int("days", 365, "days of 15-minute readings per meter")
	rtLast := fs.Bool("rt-last", false, "put the ReadingType after every IntervalBlock")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("gen: name the file to write")
	}
	f, err := os.Create(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	n, err := espitest.WriteBulk(f, espitest.BulkOptions{Meters: *meters, Days: *days, ReadingTypeLast: *rtLast})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	fmt.Printf("%s: %d readings\n", fs.Arg(0), n)
	return nil
}

// cpuTime is this process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rowPerReadingTable is the readings table of migration 0001, as it was until migration 2000.
const rowPerReadingTable = `CREATE TABLE readings (
    series_id   INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    start       INTEGER NOT NULL,
    seconds     INTEGER NOT NULL,
    value       REAL,
    quality     TEXT,
    cost        REAL,
    tou         INTEGER,
    PRIMARY KEY (series_id, start)
) WITHOUT ROWID`

// ceiling creates a Custody database (store.Open: the real schema and pragmas) with, beside
// it, the one-row-per-reading table Custody kept readings in until migration 2000 (the table
// the Python script writes too), then writes the same readings a generated bulk file holds
// into that table straight through database/sql: one transaction, one prepared multi-row
// INSERT binding every column of every row, nothing else. No parser, no archive, no upsert
// clause: what SQLite itself can take when every reading is a row. Custody now packs a
// day's readings into one row (store/internal/dayblob), so it can beat this figure.
func ceiling(args []string) error {
	fs := flag.NewFlagSet("ceiling", flag.ExitOnError)
	meters := fs.Int("meters", 20, "series to write")
	days := fs.Int("days", 365, "days of 15-minute readings per series")
	rows := fs.Int("rows", 64, "rows per INSERT statement")
	fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("ceiling: name the database file to create")
	}
	ctx := context.Background()
	path := fs.Arg(0)
	st, err := store.Open(ctx, path)
	if err != nil {
		return err
	}
	seriesIDs := make([]int64, *meters)
	tx, err := st.Begin(ctx)
	if err != nil {
		return err
	}
	for m := range seriesIDs {
		meter := store.Meter{Key: fmt.Sprintf("m%d", m)}
		if err := tx.UpsertMeter(&meter); err != nil {
			return err
		}
		sr := store.Series{MeterID: meter.ID, Key: "s", Unit: "Wh"}
		if err := tx.UpsertSeries(&sr); err != nil {
			return err
		}
		seriesIDs[m] = sr.ID
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	st.Close()

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(wal)&_pragma=synchronous(1)&_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, rowPerReadingTable); err != nil {
		return err
	}
	insert := func(n int) string {
		return "INSERT INTO readings (series_id, start, seconds, value, quality, cost, tou) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?),", n), ",")
	}
	cpu0, wall0 := cpuTime(), time.Now()
	sqlTx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	full, err := sqlTx.PrepareContext(ctx, insert(*rows))
	if err != nil {
		return err
	}
	args2 := make([]any, 0, 7**rows)
	total := 0
	per := *days * 96
	for m, sid := range seriesIDs {
		for k := 0; k < per; k += *rows {
			n := min(*rows, per-k)
			args2 = args2[:0]
			for j := 0; j < n; j++ {
				i := k + j
				d, q := i/96, i%96
				args2 = append(args2, sid, int64(1546329600+i*900), int64(900),
					float64(100000+(m*7919+d*104729+q*1299709)%900000)/1000, "17", nil, int64(1+q/32))
			}
			st := full
			if n != *rows {
				if st, err = sqlTx.PrepareContext(ctx, insert(n)); err != nil {
					return err
				}
			}
			if _, err := st.ExecContext(ctx, args2...); err != nil {
				return err
			}
			total += n
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return err
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	fmt.Printf("sqlite-ceiling: %d readings, %d rows per INSERT, %.3f cpu-s, %.2f s wall, %.0f readings/cpu-s\n",
		total, *rows, cpu.Seconds(), wall.Seconds(), float64(total)/cpu.Seconds())
	return nil
}

// measure runs a command and reports the CPU time and peak RSS it used (from wait4's rusage,
// so the figures are the child's own).
func measure(args []string) error {
	fs := flag.NewFlagSet("measure", flag.ExitOnError)
	readings := fs.Int("readings", 0, "readings the command handles, for a per-CPU-second rate")
	label := fs.String("label", "", "name printed before the figures")
	fs.Parse(args)
	if fs.NArg() == 0 {
		return errors.New("measure: name a command")
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	wall0 := time.Now()
	err := cmd.Run()
	wall := time.Since(wall0)
	if err != nil {
		return fmt.Errorf("measure %s: %w", fs.Arg(0), err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return errors.New("measure: no rusage on this system")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	name := *label
	if name == "" {
		name = fs.Arg(0)
	}
	fmt.Printf("%s: %.3f cpu-s (user %.3f, sys %.3f), %.2f s wall, peak RSS %.1f MB", name, cpu.Seconds(),
		time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds(), wall.Seconds(), float64(ru.Maxrss)/1024)
	if *readings > 0 {
		fmt.Printf(", %.0f readings/cpu-s", float64(*readings)/cpu.Seconds())
	}
	fmt.Println()
	return nil
}
