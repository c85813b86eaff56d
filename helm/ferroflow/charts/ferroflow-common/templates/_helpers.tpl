{{/*
Names, labels and shared values of every ferroflow service chart.
*/}}

{{/* The chart's name, e.g. "enricher". */}}
{{- define "ferroflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name of the service's objects, e.g. "ferroflow-enricher". */}}
{{- define "ferroflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "ferroflow.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ferroflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferroflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ferroflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ferroflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ include "ferroflow.name" . }}
app.kubernetes.io/part-of: ferroflow
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "ferroflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ferroflow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* registry/repository:tag, the tag defaulting to global.image.tag, then appVersion. */}}
{{- define "ferroflow.image" -}}
{{- $global := .Values.global.image | default dict -}}
{{- $registry := .Values.image.registry | default $global.registry | default "" -}}
{{- $tag := .Values.image.tag | default $global.tag | default .Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
Kafka bootstrap servers: global.kafka.bootstrapServers for an external Kafka, otherwise
the bootstrap Service Strimzi creates for the chart's `Kafka` (<clusterName>-kafka-bootstrap).
*/}}
{{- define "ferroflow.kafkaBootstrap" -}}
{{- $kafka := .Values.global.kafka | default dict -}}
{{- if $kafka.bootstrapServers -}}
{{- $kafka.bootstrapServers -}}
{{- else -}}
{{- printf "%s-kafka-bootstrap:9092" ($kafka.clusterName | default "ferroflow") -}}
{{- end -}}
{{- end -}}
