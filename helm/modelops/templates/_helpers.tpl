{{/* Names: <release>-modelops unless the release name already says modelops. */}}
{{- define "modelops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "modelops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "modelops.operator.fullname" -}}{{ include "modelops.fullname" . }}-operator{{- end -}}
{{- define "modelops.router.fullname" -}}{{ include "modelops.fullname" . }}-router{{- end -}}

{{- define "modelops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "modelops.labels" -}}
helm.sh/chart: {{ include "modelops.chart" . }}
{{ include "modelops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: modelops
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "modelops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "modelops.operator.selectorLabels" -}}
{{ include "modelops.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "modelops.router.selectorLabels" -}}
{{ include "modelops.selectorLabels" . }}
app.kubernetes.io/component: router
{{- end -}}

{{- define "modelops.operator.labels" -}}
{{ include "modelops.labels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "modelops.router.labels" -}}
{{ include "modelops.labels" . }}
app.kubernetes.io/component: router
{{- end -}}

{{- define "modelops.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "modelops.operator.fullname" .) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "modelops.router.serviceAccountName" -}}
{{- if .Values.router.serviceAccount.create -}}
{{- default (include "modelops.router.fullname" .) .Values.router.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.router.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image of a component: its own overrides, else the global image; digest wins over tag. */}}
{{- define "modelops.image" -}}
{{- $root := index . 0 -}}
{{- $own := index . 1 -}}
{{- $repository := default $root.Values.image.repository $own.repository -}}
{{- $digest := default $root.Values.image.digest $own.digest -}}
{{- $tag := default (default $root.Chart.AppVersion $root.Values.image.tag) $own.tag -}}
{{- if $digest -}}
{{- printf "%s@%s" $repository $digest -}}
{{- else -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "modelops.pullPolicy" -}}
{{- $root := index . 0 -}}
{{- $own := index . 1 -}}
{{- default $root.Values.image.pullPolicy $own.pullPolicy -}}
{{- end -}}

{{/* Namespaces that get the runtime NetworkPolicies. */}}
{{- define "modelops.modelNamespaces" -}}
{{- $namespaces := .Values.networkPolicy.modelNamespaces | default .Values.watchNamespaces -}}
{{- toJson (uniq $namespaces) -}}
{{- end -}}

{{/* Fail at render time on combinations the schema cannot express. */}}
{{- define "modelops.validate" -}}
{{- if and (gt (int .Values.operator.replicas) 1) (not .Values.operator.ha.enabled) -}}
{{- fail "operator.replicas > 1 needs operator.ha.enabled=true (kopf peering elects one active replica)" -}}
{{- end -}}
{{- if and .Values.router.autoscaling.enabled (gt (int .Values.router.autoscaling.minReplicas) (int .Values.router.autoscaling.maxReplicas)) -}}
{{- fail "router.autoscaling.minReplicas must be <= router.autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and .Values.operator.metrics.enabled (eq (int .Values.operator.metrics.port) (int .Values.operator.livenessPort)) -}}
{{- fail "operator.metrics.port must differ from operator.livenessPort" -}}
{{- end -}}
{{- if and .Values.operator.serviceMonitor.enabled (not .Values.operator.metrics.enabled) -}}
{{- fail "operator.serviceMonitor.enabled needs operator.metrics.enabled" -}}
{{- end -}}
{{- end -}}

{{/* What the operator does in a namespace it reconciles (see docs/install.md). */}}
{{- define "modelops.operator.workloadRules" -}}
- apiGroups: [modelops.io]
  resources: [modeldeployments]
  # kopf adds its finalizer and progress annotations with patches.
  verbs: [get, list, watch, patch]
- apiGroups: [modelops.io]
  resources: [modeldeployments/status]
  verbs: [patch]
- apiGroups: [apps]
  resources: [deployments]
  # Children are written with server-side apply (create when absent, patch otherwise).
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [services, persistentvolumeclaims]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
{{- define "modelops.operator.peeringRules" -}}
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end }}

{{/* The operator's --router-settings file: router-wide knobs plus the API-key Secret. */}}
{{- define "modelops.routerSettings" -}}
{{- $settings := deepCopy (.Values.router.settings | default dict) -}}
{{- with .Values.router.auth.existingSecret -}}
{{- $_ := set $settings "auth" (dict "enabled" true "secretRef" (dict "name" . "key" $.Values.router.auth.secretKey)) -}}
{{- end -}}
{{- if $settings -}}
{{- toYaml $settings -}}
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{- /* OpenTelemetry switches for a component (tracing.*); the SDK reads them (docs/tracing.md). */ -}}
{{- define "modelops.tracingEnv" -}}
{{- $t := .root.Values.tracing -}}
{{- if $t.enabled }}
- name: OTEL_TRACES_EXPORTER
  value: otlp
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
{{- with $t.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $t.sampleRatio | quote }}
{{- end }}
{{- end -}}
