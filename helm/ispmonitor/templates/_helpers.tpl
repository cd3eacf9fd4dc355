{{/*
Names, labels and the shared pieces of the pod specs of ispmonitor.
*/}}

{{/* The chart name, overridable with nameOverride. */}}
{{- define "ispmonitor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release-scoped base name. Component suffixes (-api, -poller, -migrate) are at most 8
characters, so the base is cut at 52 to keep StatefulSet pod names (plus "-NNN") under 63.
*/}}
{{- define "ispmonitor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ispmonitor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: only what never changes between upgrades (no chart version, no app version).
*/}}
{{- define "ispmonitor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ispmonitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "ispmonitor.labels" -}}
helm.sh/chart: {{ include "ispmonitor.chart" . }}
{{ include "ispmonitor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ispmonitor
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "api"). */}}
{{- define "ispmonitor.componentSelectorLabels" -}}
{{ include "ispmonitor.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of one component: call with (dict "ctx" $ "component" "api"). */}}
{{- define "ispmonitor.componentLabels" -}}
{{ include "ispmonitor.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "ispmonitor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ispmonitor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ispmonitor.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repo = printf "%s/%s" .Values.image.registry .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}
{{- end }}

{{- define "ispmonitor.configPath" -}}
/etc/ispmonitor/config.yaml
{{- end }}

{{/* The pollers' config: config.yaml plus the inventory cache file (configmap.yaml). */}}
{{- define "ispmonitor.pollerConfigPath" -}}
/etc/ispmonitor/poller.yaml
{{- end }}

{{/* Where a poller keeps its copy of the database inventory: the inventory-cache emptyDir. */}}
{{- define "ispmonitor.inventoryCacheDir" -}}
/var/lib/ispmonitor
{{- end }}

{{- define "ispmonitor.inventoryCacheFile" -}}
{{ include "ispmonitor.inventoryCacheDir" . }}/inventory-cache.json
{{- end }}

{{- define "ispmonitor.secretKeyPath" -}}
/etc/ispmonitor/secret-key/key
{{- end }}

{{/*
The existing Secrets the workloads read. There are no inline defaults: a missing name stops
the render with a message saying which value to set.
*/}}
{{- define "ispmonitor.databaseSecretName" -}}
{{- required "database.existingSecret is required: the name of an existing Secret holding the PostgreSQL URL (key database.urlKey). The chart never creates it." .Values.database.existingSecret }}
{{- end }}

{{- define "ispmonitor.secretKeySecretName" -}}
{{- required "secretKey.existingSecret is required: the name of an existing Secret holding the key that seals stored credentials (key secretKey.key, 32 bytes base64 or hex). The chart never creates it." .Values.secretKey.existingSecret }}
{{- end }}

{{/* The database URL as an env var read from the existing Secret. */}}
{{- define "ispmonitor.databaseEnv" -}}
- name: ISPMONITOR_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "ispmonitor.databaseSecretName" . }}
      key: {{ .Values.database.urlKey }}
{{- end }}

{{/* Environment shared by the API and the pollers. */}}
{{- define "ispmonitor.commonEnv" -}}
{{ include "ispmonitor.databaseEnv" . }}
- name: ISPMONITOR_SECRET_KEY_FILE
  value: {{ include "ispmonitor.secretKeyPath" . }}
- name: ISPMONITOR_LOG_FORMAT
  value: {{ .Values.log.format | quote }}
- name: ISPMONITOR_LOG_LEVEL
  value: {{ .Values.log.level | quote }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volume mounts shared by the API and the pollers. */}}
{{- define "ispmonitor.volumeMounts" -}}
- name: config
  mountPath: /etc/ispmonitor/config.yaml
  subPath: config.yaml
  readOnly: true
- name: secret-key
  mountPath: /etc/ispmonitor/secret-key
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- range .Values.extraSecretMounts }}
- name: {{ .name }}
  mountPath: {{ .mountPath }}
  readOnly: true
{{- end }}
{{- if .Values.webConfig.existingSecret }}
- name: web-config
  mountPath: /etc/ispmonitor/web/config
  readOnly: true
{{- end }}
{{- if .Values.webConfig.tlsSecret }}
- name: web-tls
  mountPath: /etc/ispmonitor/web/tls
  readOnly: true
{{- end }}
{{- end }}

{{/* Volumes shared by the API and the pollers. */}}
{{- define "ispmonitor.volumes" -}}
- name: config
  configMap:
    name: {{ include "ispmonitor.fullname" . }}
- name: secret-key
  secret:
    secretName: {{ include "ispmonitor.secretKeySecretName" . }}
    defaultMode: 0440
    items:
      - key: {{ .Values.secretKey.key }}
        path: key
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- range .Values.extraSecretMounts }}
- name: {{ .name }}
  secret:
    secretName: {{ .secretName }}
    defaultMode: 0440
{{- end }}
{{- /* Whole directories, never subPath: a subPath mount would not see a rotated Secret. */}}
{{- if .Values.webConfig.existingSecret }}
- name: web-config
  secret:
    secretName: {{ .Values.webConfig.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.webConfig.key }}
        path: web-config.yml
{{- end }}
{{- if .Values.webConfig.tlsSecret }}
- name: web-tls
  secret:
    secretName: {{ .Values.webConfig.tlsSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/* The --web.config.file argument (a list item), when a web config Secret is set. */}}
{{- define "ispmonitor.webConfigArg" -}}
{{- if .Values.webConfig.existingSecret }}
- --web.config.file=/etc/ispmonitor/web/config/web-config.yml
{{- end }}
{{- end }}

{{/* HTTPS for probes and scrapes when the web config turns TLS on. */}}
{{- define "ispmonitor.webScheme" -}}
{{- if and .Values.webConfig.existingSecret .Values.webConfig.tls }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/* An HTTP probe on a named port: call with (dict "path" "/live" "port" "http" "probe" .Values.x). */}}
{{- define "ispmonitor.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
  {{- /* The kubelet does not verify the certificate of an HTTPS probe. */}}
  scheme: {{ default "HTTP" .scheme }}
{{ toYaml .probe }}
{{- end }}

{{/* Pod-level scheduling settings of a component (nodeSelector, affinity, tolerations, ...). */}}
{{- define "ispmonitor.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}
