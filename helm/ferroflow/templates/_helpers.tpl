{{/* Helpers of the umbrella chart's own objects (Kafka, PostgreSQL, Kafdrop, Grafana). */}}

{{/* Labels of a component of the umbrella; called with (dict "ctx" $ "component" "kafdrop"). */}}
{{- define "ferroflow.componentSelectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{- define "ferroflow.componentLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{ include "ferroflow.componentSelectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: ferroflow
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end -}}

{{- define "ferroflow.kafkaClusterName" -}}
{{- .Values.global.kafka.clusterName -}}
{{- end -}}

{{- define "ferroflow.postgresqlName" -}}
{{- printf "%s-postgresql" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Passwords of the chart's PostgreSQL: kept from the existing Secret on upgrades, generated
on first install. Computed once per render (cached in .Values) so that the PostgreSQL
Secret and the Grafana datasource agree.
*/}}
{{- define "ferroflow.postgresqlPasswords" -}}
{{- if not (hasKey .Values.postgresql "generatedPasswords") -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "ferroflow.postgresqlName" .) -}}
{{- $passwords := dict -}}
{{- if and $existing $existing.data -}}
{{- $_ := set $passwords "owner" (index $existing.data "password" | b64dec) -}}
{{- $_ := set $passwords "grafana" (index $existing.data "grafana-password" | b64dec) -}}
{{- else -}}
{{- $_ := set $passwords "owner" (randAlphaNum 32) -}}
{{- $_ := set $passwords "grafana" (randAlphaNum 32) -}}
{{- end -}}
{{- $_ := set .Values.postgresql "generatedPasswords" $passwords -}}
{{- end -}}
{{- toYaml .Values.postgresql.generatedPasswords -}}
{{- end -}}

{{- define "ferroflow.monitoringLabels" -}}
{{- with .Values.global.monitoring.labels }}
{{ toYaml . }}
{{- end -}}
{{- end -}}
