{{/* Names and labels. */}}
{{- define "failover-bot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "failover-bot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "failover-bot.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "failover-bot.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "failover-bot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "failover-bot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "failover-bot.labels" -}}
{{ include "failover-bot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "failover-bot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "failover-bot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "failover-bot.runbooksConfigMap" -}}
{{- default (printf "%s-runbooks" (include "failover-bot.fullname" .)) .Values.runbooks.existingConfigMap -}}
{{- end -}}

{{/* Checks that no schema can express. */}}
{{- define "failover-bot.validate" -}}
{{- if and (eq .Values.store.type "sqlite") (gt (int .Values.replicas) 1) -}}
{{- fail "store.type sqlite keeps the store on one pod's volume: set replicas: 1, or use store.type postgres (DATABASE_URL in the secret) for high availability" -}}
{{- end -}}
{{- end -}}
