{{/* Service, ServiceAccount, PodDisruptionBudget, HorizontalPodAutoscaler. */}}

{{- define "ferroflow.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "ferroflow.fullname" . }}
  labels:
    {{- include "ferroflow.labels" . | nindent 4 }}
    # The ServiceMonitor takes the Prometheus `job` from this label, so every service
    # is scraped as job="ferroflow", as in docker compose, and the alert rules match.
    ferroflow.io/scrape-job: ferroflow
spec:
  type: {{ .Values.service.type }}
  selector:
    {{- include "ferroflow.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.http.port }}
      targetPort: http
      protocol: TCP
    {{- range .Values.extraPorts }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
      {{- with .appProtocol }}
      appProtocol: {{ . }}
      {{- end }}
    {{- end }}
{{- end -}}

{{- define "ferroflow.serviceaccount" -}}
{{- if .Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "ferroflow.serviceAccountName" . }}
  labels:
    {{- include "ferroflow.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# The services never call the Kubernetes API.
automountServiceAccountToken: false
{{- end -}}
{{- end -}}

{{- define "ferroflow.pdb" -}}
{{- if .Values.podDisruptionBudget.enabled -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "ferroflow.fullname" . }}
  labels:
    {{- include "ferroflow.labels" . | nindent 4 }}
spec:
  # One pod at a time: a drained pod's partitions move to the others in one rebalance.
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "ferroflow.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- end -}}

{{- define "ferroflow.hpa" -}}
{{- if .Values.autoscaling.enabled -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "ferroflow.fullname" . }}
  labels:
    {{- include "ferroflow.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: {{ .Values.workload }}
    name: {{ include "ferroflow.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  # More consumers than partitions would sit idle: keep maxReplicas at or below the
  # partition count of the topics the service reads.
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
  behavior:
    # Every scale step is a consumer-group rebalance: scale down slowly.
    scaleDown:
      stabilizationWindowSeconds: 300
      policies:
        - type: Pods
          value: 1
          periodSeconds: 120
{{- end -}}
{{- end -}}
