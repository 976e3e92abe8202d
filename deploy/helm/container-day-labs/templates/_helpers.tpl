{{- define "cdl.name" -}}container-day-labs{{- end -}}

{{- define "cdl.fullname" -}}
{{- if contains "container-day-labs" .Release.Name -}}{{ .Release.Name | trunc 53 | trimSuffix "-" }}{{- else -}}{{ printf "%s-container-day-labs" .Release.Name | trunc 53 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "cdl.labels" -}}
app.kubernetes.io/name: {{ include "cdl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "cdl.selector" -}}
app.kubernetes.io/name: {{ include "cdl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cdl.image" -}}
{{ .image.repository }}:{{ .image.tag | default .chart.AppVersion }}
{{- end -}}

{{- define "cdl.host" -}}
{{- if .Values.route.host -}}{{ .Values.route.host }}{{- else -}}{{ regexReplaceAll "^https?://([^:/]+).*$" .Values.publicOrigin "${1}" }}{{- end -}}
{{- end -}}

{{- define "cdl.secretName" -}}
{{- if .Values.workshop.existingSecret -}}{{ .Values.workshop.existingSecret }}{{- else -}}{{ include "cdl.fullname" . }}{{- end -}}
{{- end -}}
