{{/* Labels on every object. */}}
{{- define "sopaipillas.labels" -}}
app.kubernetes.io/name: sopaipillas
app.kubernetes.io/part-of: sopaipillas
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The ConfigMap of non-secret settings. */}}
{{- define "sopaipillas.configName" -}}sopaipillas-config{{- end }}

{{/* The ConfigMap of OpenTelemetry's standard variables. */}}
{{- define "sopaipillas.telemetryName" -}}sopaipillas-telemetry{{- end }}

{{/* Variables read from the Secret rather than the ConfigMap. */}}
{{- define "sopaipillas.secretVars" -}}
{{- list "SMTP_USERNAME" "SMTP_PASSWORD" "SENDGRID_API_KEY" "SUMMARY_TOKEN" "BOARD_TOKEN" | toJson -}}
{{- end }}

{{/*
sopaipillas.env renders the env of .function's container: each name in .names
from the Secret (secret variables) or the ConfigMap (all others), except
KAFKA_CLIENT_ID, which names the function in broker logs and quotas.
*/}}
{{- define "sopaipillas.env" -}}
{{- $secretVars := include "sopaipillas.secretVars" .root | fromJsonArray -}}
{{- range $name := .names }}
- name: {{ $name }}
  {{- if eq $name "KAFKA_CLIENT_ID" }}
  value: sopaipillas-{{ $.function }}
  {{- else }}
  valueFrom:
  {{- end }}
  {{- if eq $name "KAFKA_CLIENT_ID" }}
  {{- else if has $name $secretVars }}
    secretKeyRef:
      name: {{ $.root.Values.secret.name }}
      key: {{ $name }}
      optional: true
  {{- else }}
    configMapKeyRef:
      name: {{ include "sopaipillas.configName" $.root }}
      key: {{ $name }}
  {{- end }}
{{- end }}
{{- end }}

{{/* SMTP host, port and TLS, or Mailpit's when it is enabled. */}}
{{- define "sopaipillas.smtp" -}}
{{- if .Values.mailpit.enabled -}}
{{- dict "host" (printf "mailpit.%s.svc" .Release.Namespace) "port" 1025 "tls" "none" | toJson -}}
{{- else -}}
{{- dict "host" .Values.sendMail.smtp.host "port" .Values.sendMail.smtp.port "tls" .Values.sendMail.smtp.tls | toJson -}}
{{- end -}}
{{- end }}

{{/*
sopaipillas.goMemLimit is 90% of a Kubernetes memory quantity (the context,
e.g. 512Mi, 0.5Gi, 1G or a number of bytes) in Go's GOMEMLIMIT syntax, whole
MiB rounded down: 512Mi gives 460MiB.
*/}}
{{- define "sopaipillas.goMemLimit" -}}
{{- $units := dict "" 1.0 "m" 0.001 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 -}}
{{- $limit := . -}}
{{- $q := . -}}
{{- if not (kindIs "string" $q) }}{{ $q = printf "%f" (float64 $q) }}{{ end -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $unit := trimPrefix $number $q -}}
{{- if or (not $number) (not (hasKey $units $unit)) -}}
{{- fail (printf "memory limit %v is not a quantity GOMEMLIMIT can be derived from" $limit) -}}
{{- end -}}
{{- $mib := floor (divf (mulf (float64 $number) (get $units $unit) 0.9) 1048576) | int64 -}}
{{- if lt $mib 1 -}}
{{- fail (printf "memory limit %v is too small for a GOMEMLIMIT" $limit) -}}
{{- end -}}
{{- printf "%dMiB" $mib -}}
{{- end }}

{{/* Where the vendor registry's Secret is mounted; VENDORS_FILE is its vendors.yaml. */}}
{{- define "sopaipillas.vendorsDir" -}}/etc/sopaipillas/vendors{{- end }}

