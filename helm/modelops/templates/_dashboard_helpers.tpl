{{/* Names and labels of the optional dashboard component (kept apart from _helpers.tpl). */}}
{{- define "modelops.dashboard.fullname" -}}{{ include "modelops.fullname" . }}-dashboard{{- end -}}

{{- define "modelops.dashboard.selectorLabels" -}}
{{ include "modelops.selectorLabels" . }}
app.kubernetes.io/component: dashboard
{{- end -}}

{{- define "modelops.dashboard.labels" -}}
{{ include "modelops.labels" . }}
app.kubernetes.io/component: dashboard
{{- end -}}

{{- define "modelops.dashboard.serviceAccountName" -}}
{{- if .Values.dashboard.serviceAccount.create -}}
{{- default (include "modelops.dashboard.fullname" .) .Values.dashboard.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.dashboard.serviceAccount.name -}}
{{- end -}}
{{- end -}}
