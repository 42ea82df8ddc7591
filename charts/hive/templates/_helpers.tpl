{{- define "hive.operatorName" -}}hive-operator{{- end -}}
{{- define "hive.labels" -}}
app.kubernetes.io/name: hive-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: hive
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{/* What the operator does to the children of a HiveCluster; the same rules in a ClusterRole or a Role. */}}
{{- define "hive.operatorRules" -}}
- apiGroups: [hive.dev]
  resources: [hiveclusters]
  verbs: [get, list, watch, patch]
- apiGroups: [hive.dev]
  resources: [hiveclusters/status]
  verbs: [get, patch]
- apiGroups: [""]
  resources: [serviceaccounts, configmaps, secrets, services]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods, persistentvolumeclaims]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [cert-manager.io]
  resources: [certificates]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [monitoring.coreos.com]
  resources: [servicemonitors, prometheusrules]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create]
{{- end -}}