{{/*
sopaipillas.scheduleProblem says what Knative's PingSource webhook (robfig/cron's
standard parser) refuses in a 5-field cron schedule, or nothing: fields
minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec, day of week
0-6 or sun-sat (names in any case); each a comma-separated list of *, ?, a
value or a range a-b with a <= b, each with an optional /step of at least 1.
*/}}
{{- define "sopaipillas.scheduleProblem" -}}
{{- $months := dict "jan" 1 "feb" 2 "mar" 3 "apr" 4 "may" 5 "jun" 6 "jul" 7 "aug" 8 "sep" 9 "oct" 10 "nov" 11 "dec" 12 -}}
{{- $days := dict "sun" 0 "mon" 1 "tue" 2 "wed" 3 "thu" 4 "fri" 5 "sat" 6 -}}
{{- $kinds := list
  (dict "name" "minute" "min" 0 "max" 59 "names" dict)
  (dict "name" "hour" "min" 0 "max" 23 "names" dict)
  (dict "name" "day of month" "min" 1 "max" 31 "names" dict)
  (dict "name" "month" "min" 1 "max" 12 "names" $months)
  (dict "name" "day of week" "min" 0 "max" 6 "names" $days) -}}
{{- $expr := "^(?:[*?]|([0-9]{1,9}|[A-Za-z]+)(?:-([0-9]{1,9}|[A-Za-z]+))?)(?:/([0-9]{1,9}))?$" -}}
{{- $fields := splitList " " . | compact -}}
{{- $problem := "" -}}
{{- if ne (len $fields) 5 -}}
{{- $problem = printf "%d fields, want 5 (minute hour day-of-month month day-of-week)" (len $fields) -}}
{{- end -}}
{{- range $i, $field := $fields -}}
{{- $kind := index $kinds (min $i 4) -}}
{{- range $part := splitList "," $field -}}
{{- if $problem -}}
{{- else if not (regexMatch $expr $part) -}}
{{- $problem = printf "%s %q is not *, a value or a range, with an optional /step" $kind.name $part -}}
{{- else -}}
{{- $bounds := list -}}
{{- range $end := list (regexReplaceAll $expr $part "${1}") (regexReplaceAll $expr $part "${2}") | compact -}}
{{- if hasKey $kind.names (lower $end) -}}
{{- $bounds = append $bounds (get $kind.names (lower $end)) -}}
{{- else if regexMatch "^[0-9]+$" $end -}}
{{- $bounds = append $bounds (atoi $end) -}}
{{- else -}}
{{- $problem = printf "%s %q is not a %s" $kind.name $end $kind.name -}}
{{- end -}}
{{- end -}}
{{- range $v := $bounds -}}
{{- if and (not $problem) (or (lt (int $v) (int $kind.min)) (gt (int $v) (int $kind.max))) -}}
{{- $problem = printf "%s %d is outside %d-%d" $kind.name (int $v) (int $kind.min) (int $kind.max) -}}
{{- end -}}
{{- end -}}
{{- if and (not $problem) (eq (len $bounds) 2) (gt (int (first $bounds)) (int (last $bounds))) -}}
{{- $problem = printf "%s range %q starts after it ends" $kind.name $part -}}
{{- end -}}
{{- $step := regexReplaceAll $expr $part "${3}" -}}
{{- if and (not $problem) $step (lt (atoi $step) 1) -}}
{{- $problem = printf "%s step %q is not a positive number" $kind.name $part -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $problem -}}
{{- end }}

{{/*
sopaipillas.timeZoneProblem says why Go's time.LoadLocation, which Knative's
PingSource webhook calls, would refuse a time zone, or nothing. sprig's
dateInZone falls back to UTC for a zone it cannot load, so a zone other than
UTC's own names that reads as UTC is unknown; where helm finds no time zone
database at all (Etc/GMT+1 reads as UTC too) it says nothing and leaves the
check to Knative.
*/}}
{{- define "sopaipillas.timeZoneProblem" -}}
{{- $utc := list "UTC" "Etc/UTC" "UCT" "Etc/UCT" "Universal" "Etc/Universal" "Zulu" "Etc/Zulu" -}}
{{- $database := ne (dateInZone "-0700" 0 "Etc/GMT+1") "+0000" -}}
{{- if and $database (not (has . $utc)) (eq (dateInZone "-0700 MST" 0 .) "+0000 UTC") -}}
{{- print "not in the IANA time zone database (e.g. America/Santiago, UTC)" -}}
{{- end -}}
{{- end }}
