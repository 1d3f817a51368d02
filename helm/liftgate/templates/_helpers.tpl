{{- define "liftgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "liftgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "liftgate.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "liftgate.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "liftgate.labels" -}}
app.kubernetes.io/name: {{ include "liftgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The gateway pods' selector. Unchanged since chart 0.1.0: Kubernetes cannot change a
Deployment's selector in place, so a new label here would break upgrades. */}}
{{- define "liftgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "liftgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of the helm test pod: a name of its own, so no gateway selector matches it. */}}
{{- define "liftgate.testLabels" -}}
app.kubernetes.io/name: {{ include "liftgate.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: test
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "liftgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "liftgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "liftgate.secretName" -}}
{{- default (printf "%s-env" (include "liftgate.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{/* repository:tag, or repository@digest (with the tag kept for readability) */}}
{{- define "liftgate.imageRef" -}}
{{- $tag := .image.tag | default .default -}}
{{- if .image.digest -}}
{{- printf "%s:%s@%s" .image.repository $tag .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "liftgate.stateBackend" -}}
{{- $state := .Values.config.state | default dict -}}
{{- $state.backend | default "sqlite" -}}
{{- end -}}

{{/* Whether the pods get the persistent volume: only with SQLite. */}}
{{- define "liftgate.persistent" -}}
{{- if and .Values.persistence.enabled (eq (include "liftgate.stateBackend" .) "sqlite") -}}true{{- end -}}
{{- end -}}

{{/* The configuration the pods load: the values' config with the listeners set from ports. */}}
{{- define "liftgate.config" -}}
{{- $config := deepCopy (.Values.config | default dict) -}}
{{- $server := deepCopy (get $config "server" | default dict) -}}
{{- $listen := printf "0.0.0.0:%d" (int .Values.ports.http) -}}
{{- $admin := printf "0.0.0.0:%d" (int .Values.ports.admin) -}}
{{- if and (hasKey $server "listen") (ne (toString $server.listen) $listen) -}}
{{- fail (printf "config.server.listen is set from ports.http (%s); set ports.http instead" $listen) -}}
{{- end -}}
{{- if and (hasKey $server "admin_listen") (ne (toString $server.admin_listen) $admin) -}}
{{- fail (printf "config.server.admin_listen is set from ports.admin (%s); set ports.admin instead" $admin) -}}
{{- end -}}
{{- $_ := set $server "listen" $listen -}}
{{- $_ := set $server "admin_listen" $admin -}}
{{- $_ := set $config "server" $server -}}
{{- toYaml $config -}}
{{- end -}}

{{/* Refuses combinations that cannot work, with the reason. */}}
{{- define "liftgate.validate" -}}
{{- $backend := include "liftgate.stateBackend" . -}}
{{- if eq $backend "sqlite" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- fail "replicaCount > 1 needs config.state.backend: dynamodb (SQLite is one file on one ReadWriteOnce volume)" -}}
{{- end -}}
{{- if .Values.autoscaling.enabled -}}
{{- fail "autoscaling needs config.state.backend: dynamodb (SQLite allows one replica)" -}}
{{- end -}}
{{- if not .Values.persistence.enabled -}}
{{- fail "config.state.backend: sqlite needs persistence.enabled: true, or every restart loses all requests and grants" -}}
{{- end -}}
{{- else -}}
{{- $audit := .Values.config.audit | default dict -}}
{{- range ($audit.sinks | default list) -}}
{{- if eq (toString .type) "file" -}}
{{- fail "a file audit sink needs the SQLite volume; with config.state.backend: dynamodb use an s3 sink (config.audit.sinks)" -}}
{{- end -}}
{{- end -}}
{{- if not $audit.sinks -}}
{{- fail "with config.state.backend: dynamodb set config.audit.sinks to an s3 sink (the embedded default is a file sink on the SQLite volume)" -}}
{{- end -}}
{{- end -}}
{{- if eq (int .Values.ports.http) (int .Values.ports.admin) -}}
{{- fail "ports.http and ports.admin must differ" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) -}}
{{- fail "autoscaling.maxReplicas must be at least autoscaling.minReplicas" -}}
{{- end -}}
{{- end -}}

{{- define "liftgate.replicas" -}}
{{- if .Values.autoscaling.enabled -}}{{ .Values.autoscaling.minReplicas }}{{- else -}}{{ .Values.replicaCount }}{{- end -}}
{{- end -}}
