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
