{{/*
Service configuration from values, as FERROFLOW_* environment variables in a ConfigMap.

The runtime reads `FERROFLOW_<SECTION>__<KEY>` (docs/configuration.md); environment
values are strings, which the runtime parses exactly as it parses them anywhere else.
(A TOML file rendered with toToml would turn every YAML number into a float: `rate = 10.0`.)

The shared sections come from global values (Kafka bootstrap, topic names, telemetry);
`.Values.config` (the service's own section, and any override of a shared key) is merged
over them. librdkafka properties (global.kafka.properties, .Values.kafkaProperties)
become FERROFLOW_RDKAFKA_<NAME>. Secrets (SASL passwords, database URLs) do not belong
here: pass them with `env` and a secretKeyRef.
*/}}

{{- define "ferroflow.config" -}}
{{- $global := .Values.global | default dict -}}
{{- $shared := dict
      "kafka" (dict "bootstrap_servers" (include "ferroflow.kafkaBootstrap" .))
      "http" (dict "listen" (printf "0.0.0.0:%d" (int .Values.http.port)))
      "telemetry" (dict "log_format" ((($global.telemetry | default dict).logFormat) | default "json"))
-}}
{{- with ($global.telemetry | default dict).otlpEndpoint }}
{{- $_ := set $shared.telemetry "otlp_endpoint" . -}}
{{- end }}
{{- with $global.topics }}
{{- $_ := set $shared "topics" (deepCopy .) -}}
{{- end }}
{{- mustMergeOverwrite $shared (deepCopy (.Values.config | default dict)) | toYaml -}}
{{- end -}}

{{/* One "NAME: value" line per leaf of a config map; called with (list prefix value). */}}
{{- define "ferroflow.configEnv" -}}
{{- $prefix := index . 0 -}}
{{- $value := index . 1 -}}
{{- if kindIs "map" $value -}}
{{- range $key, $child := $value }}
{{- include "ferroflow.configEnv" (list (printf "%s__%s" $prefix (upper $key)) $child) }}
{{- end -}}
{{- else if kindIs "slice" $value }}
{{ $prefix }}: {{ join "," $value | quote }}
{{- else if not (kindIs "invalid" $value) }}
{{ $prefix }}: {{ toString $value | quote }}
{{- end -}}
{{- end -}}

{{- define "ferroflow.configmap" -}}
{{- $config := include "ferroflow.config" . | fromYaml -}}
{{- $properties := mustMergeOverwrite (deepCopy ((.Values.global.kafka | default dict).properties | default dict)) (.Values.kafkaProperties | default dict) -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "ferroflow.fullname" . }}
  labels:
    {{- include "ferroflow.labels" . | nindent 4 }}
data:
{{- range $section, $keys := $config }}
{{- if kindIs "map" $keys }}
{{- range $key, $value := $keys }}
{{- include "ferroflow.configEnv" (list (printf "FERROFLOW_%s__%s" (upper $section) (upper $key)) $value) | indent 2 }}
{{- end }}
{{- end }}
{{- end }}
{{- range $name, $value := $properties }}
  {{ printf "FERROFLOW_RDKAFKA_%s" ($name | replace "." "_" | upper) }}: {{ toString $value | quote }}
{{- end }}
{{- end -}}
