// Command custody keeps a person's own energy and banking data on their own machine.
// With no arguments it opens the app; see `custody --help` for the command line.
package main

import (
	"os"
	_ "time/tzdata" // meters' time zones resolve on machines without a zoneinfo database

	"custody/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:]))
}
