{{/*
Names. The release fullname prefixes every namespaced object; cluster-scoped objects
(ClusterRoles, bindings) carry it too so two releases never collide.
*/}}
{{- define "joulie.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "joulie.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Component names: <fullname>-<component>, kept under 63 characters. */}}
{{- define "joulie.serve.fullname" -}}
{{- include "joulie.fullname" . }}
{{- end }}
{{- define "joulie.agent.fullname" -}}
{{- printf "%s-agent" (include "joulie.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}
{{- define "joulie.scheduler.fullname" -}}
{{- printf "%s-scheduler" (include "joulie.fullname" . | trunc 52 | trimSuffix "-") }}
{{- end }}

{{- define "joulie.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels. Call with (dict "ctx" $ "component" "serve"). */}}
{{- define "joulie.selectorLabels" -}}
app.kubernetes.io/name: {{ include "joulie.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "joulie.labels" -}}
helm.sh/chart: {{ include "joulie.chart" .ctx }}
{{ include "joulie.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: joulie
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{/* ServiceAccount names: created ones follow the component name unless overridden. */}}
{{- define "joulie.serve.serviceAccountName" -}}
{{- if .Values.serve.serviceAccount.create }}
{{- default (include "joulie.serve.fullname" .) .Values.serve.serviceAccount.name }}
{{- else }}
{{- required "serve.serviceAccount.name is required when serve.serviceAccount.create=false" .Values.serve.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "joulie.agent.serviceAccountName" -}}
{{- if .Values.agent.serviceAccount.create }}
{{- default (include "joulie.agent.fullname" .) .Values.agent.serviceAccount.name }}
{{- else }}
{{- required "agent.serviceAccount.name is required when agent.serviceAccount.create=false" .Values.agent.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "joulie.scheduler.serviceAccountName" -}}
{{- if .Values.scheduler.serviceAccount.create }}
{{- default (include "joulie.scheduler.fullname" .) .Values.scheduler.serviceAccount.name }}
{{- else }}
{{- required "scheduler.serviceAccount.name is required when scheduler.serviceAccount.create=false" .Values.scheduler.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Joulie image (one image, every command); the tag defaults to the chart's appVersion. */}}
{{- define "joulie.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Leader election is forced on when more than one serve replica runs. */}}
{{- define "joulie.serve.leaderElect" -}}
{{- if or .Values.serve.leaderElection.enabled (gt (int .Values.serve.replicas) 1) }}true{{ else }}false{{ end }}
{{- end }}

{{/*
The managed-node selector: one map in values, rendered as a label-selector string for
`joulie serve --node-selector` and as a nodeSelector for the agent DaemonSet, so the
labeller and the agents always agree on which nodes are managed.
*/}}
{{- define "joulie.managedNodeSelectorString" -}}
{{- $parts := list }}
{{- range $k, $v := .Values.managedNodeSelector }}
{{- $parts = append $parts (printf "%s=%s" $k (toString $v)) }}
{{- end }}
{{- join "," $parts }}
{{- end }}

{{/*
The extender URL prefix the scheduler calls: the serve Service plus `--url-prefix`.
scheduler.extender.urlOverride replaces it (e.g. a ClusterIP for a host-network scheduler
that cannot resolve cluster DNS).
*/}}
{{- define "joulie.extenderURLPrefix" -}}
{{- if .Values.scheduler.extender.urlOverride }}
{{- .Values.scheduler.extender.urlOverride }}
{{- else }}
{{- printf "%s://%s.%s.svc:%d%s" (ternary "https" "http" .Values.serve.tls.enabled) (include "joulie.serve.fullname" .) .Release.Namespace (int .Values.serve.service.port) .Values.serve.urlPrefix }}
{{- end }}
{{- end }}

{{/*
The extenders stanza of a KubeSchedulerConfiguration, shared by the second scheduler's
ConfigMap and NOTES.txt (for patching the default scheduler instead).
*/}}
{{- define "joulie.extenderStanza" -}}
extenders:
  - urlPrefix: {{ include "joulie.extenderURLPrefix" . | quote }}
    filterVerb: filter
    prioritizeVerb: prioritize
    weight: {{ int .Values.scheduler.extender.weight }}
    enableHTTPS: {{ .Values.serve.tls.enabled }}
    {{- if .Values.serve.tls.enabled }}
    tlsConfig:
      # the name in the extender's certificate, also when urlPrefix uses a ClusterIP
      serverName: {{ printf "%s.%s.svc" (include "joulie.serve.fullname" .) .Release.Namespace | quote }}
      certFile: {{ printf "%s/tls.crt" (include "joulie.scheduler.tlsDir" .) | quote }}
      keyFile: {{ printf "%s/tls.key" (include "joulie.scheduler.tlsDir" .) | quote }}
      caFile: {{ printf "%s/ca.crt" (include "joulie.scheduler.tlsDir" .) | quote }}
    {{- end }}
    nodeCacheCapable: true
    ignorable: {{ .Values.scheduler.extender.ignorable }}
    httpTimeout: {{ .Values.scheduler.extender.httpTimeout | quote }}
{{- end }}

{{/*
A Kubernetes memory quantity ("1Gi", "512Mi", "2G", "1073741824") in bytes, for the limits
derived from the memory limit. Unparsable input renders 0 (the caller then uses defaults).
*/}}
{{- define "joulie.bytes" -}}
{{- $q := toString . }}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 }}
{{- $num := regexFind "^[0-9]+" $q }}
{{- $suffix := trimPrefix $num $q }}
{{- if not $num }}0
{{- else if eq $suffix "" }}{{ $num }}
{{- else if hasKey $units $suffix }}{{ mul (int64 $num) (get $units $suffix) }}
{{- else }}0
{{- end }}
{{- end }}

{{/* --max-body-bytes: set, else 1/8 of the serve memory limit, else 64 MiB. */}}
{{- define "joulie.serve.maxBodyBytes" -}}
{{- $limit := int64 (include "joulie.bytes" (dig "limits" "memory" "" .Values.serve.resources)) }}
{{- if not (kindIs "invalid" .Values.serve.limits.maxBodyBytes) }}{{ int64 .Values.serve.limits.maxBodyBytes }}
{{- else if gt $limit 0 }}{{ max 1024 (div $limit 8) }}
{{- else }}67108864
{{- end }}
{{- end }}

{{/* --max-inflight-bytes: set, else 1/4 of the serve memory limit, else 128 MiB; never below the body limit. */}}
{{- define "joulie.serve.maxInflightBytes" -}}
{{- $limit := int64 (include "joulie.bytes" (dig "limits" "memory" "" .Values.serve.resources)) }}
{{- $body := int64 (include "joulie.serve.maxBodyBytes" .) }}
{{- if not (kindIs "invalid" .Values.serve.limits.maxInflightBytes) }}{{ int64 .Values.serve.limits.maxInflightBytes }}
{{- else if gt $limit 0 }}{{ max $body (div $limit 4) }}
{{- else }}{{ max $body 134217728 }}
{{- end }}
{{- end }}

{{/* TLS Secrets: the extender's server certificate, and the scheduler's client certificate. */}}
{{- define "joulie.serve.tlsServerSecret" -}}
{{- if eq .Values.serve.tls.mode "secrets" }}
{{- required "serve.tls.serverSecret is required with serve.tls.mode=secrets" .Values.serve.tls.serverSecret }}
{{- else }}
{{- printf "%s-extender-tls" (include "joulie.fullname" . | trunc 49 | trimSuffix "-") }}
{{- end }}
{{- end }}

{{- define "joulie.serve.tlsClientSecret" -}}
{{- if eq .Values.serve.tls.mode "secrets" }}
{{- required "serve.tls.clientSecret is required with serve.tls.mode=secrets" .Values.serve.tls.clientSecret }}
{{- else }}
{{- printf "%s-scheduler-client-tls" (include "joulie.fullname" . | trunc 42 | trimSuffix "-") }}
{{- end }}
{{- end }}

{{/* Where the second scheduler (and NOTES.txt, for a default scheduler) finds the client certificate. */}}
{{- define "joulie.scheduler.tlsDir" -}}/etc/joulie-extender-tls{{- end }}

{{/* Whether the admission policies are rendered: auto = when the API server serves the kind. */}}
{{- define "joulie.admissionPolicies" -}}
{{- $want := .Values.admissionPolicies.enabled }}
{{- if eq (toString $want) "auto" }}
{{- if .Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy" }}true{{ else }}false{{ end }}
{{- else if $want }}true{{ else }}false{{ end }}
{{- end }}
