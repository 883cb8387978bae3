package devstack

import "log/slog"

// Options are the dev stack's own settings (DEV_*, and LOG_LEVEL as every
// function reads it); the functions read their usual variables.
type Options struct {
	Dir              string `envconfig:"DEV_DIR" default:".dev"`
	Host             string `envconfig:"DEV_HOST" default:"127.0.0.1"`
	GatewayPort      int    `envconfig:"DEV_GATEWAY_PORT" default:"5000"`
	NewOrderPort     int    `envconfig:"DEV_NEWORDER_PORT" default:"8081"`
	DailySummaryPort int    `envconfig:"DEV_DAILYSUMMARY_PORT" default:"8082"`
	SendMailPort     int    `envconfig:"DEV_SENDMAIL_PORT" default:"8083"`
	KafkaPort        int    `envconfig:"DEV_KAFKA_PORT" default:"9092"`
	SMTPPort         int    `envconfig:"DEV_SMTP_PORT" default:"1025"`
	MailWebPort      int    `envconfig:"DEV_MAIL_WEB_PORT" default:"8025"`
	SalesBoardPort   int    `envconfig:"DEV_SALESBOARD_PORT" default:"8084"`
	// Schedule is when the local PingSource closes the day, in
	// SUMMARY_TIMEZONE, like the PingSource in k8s/.
	Schedule string     `envconfig:"DEV_SUMMARY_SCHEDULE" default:"5 1 * * *"`
	LogLevel slog.Level `envconfig:"LOG_LEVEL" default:"info"`
	// VendorsFile turns the vendor registry on (VENDORS_FILE of newOrder and
	// sendMail); off by default, so the seed's curl needs no key.
	VendorsFile string `envconfig:"DEV_VENDORS_FILE"`
}
