{{/*
The service's workload: a Deployment, or a StatefulSet where a stable identity per pod
matters (the enricher's transactional.id comes from its hostname; sink-csv keeps files
and checkpoints on a volume per pod). Both share one pod template.
*/}}

{{- define "ferroflow.podTemplate" -}}
metadata:
  labels:
    {{- include "ferroflow.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # Roll the pods when their configuration changes.
    checksum/config: {{ include "ferroflow.configmap" . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "ferroflow.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
  {{- with (.Values.imagePullSecrets | default .Values.global.imagePullSecrets) }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  # Longer than shutdown.deadline (30s by default): a SIGTERMed service flushes and
  # commits what it has processed before Kubernetes kills it.
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  containers:
    - name: {{ include "ferroflow.name" . }}
      image: {{ include "ferroflow.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy | default (.Values.global.image | default dict).pullPolicy | default "IfNotPresent" }}
      {{- with .Values.args }}
      args:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      envFrom:
        - configMapRef:
            name: {{ include "ferroflow.fullname" . }}
      {{- with .Values.env }}
      env:
        {{- tpl (toYaml .) $ | nindent 8 }}
      {{- end }}
      ports:
        - name: http
          containerPort: {{ .Values.http.port }}
          protocol: TCP
        {{- range .Values.extraPorts }}
        - name: {{ .name }}
          containerPort: {{ .port }}
          protocol: TCP
        {{- end }}
      startupProbe:
        httpGet:
          path: /livez
          port: http
        periodSeconds: 2
        failureThreshold: 30
      livenessProbe:
        httpGet:
          path: /livez
          port: http
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        # The root file system is read-only; scratch space for anything that needs it.
        - name: tmp
          mountPath: /tmp
        {{- if .Values.persistence.enabled }}
        - name: data
          mountPath: {{ .Values.persistence.mountPath }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if and .Values.persistence.enabled (ne .Values.workload "StatefulSet") }}
    - name: data
      persistentVolumeClaim:
        claimName: {{ include "ferroflow.fullname" . }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.spreadAcrossNodes }}
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "ferroflow.selectorLabels" . | nindent 10 }}
  {{- end }}
{{- end -}}

{{- define "ferroflow.workload" -}}
{{- if not (has .Values.workload (list "Deployment" "StatefulSet")) -}}
{{- fail (printf "%s: workload must be Deployment or StatefulSet, got %q" (include "ferroflow.name" .) .Values.workload) -}}
{{- end -}}
apiVersion: apps/v1
kind: {{ .Values.workload }}
metadata:
  name: {{ include "ferroflow.fullname" . }}
  labels:
    {{- include "ferroflow.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "ferroflow.selectorLabels" . | nindent 6 }}
  {{- if eq .Values.workload "StatefulSet" }}
  serviceName: {{ include "ferroflow.fullname" . }}
  # Pods start and stop in parallel: they coordinate through Kafka consumer groups,
  # not through their ordinal.
  podManagementPolicy: Parallel
  updateStrategy:
    type: RollingUpdate
  {{- if .Values.persistence.enabled }}
  persistentVolumeClaimRetentionPolicy:
    whenDeleted: Retain
    whenScaled: Retain
  volumeClaimTemplates:
    - metadata:
        name: data
        labels:
          {{- include "ferroflow.selectorLabels" . | nindent 10 }}
      spec:
        accessModes: [ReadWriteOnce]
        {{- with .Values.persistence.storageClass }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ .Values.persistence.size }}
  {{- end }}
  {{- else }}
  strategy:
    type: {{ if .Values.persistence.enabled }}Recreate{{ else }}RollingUpdate{{ end }}
  {{- end }}
  template:
    {{- include "ferroflow.podTemplate" . | nindent 4 }}
{{- end -}}

{{/* The PersistentVolumeClaim of a Deployment with persistence (a StatefulSet has its own). */}}
{{- define "ferroflow.pvc" -}}
{{- if and .Values.persistence.enabled (ne .Values.workload "StatefulSet") -}}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ include "ferroflow.fullname" . }}
  labels:
    {{- include "ferroflow.labels" . | nindent 4 }}
spec:
  accessModes: [ReadWriteOnce]
  {{- with .Values.persistence.storageClass }}
  storageClassName: {{ . }}
  {{- end }}
  resources:
    requests:
      storage: {{ .Values.persistence.size }}
{{- end -}}
{{- end -}}
