{{- define "agentbox.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agentbox.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "agentbox.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "agentbox.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "agentbox.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentbox.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "agentbox.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "agentbox.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The embedded database serves one process: one replica, no autoscaling. */}}
{{- define "agentbox.external" -}}
{{- if .Values.database.external.enabled -}}true{{- end -}}
{{- end -}}

{{- define "agentbox.secretName" -}}
{{- default (include "agentbox.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{- define "agentbox.databaseSecretName" -}}
{{- default (include "agentbox.fullname" .) .Values.database.external.existingSecret -}}
{{- end -}}

{{/* tls.mode off (YAML may read an unquoted off as false): TLS ends at the Ingress. */}}
{{- define "agentbox.tlsOff" -}}
{{- if has (toString .Values.tls.mode) (list "off" "false") -}}true{{- end -}}
{{- end -}}

{{- define "agentbox.tlsMode" -}}
{{- if include "agentbox.tlsOff" . -}}off{{- else -}}{{ .Values.tls.mode }}{{- end -}}
{{- end -}}

{{- define "agentbox.scheme" -}}
{{- if include "agentbox.tlsOff" . -}}HTTP{{- else -}}HTTPS{{- end -}}
{{- end -}}

{{- define "agentbox.containerPort" -}}
{{- if include "agentbox.tlsOff" . -}}8080{{- else -}}8443{{- end -}}
{{- end -}}

{{- define "agentbox.claimName" -}}
{{- default (printf "%s-data" (include "agentbox.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/* Whether /data is a PersistentVolumeClaim (else an emptyDir). */}}
{{- define "agentbox.useClaim" -}}
{{- if .Values.persistence.enabled -}}
{{- if or .Values.persistence.existingClaim (not (include "agentbox.external" .)) (has "ReadWriteMany" .Values.persistence.accessModes) -}}true{{- end -}}
{{- end -}}
{{- end -}}
