{{/*
Names. fullname is the release name, or "<release>-sluice" when the release
name does not already contain the chart name; truncated to 63 characters
(the DNS label limit) because Kubernetes names Services after it.
*/}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.fullname" -}}
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

{{- define "sluice.controller.fullname" -}}
{{- printf "%s-controller" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.proxy.fullname" -}}
{{- printf "%s-proxy" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels. Call the component variants with (dict "context" $ "component" "proxy").
*/}}
{{- define "sluice.labels" -}}
helm.sh/chart: {{ include "sluice.chart" . }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sluice
{{- end }}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sluice.componentLabels" -}}
{{ include "sluice.labels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "sluice.componentSelectorLabels" -}}
{{ include "sluice.selectorLabels" .context }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Service accounts.
*/}}
{{- define "sluice.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (include "sluice.controller.fullname" .) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sluice.proxy.serviceAccountName" -}}
{{- if .Values.proxy.serviceAccount.create }}
{{- default (include "sluice.proxy.fullname" .) .Values.proxy.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.proxy.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The leader-election Lease name; the Role grants access to this name only.
*/}}
{{- define "sluice.controller.electionId" -}}
{{- default (printf "%s-leader" (include "sluice.controller.fullname" .)) .Values.controller.electionId }}
{{- end }}

{{/*
The address proxies dial: the controller Service's full DNS name.
*/}}
{{- define "sluice.controller.address" -}}
{{- printf "%s.%s.svc.%s:%d" (include "sluice.controller.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.controller.grpcPort) }}
{{- end }}

{{/*
Images: repository:tag, the tag defaulting to the chart's appVersion.
Call with (dict "image" .Values.proxy.image "context" $).
*/}}
{{- define "sluice.image" -}}
{{- printf "%s:%s" .image.repository (default .context.Chart.AppVersion .image.tag) }}
{{- end }}

{{/*
Default topology spread (zones, then nodes; never blocks scheduling), unless
the component's values give their own list.
Call with (dict "context" $ "component" "proxy" "constraints" .Values.proxy.topologySpreadConstraints).
*/}}
{{- define "sluice.topologySpread" -}}
{{- if .constraints }}
{{- toYaml .constraints }}
{{- else }}
{{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
- maxSkew: 1
  topologyKey: {{ . }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "sluice.componentSelectorLabels" (dict "context" $.context "component" $.component) | nindent 6 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Mutual TLS on the snapshot stream. The proxy identity is the DNS subject
alternative name every proxy certificate carries and the controller demands
(--grpc-client-identity): release and namespace in it, so that two
installations sharing a CA (a cert-manager ClusterIssuer) still refuse each
other's proxies. It is an identity, never resolved.
*/}}
{{- define "sluice.snapshotTls.proxyIdentity" -}}
{{- printf "%s.%s.sluice.internal" (include "sluice.proxy.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "sluice.snapshotTls.controllerSecret" -}}
{{- printf "%s-snapshot-tls" (include "sluice.controller.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.snapshotTls.proxySecret" -}}
{{- printf "%s-snapshot-tls" (include "sluice.proxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.snapshotTls.caSecret" -}}
{{- printf "%s-snapshot-ca" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The names in the controller's certificate, comma-separated (splitList ","):
its Service, short to fully qualified. The proxies dial the last one
(sluice.controller.address) and check it against the certificate.
*/}}
{{- define "sluice.snapshotTls.controllerNames" -}}
{{- $service := include "sluice.controller.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- printf "%s,%s.%s,%s.%s.svc,%s.%s.svc.%s" $service $service $ns $service $ns $service $ns .Values.clusterDomain }}
{{- end }}

{{/* Where both pods mount their Secret; the flags name files in it. */}}
{{- define "sluice.snapshotTls.mountPath" -}}
/etc/sluice/snapshot-tls
{{- end }}
