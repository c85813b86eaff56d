{{/* NetworkPolicy and ServiceMonitor of a service. */}}

{{- define "ferroflow.networkpolicy" -}}
{{- $global := .Values.global.networkPolicy | default dict -}}
{{- if and .Values.networkPolicy.enabled ($global.enabled | default false) -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "ferroflow.fullname" . }}
  labels:
    {{- include "ferroflow.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "ferroflow.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    # The HTTP port (probes come from the kubelet, metrics from Prometheus) and any
    # API port, from the peers in networkPolicy.ingressFrom (default: anywhere).
    - ports:
        - port: http
          protocol: TCP
        {{- range .Values.extraPorts }}
        - port: {{ .name }}
          protocol: TCP
        {{- end }}
      {{- with .Values.networkPolicy.ingressFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  egress:
    # DNS.
    - ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    # Kafka: the services talk to nothing else, except what extraEgress adds (sink-db's
    # database, an OTLP collector). Brokers may be outside the cluster, so by port.
    - ports:
        {{- range ($global.kafkaPorts | default (list 9092)) }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
    {{- with .Values.networkPolicy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
{{- end -}}

{{- define "ferroflow.servicemonitor" -}}
{{- $global := .Values.global.monitoring | default dict -}}
{{- if and .Values.serviceMonitor.enabled ($global.enabled | default false) -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "ferroflow.fullname" . }}
  labels:
    {{- include "ferroflow.labels" . | nindent 4 }}
    {{- with $global.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  jobLabel: ferroflow.io/scrape-job
  selector:
    matchLabels:
      {{- include "ferroflow.selectorLabels" . | nindent 6 }}
  namespaceSelector:
    matchNames: [{{ .Release.Namespace }}]
  endpoints:
    - port: http
      path: /metrics
      interval: {{ .Values.serviceMonitor.interval }}
      # Keep the `service` label each service puts on its own series (otherwise
      # Prometheus renames it exported_service and sets the Kubernetes Service name).
      honorLabels: true
{{- end -}}
{{- end -}}
