// Command sendmail serves the sendMail function on $PORT.
package main

import (
	"github.com/sopaipillas/sopaipillas/functions/internal/runner"
	"github.com/sopaipillas/sopaipillas/functions/sendmail"
)

func main() { runner.Main("sendMail", sendmail.Setup) }
