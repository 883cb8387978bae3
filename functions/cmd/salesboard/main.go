// Command salesboard serves the salesBoard function on $PORT.
package main

import (
	_ "time/tzdata" // static base images carry no zoneinfo

	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/salesboard"
)

func main() { runner.Main("salesBoard", salesboard.Setup) }
