// Command neworder serves the newOrder function on $PORT.
package main

import (
	_ "time/tzdata" // static base images carry no zoneinfo

	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/neworder"
)

func main() { runner.Main("newOrder", neworder.Setup) }
