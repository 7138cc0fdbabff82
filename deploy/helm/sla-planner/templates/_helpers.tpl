{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "sla-planner.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: the release name, with the chart name unless it already contains it. */}}
{{- define "sla-planner.fullname" -}}
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

{{- define "sla-planner.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sla-planner.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sla-planner.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sla-planner.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "sla-planner.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sla-planner.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sla-planner.leaseName" -}}
{{- default (include "sla-planner.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{/*
Object name of a target, formed the way the Grove operator forms it (actuators/grove_names.py):
  PodCliqueScalingGroup:   <podCliqueSet>-<replicaIndex>-<group>
  standalone PodClique:    <podCliqueSet>-<replicaIndex>-<clique>
  PodClique inside a PCSG: <podCliqueSet>-<replicaIndex>-<group>-<scalingGroupReplicaIndex>-<clique>
*/}}
{{- define "sla-planner.targetName" -}}
{{- if .name -}}
{{- .name -}}
{{- else if eq .kind "PodCliqueScalingGroup" -}}
{{- printf "%s-%d-%s" .podCliqueSet (int (default 0 .replicaIndex)) .group -}}
{{- else if .group -}}
{{- printf "%s-%d-%s-%d-%s" .podCliqueSet (int (default 0 .replicaIndex)) .group (int (default 0 .scalingGroupReplicaIndex)) .clique -}}
{{- else -}}
{{- printf "%s-%d-%s" .podCliqueSet (int (default 0 .replicaIndex)) .clique -}}
{{- end -}}
{{- end -}}

{{/* API group and resource (plural) of each target kind the planner can scale. */}}
{{- define "sla-planner.kindResource" -}}
{{- $kinds := dict
  "PodCliqueScalingGroup" (dict "group" "grove.io" "resource" "podcliquescalinggroups")
  "PodClique" (dict "group" "grove.io" "resource" "podcliques")
  "LeaderWorkerSet" (dict "group" "leaderworkerset.x-k8s.io" "resource" "leaderworkersets")
  "Deployment" (dict "group" "apps" "resource" "deployments") -}}
{{- $r := get $kinds . -}}
{{- if not $r -}}
{{- fail (printf "config.targets: unknown kind %q; use PodCliqueScalingGroup, PodClique, LeaderWorkerSet, Deployment or MetricsOnly" .) -}}
{{- end -}}
{{- toJson $r -}}
{{- end -}}

{{/*
The run config written to the ConfigMap: the user's `config` (or `fleetConfig`, when set: a
fleet of deployments) with the fields the chart owns forced so that the probes, Service and
Lease Role always match what the planner does.
*/}}
{{- define "sla-planner.runConfig" -}}
{{- $cfg := deepCopy (.Values.fleetConfig | default .Values.config) -}}
{{- $_ := set $cfg "server" (dict "host" "0.0.0.0" "port" (int .Values.containerPort)) -}}
{{- $le := deepCopy (default (dict) $cfg.leader_election) -}}
{{- $_ := set $le "enabled" .Values.leaderElection.enabled -}}
{{- $_ := set $le "namespace" .Release.Namespace -}}
{{- $_ := set $le "lease_name" (include "sla-planner.leaseName" .) -}}
{{- $_ := set $cfg "leader_election" $le -}}
{{- toYaml $cfg -}}
{{- end -}}
